"""Samplers: the exact law vs an independent formula, exact identities, count rules, traces and call counts.

Batched Monte Carlo against the exact law, NFE accounting, conventions, reproducibility and bad arguments
are checked for every registered sampler by the conformance suite (tests/conformance)."""

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint, exact_sampler_law, sequence_index
from sims.languages import NGramLanguage, random_hmm, random_ngram
from sims.metrics import teacher_forced_log_likelihood
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler, dream_counts, llada_counts, schedule_counts
from sims.sampling.ranking import rank_positions, tie_orders, top_count_sets
from tests.strategies import tiny_languages

LANG = random_ngram(2, 3, concentration=0.6, support_size=2, seed=7)  # sparse: SER is possible
HMM = random_hmm(3, 2, transition_concentration=0.5, seed=3)


def _product_sampler_law(cond, assignment_weights, L, V):
    """Independent reference: sum over step assignments a in [K]^L of weight(a) * product-sampler law.

    ``cond(x, revealed_set, i)`` is the exact conditional of x_i given x restricted to revealed_set.
    """
    seqs = all_sequences(V, L)
    law = torch.zeros(V**L, dtype=torch.float64)
    for a, w in assignment_weights:
        if w == 0:
            continue
        for idx, x in enumerate(seqs.tolist()):
            p = w
            for i in range(L):
                before = tuple(j for j in range(L) if a[j] < a[i])
                p *= cond(tuple(x), before, i)
                if p == 0:
                    break
            law[idx] += p
    return law


def _brute_conditional(lang, L):
    seqs = all_sequences(lang.vocab_size, L)
    q = torch.exp(exact_log_joint(lang, L))

    def cond(x, before, i):
        sel = torch.ones(len(seqs), dtype=torch.bool)
        for j in before:
            sel &= seqs[:, j] == x[j]
        den = float(q[sel].sum())
        if den == 0:  # impossible context: the documented uniform fallback of the oracle
            return 1.0 / lang.vocab_size
        return float(q[sel & (seqs[:, i] == x[i])].sum()) / den

    return cond


@pytest.mark.parametrize("lang", [LANG, HMM], ids=["ngram", "hmm"])
def test_ancestral_exact_law_equals_multinomial_step_assignment(lang):
    L, K = 3, 2
    sampler = AncestralSampler(K, schedule="cosine")
    w = sampler.schedule.step_weights(sampler.grid).tolist()
    assignments = [(a, math.prod(w[k] for k in a)) for a in itertools.product(range(K), repeat=L)]
    ref = _product_sampler_law(_brute_conditional(lang, L), assignments, L, lang.vocab_size)
    law = exact_sampler_law(sampler, OracleDenoiser(lang, on_impossible="uniform"), L)
    assert torch.allclose(law, ref, atol=1e-12)


@pytest.mark.parametrize("lang", [LANG, HMM], ids=["ngram", "hmm"])
def test_fixed_random_exact_law_equals_uniform_ordered_partitions(lang):
    L, sizes = 4, [1, 3]
    sampler = FixedCountSampler(2, count_rule=sizes)
    blocks = [a for a in itertools.product(range(2), repeat=L) if [a.count(k) for k in range(2)] == sizes]
    ref = _product_sampler_law(
        _brute_conditional(lang, L), [(a, 1 / len(blocks)) for a in blocks], L, lang.vocab_size
    )
    law = exact_sampler_law(sampler, OracleDenoiser(lang, on_impossible="uniform"), L)
    assert torch.allclose(law, ref, atol=1e-12)


@given(tiny_languages(), st.integers(0, 2), st.sampled_from(["random", "max_prob", "margin", "entropy"]))
def test_one_token_per_step_with_context_only_order_reproduces_language(lang, extra, score):
    """With the oracle and one token per step, any order that looks only at the context is exact."""
    L = lang.min_length() + extra
    q = torch.exp(exact_log_joint(lang, L))
    oracle = OracleDenoiser(lang)
    for sampler in (FixedCountSampler(L, score=score), FirstHittingSampler()):
        law = exact_sampler_law(sampler, oracle, L)
        assert torch.allclose(law, q, atol=1e-12)


