"""EB-sampler (sims/sampling/eb.py): the rule vs a brute-force prefix search, the limits gamma = 0 and inf.

Monte Carlo vs the exact law, calls and bad arguments: tests/conformance (registry entries eb_*).

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
from sims.languages.support import SupportLanguage
from sims.sampling.eb import EBSampler, eb_select
from sims.sampling.ranked import AdaptiveRankedStepSampler
from sims.sampling.ranking import quantize
from sims.sampling.scores import entropy_of_log_probs, position_scores
from tests.strategies import tiny_ngrams


@settings(max_examples=40)
@given(
    st.integers(1, 7),
    st.integers(0, 10**6),
    st.sampled_from([0.0, 0.1, 0.7, 2.0]),
    st.sampled_from(["entropy", "max_prob", "margin"]),
)
def test_eb_select_is_the_longest_admissible_prefix(n_pos, seed, gamma, score):
    g = torch.Generator().manual_seed(seed)
    V = 3
    logits = torch.randn((1, n_pos, V), generator=g, dtype=torch.float64) * 3
    logits[0, 0] = torch.tensor([0.0, -math.inf, -math.inf])  # a deterministic position
    lp = torch.log_softmax(logits, -1)
    cand = torch.rand((1, n_pos), generator=g) < 0.8
    sel = eb_select(lp, cand, gamma, score)[0]
    idx = [i for i in range(n_pos) if cand[0, i]]
    if not idx:
        assert not bool(sel.any())
        return
    values = torch.zeros((1, n_pos), dtype=torch.long)
    ranked = quantize(position_scores(score, lp, values)[0])
    order = sorted(idx, key=lambda i: (-float(ranked[i]), i))
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


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("score", ["entropy", "max_prob"])
def test_subset_set_law_equals_the_enumeration_of_tie_orders(seed, score):
    """EBSampler.set_law (subsets of the boundary tie group) against the generic law over every tie order
    (RankedStepSampler.set_law via selection_law), on states with many exact ties (uniform support)."""
    words = torch.randint(2, (5, 5), generator=torch.Generator().manual_seed(seed))
    lang = SupportLanguage(words, None, vocab_size=2, name="ties")
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    states = [s for s in itertools.product(range(3), repeat=5) if 2 in s][:: 7 + seed]
    lps = oracle(torch.tensor(states, dtype=torch.long)).log_probs
    checked = 0
    for gamma in (0.0, 0.4, 0.8, 2.0):
        sampler = EBSampler(gamma, score=score, temperature=0.0)
        for state, lp in zip(states, lps):
            values = lp.argmax(-1)
            fast = dict(sampler.set_law(state, 0, lp, values))
            slow = dict(AdaptiveRankedStepSampler.set_law(sampler, state, 0, lp, values))
            assert set(fast) == set(slow)
            assert all(abs(fast[k] - slow[k]) < 1e-15 for k in slow)
            checked += len(slow) > 1
    assert checked > 0  # some states have a random boundary subset
