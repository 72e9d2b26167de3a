"""Claims of Feng et al., "Theoretical Benefit and Limitation of Diffusion Language Model" (arXiv 2502.09622),
and the suite's findings about the step counts that perplexity and sequence error need.

Provenance (``../shared/research/paper_statements.md`` §1): only the abstracts (v1, v2) and secondary
summaries could be read. The two headline claims are in the abstracts ("primary text"); the rate shape
((n-1)/K)^(1/n) log V is Li & Cai's paraphrase in two secondary paper notes; every constant is recalled
only (``theory.feng.FENG_CONSTANTS``, UNVERIFIED) and is never asserted; the paper's hard HMM could not be
read, so SER claims are checked on the suite's stand-ins. The TER metric's direction is unknown (F3): the
suite checks the data direction E_M KL(q || p_M)/L. K is the number of steps (N in Feng et al.).

The SER claims are in :mod:`paper_repro.ledger.claims_feng_ser`; the doc block ``feng.claims`` lists both.

Tolerances (declared): a log-log slope of the steps needed within ``FLAT_SLOPE`` of 0 is "independent of L"
(a slope of 1 vs 0 is what the claims distinguish); the HMM's per-token KL at fixed K "does not grow with L"
when its ratio to the value at L = ``REF_LENGTH`` stays below ``FLAT_RATIO``, at K with L/K >= ``MIN_L_OVER_K``
at both lengths (the per-token KL approaches its L -> infinity value from below; the bigram's exact values at
K = 16 grow by a few per cent from L = 256 to 4096, at K close to L by more); additivity of the learning term to ``ADDITIVITY_TOL``
nats per token (float64 sums of O(L) log-probabilities); Monte Carlo 95% intervals against exact values agree
when their misses are as likely as ``COVERAGE_P_MIN`` at exact coverage (:func:`sims.stats.coverage_pvalue`).

The doc block ``feng.ter_full`` re-evaluates the claims that read only the TER figure on its full preset
(``figures/feng_ter_vs_steps_full.json``).
"""

from __future__ import annotations

import math

from paper_repro.ledger import claims_feng_ser
from paper_repro.ledger.claims_feng_ser import _records, _slopes
from paper_repro.ledger.data import FigureDataFolder
from paper_repro.ledger.doc_tables import claims_table, table
from paper_repro.ledger.model import Claim, Verdict
from sims.stats import coverage_pvalue
from theory.feng import ter_rate_shape, ter_steps_for_epsilon

PAPER = "Feng et al., arXiv 2502.09622"
FENG = "tests/theory/test_feng.py"
FAC = "tests/theory/test_factorization.py"
FLAT_SLOPE = 0.1
ADDITIVITY_TOL = 1e-10
FLAT_RATIO = 1.25
REF_LENGTH = 256
MIN_L_OVER_K = 16
COVERAGE_P_MIN = 0.01


def _steps_flat(data) -> Verdict:
    s = {k: v for k, v in _slopes(data).items() if k.startswith("ter|") and k.endswith("|largest3")}
    worst = max(s, key=lambda k: abs(s[k]))
    fits = data("feng_ter_vs_steps")["meta"]["fits"]
    at16 = fits["kl_per_token_at_K=16|fixed"]
    Ls = sorted(at16, key=int)
    key = (
        f"max |slope of log K* vs log L| = {abs(s[worst]):.2f} ({worst.split('|')[1]}, eps = {worst.split('|')[2]}); "
        f"KL/L at K = 16: {at16[Ls[-2]]:.4f} (L = {Ls[-2]}) vs {at16[Ls[-1]]:.4f} (L = {Ls[-1]})"
    )
    ok = abs(s[worst]) <= FLAT_SLOPE
    return Verdict(
        "holds" if ok else "contradicted",
        key,
        "exact per-token E_M KL(q || p_M)/L of the oracle sampler on the bigram ngram2, both rules, three largest L",
    )


