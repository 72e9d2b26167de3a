"""EB-sampler (sims/sampling/eb.py): batched sampler vs exact law; the rule vs a brute-force prefix search.

The KL identity and bounds of the EB paper are in tests/theory/test_parallel_bounds.py.
"""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.formal import parity_language
from sims.languages.random import random_hmm, random_ngram
from sims.sampling.base import entropy_of_log_probs
from sims.sampling.eb import EBSampler, eb_select, proxy_scores, quantize
from tests.sims.adaptive_helpers import P_MIN, chi_square_pvalue
from tests.strategies import tiny_ngrams

LANG = random_hmm(3, 3, transition_concentration=0.3, emission_concentration=0.3, seed=4)


@pytest.mark.parametrize(
    "sampler",
    [
        EBSampler(0.3, "entropy"),
        EBSampler(0.6, "confidence"),
        EBSampler(1.0, "margin"),
        EBSampler(0.5, "entropy", block_length=2),
        EBSampler(0.4, "entropy", temperature=0.7),
    ],
)
def test_batched_sampler_matches_exact_law(sampler):
    L = 4
    den = OracleDenoiser(LANG, on_impossible="uniform")
    law = exact_sampler_law(sampler, den, L)
    res = sampler.sample(den, 12000, L, make_generator(11), batch_size=4000)
    assert chi_square_pvalue(res.tokens, law, LANG.vocab_size) > P_MIN
    # one call per step, at least one token per step
    assert bool((res.nfe == (res.step_num_masked > 0).sum(1)).all())
    assert bool((res.nfe <= L).all()) and bool((res.nfe >= 1).all())


@settings(max_examples=40)
@given(
    st.integers(1, 7),
    st.integers(0, 10**6),
    st.sampled_from([0.0, 0.1, 0.7, 2.0]),
    st.sampled_from(["entropy", "confidence", "margin"]),
)
def test_eb_select_is_the_longest_admissible_prefix(n_pos, seed, gamma, proxy):
    g = torch.Generator().manual_seed(seed)
    V = 3
    logits = torch.randn((1, n_pos, V), generator=g, dtype=torch.float64) * 3
    logits[0, 0] = torch.tensor([0.0, -math.inf, -math.inf])  # a deterministic position
    lp = torch.log_softmax(logits, -1)
    cand = torch.rand((1, n_pos), generator=g) < 0.8
    sel = eb_select(lp, cand, gamma, proxy)[0]
    idx = [i for i in range(n_pos) if cand[0, i]]
    if not idx:
        assert not bool(sel.any())
        return
    score = quantize(proxy_scores(lp, proxy)[0])
    order = sorted(idx, key=lambda i: (-float(score[i]), i))
    h = quantize(entropy_of_log_probs(lp[0]))
    best = 1
    for m in range(1, len(order) + 1):
        hs = [float(h[i]) for i in order[:m]]
        if sum(hs) - max(hs) <= gamma:
            best = m
    assert set(sel.nonzero().flatten().tolist()) == set(order[:best])


@settings(max_examples=10)
@given(tiny_ngrams(max_vocab=3, max_order=2))
def test_gamma_zero_is_exact_and_gamma_infinite_is_one_shot(lang):
    L = 4
    den = OracleDenoiser(lang, on_impossible="uniform")
    q = torch.exp(exact_log_joint(lang, L))
    assert kl_divergence(q, exact_sampler_law(EBSampler(0.0), den, L)) < 1e-12
    # gamma = inf: one step from the product of the first marginals
    lp = den(torch.full((1, L), lang.vocab_size)).log_probs[0]
    prod = torch.ones(1, dtype=torch.float64)
    for i in range(L):
        prod = (prod.unsqueeze(-1) * torch.exp(lp[i])).flatten()
    assert torch.allclose(exact_sampler_law(EBSampler(math.inf), den, L), prod, atol=1e-14)


def test_larger_gamma_means_fewer_calls_and_more_error_on_parity():
    lang, L = parity_language(), 6
    den = OracleDenoiser(lang, on_impossible="uniform")
    q = torch.exp(exact_log_joint(lang, L))
    kls, nfes = [], []
    for gamma in [0.0, 0.7, 1.4, 10.0]:
        s = EBSampler(gamma)
        kls.append(kl_divergence(q, exact_sampler_law(s, den, L)))
        nfes.append(s.sample(den, 200, L, make_generator(0)).mean_nfe)
    # one shot from the uniform marginals: p = uniform on all 2^L strings, KL(q || p) = ln 2
    assert kls[0] < 1e-12 and math.isclose(kls[-1], math.log(2), rel_tol=1e-12)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(kls))  # non-decreasing up to float64 noise
    assert nfes == sorted(nfes, reverse=True) and nfes[0] == L and nfes[-1] == 1


def test_bad_input():
    with pytest.raises(ValueError):
        EBSampler(-0.1)
    with pytest.raises(ValueError):
        EBSampler(0.1, proxy="nope")
    with pytest.raises(ValueError):
        EBSampler(0.1, temperature=-1)
    den = OracleDenoiser(random_ngram(2, 3, seed=0), on_impossible="uniform")
    with pytest.raises(ValueError):
        EBSampler(0.1, block_length=3).sample(den, 2, 4, make_generator(0))
