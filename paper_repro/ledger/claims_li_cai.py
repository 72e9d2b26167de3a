"""Claims of Li & Cai, "Breaking AR's Sampling Bottleneck: Provable Acceleration via Diffusion Language
Models" (arXiv 2505.21400; v1 "A Convergence Theory for Diffusion Language Models"): Theorem 1, Corollary 1,
the TER rate and the KL direction, and the suite's sharper bounds. Theorem 2 is in ``claims_li_cai_theory``.

Provenance (``../shared/research/paper_statements.md`` §2): the sampler and eps_train from a third-party review
of v1; Theorem 1 (with its proof recursion), Corollary 1, the direction of the KL and the TER comparison as
formulas in two third-party paper notes: "secondary note". The law of the mask level in eps_train could not
be read. K is the number of steps (T in Li & Cai).

Tolerance: bounds and exact values are sums of O(L^2) float64 terms of the entropy profile, tested to 1e-10
relative against subset enumeration; ``REL_TOL`` = 1e-10 relative decides every comparison (the margins that
matter are above 0.5).
"""

from __future__ import annotations

import math

from paper_repro.ledger import claims_li_cai_theory
from paper_repro.ledger.doc_tables import claims_table, table
from paper_repro.ledger.model import Claim, Verdict

PAPER = "Li & Cai, arXiv 2505.21400"
LC = "tests/theory/test_li_cai.py"
FENG = "tests/theory/test_feng.py"
FAC = "tests/theory/test_factorization.py"
REL_TOL = 1e-10
#: Fitted log-log slope range that reads as a 1/K decay (the test's range).
ONE_OVER_K = (-1.1, -0.95)


def _rows(data):
    return list(data("li_cai_bounds")["records"].values())


def _summary(data):
    return data("li_cai_bounds")["meta"]["min_bound_over_exact_ratio"]


def _bound(name: str, label: str):
    def verdict(data) -> Verdict:
        rows = _rows(data)
        bad = [r for r in rows if r["exact"] > r[name] * (1 + REL_TOL) + 1e-300]
        s = _summary(data)
        Ls = sorted(s, key=int)
        key = f"min {label}/exact: " + ", ".join(f"{s[L][name]:.3f} (L = {L})" for L in (Ls[0], Ls[-1]))
        if bad:
            r = bad[0]
            return Verdict(
                "contradicted", f"L = {r['length']}, K = {r['steps']}", f"exact above the {label} bound"
            )
        return Verdict(
            "holds", key, f"{len(rows)} schedules (LLaDA counts), bigram ngram2, oracle (eps_train = 0)"
        )

    return verdict


def _stepwise(data) -> Verdict:
    rows = _rows(data)
    low = min(r["ratios"]["stepwise"] for r in rows if r["exact"] > 0)
    pairs = [r for r in rows if r["s_max"] <= 2 and r["exact"] > 0]
    eq = max((abs(r["ratios"]["stepwise"] - 1) for r in pairs), default=0.0)
    ok = low >= 1 - REL_TOL and eq <= REL_TOL
    return Verdict(
        "holds" if ok else "contradicted",
        f"min stepwise/exact = {low:.12f}; |ratio - 1| <= {eq:.0e} where every step holds <= 2 tokens",
        f"{len(rows)} schedules",
    )


def _cor1(data) -> Verdict:
    rows = [r for r in _rows(data) if not math.isnan(r["corollary1_explicit"])]
    low = min(r["corollary1_explicit"] / r["exact"] for r in rows if r["exact"] > 0)
    top = max(v["max_K_kl_over_sumI"] for v in _summary(data).values())
    return Verdict(
        "holds" if low >= 1 - REL_TOL else "contradicted",
        f"K E_M KL / Sigma I <= {top:.3f}; bound with C_1 = 2 + K/L / exact >= {low:.2f}",
        "balanced (LLaDA) schedules; the paper's C_1 is only 'of order 1': checked with the constant Theorem 1 implies",
    )


def _c1_one(data) -> Verdict:
    top = max(v["max_K_kl_over_sumI"] for v in _summary(data).values())
    return Verdict(
        "holds" if top <= 1 + REL_TOL else "contradicted",
        f"max K E_M KL / Sigma I = {top:.3f} (<= 1)",
        "every balanced schedule of the figure; the area formula proves it for all",
    )


def _rate(data) -> Verdict:
    fits = data("feng_ter_vs_steps")["meta"]["fits"]
    Lmax = max(int(k.split("=")[-1]) for k in fits if k.startswith("slope|"))
    s = {rule: fits[f"slope|{rule}|L={Lmax}"] for rule in ("fixed", "bernoulli")}
    ok = all(ONE_OVER_K[0] <= v <= ONE_OVER_K[1] for v in s.values())
    return Verdict(
        "holds" if ok else "contradicted",
        f"slope of log E_M KL vs log K: {s['fixed']:.3f} (fixed), {s['bernoulli']:.3f} (Bernoulli), L = {Lmax}",
        "exact, bigram ngram2, K in [4, L/8]",
    )


def _direction(data) -> Verdict:
    tiny = [r for r in data("feng_both_directions")["records"].values() if "kl_data_to_sampler" in r]
    bad = [r for r in tiny if r["sequence_error"] > 0]
    rev_inf = sum(math.isinf(r["kl_sampler_to_data"]) for r in bad)
    ok = rev_inf == len(bad) and all(math.isfinite(r["kl_data_to_sampler"]) for r in tiny)
    return Verdict(
        "holds" if ok else "contradicted",
        f"reverse KL(p_bar || q) = inf at {rev_inf} of {len(bad)} exact laws with SER > 0",
        "a finite bound (Theorem 1) can only hold in the data-first direction on languages with zeros",
    )


