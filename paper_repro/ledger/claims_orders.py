"""Claims about the MDM ELBO and decoding orders: Garg, Kohli, Sarawagi, "Masked Diffusion Models are Secretly
Learned-Order Autoregressive Models" (arXiv 2511.19152), and the ELBO forms the suite checks.

Provenance (``../shared/research/paper_statements.md`` §5): a text extraction of the whole paper with its
equations ("primary text"). The Plackett-Luce form of the order law of alpha_{t,l} = 1 - t^{w_l} and the
ordered-partition form of sampler laws are derived here ("suite finding"). Verdicts read
``orders_invariance.json`` (its ``identities`` evaluate the table's identities once on fixed cases; the tests
check them on many more) and ``orders_learned.json``.

Tolerances are those of the identities (``theory.orders.identities``: 1e-12 relative for float64
rearrangements, 1e-9 for quadratures); the invariance of the exact model is read at ``EXACT_RANGE`` nats
(float64 rounding of sums of ~700 terms of size ~3 nats) and its breaking at ``BROKEN_RANGE`` (ten million
times that).
"""

from __future__ import annotations

from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict

PAPER = "Garg et al., arXiv 2511.19152"
ELBO = "tests/theory/test_elbo.py"
ORD = "tests/theory/test_orders.py"
EXACT_RANGE = 1e-12
BROKEN_RANGE = 1e-5
QUAD_RTOL = 1e-9


def _inv(data):
    return data("orders_invariance")


def _identities(*names):
    def verdict(data) -> Verdict:
        ids = _inv(data)["identities"]
        bad = [n for n in names if not ids[n]["holds"]]
        numeric = [ids[n]["residual"] for n in names if isinstance(ids[n]["residual"], float)]
        key = f"max residual {max(numeric):.1e}" if numeric else "exact"
        if bad:
            return Verdict("contradicted", f"fails: {', '.join(bad)}", "")
        return Verdict("holds", key, "; ".join(f"{n}: {ids[n]['check']}" for n in names))

    return verdict


def _discrete(data) -> Verdict:
    ids = _inv(data)["identities"]
    names = (
        "discrete_kl_form_is_reveal_step_enumeration",
        "discrete_to_continuous_first_order",
        "exact_denoiser_discrete_nelbo_decreases_to_entropy",
    )
    if not all(ids[n]["holds"] for n in names):
        return Verdict("contradicted", "—", "a discrete-time identity fails")
    ratio = ids["discrete_to_continuous_first_order"]["residual"]
    return Verdict(
        "qualified",
        f"error ratio K = 256 -> 512: {min(ratio):.3f} ... {max(ratio):.3f} (first order)",
        "in discrete time the loss decomposes over ordered partitions (tokens revealed together do not see "
        "each other) and reaches the order mixture only as K -> infinity, at rate O(1/K)",
    )


def _eq8(data) -> Verdict:
    checks = _inv(data)["quadrature_checks"]
    worst = max(abs(c["quadrature"] - c["pl_mixture"]) / abs(c["pl_mixture"]) for c in checks)
    return Verdict(
        "holds" if worst <= QUAD_RTOL else "contradicted",
        f"max |quad - PL mixture| / |mixture| = {worst:.1e} ({len(checks)} cases)",
        "random inconsistent conditional tables and random w, L = 4",
    )


def _literal(data) -> Verdict:
    checks = _inv(data)["quadrature_checks"]
    diffs = [abs(c["quadrature"] - c["literal_ascending_reading"]) for c in checks]
    return Verdict(
        "contradicted" if min(diffs) > 1e3 * QUAD_RTOL else "holds",
        f"|quad - literal reading| = {min(diffs):.2f} ... {max(diffs):.2f} nats",
        "a notation error: the paper's own proof (App. B) masks pi(<= i) at t*_pi(i), so the context is pi(> i); "
        "read as a decoding order (descending times) the mixture equals the quadrature",
    )


def _invariance(data) -> Verdict:
    curves = _inv(data)["curves"]
    ranges = {k: max(v) - min(v) for k, v in curves.items()}
    exact = ranges["exact (oracle)"]
    others = {k: v for k, v in ranges.items() if k != "exact (oracle)"}
    ok = exact <= EXACT_RANGE and all(v >= BROKEN_RANGE for v in others.values())
    key = f"range over rho: exact {exact:.0e}; " + "; ".join(
        f"{k.split(' (')[0]} {v:.2g}" for k, v in others.items()
    )
    return Verdict(
        "qualified" if ok else "contradicted",
        key + " nats",
        "multivariate schedules change the objective only for an imperfect model: for the exact denoiser E_q "
        "NELBO = H(q) under every schedule, so the optimum over an unrestricted model is schedule-independent",
    )


