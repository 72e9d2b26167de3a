"""Fast-dLLM (sims/sampling/fast_dllm.py): the selection rules, and the bias of confidence rules that look at
the sampled token (exact laws, one token per step). Monte Carlo vs the exact law, calls and bad arguments:
tests/conformance (registry entries fast_dllm_*)."""

import pytest
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.random import random_hmm
from sims.sampling.fast_dllm import FastDLLMSampler, fast_dllm_select
from sims.sampling.fixed_count import FixedCountSampler


def test_selection_rules_on_a_worked_example():
    conf = torch.tensor([[0.95, 0.5, 0.99, 0.9, 0.2]], dtype=torch.float64)
    cand = torch.tensor([[True, True, True, True, False]])
    sel = fast_dllm_select(conf, cand, "threshold", 0.9, 1.0)
    assert sel[0].tolist() == [True, False, True, True, False]  # c >= 0.9 (code), candidate 4 excluded
    sel = fast_dllm_select(conf, cand, "threshold", 0.999, 1.0)
    assert sel[0].tolist() == [False, False, True, False, False]  # always the most confident
    # factor f = 0.35, sorted 0.99, 0.95, 0.9, 0.5: (n+1)(1-c) = 0.02, 0.15, 0.4, 2.0 -> n = 2
    sel = fast_dllm_select(conf, cand, "factor", 0.9, 0.35)
    assert sel[0].tolist() == [True, False, True, False, False]
    # the released code takes the last candidate too when only the last one fails
    conf2 = torch.tensor([[0.99, 0.95, 0.1]], dtype=torch.float64)
    cand2 = torch.ones((1, 3), dtype=torch.bool)
    assert fast_dllm_select(conf2, cand2, "factor", 0.9, 0.35, "paper")[0].tolist() == [True, True, False]
    assert fast_dllm_select(conf2, cand2, "factor", 0.9, 0.35, "code")[0].tolist() == [True, True, True]


def test_confidence_of_the_sampled_token_is_biased_at_one_token_per_step():
    """Exact laws: context-only confidence (max prob) at one token per step is exact with the oracle;
    ranking by the probability of the *drawn* token is not (LLaDA low_confidence, Fast-dLLM code at T>0)."""
    lang = random_hmm(3, 3, transition_concentration=0.5, emission_concentration=0.5, seed=2)
    L = 4
    den = OracleDenoiser(lang, on_impossible="uniform")
    q = torch.exp(exact_log_joint(lang, L))
    kl = {
        o: kl_divergence(q, exact_sampler_law(FixedCountSampler(L, score=o), den, L))
        for o in ["random", "max_prob", "margin", "entropy", "sampled_prob"]
    }
    for o in ["random", "max_prob", "margin", "entropy"]:
        assert kl[o] < 1e-12
    assert kl["sampled_prob"] > 1e-3
    # Fast-dLLM with tau = 1 reveals one token per step (plus prob-1 tokens): same dichotomy
    assert kl_divergence(q, exact_sampler_law(FastDLLMSampler("threshold", 1.0), den, L)) < 1e-12
    kl_s = kl_divergence(
        q, exact_sampler_law(FastDLLMSampler("threshold", 1.0, score="sampled_prob"), den, L)
    )
    assert kl_s > 1e-3


def test_select_positions_needs_a_deterministic_rule():
    lp = torch.log(torch.full((2, 3), 1 / 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="sampled_prob"):
        FastDLLMSampler(score="sampled_prob", tie_break="lowest_index").select_positions((3, 3), 0, lp)
    with pytest.raises(ValueError, match="tie_break"):
        FastDLLMSampler().select_positions((3, 3), 0, lp)
    assert FastDLLMSampler(tie_break="lowest_index").select_positions((3, 3), 0, lp) == (0,)