def _shape_above(data) -> Verdict:
    rows = [r for r in _records(data, "feng_ter_vs_steps") if r["kind"] == "exact" and r["kl_per_token"] > 0]
    ratio = min(ter_rate_shape(r["steps"], 2, 8) / r["kl_per_token"] for r in rows)
    fits = data("feng_ter_vs_steps")["meta"]["fits"]
    Lmax = max(r["length"] for r in rows)
    needed = [
        r["steps"]
        for r in _records(data, "feng_steps_needed")
        if r["side"] == "ter" and r["target"] == 0.01 and r["length"] == Lmax and r["steps"]
    ]
    k_shape = ter_steps_for_epsilon(0.01 / math.log(8), 2)
    key = f"shape / exact >= {ratio:.2f}; exact slope {fits[f'slope|fixed|L={Lmax}']:.2f} vs shape -0.5; " + (
        f"K for 0.01 nats/token: {max(needed)} exact vs {k_shape:.0f} from the shape" if needed else ""
    )
    return Verdict(
        "holds" if ratio >= 1 else "contradicted",
        key.rstrip("; "),
        "the shape with prefactor 1 lies above every exact point (bigram, L = 64 ... 4096), so any prefactor >= 1 "
        "does; the bound is loose by orders of magnitude in the steps it asks for",
    )


def _constants(data) -> Verdict:
    return Verdict(
        "unverifiable", "—", "recalled only; no readable copy of the theorem text (paper_statements.md F6-F8)"
    )


def _tiny(data):
    return [r for r in _records(data, "feng_both_directions") if "kl_data_to_sampler" in r]


def _mixture(data) -> Verdict:
    tiny = _tiny(data)
    ok = all(r["kl_data_to_sampler"] <= r["expected_kl_per_order"] * (1 + 1e-12) + 1e-15 for r in tiny)
    strict = [r for r in tiny if r["kl_data_to_sampler"] < r["expected_kl_per_order"] * (1 - 1e-9)]
    gap = max((1 - r["kl_data_to_sampler"] / r["expected_kl_per_order"] for r in strict), default=0.0)
    return Verdict(
        "holds" if ok else "contradicted",
        f"KL(q || p_bar) <= E_M KL in {len(tiny)} of {len(tiny)} exact laws, strictly in {len(strict)} "
        f"(by up to {100 * gap:.0f}%)",
        "equality where one order class carries all the mass (K = 1, one token per step)",
    )


def _learning(data) -> Verdict:
    d = data("feng_learning_error")
    models = list(d["meta"]["models"])
    rows = [r for r in d["records"].values() if r["kind"] == "kl"]
    gap = max(
        abs(r[m]["total"]["mean"] - r[m]["factorization"]["mean"] - r[m]["learning"]["mean"])
        for r in rows
        for m in models
    )
    at_l = [r for r in rows if r["steps"] == r["length"]]
    positive = all(r[m]["learning"]["ci"][0] > 0 for r in at_l for m in models)
    vals = " / ".join(f"{r[m]['learning']['mean']:.4f}" for r in at_l[:1] for m in models)
    ok = gap <= ADDITIVITY_TOL and positive
    return Verdict(
        "holds" if ok else "contradicted",
        f"learning term at K = L = {at_l[0]['length']}: {vals} nats/token ({', '.join(models)})",
        f"total = factorization + learning to {gap:.0e} nats/token in every cell (paired Monte Carlo; exact "
        "identity in the tests); at K = L the factorization error is 0 and the learning term's 95% interval "
        "excludes 0",
    )


def _mc_exact(data) -> Verdict:
    checks = data("feng_ter_vs_steps")["meta"]["mc_vs_exact_bigram"]
    inside = sum(c["inside_ci"] for c in checks.values())
    lengths = sorted({int(k.split("|")[1].removeprefix("L=")) for k in checks})
    chance = coverage_pvalue(len(checks) - inside, len(checks))
    return Verdict(
        "holds" if chance >= COVERAGE_P_MIN else "qualified",
        f"{inside} of {len(checks)} exact values inside the 95% intervals (chance of so many misses: {chance:.2f})",
        f"bigram, L = {', '.join(map(str, lengths))}; at 95% about one interval in twenty misses by chance, so the "
        f"check holds when the misses are that likely at exact coverage (binomial tail >= {COVERAGE_P_MIN})",
    )


