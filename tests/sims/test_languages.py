"""Languages against brute-force enumeration: normalisation, entropy, sampling law, support, validation."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.exact import all_sequences, exact_log_joint
from sims.languages import HMMLanguage, NGramLanguage, random_hmm, random_ngram
from sims.validation import InvalidDistributionError
from tests.helpers import chi_square_pvalue
from tests.strategies import tiny_hmms, tiny_languages, tiny_ngrams


def _length(lang, extra):
    return lang.min_length() + extra


@given(tiny_languages(), st.integers(0, 3))
def test_log_prob_sums_to_one(lang, extra):
    L = _length(lang, extra)
    lj = exact_log_joint(lang, L)
    assert abs(float(torch.logsumexp(lj, 0))) < 1e-12


@given(tiny_languages(), st.integers(0, 3))
def test_entropy_matches_enumeration(lang, extra):
    L = _length(lang, extra)
    p = torch.exp(exact_log_joint(lang, L))
    h = float(-torch.special.xlogy(p, p).sum())
    assert lang.entropy(L) == pytest.approx(h, rel=1e-10, abs=1e-12)
    assert lang.optimal_perplexity(L) == pytest.approx(math.exp(h / L), rel=1e-10)


@given(tiny_ngrams(), st.integers(0, 3))
def test_ngram_direct_log_prob_equals_chain_forward(lang, extra):
    """The direct n-gram path and the lifted-chain forward algorithm are independent code paths."""
    L = _length(lang, extra)
    seqs = all_sequences(lang.vocab_size, L)
    direct = lang.log_prob(seqs)
    via_chain = lang.log_prob_revealed(seqs)
    finite = torch.isfinite(direct)
    assert torch.equal(finite, torch.isfinite(via_chain))
    assert torch.allclose(direct[finite], via_chain[finite], rtol=1e-12, atol=1e-12)


@given(tiny_languages(), st.integers(0, 2), st.integers(0, 10**6))
def test_sampling_frequencies_match_exact_law(lang, extra, seed):
    L = _length(lang, extra)
    law = torch.exp(exact_log_joint(lang, L))
    x = lang.sample(4000, L, make_generator(seed))
    assert chi_square_pvalue(x, law, lang.vocab_size) > 1e-6


@given(tiny_languages(sparse=True), st.integers(0, 2))
def test_support_membership(lang, extra):
    L = _length(lang, extra)
    seqs = all_sequences(lang.vocab_size, L)
    lp = lang.log_prob(seqs)
    assert torch.equal(lang.in_support(seqs), torch.isfinite(lp))
    x = lang.sample(500, L, make_generator(1))
    assert bool(lang.in_support(x).all()), "exact sampling produced a zero-probability sequence"


@given(tiny_ngrams(sparse=True), st.integers(0, 3))
def test_token_violations_characterise_support(lang, extra):
    L = _length(lang, extra)
    seqs = all_sequences(lang.vocab_size, L)
    assert torch.equal(~lang.token_violations(seqs).any(1), lang.in_support(seqs))


def test_bigram_equals_hmm_with_identity_emission():
    ng = random_ngram(2, 4, concentration=0.5, support_size=2, seed=3)
    hmm = HMMLanguage(ng.initial, ng.transition, torch.eye(4, dtype=torch.float64))
    seqs = all_sequences(4, 5)
    a, b = ng.log_prob(seqs), hmm.log_prob(seqs)
    assert torch.equal(torch.isfinite(a), torch.isfinite(b))
    assert torch.allclose(a[torch.isfinite(a)], b[torch.isfinite(b)], rtol=1e-12)
    assert ng.entropy(5) == pytest.approx(hmm.entropy(5), rel=1e-12)


@pytest.mark.parametrize("order", [2, 3])
def test_stationary_ngram_has_constant_marginals_and_entropy_rate(order):
    lang = random_ngram(order, 3, concentration=0.7, stationary=True, seed=11)
    mus = lang.context_marginals(12)
    assert torch.allclose(mus, mus[0].expand_as(mus), atol=1e-12)
    # H(L+1) - H(L) equals the entropy rate for a stationary start
    assert lang.entropy(12) - lang.entropy(11) == pytest.approx(lang.entropy_rate(), rel=1e-10)


def test_order_one_is_iid():
    lang = random_ngram(1, 5, seed=2)
    p = lang.transition[0]
    h1 = float(-(p * p.log()).sum())
    assert lang.entropy(7) == pytest.approx(7 * h1, rel=1e-12)
    x = all_sequences(5, 2)
    assert torch.allclose(lang.log_prob(x), p.log()[x].sum(1))


def test_hmm_entropy_estimate_brackets_exact():
    lang = random_hmm(3, 3, seed=4)
    est = lang.entropy_estimate(6, 20000, make_generator(0))
    exact = lang.entropy(6)
    assert abs(est.mean - exact) < 5 * est.stderr


def test_hmm_entropy_refuses_large_enumeration():
    lang = random_hmm(3, 8, seed=4)
    with pytest.raises(NotImplementedError, match="entropy_estimate"):
        lang.entropy(64)


# ---- validation --------------------------------------------------------------------------------
def test_non_stochastic_row_is_named():
    trans = np.array([[0.5, 0.5], [0.3, 0.6]])
    with pytest.raises(InvalidDistributionError, match=r"row \(1,\)"):
        NGramLanguage(2, 2, [0.5, 0.5], trans)


@pytest.mark.parametrize(
    "bad, msg",
    [
        ([[0.5, float("nan")], [0.5, 0.5]], "non-finite"),
        ([[1.5, -0.5], [0.5, 0.5]], "negative"),
        ([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], "needs 2x2"),
    ],
)
def test_bad_tables_raise(bad, msg):
    with pytest.raises(InvalidDistributionError, match=msg):
        NGramLanguage(2, 2, [0.5, 0.5], bad)


def test_hmm_shape_errors():
    with pytest.raises(InvalidDistributionError, match="expected shape"):
        HMMLanguage([1.0], [[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0]])
    with pytest.raises(InvalidDistributionError, match="expected shape"):
        HMMLanguage([0.5, 0.5], [[1.0]], [[1.0, 0.0], [0.0, 1.0]])


def test_token_and_length_errors():
    lang = random_ngram(3, 3, seed=0)
    with pytest.raises(ValueError, match="token ids"):
        lang.log_prob(torch.tensor([[0, 1, 3]]))
    with pytest.raises(ValueError, match="integer tensor"):
        lang.log_prob(torch.tensor([[0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="length >= 2"):
        lang.sample(2, 1, make_generator(0))
    with pytest.raises(ValueError, match="must be >= 1"):
        lang.sample(2, 0, make_generator(0))


def test_initial_joint_accepts_tensor_shape():
    V = 3
    rng = np.random.default_rng(0)
    init = rng.dirichlet(np.ones(V * V)).reshape(V, V)
    trans = rng.dirichlet(np.ones(V), size=(V, V))
    lang = NGramLanguage(3, V, init, trans)
    assert abs(float(torch.logsumexp(exact_log_joint(lang, 4), 0))) < 1e-12


def test_random_generators_are_seeded_and_sparse():
    a = random_ngram(2, 6, support_size=2, seed=5)
    b = random_ngram(2, 6, support_size=2, seed=5)
    assert torch.equal(a.transition, b.transition)
    assert torch.equal((a.transition > 0).sum(1), torch.full((6,), 2))
    h = random_hmm(4, 5, transition_support=2, emission_support=3, stationary=True, seed=1)
    assert torch.allclose(h.initial @ h.transition, h.initial, atol=1e-12)
    assert torch.equal((h.emission > 0).sum(1), torch.full((4,), 3))


@given(tiny_hmms(), st.integers(1, 4))
def test_hmm_token_marginals_match_enumeration(lang, L):
    seqs = all_sequences(lang.vocab_size, L)
    p = torch.exp(lang.log_prob(seqs))
    for i in range(L):
        marg = torch.zeros(lang.vocab_size, dtype=torch.float64).index_add_(0, seqs[:, i], p)
        assert torch.allclose(lang.token_marginals(L)[i], marg, atol=1e-12)
