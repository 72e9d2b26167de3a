r"""The one-token energy functional of the energy paper (Chen et al., arXiv 2509.13866) in EP time:
weight schedules, Fisher speed, quadrature, the Beta-landscape closed form and the discretised geodesic
(App. D.5). What is read in the paper and what is reconstructed: :mod:`theory.energy`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.integrate as spi
import scipy.optimize as spo
import scipy.special as sps
import sympy

from sims.schedules import BetaCDFSchedule, get_schedule
from sims.validation import InvalidArgumentError

PI2 = math.pi**2


# =====================================================================================================
# Weight (interpolation) schedules gamma_s, EP time
# =====================================================================================================
@dataclass
class WeightSchedule:
    r"""Interpolation / weight schedule :math:`\gamma_s` (EP time, increasing, :math:`\gamma_0 = 0`,
    :math:`\gamma_1 = 1`) with its derivative :math:`\dot\gamma_s`; the energies carry :math:`1/\dot\gamma_s`."""

    gamma: Callable[[np.ndarray], np.ndarray]
    gamma_dot: Callable[[np.ndarray], np.ndarray]
    name: str
    sympy_gamma: Callable[[sympy.Symbol], sympy.Expr] | None = field(default=None, repr=False)

    @classmethod
    def identity(cls) -> WeightSchedule:
        """:math:`\\gamma_s = s` (unweighted energies of Shaul et al.)."""
        return cls(
            lambda s: np.asarray(s, dtype=np.float64),
            lambda s: np.ones_like(np.asarray(s, np.float64)),
            "identity",
            lambda s: s,
        )

    @classmethod
    def beta(cls, a: float, b: float) -> WeightSchedule:
        r""":math:`\gamma_s = I_s(a, b)` (EP Eq. 15)."""
        sched = BetaCDFSchedule(a, b)
        return cls(
            lambda s: np.asarray(sched.gamma_ep(np.asarray(s, np.float64))),
            lambda s: np.asarray(sched.gamma_ep_derivative(np.asarray(s, np.float64))),
            f"beta({a:g},{b:g})",
            sched.sympy_gamma_ep,
        )

    @classmethod
    def matched_to(cls, schedule) -> WeightSchedule:
        r"""The :math:`\gamma` for which ``schedule`` satisfies Condition 3.4:
        :math:`\gamma_s = \tfrac{2}{\pi}\arcsin\sqrt{\alpha_s}` (EP App. B), :math:`\dot\gamma_s =
        \dot\alpha_s/(\pi\sqrt{\alpha_s(1-\alpha_s)})`."""
        sched = get_schedule(schedule)

        def gamma(s):
            return (
                2
                / np.pi
                * np.arcsin(np.sqrt(np.clip(np.asarray(sched.alpha_ep(np.asarray(s, np.float64))), 0.0, 1.0)))
            )

        def gamma_dot(s):
            s = np.asarray(s, np.float64)
            a = np.asarray(sched.alpha_ep(s))
            om = np.asarray(sched.masked_fraction_ep(s))
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(sched.alpha_ep_derivative(s)) / (np.pi * np.sqrt(a * om))

        return cls(gamma, gamma_dot, f"matched({sched.name})")


# =====================================================================================================
# One token: the reduced energy e(alpha, gamma) (EP Example 3.3 / Eq. 14, reconstructed)
# =====================================================================================================
def fisher_speed(schedule, s) -> np.ndarray:
    r""":math:`\dot\alpha_s^2/(\alpha_s(1-\alpha_s))` at EP times s (Fisher-Rao speed squared of the
    per-token path; :math:`= 4\Vert\dot y\Vert^2`). Uses :math:`1-\alpha` from the masked fraction (no
    cancellation); 0/0 at an end where both vanish is returned as its limit only if the schedule's
    derivative is 0 there (else inf)."""
    sched = get_schedule(schedule)
    s = np.asarray(s, dtype=np.float64)
    a = np.asarray(sched.alpha_ep(s), dtype=np.float64)
    om = np.asarray(sched.masked_fraction_ep(s), dtype=np.float64)
    da = np.asarray(sched.alpha_ep_derivative(s), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = da**2 / (a * om)
    return np.where(np.isnan(out), np.where(da == 0, 0.0, np.inf), out)


def one_token_integrand(schedule, weight: WeightSchedule, s) -> np.ndarray:
    r"""Integrand of :math:`e(\alpha, \gamma)`: :math:`\dot\alpha^2/(\dot\gamma\,\alpha(1-\alpha))`."""
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return fisher_speed(schedule, s) / np.asarray(weight.gamma_dot(s), dtype=np.float64)


@dataclass
class QuadratureResult:
    """A quadrature value with scipy's error estimate and the integration range used."""

    value: float
    abserr: float
    lower: float
    upper: float
    method: str = "scipy.integrate.quad (QAGS)"


