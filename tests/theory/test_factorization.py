"""Factorization identities and exact expected KL of random-order samplers, against brute force.

References: per-order KL by teacher forcing over all sequences (sims.metrics.teacher_forced_log_likelihood),
per-order conditional total correlations from the joint table, averages over *all* ordered partitions /
step assignments (enumerated here), and the samplers' exact laws (sims.exact.exact_sampler_law).
"""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.random import random_ngram
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from tests.strategies import tiny_languages
from theory.entropy_profile import ngram_profile, profile_by_enumeration
from theory.factorization import (
    block_kl_by_enumeration,
    block_log_law,
    block_tc_terms,
    expected_kl_bernoulli,
    expected_kl_fixed_counts,
    expected_kl_for_sampler,
    learning_error_by_enumeration,
    learning_error_curve_by_enumeration,
    monte_carlo_expected_kl,
    monte_carlo_learning_sweep,
    sampler_counts,
    sampler_weights,
)
from theory.information import joint_from_language

TOL = 1e-10


def ordered_partitions(counts):
    """Every ordered partition of range(sum(counts)) with the given block sizes (each equally likely)."""
    L = sum(counts)

    def rec(remaining, sizes):
        if not sizes:
            yield []
            return
        for block in itertools.combinations(remaining, sizes[0]):
            rest = [i for i in remaining if i not in block]
            for tail in rec(rest, sizes[1:]):
                yield [list(block)] + tail

    yield from rec(list(range(L)), list(counts))


def assignment_blocks(assign, steps):
    return [[i for i, a in enumerate(assign) if a == t] for t in range(steps)]


compositions = st.integers(3, 5).flatmap(
    lambda L: st.lists(st.integers(1, L), min_size=1, max_size=L).map(lambda c: _fit(c, L))
)


def _fit(c, L):
    out, tot = [], 0
    for x in c:
        x = min(x, L - tot)
        if x > 0:
            out.append(x)
            tot += x
    if tot < L:
        out.append(L - tot)
    return out


@given(tiny_languages(), st.permutations(range(4)), st.lists(st.integers(1, 3), min_size=1, max_size=4))
def test_kl_identity_per_ordered_partition(lang, perm, sizes):
    L = 4
    counts = _fit(sizes, L)
    blocks, start = [], 0
    for c in counts:
        blocks.append(list(perm[start : start + c]))
        start += c
    j = joint_from_language(lang, L)
    kl = block_kl_by_enumeration(lang, L, blocks, OracleDenoiser(lang))
    assert kl == pytest.approx(sum(block_tc_terms(j, blocks)), abs=TOL)


def test_kl_identity_with_brute_force_denoiser():
    lang = random_ngram(3, 2, concentration=0.4, seed=3)
    L = 5
    lj = exact_log_joint(lang, L)
    bf = BruteForceDenoiser(lj, 2, L)
    j = joint_from_language(lang, L)
    for blocks in ([[0, 2, 4], [1, 3]], [[1], [0, 2], [3, 4]], [list(range(5))]):
        kl = block_kl_by_enumeration(lang, L, blocks, bf)
        assert kl == pytest.approx(sum(block_tc_terms(j, blocks)), abs=TOL)


@given(tiny_languages(), st.floats(0.5, 2.0), st.sampled_from([0.0, 0.1]), st.permutations(range(4)))
def test_learning_error_adds_exactly(lang, temperature, mix, perm):
    L = 4
    blocks = [list(perm[:2]), list(perm[2:3]), list(perm[3:])]
    oracle = OracleDenoiser(lang)
    model = PerturbedDenoiser(oracle, temperature=temperature, uniform_mix=mix)
    fac = block_kl_by_enumeration(lang, L, blocks, oracle)
    tot = block_kl_by_enumeration(lang, L, blocks, model)
    lea = learning_error_by_enumeration(lang, L, blocks, oracle, model)
    assert lea >= -TOL
    if math.isinf(tot):
        assert math.isinf(lea)
    else:
        assert tot == pytest.approx(fac + lea, abs=1e-9)


