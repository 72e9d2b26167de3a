"""The MDM ELBO: subset form = any-order enumeration = 1/k form; schedule invariance by quadrature in t;
-log q(x) for the exact denoiser; the discrete-time forms (KL vs reveal-step enumeration) and their limit."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import all_sequences, exact_log_joint
from sims.languages import random_ngram
from sims.schedules import (
    BetaCDFSchedule,
    ComposedSchedule,
    PerPositionSchedule,
    PolynomialSchedule,
    PowerPerPositionSchedule,
    get_schedule,
)
from tests.strategies import tiny_languages
from tests.theory._helpers import RandomTableDenoiser, TimeTemperedDenoiser
from theory.elbo import (
    any_order_elbo,
    continuous_elbo,
    continuous_elbo_quadrature,
    discrete_elbo_kl,
    discrete_elbo_reveal_steps,
    elbo_subset_form,
    exact_subset_log_conditionals,
    inverse_k_elbo,
    revealed_patterns,
    subset_log_conditionals,
    subset_weights_quadrature,
    univariate_subset_weights,
)

#: float64 agreement of exact rearrangements of the same finite sum (a few hundred terms of size ~1-10)
EXACT_RTOL = 1e-12
#: quadrature in t: scipy QAGS reports absolute errors <= 1e-10 here (asserted), so 1e-9 relative
QUAD_RTOL = 1e-9


def _sequences(lang, L, n=None):
    lq = exact_log_joint(lang, L)
    seqs = all_sequences(lang.vocab_size, L)
    ok = torch.isfinite(lq)
    seqs, lq = seqs[ok], lq[ok]
    return (seqs, lq) if n is None else (seqs[:n], lq[:n])


def _language():
    return random_ngram(2, 3, concentration=0.7, support_size=2, seed=11)


# ---- exact rearrangements ------------------------------------------------------------------------------
@given(L=st.integers(1, 5), V=st.integers(2, 3), seed=st.integers(0, 10_000))
def test_subset_form_equals_any_order_and_inverse_k_forms(L, V, seed):
    """Univariate subset weights |S|!(L-1-|S|)!/L! = uniform order average (all L! orders) = 1/k form, for an
    arbitrary inconsistent conditional table."""
    den = RandomTableDenoiser(V, seed)
    x = torch.as_tensor(np.random.default_rng(seed).integers(0, V, size=(2, L)))
    G = subset_log_conditionals(den, x)
    a = elbo_subset_form(G, univariate_subset_weights(L))
    np.testing.assert_allclose(a, any_order_elbo(G), rtol=EXACT_RTOL)
    np.testing.assert_allclose(a, inverse_k_elbo(G), rtol=EXACT_RTOL)


def test_univariate_weights_are_beta_functions_and_sum_to_one():
    for L in range(1, 7):
        W = univariate_subset_weights(L, exact=True)
        for l in range(L):
            assert sum(W[l]) == 1
        pat = revealed_patterns(L)
        for S in range(2**L):
            k = int(pat[S].sum())
            if k < L and not pat[S, 0]:
                assert W[0][S] == Fraction(math.factorial(k) * math.factorial(L - 1 - k), math.factorial(L))


@given(lang=tiny_languages(max_vocab=3), L=st.integers(2, 4))
def test_exact_subset_conditionals_by_marginalization_equal_the_oracle(lang, L):
    """q(x_l | x_S) from marginalizing the joint table = OracleDenoiser (forward-backward, uniform fallback on
    impossible contexts) for every sequence and reveal pattern."""
    L = max(L, lang.min_length())
    seqs = all_sequences(lang.vocab_size, L)
    ours = exact_subset_log_conditionals(exact_log_joint(lang, L), lang.vocab_size, L)
    ref = subset_log_conditionals(OracleDenoiser(lang, on_impossible="uniform"), seqs)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


# ---- schedule invariance by quadrature ----------------------------------------------------------------
INVARIANCE_SCHEDULES = [
    "linear",
    "cosine",
    "cosine_mdlm",
    "sin2",
    "poly3",
    "poly0.4",
    "beta:0.9,0.3",
    "beta:0.3,0.9",
    "beta:2,2",
    "beta:1,0.2",
]


@pytest.mark.parametrize("spec", INVARIANCE_SCHEDULES)
def test_quadrature_subset_weights_do_not_depend_on_the_schedule(spec):
    """W(S) = int m'(t) (1-m)^|S| m^(L-1-|S|) dt = |S|!(L-1-|S|)!/L! for every schedule (L = 6)."""
    sw = subset_weights_quadrature(spec, 6)
    assert sw.abserr.max() < 1e-11
    np.testing.assert_allclose(sw.weights, univariate_subset_weights(6), rtol=0, atol=1e-11)