def _hmm_flat(data) -> Verdict:
    rows = [r for r in _records(data, "feng_ter_vs_steps") if r["kind"] == "mc" and r["language"] == "hmm"]
    Lmax = max(r["length"] for r in rows)
    by = {(r["rule"], r["length"], r["steps"]): r for r in rows}
    pairs = [
        (by[(ru, REF_LENGTH, K)], r)
        for (ru, L, K), r in by.items()
        if L == Lmax and (ru, REF_LENGTH, K) in by and K * MIN_L_OVER_K <= REF_LENGTH
    ]
    if Lmax <= REF_LENGTH or not pairs:
        return Verdict("not covered", "—", f"no HMM Monte Carlo cells beyond L = {REF_LENGTH}")
    ratio = {(b["rule"], b["steps"]): b["kl_per_token"] / a["kl_per_token"] for a, b in pairs}
    worst = max(ratio, key=ratio.get)
    paths = sorted({r["oracle_path"] for _, r in pairs if "oracle_path" in r})
    key = f"KL/L at L = {Lmax} over L = {REF_LENGTH}: " + ", ".join(
        f"{rule} K = {K}: {v:.3f}" for (rule, K), v in sorted(ratio.items())
    )
    return Verdict(
        "holds" if ratio[worst] <= FLAT_RATIO else "contradicted",
        key,
        f"registry HMM (16 states), paired Monte Carlo, n = {pairs[0][1]['n']} at L = {Lmax}; teacher forcing "
        f"on {', '.join(paths) or 'an unrecorded path'}",
    )


CLAIMS = [
    Claim(
        "feng.ter_steps_independent_of_length",
        PAPER,
        "abstract (v1, v2); TER theorem",
        "With perplexity (token error rate) as the metric, MDMs reach near-optimal quality in a number of "
        "sampling steps that does not depend on the sequence length L.",
        "primary text",
        "exact",
        (
            f"{FENG}::test_per_token_kl_at_fixed_steps_converges_in_length",
            f"{FENG}::test_steps_for_per_token_target_do_not_grow_with_length",
        ),
        ("feng_steps_needed", "feng_ter_vs_steps"),
        _steps_flat,
        "Checked as the data-direction excess E_M KL(q || p_M)/L (the TER definition could not be read).",
    ),
    Claim(
        "feng.rate_shape_above_exact",
        PAPER,
        "TER theorem, as paraphrased by Li & Cai",
        "Feng et al.'s TER guarantee decays like ((n-1)/K)^(1/n) log V; with any prefactor >= 1 this shape lies "
        "above the exact per-token KL of the oracle sampler, which decays like 1/K.",
        "secondary note",
        "bound",
        (f"{FENG}::test_exact_per_token_kl_decays_like_one_over_n",),
        ("feng_ter_vs_steps", "feng_steps_needed"),
        _shape_above,
        "The prefactor is recalled only (4, UNVERIFIED); the shape is drawn with prefactor 1.",
    ),
    Claim(
        "feng.constants",
        PAPER,
        "TER and SER theorems",
        "The constants of the theorems as recalled (prefactor 4 before eps log|V|, K = (n-1)/eps^n, "
        "L >= (n-1)/eps^(n+1/2), hard HMM with vocabulary 16, eps_learning <= 1/128, SER >= 1/2 when K <= C L).",
        "recalled",
        "exact",
        (f"{FENG}::test_constants_are_labelled_unverified",),
        (),
        _constants,
        "UNVERIFIED and never asserted. Indirect support only: Li & Cai's vacuity threshold (n-1) 4^n equals "
        "(n-1)/eps^n at eps = 1/4, i.e. prefactor 4 (paper_statements.md F6).",
    ),
    Claim(
        "feng.mixture_below_per_order",
        "suite",
        "",
        "The sampler's law is the mixture over orders, and its KL(q || p_bar) is at most the per-order average "
        "E_M KL(q || p_M) that the closed forms compute (convexity).",
        "suite finding",
        "exact",
        (
            f"{FAC}::test_fixed_count_sampler_law_is_the_uniform_mixture_of_product_laws",
            f"{FAC}::test_ancestral_sampler_law_is_the_bernoulli_mixture",
        ),
        ("feng_both_directions",),
        _mixture,
    ),
    Claim(
        "feng.learning_error_adds",
        "suite",
        "",
        "For every order the KL of a model is the oracle's factorization error plus a learning term on true "
        "contexts (Li & Cai's '+ eps_train', Feng's eps_learning); averaged over random orders the learning term "
        "does not vanish with more steps.",
        "suite finding",
        "exact",
        (
            f"{FAC}::test_learning_error_adds_exactly",
            f"{FAC}::test_expected_learning_term_under_random_orders",
            f"{FAC}::test_learning_sweep_matches_separate_estimates",
        ),
        ("feng_learning_error",),
        _learning,
    ),
    Claim(
        "feng.mc_matches_exact",
        "suite",
        "",
        "The paired Monte Carlo estimator of E_M KL(q || p_M) (teacher forcing on x ~ q, M ~ the sampler) agrees "
        "with the exact closed forms.",
        "suite finding",
        "monte carlo",
        (f"{FAC}::test_monte_carlo_expected_kl_agrees_with_exact",),
        ("feng_ter_vs_steps",),
        _mc_exact,
    ),
    Claim(
        "feng.ter_hmm_flat_in_length",
        PAPER,
        "abstract (v1, v2); TER theorem",
        "On an HMM (no closed form) the per-token excess cross-entropy at a fixed number of steps does not grow "
        "with L up to the longest length run (L = 4096), so the steps for a per-token target "
        "do not either.",
        "primary text",
        "monte carlo",
        (
            f"{FAC}::test_monte_carlo_expected_kl_agrees_with_exact",
            "tests/sims/test_incremental.py::test_teacher_forcing_on_the_incremental_path",
        ),
        ("feng_ter_vs_steps",),
        _hmm_flat,
        "The data direction E_M KL(q || p_M)/L by paired Monte Carlo with the exact oracle (teacher forcing on "
        "the incremental oracle path; the path is recorded per cell).",
    ),
]


