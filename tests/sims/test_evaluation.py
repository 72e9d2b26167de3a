"""Replay likelihood (DUEL), exact policy laws, data-direction excess and transition rates, against exact laws."""

import math
from dataclasses import replace

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import all_sequences, sequence_index
from sims.evaluation import (
    data_direction_excess,
    exact_policy_law,
    reference_transitions,
    replay_law,
    replay_log_likelihood,
    transition_rates,
)
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages import NGramLanguage, random_hmm
from sims.languages.formal import dyck_language
from sims.metrics import exact_law_metrics
from sims.registry import make_language, make_sampler
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remdm import ReMDMSampler
from sims.validation import InvalidArgumentError

CYCLE = NGramLanguage(2, 3, [0.2, 0.3, 0.5], [[0.1, 0.9, 0.0], [0.0, 0.2, 0.8], [0.7, 0.0, 0.3]])
HMM = random_hmm(3, 3, transition_support=2, emission_support=2, seed=3)

DETERMINISTIC = {
    "max_prob_K2": lambda: FixedCountSampler(2, score="max_prob", tie_break="lowest_index"),
    "entropy_K3": lambda: FixedCountSampler(3, score="entropy", tie_break="lowest_index"),
    "eb": lambda: EBSampler(0.4, "entropy", tie_break="lowest_index"),
    "fast_dllm": lambda: FastDLLMSampler("threshold", 0.6, tie_break="lowest_index"),
}


@pytest.mark.parametrize("lang", [CYCLE, HMM], ids=["cycle", "hmm"])
@pytest.mark.parametrize("key", sorted(DETERMINISTIC))
def test_replay_law_of_a_deterministic_policy_is_its_exact_law(lang, key):
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    sampler = DETERMINISTIC[key]()
    law, deterministic = replay_law(sampler, oracle, 4, make_generator(0))
    assert deterministic
    assert math.isclose(float(law.sum()), 1.0, abs_tol=1e-12)
    assert torch.allclose(law, exact_sampler_law(sampler, oracle, 4), atol=1e-14)


class _NoKernel(FixedCountSampler):
    @property
    def capabilities(self):
        return replace(super().capabilities, exact_kernel=False)


def test_exact_policy_law_uses_the_kernel_or_the_replay():
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    kernel = exact_policy_law(
        FixedCountSampler(2, score="margin", tie_break="lowest_index"), oracle, 4, make_generator(1)
    )
    replayed = exact_policy_law(
        _NoKernel(2, score="margin", tie_break="lowest_index"), oracle, 4, make_generator(1)
    )
    assert (kernel.method, replayed.method) == ("exact kernel", "replay")
    assert torch.allclose(kernel.law, replayed.law, atol=1e-14)
    assert exact_policy_law(_NoKernel(2, score="random"), oracle, 4, make_generator(1)) is None


def test_randomised_replay_is_unbiased_for_p_and_a_jensen_bound():
    """A random order's replay draws the path's selections from the policy: E exp(ll) = p(x), E ll <= log p(x)."""
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    sampler = FixedCountSampler(2, score="random")
    law = exact_sampler_law(sampler, oracle, 4)
    x = CYCLE.sample(3, 4, make_generator(2))
    reps = x.repeat_interleave(4000, 0)
    r = replay_log_likelihood(sampler, oracle, reps, make_generator(3))
    assert not r.deterministic
    ll = r.log_likelihood.reshape(3, 4000)
    p = law[sequence_index(x, 3)]
    est = torch.exp(ll).mean(1)
    se = torch.exp(ll).std(1) / math.sqrt(4000)
    assert bool(((est - p).abs() <= 4 * se + 1e-12).all())
    assert bool((ll.mean(1) <= torch.log(p) + 1e-12).all())
    assert bool((r.nfe == 2).all())


