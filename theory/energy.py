r"""Energies of masked-diffusion probability flows (Chen et al., "Masked Diffusion Models as Energy
Minimization", arXiv 2509.13866), symbolically (sympy) and numerically (scipy quadrature, brute force).

**Time convention: energy paper (EP).** Everything in this module runs in EP time s: s = 0 is all masked,
s = 1 is data, :math:`\alpha_s` = P(token revealed) increases from 0 to 1. A :class:`~sims.schedules.Schedule`
(mdlm convention, t = 1 - s) enters through :meth:`~sims.schedules.Schedule.alpha_ep`,
:meth:`~sims.schedules.Schedule.masked_fraction_ep` and :meth:`~sims.schedules.Schedule.alpha_ep_derivative`.

**What is read in the paper and what is reconstructed.** The only available full text of the paper lost its
display equations. Confirmed from its prose (Sec. 2-3, App. B-D): the conditional flow (Eq. 3, per-token
interpolation between [M] and the data token), :math:`\alpha_s = \exp(-\int_s^1\sigma)` (Eq. 4, Lemma C.1),
the conditional rate :math:`\dot\alpha/(1-\alpha)` (Lemma C.3, in its "z -> x => x_1" form), the energies
carry the factor :math:`1/\dot\gamma_s` and are quadratic in the rates, the optimality condition
:math:`\alpha^\star_s = \sin^2(\tfrac{\pi}{2}\gamma_s)` (Condition 3.4), its inverse
:math:`\gamma = \tfrac{2}{\pi}\arcsin\sqrt{\alpha}` (App. B), Prop. 3.7, the constants
:math:`C_k = \sum_z m(z)` (App. D.1), :math:`C_c = n 2^{n-1}` (App. C.4/D.2), :math:`C_2 = C_c/C_g = 2^{n-1}`
and :math:`C_1 = C_2 = 1` at n = 1 (App. D.3), and the discretized argument of App. D.5 (chords
:math:`2(1-\cos\theta)`, Jensen). **[RECONSTRUCTED]** (chosen to reproduce every one of those constants;
the constant factors cannot be confirmed):

* Eq. 2, marginal unmasking rate :math:`Q_s(z, x) = \sigma_s\, p_s(x)/p_s(z)` for a one-token unmasking
  z -> x, with :math:`\sigma_s = \dot\alpha_s/\alpha_s`;
* Def. 2.1 :math:`E_k = \int_0^1 \dot\gamma_s^{-1}\sum_z\sum_{x\ne z} p_s(z) Q_s(z,x)^2/p_s(x)\,ds`;
* Def. 2.2 :math:`E_c = \int_0^1 \dot\gamma_s^{-1} E_{x_1\sim q}\sum_z\sum_{x\ne z}
  p_{s|1}(z|x_1) Q_s(z,x|x_1)^2/p_{s|1}(x|x_1)\,ds`;
* Def. 2.3 :math:`E_g = \int_0^1 \kappa\,\dot\gamma_s^{-1} E_{x_1}\sum_i\sum_{v\in D\cup\{M\}}
  (\tfrac{d}{ds}\sqrt{p_{s|1}(z^i = v|x_1)})^2 ds` with :math:`\kappa = 4` (so that
  :math:`E_g = E_c` at n = 1, as the paper states);
* Eq. 14 (n = 1): :math:`e(\alpha,\gamma) = \int_0^1 \dot\alpha_s^2/(\dot\gamma_s\,\alpha_s(1-\alpha_s))\,ds`;
* the kinetic-optimal rate of Shaul et al. (arXiv 2412.03487) used in App. D.6,
  :math:`Q^\star(z\to x) = [\dot p(x)p(z) - p(x)\dot p(z)]_+/p(z)`.

Derived here (checked symbolically and by brute force in ``tests/theory/test_energy.py``):

* with :math:`\alpha = \sin^2\theta`, :math:`\dot\alpha^2/(\alpha(1-\alpha)) = 4\dot\theta^2`, so by
  Cauchy-Schwarz :math:`e \ge \pi^2` for every :math:`\gamma`, with equality iff :math:`\theta = \pi\gamma/2`
  (Condition 3.4);
* Beta landscape: :math:`\gamma = I(a,b)`, :math:`\alpha = \sin^2(\tfrac{\pi}{2}I(a',b'))` give
  :math:`e = \pi^2 B(2a'-a, 2b'-b)B(a,b)/B(a',b')^2 = \pi^2(1 + \chi^2(\mathrm{Beta}(a',b')\Vert\mathrm{Beta}(a,b)))`,
  finite iff :math:`2a' > a` and :math:`2b' > b`;
* n tokens (brute force, :class:`MaskedFlow`): :math:`E_k = C_k e` with
  :math:`C_k = \sum_{z:\,p_s(z)>0} m(z)` -- this depends on the **support** of q (it equals
  :math:`n(d+1)^{n-1}` only for full support), :math:`E_c = n2^{n-1}e`, :math:`E_g = n e`. The paper's
  "C_1 depends only on n and d" (Thm. 3.1) therefore fails for languages with zeros in their support;
* App. D.5 discretization :math:`\sum_k \Vert y_{k+1}-y_k\Vert^2/\Delta\gamma_k`: for equal
  :math:`\Delta\gamma` equal angles are optimal (value :math:`2N^2(1-\cos(\pi/2N)) \to \pi^2/4`), but for unequal
  :math:`\Delta\gamma` the minimizer solves :math:`\sin\theta_k \propto \Delta\gamma_k`, not the paper's
  proportional allocation :math:`\theta_k \propto \Delta\gamma_k` (:func:`optimal_discrete_angles`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.integrate as spi
import scipy.optimize as spo
import scipy.special as sps
import sympy
import torch
from sympy.calculus.euler import euler_equations

from sims.schedules import BetaCDFSchedule, get_schedule

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
        raise ValueError(f"eps must lie in [0, 0.5), got {eps}")

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
            raise ValueError(f"Beta parameter {name} must be finite and > 0, got {v}")
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
# Symbolic identities (sympy); each returns an expression that must simplify to 0 (or a value)
# =====================================================================================================
def sympy_fisher_speed(alpha: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
    r""":math:`\dot\alpha^2/(\alpha(1-\alpha))`."""
    return sympy.diff(alpha, s) ** 2 / (alpha * (1 - alpha))


def sympy_one_token_integrand(alpha: sympy.Expr, gamma: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
    return sympy_fisher_speed(alpha, s) / sympy.diff(gamma, s)


def sympy_optimality_residual() -> sympy.Expr:
    r"""With :math:`\alpha = \sin^2(\tfrac{\pi}{2}G(s))` for an arbitrary function G:
    :math:`\dot\alpha^2/(\alpha(1-\alpha)) - \pi^2 \dot G^2` (simplifies to 0), so under Condition 3.4 the
    integrand is :math:`\pi^2\dot\gamma` and the energy is :math:`\pi^2(\gamma_1-\gamma_0) = \pi^2`."""
    s = sympy.Symbol("s", positive=True)
    G = sympy.Function("G")(s)
    alpha = sympy.sin(sympy.pi / 2 * G) ** 2
    return sympy_fisher_speed(alpha, s) - sympy.pi**2 * sympy.diff(G, s) ** 2


def sympy_euler_lagrange_residual() -> sympy.Expr:
    r"""Euler-Lagrange equation of :math:`\int \dot\alpha^2/(\dot\gamma\alpha(1-\alpha))ds` for an arbitrary
    weight :math:`\gamma(s)`, evaluated at :math:`\alpha = \sin^2(\tfrac{\pi}{2}\gamma(s))` (EP Lemma 3.5;
    simplifies to 0)."""

    s = sympy.Symbol("s", positive=True)
    A = sympy.Function("A")(s)
    g = sympy.Function("g")(s)
    lag = sympy.diff(A, s) ** 2 / (sympy.diff(g, s) * A * (1 - A))
    (eq,) = euler_equations(lag, [A], s)
    return eq.lhs.subs(A, sympy.sin(sympy.pi / 2 * g) ** 2).doit()


def sympy_per_token_identities() -> dict[str, sympy.Expr]:
    r"""Per-token identities with :math:`p(M) = 1-\alpha`, :math:`p(x_1) = \alpha` (each simplifies to 0):

    * ``sphere_speed``: :math:`\sum_v \dot y_v^2 - \dot\alpha^2/(4\alpha(1-\alpha))`, :math:`y = \sqrt p`;
    * ``conditional_kinetic``: :math:`p(M)Q^2/p(x_1) - \dot\alpha^2/(\alpha(1-\alpha))` with the rate of
      Lemma C.3, :math:`Q = \dot\alpha/(1-\alpha)`;
    * ``kinetic_optimal_rate`` [RECONSTRUCTED Shaul et al. form]: :math:`[\dot p(x_1)p(M) -
      p(x_1)\dot p(M)]_+/p(M) - \dot\alpha/(1-\alpha)` (App. D.6: the MDM rate is kinetic-optimal);
    * ``sigma_relation`` (Eq. 4 / Lemma C.1): :math:`\tfrac{d}{ds}\exp(-\int_s^1\sigma) - \sigma
      \exp(-\int_s^1\sigma)` for an arbitrary rate :math:`\sigma`, i.e. :math:`\alpha = \exp(-\int_s^1\sigma)`
      solves :math:`\dot\alpha = \sigma\alpha` with :math:`\alpha_1 = 1`.
    """
    s, u = sympy.symbols("s u", positive=True)
    A = sympy.Function("A")(s)
    dA = sympy.diff(A, s)
    pm, px = 1 - A, A
    y_speed = sympy.diff(sympy.sqrt(pm), s) ** 2 + sympy.diff(sympy.sqrt(px), s) ** 2
    Q = dA / (1 - A)
    sig = sympy.Function("sigma")
    alpha_from_sigma = sympy.exp(-sympy.Integral(sig(u), (u, s, 1)))
    # dA >= 0 on an increasing schedule, so [.]_+ is the identity on the (non-negative) numerator.
    numerator = sympy.diff(px, s) * pm - px * sympy.diff(pm, s)
    return {
        "sphere_speed": y_speed - dA**2 / (4 * A * (1 - A)),
        "conditional_kinetic": pm * Q**2 / px - dA**2 / (A * (1 - A)),
        "kinetic_optimal_rate": numerator / pm - Q,
        "sigma_relation": sympy.diff(alpha_from_sigma, s).doit() - sig(s) * alpha_from_sigma,
    }


def sympy_prop_3_7() -> dict[str, sympy.Expr]:
    r"""EP Prop. 3.7 (each simplifies to 0): ``beta_half_cdf``: :math:`\tfrac{d}{ds}[I_s(\tfrac12,\tfrac12) -
    \tfrac{2}{\pi}\arcsin\sqrt s]` (both vanish at s = 0); ``beta_half_alpha``:
    :math:`\sin^2(\tfrac{\pi}{2}\cdot\tfrac{2}{\pi}\arcsin\sqrt s) - s` (so :math:`\alpha_s = s`, linear);
    ``beta_one_cdf``: :math:`I_s(1,1) - s` (so :math:`\alpha_s = \sin^2(\pi s/2)`); ``inverse_map``:
    :math:`\sin^2(\tfrac{\pi}{2}\cdot\tfrac{2}{\pi}\arcsin\sqrt{\alpha}) - \alpha` (App. B)."""
    s = sympy.Symbol("s", positive=True)
    al = sympy.Symbol("alpha", positive=True)
    half = sympy.Rational(1, 2)
    arc = 2 / sympy.pi * sympy.asin(sympy.sqrt(s))
    d_half = sympy.diff(sympy.betainc_regularized(half, half, 0, s), s) - sympy.diff(arc, s)
    return {
        "beta_half_cdf": d_half.rewrite(sympy.gamma),
        "beta_half_cdf_at_0": arc.subs(s, 0),
        "beta_half_alpha": sympy.sin(sympy.pi / 2 * arc) ** 2 - s,
        "beta_one_cdf": sympy.betainc_regularized(1, 1, 0, s).rewrite(sympy.Integral).doit() - s,
        "inverse_map": sympy.sin(sympy.pi / 2 * (2 / sympy.pi * sympy.asin(sympy.sqrt(al)))) ** 2 - al,
    }


def sympy_beta_energy(a, b, a2, b2) -> sympy.Expr:
    r"""Exact :math:`\pi^2\int_0^1 f_{a',b'}^2/f_{a,b}` for rational parameters (the closed form's
    integral, by sympy integration)."""
    a, b, a2, b2 = (sympy.nsimplify(v, rational=True) for v in (a, b, a2, b2))
    t = sympy.Symbol("t", positive=True)

    def pdf(p, q):
        return t ** (p - 1) * (1 - t) ** (q - 1) / sympy.beta(p, q)

    return sympy.pi**2 * sympy.integrate(sympy.simplify(pdf(a2, b2) ** 2 / pdf(a, b)), (t, 0, 1))


def sympy_endpoint_rates(
    alpha_ep: sympy.Expr, s: sympy.Symbol, gamma: sympy.Expr | None = None
) -> tuple[sympy.Expr, sympy.Expr]:
    r"""Limits :math:`\lim_{s\to0^+} s f(s)` and :math:`\lim_{s\to1^-}(1-s)f(s)` of the energy integrand f.
    A positive limit means :math:`f \sim c/s` (or :math:`c/(1-s)`), so the energy diverges logarithmically."""
    f = sympy_one_token_integrand(alpha_ep, gamma if gamma is not None else s, s)
    return sympy.limit(s * f, s, 0, "+"), sympy.limit((1 - s) * f, s, 1, "-")


def sympy_discrete_limit() -> sympy.Expr:
    r""":math:`\lim_{N\to\infty} 2N^2(1-\cos(\pi/2N))` (EP App. D.5; equals :math:`\pi^2/4`)."""
    N = sympy.Symbol("N", positive=True)
    return sympy.limit(2 * N**2 * (1 - sympy.cos(sympy.pi / (2 * N))), N, sympy.oo)


# =====================================================================================================
# Discretized geodesic energy (EP App. D.5, discretization reconstructed)
# =====================================================================================================
def discrete_geodesic_energy(angles, dgamma) -> float:
    r""":math:`\sum_k 2(1-\cos\theta_k)/\Delta\gamma_k` (chord :math:`\Vert y_{k+1}-y_k\Vert^2 = 2(1-\cos\theta_k)` on
    the unit circle of one token, ``angles`` summing to :math:`\pi/2` along the great circle)."""
    th = np.asarray(angles, dtype=np.float64)
    dg = np.asarray(dgamma, dtype=np.float64)
    if th.shape != dg.shape or np.any(dg <= 0):
        raise ValueError("angles and dgamma must have the same shape and dgamma must be > 0")
    return float(np.sum(2 * (1 - np.cos(th)) / dg))


def optimal_discrete_angles(dgamma) -> np.ndarray:
    r"""Minimizer of :func:`discrete_geodesic_energy` subject to :math:`\sum\theta_k = \pi/2`, :math:`\theta_k\ge0`:
    stationarity gives :math:`\sin\theta_k = \lambda\Delta\gamma_k`; solve for :math:`\lambda` by bracketing.
    (Equal :math:`\Delta\gamma` gives equal angles; unequal ones do *not* give :math:`\theta_k \propto \Delta\gamma_k`.)"""
    dg = np.asarray(dgamma, dtype=np.float64)
    if np.any(dg <= 0):
        raise ValueError("dgamma must be > 0")
    lam_max = 1.0 / dg.max()

    def total(lam):
        return float(np.arcsin(np.clip(lam * dg, 0.0, 1.0)).sum()) - np.pi / 2

    if total(lam_max) < 0:
        raise ValueError("no interior stationary point (one interval dominates); not needed for the checks")
    lam = spo.brentq(total, 0.0, lam_max, xtol=1e-15, rtol=1e-15, maxiter=500)
    return np.arcsin(lam * dg)


# =====================================================================================================
# n tokens on an exact law: brute force over the (d+1)^n states
# =====================================================================================================
class MaskedFlow:
    r"""The MDM probability flow of an exact law q over :math:`D^n` (EP Eq. 3), by brute force.

    States are all :math:`z \in (D\cup\{M\})^n` (mask id = d). For a revealed probability :math:`\alpha`:
    :math:`p(z) = \alpha^{n-m(z)}(1-\alpha)^{m(z)}\, q(z_{UM})` with :math:`q(z_{UM})` the marginal of the
    revealed tokens, computed by explicit summation. Rates follow the reconstructed Eq. 2 and Lemma C.3.
    States with :math:`p(z) = 0` carry no flow and are left out of the sums; a transition into a state with
    :math:`p(x) = 0` has rate 0 and contributes nothing.

    Args:
        log_q: ``(d**n,)`` log-probabilities over :func:`sims.exact.all_sequences` order (may contain -inf).
        vocab_size: d.
        length: n (:math:`(d+1)^n` states; keep it tiny).
    """

    def __init__(self, log_q, vocab_size: int, length: int):
        q = torch.exp(torch.as_tensor(log_q, dtype=torch.float64)).numpy()
        d, n = int(vocab_size), int(length)
        if q.shape != (d**n,):
            raise ValueError(f"log_q must have shape ({d**n},) for d={d}, n={n}; got {q.shape}")
        if abs(q.sum() - 1.0) > 1e-9:
            raise ValueError(f"q must sum to 1, got {q.sum()}")
        if (d + 1) ** n > 5000:
            raise ValueError(f"(d+1)^n = {(d + 1) ** n} states is too many for brute force")
        self.d, self.n, self.q = d, n, q
        self.data = list(itertools.product(range(d), repeat=n))
        self.states = list(itertools.product(range(d + 1), repeat=n))
        self.index = {z: i for i, z in enumerate(self.states)}
        self.num_masked = np.array([sum(v == d for v in z) for z in self.states])
        # consistency matrix: z is reachable from data x1 (revealed entries agree)
        self.consistent = np.array(
            [[all(zi == d or zi == xi for zi, xi in zip(z, x)) for x in self.data] for z in self.states],
            dtype=np.float64,
        )
        self.revealed_marginal = self.consistent @ q  # q(z_UM)
        # single-token unmasking transitions z -> x: (z index, x index, position, value)
        self.transitions = [
            (self.index[z], self.index[z[:i] + (v,) + z[i + 1 :]], i, v)
            for z in self.states
            for i in range(n)
            if z[i] == d
            for v in range(d)
        ]

    # ---- flows ---------------------------------------------------------------------------------------
    def marginal(self, alpha: float) -> np.ndarray:
        """:math:`p(z)` for every state."""
        return alpha ** (self.n - self.num_masked) * (1 - alpha) ** self.num_masked * self.revealed_marginal

    def conditional(self, alpha: float) -> np.ndarray:
        """``(states, data)`` :math:`p(z|x_1) = \\prod_i [\\alpha 1(z^i=x_1^i) + (1-\\alpha)1(z^i=M)]`."""
        return (alpha ** (self.n - self.num_masked) * (1 - alpha) ** self.num_masked)[
            :, None
        ] * self.consistent

    def support_size_weight(self) -> int:
        r""":math:`C_k = \sum_{z:\,p_s(z) > 0} m(z)` (for :math:`0 < \alpha < 1`)."""
        return int(self.num_masked[self.revealed_marginal > 0].sum())

    def full_support_weight(self) -> int:
        r""":math:`n(d+1)^{n-1}`: the value of :math:`C_k` for a law with full support."""
        return self.n * (self.d + 1) ** (self.n - 1)

    # ---- rates ---------------------------------------------------------------------------------------
    def marginal_rate(self, alpha: float, alpha_dot: float) -> np.ndarray:
        r"""Per transition, :math:`Q_s(z,x) = \sigma p(x)/p(z)`, :math:`\sigma = \dot\alpha/\alpha` [RECONSTRUCTED
        Eq. 2]; 0 where :math:`p(z) = 0` or :math:`p(x) = 0`."""
        p = self.marginal(alpha)
        zi = np.array([t[0] for t in self.transitions])
        xi = np.array([t[1] for t in self.transitions])
        sigma = alpha_dot / alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(p[zi] > 0, sigma * p[xi] / p[zi], 0.0)
        return rate

    def generator(self, alpha: float, alpha_dot: float) -> np.ndarray:
        """Full rate matrix (rows sum to 0) of the unmasking process at revealed probability ``alpha``."""
        S = len(self.states)
        Qm = np.zeros((S, S))
        for (z, x, _, _), r in zip(self.transitions, self.marginal_rate(alpha, alpha_dot)):
            Qm[z, x] += r
        Qm[np.diag_indices(S)] = -Qm.sum(1)
        return Qm

    def conditional_rate_consistency_gap(self, alpha: float, alpha_dot: float) -> float:
        r"""Max over transitions with :math:`p(z) > 0` of
        :math:`|Q(z,x) - \sum_{x_1} Q(z,x|x_1)p(z|x_1)q(x_1)/p(z)|` (marginal consistency, EP Eq. 6), with
        :math:`Q(z,x|x_1) = \dot\alpha/(1-\alpha)` if x is z with one position set to :math:`x_1`'s token and
        x is consistent with :math:`x_1` (Lemma C.3), else 0."""
        p = self.marginal(alpha)
        pc = self.conditional(alpha)
        rate = self.marginal_rate(alpha, alpha_dot)
        worst = 0.0
        for (z, x, i, v), r in zip(self.transitions, rate):
            if p[z] <= 0:
                continue
            hit = np.array([x1[i] == v for x1 in self.data], dtype=np.float64) * self.consistent[x]
            avg = (alpha_dot / (1 - alpha)) * float((hit * pc[z] * self.q).sum()) / p[z]
            worst = max(worst, abs(r - avg))
        return worst

    def radd_gap(self, alpha: float) -> float:
        r"""Max over transitions with :math:`p(z)>0` of :math:`|p(x)/p(z) - \tfrac{\alpha}{1-\alpha} q(v|z_{UM})|`
        (RADD concrete-score factorization, used in EP App. D.1), q(v|z_UM) by explicit summation."""
        p = self.marginal(alpha)
        worst = 0.0
        for z, x, _i, _v in self.transitions:
            if p[z] <= 0:
                continue
            cond = self.revealed_marginal[x] / self.revealed_marginal[z]
            worst = max(worst, abs(p[x] / p[z] - alpha / (1 - alpha) * cond))
        return worst

    # ---- energy integrands (without the 1/gamma_dot factor) -----------------------------------------
    def kinetic_integrand(self, alpha: float, alpha_dot: float) -> float:
        r""":math:`\sum_z\sum_{x\ne z} p(z)Q(z,x)^2/p(x)` over states in the support [RECONSTRUCTED Def. 2.1]."""
        p = self.marginal(alpha)
        rate = self.marginal_rate(alpha, alpha_dot)
        total = 0.0
        for (z, x, _, _), r in zip(self.transitions, rate):
            if p[z] > 0 and p[x] > 0:
                total += p[z] * r * r / p[x]
        return total

    def conditional_kinetic_integrand(self, alpha: float, alpha_dot: float) -> float:
        r""":math:`E_{x_1\sim q}\sum_z\sum_{x\ne z} p(z|x_1)Q(z,x|x_1)^2/p(x|x_1)` [RECONSTRUCTED Def. 2.2]."""
        pc = self.conditional(alpha)
        rate = alpha_dot / (1 - alpha)
        total = 0.0
        for j, x1 in enumerate(self.data):
            if self.q[j] == 0:
                continue
            for z, x, i, v in self.transitions:
                if v == x1[i] and pc[x, j] > 0 and pc[z, j] > 0:
                    total += self.q[j] * pc[z, j] * rate * rate / pc[x, j]
        return total

    def geodesic_integrand(self, alpha: float, alpha_dot: float, kappa: float = 4.0) -> float:
        r""":math:`\kappa E_{x_1}\sum_i\sum_v (\tfrac{d}{ds}\sqrt{p_{s|1}(z^i=v|x_1)})^2` [RECONSTRUCTED Def. 2.3]:
        per token the coordinates are :math:`\sqrt{1-\alpha}` ([M]) and :math:`\sqrt{\alpha}` (:math:`x_1^i`),
        differentiated by the chain rule; all other coordinates are 0."""
        per_token = (alpha_dot / (2 * math.sqrt(alpha))) ** 2 + (alpha_dot / (2 * math.sqrt(1 - alpha))) ** 2
        return kappa * float(self.q.sum()) * self.n * per_token

    def energy(
        self,
        kind: str,
        schedule,
        weight: WeightSchedule | None = None,
        *,
        eps: float = 0.0,
        epsabs: float = 1e-10,
        epsrel: float = 1e-10,
    ) -> QuadratureResult:
        """Integrate one of ``"kinetic"``, ``"conditional"``, ``"geodesic"`` over EP time (quadrature)."""
        sched = get_schedule(schedule)
        weight = weight or WeightSchedule.identity()
        fn = {
            "kinetic": self.kinetic_integrand,
            "conditional": self.conditional_kinetic_integrand,
            "geodesic": self.geodesic_integrand,
        }.get(kind)
        if fn is None:
            raise ValueError(f"kind must be 'kinetic', 'conditional' or 'geodesic', got {kind!r}")

        def f(s):
            a = float(sched.alpha_ep(s))
            if a <= 0.0 or a >= 1.0:
                return 0.0 if float(sched.alpha_ep_derivative(s)) == 0 else math.inf
            return fn(a, float(sched.alpha_ep_derivative(s))) / float(weight.gamma_dot(np.array(s)))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", spi.IntegrationWarning)
            val, err = spi.quad(f, eps, 1 - eps, epsabs=epsabs, epsrel=epsrel, limit=200)
        return QuadratureResult(float(val), float(err), eps, 1 - eps)


@dataclass
class EnergyRatios:
    """Integrand ratios to the one-token :math:`\\dot\\alpha^2/(\\alpha(1-\\alpha))` at given revealed probabilities."""

    alphas: list
    kinetic: list
    conditional: list
    geodesic: list
    support_weight: int  # C_k = sum over support states of m(z)
    full_support_weight: int  # n (d+1)^(n-1)
    conditional_constant: int  # n 2^(n-1)
    length: int
    vocab_size: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def energy_ratios(flow: MaskedFlow, alphas=(0.2, 0.5, 0.8), alpha_dot: float = 0.7) -> EnergyRatios:
    """Brute-force ratios E_k/e, E_c/e, E_g/e of the integrands at several revealed probabilities."""
    kin, con, geo = [], [], []
    for a in alphas:
        e = alpha_dot**2 / (a * (1 - a))
        kin.append(flow.kinetic_integrand(a, alpha_dot) / e)
        con.append(flow.conditional_kinetic_integrand(a, alpha_dot) / e)
        geo.append(flow.geodesic_integrand(a, alpha_dot) / e)
    return EnergyRatios(
        list(alphas),
        kin,
        con,
        geo,
        flow.support_size_weight(),
        flow.full_support_weight(),
        flow.n * 2 ** (flow.n - 1),
        flow.n,
        flow.d,
    )


def forward_equation_gap(flow: MaskedFlow, schedule, s: float, h: float = 1e-5) -> float:
    r"""Max relative gap between :math:`\tfrac{d}{ds}p_s` (central difference of the exact marginals) and
    :math:`p_s Q_s` (Kolmogorov forward equation with the reconstructed Eq. 2 rates)."""
    sched = get_schedule(schedule)
    a = float(sched.alpha_ep(s))
    dp = (flow.marginal(float(sched.alpha_ep(s + h))) - flow.marginal(float(sched.alpha_ep(s - h)))) / (2 * h)
    rhs = flow.marginal(a) @ flow.generator(a, float(sched.alpha_ep_derivative(s)))
    scale = max(1e-300, float(np.abs(dp).max()))
    return float(np.abs(dp - rhs).max() / scale)
