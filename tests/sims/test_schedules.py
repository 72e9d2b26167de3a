"""Schedules: the existing sampler-facing API, closed-form derivatives, sympy expressions, both time
conventions, Beta-CDF schedules (energy paper) and per-position schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.languages import random_ngram
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler, schedule_counts
from sims.schedules import (
    TIME_CONVENTIONS,
    BetaCDFSchedule,
    ComposedSchedule,
    CosineMDLMSchedule,
    CosineSchedule,
    EnergyPaperSchedule,
    FunctionSchedule,
    LinearSchedule,
    PerPositionSchedule,
    PolynomialSchedule,
    PowerPerPositionSchedule,
    Schedule,
    SineSquaredSchedule,
    SympySchedule,
    convert_time,
    ep_to_mdlm_time,
    get_schedule,
    mdlm_to_ep_time,
    time_grid,
    to_flow_matching_time,
)

T = sympy.Symbol("t", real=True)
GRID = np.linspace(0.0, 1.0, 101)
NAMED = [
    "linear",
    "cosine",
    "cosine_mdlm",
    "sin2",
    "poly0.5",
    "poly2",
    "poly3.5",
    "beta:0.9,0.3",
    "beta:0.3,0.9",
    "beta:0.5,0.5",
    "beta:1,1",
    "beta:2,2",
    "beta:1,0.2",
]

beta_params = st.floats(0.15, 4.0, allow_nan=False, allow_infinity=False)


def sym_value(expr, t):
    """Evaluate a sympy expression of T at t with 30 digits (evalf, not lambdify: sympy's mpmath lambdify of
    betainc_regularized returns wrong values in sympy 1.14)."""
    return float(sympy.N(expr.subs(T, sympy.Float(t, 30)), 30))


# ---- the API the samplers use ------------------------------------------------------------------------
@pytest.mark.parametrize("spec", NAMED)
def test_endpoints_monotone_and_complement(spec):
    s = get_schedule(spec)
    m = np.asarray(s.masked_fraction(GRID), dtype=np.float64)
    a = np.asarray(s.alpha(GRID), dtype=np.float64)
    assert m[0] == 0.0 and abs(m[-1] - 1.0) <= 1e-15
    assert np.all(np.diff(m) >= 0)
    # alpha and m may be evaluated separately (no cancellation): both sin^2 and scipy betainc are accurate to
    # a few ulp, so alpha + m is 1 within a few ulp of 1 (2e-15 = 9 ulp)
    np.testing.assert_allclose(a + m, 1.0, rtol=0, atol=2e-15)
    w = s.step_weights(time_grid(7))
    assert torch.all(w >= 0) and abs(float(w.sum()) - 1.0) <= 1e-15
    p = s.unmask_probability(0.6, 0.3)
    assert p == pytest.approx(
        (float(s.masked_fraction(0.6)) - float(s.masked_fraction(0.3))) / float(s.masked_fraction(0.6)),
        rel=1e-14,
    )


@pytest.mark.parametrize("spec", NAMED)
def test_time_of_masked_fraction_inverts(spec):
    s = get_schedule(spec)
    t = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)
    back = s.time_of_masked_fraction(torch.as_tensor(s.masked_fraction(t), dtype=torch.float64))
    # inverse of a flat region is ill-conditioned: compare masked fractions, not times
    np.testing.assert_allclose(
        np.asarray(s.masked_fraction(back)), np.asarray(s.masked_fraction(t)), rtol=1e-12, atol=1e-14
    )


def test_existing_types_and_names_unchanged():
    assert isinstance(get_schedule("linear"), LinearSchedule)
    assert isinstance(get_schedule("cosine"), CosineSchedule)
    assert isinstance(get_schedule("cosine_mdlm"), CosineMDLMSchedule)
    assert isinstance(get_schedule("poly3"), PolynomialSchedule)
    assert isinstance(get_schedule(lambda t: 1 - t), FunctionSchedule)
    s = LinearSchedule()
    assert get_schedule(s) is s
    assert float(to_flow_matching_time(0.25)) == 0.75
    assert torch.equal(time_grid(4), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=torch.float64))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        BetaCDFSchedule(-1.0, 1.0)
    with pytest.raises(ValueError):
        BetaCDFSchedule(1.0, float("nan"))
    with pytest.raises(ValueError):
        get_schedule("beta:0.3")
    with pytest.raises(ValueError):
        get_schedule("nonsense")
    with pytest.raises(ValueError):
        get_schedule(PowerPerPositionSchedule([1.0, 2.0]))
    with pytest.raises(ValueError):
        BetaCDFSchedule(1, 2).masked_fraction(1.5)
    with pytest.raises(ValueError):
        SympySchedule(T**2 - T, T)  # m(1) = 0
    with pytest.raises(ValueError):
        EnergyPaperSchedule(lambda s: 1 - s)  # decreasing in EP time
    with pytest.raises(ValueError):
        PowerPerPositionSchedule([1.0, 0.0])
    with pytest.raises(ValueError):
        convert_time(0.3, "mdlm", "flow")
    with pytest.raises(ValueError):
        PerPositionSchedule([])


# ---- derivatives and sympy expressions -----------------------------------------------------------------
@pytest.mark.parametrize("spec", NAMED)
def test_sympy_expression_matches_numeric_and_derivative(spec):
    """m(t) and m'(t) of each schedule agree with its sympy expression (30-digit evalf) to 1e-12 relative."""
    s = get_schedule(spec)
    expr = s.sympy_masked_fraction(T)
    dexpr = sympy.diff(expr, T)
    for t in (0.013, 0.21, 0.5, 0.77, 0.991):
        assert float(s.masked_fraction(t)) == pytest.approx(sym_value(expr, t), rel=1e-12, abs=1e-15)
        assert float(s.masked_fraction_derivative(t)) == pytest.approx(
            sym_value(dexpr, t), rel=1e-11, abs=1e-14
        )


