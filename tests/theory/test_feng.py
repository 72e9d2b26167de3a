"""Feng et al.'s qualitative claims, checked on exact quantities (the paper's constants are not asserted), and the
library behind the step-count figures (model calls, slopes, steps needed, the best SER method)."""

import itertools
import math

import numpy as np
import pytest

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages.hard import sparse_successor_chain
from sims.metrics import exact_law_metrics
from sims.registry import make_language
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from theory.entropy_profile import ngram_profile
from theory.factorization import expected_kl_bernoulli, expected_kl_fixed_counts
from theory.feng import (
    FENG_CONSTANTS,
    expected_calls,
    li_cai_vacuity_steps,
    loglog_slope,
    steps_for_per_token_kl,
    ter_min_length,
    ter_rate_shape,
    ter_steps_for_epsilon,
)
from theory.feng_study import steps_needed_record, steps_needed_slopes, ter_exact_records
from theory.sequence_error import (
    PAIR_DP_MAX_COST,
    block_language_ser,
    block_ser_bernoulli,
    pair_dp_cost,
    pair_ser_fixed,
    steps_for_pair_ser_bernoulli,
    steps_for_pair_ser_fixed,
)


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


# ---- model calls, slopes, the steps-for-SER bisection and the best-method dispatch ----------------------
@pytest.mark.parametrize("L,K", [(3, 1), (3, 2), (4, 3), (5, 4)])
def test_expected_calls_count_non_empty_steps_over_all_assignments(L, K):
    """Bernoulli rule with equal weights: E[#non-empty steps] over all K^L equally likely step assignments."""
    brute = np.mean([len(set(a)) for a in itertools.product(range(K), repeat=L)])
    assert expected_calls("bernoulli", L, K) == pytest.approx(brute, rel=1e-12)
    assert expected_calls("fixed", L, min(K, L)) == min(K, L)
    with pytest.raises(ValueError):
        expected_calls("fixed", 3, 4)


def test_expected_calls_match_the_samplers_measured_calls():
    lang = make_language("ngram2")
    res = AncestralSampler(64).sample(
        OracleDenoiser(lang, on_impossible="uniform"), 256, 64, make_generator(3)
    )
    nfe = res.nfe.double()
    se = float(nfe.std() / math.sqrt(nfe.numel()))
    assert abs(float(nfe.mean()) - expected_calls("bernoulli", 64, 64)) <= 5 * se
    assert expected_calls("bernoulli", 64, 64) < 64


def test_loglog_slope():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert loglog_slope(x, 3 * x**-1.5) == pytest.approx(-1.5, rel=1e-12)
    with pytest.raises(ValueError):
        loglog_slope([1.0, 2.0], [1.0, 0.0])


def test_steps_for_pair_ser_fixed_is_a_verified_crossing():
    for L in (64, 128):
        K = steps_for_pair_ser_fixed(0.1, L, 16)
        assert pair_ser_fixed(llada_counts(L, K), 16) <= 0.1 < pair_ser_fixed(llada_counts(L, K - 1), 16)
    assert steps_for_pair_ser_fixed(0.1, 128, 16) > steps_for_pair_ser_fixed(0.1, 64, 16)
    with pytest.raises(ValueError):
        steps_for_pair_ser_fixed(1.5, 64, 16)


def test_block_language_ser_uses_the_best_available_method():
    g = make_generator(0)
    b = block_language_ser("bernoulli", 64, 16, 16, 2, g, 100)
    assert b.method == "exact closed form" and b.ser == block_ser_bernoulli([1 / 16] * 16, 64, 16)
    d = block_language_ser("fixed", 64, 16, 16, 2, g, 100)
    assert d.method == "exact DP" and d.ser == pair_ser_fixed(llada_counts(64, 16), 16)
    assert pair_dp_cost(llada_counts(64, 16)) <= PAIR_DP_MAX_COST
    mc = block_language_ser("fixed", 64, 16, 16, 2, g, 4000, max_cost=1.0)  # DP too costly -> RB-MC
    assert mc.method.startswith("Rao-Blackwellised") and mc.ci_low <= d.ser <= mc.ci_high
    parity = block_language_ser("fixed", 64, 16, 2, 4, g, 500)
    assert parity.method.startswith("Rao-Blackwellised") and parity.n == 500
    with pytest.raises(ValueError):
        block_language_ser("ancestral", 64, 16, 16, 2, g, 10)


def test_tempered_oracle_keeps_zeros_and_uniform_mixing_does_not():
    """Exact laws with one token per step: a tempered oracle never leaves the support (SER 0), mixing does."""
    lang = sparse_successor_chain(3, offsets=(1, 2))
    L, oracle = 4, OracleDenoiser(lang, on_impossible="uniform")
    lq = exact_log_joint(lang, L)
    for params, zero in (
        ({"temperature": 0.5}, True),
        ({"temperature": 2.0}, True),
        ({"uniform_mix": 0.05}, False),
    ):
        law = exact_sampler_law(FixedCountSampler(L, score="random"), PerturbedDenoiser(oracle, **params), L)
        ser = exact_law_metrics(lq, law, L).sequence_error
        assert (ser == 0.0) == zero and (zero or ser > 0)


def test_study_records_use_the_closed_forms(profiles):
    prof = profiles[256]
    recs = ter_exact_records(prof, "ngram2", [4, 16])
    fixed = [r for r in recs if r["rule"] == "fixed"]
    assert fixed[0]["kl_per_token"] == per_token_fixed(prof, 4)
    assert all(r["calls"] == expected_calls(r["rule"], 256, r["steps"]) for r in recs)
    rec = steps_needed_record("ter", "fixed", 0.05, 256, profile=prof)
    assert rec["steps"] == steps_for_per_token_kl(prof, 0.05) and rec["calls"] == rec["steps"]
    rec = steps_needed_record("ser", "bernoulli", 0.1, 256)
    assert (
        rec["steps"] == math.ceil(steps_for_pair_ser_bernoulli(0.1, 256, 16)) and rec["calls"] < rec["steps"]
    )
    rows = [
        {"side": "ser", "rule": "fixed", "target": 0.1, "length": L, "steps": 2 * L, "calls": 2 * L}
        for L in (8, 16, 32)
    ]
    assert steps_needed_slopes(rows)["ser|fixed|0.1"] == pytest.approx(1.0, rel=1e-12)
