"""Claims about decoding policies measured by the bench's exact tier (``docs/bench.md``).

Verdicts read the figure data ``bench_leaderboard`` (every registered policy on the exact oracle at each
language's enumerable length, exact ``KL(q||p)/L`` of its exact output law). "Beats random order" is the
leaderboard's verdict (:mod:`sims.bench.leaderboard`): every run of the policy against fixed-count random
order read at the run's own NFE, exact KL differences below :data:`EXACT_TOL` counted as ties.

Provenance: DUS (arXiv 2506.19037) and Halton-MaskGIT (arXiv 2503.17076) from
``../shared/research/decoding_policies.md`` and the notes of ``docs/decoding_policies.md`` (DUS: "under a
first-order Markov assumption, non-adjacent positions are nearly independent given the rest", read in the
abstract and the official README; Halton: the low-discrepancy order spreads each step's positions). The
other two claims are the suite's own. The generated blocks of ``docs/bench.md`` are :data:`DOC_BLOCKS`.
"""

from __future__ import annotations

from paper_repro.ledger.data import MissingFigureData
from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict
from sims.bench.leaderboard import EXACT_TOL
from sims.bench.report import ranking_table, verdict_table

FIG = "bench_leaderboard"
#: Orders that reveal exactly one token per step at K = L and choose the position before drawing its value
#: (fixed counts; Halton's arccos counts at K = L). Not ``fixed_sampled_prob``: LLaDA's sampled-token
#: confidence picks the position by the value drawn there, which biases the law even at one token per step.
ONE_PER_STEP = ("fixed_random", "fixed_max_prob", "fixed_margin", "fixed_entropy", "halton")
#: Orders that never reveal neighbours together before their last step (DUS groups, Halton order).
DILATED = ("halton", "dus_b2")
MARKOV = ("ngram2", "hmm")
CONFIDENCE = ("fixed_max_prob", "fixed_margin", "fixed_entropy")
TB = "tests/sims/test_bench.py"


def _bench(data) -> dict:
    return data(FIG)


def _verdicts(data, policies, languages=None) -> dict[tuple[str, str], str]:
    b = _bench(data)
    langs = [x for x in b["languages"] if languages is None or x in languages]
    if not langs:
        raise MissingFigureData(f"{FIG} has none of the languages {languages}")
    v = b["leaderboard"]["verdicts"]
    return {(p, x): v.get(p, {}).get(x, {}).get("verdict", "not comparable") for p in policies for x in langs}


def _summary(verdicts: dict) -> str:
    return "; ".join(f"{p} on {x}: {v}" for (p, x), v in verdicts.items())


def _one_token(data) -> Verdict:
    rows = [
        r
        for r in _bench(data)["runs"]
        if r["policy"] in ONE_PER_STEP
        and r["status"] == "ok"
        and r["steps"] == r["length"]
        and r.get("exact_kl_data_to_sampler") is not None
    ]
    if not rows:
        raise MissingFigureData(f"{FIG} has no exact run at K = L of {ONE_PER_STEP}")
    worst = max(rows, key=lambda r: abs(r["exact_kl_data_to_sampler"]))
    ok = abs(worst["exact_kl_data_to_sampler"]) <= EXACT_TOL and all(
        r["exact_ser"] <= EXACT_TOL for r in rows
    )
    return Verdict(
        "holds" if ok else "contradicted",
        f"max |KL(q||p)/L| = {abs(worst['exact_kl_data_to_sampler']):.1e} over {len(rows)} runs",
        f"largest for {worst['policy']} on {worst['language']} (L = {worst['length']}); exact laws",
    )


def _dilated(data) -> Verdict:
    v = _verdicts(data, DILATED, MARKOV)
    values = set(v.values())
    status = "holds" if values == {"beats"} else "contradicted" if "loses" in values else "qualified"
    return Verdict(
        status, f"{sum(x == 'beats' for x in v.values())} of {len(v)} beat random order", _summary(v)
    )


def _confidence(data) -> Verdict:
    v = _verdicts(data, CONFIDENCE)
    values = set(v.values())
    status = "holds" if values == {"beats"} else "contradicted" if "loses" in values else "qualified"
    counts = {k: sum(x == k for x in v.values()) for k in sorted(values)}
    return Verdict(status, ", ".join(f"{k}: {n}" for k, n in counts.items()), _summary(v))


#: Self-speculative decoding (registry key; its knob grid varies the draft length).
SSD = "ssd_m4"


def _ssd_lossless(data) -> Verdict:
    rows = [
        r
        for r in _bench(data)["runs"]
        if r["policy"] == SSD and r["status"] == "ok" and r.get("exact_kl_data_to_sampler") is not None
    ]
    if not rows:
        raise MissingFigureData(f"{FIG} has no exact run of {SSD}")
    worst = max(abs(r["exact_kl_data_to_sampler"]) for r in rows)
    faster = [r for r in rows if r["nfe_mean"] < r["length"]]
    ok = worst <= EXACT_TOL
    status = "holds" if ok and faster else ("qualified" if ok else "contradicted")
    best = min(rows, key=lambda r: r["nfe_mean"])
    return Verdict(
        status,
        f"max |KL(q||p)/L| = {worst:.1e} over {len(rows)} settings; fewest calls {best['nfe_mean']:.2f} "
        f"for L = {best['length']} ({best['setting']})",
        "exact output laws (exact_draft_law) on "
        + ", ".join(sorted({r["language"] for r in rows}))
        + "; calls count the marginal call and the verification pass",
    )


