r"""Sympy forms of the energy paper's identities (Chen et al., arXiv 2509.13866): the optimality condition,
the Euler-Lagrange residual, per-token identities, Prop. 3.7, the Beta energy, endpoint rates and the
discrete limit. Conventions and provenance: :mod:`theory.energy`.
"""

from __future__ import annotations

import sympy
from sympy.calculus.euler import euler_equations


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
