"""Closed-form SER and KL on the hard languages vs exact sampler laws, brute-force assignments and Monte Carlo;
both perplexity directions on a language with zeros."""

import itertools
import math

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages.hard import block_parity_hmm, pair_copy_language, sparse_successor_chain
from sims.metrics import exact_law_metrics
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from theory.entropy_profile import ngram_profile, profile_by_enumeration
from theory.factorization import expected_kl_for_sampler, sampler_weights
from theory.information import joint_from_language
from theory.sequence_error import (
    block_expected_kl_bernoulli,
    block_expected_kl_fixed,
    block_failure_probability_fixed,
    block_failures_given_schedule,
    block_fixed_count_ser_monte_carlo,
    block_ser_bernoulli,
    monte_carlo_ser,
    oracle_sampled_ser,
    pair_ser_fixed,
    steps_for_pair_ser_bernoulli,
)

TOL = 1e-12


def exact_metrics(lang, sampler, L):
    law = exact_sampler_law(sampler, OracleDenoiser(lang, on_impossible="uniform"), L)
    return exact_law_metrics(exact_log_joint(lang, L), law, L)


@pytest.mark.parametrize("N,schedule", [(1, "linear"), (2, "linear"), (3, "cosine"), (5, "linear")])
@pytest.mark.parametrize(
    "lang,symbols,block",
    [(pair_copy_language(2), 2, 2), (pair_copy_language(3), 3, 2), (block_parity_hmm(3, 2), 2, 3)],
)
def test_bernoulli_ser_matches_exact_sampler_law(lang, symbols, block, N, schedule):
    L = 6 if symbols == 2 else 4
    sampler = AncestralSampler(N, schedule=schedule)
    m = exact_metrics(lang, sampler, L)
    w = sampler_weights(sampler)
    assert m.sequence_error == pytest.approx(block_ser_bernoulli(w, L, symbols, block), abs=TOL)


@pytest.mark.parametrize("counts", [[6], [3, 3], [2, 2, 2], [1, 2, 3], [4, 1, 1], [2, 1, 1, 2], [1] * 6])
def test_fixed_count_pair_dp_matches_exact_sampler_law(counts):
    lang = pair_copy_language(2)
    m = exact_metrics(lang, FixedCountSampler(len(counts), score="random", count_rule=counts), 6)
    assert pair_ser_fixed(counts, 2) == pytest.approx(m.sequence_error, abs=TOL)
    if counts == [1] * 6:
        assert pair_ser_fixed(counts, 2) == 0.0 and m.sequence_error == 0.0


