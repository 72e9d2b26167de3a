"""Generated blocks of ``docs/energy_and_orders.md``: the energy claims, the identity table and the Beta-grid
outcomes, computed from the figure data (collected by :mod:`paper_repro.ledger.registry` through
:mod:`paper_repro.ledger.claims_energy_grid`)."""

from __future__ import annotations

from paper_repro.ledger import claims_energy, claims_energy_grid, claims_energy_identities, claims_orders
from paper_repro.ledger.claims_energy import support_rows
from paper_repro.ledger.claims_energy_grid import grid_data, steps_of
from paper_repro.ledger.doc_tables import claims_table, table, verdict_of

ENERGY_CLAIMS = [*claims_energy.CLAIMS, *claims_energy_identities.CLAIMS, *claims_energy_grid.CLAIMS]

# ---------------------------------------------------------------------------------------------------
# Generated blocks of docs/energy_and_orders.md

#: The identity table of the doc: (identity, check, claim ids). Rows 15-30 are the orders topic's claims.
IDENTITY_ROWS = (
    (
        "alpha = sin^2(pi/2 G) => alpha'^2/(alpha(1 - alpha)) = pi^2 G'^2 (Cond. 3.4 gives e = pi^2)",
        "sympy",
        ("energy.optimality_condition",),
    ),
    (
        "Euler-Lagrange of int alpha'^2/(gamma' alpha(1 - alpha)) solved by sin^2(pi/2 gamma) for any gamma (Lemma 3.5); negative control alpha = s^2",
        "sympy",
        ("energy.optimality_condition",),
    ),
    (
        "per token: sum_v y'_v^2 = alpha'^2/(4 alpha(1 - alpha)); p(M) Q^2/p(x_1) = alpha'^2/(alpha(1 - alpha)); Shaul's Q* = alpha'/(1 - alpha); alpha = exp(-int sigma) solves alpha' = sigma alpha",
        "sympy",
        ("energy.per_token_identities",),
    ),
    (
        "Prop. 3.7: I_s(1/2, 1/2) = (2/pi) arcsin sqrt(s) => alpha_s = s; I_s(1, 1) = s => sin^2; inverse map gamma = (2/pi) arcsin sqrt(alpha)",
        "sympy",
        ("energy.prop_3_7",),
    ),
    (
        "Beta landscape closed form = sympy integral = quadrature; minimum pi^2 at (a', b') = (a, b); infinite unless 2a' > a, 2b' > b",
        "sympy / quadrature",
        ("energy.beta_landscape",),
    ),
    (
        "unweighted energies: sin^2 = pi^2, smoothstep = 9 ln 3; linear, sin(pi s/2), 1 - cos(pi s/2), s^k, MD4 poly2 diverge (endpoint rates > 0; truncated linear = 2 log((1 - eps)/eps))",
        "sympy / quadrature",
        ("energy.unweighted_energies",),
    ),
    (
        "discrete: 2K^2(1 - cos(pi/2K)) -> pi^2/4; equal angles optimal for equal dgamma",
        "sympy / float64",
        ("energy.discrete_equal_angles",),
    ),
    (
        "discrete, unequal dgamma: the minimiser has sin(theta_k) proportional to dgamma_k, strictly better than theta_k proportional to dgamma_k (App. D.5's extension)",
        "float64",
        ("energy.discrete_unequal_dgamma",),
    ),
    (
        "E_k/e = sum over the support of m(z), E_c/e = n 2^(n-1), E_g/e = n at every alpha (brute force, n-grams and HMMs)",
        "brute force",
        ("energy.kinetic_support_count", "energy.conditional_constant", "energy.geodesic_constant"),
    ),
    ("E_k independent of q given its support", "brute force", ("energy.kinetic_support_count",)),
    ("C_1 = E_k/E_c depends only on n and d (Thm. 3.1)", "brute force", ("energy.c1_depends_only_on_n_d",)),
    (
        "the reconstructed Eq. 2 generates the flow (Kolmogorov forward); marginal consistency Eq. 6; RADD factorisation",
        "float64",
        ("energy.reconstructed_rates_generate_flow",),
    ),
    (
        "integrated energies E_k = C_k pi^2, E_c = 12 pi^2, E_g = 3 pi^2 (sin^2, n = 3)",
        "quadrature",
        ("energy.integrated_energies",),
    ),
    (
        "matched gamma = (2/pi) arcsin sqrt(alpha) makes any schedule optimal (e = pi^2)",
        "quadrature",
        ("energy.optimality_condition",),
    ),
    (
        "NELBO subset form = any-order enumeration = 1/k form (inconsistent tables)",
        "float64",
        ("orders.elbo_forms_agree",),
    ),
    (
        "schedule invariance: quadrature weights = |S|!(L-1-|S|)!/L! for many schedules; whole-integrand quadrature = exact",
        "quadrature",
        ("orders.schedule_invariance",),
    ),
    (
        "exact denoiser: NELBO(x) = -log q(x) for every in-support x, univariate and per-position schedules; E_q = H(q)",
        "float64",
        ("orders.schedule_invariance",),
    ),
    (
        "discrete KL form = reveal-step enumeration (univariate and per-position, K <= 3)",
        "float64",
        ("orders.discrete_time",),
    ),
    ("L_K -> L_inf at first order (error halves from K = 256 to 512)", "float64", ("orders.discrete_time",)),
    ("exact denoiser: E_q L_K >= H(q), non-increasing on nested grids", "float64", ("orders.discrete_time",)),
    (
        "time-conditioned denoiser: invariance only after reparameterising the time input by m(t)",
        "quadrature (tests)",
        ("orders.schedule_invariance",),
    ),
    (
        "sum PL = 1 and power subset weights = PL context law (exact rationals); PL = sympy integral over the ordered simplex",
        "exact",
        ("orders.plackett_luce_order_law",),
    ),
    (
        "pairwise P(i before j) = w_i/(w_i + w_j); power subset weights closed form = quadrature",
        "quadrature",
        ("orders.plackett_luce_order_law",),
    ),
    (
        "Garg Eq. 8 by quadrature = sum_sigma PL(sigma) AR_sigma = subset form",
        "quadrature",
        ("orders.eq8_is_order_mixture",),
    ),
    (
        "general per-position schedules: numeric order law reproduces quadrature subset weights; univariate gives 1/L!",
        "quadrature",
        ("orders.plackett_luce_order_law",),
    ),
    (
        "a common time warp leaves the order law unchanged; only ratios of w matter",
        "quadrature",
        ("orders.plackett_luce_order_law",),
    ),
    (
        "invariance for the exact model; broken for a perturbed oracle and a left-context model",
        "float64",
        ("orders.invariance_only_for_exact_model",),
    ),
    ("literal ascending reading of Eq. 5-7 = quadrature", "float64", ("orders.eq5_literal_reading",)),
    ("Algorithm 1 samples Plackett-Luce orders", "Monte Carlo", ("orders.algorithm1_samples_plackett_luce",)),
    (
        "ordered-partition sampler laws = sims.exact.exact_sampler_law (ancestral and fixed counts)",
        "float64",
        ("orders.composition_laws",),
    ),
    (
        "EP toy (n = 5, d = 2, 3 steps): P(legal) = the research notes' values (numbers not from the paper; a regression test)",
        "exact",
        ("energy.fig4_targets_prefer_different_schedules",),
    ),
    (
        "EP Fig. 4 toy on the paper's grid: composition laws = the samplers' exact laws; C_k of each target by enumeration",
        "exact",
        ("energy.fig4_targets_prefer_different_schedules", "energy.fig4_support_constant"),
    ),
)


