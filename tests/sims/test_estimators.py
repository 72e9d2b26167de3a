"""Exact estimator machinery (sims/estimators) against enumeration and brute force.

References used:
* brute-force enumeration of all masks (and all mask pairs for MIRROR) with explicit per-position laws;
* the brute-force denoiser (summation over all sequences, no forward-backward);
* the any-order autoregressive chain rule for the oracle;
* exact identities between mask schemes and the per-bin law of the histogram sampler.
Closed forms, Monte Carlo checks and the paper-level results are tested in tests/theory/test_variance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.base import DenoiserOutput, carry_over
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.enumeration import all_sequences
from sims.estimators import (
    MAX_MIRROR_LENGTH,
    HistogramTime,
    decompose_k_estimator,
    decompose_time_estimator,
    mask_loss_table,
    mask_matrix,
    mask_size_moments,
    mirror_covariance_map,
    mirror_joint_states,
    quadrature_integral,
    rate_moments,
)
from sims.estimators.position_table import position_loss_table
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.languages.random import random_hmm, random_ngram
from tests.strategies import tiny_languages


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
# Identities of the oracle; the loss table
# ---------------------------------------------------------------------------------------------
@given(_lang_strategy(), st.integers(2, 4))
def test_oracle_elbo_equals_minus_log_q(lang, length):
    """Any-order AR chain rule: sum_k mu_k(x)/k = -log q(x) for every support sequence."""
    length = max(length, lang.min_length())
    mom = mask_size_moments(mask_loss_table(lang, OracleDenoiser(lang), length), mirror=False)
    err = np.abs(mom.elbo_nll() + mom.log_q)
    assert err.max() <= 1e-10 * max(1.0, np.abs(mom.log_q).max())


def test_table_matches_brute_force_denoiser(toy):
    """The loss table from the forward-backward oracle equals the one from explicit summation."""
    lang = toy[0]
    lang_small = random_hmm(2, 3, seed=3)
    for lg, L in ((lang_small, 3), (lang, 3)):
        bf = BruteForceDenoiser(exact_log_joint(lg, L), lg.vocab_size, L)
        a = mask_loss_table(lg, OracleDenoiser(lg), L).loss
        b = mask_loss_table(lg, bf, L).loss
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_table_rejects_zero_probability_tokens(toy):
    lang = toy[0]

    class Wrong(OracleDenoiser):  # puts all mass on token 0 at masked positions
        def predict(self, tokens, t=None):
            out = super().predict(tokens, t)
            lp = torch.full_like(out.log_probs, -torch.inf)
            lp[..., 0] = 0.0
            return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), out.impossible)

    with pytest.raises(ValueError, match="probability zero"):
        mask_loss_table(lang, Wrong(lang), 3)


# ---------------------------------------------------------------------------------------------
# Grouped moments against direct enumeration of masks and mask pairs
# ---------------------------------------------------------------------------------------------
def _direct_rate_moments(table, eps, u):
    """g, m2 by summing over all 2^L masks; MIRROR cross moment over all 4^L mask pairs."""
    L = table.length
    c = table.loss.numpy()
    pi = eps + (1 - eps) * u
    masks = mask_matrix(L).numpy()
    k = masks.sum(1)
    pm = pi**k * (1 - pi) ** (L - k)
    scale = 1 / (L * pi)
    g = (c @ pm) * scale
    m2 = (c**2 @ pm) * scale**2
    both = max(0.0, 2 * pi - 1)
    law = {(1, 1): both, (1, 0): pi - both, (0, 1): pi - both, (0, 0): max(0.0, 1 - 2 * pi)}
    cross = np.zeros(c.shape[0])
    for i1 in range(2**L):
        for i2 in range(2**L):
            p = 1.0
            for pos in range(L):
                p *= law[(int(masks[i1, pos]), int(masks[i2, pos]))]
                if p == 0:
                    break
            if p:
                cross += p * c[:, i1] * c[:, i2]
    return g, m2, cross * scale**2


@pytest.mark.parametrize("u", [0.0, 0.13, 0.4999, 0.5, 0.77, 1.0])
def test_rate_moments_match_direct_enumeration(u):
    lang = random_ngram(2, 3, concentration=0.5, seed=2)
    table = mask_loss_table(lang, PerturbedDenoiser(OracleDenoiser(lang), temperature=1.3), 4)
    mom = mask_size_moments(table)
    eps = 1e-3
    rm = rate_moments(mom, eps, [u], mirror=True)
    g, m2, cross = _direct_rate_moments(table, eps, u)
    np.testing.assert_allclose(rm.g[:, 0], g, rtol=1e-12)
    np.testing.assert_allclose(rm.m2[:, 0], m2, rtol=1e-12)
    np.testing.assert_allclose(rm.cross[:, 0], cross, rtol=1e-11)


# ---------------------------------------------------------------------------------------------
# Decompositions: eps floor, mask schemes
# ---------------------------------------------------------------------------------------------
def test_eps_bias_is_small_and_exact(toy):
    """The eps floor biases the t-form by an exactly computed O(eps) amount; the k-form is unbiased."""
    mom = toy[2]
    for e in (1e-2, 1e-4):
        b = decompose_time_estimator(mom, e).bias
        assert 0 < b <= 2 * e * mom.nelbo_per_token()
    assert abs(decompose_k_estimator(mom).bias) <= 1e-12


def test_mirror_exact_properties(toy_perturbed):
    mom = toy_perturbed[3]
    eps = 1e-3
    single = decompose_time_estimator(mom, eps, masks="single")
    pair = decompose_time_estimator(mom, eps, masks="pair")
    mirror = decompose_time_estimator(mom, eps, masks="mirror")
    assert abs(pair.A - single.A / 2) <= 1e-12 * single.A
    for d in (pair, mirror):
        assert abs(d.B - single.B) <= 1e-12 * max(1, single.B) and abs(d.C - single.C) <= 1e-12
        assert d.rows_per_example == 2
    cmap = mirror_covariance_map(mom, eps, num_cells=50)
    assert 0.0 <= cmap.fraction_positive <= 1.0
    # exact A of MIRROR = E (v + cov)/2: consistent with the covariance map on the same cells
    assert np.all(np.isfinite(cmap.cov))


# ---------------------------------------------------------------------------------------------
# Input validation; rate laws; MIRROR masks
# ---------------------------------------------------------------------------------------------
def test_bad_inputs_raise(toy):
    mom = toy[2]
    with pytest.raises(ValueError):
        decompose_time_estimator(mom, 0.0)
    with pytest.raises(ValueError):
        decompose_time_estimator(mom, 1.5)
    with pytest.raises(ValueError):
        decompose_time_estimator(mom, 1e-3, masks="triple")
    with pytest.raises(ValueError):
        HistogramTime([0, 0.5, 0.4], [1, 1])
    with pytest.raises(ValueError):
        HistogramTime([0, 0.5, 1], [1, -1])
    with pytest.raises(ValueError):
        decompose_k_estimator(mom, [0.5, 0.5])
    with pytest.raises(ValueError):
        mirror_joint_states(MAX_MIRROR_LENGTH + 1)
    big = random_ngram(2, 8, seed=0)
    with pytest.raises(ValueError):
        mask_loss_table(big, OracleDenoiser(big), 12)


def test_histogram_sampler_law():
    """Samples of the histogram sampler follow its masses (chi-square-free check: per-bin 5 sigma)."""
    h = HistogramTime([0.0, 0.1, 0.5, 1.0], [0.2, 0.3, 0.5])
    u = h.sample(100_000, make_generator(18)).numpy()
    counts = np.histogram(u, bins=h.edges)[0] / u.size
    se = np.sqrt(h.masses * (1 - h.masses) / u.size)
    assert np.all(np.abs(counts - h.masses) <= 5 * se)
    assert abs(quadrature_integral(h.density, 0, 1, breakpoints=h.breakpoints) - 1) < 1e-12


def test_mirror_masks_are_complementary_and_marginally_bernoulli():
    """Exhaustive per-position law of the MIRROR construction at pi <= 1/2 and pi > 1/2."""
    st_ = mirror_joint_states(3)
    assert len(st_["n0"]) == 27
    for pi in (0.2, 0.7):
        low = pi <= 0.5
        m1 = st_["low1"] if low else st_["high1"]
        m2 = st_["low2"] if low else st_["high2"]
        p0, p1 = (1 - 2 * pi, pi) if low else (2 * pi - 1, 1 - pi)
        probs = p0 ** st_["n0"] * p1 ** (3 - st_["n0"])
        assert abs(probs.sum() - 1) < 1e-12
        for pos in range(3):
            assert abs(probs[(m1 >> pos) & 1 == 1].sum() - pi) < 1e-12
            assert abs(probs[(m2 >> pos) & 1 == 1].sum() - pi) < 1e-12
            both = probs[((m1 >> pos) & 1 == 1) & ((m2 >> pos) & 1 == 1)].sum()
            assert abs(both - max(0.0, 2 * pi - 1)) < 1e-12


def test_position_table_restriction(toy):
    """Restricting to every position (in order) gives the summed table; a sub-eligible set re-indexes its
    masks (bit i = eligible[i]) and counts only the requested positions."""
    lang, table, _ = toy
    lj = exact_log_joint(lang, 5)
    sup = torch.isfinite(lj)
    pt = position_loss_table(all_sequences(3, 5)[sup], lj[sup], OracleDenoiser(lang))
    assert torch.equal(pt.restrict(range(5)).loss, pt.masked_loss().loss)
    assert torch.allclose(pt.masked_loss().loss, table.loss, rtol=1e-13, atol=0)
    sub = pt.restrict([3, 1], count=[1])
    assert sub.length == 2
    # new mask 0b01 = position 3 masked only: position 1 revealed, so its counted loss is 0
    assert torch.all(sub.loss[:, 1] == 0)
    # new mask 0b10 = position 1 masked only = old mask 1 << 1
    assert torch.equal(sub.loss[:, 2], pt.loss[:, 1 << 1, 1])
    with pytest.raises(ValueError):
        pt.restrict([1, 1])
