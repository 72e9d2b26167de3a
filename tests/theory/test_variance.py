"""Paper-level variance results (theory/variance/) against closed forms, quadrature and Monte Carlo.

References used:
* closed forms with incomplete Beta functions (uniform rate) vs. Gauss-Legendre quadrature;
* the any-order AR identity for the data term C of the oracle;
* Monte Carlo with nested draws (mean, second moment, paired masks for A, paired rates for C), checked
  at 5 standard errors with fixed seeds (means of i.i.d. per-draw quantities, so plain CLT errors).
The exact estimator machinery itself (sims/estimators) is tested against enumeration in
tests/sims/test_estimators.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.estimators import (
    DensityTime,
    UniformTime,
    decompose_k_estimator,
    decompose_time_estimator,
    mask_index,
    mask_loss_table,
    mask_size_moments,
    optimal_time_sampler,
    paper_grid,
    proposal_curve,
    quadrature_integral,
)
from sims.languages.random import random_ngram
from tests.strategies import tiny_languages
from theory import variance as tv


@pytest.fixture(scope="module")
def toy():
    """V=3, L=5 random bigram (Dirichlet(0.5) rows) and the moments of its oracle."""
    lang = random_ngram(2, 3, concentration=0.5, seed=1)
    table = mask_loss_table(lang, OracleDenoiser(lang), 5)
    return lang, table, mask_size_moments(table)


@pytest.fixture(scope="module")
def toy_perturbed(toy):
    lang = toy[0]
    den = PerturbedDenoiser(OracleDenoiser(lang), temperature=1.6, uniform_mix=0.1)
    table = mask_loss_table(lang, den, 5)
    return lang, den, table, mask_size_moments(table)


def _lang_strategy():
    return tiny_languages(max_vocab=3)


# ---------------------------------------------------------------------------------------------
# Identities of the oracle
# ---------------------------------------------------------------------------------------------
@given(_lang_strategy(), st.integers(2, 4))
def test_oracle_data_noise_equals_ar_loss_variance(lang, length):
    """C = Var_x(-log q(x)/L) exactly for the k-form and the eps = 0 t-form (closed form)."""
    length = max(length, lang.min_length())
    mom = mask_size_moments(mask_loss_table(lang, OracleDenoiser(lang), length), mirror=False)
    ar = mom.ar_loss_variance()
    tol = 1e-10 * max(1.0, ar)
    assert abs(decompose_k_estimator(mom).C - ar) <= tol
    cf0 = tv.uniform_time_closed_form(mom, 0.0)
    assert abs(cf0.C - ar) <= tol
    assert abs(cf0.mean - mom.nelbo_per_token()) <= 1e-10 * max(1.0, cf0.mean)
    # the eps floor moves C by O(eps) only
    assert abs(tv.uniform_time_closed_form(mom, 1e-9).C - ar) <= 1e-6 * max(1.0, ar)


# ---------------------------------------------------------------------------------------------
# Closed form vs quadrature; eps behaviour
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.3, 1e-2, 1e-4, 1e-7, 1e-10])
def test_closed_form_matches_quadrature(toy_perturbed, eps):
    mom = toy_perturbed[3]
    q = decompose_time_estimator(mom, eps)
    cf = tv.uniform_time_closed_form(mom, eps)
    for name in ("A", "B", "C", "total", "mean"):
        a, b = getattr(q, name), getattr(cf, name)
        assert abs(a - b) <= 1e-10 * max(1.0, abs(b)), (name, a, b)


def test_a_term_grows_like_log_inverse_eps(toy):
    """A(eps2) - A(eps1) = (E_x s_1/L) log(eps1/eps2) up to O(L eps1); B and C converge."""
    mom = toy[2]
    slope = tv.a_term_log_slope(mom)
    assert slope > 0
    eps = [1e-5, 1e-7, 1e-9, 1e-11]
    dec = [tv.uniform_time_closed_form(mom, e) for e in eps]
    for (e1, d1), (e2, d2) in zip(zip(eps, dec), zip(eps[1:], dec[1:])):
        growth = (d2.A - d1.A) / math.log(e1 / e2)
        assert abs(growth - slope) <= 20 * mom.length * e1 * max(1.0, slope)
        assert abs(d2.B - d1.B) <= 1e-3 * e1**0.5 + 1e-12
        assert abs(d2.C - d1.C) <= 1e-3 * e1**0.5 + 1e-12
    assert math.isinf(tv.uniform_time_closed_form(mom, 0.0).A)
    # the optimal proposal stays bounded as eps -> 0 (sqrt(M2) ~ pi^(-1/2) is integrable)
    vals = [tv.optimal_time_variance(mom, e) for e in (1e-4, 1e-7, 1e-10)]
    assert vals[2] - vals[1] < 0.1 * (vals[1] - vals[0]) + 1e-6


# ---------------------------------------------------------------------------------------------
# Monte Carlo checks
# ---------------------------------------------------------------------------------------------
def _assert_mc(checks, sigma=5.0):
    for ch in checks:
        assert abs(ch.z) <= sigma, (ch.name, ch.estimate, ch.exact, ch.stderr)


@pytest.mark.parametrize("masks", ["single", "mirror", "pair"])
def test_decomposition_matches_monte_carlo_uniform(toy_perturbed, masks):
    mom, table = toy_perturbed[3], toy_perturbed[2]
    eps = 0.05
    exact = decompose_time_estimator(mom, eps, UniformTime(), masks)
    draws = tv.sample_table_losses(table, eps, UniformTime(), masks, 200_000, make_generator(11))
    _assert_mc(tv.monte_carlo_checks(draws, exact))


@pytest.mark.parametrize("masks", ["single", "mirror"])
def test_decomposition_matches_monte_carlo_ppots_histogram(toy, masks):
    """Importance sampling of u from a samplable (histogram) version of the optimal density."""
    table, mom = toy[1], toy[2]
    eps = 1e-3
    hist = optimal_time_sampler(mom, eps, masks=masks).to_histogram(48, "log", eps)
    exact = decompose_time_estimator(mom, eps, hist, masks)
    assert abs(exact.mean - decompose_time_estimator(mom, eps).mean) <= 1e-12
    draws = tv.sample_table_losses(table, eps, hist, masks, 200_000, make_generator(12))
    _assert_mc(tv.monte_carlo_checks(draws, exact))


def test_decomposition_matches_end_to_end_monte_carlo(toy_perturbed):
    """x from language.sample and losses from denoiser calls (no table)."""
    lang, den, _, mom = toy_perturbed
    eps = 0.1
    for masks in ("single", "mirror"):
        exact = decompose_time_estimator(mom, eps, UniformTime(), masks)
        draws = tv.sample_denoiser_losses(lang, den, 5, eps, UniformTime(), masks, 30_000, make_generator(13))
        _assert_mc(tv.monte_carlo_checks(draws, exact))


def test_released_grid_sampler_bias_matches_monte_carlo(toy):
    """The StableDLLM grid sampler is biased (truncation + cell-mean density vs interpolated weight)."""
    table, mom = toy[1], toy[2]
    eps = 1e-3
    grid = paper_grid(12)
    w = proposal_curve(mom, eps, grid, "paper")
    released = tv.ReleasedGridTime(grid, w)
    exact = decompose_time_estimator(mom, eps, released)
    assert exact.bias < -1e-3  # truncation of [0, 1/b) dominates: missing mass of the mean
    draws = tv.sample_table_losses(table, eps, released, "single", 200_000, make_generator(14))
    _assert_mc(tv.monte_carlo_checks(draws, exact))
    # constant values on a full grid: exactly the uniform sampler
    flat = tv.ReleasedGridTime(np.linspace(0, 1, 9), np.ones(9))
    d_flat, d_uni = decompose_time_estimator(mom, eps, flat), decompose_time_estimator(mom, eps)
    assert abs(d_flat.total - d_uni.total) <= 1e-10 * d_uni.total and abs(d_flat.bias - d_uni.bias) <= 1e-13


def _exact_k_values(table, xi, k, r, g):
    """c(x, m)/(k L r_k) with exactly k uniformly chosen masked positions per row."""
    n, L = xi.shape[0], table.length
    rank = torch.rand((n, L), dtype=torch.float64, generator=g).argsort(1).argsort(1)
    return table.loss[xi, mask_index(rank < k.unsqueeze(1))] / (k * L * r[k - 1])


def test_k_form_matches_monte_carlo(toy_perturbed):
    table, mom = toy_perturbed[2], toy_perturbed[3]
    L, n = table.length, 200_000
    for proposal in (None, tv.optimal_k_proposal(mom)):
        exact = decompose_k_estimator(mom, proposal)
        r = torch.full((L,), 1 / L, dtype=torch.float64) if proposal is None else torch.as_tensor(proposal)
        g = make_generator(15)
        xi = torch.multinomial(table.prob, n, replacement=True, generator=g)

        k_a, k_b = (torch.multinomial(r, n, replacement=True, generator=g) + 1 for _ in range(2))
        draws = {key: _exact_k_values(table, xi, k, r, g) for key, k in (("a", k_a), ("a2", k_a), ("b", k_b))}
        _assert_mc(tv.monte_carlo_checks(draws, exact))
    assert decompose_k_estimator(mom, tv.optimal_k_proposal(mom)).total <= decompose_k_estimator(mom).total


# ---------------------------------------------------------------------------------------------
# P-POTS, MIRROR, stratification
# ---------------------------------------------------------------------------------------------
def test_ppots_optimum(toy_perturbed):
    mom = toy_perturbed[3]
    eps = 1e-3
    opt = decompose_time_estimator(mom, eps, optimal_time_sampler(mom, eps))
    closed = tv.optimal_time_variance(mom, eps)
    assert abs(opt.total - closed) <= 1e-9 * closed
    assert abs(opt.mean - decompose_time_estimator(mom, eps).mean) <= 1e-12
    assert abs(opt.C - decompose_time_estimator(mom, eps).C) <= 1e-12
    others = [
        UniformTime(),
        optimal_time_sampler(mom, eps, "paper"),
        optimal_time_sampler(mom, eps).to_histogram(32, "linear"),
    ]
    for lam in (0.1, 0.5):
        p = optimal_time_sampler(mom, eps)
        others.append(DensityTime(lambda u, p=p, lam=lam: (1 - lam) * p.density(u) + lam, f"mix{lam}"))
    for s in others:
        assert decompose_time_estimator(mom, eps, s).total >= opt.total * (1 - 1e-12), s.name


def test_epr_fit_recovers_its_own_family():
    """A curve from the EPR family is fitted with tiny KL; the fitted full-support sampler is unbiased."""
    grid = paper_grid(40)
    truth = tv.EPRFit({"a": 0.5, "b": 2.0, "A": 1.0, "r": 2.0, "q": 3.0, "kappa": 1.5, "m": 2.0}, 0.0, grid)
    fit = tv.fit_epr(grid, truth.curve(grid), n_starts=6, seed=0)
    assert fit.kl < 1e-4
    s = fit.full_support_sampler()
    assert abs(quadrature_integral(s.density, 0, 1) - 1) < 1e-10


def test_stratified_variance(toy_perturbed):
    mom, table = toy_perturbed[3], toy_perturbed[2]
    eps = 0.05
    iid = decompose_time_estimator(mom, eps).total
    for mode in ("independent", "systematic"):
        one = tv.stratified_time_variance(mom, eps, 1, mode)
        assert abs(one.total - iid) <= 1e-10 * iid
    n = 4
    ind = tv.stratified_time_variance(mom, eps, n, "independent")
    assert ind.total <= iid * (1 + 1e-12)
    assert abs(ind.A - decompose_time_estimator(mom, eps).A) <= 1e-10 * ind.A
    # Monte Carlo: batches of n with one u per stratum
    g = make_generator(16)
    batches = 100_000
    j = torch.arange(n).repeat(batches)
    u = (j + torch.rand(batches * n, dtype=torch.float64, generator=g)) / n
    xi = torch.multinomial(table.prob, batches * n, replacement=True, generator=g)
    pi = eps + (1 - eps) * u
    mask = torch.rand((batches * n, table.length), dtype=torch.float64, generator=g) < pi.unsqueeze(1)
    loss = table.loss[xi, mask_index(mask)] / (table.length * pi)
    means = loss.reshape(batches, n).mean(1)
    # n * Var(batch mean): compare E[n (mean - mu)^2] with its CLT error (mu known exactly)
    mu = decompose_time_estimator(mom, eps).mean
    vals = n * (means - mu) ** 2
    se = float(vals.std()) / math.sqrt(batches)
    assert abs(float(vals.mean()) - ind.total) <= 5 * se


def test_pre_estimate_converges_to_paper_curve(toy):
    """The MC pre-estimate (no clamping) is consistent with the exact paper-style curve."""
    table, mom = toy[1], toy[2]
    eps, grid = 1e-3, paper_grid(8)
    est = tv.pre_estimate_curve(table, eps, grid, 4000, 30, make_generator(17), loss_max=None)
    exact = proposal_curve(mom, eps, grid, "paper")
    np.testing.assert_allclose(est["w"], exact, rtol=0.05)


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------
def test_bad_inputs_raise(toy):
    mom = toy[2]
    with pytest.raises(ValueError):
        tv.ReleasedGridTime([0.1, 0.2], [1.0, 0.0])
    with pytest.raises(ValueError):
        tv.stratified_time_variance(mom, 1e-3, 2, "random")