@given(a=beta_params, b=beta_params, t=st.floats(0.001, 0.999))
def test_beta_derivative_matches_central_difference(a, b, t):
    """Closed-form m'(t) of the Beta-CDF schedule vs a central difference (h = 1e-6, float64: ~1e-7 rel)."""
    s = BetaCDFSchedule(a, b)
    h = min(1e-6, t / 4, (1 - t) / 4)
    fd = (float(s.masked_fraction(t + h)) - float(s.masked_fraction(t - h))) / (2 * h)
    d = float(s.masked_fraction_derivative(t))
    assert d >= 0
    assert d == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("a,b", [(0.5, 0.5), (0.3, 0.9), (0.9, 0.3), (1.0, 1.0), (2.0, 2.0), (0.5, 3.0)])
def test_beta_derivative_end_limits(a, b):
    """Exact ends use m'(t) ~ pi^2/(2bB^2) t^(2b-1) (t->0) and symmetrically at t = 1."""
    s = BetaCDFSchedule(a, b)
    for end, p, inner in ((0.0, b, 1e-7), (1.0, a, 1 - 1e-7)):
        lim = float(s.masked_fraction_derivative(end))
        if p > 0.5:
            assert lim == 0.0
        elif p < 0.5:
            assert lim == math.inf
        else:
            assert lim == pytest.approx(float(s.masked_fraction_derivative(inner)), rel=1e-5)


def test_elbo_weight_linear_is_one_over_t():
    t = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(LinearSchedule().elbo_weight(t), 1 / t, rtol=1e-15)
    assert float(CosineSchedule().elbo_weight(0.0)) == math.inf


