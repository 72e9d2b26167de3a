"""Every registered language at its enumerable test length: normalisation, exact sampling, exact oracle.

Sampling power: n = 25000 draws and a grouped Pearson test at p < ``P_MIN`` reject any change of total
variation >= 0.05 on the pooled cells with probability >= 0.99 (asserted per language with
:func:`tests.helpers.detectable_total_variation`).
"""

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.registry import LANGUAGES, make_language
from tests.conformance.cases import LANGUAGE_KEYS
from tests.helpers import P_MIN, detectable_total_variation, grouped_chi_square

NUM_SAMPLES = 25000
#: Largest V**L of a conformance case (the corpus bigrams with V = 98 at L = 2 have 9604 sequences).
MAX_SEQUENCES = 10_000


def _instance(key):
    entry = LANGUAGES[key]
    lang, L = make_language(key), entry.test_length
    assert lang.vocab_size**L <= MAX_SEQUENCES, "test_length must keep V**L enumerable"
    return lang, L


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_log_probabilities_sum_to_one(key):
    lang, L = _instance(key)
    lj = exact_log_joint(lang, L)
    assert abs(float(torch.logsumexp(lj, 0))) < 1e-12
    assert bool((lj <= 1e-12).all())


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_sampling_frequencies_match_the_exact_law(key):
    lang, L = _instance(key)
    law = torch.exp(exact_log_joint(lang, L))
    x = lang.sample(NUM_SAMPLES, L, make_generator(len(key)))
    test = grouped_chi_square(x, law, lang.vocab_size)
    assert test.pvalue > P_MIN
    assert detectable_total_variation(NUM_SAMPLES, test.cells) <= 0.05


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_oracle_equals_enumeration(key):
    """Posterior marginals of the oracle vs brute-force summation, on masked samples and on uniformly random
    (often impossible) partial sequences; both with the uniform fallback on impossible evidence."""
    lang, L = _instance(key)
    V = lang.vocab_size
    g = make_generator(7)
    x = lang.sample(24, L, g)
    noise = torch.randint(0, V, (8, L), generator=g)
    x = torch.cat([x, noise])
    x = torch.where(torch.rand(x.shape, generator=g) < 0.5, V, x)
    x[0] = V  # all masked
    a = OracleDenoiser(lang, on_impossible="uniform")(x)
    b = BruteForceDenoiser(exact_log_joint(lang, L), V, L, on_impossible="uniform")(x)
    assert torch.equal(a.impossible, b.impossible)
    assert torch.equal(torch.isfinite(a.log_probs), torch.isfinite(b.log_probs))
    assert torch.allclose(a.probs, b.probs, atol=1e-12, rtol=0)