def test_sampled_token_confidence_is_biased_even_one_token_per_step():
    lang = random_ngram(1, 3, concentration=1.0, seed=1)  # i.i.d. tokens
    q = torch.exp(exact_log_joint(lang, 3))
    law = exact_sampler_law(FixedCountSampler(3, score="sampled_prob"), OracleDenoiser(lang), 3)
    assert float(0.5 * (law - q).abs().sum()) > 0.05


def test_random_tie_break_is_uniform_and_lowest_index_is_not():
    """i.i.d. tokens: every position has the same confidence at every step (all tied)."""
    lang = random_ngram(1, 3, concentration=1.0, seed=4)
    oracle = OracleDenoiser(lang)
    L = 6
    res = FixedCountSampler(3, score="max_prob").sample(oracle, 6000, L, make_generator(5))
    first = (res.reveal_step == 0).sum(0).numpy()  # each position is in the first pair w.p. 2/6
    assert stats.chisquare(first, [6000 * 2 / L] * L).pvalue > 1e-6
    res = FixedCountSampler(3, score="max_prob", tie_break="lowest_index").sample(
        oracle, 100, L, make_generator(5)
    )
    assert torch.all(res.reveal_step[:, :2] == 0) and torch.all(res.reveal_step[:, 2:] > 0)


def test_tie_enumerations_agree_with_rank_positions():
    scores = torch.tensor([0.5, 0.7, 0.5, 0.7, 0.1, 0.5], dtype=torch.float64)
    cand = torch.tensor([True, True, True, True, True, False])
    orders = tie_orders(scores, cand)
    assert len(orders) == 2 * 2 and abs(sum(w for _, w in orders) - 1) < 1e-15
    sets = dict(top_count_sets(scores, cand, 3))
    assert sets == {(0, 1, 3): 0.5, (1, 2, 3): 0.5}
    g = make_generator(0)
    ranked = rank_positions(scores.expand(4000, -1), cand.expand(4000, -1), g)
    assert torch.all(ranked[:, 4] == 4) and torch.all(ranked[:, 5] == 5)
    assert abs(float((ranked[:, 2] == 0).double().mean()) - 0.5) < 0.05
    assert top_count_sets(scores, cand, 3, "lowest_index") == [((0, 1, 3), 1.0)]


def test_brute_force_denoiser_drives_the_same_law():
    L = 3
    bf = BruteForceDenoiser(exact_log_joint(LANG, L), LANG.vocab_size, L, on_impossible="uniform")
    for sampler in (AncestralSampler(2), FixedCountSampler(2, score="sampled_prob")):
        a = exact_sampler_law(sampler, bf, L)
        b = exact_sampler_law(sampler, OracleDenoiser(LANG, on_impossible="uniform"), L)
        assert torch.allclose(a, b, atol=1e-12)


# ---- counts -------------------------------------------------------------------------------------
def test_count_rules_pinned():
    assert llada_counts(100, 7) == [15, 15, 14, 14, 14, 14, 14]
    assert llada_counts(3, 5) == [1, 1, 1, 0, 0]
    d = dream_counts(128, 128)
    assert d[0] == 0 and sum(d) == 128
    d = dream_counts(256, 64)
    assert (d[0], d[-1], sum(d)) == (3, 5, 256)
    assert schedule_counts(64, 8, "linear") == [8] * 8
    c = schedule_counts(64, 8, "cosine")
    assert sum(c) == 64 and c[0] < c[-1]


def test_block_plan_and_errors():
    s = FixedCountSampler(4, block_length=4)
    assert s.plan(8) == [(0, 4, 2), (0, 4, 2), (4, 8, 2), (4, 8, 2)]
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        FixedCountSampler(3, block_length=4).plan(8)
    with pytest.raises(ValueError, match="multiple of block_length"):
        FixedCountSampler(2, block_length=3).plan(8)
    with pytest.raises(ValueError, match="score"):
        FixedCountSampler(2, score="confidence")
    with pytest.raises(ValueError, match="steps"):
        AncestralSampler(0)
    with pytest.raises(ValueError, match="explicit counts"):
        FixedCountSampler(2, count_rule=[1, 1]).plan(3)


