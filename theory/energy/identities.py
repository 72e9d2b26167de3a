r"""The energy paper's identities (Chen et al., arXiv 2509.13866) and the suite's derived ones, evaluated once
and recorded with their residuals, so that the claims ledger can read each verdict from figure data.

Each entry of :func:`energy_identity_checks` is ``{"check", "residual", "tolerance", "holds"}``: for a sympy
check the residual is the simplified expression as a string (the identity holds iff it is ``"0"``); for a
numeric check the residual is a float and holds iff it is at most the tolerance (or, for ``"margin"`` checks,
at least it). The same identities are tested, several on more cases, in ``tests/theory/test_energy.py``.
Conventions and provenance: :mod:`theory.energy`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy
import torch
from sympy.calculus.euler import euler_equations

from sims.exact import exact_log_joint
from sims.languages import NGramLanguage
from sims.schedules import BetaCDFSchedule, get_schedule
from theory.energy.functional import (
    PI2,
    WeightSchedule,
    beta_energy_closed_form,
    discrete_geodesic_energy,
    one_token_energy,
    optimal_discrete_angles,
)
from theory.energy.masked_flow import MaskedFlow, forward_equation_gap
from theory.energy.symbolic import (
    sympy_beta_energy,
    sympy_discrete_limit,
    sympy_endpoint_rates,
    sympy_euler_lagrange_residual,
    sympy_one_token_integrand,
    sympy_optimality_residual,
    sympy_per_token_identities,
    sympy_prop_3_7,
)

#: Endpoint limits (s -> 0, s -> 1) of s f(s), (1 - s) f(s) of the unweighted integrand f (EP time): a positive
#: limit means f ~ c/s there and a logarithmically divergent energy.
ENDPOINT_RATES = {
    "linear": (1, 1),
    "cosine": (0, sympy.pi / 2),
    "cosine_mdlm": (sympy.pi / 2, 0),
    "sin2": (0, 0),
    "poly2": (2, 0),
}
#: Relative tolerance of quadratures of smooth integrands (scipy ``quad`` at 1e-10, error estimates below).
QUAD_REL_TOL = 1e-9


def _sympy(expr) -> dict:
    res = sympy.simplify(expr)
    return {"check": "sympy", "residual": str(res), "tolerance": None, "holds": res == 0}


def _numeric(residual: float, tol: float, check: str = "float64") -> dict:
    return {"check": check, "residual": float(residual), "tolerance": tol, "holds": bool(residual <= tol)}


def _margin(value: float, at_least: float, check: str = "float64") -> dict:
    return {
        "check": check + " (margin)",
        "residual": float(value),
        "tolerance": at_least,
        "holds": bool(value >= at_least),
    }


def _euler_lagrange_negative_control() -> sympy.Expr:
    """The Euler-Lagrange expression at alpha = s^2, gamma = s (must *not* vanish: the check can fail)."""
    s = sympy.Symbol("s", positive=True)
    A, g = sympy.Function("A")(s), sympy.Function("g")(s)
    (eq,) = euler_equations(sympy.diff(A, s) ** 2 / (sympy.diff(g, s) * A * (1 - A)), [A], s)
    return eq.lhs.subs(A, s**2).subs(g, s).doit()


def _banned_pair_bigram() -> NGramLanguage:
    return NGramLanguage(
        2,
        2,
        torch.tensor([0.5, 0.5], dtype=torch.float64),
        torch.tensor([[0.0, 1.0], [0.4, 0.6]], dtype=torch.float64),
    )


def energy_identity_checks() -> dict:
    """Every identity of the energy table of ``docs/energy_and_orders.md`` that is not a figure of its own
    (rows 1-8, 12-14), evaluated once. Takes about ten seconds (sympy)."""
    s = sympy.Symbol("s", positive=True)
    out = {}
    out["optimality_condition"] = _sympy(sympy_optimality_residual())
    out["euler_lagrange"] = _sympy(sympy_euler_lagrange_residual())
    control = sympy.simplify(_euler_lagrange_negative_control())
    out["euler_lagrange_negative_control"] = {
        "check": "sympy (must not vanish)",
        "residual": "nonzero" if control != 0 else "0",
        "tolerance": None,
        "holds": control != 0,
    }
    for name, expr in sympy_per_token_identities().items():
        out[f"per_token_{name}"] = _sympy(expr)
    for name, expr in sympy_prop_3_7().items():
        out[f"prop_3_7_{name}"] = _sympy(expr)
    a, b, a2, b2 = (sympy.Rational(p) for p in ("1/2", "1/2", "7/10", "4/5"))
    exact = sympy_beta_energy(a, b, a2, b2)
    closed = sympy.pi**2 * sympy.beta(2 * a2 - a, 2 * b2 - b) * sympy.beta(a, b) / sympy.beta(a2, b2) ** 2
    out["beta_landscape_sympy"] = _sympy((exact - closed).rewrite(sympy.gamma))
    params = [(0.5, 0.5), (1.0, 1.0), (0.9, 0.3), (2.0, 2.0)]
    out["beta_landscape_minimum_pi2"] = _numeric(
        max(abs(beta_energy_closed_form(p, q, p, q) / PI2 - 1) for p, q in params), 1e-13
    )
    out["beta_landscape_infinite_region"] = {
        "check": "closed form",
        "residual": "infinite" if math.isinf(beta_energy_closed_form(1.0, 1.0, 0.5, 1.0)) else "finite",
        "tolerance": None,
        "holds": math.isinf(beta_energy_closed_form(1.0, 1.0, 0.5, 1.0))
        and math.isinf(beta_energy_closed_form(0.9, 0.3, 1.0, 0.15)),
    }
    out["sin2_unweighted_pi2_sympy"] = _sympy(
        sympy_one_token_integrand(sympy.sin(sympy.pi * s / 2) ** 2, s, s) - sympy.pi**2
    )
    out["sin2_unweighted_pi2_quadrature"] = _numeric(
        abs(one_token_energy("sin2").value / PI2 - 1), QUAD_REL_TOL, "quadrature"
    )
    smooth = sympy.simplify(sympy_one_token_integrand(3 * s**2 - 2 * s**3, s, s))
    out["smoothstep_9_log_3"] = _sympy(sympy.integrate(smooth, (s, 0, 1)) - 9 * sympy.log(3))
    rates_ok = []
    for spec, want in ENDPOINT_RATES.items():
        lo, hi = sympy_endpoint_rates(get_schedule(spec).sympy_alpha_ep(s), s)
        rates_ok.append(sympy.simplify(lo - want[0]) == 0 and sympy.simplify(hi - want[1]) == 0)
    out["endpoint_rates"] = {
        "check": "sympy limits",
        "residual": f"{sum(rates_ok)} of {len(rates_ok)} schedules as expected",
        "tolerance": None,
        "holds": all(rates_ok),
    }
    out["linear_truncated_2_log"] = _numeric(
        max(
            abs(one_token_energy("linear", eps=e).value / (2 * math.log((1 - e) / e)) - 1)
            for e in (1e-2, 1e-4, 1e-6)
        ),
        QUAD_REL_TOL,
        "quadrature",
    )
    out["discrete_limit_pi2_over_4"] = _sympy(sympy_discrete_limit() - sympy.pi**2 / 4)
    out["equal_angles_value"] = _numeric(
        max(
            abs(
                discrete_geodesic_energy(np.full(N, np.pi / (2 * N)), np.full(N, 1.0 / N))
                / (2 * N**2 * (1 - math.cos(math.pi / (2 * N))))
                - 1
            )
            for N in (1, 2, 5, 50)
        ),
        1e-13,
    )
    dg = np.array([0.1, 0.3, 0.6])
    e_prop = discrete_geodesic_energy(np.pi / 2 * dg, dg)
    e_opt = discrete_geodesic_energy(optimal_discrete_angles(dg), dg)
    out["proportional_angles_not_optimal"] = _margin(
        e_prop - e_opt, 1e-4, "float64, dgamma = (0.1, 0.3, 0.6)"
    )
    flow = MaskedFlow(exact_log_joint(_banned_pair_bigram(), 3), 2, 3)
    weight = WeightSchedule.beta(1.0, 1.0)
    for kind, c in (("kinetic", flow.support_size_weight()), ("conditional", 12), ("geodesic", 3)):
        e = flow.energy(kind, "sin2", weight).value
        out[f"integrated_{kind}"] = _numeric(abs(e / (c * PI2) - 1), QUAD_REL_TOL, f"quadrature, C = {c}")
    out["matched_weight_pi2"] = _numeric(
        max(
            abs(one_token_energy(spec, WeightSchedule.matched_to(spec)).value / PI2 - 1)
            for spec in ("cosine", "poly2", "beta:0.9,0.3", "linear")
        ),
        QUAD_REL_TOL,
        "quadrature",
    )
    sched = BetaCDFSchedule(0.9, 0.7)
    out["forward_equation"] = _numeric(
        max(forward_equation_gap(flow, sched, t) for t in (0.2, 0.5, 0.8)),
        1e-7,
        "central difference h = 1e-5",
    )
    gaps = []
    for t in (0.2, 0.5, 0.8):
        al, da = float(sched.alpha_ep(t)), float(sched.alpha_ep_derivative(t))
        gaps.append(flow.conditional_rate_consistency_gap(al, da) / max(1.0, da / (1 - al)))
        gaps.append(flow.radd_gap(al) / max(1.0, al / (1 - al)))
    out["marginal_consistency_and_radd"] = _numeric(max(gaps), 1e-12)
    return out
