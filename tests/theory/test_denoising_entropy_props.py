"""Denoising-entropy Propositions 1-2 (theory/denoising_entropy.py) as exact identities.

References used:
* the conditional total correlation computed from the conditional joint table by summing axes
  (independent of the per-state tabulation);
* the forward-backward oracle (sims.denoisers.oracle) against the brute-force marginals;
* information identities of the full law at k = L (H(X), TC(X) from theory.information).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_ngram
from tests.strategies import tiny_languages
from theory.denoising_entropy import by_mask_size, state_entropy_table
from theory.information import joint_from_language, total_correlation

TOL = 1e-12  # sums of at most V**L = 243 float64 terms of size <= log V


@given(tiny_languages(max_vocab=3))
def test_prop1_gap_is_the_conditional_total_correlation(lang):
    """|M| h_DE(z) - H(x^M | z) = TC(x^M | z) >= 0 at every partial state of positive probability."""
    L = max(3, lang.min_length())
    tab = state_entropy_table(exact_log_joint(lang, L), lang.vocab_size, L)
    gap = tab.sum_entropy - tab.joint_entropy
    np.testing.assert_allclose(gap, tab.total_correlation, atol=TOL * L)
    assert gap.min() >= -TOL * L


@given(tiny_languages(max_vocab=3))
def test_prop2_oracle_state_entropy_is_the_expected_masked_loss(lang):
    """E_{q(.|z)}[-sum_l log q(x^l|z)] = |M| h_DE(z); the forward-backward oracle gives the same laws."""
    L = max(3, lang.min_length())
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    tab = state_entropy_table(exact_log_joint(lang, L), lang.vocab_size, L, oracle)
    np.testing.assert_allclose(tab.oracle_loss, tab.sum_entropy, atol=TOL * L)
    np.testing.assert_allclose(tab.model_sum_entropy, tab.sum_entropy, atol=1e-10)
    np.testing.assert_allclose(tab.model_loss, tab.sum_entropy, atol=1e-10)


@pytest.mark.parametrize("temperature", [0.5, 1.5])
def test_prop2_fails_for_a_model_and_prop1_for_an_overconfident_one(temperature):
    """Model loss = sum_l [H(q_l) + KL(q_l || p_l)] >= |M| h^q_DE, but differs from the model's own
    |M| h^p_DE; with temperature < 1 the model's |M| h^p_DE falls below H(x^M | z) on some states."""
    lang = random_ngram(2, 3, concentration=0.3, support_size=2, seed=0)
    L = 5
    model = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=temperature)
    tab = state_entropy_table(exact_log_joint(lang, L), 3, L, model)
    masked = tab.num_masked > 0
    assert (tab.model_loss - tab.sum_entropy)[masked].min() >= -1e-12
    assert np.abs(tab.model_loss - tab.model_sum_entropy)[masked].max() > 0.1
    below = (tab.model_sum_entropy < tab.joint_entropy - 1e-9)[masked]
    assert below.any() if temperature < 1 else not below.any()


def test_forward_process_averages_at_full_masking():
    """At k = L the averages are the law's own H(X) and TC(X); E TC = E|M|h_DE - E H(x^M|z) at every k."""
    lang = random_ngram(2, 3, concentration=0.3, support_size=2, seed=0)
    L = 5
    tab = state_entropy_table(exact_log_joint(lang, L), 3, L)
    avg = by_mask_size(tab)
    joint = joint_from_language(lang, L)
    assert avg["joint_entropy"][-1] == pytest.approx(lang.entropy(L), rel=1e-12)
    assert avg["total_correlation"][-1] == pytest.approx(total_correlation(joint), rel=1e-10)
    np.testing.assert_allclose(
        np.array(avg["sum_entropy"]) - avg["joint_entropy"], avg["total_correlation"], atol=1e-12
    )
    assert avg["total_correlation"][0] == pytest.approx(0.0, abs=1e-15)