@given(a=beta_params, b=beta_params)
def test_beta_schedule_properties(a, b):
    s = BetaCDFSchedule(a, b)
    m = s.masked_fraction(GRID)
    assert m[0] == 0.0 and m[-1] == 1.0 and np.all(np.diff(m) >= 0)
    np.testing.assert_allclose(s.alpha(GRID) + m, 1.0, atol=2e-15, rtol=0)
    # EP convention: alpha^EP_s = sin^2(pi/2 gamma_s) with gamma_s = I_s(a, b)
    sgrid = np.linspace(0, 1, 11)
    np.testing.assert_allclose(
        s.alpha_ep(sgrid), np.sin(np.pi / 2 * s.gamma_ep(sgrid)) ** 2, rtol=1e-13, atol=1e-15
    )


# ---- identities between named schedules (energy paper Prop. 3.7 and naming) ---------------------------
def test_beta_half_half_is_linear_and_beta_one_one_is_sine_squared():
    """EP Prop. 3.7 numerically (float64, 1e-14): Beta(1/2,1/2) -> alpha_s = s; Beta(1,1) -> sin^2(pi s/2)."""
    np.testing.assert_allclose(BetaCDFSchedule(0.5, 0.5).masked_fraction(GRID), GRID, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        BetaCDFSchedule(1, 1).masked_fraction(GRID),
        SineSquaredSchedule().masked_fraction(GRID),
        rtol=1e-14,
        atol=1e-15,
    )


def test_sympy_beta_one_one_is_sine_squared():
    diff = BetaCDFSchedule(1, 1).sympy_masked_fraction(T).rewrite(
        sympy.Integral
    ).doit() - SineSquaredSchedule().sympy_masked_fraction(T)
    assert sympy.simplify(diff) == 0


def test_energy_paper_sine_is_mdlm_cosine():
    """EP's 'sine' alpha^EP_s = sin(pi s/2) is MDLM's CosineNoise alpha(t) = cos(pi t/2) (sympy, exact)."""
    s = sympy.Symbol("s", real=True)
    ep = CosineMDLMSchedule().sympy_alpha_ep(s)
    assert sympy.simplify(ep - sympy.sin(sympy.pi * s / 2)) == 0
    built = EnergyPaperSchedule(
        lambda v: math.sin(math.pi * v / 2),
        name="ep_sine",
        alpha_ep_derivative=lambda v: math.pi / 2 * math.cos(math.pi * v / 2),
    )
    # 1 - sin(pi (1-t)/2) (built from the EP form) vs 2 sin^2(pi t/4): cancellation error <= ulp(1) ~ 2.2e-16
    np.testing.assert_allclose(
        built.masked_fraction(GRID), CosineMDLMSchedule().masked_fraction(GRID), atol=5e-16, rtol=0
    )
    np.testing.assert_allclose(
        built.masked_fraction_derivative(GRID[1:-1]),
        CosineMDLMSchedule().masked_fraction_derivative(GRID[1:-1]),
        rtol=1e-14,
    )


def test_time_conventions_round_trip():
    assert set(TIME_CONVENTIONS) == {"mdlm", "ep"}
    for v in (0.0, 0.3, 1.0):
        assert convert_time(convert_time(v, "mdlm", "ep"), "ep", "mdlm") == pytest.approx(v, abs=1e-16)
        assert mdlm_to_ep_time(v) == ep_to_mdlm_time(v) == 1 - v
    s = BetaCDFSchedule(0.9, 0.3)
    for v in (0.1, 0.6):
        assert float(s.alpha_ep(v)) == float(s.alpha(1 - v))
        assert float(s.alpha_ep_derivative(v)) == float(s.masked_fraction_derivative(1 - v))


