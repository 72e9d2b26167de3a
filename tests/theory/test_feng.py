"""Feng et al.'s qualitative claims, checked on exact quantities (the paper's constants are not asserted)."""

import math

import numpy as np
import pytest

from sims.registry import make_language
from sims.sampling.fixed_count import llada_counts
from theory.entropy_profile import ngram_profile
from theory.factorization import expected_kl_bernoulli, expected_kl_fixed_counts
from theory.feng import (
    FENG_CONSTANTS,
    li_cai_vacuity_steps,
    steps_for_per_token_kl,
    ter_min_length,
    ter_rate_shape,
    ter_steps_for_epsilon,
)
from theory.sequence_error import block_ser_bernoulli, pair_ser_fixed, steps_for_pair_ser_bernoulli


@pytest.fixture(scope="module")
def profiles():
    lang = make_language("ngram2")
    return {L: ngram_profile(lang, L) for L in (256, 1024, 4096)}


def per_token_fixed(prof, N):
    return expected_kl_fixed_counts(prof, llada_counts(prof.length, N)) / prof.length


def test_per_token_kl_at_fixed_steps_converges_in_length(profiles):
    # TER side: at fixed N the per-token excess cross-entropy has a finite limit as L grows (O(1) steps)
    for N in (2, 4, 16):
        a, b, c = (per_token_fixed(profiles[L], N) for L in (256, 1024, 4096))
        assert abs(c - b) < abs(b - a)  # differences shrink (boundary effects O(N/L))
        assert abs(c - b) / c < 0.02


def test_steps_for_per_token_target_do_not_grow_with_length(profiles):
    for eps in (0.1, 0.03):
        n = [steps_for_per_token_kl(profiles[L], eps, max_steps=64) for L in (256, 1024, 4096)]
        assert max(n) - min(n) <= 2, n


def test_exact_per_token_kl_decays_like_one_over_n(profiles):
    prof = profiles[4096]
    Ns = np.array([4, 8, 16, 32, 64, 128, 256, 512])
    fixed = [expected_kl_fixed_counts(prof, llada_counts(4096, int(N))) for N in Ns]
    D = prof.dependence_curve()
    bern = [expected_kl_bernoulli(prof, [1.0 / N] * int(N), D) for N in Ns]
    for kl in (fixed, bern):
        slope = np.polyfit(np.log(Ns), np.log(kl), 1)[0]
        assert -1.1 < slope < -0.95, slope
    # much faster than the shape of Feng's rate ((n-1)/N)^(1/n), slope -1/2 for bigrams
    assert ter_rate_shape(512, 2, 8) / ter_rate_shape(4, 2, 8) == pytest.approx((4 / 512) ** 0.5)


def test_ser_collapses_on_steps_over_length():
    V = 16
    for r in (0.25, 0.5, 1.0):
        b = [block_ser_bernoulli([1 / int(r * L)] * int(r * L), L, V) for L in (1024, 4096)]
        assert abs(b[0] - b[1]) < 2e-3
        assert b[1] == pytest.approx(-math.expm1(-(1 - 1 / V) / (2 * r)), abs=2e-3)
    f = [pair_ser_fixed(llada_counts(L, L // 4), V) for L in (256, 1024, 4096)]
    assert abs(f[2] - f[1]) < abs(f[1] - f[0]) + 1e-12 and abs(f[2] - f[1]) < 2e-3


def test_steps_for_ser_grow_linearly_in_length():
    n = np.array([steps_for_pair_ser_bernoulli(0.1, L, 16) for L in (256, 1024, 4096)])
    ratios = n[1:] / n[:-1]
    np.testing.assert_allclose(ratios, 4.0, rtol=1e-3)
    assert block_ser_bernoulli([1 / math.ceil(n[0])] * math.ceil(n[0]), 256, 16) <= 0.1


def test_constants_are_labelled_unverified():
    for c in FENG_CONSTANTS.values():
        assert "UNVERIFIED" in c.provenance
    assert ter_steps_for_epsilon(0.5, 2) == pytest.approx(4.0)
    assert ter_min_length(0.25, 2) == pytest.approx(1 / 0.25**2.5)
    assert li_cai_vacuity_steps(3) == 2 * 64
    with pytest.raises(ValueError):
        ter_rate_shape(4, 1, 8)