@given(a=st.floats(0.2, 3.0), b=st.floats(0.2, 3.0))
def test_quadrature_weights_invariant_for_random_beta_schedules(a, b):
    sw = subset_weights_quadrature(BetaCDFSchedule(a, b), 4)
    np.testing.assert_allclose(sw.weights, univariate_subset_weights(4), rtol=0, atol=1e-10)


@pytest.mark.parametrize("spec", ["linear", "cosine", "beta:0.9,0.3", "composed"])
def test_full_integrand_quadrature_is_schedule_invariant(spec):
    """One quad over t of the whole Eq. (10)/(8) integrand (exact expectation over reveal patterns at each t)
    equals the exact subset form, for an imperfect model (perturbed oracle)."""
    sched = (
        ComposedSchedule(PolynomialSchedule(2.0), BetaCDFSchedule(0.7, 1.3))
        if spec == "composed"
        else get_schedule(spec)
    )
    lang = _language()
    den = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.4, uniform_mix=0.1)
    x, _ = _sequences(lang, 4, n=2)
    exact = elbo_subset_form(subset_log_conditionals(den, x), univariate_subset_weights(4))
    for r, e in zip(continuous_elbo_quadrature(den, x, sched), exact):
        assert r.abserr < 1e-10
        assert r.value == pytest.approx(float(e), rel=QUAD_RTOL)


# ---- exact denoiser: ELBO = -log q(x) -------------------------------------------------------------------
@given(lang=tiny_languages(max_vocab=3), L=st.integers(2, 4))
def test_exact_denoiser_elbo_is_minus_log_q(lang, L):
    """For the oracle (exact conditionals) every order gives log q(x), so the NELBO is -log q(x) for every
    in-support x, and E_q NELBO = H(q) (language.entropy, computed independently)."""
    L = max(L, lang.min_length())
    seqs, lq = _sequences(lang, L)
    elbo = continuous_elbo(OracleDenoiser(lang), seqs)
    np.testing.assert_allclose(elbo, -lq, rtol=EXACT_RTOL, atol=1e-12)
    H = float((torch.exp(lq) * elbo).sum())
    assert H == pytest.approx(lang.entropy(L), rel=1e-10, abs=1e-12)


def test_exact_denoiser_elbo_is_minus_log_q_for_per_position_schedules():
    lang = _language()
    seqs, lq = _sequences(lang, 4)
    oracle = OracleDenoiser(lang)
    for sched in (
        PowerPerPositionSchedule([0.5, 1.0, 2.0, 3.5]),
        PerPositionSchedule(["linear", "beta:0.9,0.3", "cosine", "poly2"]),
    ):
        np.testing.assert_allclose(continuous_elbo(oracle, seqs, sched), -lq, rtol=1e-10)
    r = continuous_elbo_quadrature(oracle, seqs[:1], PowerPerPositionSchedule([0.5, 1.0, 2.0, 3.5]))[0]
    assert r.value == pytest.approx(-float(lq[0]), rel=QUAD_RTOL)


