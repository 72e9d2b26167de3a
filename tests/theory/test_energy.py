"""Energy paper (Chen et al. arXiv 2509.13866): symbolic identities (sympy, simplified to 0), the Beta landscape
closed form vs quadrature, divergence of common schedules, the discretized argument, and the n-token
constants by brute force over all (d+1)^n states (including laws with zeros in their support)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.exact import exact_log_joint
from sims.languages import NGramLanguage, random_ngram
from sims.schedules import BetaCDFSchedule, SympySchedule, get_schedule
from tests.strategies import tiny_hmms, tiny_ngrams
from theory import energy as E

PI2 = math.pi**2
S = sympy.Symbol("s", positive=True)
T = sympy.Symbol("t", real=True)


# ---- symbolic identities ------------------------------------------------------------------------------
def test_optimality_condition_makes_integrand_pi2_gamma_dot():
    """Condition 3.4: alpha = sin^2(pi/2 G) => alpha'^2/(alpha(1-alpha)) = pi^2 G'^2 (so e = pi^2 when G = gamma)."""
    assert sympy.simplify(E.sympy_optimality_residual()) == 0


def test_euler_lagrange_solved_by_condition_3_4_for_any_gamma():
    assert sympy.simplify(E.sympy_euler_lagrange_residual()) == 0


def test_euler_lagrange_negative_control():
    """The same Euler-Lagrange expression is *not* zero for alpha = gamma (so the check can fail)."""
    from sympy.calculus.euler import euler_equations

    s = sympy.Symbol("s", positive=True)
    A, g = sympy.Function("A")(s), sympy.Function("g")(s)
    (eq,) = euler_equations(sympy.diff(A, s) ** 2 / (sympy.diff(g, s) * A * (1 - A)), [A], s)
    res = eq.lhs.subs(A, s**2).subs(g, s).doit()
    assert sympy.simplify(res) != 0


@pytest.mark.parametrize(
    "name", ["sphere_speed", "conditional_kinetic", "kinetic_optimal_rate", "sigma_relation"]
)
def test_per_token_identities(name):
    assert sympy.simplify(E.sympy_per_token_identities()[name]) == 0


@pytest.mark.parametrize(
    "name", ["beta_half_cdf", "beta_half_cdf_at_0", "beta_half_alpha", "beta_one_cdf", "inverse_map"]
)
def test_prop_3_7_and_inverse_map(name):
    assert sympy.simplify(E.sympy_prop_3_7()[name]) == 0


def test_discrete_limit_is_pi2_over_4():
    assert sympy.simplify(E.sympy_discrete_limit() - sympy.pi**2 / 4) == 0


@pytest.mark.parametrize("params", [(1, 1, 1, 1), ("1/2", "1/2", "7/10", "4/5"), (2, 2, "3/2", "5/4")])
def test_beta_landscape_closed_form_by_sympy_integration(params):
    a, b, a2, b2 = (sympy.Rational(p) for p in params)
    exact = E.sympy_beta_energy(a, b, a2, b2)
    closed = sympy.pi**2 * sympy.beta(2 * a2 - a, 2 * b2 - b) * sympy.beta(a, b) / sympy.beta(a2, b2) ** 2
    assert sympy.simplify((exact - closed).rewrite(sympy.gamma)) == 0
    assert float(exact) == pytest.approx(E.beta_energy_closed_form(*map(float, (a, b, a2, b2))), rel=1e-14)


def test_minimum_energy_of_sine_squared_is_pi2_symbolically():
    integrand = sympy.simplify(E.sympy_one_token_integrand(sympy.sin(sympy.pi * S / 2) ** 2, S, S))
    assert sympy.simplify(integrand - sympy.pi**2) == 0


def test_smoothstep_energy_is_9_log_3():
    """Unweighted energy of alpha_s = 3s^2 - 2s^3 is exactly 9 ln 3 = 9.88751... (derived; > pi^2)."""
    integrand = sympy.simplify(E.sympy_one_token_integrand(3 * S**2 - 2 * S**3, S, S))
    assert sympy.simplify(sympy.integrate(integrand, (S, 0, 1)) - 9 * sympy.log(3)) == 0
    smooth = SympySchedule(1 - (3 * (1 - T) ** 2 - 2 * (1 - T) ** 3), T)
    assert E.one_token_energy(smooth).value == pytest.approx(9 * math.log(3), rel=1e-12)


# Endpoint rates lim s f(s) (s->0) and (1-s) f(s) (s->1) of the unweighted integrand; > 0 => log-divergent.
DIVERGENCE = {
    "linear": (1, 1),  # alpha_s = s
    "cosine": (0, sympy.pi / 2),  # MD4 cosine: alpha^EP = 1 - cos(pi s/2)
    "cosine_mdlm": (sympy.pi / 2, 0),  # EP "sine": alpha^EP = sin(pi s/2)
    "sin2": (0, 0),  # EP squared sine: finite (pi^2)
    "poly2": (2, 0),  # MD4 poly2: alpha^EP = 1 - (1-s)^2
    "beta:1,1": (0, 0),
}


@pytest.mark.parametrize("spec", sorted(DIVERGENCE))
def test_which_common_schedules_have_infinite_energy(spec):
    alpha_ep = get_schedule(spec).sympy_alpha_ep(S)
    if spec == "beta:1,1":
        alpha_ep = alpha_ep.rewrite(sympy.Integral).doit()
    lo, hi = E.sympy_endpoint_rates(alpha_ep, S)
    want_lo, want_hi = DIVERGENCE[spec]
    assert sympy.simplify(lo - want_lo) == 0 and sympy.simplify(hi - want_hi) == 0


def test_power_schedule_in_ep_time_diverges():
    """alpha^EP_s = s^k (k >= 1): integrand ~ k/(1-s) at s = 1."""
    for k in (1, 2, 3):
        _lo, hi = E.sympy_endpoint_rates(S**k, S)
        assert sympy.simplify(hi - k) == 0


def test_truncated_linear_energy_grows_like_2_log():
    """int_eps^(1-eps) ds/(s(1-s)) = 2 log((1-eps)/eps) exactly; quadrature agrees to 1e-9."""
    for eps in (1e-2, 1e-4, 1e-6):
        assert E.one_token_energy("linear", eps=eps).value == pytest.approx(
            2 * math.log((1 - eps) / eps), rel=1e-9
        )


def test_sine_squared_has_minimum_energy_numerically():
    r = E.one_token_energy("sin2")
    assert r.value == pytest.approx(PI2, rel=1e-13)


# ---- Beta landscape ------------------------------------------------------------------------------------
beta_p = st.floats(0.2, 3.0)


@given(a=beta_p, b=beta_p, da=st.floats(0.3, 2.5), db=st.floats(0.3, 2.5))
def test_beta_landscape_closed_form_matches_quadrature(a, b, da, db):
    """e(alpha = sin^2(pi/2 I(a',b')), gamma = I(a,b)) by quadrature of the schedule objects vs the closed form,
    on 2a' - a = da >= 0.3, 2b' - b = db >= 0.3 (integrable endpoint powers >= -0.7). Tolerance: 1e-8
    relative, above quad's own error estimate (asserted < 1e-9 relative)."""
    a2, b2 = (a + da) / 2, (b + db) / 2
    closed = E.beta_energy_closed_form(a, b, a2, b2)
    quad = E.beta_energy_quadrature(a, b, a2, b2)
    assert quad.abserr <= 1e-9 * closed
    assert quad.value == pytest.approx(closed, rel=1e-8)
    assert closed >= PI2 * (1 - 1e-14)  # pi^2 (1 + chi^2) >= pi^2