def _eps_train(data) -> Verdict:
    return Verdict(
        "unverifiable",
        "—",
        "the law of the mask level tau in eps_train could not be read; the suite uses a uniform mask count "
        "(eps_train = sum_k l(k), the learning term at K = L)",
    )


CLAIMS = [
    Claim(
        "li_cai.theorem1",
        PAPER,
        "Thm. 1",
        "For any mask-size schedule, E_M KL(p_X0 || p_Y0|M) <= (2^ceil(log2 s_max) - 1)/L sum_i I(X_i; X_-i) + "
        "eps_train.",
        "secondary note",
        "bound",
        (
            f"{LC}::test_theorem1_constant",
            f"{LC}::test_bounds_hold_on_random_chains",
            f"{LC}::test_bounds_hold_on_enumerated_languages",
        ),
        ("li_cai_bounds", "feng_ter_vs_steps"),
        _bound("theorem1", "Thm 1"),
        "Stated with its proof recursion in two paper notes; the recursion telescopes to the constant.",
    ),
    Claim(
        "li_cai.corollary1",
        PAPER,
        "Cor. 1",
        "For balanced schedules E_M KL <= (C_1/K) sum_i I(X_i; X_-i) + eps_train with C_1 of order 1.",
        "secondary note",
        "bound",
        (f"{LC}::test_bounds_hold_on_random_chains",),
        ("li_cai_bounds",),
        _cor1,
        "C_1 has no explicit value in the notes; Theorem 1 implies C_1 = 2 + K/L (derived).",
    ),
    Claim(
        "li_cai.smax_bound",
        "suite",
        "",
        "The exact area formula gives the sharper bound E_M KL <= (s_max - 1)/L sum_i I(X_i; X_-i) for the oracle.",
        "suite finding",
        "bound",
        (f"{LC}::test_bounds_hold_on_random_chains", f"{LC}::test_bounds_are_attained_where_they_should_be"),
        ("li_cai_bounds",),
        _bound("smax", "(s_max - 1)"),
    ),
    Claim(
        "li_cai.stepwise_bound",
        "suite",
        "",
        "The stepwise bound sum_t (s_t - 1)(D(k_t - 1) - D(k_{t-1})) lies between the exact value and the "
        "(s_max - 1) bound and is exact when every step reveals at most two tokens.",
        "suite finding",
        "bound",
        (
            f"{LC}::test_bounds_are_attained_where_they_should_be",
            f"{LC}::test_bounds_hold_on_enumerated_languages",
        ),
        ("li_cai_bounds",),
        _stepwise,
    ),
    Claim(
        "li_cai.c1_equals_one",
        "suite",
        "",
        "Corollary 1 holds with C_1 = 1: K E_M KL <= sum_i I(X_i; X_-i) for every balanced schedule (from the "
        "area formula), while Theorem 1 only gives C_1 = 2 + K/L.",
        "suite finding",
        "bound",
        (f"{LC}::test_bounds_hold_on_random_chains",),
        ("li_cai_bounds",),
        _c1_one,
    ),
    Claim(
        "li_cai.ter_rate_one_over_k",
        PAPER,
        "TER comparison (table of the notes)",
        "The per-token KL decays like log|X|/K for any distribution (against Feng et al.'s "
        "((n-1)/K)^(1/n) log|X|).",
        "secondary note",
        "exact",
        (f"{FENG}::test_exact_per_token_kl_decays_like_one_over_n",),
        ("feng_ter_vs_steps",),
        _rate,
    ),
    Claim(
        "li_cai.kl_direction_data_first",
        PAPER,
        "error metric",
        "The error is E_M KL(p_X0 || p_Y0|M): the data law first, the expectation over the random masks outside "
        "the KL.",
        "secondary note",
        "exact",
        ("tests/theory/test_sequence_error.py::test_generative_perplexity_diverges_once_ser_is_positive",),
        ("feng_both_directions",),
        _direction,
        "Stated explicitly in both notes; the reverse direction is consistent with no finite bound.",
    ),
    Claim(
        "li_cai.eps_train_law",
        PAPER,
        "Def. 1",
        "eps_train averages the likelihood gap to the optimal predictor over the mask level tau with the paper's "
        "law of |M_tau|, weighted L/|M_tau|.",
        "secondary note",
        "exact",
        (f"{FAC}::test_expected_learning_term_under_random_orders",),
        ("feng_learning_error",),
        _eps_train,
    ),
]


def _claims_block(data) -> str:
    return claims_table(CLAIMS, data)


def _bounds_block(data) -> str:
    s = _summary(data)
    rows = [
        (
            L,
            f"{v['theorem1']:.3f}",
            f"{v['smax']:.3f}",
            f"{v['stepwise']:.12f}",
            f"{v['corollary1_explicit']:.3f}",
            f"{v['max_K_kl_over_sumI']:.3f}",
        )
        for L, v in sorted(s.items(), key=lambda kv: int(kv[0]))
    ]
    return "\n".join(
        [
            "Smallest bound/exact ratio over the schedules of each length and the largest Corollary 1 constant "
            "(figure data, quick preset):",
            "",
            table(
                ("L", "Thm 1", "(s_max - 1)", "stepwise", "Cor 1 (C_1 = 2 + K/L)", "max K E_M KL / Sigma I"),
                rows,
            ),
        ]
    )


def _theorem2_block(data) -> str:
    return claims_table(claims_li_cai_theory.CLAIMS, data)


DOC_BLOCKS = {
    "li_cai.claims": _claims_block,
    "li_cai.bounds": _bounds_block,
    "li_cai.theorem2_claims": _theorem2_block,
}