def _all_claims() -> dict:
    return {c.id: c for c in [*ENERGY_CLAIMS, *claims_orders.CLAIMS]}


def _identity_block(data) -> str:
    """The identity table: each row with the claim(s) it belongs to and their computed verdicts."""
    claims = _all_claims()
    rows = []
    for i, (identity, check, ids) in enumerate(IDENTITY_ROWS, 1):
        verdicts = [verdict_of(claims[c], data) for c in ids]
        rows.append(
            (
                i,
                identity,
                check,
                ", ".join(f"`{c}`" for c in ids),
                " / ".join(v.status for v in verdicts),
                " / ".join(v.key_number for v in verdicts),
            )
        )
    return table(("#", "identity", "check", "claim", "verdict", "key number"), rows)


def _claims_block(data) -> str:
    return claims_table(ENERGY_CLAIMS, data)


def _outcomes_block(data) -> str:
    """Figure outcomes (quick preset) computed from the figure data."""
    g = grid_data(data)
    rows = []
    for key, v in sorted(g["exact"].items()):
        lang, smp, _ = key.split("|")
        b = v["baselines"]
        rows.append(
            (
                lang,
                "ancestral" if smp == "ancestral" else "fixed counts",
                steps_of(key),
                f"{v['best']} {v['best_kl']:.4g}" + (f" {v['best_counts']}" if v["best_counts"] else ""),
                f"{b['linear']['kl']:.4g}" + (f" {b['linear']['counts']}" if b["linear"]["counts"] else ""),
                f"{b['sin2']['kl']:.4g}" + (f" {b['sin2']['counts']}" if b["sin2"]["counts"] else ""),
                f"{b['cosine']['kl']:.4g}",
                f"{b['cosine_mdlm']['kl']:.4g}",
            )
        )
    out = [
        "Exact KL(q || p) in nats of the best cell of the Beta grid and of the baselines (count plans for fixed "
        "counts):",
        "",
        table(("language", "sampler", "K", "best cell", "linear", "sin2", "cosine", "cosine_mdlm"), rows),
        "",
        "Monte Carlo SER (Wilson 95%) on the registry bigram:",
        "",
    ]
    names = ("linear", "cosine", "sin2", "beta(0.9,0.3)", "beta(1,0.2)", "beta(0.3,0.9)")
    mrows = []
    for key, cell in sorted(g["mc"].items(), key=lambda kv: (kv[0].split("|")[0], steps_of(kv[0]))):
        smp = key.split("|")[0]
        mrows.append(
            (
                "ancestral" if smp == "ancestral" else "fixed counts",
                steps_of(key),
                *(
                    f"{cell[n]['ser']:.2f} [{cell[n]['ci'][0]:.2f}, {cell[n]['ci'][1]:.2f}]"
                    if n in cell
                    else "—"
                    for n in names
                ),
            )
        )
    out.append(table(("sampler", "K", *names), mrows))
    sup = support_rows(data)
    full = {(r["d"], r["n"]): r["C_k_full_support"] for r in sup}
    srows = [
        (
            r["language"],
            r["n"],
            r["C_k_support_count"],
            full[(r["d"], r["n"])],
            f"{r['C_1_brute_force']:.3f}",
            f"{r['C_1_full_support']:.3f}",
        )
        for r in sup
        if r["C_k_support_count"] != r["C_k_full_support"]
    ]
    out += [
        "",
        "Languages whose C_k differs from the full-support value:",
        "",
        table(("language", "n", "C_k", "full support", "C_1", "full-support C_1"), srows),
    ]
    return "\n".join(out)


DOC_BLOCKS = {
    "energy.claims": _claims_block,
    "energy.identities": _identity_block,
    "energy.outcomes": _outcomes_block,
}