def test_sympy_schedule_and_composition():
    smooth = SympySchedule(3 * T**2 - 2 * T**3, T, name="smoothstep")
    assert float(smooth.masked_fraction_derivative(0.5)) == pytest.approx(1.5, rel=1e-15)
    comp = ComposedSchedule(PolynomialSchedule(2.0), BetaCDFSchedule(0.9, 0.3))
    inner = BetaCDFSchedule(0.9, 0.3)
    for t in (0.1, 0.4, 0.8):
        assert float(comp.masked_fraction(t)) == pytest.approx(
            float(inner.masked_fraction(t)) ** 2, rel=1e-14
        )
        fd = (float(comp.masked_fraction(t + 1e-6)) - float(comp.masked_fraction(t - 1e-6))) / 2e-6
        assert float(comp.masked_fraction_derivative(t)) == pytest.approx(fd, rel=1e-6)
        assert sym_value(comp.sympy_masked_fraction(T), t) == pytest.approx(
            float(comp.masked_fraction(t)), rel=1e-12
        )
    m = torch.tensor([0.2, 0.7], dtype=torch.float64)
    np.testing.assert_allclose(comp.masked_fraction(comp.time_of_masked_fraction(m)), m.numpy(), rtol=1e-12)


def test_function_schedule_finite_difference_derivative():
    f = FunctionSchedule(lambda t: math.cos(math.pi * t / 2))
    np.testing.assert_allclose(
        f.masked_fraction_derivative(np.array([0.2, 0.7])),
        CosineMDLMSchedule().masked_fraction_derivative(np.array([0.2, 0.7])),
        rtol=1e-8,
    )


# ---- per-position schedules ---------------------------------------------------------------------------
def test_per_position_schedule_shapes_and_uniform():
    pp = PerPositionSchedule([get_schedule("linear"), BetaCDFSchedule(0.9, 0.3), PolynomialSchedule(2.0)])
    t = np.array([[0.1, 0.5], [0.7, 0.9]])
    assert pp.masked_fraction(t).shape == (2, 2, 3)
    assert pp.masked_fraction(t)[1, 0, 1] == float(BetaCDFSchedule(0.9, 0.3).masked_fraction(0.7))
    assert not pp.is_univariate
    uni = PerPositionSchedule.uniform("cosine", 4)
    assert uni.is_univariate and uni.length == 4
    np.testing.assert_array_equal(uni.masked_fraction(0.3), np.full(4, CosineSchedule().masked_fraction(0.3)))
    w = pp.step_weights(time_grid(5))
    assert w.shape == (5, 3)
    np.testing.assert_allclose(w.sum(0).numpy(), 1.0, rtol=0, atol=1e-15)
    power = PowerPerPositionSchedule([0.5, 1.0, 3.0])
    np.testing.assert_allclose(power.masked_fraction(0.4), 0.4 ** np.array([0.5, 1.0, 3.0]), rtol=1e-15)
    m = torch.tensor([[0.1, 0.5, 0.9]], dtype=torch.float64)
    times = power.time_of_masked_fraction(m).numpy()[0]
    np.testing.assert_allclose(np.diagonal(power.masked_fraction(times)), m.numpy()[0], rtol=1e-13)


# ---- samplers accept the new schedules ----------------------------------------------------------------
def test_samplers_accept_beta_schedules():
    lang = random_ngram(2, 2, concentration=1.0, support_size=1, seed=2)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    sched = BetaCDFSchedule(0.9, 0.3)
    g = make_generator(0)
    res = AncestralSampler(4, schedule=sched).sample(oracle, 64, 6, g)
    assert res.tokens.shape == (64, 6)
    counts = schedule_counts(8, 4, sched)
    assert sum(counts) == 8 and counts == schedule_counts(8, 4, "beta:0.9,0.3")
    res = FixedCountSampler(4, count_rule="schedule", schedule=sched).sample(oracle, 16, 8, g)
    assert res.tokens.shape == (16, 8)
    res = FirstHittingSampler(schedule=sched).sample(oracle, 16, 5, g)
    assert torch.all(res.reveal_time >= 0) and torch.all(res.reveal_time <= 1)
    law = exact_sampler_law(AncestralSampler(2, schedule=sched), oracle, 3)
    assert abs(float(law.sum()) - 1.0) < 1e-12


def test_schedule_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Schedule().masked_fraction(0.5)
    with pytest.raises(NotImplementedError):
        FunctionSchedule(lambda t: 1 - t).sympy_masked_fraction(T)