# ---- discrete time --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sched", ["linear", "beta:0.9,0.3", "power"])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_discrete_kl_form_equals_reveal_step_enumeration(sched, steps):
    """KL form sum_k E_{z_tk} sum_l r_kl (-log mu) = E over all T^L step assignments of the teacher-forced
    loss with same-step tokens predicted independently (per-trajectory telescoping)."""
    schedule = PowerPerPositionSchedule([0.5, 1.0, 2.0, 3.0]) if sched == "power" else sched
    den = RandomTableDenoiser(3, seed=5)
    x = torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])
    G = subset_log_conditionals(den, x)
    np.testing.assert_allclose(
        discrete_elbo_kl(den, x, schedule, steps),
        discrete_elbo_reveal_steps(G, schedule, steps),
        rtol=EXACT_RTOL,
    )
    if steps == 1:  # one step: every token from the empty context
        np.testing.assert_allclose(
            discrete_elbo_kl(den, x, schedule, 1), -G[:, 0, :].sum(-1), rtol=EXACT_RTOL
        )


def test_discrete_elbo_converges_to_continuous_at_first_order():
    """L_T - L_inf = O(1/T): the error halves when T doubles (ratio in [1.9, 2.1] at T = 256 -> 512)."""
    lang = _language()
    den = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.4, uniform_mix=0.1)
    x, _ = _sequences(lang, 4, n=2)
    limit = continuous_elbo(den, x)
    e256 = (discrete_elbo_kl(den, x, "cosine", 256) - limit).abs()
    e512 = (discrete_elbo_kl(den, x, "cosine", 512) - limit).abs()
    ratio = e256 / e512
    assert torch.all(ratio > 1.9) and torch.all(ratio < 2.1)


def test_exact_denoiser_discrete_elbo_decreases_to_entropy_on_nested_grids():
    """E_q L_T >= H(q), non-increasing along T = 1, 2, 4, 8, 16 (nested grids: refining a step adds conditioning,
    E_q of the gain is a conditional mutual information >= 0), and -> H(q)."""
    lang = _language()
    seqs, lq = _sequences(lang, 4)
    q = torch.exp(lq)
    H = lang.entropy(4)
    vals = [
        float((q * discrete_elbo_kl(OracleDenoiser(lang), seqs, "beta:0.9,0.3", T)).sum())
        for T in (1, 2, 4, 8, 16, 64)
    ]
    assert all(v >= H - 1e-12 for v in vals)
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(vals))
    assert vals[-1] - H < vals[0] - H


# ---- time-conditioned denoisers ------------------------------------------------------------------------
def test_time_conditioned_denoiser_invariance_up_to_reparameterization():
    """With mu(., t) depending on t, changing the schedule changes the NELBO unless the network's time input is
    reparameterized by the masked fraction: mu_2(t) = mu_1(m_2(t)) under schedule 2 equals mu_1 under linear."""
    lang = _language()
    base = OracleDenoiser(lang, on_impossible="uniform")
    x, _ = _sequences(lang, 3, n=1)

    def g(u):
        return 0.7 + u

    cos = get_schedule("cosine")
    d1 = TimeTemperedDenoiser(base, g)
    d2 = TimeTemperedDenoiser(base, lambda t: g(float(cos.masked_fraction(t))))
    lin = continuous_elbo_quadrature(d1, x, "linear")[0]
    repar = continuous_elbo_quadrature(d2, x, cos)[0]
    plain = continuous_elbo_quadrature(d1, x, cos)[0]
    assert repar.value == pytest.approx(lin.value, rel=QUAD_RTOL)
    assert abs(plain.value - lin.value) > 1e-3
    with pytest.raises(ValueError):
        continuous_elbo(d1, x)


def test_bad_input():
    den = RandomTableDenoiser(2)
    with pytest.raises(ValueError):
        subset_log_conditionals(den, torch.tensor([[0, 2]]))  # mask id in the data
    with pytest.raises(ValueError):
        subset_log_conditionals(den, torch.zeros((1, 11), dtype=torch.long))
    G = subset_log_conditionals(den, torch.tensor([[0, 1, 1]]))
    with pytest.raises(ValueError):
        elbo_subset_form(G, np.zeros((2, 8)))
    with pytest.raises(ValueError):
        discrete_elbo_reveal_steps(torch.zeros((1, 2**8, 8)), "linear", 10)
    with pytest.raises(ValueError):
        subset_weights_quadrature(PowerPerPositionSchedule([1.0, 2.0]), 3)
