"""EB γ grid and Top-k at temperature 0 with exact oracles (theory/eb_grid.py).

References used: the dense exact law of the sampler contract (sims.exact.exact_sampler_law over V**L) for
the sparse propagation; the samplers' own Monte Carlo runs for the call counts of deterministic runs;
membership in the explicit support for validity.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import all_sequences, exact_sampler_law
from sims.languages.random import random_ngram
from sims.languages.support import SupportLanguage
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from tests.strategies import tiny_languages
from theory.eb_grid import (
    EB_GAMMAS,
    TOPK_KS,
    eb_grid_monte_carlo,
    eb_grid_study,
    grid_samplers,
    sparse_output_law,
    topk_counts,
)
from theory.factorization import support_sequences


def _dense(law: dict, V: int, L: int) -> torch.Tensor:
    seqs = [tuple(r) for r in all_sequences(V, L).tolist()]
    return torch.tensor([law.get(s, 0.0) for s in seqs], dtype=torch.float64)


@settings(max_examples=6, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_sparse_law_equals_the_dense_law(lang):
    L = max(3, lang.min_length())
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    samplers = [
        EBSampler(0.3, temperature=0.0, tie_break="random"),
        EBSampler(0.5, temperature=1.0, tie_break="lowest_index"),
        FixedCountSampler(2, score="max_prob", temperature=0.0, tie_break="random"),
    ]
    for s in samplers:
        law, nfe = sparse_output_law(s, oracle, L)
        dense = exact_sampler_law(s, oracle, L)
        assert torch.allclose(_dense(law, lang.vocab_size, L), dense, rtol=1e-10, atol=1e-14)
        assert 1 <= nfe <= L + 1e-12


@settings(max_examples=6, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_calls_of_deterministic_runs_equal_the_samplers_own_count(lang):
    L = max(3, lang.min_length())
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    for s in grid_samplers(L, tie_break="lowest_index").values():
        law, nfe = sparse_output_law(s, oracle, L)
        assert len(law) == 1  # temperature 0, deterministic ties: one output
        res = s.sample(oracle, 3, L, make_generator(0))
        assert bool((res.nfe.double() == nfe).all())
        assert tuple(res.tokens[0].tolist()) in law


def test_study_on_an_explicit_support_copy_of_a_bigram():
    lang = random_ngram(2, 3, concentration=0.5, support_size=2, seed=1)
    seqs, lq = support_sequences(lang, 5)
    copy = SupportLanguage(seqs, torch.exp(lq.double()), vocab_size=3)
    d = eb_grid_study(copy)
    assert set(d["rows"]) == {f"eb g={g:g}" for g in EB_GAMMAS} | {f"top-k k={k}" for k in TOPK_KS if k <= 5}
    oracle = OracleDenoiser(copy, on_impossible="uniform")
    support = {tuple(r) for r in seqs.tolist()}
    for name, s in grid_samplers(5, "lowest_index").items():
        dense = exact_sampler_law(s, oracle, 5)
        valid = float(sum(p for x, p in zip(all_sequences(3, 5).tolist(), dense) if tuple(x) in support))
        assert d["rows"][name]["valid"] == pytest.approx(valid, abs=1e-12)
    assert d["rows"]["eb g=0"]["valid"] == pytest.approx(1.0)  # one non-determined token per step: exact
    assert d["rows"]["top-k k=1"]["nfe"] == 5
    assert d["speedup_lossless"] == pytest.approx(5 / d["min_lossless_eb_nfe"])


def test_topk_counts_and_bad_k():
    assert topk_counts(12, 8) == [8, 4] and topk_counts(16, 4) == [4] * 4
    with pytest.raises(ValueError, match="k must be"):
        topk_counts(4, 5)


def test_gamma_zero_reveals_every_determined_token_with_one_more():
    """Words {000, 101}: position 1 is determined; at gamma = 0 the first step reveals it and one of the
    others (cumsum - cummax = 0), the second step the last, now determined: 2 calls for L = 3, exact."""
    lang = SupportLanguage(torch.tensor([[0, 0, 0], [1, 0, 1]]), vocab_size=2)
    d = eb_grid_study(lang)
    assert d["gamma0_nfe"] == 2 and d["rows"]["eb g=0"]["valid"] == 1.0
    assert d["rows"]["top-k k=1"]["nfe"] == 3


def _small_support_language(seed: int) -> SupportLanguage:
    gen = torch.Generator().manual_seed(seed)
    words = torch.randint(3, (12, 5), generator=gen)
    weights = torch.rand(12, generator=gen, dtype=torch.float64) + 0.1
    return SupportLanguage(words, weights, vocab_size=3, name="small")


def test_monte_carlo_with_random_ties_agrees_with_the_exact_kernel():
    # uniform law on 5 binary words of length 5 (seed 2): ties matter there (checked below)
    words = torch.randint(2, (5, 5), generator=torch.Generator().manual_seed(2))
    lang = SupportLanguage(words, None, vocab_size=2, name="ties")
    L = lang.word_length
    support = {tuple(int(v) for v in w) for w in lang.words.tolist()}
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    n = 2000
    mc = eb_grid_monte_carlo(lang, n, seed=1)
    assert mc["tie_break"] == "random" and set(mc["rows"]) == set(grid_samplers(L))
    lowest = eb_grid_study(lang, tie_break="lowest_index")["rows"]
    differs = 0
    for name, sampler in grid_samplers(L, "random").items():
        law, nfe = sparse_output_law(sampler, oracle, L)
        p = sum(q for x, q in law.items() if x in support)
        differs += abs(p - lowest[name]["valid"]) > 1e-9 or abs(nfe - lowest[name]["nfe"]) > 1e-9
        row = mc["rows"][name]
        # five standard errors of the Monte Carlo mean (the exact value is fixed; the seed is fixed)
        assert abs(row["valid"]["p"] - p) <= 5 * (p * (1 - p) / n) ** 0.5 + 1e-12, name
        assert abs(row["nfe"]["mean"] - nfe) <= 5 * row["nfe"]["stderr"] + 1e-12, name
    assert differs >= 3  # random ties change the law of several grid points on this language


def test_monte_carlo_with_lowest_index_ties_is_the_exact_row():
    lang = _small_support_language(4)
    mc = eb_grid_monte_carlo(lang, 64, seed=2, tie_break="lowest_index")
    exact = eb_grid_study(lang, tie_break="lowest_index")["rows"]
    for name, row in mc["rows"].items():
        assert row["valid"]["p"] == pytest.approx(exact[name]["valid"], abs=1e-12), name
        assert row["nfe"]["mean"] == pytest.approx(exact[name]["nfe"], abs=1e-12), name
