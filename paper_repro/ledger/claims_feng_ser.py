"""Claims on sequence error (SER) of Feng et al., "Theoretical Benefit and Limitation of Diffusion Language
Model" (arXiv 2502.09622), and the suite's findings about SER on its stand-in hard languages, including the
exact-law checks run with the incremental oracle paths (split from :mod:`paper_repro.ledger.claims_feng`,
whose docstring gives the provenance: only the abstracts could be read; the paper's hard HMM is replaced by
the suite's stand-ins).

Tolerances (declared): a log-log slope of the steps needed within ``LINEAR_SLOPE`` of 1 is "linear in L";
the Bernoulli SER rate within ``RATE_REL_TOL`` of its large-K theory (finite-K corrections are O(1/K)); at a
fixed ratio K/L the SER "does not depend on L" when it varies by at most ``COLLAPSE_TOL`` across lengths (the
Rao-Blackwellised cells at L = 16384 carry intervals of a few hundredths; the contrast is a 0 -> 1 swing at
fixed K), and "saturates" at fixed K when it is within ``SATURATION_TOL`` of 1.
"""

from __future__ import annotations

import math

from paper_repro.ledger.data import FigureDataFolder
from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict

PAPER = "Feng et al., arXiv 2502.09622"
FENG = "tests/theory/test_feng.py"
SER = "tests/theory/test_sequence_error.py"
FAC = "tests/theory/test_factorization.py"
INC = "tests/sims/test_incremental.py"
LINEAR_SLOPE = 0.1
RATE_REL_TOL = 0.03
COLLAPSE_TOL = 0.1
SATURATION_TOL = 0.01


def _records(data, name):
    return list(data(name)["records"].values())


def _slopes(data):
    return data("feng_steps_needed")["meta"]["slope_log_steps_vs_log_L"]


def _tiny(data):
    return [r for r in _records(data, "feng_both_directions") if "kl_data_to_sampler" in r]


def _ser_linear(data) -> Verdict:
    s = {k: v for k, v in _slopes(data).items() if k.startswith("ser|") and k.endswith("|largest3")}
    lo, hi = min(s.values()), max(s.values())
    ok = all(abs(v - 1) <= LINEAR_SLOPE for v in s.values())
    return Verdict(
        "holds" if ok else "contradicted",
        f"slope of log K* vs log L: {lo:.3f} ... {hi:.3f}",
        "smallest K with exact SER <= delta on the pair-copy stand-in (not the paper's hard HMM, which could "
        "not be read), both rules, three largest L; in model calls the slopes are the same",
    )


def _bernoulli_rate(data) -> Verdict:
    meta = data("feng_ser_vs_steps")["meta"]
    fits = meta["fits"]
    theory = {"pair": fits["pair|bernoulli|theory_slope_large_K"], "parity": 0.25}
    got = {lang: fits[f"{lang}|bernoulli"]["slope_vs_L_over_K"] for lang in theory}
    ok = all(abs(got[k] / theory[k] - 1) <= RATE_REL_TOL for k in theory)
    return Verdict(
        "holds" if ok else "contradicted",
        f"pair {got['pair']:.3f} (theory {theory['pair']:.3f}), parity {got['parity']:.3f} (theory 0.25)",
        "fitted slope of -log(1 - SER) against L/K over K >= L/4 (exact closed forms); fixed counts are not "
        "proportional to L/K (SER = 0 at K = L)",
    )


def _near(data):
    return data("feng_ser_vs_steps")["meta"]["bernoulli_vs_fixed_near_K_eq_L"]


def _k_eq_l(data) -> Verdict:
    near = _near(data)
    V = data("feng_ser_vs_steps")["meta"]["pair_copy_symbols"]
    Ls = sorted({int(k.split("|")[1][2:]) for k in near if k.startswith("pair|")})
    L = Ls[-1]
    at1, at4 = near[f"pair|L={L}|K/L=1"], near[f"pair|L={L}|K/L=4"]
    calls = next(
        r["calls"]
        for r in _records(data, "feng_ser_vs_steps")
        if r["language"] == "pair" and r["rule"] == "bernoulli" and r["length"] == L and r["steps"] == 4 * L
    )
    limit = -math.expm1(-(1 - 1 / V) / 2)
    ok = at1["fixed"] == 0.0 and abs(at1["bernoulli"] - limit) <= 0.01
    return Verdict(
        "holds" if ok else "contradicted",
        f"pair, L = {L}, K = L: Bernoulli {at1['bernoulli']:.3f} (limit {limit:.3f}), fixed {at1['fixed']:g}; "
        f"K = 4L: Bernoulli {at4['bernoulli']:.3f} with {calls / L:.2f} L calls",
        "exact closed form and pair DP",
    )


