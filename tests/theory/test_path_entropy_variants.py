"""Path-entropy variants of denoising-entropy E-BoN (theory/path_entropy_variants.py).

References used: numpy's trapezoid rule on the (t, h) grid; the suite's own exact path-entropy law
(sims.sampling.denoising_entropy.exact_path_entropy_law, sum and mean aggregates); the affine-invariance
argument of the module docstring, checked on tiny languages.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.sampling.denoising_entropy import exact_best_of_n_law, exact_path_entropy_law
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from tests.strategies import tiny_languages
from theory.path_entropy_variants import (
    ebon_variant_rows,
    exact_weighted_path_entropy_law,
    trapezoid_weights,
    variant_law,
)


def test_trapezoid_weights_match_numpy():
    rng = np.random.default_rng(0)
    t = np.concatenate([[1.0], np.sort(rng.uniform(0, 1, 5))[::-1], [0.0]])
    h = np.concatenate([rng.uniform(0, 2, 6), [0.0]])
    assert float(trapezoid_weights(t) @ h[:-1]) == pytest.approx(float(-np.trapezoid(h, t)), rel=1e-12)
    assert np.allclose(trapezoid_weights([1, 0.5, 0]), [0.25, 0.5])
    with pytest.raises(ValueError, match="decreasing"):
        trapezoid_weights([0, 1])


def _close(a: dict, b: dict):
    """Same law of (sequence, statistic): statistics equal up to the final 40-bit rounding."""
    assert len(a) == len(b)
    for (xa, ha, pa), (xb, hb, pb) in zip(
        sorted((*k, p) for k, p in a.items()), sorted((*k, p) for k, p in b.items())
    ):
        assert (
            xa == xb and ha == pytest.approx(hb, abs=1e-11) and pa == pytest.approx(pb, rel=1e-12, abs=1e-15)
        )


@settings(max_examples=5, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_unit_weights_are_the_suites_sum_and_mean(lang):
    L = max(3, lang.min_length())
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    for s in (FixedCountSampler(2, score="random"), EBSampler(0.4, tie_break="lowest_index")):
        _close(exact_weighted_path_entropy_law(s, oracle, L, None), exact_path_entropy_law(s, oracle, L))
        _close(
            exact_weighted_path_entropy_law(s, oracle, L, None, mean=True),
            exact_path_entropy_law(s, oracle, L, aggregate="mean"),
        )


@settings(max_examples=5, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_time_integral_selects_like_the_sum_on_a_uniform_grid(lang):
    L = max(3, lang.min_length())
    model = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.5)
    s = FixedCountSampler(3, score="max_prob")
    V = lang.vocab_size
    a, b = variant_law(s, model, L, "sum"), variant_law(s, model, L, "time_integral")
    for n in (2, 5):
        assert torch.allclose(exact_best_of_n_law(a, n, V, L), exact_best_of_n_law(b, n, V, L), atol=1e-15)
    rows = ebon_variant_rows(s, model, exact_log_joint(lang, L), L, [3])
    assert all(r["max_abs_law_difference_vs_sum"] <= 1e-15 for r in rows)


def test_bad_arguments():
    lang_s = FixedCountSampler(2)
    with pytest.raises(ValueError, match="variant"):
        variant_law(lang_s, None, 3, "softmax")
