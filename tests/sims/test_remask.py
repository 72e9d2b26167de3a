"""Remask-and-resample as a provable correction (sims/sampling/remask.py): exact round kernels on tiny
languages (q-invariance, monotone distances), the parity repair, the composed exact law and call counts.
Monte Carlo vs the exact law: tests/conformance (registry entry fixed_random+remask2x4)."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence, total_variation
from sims.languages.formal import parity_language
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector, corrector_round_kernel
from tests.strategies import tiny_hmms, tiny_ngrams


def _laws_over_rounds(lang, L, base, r, rounds):
    den = OracleDenoiser(lang, on_impossible="uniform")
    q = torch.exp(exact_log_joint(lang, L))
    corr = RemaskCorrector(base, 1, r)
    K = corrector_round_kernel(corr, den, L)
    p = exact_sampler_law(base, den, L)
    laws = [p]
    for _ in range(rounds):
        laws.append(laws[-1] @ K)
    return q, K, laws, den


@settings(max_examples=10)
@given(
    st.one_of(tiny_ngrams(max_vocab=3, max_order=2, sparse=True), tiny_hmms(max_states=2, max_vocab=3)),
    st.integers(1, 3),
)
def test_corrector_is_a_q_invariant_kernel_and_every_distance_is_non_increasing(lang, r):
    L = 3
    q, K, laws, _ = _laws_over_rounds(lang, L, FixedCountSampler(1, score="random"), r, 4)
    assert torch.allclose(K.sum(1), torch.ones(K.shape[0], dtype=torch.float64), atol=1e-13)
    assert torch.allclose(q @ K, q, atol=1e-13)
    supp = q > 0
    assert float(K[supp][:, ~supp].sum()) < 1e-13  # never leaves the support from inside it
    tv = [total_variation(p, q) for p in laws]
    kl_f = [kl_divergence(q, p) for p in laws]
    kl_r = [kl_divergence(p, q) for p in laws]
    ser = [float(p[~supp].sum()) for p in laws]
    for seq in (tv, kl_f, kl_r, ser):
        assert all(b <= a + 1e-12 or (math.isinf(a) and math.isinf(b)) for a, b in itertools.pairwise(seq))
    if r == L:  # remask everything: one round samples q exactly
        assert total_variation(laws[1], q) < 1e-12


def test_parity_single_site_correction_repairs_invalid_strings_then_freezes():
    lang, L = parity_language(), 4
    q, K, laws, _ = _laws_over_rounds(lang, L, FixedCountSampler(2, score="random"), 1, 3)
    supp = q > 0
    assert math.isclose(float(laws[0][~supp].sum()), 0.5, rel_tol=1e-12)  # last two bits in parallel
    assert float(laws[1][~supp].sum()) < 1e-13  # one single-site round fixes every odd string
    assert torch.allclose(torch.diagonal(K)[supp], torch.ones(int(supp.sum()), dtype=torch.float64))


def test_corrector_exact_law_composes_the_base_law_with_the_round_kernel():
    lang, L = parity_language(), 4
    base = EBSampler(1.0)
    _q, _K, laws, den = _laws_over_rounds(lang, L, base, 2, 2)
    law2 = exact_sampler_law(RemaskCorrector(base, 2, 2), den, L)
    assert torch.allclose(law2, laws[2], atol=1e-13)


def test_corrector_calls_are_the_base_calls_plus_one_per_resampled_position():
    lang, L = parity_language(), 4
    den = OracleDenoiser(lang, on_impossible="uniform")
    base = FixedCountSampler(2)
    res = RemaskCorrector(base, 3, 2).sample(den, 50, L, make_generator(8))
    assert bool((res.nfe == 2 + 3 * 2).all())
    assert res.num_steps == 2 + 3 * (1 + 2) and res.reveal_time is None


def test_bad_input():
    with pytest.raises(ValueError, match="remask_count"):
        RemaskCorrector(FixedCountSampler(2), 1, 5).num_steps(4)
    with pytest.raises(TypeError, match="Sampler"):
        RemaskCorrector("fixed_random", 1, 1)