def _calls_vs_steps(data) -> Verdict:
    recs = {
        (r["rule"], r["target"], r["length"]): r
        for r in _records(data, "feng_steps_needed")
        if r["side"] == "ser" and r["steps"]
    }
    ratios = {}
    for (rule, t, L), b in recs.items():
        f = recs.get(("fixed", t, L))
        if rule == "bernoulli" and f:
            ratios.setdefault(t, []).append((b["steps"] / f["steps"], b["calls"] / f["calls"]))
    ok = all(c < st for v in ratios.values() for st, c in v)
    key = "; ".join(
        f"SER <= {t:g}: Bernoulli needs {min(s for s, _ in v):.1f}-{max(s for s, _ in v):.1f}x the steps but "
        f"{min(c for _, c in v):.2f}-{max(c for _, c in v):.2f}x the calls of fixed counts"
        for t, v in sorted(ratios.items())
    )
    return Verdict(
        "holds" if ok else "contradicted",
        key,
        "pair copy, exact; calls = expected number of non-empty steps at the smallest K reaching the target",
    )


def _directions(data) -> Verdict:
    tiny = _tiny(data)
    bad = [r for r in tiny if r["sequence_error"] > 0]
    inf_ok = all(math.isinf(r["kl_sampler_to_data"]) == (r["sequence_error"] > 0) for r in tiny)
    fin = all(math.isfinite(r["kl_data_to_sampler"]) for r in tiny)
    mc = [r for r in _records(data, "feng_both_directions") if r.get("language") == "ngram2"]
    mc_ok = all(math.isinf(r["gen_excess"]) == (r["ser"] > 0) for r in mc)
    n_inf = sum(math.isinf(r["gen_excess"]) for r in mc)
    ok = inf_ok and fin and mc_ok
    return Verdict(
        "holds" if ok else "contradicted",
        f"KL(p_bar || q) = inf at {sum(math.isinf(r['kl_sampler_to_data']) for r in bad)} of {len(bad)} exact laws "
        f"with SER > 0; sparse bigram: generative NLL = +inf in {n_inf} of {len(mc)} cells",
        "exact laws of both samplers on a sparse chain (L = 6) and sampled cells of the sparse bigram (L = 64); "
        "KL(q || p_bar) finite everywhere",
    )


def _zeros_kept(data) -> Verdict:
    rows = [r for r in _records(data, "feng_learning_error") if r["kind"] == "ser"]
    temp = sorted((r for r in rows if r["perturbation"] == "temperature"), key=lambda r: r["value"])
    mix = sorted((r for r in rows if r["perturbation"] == "uniform_mix"), key=lambda r: r["value"])
    ok = all(r["ser"] == 0 for r in temp) and all(r["ci"][0] > 0 for r in mix)
    return Verdict(
        "holds" if ok else "contradicted",
        f"temperature {temp[0]['value']:g}-{temp[-1]['value']:g}: SER 0 (CI <= {max(r['ci'][1] for r in temp):.3f}); "
        "mix " + "/".join(f"{r['value']:g}" for r in mix) + ": " + "/".join(f"{r['ser']:.2f}" for r in mix),
        f"one token per step, L = {temp[0]['length']}, {temp[0]['n']} samples per cell, Wilson 95%",
    )


def _reference_rows(data, lang: str, rule: str):
    """The reference cells (closed form, DP, Rao-Blackwellised) of the SER figure, without the oracle checks."""
    recs = data("feng_ser_vs_steps")["records"]
    return [
        r
        for k, r in recs.items()
        if not k.startswith("oracle|") and r["language"] == lang and r["rule"] == rule
    ]