def one_token_energy(
    schedule,
    weight: WeightSchedule | None = None,
    *,
    eps: float = 0.0,
    epsabs: float = 1e-12,
    epsrel: float = 1e-11,
    limit: int = 500,
) -> QuadratureResult:
    r""":math:`e(\alpha,\gamma) = \int_{\epsilon}^{1-\epsilon}\dot\alpha^2/(\dot\gamma\alpha(1-\alpha))ds` by
    adaptive quadrature (EP time). With ``eps = 0`` the value is only meaningful for finite energies; use
    :func:`sympy_endpoint_rates` or a sequence of ``eps`` to detect divergence."""
    weight = weight or WeightSchedule.identity()
    if not 0.0 <= eps < 0.5:
        raise InvalidArgumentError(f"eps must lie in [0, 0.5), got {eps}")

    def f(s):
        return float(one_token_integrand(schedule, weight, np.array(s)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spi.IntegrationWarning)
        val, err = spi.quad(f, eps, 1.0 - eps, epsabs=epsabs, epsrel=epsrel, limit=limit)
    return QuadratureResult(float(val), float(err), eps, 1.0 - eps)


def beta_energy_closed_form(a: float, b: float, a2: float, b2: float) -> float:
    r"""Closed form of the landscape (derived; EP Fig. 2): weight :math:`\gamma = I(a,b)`, schedule
    :math:`\alpha = \sin^2(\tfrac{\pi}{2} I(a',b'))`, :math:`e = \pi^2 B(2a'-a,2b'-b)B(a,b)/B(a',b')^2`
    (``inf`` unless :math:`2a' > a` and :math:`2b' > b`)."""
    for name, v in (("a", a), ("b", b), ("a'", a2), ("b'", b2)):
        if not (math.isfinite(v) and v > 0):
            raise InvalidArgumentError(f"Beta parameter {name} must be finite and > 0, got {v}")
    if 2 * a2 <= a or 2 * b2 <= b:
        return math.inf
    return PI2 * math.exp(sps.betaln(2 * a2 - a, 2 * b2 - b) + sps.betaln(a, b) - 2 * sps.betaln(a2, b2))


def beta_energy_grid(a: float, b: float, a2_values, b2_values) -> np.ndarray:
    """``(len(a2_values), len(b2_values))`` closed-form energies for a fixed weight Beta(a, b)."""
    return np.array(
        [[beta_energy_closed_form(a, b, float(x), float(y)) for y in b2_values] for x in a2_values]
    )


def beta_energy_quadrature(a: float, b: float, a2: float, b2: float, **kw) -> QuadratureResult:
    """The same energy by quadrature of the integrand built from the schedule objects (non-circular check)."""
    return one_token_energy(BetaCDFSchedule(a2, b2), WeightSchedule.beta(a, b), **kw)


# =====================================================================================================
# Discretized geodesic energy (EP App. D.5, discretization reconstructed)
# =====================================================================================================
def discrete_geodesic_energy(angles, dgamma) -> float:
    r""":math:`\sum_k 2(1-\cos\theta_k)/\Delta\gamma_k` (chord :math:`\Vert y_{k+1}-y_k\Vert^2 = 2(1-\cos\theta_k)` on
    the unit circle of one token, ``angles`` summing to :math:`\pi/2` along the great circle)."""
    th = np.asarray(angles, dtype=np.float64)
    dg = np.asarray(dgamma, dtype=np.float64)
    if th.shape != dg.shape or np.any(dg <= 0):
        raise InvalidArgumentError("angles and dgamma must have the same shape and dgamma must be > 0")
    return float(np.sum(2 * (1 - np.cos(th)) / dg))


def optimal_discrete_angles(dgamma) -> np.ndarray:
    r"""Minimizer of :func:`discrete_geodesic_energy` subject to :math:`\sum\theta_k = \pi/2`, :math:`\theta_k\ge0`:
    stationarity gives :math:`\sin\theta_k = \lambda\Delta\gamma_k`; solve for :math:`\lambda` by bracketing.
    (Equal :math:`\Delta\gamma` gives equal angles; unequal ones do *not* give :math:`\theta_k \propto \Delta\gamma_k`.)"""
    dg = np.asarray(dgamma, dtype=np.float64)
    if np.any(dg <= 0):
        raise InvalidArgumentError("dgamma must be > 0")
    lam_max = 1.0 / dg.max()

    def total(lam):
        return float(np.arcsin(np.clip(lam * dg, 0.0, 1.0)).sum()) - np.pi / 2

    if total(lam_max) < 0:
        raise InvalidArgumentError(
            "no interior stationary point (one interval dominates); not needed for the checks"
        )
    lam = spo.brentq(total, 0.0, lam_max, xtol=1e-15, rtol=1e-15, maxiter=500)
    return np.arcsin(lam * dg)