def _loo_planners(data, policies) -> Verdict:
    v = _verdicts(data, policies)
    values = set(v.values())
    status = "holds" if values == {"beats"} else "contradicted" if "loses" in values else "qualified"
    return Verdict(
        status, f"{sum(x == 'beats' for x in v.values())} of {len(v)} beat random order", _summary(v)
    )


CLAIMS = [
    Claim(
        "bench.one_token_per_call_exact",
        "suite",
        "",
        "With the exact oracle, every order that reveals one token per model call and chooses the position "
        "before drawing its value (random, max-prob, margin and entropy orders, Halton) samples the language "
        "exactly at K = L: KL 0 and SER 0, whatever the order.",
        "suite finding",
        "exact",
        (f"{TB}::test_one_token_per_call_is_exact_for_every_fixed_order",),
        (FIG,),
        _one_token,
    ),
    Claim(
        "bench.dilated_orders_beat_random_markov",
        "DUS, arXiv 2506.19037; Halton-MaskGIT, arXiv 2503.17076",
        "abstract; official README / code",
        "Orders that never reveal neighbours together in one step (DUS dilated groups, the Halton order) "
        "lose less than random order at equal model calls on first-order Markov languages.",
        "secondary note",
        "exact",
        (
            "tests/sims/test_policy_plans.py::test_dus_groups_are_never_adjacent_before_the_last_level",
            f"{TB}::test_compare_combine_and_pareto",
        ),
        (FIG,),
        _dilated,
        "Read at the bench's exact tier (L of a few tokens), on the oracle; DUS runs at its registered block.",
    ),
    Claim(
        "bench.confidence_orders_vs_random",
        "suite",
        "",
        "Confidence-ordered fixed-count rules (max-prob, margin, entropy) beat random order at equal model "
        "calls on every language of the panel, exactly.",
        "suite finding",
        "exact",
        (f"{TB}::test_exact_cell_is_the_exact_law", f"{TB}::test_compare_combine_and_pareto"),
        (FIG,),
        _confidence,
        "A widespread belief about confidence rules, tested on the exact oracle; any single loss contradicts it.",
    ),
    Claim(
        "bench.ssd_lossless",
        "Self-speculative decoding, arXiv 2510.04147",
        "abstract",
        "Self-speculative decoding is lossless: verifying a parallel draft against the model's own "
        "left-to-right conditionals gives the model's left-to-right law exactly, in fewer model calls than "
        "one token per call.",
        "secondary note",
        "exact",
        (
            "tests/sims/test_policy_draft_ssd.py::test_the_exact_law_is_the_language_law",
            "tests/sims/test_policy_draft_ssd.py::test_calls_and_speed",
        ),
        (FIG,),
        _ssd_lossless,
        "The paper's method section and code were not readable: draft size, tree shape and confidence order "
        "are our reading (docs/decoding_policies.md). Lossless holds for any exact verifier; the calls saved "
        "depend on the NFE convention of the verification pass (1 call per row).",
    ),
    Claim(
        "bench.p2_beats_random",
        "P2, arXiv 2502.03540",
        "abstract; official code",
        "Planning which tokens to remask by a score of the revealed tokens (P2 self-planning, here the exact "
        "leave-one-out conditional) improves on plain random-order decoding at equal model calls.",
        "secondary note",
        "exact",
        (
            "tests/sims/test_policy_loo_rules.py::test_p2_with_stochasticity_revisits_on_the_oracle",
            "tests/sims/test_policy_loo_rules.py::test_p2_exact_law_by_tie_subsets_equals_the_enumeration_of_tie_orders",
        ),
        (FIG,),
        lambda data: _loo_planners(data, ("p2_eta1",)),
        "Read on the exact oracle at the figure's languages (the quick preset: ngram2 only; mdm-suite bench "
        "runs the panel), where the leave-one-out pass is exact and counted as one call per row. The paper's "
        "gains are on trained models with a learned or self-planner.",
    ),
    Claim(
        "bench.informed_corrector_beats_random",
        "informed correctors, arXiv 2407.21243",
        "abstract",
        "Adding informed corrector steps (redraw the least likely revealed tokens from their Gibbs "
        "conditionals) improves on plain random-order decoding at equal model calls.",
        "secondary note",
        "exact",
        (
            "tests/sims/test_policy_loo_gibbs.py::test_informed_selection_biases_an_exact_predictor",
            "tests/sims/test_policy_loo_gibbs.py::test_gibbs_correctors_shrink_a_parallel_predictors_error",
        ),
        (FIG,),
        lambda data: _loo_planners(data, ("informed_pc_c1_k1",)),
        "Read on the exact oracle at the figure's languages (the quick preset: ngram2 only; mdm-suite bench "
        "runs the panel). The defaults (one corrector step of one token) are unconfirmed, and only the "
        "random-scan corrector leaves the target invariant (tested); the informed one does not.",
    ),
]


def _leaderboard_block(data) -> str:
    b = _bench(data)
    board = b["leaderboard"]
    return "\n".join(
        [
            f"Exact tier, preset `{b['preset']}`, baseline `{b['baseline']}`. Ranking (mean rank at matched NFE):",
            "",
            *ranking_table(board),
            "",
            "Against random order at equal NFE (`beats`, **loses**, mixed, = no difference, — not comparable):",
            "",
            *verdict_table(board, b["languages"]),
        ]
    )


def _claims_block(data) -> str:
    return claims_table(CLAIMS, data)


DOC_BLOCKS = {"bench.leaderboard": _leaderboard_block, "bench.claims": _claims_block}