@given(tiny_languages(), compositions)
def test_area_formula_matches_all_ordered_partitions(lang, counts):
    L = sum(counts)
    j = joint_from_language(lang, L)
    brute = np.mean([sum(block_tc_terms(j, b)) for b in ordered_partitions(counts)])
    assert expected_kl_fixed_counts(profile_by_enumeration(j), counts) == pytest.approx(brute, abs=TOL)


@pytest.mark.parametrize("counts", [[5], [1] * 5, [2, 3], [3, 2], [1, 2, 2], [4, 1]])
def test_area_formula_against_teacher_forced_per_order_kl(counts):
    lang = random_ngram(2, 3, concentration=0.5, support_size=2, seed=4)
    L = 5
    oracle = OracleDenoiser(lang)
    brute = np.mean([block_kl_by_enumeration(lang, L, b, oracle) for b in ordered_partitions(counts)])
    prof = ngram_profile(lang, L)  # closed form, not enumeration
    assert expected_kl_fixed_counts(prof, counts) == pytest.approx(brute, abs=TOL)
    if counts == [5]:
        assert brute == pytest.approx(prof.total_correlation, abs=TOL)
    if counts == [1] * 5:
        assert expected_kl_fixed_counts(prof, counts) == 0.0


@given(tiny_languages(), st.integers(1, 3), st.integers(0, 2**20))
def test_bernoulli_formula_matches_all_step_assignments(lang, N, seed):
    L = 4
    w = np.random.default_rng(seed).dirichlet(np.ones(N))
    j = joint_from_language(lang, L)
    brute = 0.0
    for a in itertools.product(range(N), repeat=L):
        brute += float(np.prod(w[list(a)])) * sum(block_tc_terms(j, assignment_blocks(a, N)))
    assert expected_kl_bernoulli(profile_by_enumeration(j), w) == pytest.approx(brute, abs=TOL)


def _per_order_laws(lang, L, orders, oracle):
    seqs = all_sequences(lang.vocab_size, L)
    return torch.stack([torch.exp(block_log_law(oracle, seqs, b)) for b in orders])


@given(tiny_languages(max_vocab=2), st.sampled_from([[4], [2, 2], [1, 3], [3, 1], [1, 1, 2]]))
def test_fixed_count_sampler_law_is_the_uniform_mixture_of_product_laws(lang, counts):
    L = 4
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    sampler = FixedCountSampler(len(counts), score="random", count_rule=counts)
    assert sampler_counts(sampler, L) == counts
    law = exact_sampler_law(sampler, oracle, L)
    orders = list(ordered_partitions(counts))
    per = _per_order_laws(lang, L, orders, oracle)
    torch.testing.assert_close(law, per.mean(0), atol=1e-12, rtol=0)
    q = torch.exp(exact_log_joint(lang, L))
    mixture_kl = kl_divergence(q, law)
    expected = expected_kl_for_sampler(profile_by_enumeration(joint_from_language(lang, L)), sampler)
    assert mixture_kl <= expected + TOL  # convexity: KL(q || E_M p_M) <= E_M KL(q || p_M)


@given(tiny_languages(max_vocab=2), st.integers(1, 3), st.sampled_from(["linear", "cosine"]))
def test_ancestral_sampler_law_is_the_bernoulli_mixture(lang, N, schedule):
    L = 4
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    sampler = AncestralSampler(N, schedule=schedule)
    w = sampler_weights(sampler)
    law = exact_sampler_law(sampler, oracle, L)
    assigns = list(itertools.product(range(N), repeat=L))
    probs = torch.tensor([float(np.prod(w[list(a)])) for a in assigns], dtype=torch.float64)
    per = _per_order_laws(lang, L, [assignment_blocks(a, N) for a in assigns], oracle)
    torch.testing.assert_close(law, probs @ per, atol=1e-12, rtol=0)
    q = torch.exp(exact_log_joint(lang, L))
    expected = expected_kl_for_sampler(profile_by_enumeration(joint_from_language(lang, L)), sampler)
    assert kl_divergence(q, law) <= expected + TOL