@given(a=beta_p, b=beta_p)
def test_beta_landscape_minimum_is_pi2_at_matching_parameters(a, b):
    assert E.beta_energy_closed_form(a, b, a, b) == pytest.approx(PI2, rel=1e-13)
    for fa, fb in ((1.1, 1.0), (0.9, 1.0), (1.0, 1.15), (1.0, 0.85)):
        assert E.beta_energy_closed_form(a, b, a * fa, b * fb) > PI2


def test_beta_landscape_infinite_region():
    assert E.beta_energy_closed_form(1.0, 1.0, 0.5, 1.0) == math.inf
    assert E.beta_energy_closed_form(0.9, 0.3, 1.0, 0.15) == math.inf
    with pytest.raises(ValueError):
        E.beta_energy_closed_form(-1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize("eps", [0.3, -0.2, 0.1])
def test_condition_3_4_minimizes_energy_for_a_polynomial_weight(eps):
    """gamma_s = 3s^2 - 2s^3 fixed; alpha_eps = sin^2(pi/2 (gamma + eps gamma(1-gamma))): e(0) = pi^2 < e(eps)."""
    g = 3 * S**2 - 2 * S**3
    weight = E.WeightSchedule(lambda s: 3 * s**2 - 2 * s**3, lambda s: 6 * s * (1 - s), "smoothstep")

    def energy(e):
        G = g + e * g * (1 - g)
        alpha_ep = sympy.sin(sympy.pi / 2 * G) ** 2
        sched = SympySchedule(1 - alpha_ep.subs(S, 1 - T), T)
        return E.one_token_energy(sched, weight).value

    assert energy(0.0) == pytest.approx(PI2, rel=1e-10)
    assert energy(eps) > PI2 * (1 + 1e-4)


def test_matched_weight_gives_pi2_for_any_schedule():
    """For every schedule, gamma = (2/pi) arcsin sqrt(alpha) (App. B) makes it optimal: e = pi^2."""
    for spec in ("cosine", "poly2", "beta:0.9,0.3", "linear"):
        r = E.one_token_energy(spec, E.WeightSchedule.matched_to(spec))
        assert r.value == pytest.approx(PI2, rel=1e-9)


# ---- discretized geodesic energy (App. D.5) ------------------------------------------------------------
@pytest.mark.parametrize("N", [1, 2, 5, 50])
def test_equal_angles_value(N):
    val = E.discrete_geodesic_energy(np.full(N, np.pi / (2 * N)), np.full(N, 1.0 / N))
    assert val == pytest.approx(2 * N**2 * (1 - math.cos(math.pi / (2 * N))), rel=1e-14)


@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=8))
def test_equal_angles_are_optimal_for_equal_dgamma(raw):
    """Jensen: any split of pi/2 into N angles has energy >= the equal split (uniform gamma grid)."""
    th = np.array(raw) / np.sum(raw) * np.pi / 2
    N = len(th)
    dg = np.full(N, 1.0 / N)
    assert (
        E.discrete_geodesic_energy(th, dg)
        >= E.discrete_geodesic_energy(np.full(N, np.pi / (2 * N)), dg) - 1e-12
    )