def test_replay_refuses_what_it_cannot_score():
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    x = CYCLE.sample(4, 4, make_generator(0))
    with pytest.raises(InvalidArgumentError, match="revisits"):
        replay_log_likelihood(ReMDMSampler(8), oracle, x, make_generator(0))
    with pytest.raises(InvalidArgumentError, match="temperature 0"):
        replay_log_likelihood(
            FixedCountSampler(2, score="max_prob", temperature=0.0), oracle, x, make_generator(0)
        )
    with pytest.raises(InvalidArgumentError, match="particle"):
        replay_log_likelihood(EntropySMCSampler(FixedCountSampler(2), 2), oracle, x, make_generator(0))


def test_data_direction_excess_kinds_and_agreement_with_the_exact_kl():
    lang, L = CYCLE, 4
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    lj = exact_log_joint(lang, L)
    det = FixedCountSampler(2, score="max_prob", tie_break="lowest_index")
    est = data_direction_excess(lang, oracle, det, L, 4000, make_generator(4))
    exact = exact_law_metrics(lj, exact_sampler_law(det, oracle, L), L).kl_data_to_sampler / L
    assert est.kind == "replay (exact)"
    assert est.estimate.ci_low - 1e-9 <= exact <= est.estimate.ci_high + 1e-9
    rnd = data_direction_excess(lang, oracle, make_sampler("fixed_random", 2), L, 200, make_generator(5))
    assert rnd.kind == "teacher forcing (upper bound)"
    tie = data_direction_excess(
        lang, oracle, FixedCountSampler(2, score="max_prob"), L, 200, make_generator(6)
    )
    assert tie.kind in ("replay (exact)", "replay, sampled selections (upper bound)")
    assert (
        data_direction_excess(lang, oracle, make_sampler("fixed_sampled_prob", 2), L, 200, make_generator(7))
        is None
    )
    assert data_direction_excess(lang, oracle, ReMDMSampler(8), L, 50, make_generator(8)) is None
    assert (
        data_direction_excess(
            lang, oracle, EntropySMCSampler(FixedCountSampler(2), 2), L, 50, make_generator(9)
        )
        is None
    )


def test_transition_reference_and_rates():
    lang = make_language("ngram2")
    ref = reference_transitions(lang, 64)
    assert torch.allclose(
        ref.conditional, lang.transition, atol=1e-12
    )  # stationary bigram: the matrix itself
    x = lang.sample(512, 64, make_generator(0))
    exact = transition_rates(x, ref)
    assert exact.impossible_rate == 0 and 0 <= exact.kl_rate < 0.05 and exact.pairs == 512 * 63
    # Tang et al.'s formula by hand on two sequences
    tiny = torch.tensor([[0, 1, 1], [1, 0, 0]])
    r = transition_rates(tiny, reference_transitions(CYCLE, 3))
    q = reference_transitions(CYCLE, 3).conditional
    p0 = torch.tensor([0.5, 0.5, 0.0])  # from 0: one 0->1, one 0->0
    p1 = torch.tensor([0.5, 0.5, 0.0])  # from 1: one 1->1, one 1->0
    assert math.isclose(r.impossible_rate, 0.25)  # 1 -> 0 has probability zero
    assert r.kl_rate == math.inf
    tv = 0.5 * 0.5 * float((p0 - q[0]).abs().sum() + (p1 - q[1]).abs().sum())
    assert math.isclose(r.tv_rate, tv, abs_tol=1e-12)


def test_pooled_reference_of_a_non_markov_language():
    lang, L = dyck_language(2), 6
    ref = reference_transitions(lang, L)
    p = torch.exp(exact_log_joint(lang, L))
    seqs = all_sequences(2, L)
    pooled = torch.zeros(2, 2, dtype=torch.float64)
    for t in range(L - 1):
        pooled.index_put_((seqs[:, t], seqs[:, t + 1]), p, accumulate=True)
    pooled /= L - 1
    assert torch.allclose(ref.pair_law, pooled, atol=1e-12)
    assert torch.allclose(ref.conditional, pooled / pooled.sum(1, keepdim=True), atol=1e-12)