def _constant_steps_fail(data) -> Verdict:
    rows = _reference_rows(data, "pair", "fixed")
    ser = {(r["length"], r["steps"]): r["ser"] for r in rows}
    Lmax = max(L for L, _ in ser)
    # fixed K: exact at L = K, saturated at L = 16 K
    pairs = sorted(K for L, K in ser if L == K and (16 * K, K) in ser)
    saturated = all(ser[(K, K)] == 0.0 and ser[(16 * K, K)] >= 1 - SATURATION_TOL for K in pairs)
    # fixed K/L: one value across lengths
    spread = {}
    for q in (2, 4, 8):
        vals = [v for (L, K), v in ser.items() if K * q == L]
        spread[q] = (max(vals) - min(vals), min(vals), max(vals))
    collapse = all(s <= COLLAPSE_TOL for s, _, _ in spread.values())
    K = pairs[-1] if pairs else None
    key = (
        f"fixed K = {K}: SER {ser[(K, K)]:g} at L = {K}, {ser[(4 * K, K)]:.3f} at L = {4 * K}, "
        f"{ser[(16 * K, K)]:.4f} at L = {16 * K}; "
        if K
        else ""
    ) + "; ".join(f"K = L/{q}: {lo:.3f}-{hi:.3f}" for q, (_, lo, hi) in spread.items())
    return Verdict(
        "holds" if pairs and saturated and collapse else "contradicted",
        key + f" (L = 64 ... {Lmax})",
        "pair copy, fixed counts, exact DP or Rao-Blackwellised Monte Carlo where the DP is too costly (draws "
        "per cell in the data); the oracle-sampled checks at the largest L are feng.ser_exact_law_checks",
    )


def _exact_law_checks(data) -> Verdict:
    meta = data("feng_ser_vs_steps")["meta"]
    checks = meta["oracle_checks"]
    if not checks:
        return Verdict("not covered", "—", "no oracle-sampled check cells in this preset")
    agree = sum(c["agrees"] for c in checks.values())
    by = {}
    for key, c in checks.items():
        lang, _, L, _ = key.split("|")
        by.setdefault((lang, c["oracle_path"]), set()).add(int(L))
    where = "; ".join(
        f"{lang} L <= {max(Ls)}: {path}" for (lang, path), Ls in sorted(by.items(), key=lambda kv: kv[0])
    )
    n = sorted({c["n"] for c in checks.values()})
    return Verdict(
        "holds" if agree == len(checks) else "qualified",
        f"{agree} of {len(checks)} checks agree ({where})",
        f"the oracle sampler run n = {'/'.join(map(str, n))} times per cell, Wilson 95%, against the exact value "
        "(inside the interval) or the Rao-Blackwellised one (intervals overlap); at 95% about one in twenty may "
        "miss by chance",
    )