def test_proportional_angles_are_not_optimal_for_unequal_dgamma():
    """App. D.5 extends to general gamma 'through proportional point distribution'; under the reconstructed
    discretization sum ||dy||^2/dgamma the minimizer has sin(theta_k) proportional to dgamma_k instead."""
    dg = np.array([0.1, 0.3, 0.6])
    prop = np.pi / 2 * dg
    opt = E.optimal_discrete_angles(dg)
    assert opt.sum() == pytest.approx(np.pi / 2, rel=1e-14)
    ratios = np.sin(opt) / dg
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    e_prop, e_opt = E.discrete_geodesic_energy(prop, dg), E.discrete_geodesic_energy(opt, dg)
    assert e_opt < e_prop - 1e-4
    rng = np.random.default_rng(0)
    for _ in range(200):  # random feasible perturbations never beat the stationary point (convex problem)
        d = rng.normal(size=3) * 0.02
        d -= d.mean()
        assert E.discrete_geodesic_energy(opt + d, dg) >= e_opt - 1e-13


# ---- n tokens: brute force over states ----------------------------------------------------------------
def _flow(lang, n):
    return E.MaskedFlow(exact_log_joint(lang, n), lang.vocab_size, n)


def _check_ratios(flow):
    r = E.energy_ratios(flow)
    for k, c, g in zip(r.kinetic, r.conditional, r.geodesic):
        assert k == pytest.approx(r.support_weight, rel=1e-12)
        assert c == pytest.approx(flow.n * 2 ** (flow.n - 1), rel=1e-12)
        assert g == pytest.approx(flow.n, rel=1e-12)
    return r


@given(lang=tiny_ngrams(max_vocab=3, max_order=2), n=st.integers(1, 3))
def test_energy_constants_ngrams(lang, n):
    """E_k/e = sum_{z in supp} m(z), E_c/e = n 2^(n-1), E_g/e = n (kappa = 4) at every alpha (1e-12 relative)."""
    n = max(n, lang.min_length())
    r = _check_ratios(_flow(lang, n))
    if n == 1:  # Example 3.3: C_1 = C_2 = 1
        assert r.support_weight == 1


@given(lang=tiny_hmms(max_states=2, max_vocab=2), n=st.integers(2, 3))
def test_energy_constants_hmms(lang, n):
    _check_ratios(_flow(lang, n))


def _bigram(initial, transition):
    return NGramLanguage(
        2, 2, torch.tensor(initial, dtype=torch.float64), torch.tensor(transition, dtype=torch.float64)
    )