def test_expected_learning_term_under_random_orders():
    lang = random_ngram(2, 3, concentration=0.5, seed=9)
    L = 4
    oracle = OracleDenoiser(lang)
    model = PerturbedDenoiser(oracle, temperature=1.5)
    ell = learning_error_curve_by_enumeration(lang, L, oracle, model)
    for counts in ([4], [2, 2], [1, 3], [1, 1, 1, 1]):
        orders = list(ordered_partitions(counts))
        tot = np.mean([block_kl_by_enumeration(lang, L, b, model) for b in orders])
        fac = np.mean([block_kl_by_enumeration(lang, L, b, oracle) for b in orders])
        k_prev = np.concatenate([[0], np.cumsum(counts)[:-1]])
        assert tot - fac == pytest.approx(float(np.dot(counts, ell[k_prev])), abs=TOL)


@pytest.mark.parametrize("sampler", [FixedCountSampler(4, score="random"), AncestralSampler(8)])
def test_monte_carlo_expected_kl_agrees_with_exact(sampler):
    lang = random_ngram(2, 4, concentration=0.5, support_size=3, stationary=True, seed=1)
    L = 32
    exact = expected_kl_for_sampler(ngram_profile(lang, L), sampler)
    est = monte_carlo_expected_kl(lang, sampler, L, 1500, make_generator(3))
    assert abs(est.total.mean - exact) <= 5 * est.total.stderr, (est.total, exact)
    oracle = OracleDenoiser(lang)
    model = PerturbedDenoiser(oracle, temperature=1.3)
    est2 = monte_carlo_expected_kl(lang, sampler, L, 300, make_generator(4), model=model, oracle=oracle)
    assert est2.total.mean == pytest.approx(est2.factorization.mean + est2.learning.mean, abs=1e-9)
    assert est2.learning.mean > 0 and est2.infinite_fraction == 0.0


def test_sampler_helpers_reject_non_product_rules():
    with pytest.raises(ValueError):
        sampler_counts(FixedCountSampler(4, score="max_prob"), 8)
    with pytest.raises(ValueError):
        sampler_counts(FixedCountSampler(4, score="random", block_length=4), 8)
    with pytest.raises(ValueError):
        sampler_weights(AncestralSampler(4, t_min=1e-5))
    with pytest.raises(ValueError):
        expected_kl_fixed_counts(ngram_profile(random_ngram(2, 2, seed=0), 4), [2, 1])
    with pytest.raises(ValueError):
        expected_kl_bernoulli(ngram_profile(random_ngram(2, 2, seed=0), 4), [0.5, 0.6])


def test_learning_sweep_matches_separate_estimates():
    lang = random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=2)
    s = FixedCountSampler(4, score="random")
    wrappers = {
        "t1.3": lambda d: PerturbedDenoiser(d, temperature=1.3),
        "mix": lambda d: PerturbedDenoiser(d, uniform_mix=0.05),
    }
    sweep = monte_carlo_learning_sweep(lang, s, 16, 64, make_generator(7), wrappers)
    oracle = OracleDenoiser(lang)
    for name, wrap in wrappers.items():
        single = monte_carlo_expected_kl(
            lang, s, 16, 64, make_generator(7), model=wrap(oracle), oracle=oracle
        )
        assert sweep[name].total.mean == pytest.approx(single.total.mean, abs=1e-10)
        assert sweep[name].learning.mean == pytest.approx(single.learning.mean, abs=1e-10)
    assert sweep["oracle"].total.mean == pytest.approx(single.factorization.mean, abs=1e-10)
