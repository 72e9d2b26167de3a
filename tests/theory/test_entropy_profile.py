"""Entropy profile h(k), Delta h(k), dependence D(k): enumeration properties, chain closed forms, Monte Carlo."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.languages.hard import pair_copy_language
from sims.languages.random import random_hmm, random_ngram
from tests.strategies import tiny_languages, tiny_ngrams
from theory.entropy_profile import (
    TabulatedProfile,
    markov_chain_profile,
    monte_carlo_dependence,
    ngram_profile,
    profile_by_enumeration,
)
from theory.information import information_by_enumeration, joint_from_language, ngram_information

TOL = 1e-10


@given(tiny_languages(), st.integers(1, 5))
def test_enumeration_profile_properties(lang, L):
    L = max(L, lang.min_length())
    j = joint_from_language(lang, L)
    prof = profile_by_enumeration(j)
    info = information_by_enumeration(j)
    k = np.arange(L)
    dh = prof.delta_h(k)
    assert np.all(np.diff(dh) <= TOL)  # submodularity
    assert prof.h([L])[0] == pytest.approx(info.entropy, abs=TOL)
    assert L * dh[0] == pytest.approx(info.sum_marginal_entropy, abs=TOL)
    assert L * dh[-1] == pytest.approx(info.sum_leave_one_out_entropy, abs=TOL)
    assert prof.sum_mutual_information == pytest.approx(info.sum_mutual_information, abs=TOL)
    assert prof.total_correlation == pytest.approx(info.total_correlation, abs=TOL)
    D = prof.dependence(k)
    assert D[0] == 0.0 and np.all(np.diff(D) >= -TOL)
    assert D.sum() == pytest.approx(prof.total_correlation, abs=TOL)


def _compare(a, b, L):
    k, kd = np.arange(L + 1), np.arange(L)
    np.testing.assert_allclose(a.h(k), b.h(k), atol=TOL, rtol=0)
    np.testing.assert_allclose(a.dependence(kd), b.dependence(kd), atol=TOL, rtol=0)
    np.testing.assert_allclose(a.cumulative_dependence(k), b.cumulative_dependence(k), atol=TOL, rtol=0)
    assert a.entropy == pytest.approx(b.entropy, abs=TOL)


@given(tiny_ngrams(max_vocab=3, max_order=2), st.integers(1, 6))
def test_chain_closed_form_matches_enumeration(lang, L):
    _compare(ngram_profile(lang, L), profile_by_enumeration(joint_from_language(lang, L)), L)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_closed_form_matches_enumeration(seed):
    lang = random_ngram(2, 3, concentration=0.4, stationary=True, seed=seed)
    prof = ngram_profile(lang, 7)
    assert prof.method.startswith("stationary")
    _compare(prof, profile_by_enumeration(joint_from_language(lang, 7)), 7)


def test_periodic_pair_copy_chain_matches_enumeration():
    lang = pair_copy_language(2)
    for L in (2, 5, 6):
        _compare(ngram_profile(lang, L), profile_by_enumeration(joint_from_language(lang, L)), L)


def test_stationary_and_general_forms_agree_at_large_length():
    lang = random_ngram(2, 5, concentration=0.5, stationary=True, seed=3)
    P, pi = lang.transition.numpy(), lang.initial.numpy()
    L = 300
    a = markov_chain_profile(pi, P, L, stationary=True)
    b = markov_chain_profile(pi, P, L, stationary=False)
    k = np.arange(0, L, 7)
    np.testing.assert_allclose(a.dependence(k), b.dependence(k), atol=1e-11, rtol=1e-9)
    np.testing.assert_allclose(a.cumulative_dependence(k), b.cumulative_dependence(k), atol=1e-9, rtol=1e-11)


@pytest.mark.parametrize("stationary", [True, False])
def test_chain_profile_identities_at_large_length(stationary):
    lang = random_ngram(2, 8, concentration=0.5, support_size=4, stationary=stationary, seed=5)
    L = 1024
    prof = ngram_profile(lang, L)
    info = ngram_information(lang, L)  # independent closed form (windows, not pair gaps)
    D = prof.dependence_curve()
    assert D[0] == 0.0 and np.all(np.diff(D) >= -1e-12)
    assert D.sum() == pytest.approx(prof.total_correlation, rel=1e-10)
    assert prof.total_correlation == pytest.approx(info.total_correlation, rel=1e-10)
    assert prof.sum_mutual_information == pytest.approx(info.sum_mutual_information, rel=1e-10)
    assert prof.entropy == pytest.approx(lang.entropy(L), rel=1e-12)


def test_monte_carlo_dependence_agrees_with_closed_form():
    lang = random_ngram(2, 4, concentration=0.5, stationary=True, seed=2)
    L = 24
    exact = ngram_profile(lang, L)
    ks = [0, 3, 12, 23]
    est = monte_carlo_dependence(lang, L, ks, 3000, make_generator(5))
    for k, e in zip(ks, est):
        ref = float(exact.dependence([k])[0])
        if k == 0:
            assert e.mean == 0.0
        else:
            assert abs(e.mean - ref) <= 5 * e.stderr, (k, e, ref)


def test_monte_carlo_dependence_on_hmm_matches_enumeration():
    lang = random_hmm(3, 3, transition_concentration=0.3, seed=8)
    L = 6
    exact = profile_by_enumeration(joint_from_language(lang, L))
    est = monte_carlo_dependence(lang, L, [2, 5], 4000, make_generator(6))
    for k, e in zip([2, 5], est):
        assert abs(e.mean - float(exact.dependence([k])[0])) <= 5 * e.stderr


def test_bad_input():
    prof = TabulatedProfile(np.array([0.0, 1.0, 1.5]))
    with pytest.raises(ValueError):
        prof.dependence([2])
    with pytest.raises(ValueError):
        prof.h([-1])
    with pytest.raises(ValueError):
        TabulatedProfile(np.array([0.1, 1.0]))
    with pytest.raises(ValueError):
        markov_chain_profile([0.5, 0.5], [[0.5, 0.6], [0.5, 0.5]], 4)
    with pytest.raises(ValueError):
        ngram_profile(random_ngram(3, 2, seed=0), 5)