def test_full_support_constant_and_restricted_support_change():
    """Thm. 3.1 says C_1 = E_k/E_c depends only on n and d. With full support C_k = n (d+1)^(n-1) (6 at n = 2,
    27 at n = 3). With zeros in the support, the states z of probability 0 drop out of C_k = sum m(z):
    * token 0 banned at position 0: (0,M) drops (C_k = 5 at n = 2); (0,M,M), (0,v,M), (0,M,v) drop (21 at n = 3);
    * transition 0 -> 0 banned: no masked state has probability 0 at n = 2 (C_k = 6, unchanged), but (0,0,M)
      and (M,0,0) do at n = 3 (C_k = 25).
    So C_1 = C_k / (n 2^(n-1)) depends on the support of q, not only on n and d."""
    dense = random_ngram(2, 2, concentration=1.0, seed=1)
    banned_start = _bigram([0.0, 1.0], [[0.3, 0.7], [0.4, 0.6]])
    banned_pair = _bigram([0.5, 0.5], [[0.0, 1.0], [0.4, 0.6]])
    expected = {
        (2, "dense"): 6,
        (3, "dense"): 27,
        (2, "start"): 5,
        (3, "start"): 21,
        (2, "pair"): 6,
        (3, "pair"): 25,
    }
    for n in (2, 3):
        for name, lang in (("dense", dense), ("start", banned_start), ("pair", banned_pair)):
            r = _check_ratios(_flow(lang, n))
            assert r.support_weight == expected[(n, name)]
            assert r.full_support_weight == n * 3 ** (n - 1)
            c1 = r.kinetic[0] / r.conditional[0]
            assert c1 == pytest.approx(expected[(n, name)] / (n * 2 ** (n - 1)), rel=1e-12)


@given(seed=st.integers(0, 10_000))
def test_kinetic_energy_depends_on_q_only_through_its_support(seed):
    """Two laws with the same support give identical E_k integrands (the q-dependence cancels)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(8) < 0.7
    mask[0] = True
    q1, q2 = rng.random(8) * mask, rng.random(8) * mask
    f1 = E.MaskedFlow(torch.log(torch.tensor(q1 / q1.sum())), 2, 3)
    f2 = E.MaskedFlow(torch.log(torch.tensor(q2 / q2.sum())), 2, 3)
    for a in (0.3, 0.6):
        assert f1.kinetic_integrand(a, 1.0) == pytest.approx(f2.kinetic_integrand(a, 1.0), rel=1e-12)


@given(lang=tiny_ngrams(max_vocab=3, max_order=2), s=st.floats(0.05, 0.95))
def test_reconstructed_rates_generate_the_flow(lang, s):
    """Kolmogorov forward equation dp/ds = p Q (central difference h = 1e-5: truncation ~1e-10 relative, bound
    1e-7), marginal consistency Eq. 6 and the RADD factorization (float64 rounding, 1e-12)."""
    n = max(2, lang.min_length())
    flow = _flow(lang, n)
    sched = BetaCDFSchedule(0.9, 0.7)
    assert E.forward_equation_gap(flow, sched, s) < 1e-7
    a, da = float(sched.alpha_ep(s)), float(sched.alpha_ep_derivative(s))
    assert flow.conditional_rate_consistency_gap(a, da) < 1e-12 * max(1.0, da / (1 - a))
    assert flow.radd_gap(a) < 1e-12 * max(1.0, a / (1 - a))


def test_integrated_energies_are_constant_multiples():
    flow = _flow(_bigram([0.5, 0.5], [[0.0, 1.0], [0.4, 0.6]]), 3)
    weight = E.WeightSchedule.beta(1.0, 1.0)
    ek = flow.energy("kinetic", "sin2", weight)
    ec = flow.energy("conditional", "sin2", weight)
    eg = flow.energy("geodesic", "sin2", weight)
    assert ek.value == pytest.approx(25 * PI2, rel=1e-9)
    assert ec.value == pytest.approx(12 * PI2, rel=1e-9)
    assert eg.value == pytest.approx(3 * PI2, rel=1e-9)


def test_masked_flow_rejects_bad_input():
    with pytest.raises(ValueError):
        E.MaskedFlow(torch.zeros(5), 2, 2)
    with pytest.raises(ValueError):
        E.MaskedFlow(torch.log(torch.full((4,), 0.3)), 2, 2)
    with pytest.raises(ValueError):
        E.one_token_energy("sin2", eps=0.7)
    with pytest.raises(ValueError):
        E.MaskedFlow(torch.log(torch.full((4,), 0.25)), 2, 2).energy("potential", "sin2")
