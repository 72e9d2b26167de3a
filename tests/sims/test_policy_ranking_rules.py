"""Ranking rules on marginals: Fast-dLLM++ Fréchet profile, LocalLeap, Prophet early commit, PC-Sampler.

Pinned examples computed by hand from each rule, the reductions the papers state (Fréchet = factor rule on
equal confidences, LocalLeap = threshold rule without relaxation, Prophet without commit = LLaDA fixed counts,
PC-Sampler = sampled-token confidence without position weight or calibration), and the background the
PC-Sampler reads from the all-masked output. Monte Carlo vs exact laws: tests/conformance (exact kernels)
and tests/sims/test_policy_history_laws.py (PC-Sampler's all-masked background).
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.sampling.fast_dllm import FastDLLMSampler, fast_dllm_select
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.frechet import FrechetSampler, frechet_select
from sims.sampling.local_leap import LocalLeapSampler, local_leap_select
from sims.sampling.pc_sampler import PCSampler, pc_log_scores
from sims.sampling.policy import exact_policy_law
from sims.sampling.prophet import ProphetSampler, prophet_threshold, top2_gap
from tests.conformance.cases import CYCLE, HMM
from tests.helpers import PointMassDenoiser


def _oracle(lang=HMM):
    return OracleDenoiser(lang, on_impossible="uniform")


# ---- Fast-dLLM++ -------------------------------------------------------------------------------------
def test_frechet_worked_example():
    # sorted 0.99, 0.95, 0.9, 0.5 -> G = 0.98, 0.89, 0.74, -0.16 (L_n - U_n)
    conf = torch.tensor([[0.95, 0.5, 0.99, 0.9, 0.2]], dtype=torch.float64)
    cand = torch.tensor([[True, True, True, True, False]])
    assert frechet_select(conf, cand, 0.25)[0].tolist() == [True, False, True, True, False]
    assert frechet_select(conf, cand, 0.8)[0].tolist() == [True, False, True, False, False]
    assert frechet_select(conf, cand, 0.95)[0].tolist() == [False, False, True, False, False]  # at least one
    assert frechet_select(conf, cand, 0.0)[0].tolist() == [True, False, True, True, False]


def test_frechet_equals_the_factor_rule_on_equal_confidences_and_commits_at_least_as_many():
    g = make_generator(3)
    for _ in range(300):
        n = int(torch.randint(1, 7, (1,), generator=g))
        delta = float(torch.rand((), generator=g, dtype=torch.float64)) * 0.6
        cand = torch.ones((1, n), dtype=torch.bool)
        eps = float(torch.rand((), generator=g, dtype=torch.float64)) * 0.4
        flat = torch.full((1, n), 1 - eps, dtype=torch.float64)
        factor = fast_dllm_select(flat, cand, "factor", 0.9, 1 - delta)
        assert torch.equal(frechet_select(flat, cand, delta), factor)
        # heterogeneous profile: the Fréchet score is the factor core plus a non-negative bonus
        conf = 1 - torch.rand((1, n), generator=g, dtype=torch.float64) * 0.4
        k_frechet = int(frechet_select(conf, cand, delta).sum())
        assert k_frechet >= int(fast_dllm_select(conf, cand, "factor", 0.9, 1 - delta).sum())


def test_frechet_paper_and_code_scores_select_the_same_prefix():
    """The paper clamps the Fréchet bound at 0; the released code does not and counts the passing n. For
    margins >= 0 both select the same set."""
    g = make_generator(5)
    for _ in range(300):
        n = int(torch.randint(1, 8, (1,), generator=g))
        conf = torch.rand((1, n), generator=g, dtype=torch.float64)
        delta = float(torch.rand((), generator=g, dtype=torch.float64))
        c = conf.sort(descending=True).values[0]
        cols = torch.arange(n, dtype=torch.float64)
        code_score = torch.cumsum(c, 0) - cols - (1 - c)  # no clamp, as released
        code_score[0] = math.inf
        k_code = max(1, int((code_score > delta).sum()))
        assert int(frechet_select(conf, torch.ones((1, n), dtype=torch.bool), delta).sum()) == k_code


def test_frechet_with_margin_one_is_one_token_per_step_and_exact():
    den, L = _oracle(), 4
    q = torch.exp(exact_log_joint(HMM, L))
    assert kl_divergence(q, exact_sampler_law(FrechetSampler(1.0), den, L)) < 1e-12
    assert kl_divergence(q, exact_sampler_law(FrechetSampler(0.0), den, L)) > 1e-3


# ---- LocalLeap ---------------------------------------------------------------------------------------
def test_local_leap_worked_example():
    conf = torch.tensor([[0.95, 0.8, 0.5, 0.78, 0.3]], dtype=torch.float64)
    cand = torch.ones((1, 5), dtype=torch.bool)
    # one anchor (position 0); radius 1: position 1 passes the relaxed bar, position 3 (0.78) does not
    assert local_leap_select(conf, cand, 0.9, 0.75, 1)[0].tolist() == [True, True, False, False, False]
    # radius 3 puts position 3 in the neighbourhood
    assert local_leap_select(conf, cand, 0.9, 0.75, 3)[0].tolist() == [True, True, False, True, False]
    # no anchor: only the most confident
    low = conf * 0.5
    assert local_leap_select(low, cand, 0.9, 0.3, 4)[0].tolist() == [True, False, False, False, False]
    # an anchor that is not a candidate (revealed) does not count
    cand0 = torch.tensor([[False, True, True, True, True]])
    assert local_leap_select(conf, cand0, 0.9, 0.75, 1)[0].tolist() == [False, True, False, False, False]


def test_local_leap_without_relaxation_is_the_threshold_rule():
    g = make_generator(4)
    for _ in range(200):
        conf = torch.rand((1, 6), generator=g, dtype=torch.float64)
        cand = torch.rand((1, 6), generator=g) < 0.8
        if not bool(cand.any()):
            continue
        tau = float(torch.rand((), generator=g))
        a = local_leap_select(conf, cand, tau, tau, 2)
        assert torch.equal(a, fast_dllm_select(conf, cand, "threshold", tau, 1.0))


def test_local_leap_law_reduces_to_fast_dllm_threshold():
    den, L = _oracle(CYCLE), 4
    a = exact_sampler_law(LocalLeapSampler(0.7, 0.7, 2), den, L)
    b = exact_sampler_law(FastDLLMSampler("threshold", 0.7), den, L)
    assert float((a - b).abs().max()) < 1e-14


# ---- Prophet -----------------------------------------------------------------------------------------
def test_prophet_thresholds_and_gap():
    assert [prophet_threshold(p) for p in (0.1, 0.33, 0.5, 0.67, 1.0)] == [7.5, 5.0, 5.0, 2.5, 2.5]
    lp = torch.log(torch.tensor([[[0.9, 0.1, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25]]], dtype=torch.float64))
    gap = top2_gap(lp)[0]
    assert (
        gap[0] == pytest.approx(math.log(9)) and math.isinf(gap[1]) and gap[2] == pytest.approx(math.log(2))
    )


def test_prophet_commits_everything_once_the_answer_is_determined():
    """A point-mass denoiser has infinite gaps: everything is committed at the first step (one call)."""
    den = PointMassDenoiser((0, 2, 1, 2), 3)
    res = ProphetSampler(4).sample(den, 8, 4, make_generator(0))
    assert res.nfe.tolist() == [1] * 8 and bool((res.tokens == torch.tensor([0, 2, 1, 2])).all())
    # on the cycle the top-2 gap is log 9 < 2.5 until a neighbour is revealed: the first step reveals one
    res = ProphetSampler(4).sample(_oracle(CYCLE), 200, 4, make_generator(1))
    assert bool((res.step_num_masked[:, 1] == 3).all())


def test_prophet_without_commit_is_llada_fixed_count():
    den, L = _oracle(), 4
    never = (math.inf, math.inf, math.inf)
    for score in ("max_prob", "sampled_prob"):
        a = exact_sampler_law(ProphetSampler(2, thresholds=never, score=score, block_length=2), den, L)
        b = exact_sampler_law(FixedCountSampler(2, score=score, block_length=2), den, L)
        assert float((a - b).abs().max()) < 1e-14
    # the answer region restricts the gap: a region of one position commits on its own gap
    s = ProphetSampler(4, thresholds=(2.0, 2.0, 2.0), answer_positions=(3,))
    assert kl_divergence(exact_sampler_law(s, den, L), exact_sampler_law(ProphetSampler(4), den, L)) > 0


# ---- PC-Sampler --------------------------------------------------------------------------------------
def test_pc_scores_worked_example():
    lp = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]], dtype=torch.float64))
    values = torch.tensor([[0, 0, 1]])
    bg = torch.tensor([0.25, 0.75], dtype=torch.float64)
    s = pc_log_scores(lp, values, bg, 0.5, 10.0, 0)
    expected = [
        math.log(0.5 * math.log(4)),
        -0.5 + math.log(0.9 * math.log(4)),
        -1.0 + math.log(0.8 * -math.log(0.75)),
    ]
    assert s[0].tolist() == pytest.approx(expected, abs=1e-12)
    clipped = pc_log_scores(lp, values, bg, 0.0, 0.5, 0)  # min(alpha, .) with alpha = 0.5
    assert clipped[0].tolist() == pytest.approx(
        [math.log(0.5), math.log(0.5), math.log(0.8 * -math.log(0.75))]
    )
    # the position weight is relative to the block start (a common factor inside a block)
    assert float(pc_log_scores(lp, values, bg, 0.5, 10.0, 1)[0, 1]) == pytest.approx(
        math.log(0.9 * math.log(4))
    )
    # a token of background frequency zero gets the clip alpha
    zero = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert float(pc_log_scores(lp, values, zero, 0.0, 3.0, 0)[0, 0]) == pytest.approx(math.log(3.0))


def test_pc_sampler_without_weight_and_calibration_is_llada_low_confidence():
    den, L = _oracle(), 4
    a = exact_sampler_law(PCSampler(2, lam=0.0, alpha=100.0, background="uniform"), den, L)
    b = exact_sampler_law(FixedCountSampler(2, score="sampled_prob"), den, L)
    assert float((a - b).abs().max()) < 1e-14


def test_all_masked_background_is_the_languages_unigram_frequency():
    den, L = _oracle(), 4
    all_masked = den(torch.full((1, L), HMM.vocab_size)).probs[0].mean(0)
    s = PCSampler(2)
    state = s.begin(den, 3, L, torch.device("cpu"))
    s.step(state, 0, make_generator(0))
    assert torch.allclose(state.extra["background"], all_masked.expand(3, -1), atol=1e-12, rtol=0)
    explicit = PCSampler(2, background=all_masked.tolist())
    law = exact_policy_law(s, den, L)
    assert float((law - exact_sampler_law(explicit, den, L)).abs().max()) < 1e-12