def _algorithm1(data) -> Verdict:
    alg = _inv(data)["algorithm_1"]
    n = alg["num_samples"]
    pair_ok = all(
        abs(p["frequency"] - p["plackett_luce"])
        <= 4 * (p["plackett_luce"] * (1 - p["plackett_luce"]) / n) ** 0.5
        for p in alg["pairwise"].values()
    )
    ok = alg["chi_square_p_value"] > 1e-3 and pair_ok
    return Verdict(
        "holds" if ok else "contradicted",
        f"chi-square p = {alg['chi_square_p_value']:.2f} ({n} orders)",
        "24 orders of L = 4; pairwise frequencies within 4 standard errors of w_i/(w_i + w_j)",
    )


def _learned(data) -> Verdict:
    res = data("orders_learned")["results"]
    ok = all(
        r["prob_hidden_order"] > 0.5
        and r["entropy"] - 1e-12 <= r["history"][-1]["elbo"] < r["uniform_order_elbo"]
        and tuple(r["top_orders"][0][0]) == tuple(r["hidden_order"])
        for r in res
    )
    key = "; ".join(
        f"{r['language']}: P(pi*) = {r['prob_hidden_order']:.3f}, NELBO {r['uniform_order_elbo']:.3f} -> "
        f"{r['history'][-1]['elbo']:.3f} (H = {r['entropy']:.3f})"
        for r in res
    )
    return Verdict("holds" if ok else "contradicted", key, "exact objective, Adam on log w")


def _c(cid, paper, where, statement, provenance, kind, tests, figures, verdict, notes=""):
    return Claim(f"orders.{cid}", paper, where, statement, provenance, kind, tests, figures, verdict, notes)


