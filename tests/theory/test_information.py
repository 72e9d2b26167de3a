"""Information quantities: identities on exact joints, n-gram closed forms and HMM Monte Carlo vs enumeration."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.languages.random import random_hmm, random_ngram
from tests.strategies import tiny_hmms, tiny_languages, tiny_ngrams
from theory.information import (
    conditional_entropy,
    conditional_total_correlation,
    dual_total_correlation,
    entropy,
    hmm_information_estimate,
    hmm_leave_one_out_log_probs,
    information_by_enumeration,
    joint_entropy,
    joint_from_language,
    leave_one_out_informations,
    ngram_information,
    total_correlation,
)

TOL = 1e-10


@given(tiny_languages(), st.integers(2, 4))
def test_enumeration_identities(lang, L):
    j = joint_from_language(lang, L)
    info = information_by_enumeration(j)
    assert info.entropy == pytest.approx(
        lang.entropy(L), abs=TOL
    )  # independent path (language's own entropy)
    I = leave_one_out_informations(j)
    assert np.all(I >= -TOL)
    assert info.sum_mutual_information == pytest.approx(I.sum(), abs=TOL)
    assert info.sum_mutual_information == pytest.approx(
        info.total_correlation + info.dual_total_correlation, abs=TOL
    )
    assert total_correlation(j) == pytest.approx(info.total_correlation, abs=TOL)
    assert dual_total_correlation(j) == pytest.approx(info.dual_total_correlation, abs=TOL)
    assert info.total_correlation >= -TOL and info.dual_total_correlation >= -TOL
    # conditional TC is non-negative and the chain rule of conditional entropy holds
    for A, C in [((0, 1), ()), ((0, L - 1), (1,)), (tuple(range(L)), ())]:
        A = [a for a in A if a not in C]
        assert conditional_total_correlation(j, A, list(C)) >= -TOL
    assert conditional_entropy(j, [0], []) == pytest.approx(joint_entropy(j, [0]), abs=TOL)


def test_total_correlation_of_independent_and_copy_laws():
    p = np.array([0.2, 0.3, 0.5])
    j = np.einsum("a,b,c->abc", p, p, p)
    assert total_correlation(j) == pytest.approx(0.0, abs=1e-14)
    assert dual_total_correlation(j) == pytest.approx(0.0, abs=1e-14)
    copy = np.zeros((3, 3, 3))
    for a in range(3):
        copy[a, a, a] = p[a]
    h = entropy(p)
    assert total_correlation(copy) == pytest.approx(2 * h, abs=1e-14)  # TC = (L-1) H for L identical copies
    assert dual_total_correlation(copy) == pytest.approx(h, abs=1e-14)


@given(tiny_ngrams(max_order=3), st.integers(1, 5))
def test_ngram_closed_form_matches_enumeration(lang, L):
    L = max(L, lang.min_length())
    a = information_by_enumeration(joint_from_language(lang, L))
    b = ngram_information(lang, L)
    assert b.entropy == pytest.approx(a.entropy, abs=TOL)
    assert b.sum_marginal_entropy == pytest.approx(a.sum_marginal_entropy, abs=TOL)
    assert b.sum_leave_one_out_entropy == pytest.approx(a.sum_leave_one_out_entropy, abs=TOL)


@pytest.mark.parametrize("order", [2, 3])
def test_ngram_stationary_shortcut_matches_general_path(order):
    lang = random_ngram(order, 3, concentration=0.5, stationary=True, seed=7)
    L = 40
    fast = ngram_information(lang, L)
    assert "stationary" in fast.method
    # the general (per-position) path must give the same numbers when the shortcut is disabled
    import theory.information as info_mod

    orig = info_mod.is_stationary_context_law
    info_mod.is_stationary_context_law = lambda *a, **k: False
    try:
        slow = ngram_information(lang, L)
    finally:
        info_mod.is_stationary_context_law = orig
    assert slow.method == "ngram closed form"
    for f in ("entropy", "sum_marginal_entropy", "sum_leave_one_out_entropy"):
        assert getattr(fast, f) == pytest.approx(getattr(slow, f), rel=1e-12)


@given(tiny_hmms(max_states=3, max_vocab=3), st.integers(1, 5), st.integers(0, 2**20))
def test_hmm_leave_one_out_matches_oracle(lang, L, seed):
    x = lang.sample(8, L, make_generator(seed))
    got = hmm_leave_one_out_log_probs(lang, x)
    oracle = OracleDenoiser(lang)
    for t in range(L):
        masked = x.clone()
        masked[:, t] = lang.vocab_size
        ref = oracle(masked).log_probs[:, t]
        torch.testing.assert_close(torch.exp(got[:, t]), torch.exp(ref), atol=1e-12, rtol=0)


def test_hmm_information_estimate_agrees_with_enumeration():
    lang = random_hmm(3, 3, transition_concentration=0.3, emission_concentration=0.5, seed=4)
    L = 6
    exact = information_by_enumeration(joint_from_language(lang, L))
    est = hmm_information_estimate(lang, L, 6000, make_generator(11))
    assert est.sum_marginal_entropy == pytest.approx(exact.sum_marginal_entropy, abs=1e-12)
    for name, ref in [
        ("entropy", exact.entropy),
        ("sum_leave_one_out_entropy", exact.sum_leave_one_out_entropy),
        ("sum_mutual_information", exact.sum_mutual_information),
        ("total_correlation", exact.total_correlation),
        ("dual_total_correlation", exact.dual_total_correlation),
    ]:
        e = getattr(est, name)
        assert abs(e.mean - ref) <= 5 * e.stderr, (name, e, ref)


def test_bad_input():
    with pytest.raises(ValueError):
        entropy([0.5, -0.1])
    with pytest.raises(ValueError):
        total_correlation(np.ones((2, 3)) / 6)
    with pytest.raises(ValueError):
        conditional_total_correlation(np.ones((2, 2)) / 4, [0], [0])
    with pytest.raises(TypeError):
        ngram_information(random_hmm(2, 2, seed=0), 4)
    with pytest.raises(ValueError):
        hmm_leave_one_out_log_probs(random_hmm(2, 2, seed=0), torch.tensor([[0, 2]]))