CLAIMS = [
    Claim(
        "feng.ser_steps_linear_in_length",
        PAPER,
        "abstract (v1, v2); SER theorem",
        "With the sequence error rate as the metric, the number of sampling steps must grow linearly with L "
        "(in the worst case).",
        "primary text",
        "exact",
        (
            f"{FENG}::test_ser_collapses_on_steps_over_length",
            f"{FENG}::test_steps_for_ser_grow_linearly_in_length",
        ),
        ("feng_steps_needed", "feng_ser_vs_steps"),
        _ser_linear,
        "On the suite's stand-in hard languages; the paper's hard HMM and its constants are unknown.",
    ),
    Claim(
        "feng.ser_bernoulli_rate",
        "suite",
        "",
        "For the Bernoulli (MDLM) rule -log(1 - SER) is linear in L/K, with slope (1 - 1/V)/2 on pair copy and "
        "1/4 on binary parity blocks of 4 as K/L grows; for fixed counts it is not (SER = 0 at K = L).",
        "suite finding",
        "exact",
        (
            f"{SER}::test_bernoulli_ser_matches_exact_sampler_law",
            f"{SER}::test_fixed_count_pair_dp_matches_exact_sampler_law",
        ),
        ("feng_ser_vs_steps",),
        _bernoulli_rate,
    ),
    Claim(
        "feng.bernoulli_vs_fixed_at_k_eq_l",
        "suite",
        "",
        "At K = L random-order fixed counts are exact (SER = 0) while the Bernoulli rule keeps SER near "
        "1 - exp(-(1 - 1/V)/2) on pair copy; it needs K >> L steps to approach 0, with fewer than L model calls.",
        "suite finding",
        "exact",
        (f"{SER}::test_one_token_per_step_is_exact_but_bernoulli_at_n_equal_l_is_not",),
        ("feng_ser_vs_steps",),
        _k_eq_l,
    ),
    Claim(
        "feng.bernoulli_calls_near_fixed_for_ser",
        "suite",
        "",
        "Counted in model calls rather than steps, the Bernoulli rule's disadvantage for an SER target mostly "
        "disappears: most of its extra steps are empty and make no call.",
        "suite finding",
        "exact",
        (
            f"{FENG}::test_expected_calls_count_non_empty_steps_over_all_assignments",
            f"{FENG}::test_steps_for_pair_ser_fixed_is_a_verified_crossing",
        ),
        ("feng_steps_needed",),
        _calls_vs_steps,
    ),
    Claim(
        "feng.generative_direction_diverges",
        "suite",
        "",
        "On a language with zeros the generative direction E_p[-log q] (generative perplexity) is infinite at "
        "every K with SER > 0, while the data direction KL(q || p) stays finite.",
        "suite finding",
        "exact",
        (f"{SER}::test_generative_perplexity_diverges_once_ser_is_positive",),
        ("feng_both_directions",),
        _directions,
    ),
    Claim(
        "feng.zeros_kept_by_temperature",
        "suite",
        "",
        "With one token per step a tempered oracle keeps the oracle's zeros (SER = 0), while uniform mixing puts "
        "mass outside the support (SER > 0).",
        "suite finding",
        "monte carlo",
        (f"{FAC}::test_learning_error_adds_exactly",),
        ("feng_learning_error",),
        _zeros_kept,
    ),
    Claim(
        "feng.ser_constant_steps_fail_with_length",
        "suite",
        "",
        "With a number of steps K that does not grow with L the fixed-count SER goes from 0 (at L = K) to "
        "about 1 (at L = 16 K), while at a fixed ratio K/L it does not depend on L (up to L = 16384): a fixed "
        "SER needs steps proportional to L.",
        "suite finding",
        "exact",
        (
            f"{FENG}::test_ser_collapses_on_steps_over_length",
            f"{SER}::test_fixed_count_pair_dp_matches_exact_sampler_law",
        ),
        ("feng_ser_vs_steps",),
        _constant_steps_fail,
        "On the pair-copy stand-in, not the paper's hard HMM.",
    ),
    Claim(
        "feng.ser_exact_law_checks",
        "suite",
        "",
        "Running the oracle sampler itself (exact law; incremental oracle paths: nearest neighbour on the "
        "pair-copy bigram, evidence tree on the parity HMM) gives the same SER as the closed forms, the exact "
        "DP and the Rao-Blackwellised estimates, at the largest lengths of the figure.",
        "suite finding",
        "monte carlo",
        (
            f"{SER}::test_oracle_sampled_ser_is_the_same_on_both_oracle_paths",
            f"{INC}::test_incremental_and_full_runs_are_identical_given_the_seed",
            f"{INC}::test_incremental_path_matches_the_exact_law",
        ),
        ("feng_ser_vs_steps",),
        _exact_law_checks,
        "Few cells and 64 samples each in the quick preset (128 in the full preset); the path that ran is "
        "recorded per cell (oracle_path).",
    ),
]


def _full_block(data) -> str:
    """The claims that read only the SER figure, on its full preset (``feng_ser_vs_steps_full.json`` beside the
    quick figures)."""
    full = FigureDataFolder(data.folder, "_full")
    meta = full("feng_ser_vs_steps")["meta"]
    head = f"Data `figures/feng_ser_vs_steps_full.json`; oracle paths that ran: {', '.join(meta['oracle_paths'])}:"
    return head + "\n\n" + claims_table([c for c in CLAIMS if c.figures == ("feng_ser_vs_steps",)], full)


DOC_BLOCKS = {"feng.ser_full": _full_block}