def _claims_block(data) -> str:
    return claims_table(CLAIMS + claims_feng_ser.CLAIMS, data)


def _outcomes_block(data) -> str:
    """The measured values behind the claims (quick preset), from the figure data."""
    ter = data("feng_ter_vs_steps")["meta"]["fits"]
    rows = []
    for K in (4, 16):
        for rule in ("fixed", "bernoulli"):
            vals = ter[f"kl_per_token_at_K={K}|{rule}"]
            rows.append(
                (
                    f"E_M KL/L at K = {K}, {rule}",
                    " / ".join(f"{v:.4f}" for _, v in sorted(vals.items(), key=lambda kv: int(kv[0]))),
                    "L = " + " / ".join(sorted(vals, key=int)),
                )
            )
    needed = _records(data, "feng_steps_needed")
    for side, t in (("ter", 0.05), ("ter", 0.01), ("ser", 0.1)):
        for rule in ("fixed", "bernoulli"):
            sub = sorted(
                (r for r in needed if (r["side"], r["rule"], r["target"]) == (side, rule, t) and r["steps"]),
                key=lambda r: r["length"],
            )
            if sub:
                what = f"smallest K with {'E_M KL/L <= ' if side == 'ter' else 'SER <= '}{t:g}, {rule}"
                at = "L = " + " / ".join(str(r["length"]) for r in sub)
                rows.append((what, " / ".join(str(r["steps"]) for r in sub), at))
                if rule == "bernoulli":
                    rows.append(
                        (
                            f"expected model calls at that K, {rule}",
                            " / ".join(f"{r['calls']:.0f}" for r in sub),
                            at,
                        )
                    )
    slopes = _slopes(data)
    for key in ("ser|fixed|0.1", "ser|bernoulli|0.1"):
        rows.append((f"slope of log K* vs log L, {key.replace('|', ', ')}", f"{slopes[key]:.3f}", "all L"))
    Lmax = max(int(k.split("=")[-1]) for k in ter if k.startswith("slope|fixed"))
    for rule in ("fixed", "bernoulli"):
        rows.append(
            (
                f"slope of log E_M KL vs log K ({rule}, K in [4, L/8])",
                f"{ter[f'slope|{rule}|L={Lmax}']:.3f}",
                f"L = {Lmax}",
            )
        )
    lines = [
        "Values computed from the figure data (quick preset):",
        "",
        table(("quantity", "value", "at"), rows),
    ]
    return "\n".join(lines)


def _ter_full_block(data) -> str:
    """The claims that read only the TER figure, on its full preset (``feng_ter_vs_steps_full.json`` beside
    the quick figures)."""
    full = FigureDataFolder(data.folder, "_full")
    mc = [r for r in _records(full, "feng_ter_vs_steps") if r["kind"] == "mc"]
    cells = ", ".join(
        f"{lang} L = {'/'.join(str(L) for L in sorted({r['length'] for r in mc if r['language'] == lang}))}"
        for lang in sorted({r["language"] for r in mc})
    )
    n = "/".join(str(v) for v in sorted({r["n"] for r in mc}, reverse=True))
    head = (
        f"Data `figures/feng_ter_vs_steps_full.json` (Monte Carlo cells {cells}; n = {n} samples per cell):"
    )
    only = [c for c in CLAIMS if c.figures == ("feng_ter_vs_steps",)]
    return head + "\n\n" + claims_table(only, full)


DOC_BLOCKS = {
    "feng.claims": _claims_block,
    "feng.outcomes": _outcomes_block,
    "feng.ter_full": _ter_full_block,
}