# ---- traces and call counting -----------------------------------------------------------------------
def test_ancestral_trace_and_nfe():
    oracle = OracleDenoiser(LANG, on_impossible="uniform")
    res = AncestralSampler(16).sample(oracle, 300, 12, make_generator(0))
    rs = res.reveal_step
    assert rs.min() >= 0 and rs.max() < 16
    nonempty = torch.tensor([len(torch.unique(r)) for r in rs])
    assert torch.equal(res.nfe, nonempty)  # one call per non-empty step
    # step_num_masked is L minus the reveals before the step
    for k in range(16):
        assert torch.equal(res.step_num_masked[:, k], (rs >= k).sum(1))
    # token log-probs are those of the oracle given the tokens revealed at earlier steps
    tf = teacher_forced_log_likelihood(oracle, res.tokens, rs)
    ok = ~res.left_support
    assert torch.allclose(res.token_logprob.sum(1)[ok], tf[ok], rtol=1e-10)
    assert torch.all(res.token_entropy >= 0)


def test_fixed_count_nfe_and_reveals_per_step():
    oracle = OracleDenoiser(HMM)
    s = FixedCountSampler(5, score="entropy")
    res = s.sample(oracle, 50, 12, make_generator(0))
    counts = [c for _, _, c in s.plan(12)]
    assert torch.all(res.nfe == sum(1 for c in counts if c > 0))
    for k, c in enumerate(counts):
        assert torch.all((res.reveal_step == k).sum(1) == c)
    s = FixedCountSampler(20)  # more steps than tokens: empty steps make no call
    assert torch.all(s.sample(oracle, 4, 12, make_generator(0)).nfe == 12)


def test_first_hitting_times_decrease():
    res = FirstHittingSampler().sample(OracleDenoiser(HMM), 20, 8, make_generator(0))
    order = res.unmasking_order()
    times = res.reveal_time.gather(1, order)
    assert torch.all(times[:, 1:] < times[:, :-1]) and torch.all(times > 0) and torch.all(times < 1)
    assert torch.all(res.nfe == 8)


def test_left_support_flag_tracks_impossible_evidence():
    lang = NGramLanguage(2, 2, [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    res = FixedCountSampler(1).sample(oracle, 200, 6, make_generator(0))  # all at once: mostly wrong
    bad = ~lang.in_support(res.tokens)
    assert bad.any()
    # a call on an impossible partial state only happens after an error, never with one step
    assert not res.left_support.any()
    res = AncestralSampler(3).sample(oracle, 400, 6, make_generator(1))
    assert torch.all(~lang.in_support(res.tokens)[res.left_support])


def test_float32_gumbel_runs_and_differs():
    o = OracleDenoiser(HMM)
    a = AncestralSampler(8, categorical_precision="float32_gumbel", t_min=1e-5).sample(
        o, 64, 10, make_generator(0)
    )
    assert a.tokens.max() < HMM.vocab_size and a.tokens.min() >= 0
    with pytest.raises(ValueError, match="categorical_precision"):
        AncestralSampler(8, categorical_precision="float16")


def test_sample_indices_are_consistent_with_sequence_index():
    seqs = all_sequences(3, 4)
    assert torch.equal(sequence_index(seqs, 3), torch.arange(81))


def test_perturbed_oracle_creates_sequence_errors_at_one_token_per_step():
    L = 4
    oracle = OracleDenoiser(LANG, on_impossible="uniform")
    q = torch.exp(exact_log_joint(LANG, L))
    law = exact_sampler_law(FixedCountSampler(L), PerturbedDenoiser(oracle, uniform_mix=0.1), L)
    assert float(law[q == 0].sum()) > 0.01
    assert float(exact_sampler_law(FixedCountSampler(L), oracle, L)[q == 0].sum()) < 1e-15