@pytest.mark.parametrize("counts", [[3, 5], [2, 2, 2, 2], [1, 4, 3], [8], [5, 2, 1]])
@pytest.mark.parametrize("block", [2, 4])
def test_fixed_count_formulas_match_all_assignments(counts, block):
    L, V = 8, 3
    labels = [t for t, c in enumerate(counts) for _ in range(c)]
    assigns = torch.tensor(sorted(set(itertools.permutations(labels))))
    C = block_failures_given_schedule(assigns, block).double()
    assert block_failure_probability_fixed(counts, block) == pytest.approx(
        float(C.mean()) / (L // block), abs=TOL
    )
    if block == 2:
        assert pair_ser_fixed(counts, V) == pytest.approx(float((1 - V**-C).mean()), abs=TOL)


def test_pair_copy_kl_formulas_match_the_profile_area_formula():
    V, L = 8, 64
    prof = ngram_profile(pair_copy_language(V), L)  # closed-form chain profile (non-stationary, periodic)
    for N in (1, 4, 16, 32, 64):
        s = FixedCountSampler(N, score="random")
        assert expected_kl_for_sampler(prof, s) == pytest.approx(
            block_expected_kl_fixed(llada_counts(L, N), V), rel=1e-9, abs=1e-12
        )
        a = AncestralSampler(N)
        assert expected_kl_for_sampler(prof, a) == pytest.approx(
            block_expected_kl_bernoulli(sampler_weights(a), L, V), rel=1e-9
        )


def test_block_parity_kl_formula_matches_enumeration_profile():
    lang, L = block_parity_hmm(3, 2), 6
    prof = profile_by_enumeration(joint_from_language(lang, L))
    for counts in ([6], [3, 3], [1, 2, 3], [2, 2, 2]):
        s = FixedCountSampler(len(counts), score="random", count_rule=counts)
        assert expected_kl_for_sampler(prof, s) == pytest.approx(
            block_expected_kl_fixed(counts, 2, 3), abs=TOL
        )


def test_monte_carlo_helpers_agree_with_closed_forms():
    L, V = 64, 4
    s = FixedCountSampler(16, score="random")
    exact = pair_ser_fixed(llada_counts(L, 16), V)
    rb = block_fixed_count_ser_monte_carlo(s, L, V, 2, 20000, make_generator(0))
    assert abs(rb.mean - exact) <= 5 * rb.stderr
    lang = pair_copy_language(V)
    est = monte_carlo_ser(lang, AncestralSampler(24), 32, 1500, make_generator(1))
    ref = block_ser_bernoulli(sampler_weights(AncestralSampler(24)), 32, V)
    se = math.sqrt(ref * (1 - ref) / 1500)
    assert abs(est.p - ref) <= 5 * se


@pytest.mark.parametrize(
    "lang,engine,sampler",
    [
        (pair_copy_language(4), "nearest_neighbour", lambda p: FixedCountSampler(24, oracle_path=p)),
        (pair_copy_language(4), "nearest_neighbour", lambda p: AncestralSampler(24, oracle_path=p)),
        (block_parity_hmm(4, 2), "evidence_tree", lambda p: FixedCountSampler(24, oracle_path=p)),
    ],
)
def test_oracle_sampled_ser_is_the_same_on_both_oracle_paths(lang, engine, sampler):
    """The exact-law SER of the figures (oracle sampling) on the full and the incremental oracle path: same
    seed, same SER (the paths draw the same tokens), each path recorded; and it agrees with the closed
    form / exact DP (pair copy) within 5 standard errors."""
    L, n = 96, 192
    full = oracle_sampled_ser(lang, sampler("full"), L, n, make_generator(3), batch_size=64)
    fast = oracle_sampled_ser(lang, sampler("incremental"), L, n, make_generator(3), batch_size=64)
    assert (full.oracle_path, fast.oracle_path) == ("full", f"incremental:{engine}")
    assert (fast.ser, fast.ci_low, fast.ci_high, fast.n) == (full.ser, full.ci_low, full.ci_high, n)
    assert 0 < fast.ser < 1
    if isinstance(sampler("full"), FixedCountSampler) and engine == "nearest_neighbour":
        ref = pair_ser_fixed(llada_counts(L, 24), 4)
    elif engine == "nearest_neighbour":
        ref = block_ser_bernoulli(sampler_weights(AncestralSampler(24)), L, 4)
    else:
        ref = None
    if ref is not None:
        assert abs(fast.ser - ref) <= 5 * math.sqrt(ref * (1 - ref) / n)


def test_one_token_per_step_is_exact_but_bernoulli_at_n_equal_l_is_not():
    assert pair_ser_fixed(llada_counts(4096, 4096), 16) == 0.0
    # Bernoulli with N = L steps: SER -> 1 - exp(-(1-1/V)/2) (about 0.39 for large V)
    ser = block_ser_bernoulli([1 / 4096] * 4096, 4096, 1024)
    assert ser == pytest.approx(-math.expm1(-(1 - 1 / 1024) / 2), abs=1e-4)
    assert 0.39 < ser < 0.394


def test_steps_for_ser_inverts_the_closed_form():
    for L in (64, 1024):
        N = steps_for_pair_ser_bernoulli(0.05, L, 8)
        # the closed form with real-valued N (equal weights 1/N) gives exactly delta
        m = L // 2
        assert -math.expm1(m * math.log1p(-(1 - 1 / 8) / N)) == pytest.approx(0.05, rel=1e-10)


def test_generative_perplexity_diverges_once_ser_is_positive():
    """Both directions on a language with zeros: the theory's direction KL(q || p) stays finite while the
    generative direction E_p[-log q] is infinite as soon as SER > 0."""
    lang = sparse_successor_chain(3, offsets=(1, 2), weights=(0.5, 0.5))
    L = 5
    for N, finite_gen in ((5, True), (4, False), (2, False)):
        m = exact_metrics(lang, FixedCountSampler(N, score="random"), L)
        assert math.isfinite(m.kl_data_to_sampler) and math.isfinite(m.data_nll_per_token)
        assert (m.sequence_error == 0.0) == finite_gen
        assert math.isfinite(m.gen_nll_per_token) == finite_gen
        assert math.isfinite(m.kl_sampler_to_data) == finite_gen


def test_input_validation():
    with pytest.raises(ValueError):
        block_ser_bernoulli([0.5, 0.5], 7, 2)
    with pytest.raises(ValueError):
        pair_ser_fixed([3, 3], 2, max_cost=1.0)
    with pytest.raises(ValueError):
        steps_for_pair_ser_bernoulli(1.5, 64, 2)
    assert np.isclose(block_ser_bernoulli([1.0], 4, 2), 1 - 0.5**2)
