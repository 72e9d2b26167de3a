r"""The ELBO and decoding-order identities of ``docs/energy_and_orders.md`` (MDLM/MD4/RADD ELBO forms; Garg et
al. arXiv 2511.19152), evaluated once on fixed small cases and recorded with their residuals, so that the
claims ledger reads each verdict from figure data. The tests (``tests/theory/test_elbo.py``,
``tests/theory/test_orders.py``) check the same identities on many more cases (hypothesis).

Each entry is ``{"check", "residual", "tolerance", "holds"}`` (a residual at most the tolerance, or for
``margin`` checks at least it).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import all_sequences, exact_log_joint, exact_sampler_law
from sims.languages import random_ngram
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, schedule_counts
from sims.schedules import (
    BetaCDFSchedule,
    ComposedSchedule,
    PerPositionSchedule,
    PolynomialSchedule,
    PowerPerPositionSchedule,
    get_schedule,
)
from theory.elbo import (
    any_order_elbo,
    continuous_elbo,
    continuous_elbo_quadrature,
    discrete_elbo_kl,
    discrete_elbo_reveal_steps,
    elbo_subset_form,
    inverse_k_elbo,
    subset_log_conditionals,
    subset_weights_quadrature,
    univariate_subset_weights,
)
from theory.orders.compositions import ancestral_exact_law, composition_laws, fixed_count_exact_law
from theory.orders.laws import (
    all_orders,
    order_probabilities,
    pairwise_before_probability,
    plackett_luce_law,
    plackett_luce_probability,
    power_subset_weights,
    subset_weights_from_order_law,
)
from theory.orders.random_table import RandomTableDenoiser

EXACT_RTOL = 1e-12
QUAD_RTOL = 1e-9
INVARIANCE_SCHEDULES = ("linear", "cosine", "cosine_mdlm", "sin2", "poly3", "beta:0.9,0.3", "beta:2,2")


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _num(residual: float, tol: float, check: str) -> dict:
    return {"check": check, "residual": float(residual), "tolerance": tol, "holds": bool(residual <= tol)}


def _margin(value: float, at_least: float, check: str) -> dict:
    return {
        "check": check + " (margin)",
        "residual": float(value),
        "tolerance": at_least,
        "holds": bool(value >= at_least),
    }


def _language():
    return random_ngram(2, 3, concentration=0.7, support_size=2, seed=11)


def _sequences(lang, L):
    lq = exact_log_joint(lang, L)
    ok = torch.isfinite(lq)
    return all_sequences(lang.vocab_size, L)[ok], lq[ok]


def _perturbed(lang):
    return PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.4, uniform_mix=0.1)


def orders_identity_checks() -> dict:
    """The identities of rows 15-23, 25-26 and 30 of the docs' table (the order mixture of Eq. 8, invariance
    and its breaking, the literal reading and Algorithm 1 are the figure's own panels)."""
    out = {}
    den = RandomTableDenoiser(3, seed=0)
    x = torch.as_tensor(np.random.default_rng(0).integers(0, 3, size=(2, 4)))
    G = subset_log_conditionals(den, x)
    a = elbo_subset_form(G, univariate_subset_weights(4))
    out["subset_any_order_inverse_k"] = _num(
        max(_rel(a, any_order_elbo(G)), _rel(a, inverse_k_elbo(G))),
        EXACT_RTOL,
        "float64, random table, L = 4",
    )
    worst = 0.0
    for spec in INVARIANCE_SCHEDULES:
        sw = subset_weights_quadrature(spec, 6)
        worst = max(worst, _abs(sw.weights, univariate_subset_weights(6)), float(sw.abserr.max()))
    out["quadrature_weights_schedule_invariant"] = _num(
        worst, 1e-11, f"quadrature, L = 6, {len(INVARIANCE_SCHEDULES)} schedules"
    )
    lang = _language()
    xs, lq = _sequences(lang, 4)
    pert = _perturbed(lang)
    exact = elbo_subset_form(subset_log_conditionals(pert, xs[:2]), univariate_subset_weights(4))
    worst = 0.0
    for sched in (
        "linear",
        "cosine",
        "beta:0.9,0.3",
        ComposedSchedule(PolynomialSchedule(2.0), BetaCDFSchedule(0.7, 1.3)),
    ):
        vals = [r.value for r in continuous_elbo_quadrature(pert, xs[:2], sched)]
        worst = max(worst, _rel(vals, exact))
    out["whole_integrand_quadrature_invariant"] = _num(
        worst, QUAD_RTOL, "quadrature, perturbed oracle, 4 schedules"
    )
    oracle = OracleDenoiser(lang)
    elbo = continuous_elbo(oracle, xs)
    out["exact_denoiser_nelbo_is_minus_log_q"] = _num(
        max(
            _abs(elbo, -lq),
            _abs(continuous_elbo(oracle, xs, PowerPerPositionSchedule([0.5, 1.0, 2.0, 3.5])), -lq),
            _abs(
                continuous_elbo(
                    oracle, xs, PerPositionSchedule(["linear", "beta:0.9,0.3", "cosine", "poly2"])
                ),
                -lq,
            ),
        ),
        1e-10,
        "float64, univariate and two per-position schedules",
    )
    out["exact_denoiser_expected_nelbo_is_entropy"] = _num(
        abs(float((torch.exp(lq) * elbo).sum()) - lang.entropy(4)), 1e-10, "float64"
    )
    den3 = RandomTableDenoiser(3, seed=5)
    x3 = torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])
    G3 = subset_log_conditionals(den3, x3)
    worst = 0.0
    for sched in ("linear", "beta:0.9,0.3", PowerPerPositionSchedule([0.5, 1.0, 2.0, 3.0])):
        for steps in (1, 2, 3):
            worst = max(
                worst,
                _rel(discrete_elbo_kl(den3, x3, sched, steps), discrete_elbo_reveal_steps(G3, sched, steps)),
            )
    out["discrete_kl_form_is_reveal_step_enumeration"] = _num(
        worst, EXACT_RTOL, "float64, 3 schedules, K <= 3"
    )
    limit = continuous_elbo(pert, xs[:2])
    e256 = (discrete_elbo_kl(pert, xs[:2], "cosine", 256) - limit).abs()
    e512 = (discrete_elbo_kl(pert, xs[:2], "cosine", 512) - limit).abs()
    ratio = (e256 / e512).numpy()
    out["discrete_to_continuous_first_order"] = {
        "check": "error ratio K = 256 / 512 in [1.9, 2.1]",
        "residual": [float(r) for r in ratio],
        "tolerance": [1.9, 2.1],
        "holds": bool(np.all((ratio > 1.9) & (ratio < 2.1))),
    }
    q = torch.exp(lq)
    H = lang.entropy(4)
    vals = [float((q * discrete_elbo_kl(oracle, xs, "beta:0.9,0.3", K)).sum()) for K in (1, 2, 4, 8, 16, 64)]
    ok = all(v >= H - 1e-12 for v in vals) and all(b <= a + 1e-12 for a, b in itertools.pairwise(vals))
    out["exact_denoiser_discrete_nelbo_decreases_to_entropy"] = {
        "check": "float64, nested grids K = 1 ... 64",
        "residual": vals[-1] - H,
        "tolerance": None,
        "holds": bool(ok),
    }
    w = [Fraction(1, 2), Fraction(1), Fraction(2), Fraction(7, 2)]
    probs = [plackett_luce_probability(o, w, exact=True) for o in all_orders(4)]
    W = power_subset_weights(w, exact=True)
    from_pl = [[Fraction(0)] * 16 for _ in range(4)]
    for p, order in zip(probs, all_orders(4)):
        S = 0
        for pos in order:
            from_pl[pos][S] += p
            S |= 1 << pos
    out["plackett_luce_exact_rationals"] = {
        "check": "exact rationals",
        "residual": "0" if sum(probs) == 1 and W == from_pl else "nonzero",
        "tolerance": None,
        "holds": sum(probs) == 1 and W == from_pl,
    }
    wf = [0.5, 1.0, 2.0, 3.5]
    sched = PowerPerPositionSchedule(wf)
    pair = max(
        abs(pairwise_before_probability(sched, i, j)[0] / (wf[i] / (wf[i] + wf[j])) - 1)
        for i in range(4)
        for j in range(4)
        if i != j
    )
    out["pairwise_before_probability"] = _num(pair, QUAD_RTOL, "quadrature")
    out["power_subset_weights_quadrature"] = _num(
        _abs(subset_weights_quadrature(sched, 4).weights, power_subset_weights(wf)), 1e-10, "quadrature"
    )
    out["numeric_order_law"] = _num(
        max(
            _abs(order_probabilities(sched), plackett_luce_law(wf)),
            _abs(order_probabilities(PerPositionSchedule.uniform(BetaCDFSchedule(0.9, 0.3), 4)), 1 / 24),
        ),
        1e-8,
        "Stieltjes recursion, 1e5 nodes",
    )
    mixed = PerPositionSchedule(["beta:0.9,0.3", "cosine", "beta:2,0.7"])
    out["general_per_position_order_law"] = _num(
        _abs(
            subset_weights_from_order_law(order_probabilities(mixed), 3),
            subset_weights_quadrature(mixed, 3).weights,
        ),
        1e-7,
        "quadrature vs order law",
    )
    w3 = [0.7, 1.5, 3.0]
    warped = PerPositionSchedule(
        [ComposedSchedule(PolynomialSchedule(v), BetaCDFSchedule(0.6, 1.7)) for v in w3]
    )
    out["common_time_warp"] = _num(
        _abs(subset_weights_quadrature(warped, 3).weights, power_subset_weights(w3)), 1e-10, "quadrature"
    )
    out["composition_laws_equal_sampler_laws"] = _num(
        _composition_gap(), 1e-10, "float64, V = 2, L = 4, K <= 3"
    )
    return out


def _composition_gap() -> float:
    lang = random_ngram(2, 2, concentration=0.7, support_size=1, seed=4)
    den = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.3, uniform_mix=0.05)
    L = 4
    laws = composition_laws(subset_log_conditionals(den, all_sequences(2, L)))
    worst = 0.0
    for spec in ("linear", "beta:0.9,0.3"):
        for K in (1, 2, 3):
            ref = exact_sampler_law(AncestralSampler(K, schedule=spec), den, L).numpy()
            worst = max(worst, _abs(ancestral_exact_law(laws, spec, K, L), ref))
            ref = exact_sampler_law(
                FixedCountSampler(K, count_rule="schedule", schedule=get_schedule(spec)), den, L
            ).numpy()
            worst = max(worst, _abs(fixed_count_exact_law(laws, schedule_counts(L, K, spec)), ref))
    return worst
