"""Partial ranking: ``rank_positions(..., prefix=m)`` is the full ranking's first m columns, bit for bit,
from the same random numbers, and the samplers that use it give the same runs as with the full ranking."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sims.sampling.ranking as ranking
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.registry import LANGUAGES
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.local_leap import LocalLeapSampler
from sims.sampling.partial_rank import ranking_prefix
from sims.sampling.ranking import quantized_scores, rank_positions
from sims.validation import InvalidArgumentError


@st.composite
def tied_scores(draw):
    """Scores with heavy ties (a few distinct values, signed zeros) and a random candidate mask."""
    n, L = draw(st.integers(1, 4)), draw(st.integers(1, 20))
    levels = draw(st.lists(st.sampled_from([0.0, -0.0, 0.25, 0.5, 1.0, -3.0, 1e-15]), min_size=1, max_size=4))
    flat = draw(st.lists(st.sampled_from(levels), min_size=n * L, max_size=n * L))
    cand = draw(st.lists(st.booleans(), min_size=n * L, max_size=n * L))
    scores = torch.tensor(flat, dtype=torch.float64).view(n, L)
    return scores, torch.tensor(cand).view(n, L), draw(st.integers(0, 2**31 - 1))


@settings(max_examples=60, deadline=None)
@given(tied_scores())
def test_prefix_is_the_full_rankings_first_columns(case):
    scores, cand, seed = case
    L = scores.shape[1]
    for m in range(L + 2):
        assert torch.equal(rank_positions(scores, cand, prefix=m), rank_positions(scores, cand)[:, :m])
        g_full, g_prefix = make_generator(seed), make_generator(seed)
        full = rank_positions(scores, cand, g_full)
        assert torch.equal(rank_positions(scores, cand, g_prefix, prefix=m), full[:, :m])
        assert torch.equal(g_full.get_state(), g_prefix.get_state())  # the same numbers were drawn


@settings(max_examples=60, deadline=None)
@given(tied_scores())
def test_partial_selection_itself_matches_for_every_m(case):
    """The partial selection (below the size at which rank_positions prefers the full sort), every m < L."""
    scores, cand, seed = case
    q = torch.where(cand, quantized_scores(scores), -torch.inf)
    u = torch.rand(q.shape, dtype=torch.float64, generator=make_generator(seed))
    by_index = torch.sort(q, dim=-1, descending=True, stable=True).indices
    perm = torch.argsort(u, dim=-1)
    by_u = perm.gather(-1, torch.sort(q.gather(-1, perm), dim=-1, descending=True, stable=True).indices)
    for m in range(q.shape[1]):
        assert torch.equal(ranking_prefix(q, m), by_index[:, :m])
        assert torch.equal(ranking_prefix(q, m, u), by_u[:, :m])


def test_equal_uniforms_and_nan_fall_back_to_the_full_ranking(monkeypatch):
    q = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])
    u = torch.tensor([[0.1, 0.5, 0.3, 0.3, 0.9]])
    assert ranking_prefix(q, 2, u) is None  # the boundary group's two smallest uniforms are equal
    assert ranking_prefix(q, 4, u) is None  # equal uniforms inside the selected set
    assert torch.equal(ranking_prefix(q, 2, u + torch.tensor([[0, 0, 0, 0.1, 0]])), torch.tensor([[0, 2]]))
    assert ranking_prefix(torch.tensor([[1.0, float("nan"), 0.0]]), 1) is None
    scores = torch.tensor([[0.5, float("nan"), 0.5, 0.9, 0.1, 0.5, 0.5, 0.5]])
    cand = torch.ones_like(scores, dtype=torch.bool)
    for gen in (None, 3):
        full = rank_positions(scores, cand, None if gen is None else make_generator(gen))
        part = rank_positions(scores, cand, None if gen is None else make_generator(gen), prefix=2)
        assert torch.equal(part, full[:, :2])
    monkeypatch.setattr(ranking, "ranking_prefix", lambda q, m, u=None: None)  # the fallback path
    full = rank_positions(scores.nan_to_num(), cand, make_generator(4))
    assert torch.equal(rank_positions(scores.nan_to_num(), cand, make_generator(4), prefix=2), full[:, :2])


def test_prefix_keeps_leading_dimensions_and_rejects_bad_values():
    scores = torch.rand(2, 3, 16, dtype=torch.float64)
    cand = torch.rand(2, 3, 16) < 0.5
    assert torch.equal(rank_positions(scores, cand, prefix=3), rank_positions(scores, cand)[..., :3])
    signed_zeros = torch.tensor([[-0.0, 0.0, -0.0, 0.0]])  # equal scores: one tie group
    assert rank_positions(signed_zeros, torch.ones_like(signed_zeros, dtype=torch.bool)).tolist() == [
        [0, 1, 2, 3]
    ]
    with pytest.raises(InvalidArgumentError, match="prefix"):
        rank_positions(scores, cand, prefix=-1)


class _FullFixedCount(FixedCountSampler):
    def order_prefix(self, length, k):
        return None


class _FullLocalLeap(LocalLeapSampler):
    def order_prefix(self, length, k):
        return None


def _same_run(fast, full, language, batch, length, seed):
    oracle = OracleDenoiser(LANGUAGES[language].make(), on_impossible="uniform")
    a = fast.sample(oracle, batch, length, make_generator(seed))
    b = full.sample(oracle, batch, length, make_generator(seed))
    for name in ("tokens", "nfe", "reveal_step", "token_logprob", "step_num_masked", "left_support"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for name in ("token_entropy", "step_entropy_sum"):
        assert torch.equal(getattr(a, name).nan_to_num(-1.0), getattr(b, name).nan_to_num(-1.0)), name


@pytest.mark.parametrize("score", ["max_prob", "margin", "entropy", "sampled_prob"])
@pytest.mark.parametrize("tie_break", ["random", "lowest_index"])
def test_fixed_count_runs_are_unchanged_by_the_partial_ranking(score, tie_break):
    """Stationary symmetric chain: exact ties in every score at the first steps; 64 // 4 = 16 per step."""
    kw = {"score": score, "tie_break": tie_break}
    _same_run(FixedCountSampler(4, **kw), _FullFixedCount(4, **kw), "sparse_chain", 16, 64, 11)
    kw["block_length"] = 16
    _same_run(FixedCountSampler(8, **kw), _FullFixedCount(8, **kw), "ngram2", 8, 64, 12)


def test_local_leap_runs_are_unchanged_by_the_partial_ranking():
    kw = {"threshold": 0.6, "relaxed_threshold": 0.4, "radius": 2}
    _same_run(LocalLeapSampler(**kw), _FullLocalLeap(**kw), "sparse_chain", 16, 32, 13)
