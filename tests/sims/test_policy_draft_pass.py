"""The draft pass's sequential laws (``draft_log_prob(..., laws=True)``) against brute-force enumeration, and
the shared draft-and-verify machinery (windows, draft laws, exact law engine, pass accounting)."""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import masked_draft_laws
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.enumeration import all_sequences
from sims.exact import exact_log_joint
from sims.languages import random_hmm, random_ngram
from sims.sampling.draft_verify import draft_law, exact_draft_law, window_mask
from sims.sampling.ssd import SelfSpeculativeSampler
from tests.conformance.cases import CYCLE, HMM
from tests.helpers import CountingDenoiser


def brute_law(lang, L, tokens, draft, j):
    """p(x_j = . | revealed tokens, draft tokens left of j), by enumeration."""
    V = lang.vocab_size
    lj = exact_log_joint(lang, L)
    seqs = all_sequences(V, L)
    given = torch.where((draft < V) & (torch.arange(L) < j), draft, tokens)
    keep = (seqs[:, given < V] == given[given < V]).all(-1)
    lp = torch.full((V,), -math.inf, dtype=torch.float64)
    for v in range(V):
        lp[v] = torch.logsumexp(torch.where(keep & (seqs[:, j] == v), lj, -math.inf), 0)
    return lp - torch.logsumexp(lp, 0)


@pytest.mark.parametrize(
    "lang",
    [CYCLE, HMM, random_ngram(3, 3, seed=4), random_hmm(4, 3, seed=5)],
    ids=["cycle", "hmm", "tri", "hmm4"],
)
def test_sequential_laws_equal_enumeration(lang):
    L, V = 5, lang.vocab_size
    g = make_generator(7)
    x = lang.sample(6, L, g)
    keep = torch.rand(6, L, generator=g) < 0.35
    tokens = torch.where(keep, x, V)
    draft = torch.where(~keep & (torch.rand(6, L, generator=g) < 0.8), x, V)
    out = OracleDenoiser(lang).draft_log_prob(tokens, draft, chain_rule=True, laws=True)
    for b in range(6):
        for j in range(L):
            if draft[b, j] == V:
                assert bool(torch.isnan(out.laws[b, j]).all())
                continue
            ref = brute_law(lang, L, tokens[b], draft[b], j)
            assert torch.allclose(out.laws[b, j].exp(), ref.exp(), atol=1e-12)
            # the law's value at the drafted token is the chain-rule conditional
            assert math.isclose(
                float(out.laws[b, j, draft[b, j]]), float(out.conditionals[b, j]), abs_tol=1e-10
            )


def test_laws_after_an_impossible_prefix_are_nan():
    V = CYCLE.vocab_size  # 0 -> 2 has probability zero
    tokens = torch.full((1, 4), V)
    draft = torch.tensor([[0, 2, 1, V]])
    out = OracleDenoiser(CYCLE).draft_log_prob(tokens, draft, laws=True)
    assert bool(torch.isfinite(out.laws[0, :2]).any(-1).all()) and bool(torch.isnan(out.laws[0, 2]).all())


def test_window_and_draft_law():
    V = 3
    x = torch.tensor([[0, V, V, V, V], [1, 2, V, 0, V], [0, 1, 2, 0, 1]])
    assert window_mask(x, V, 2).tolist() == [
        [False, True, True, False, False],
        [False, False, True, False, True],
        [False] * 5,
    ]
    lp = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.25, 0.5, 0.25]], dtype=torch.float64))
    assert torch.allclose(draft_law(lp, 1.0), lp)
    assert draft_law(lp, 0.0).exp().tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    t2 = draft_law(lp, 2.0).exp()
    assert torch.allclose(t2[0], lp[0].mul(0.5).exp() / lp[0].mul(0.5).exp().sum())


@pytest.mark.parametrize("lang", [CYCLE, HMM, random_hmm(4, 3, seed=5)], ids=["cycle", "hmm", "hmm4"])
def test_masked_chain_rule_equals_the_draft_pass_for_the_oracle(lang):
    L, V = 5, lang.vocab_size
    g = make_generator(11)
    x = lang.sample(8, L, g)
    keep = torch.rand(8, L, generator=g) < 0.3
    tokens = torch.where(keep, x, V)
    draft = torch.where(~keep & (torch.rand(8, L, generator=g) < 0.8), x, V)
    oracle = OracleDenoiser(lang)
    exact = oracle.draft_log_prob(tokens, draft, laws=True).laws
    den = CountingDenoiser(oracle)
    laws, calls = masked_draft_laws(den, tokens, draft)
    n = (draft < V).sum(1)
    assert calls.tolist() == (n - 1).clamp(min=0).tolist()
    first = (draft < V) & (torch.cumsum((draft < V).long(), 1) == 1)
    later = (draft < V) & ~first
    assert bool(torch.isnan(laws[~later]).all())
    assert torch.allclose(laws[later].exp(), exact[later].exp(), atol=1e-12)
    assert den.rows == int(calls.sum())  # one batched row per drafted position after the first


def test_denoisers_without_the_draft_pass_verify_by_masked_chain_rule():
    noisy = PerturbedDenoiser(OracleDenoiser(HMM, on_impossible="uniform"), temperature=1.2)
    assert "draft_log_prob" not in noisy.passes()
    den = CountingDenoiser(noisy)
    res = SelfSpeculativeSampler(3).sample(den, 64, 5, make_generator(0), batch_size=16)
    assert int(res.nfe.sum()) == den.rows and den.pass_rows == 0  # every call is a marginal call
    law = exact_draft_law(SelfSpeculativeSampler(3), noisy, 4)
    assert abs(float(law.sum()) - 1.0) < 1e-12 and bool((law >= 0).all())
    # a window of one position needs no verification: one call per step
    res = SelfSpeculativeSampler(1).sample(noisy, 16, 4, make_generator(0))
    assert bool((res.nfe == 4).all())


def test_nfe_counts_the_marginal_calls_and_the_passes():
    den = CountingDenoiser(OracleDenoiser(HMM, on_impossible="uniform"))
    res = SelfSpeculativeSampler(3).sample(den, 200, 6, make_generator(3), batch_size=50)
    assert int(res.nfe.sum()) == den.rows + den.pass_rows
    steps = (res.step_num_masked > 0).sum(1)
    assert bool((res.nfe <= 2 * steps).all()) and bool((res.nfe >= steps).all())


def test_exact_draft_law_size_guard():
    with pytest.raises(ValueError, match="max_states"):
        exact_draft_law(SelfSpeculativeSampler(1), OracleDenoiser(HMM), 4, max_states=0)
    with pytest.raises(ValueError, match="sampler"):
        exact_draft_law(object(), OracleDenoiser(HMM), 4)