CLAIMS = [
    _c(
        "elbo_forms_agree",
        "suite",
        "",
        "For any denoiser, the subset form of the NELBO with univariate weights |S|!(L-1-|S|)!/L! equals the "
        "uniform any-order AR loss over all L! orders and the 1/k form.",
        "suite finding",
        "exact",
        (f"{ELBO}::test_subset_form_equals_any_order_and_inverse_k_forms",),
        ("orders_invariance",),
        _identities("subset_any_order_inverse_k"),
        "The any-order form is RADD's (arXiv 2406.03736), whose text was not read here.",
    ),
    _c(
        "schedule_invariance",
        PAPER,
        "abstract; Eq. 4",
        "With a univariate schedule the continuous NELBO of a time-independent denoiser does not depend on the "
        "schedule; for the exact denoiser it is -log q(x) for every x (so E_q NELBO = H(q)), also under "
        "per-position schedules.",
        "primary text",
        "exact",
        (
            f"{ELBO}::test_quadrature_subset_weights_do_not_depend_on_the_schedule",
            f"{ELBO}::test_full_integrand_quadrature_is_schedule_invariant",
            f"{ELBO}::test_exact_denoiser_elbo_is_minus_log_q",
            f"{ELBO}::test_exact_denoiser_elbo_is_minus_log_q_for_per_position_schedules",
            f"{ELBO}::test_time_conditioned_denoiser_invariance_up_to_reparameterization",
        ),
        ("orders_invariance",),
        _identities(
            "quadrature_weights_schedule_invariant",
            "whole_integrand_quadrature_invariant",
            "exact_denoiser_nelbo_is_minus_log_q",
            "exact_denoiser_expected_nelbo_is_entropy",
        ),
        "A time-conditioned denoiser is invariant only after reparameterising its time input by m(t) (tests).",
    ),
    _c(
        "discrete_time",
        PAPER,
        "Prop. 3.1 (for Eq. 3), App. B",
        "Prop. 3.1 (the loss is a mixture of AR losses over orders) holds for the discrete-time diffusion loss.",
        "primary text",
        "exact",
        (
            f"{ELBO}::test_discrete_kl_form_equals_reveal_step_enumeration",
            f"{ELBO}::test_discrete_elbo_converges_to_continuous_at_first_order",
            f"{ELBO}::test_exact_denoiser_discrete_elbo_decreases_to_entropy_on_nested_grids",
        ),
        ("orders_invariance",),
        _discrete,
        "The proof uses the continuous limit ('two tokens do not transition at the same time').",
    ),
    _c(
        "plackett_luce_order_law",
        PAPER,
        "Eq. 7, Prop. 3.2, Sec. 4",
        "For alpha_{t,l} = 1 - t^{w_l} the decoding-order law of Eq. 7 is Plackett-Luce(w): pairwise "
        "P(i before j) = w_i/(w_i + w_j), only ratios of w matter, and a common time warp leaves it unchanged.",
        "primary text",
        "exact",
        (
            f"{ORD}::test_plackett_luce_is_a_law_and_matches_power_subset_weights_exactly",
            f"{ORD}::test_plackett_luce_equals_sympy_integral_over_ordered_simplex",
            f"{ORD}::test_pairwise_order_probability_by_quadrature",
            f"{ORD}::test_power_subset_weights_closed_form_vs_quadrature",
            f"{ORD}::test_numeric_order_law_matches_plackett_luce_and_uniform",
            f"{ORD}::test_common_time_warp_leaves_the_order_law_unchanged",
        ),
        ("orders_invariance",),
        _identities(
            "plackett_luce_exact_rationals",
            "pairwise_before_probability",
            "power_subset_weights_quadrature",
            "numeric_order_law",
            "general_per_position_order_law",
            "common_time_warp",
        ),
        "Eq. 7 and the family are the paper's; the Plackett-Luce closed form is derived here.",
    ),
    _c(
        "eq8_is_order_mixture",
        PAPER,
        "Prop. 3.1, Eq. 6-8",
        "The multivariate NELBO (Eq. 8) equals the mixture over decoding orders of autoregressive losses with the "
        "order law of Eq. 7, for any time-independent denoiser.",
        "primary text",
        "exact",
        (
            f"{ORD}::test_eq8_quadrature_equals_plackett_luce_mixture_of_ar_losses",
            f"{ORD}::test_general_per_position_schedule_decomposes_over_orders",
        ),
        ("orders_invariance",),
        _eq8,
    ),
    _c(
        "eq5_literal_reading",
        PAPER,
        "Eq. 5-7",
        "Eq. 5-7 as printed (ascending masking times, context pi(< i)) express the NELBO of Eq. 8.",
        "primary text",
        "exact",
        (f"{ORD}::test_literal_ascending_reading_disagrees_with_quadrature",),
        ("orders_invariance",),
        _literal,
    ),
    _c(
        "invariance_only_for_exact_model",
        PAPER,
        "abstract",
        "Multivariate (per-position) schedules break the invariance of the MDM objective to the noise schedule.",
        "primary text",
        "exact",
        (f"{ORD}::test_invariance_holds_for_the_exact_model_and_breaks_for_imperfect_ones",),
        ("orders_invariance",),
        _invariance,
    ),
    _c(
        "algorithm1_samples_plackett_luce",
        PAPER,
        "Algorithm 1",
        "Algorithm 1 (inverted masking times, sorted) samples decoding orders from the law of Eq. 7 "
        "(Plackett-Luce for power schedules).",
        "primary text",
        "monte carlo",
        (f"{ORD}::test_algorithm_1_samples_plackett_luce_orders",),
        ("orders_invariance",),
        _algorithm1,
    ),
    _c(
        "composition_laws",
        "suite",
        "",
        "The exact output law of the MDLM ancestral and of the random-order fixed-count sampler is a mixture over "
        "ordered partitions whose weights depend only on the block sizes (composition laws).",
        "suite finding",
        "exact",
        (
            f"{ORD}::test_partition_laws_equal_exact_sampler_law",
            f"{ORD}::test_composition_law_masses_count_ordered_partitions",
        ),
        ("orders_invariance",),
        _identities("composition_laws_equal_sampler_laws"),
    ),
    _c(
        "learned_weights_recover_order",
        "suite",
        "",
        "Learning the weights w of alpha_{t,l} = 1 - t^{w_l} on the exact objective, with a denoiser that knows "
        "only the conditionals along a hidden order, puts most order mass on that order and brings the NELBO "
        "close to H(q) (a synthetic analogue of Garg et al.'s learned schedules, Sec. 4).",
        "suite finding",
        "exact",
        (f"{ORD}::test_learned_weights_recover_the_preferred_order",),
        ("orders_learned",),
        _learned,
    ),
]


def _claims_block(data) -> str:
    return claims_table(CLAIMS, data)


DOC_BLOCKS = {"orders.claims": _claims_block}
