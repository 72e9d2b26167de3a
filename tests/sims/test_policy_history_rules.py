"""History rules: KLASS, CreditDecoding, SlowFast, running-confidence remasking (RCR).

Each rule's decision on hand-built denoiser outputs (pinned from the rule's definition), its run-level
structure (how many tokens each step reveals), the settings in which it reduces to a rule with a known
law, and where it is exact or biased with the oracle. Monte Carlo vs the exact augmented-state law:
tests/sims/test_policy_history_laws.py; the sampler contract: tests/conformance.
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.sampling.credit import CreditDecodingSampler, current_block, update_credit
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.klass import KLASSSampler, kl_rows
from sims.sampling.policy import exact_policy_law
from sims.sampling.rcr import RCRSampler, maskgit_revealed
from sims.sampling.slowfast import SlowFastSampler
from tests.conformance.cases import CYCLE, HMM
from tests.helpers import CountingDenoiser, PointMassDenoiser

V = 3


def _oracle(lang=HMM):
    return OracleDenoiser(lang, on_impossible="uniform")


def _lp(rows):
    return torch.log(torch.tensor([rows], dtype=torch.float64))


def _q(L=4, lang=HMM):
    return torch.exp(exact_log_joint(lang, L))


# ---- KLASS -------------------------------------------------------------------------------------------
def test_kl_rows():
    p, q = _lp([[0.5, 0.5, 0.0]]), _lp([[0.25, 0.75, 0.0]])
    assert float(kl_rows(p, q)[0, 0]) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert math.isinf(float(kl_rows(q, _lp([[0.0, 1.0, 0.0]]))[0, 0]))  # off the previous support
    assert float(kl_rows(p, p)[0, 0]) == 0.0


def test_klass_decision_needs_confidence_and_h_small_divergences():
    s = KLASSSampler(0.9, 0.01, 2, tie_break="lowest_index")
    x = torch.full((1, 3), V)
    now = _lp([[0.95, 0.05, 0.0], [0.92, 0.08, 0.0], [0.5, 0.5, 0.0]])
    extra = s.init_extra(1, 3, V, torch.device("cpu"))
    extra["prev_log_probs"] = _lp([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    order = torch.tensor([[0, 1, 2]])
    extra["kl_history"][:] = 0.0  # two earlier small divergences
    dec = s.decide(now, now, torch.zeros((1, 3), dtype=torch.long), order, x, extra, 5)
    # position 0: confident and stable; 1: confident, KL(now || prev) large; 2: stable, not confident
    assert dec.reveal[0].tolist() == [True, False, False]
    assert dec.extra["kl_history"][0, :, -1].tolist()[0] == 0.0
    extra["kl_history"][:, 0, 0] = math.inf  # the older divergence is missing: nothing is ready
    dec = s.decide(now, now, torch.zeros((1, 3), dtype=torch.long), order, x, extra, 5)
    assert dec.reveal[0].tolist() == [True, False, False]  # the fallback: the most confident one (ties low)
    extra["kl_history"][:] = 0.0
    s2 = KLASSSampler(0.9, 0.01, 2, block_length=1, tie_break="lowest_index")
    x2 = torch.tensor([[0, V, V]])  # block 1 is current
    dec = s2.decide(now, now, torch.zeros((1, 3), dtype=torch.long), torch.tensor([[1, 2, 0]]), x2, extra, 5)
    assert dec.reveal[0].tolist() == [False, True, False]


def test_klass_waits_h_steps_before_parallel_reveals():
    den = PointMassDenoiser((1, 0, 2, 1), V)  # every output is a point mass: confident, KL = 0 after step 0
    for h, per_step in [(1, [1, 3]), (2, [1, 1, 2]), (3, [1, 1, 1, 1])]:
        res = KLASSSampler(0.9, 0.01, h).sample(den, 4, 4, make_generator(0))
        counts = torch.bincount(res.reveal_step[0], minlength=4).tolist()
        assert [c for c in counts if c] == per_step and res.nfe.tolist() == [len(per_step)] * 4


def test_klass_with_tau_one_is_exact_and_lower_tau_is_not():
    den, L = _oracle(), 4
    assert kl_divergence(_q(), exact_policy_law(KLASSSampler(1.0, 0.01, 1), den, L)) < 1e-12
    assert kl_divergence(_q(), exact_policy_law(KLASSSampler(0.3, 1.0, 1), den, L)) > 1e-3


# ---- CreditDecoding ----------------------------------------------------------------------------------
def test_credit_update_and_fusion():
    lp = _lp([[0.81, 0.19, 0.0], [0.5, 0.25, 0.25]])
    credit = update_credit(
        torch.zeros(1, 2, V, dtype=torch.float64), lp, torch.tensor([[True, False]]), 0.8, 0.2
    )
    assert float(credit[0, 0, 0]) == pytest.approx(0.81**0.2, abs=1e-12) and float(credit[0, 1].sum()) == 0
    credit2 = update_credit(credit, lp, torch.tensor([[True, True]]), 0.8, 0.2)
    assert float(credit2[0, 0, 0]) == pytest.approx(1.8 * 0.81**0.2, abs=1e-11)
    assert float(credit2[0, 1, 0]) == pytest.approx(0.5**0.2, abs=1e-12)
    s = CreditDecodingSampler(alpha=0.7)
    x = torch.full((1, 2), V)
    extra = s.init_extra(1, 2, V, torch.device("cpu"))
    fused = s.value_log_probs(lp, x, extra, 0).exp()[0, 0]
    w = torch.tensor([0.81 * (1 + 0.81**0.2) ** 0.7, 0.19, 0.0], dtype=torch.float64)
    assert torch.allclose(fused, w / w.sum(), atol=1e-12)
    assert current_block(torch.tensor([[0, V, V, V]]), V, 2).tolist() == [0]
    assert current_block(torch.tensor([[0, 1, V, V], [0, 1, 2, 1]]), V, 2).tolist() == [1, 2]


def test_credit_with_alpha_zero_is_fast_dllm_threshold():
    den, L = _oracle(CYCLE), 4
    a = exact_policy_law(CreditDecodingSampler(0.7, alpha=0.0), den, L)
    b = exact_sampler_law(FastDLLMSampler("threshold", 0.7), den, L)
    assert float((a - b).abs().max()) < 1e-13


def test_credit_biases_the_law_even_at_one_token_per_step():
    """tau = 1 unmasks one token per step (plus probability-one tokens); without credit that is exact with
    the oracle, with credit the tokens are drawn from the fused law, which is not the posterior."""
    den, L = _oracle(), 4
    assert kl_divergence(_q(), exact_policy_law(CreditDecodingSampler(1.0, alpha=0.0), den, L)) < 1e-12
    assert kl_divergence(_q(), exact_policy_law(CreditDecodingSampler(1.0, alpha=0.7), den, L)) > 1e-3


def test_credit_resets_at_a_new_block():
    s = CreditDecodingSampler(block_length=2)
    lp = _lp([[0.9, 0.1, 0.0]] * 4)
    extra = s.init_extra(1, 4, V, torch.device("cpu"))
    extra["block"][:] = 0
    extra["credit"][:] = 5.0
    credit, block = s._credit(lp, torch.tensor([[0, 1, V, V]]), extra)
    assert block.tolist() == [1] and float(credit[0, 0].sum()) == 0  # old credit dropped, no decay first
    assert float(credit[0, 2, 0]) == pytest.approx(0.9**0.2, abs=1e-12)


# ---- SlowFast ----------------------------------------------------------------------------------------
def test_slowfast_span_estimate_and_stability():
    s = SlowFastSampler(6, 0.5, 2, 1.0, 0.9, tie_break="lowest_index")
    L = 8
    x = torch.full((1, L), V)
    conf = [0.4, 0.6, 0.35, 0.55, 0.34, 0.34, 0.34, 0.34]  # farthest >= 0.5 at offset 3: estimate 4
    lp = _lp([[c, (1 - c) / 2, (1 - c) / 2] for c in conf])
    extra = s.init_extra(1, L, V, torch.device("cpu"))
    order = torch.tensor([[1, 3, 0, 2, 4, 5, 6, 7]])
    dec = s.decide(lp, lp, torch.zeros((1, L), dtype=torch.long), order, x, extra, 0)
    assert dec.reveal[0].tolist() == [False, True] + [False] * 6  # no two >= 0.9: the most confident
    assert dec.extra["hist"][0].tolist() == [-1, 4] and int(dec.extra["determined"][0]) == 0
    x2 = x.clone()
    x2[0, 1] = 0
    order2 = torch.tensor([[3, 0, 2, 4, 5, 6, 7, 1]])  # rankings list the candidates first
    dec2 = s.decide(lp, lp, torch.zeros((1, L), dtype=torch.long), order2, x2, dec.extra, 1)
    assert dec2.extra["hist"][0].tolist() == [4, 4] and int(dec2.extra["determined"][0]) == 1
    assert int(dec2.extra["span_end"][0]) == 4 and int(dec2.extra["k_step"][0]) == 2
    assert dec2.reveal[0].tolist() == [False, False, False, True] + [False] * 4


def test_slowfast_unstable_estimates_use_their_mean_at_the_last_exploration_step():
    s = SlowFastSampler(2, 0.5, 2, 1.0, 0.9)
    L = 8
    x = torch.full((1, L), V)
    extra = s.init_extra(1, L, V, torch.device("cpu"))
    far = _lp([[0.6, 0.2, 0.2]] * 6 + [[0.4, 0.3, 0.3]] * 2)  # farthest >= 0.5 at offset 5: estimate 6
    near = _lp([[0.6, 0.2, 0.2]] + [[0.4, 0.3, 0.3]] * 7)  # none masked >= 0.5: estimate P + 1 = 1
    order = torch.arange(L).unsqueeze(0)
    d1 = s.decide(far, far, torch.zeros((1, L), dtype=torch.long), order, x, extra, 0)
    x[0, 0] = 0
    d2 = s.decide(near, near, torch.zeros((1, L), dtype=torch.long), order, x, d1.extra, 1)
    assert d2.extra["hist"][0].tolist() == [6, 1]
    assert int(d2.extra["span_end"][0]) == 3 and int(d2.extra["phase"][0]) == 1  # floor(3.5), fast phase


def test_slowfast_with_threshold_one_is_exact_with_the_oracle():
    """threshold 1 fills several tokens only when all have probability one; otherwise one token per step
    (any order), so the law is the language's, whatever the sub-cycles do."""
    den, L = _oracle(), 4
    for s in (SlowFastSampler(threshold=1.0), SlowFastSampler(1, 0.3, 1, 1.0, 1.0, block_length=2)):
        assert kl_divergence(_q(), exact_policy_law(s, den, L)) < 1e-12
    assert kl_divergence(_q(), exact_policy_law(SlowFastSampler(1, 0.3, 1, 1.0, 0.3), den, L)) > 1e-3


# ---- RCR ---------------------------------------------------------------------------------------------
def test_maskgit_revealed_counts():
    assert maskgit_revealed(10, 4) == [3, 5, 8, 10]
    assert maskgit_revealed(10, 4, "cosine") == [1, 3, 7, 10]
    assert maskgit_revealed(4, 1) == [4]


def test_rcr_keeps_the_scheduled_number_revealed_and_remasks_the_least_confident():
    s = RCRSampler(4, tie_break="lowest_index")
    L = 10
    res = s.sample(_oracle(CYCLE), 64, L, make_generator(0))
    n = maskgit_revealed(L, 4)
    assert res.step_num_masked[:, 1:].tolist() == [[L - c for c in n[:-1]]] * 64
    # the decision: every masked position revealed, the L - N_k lowest running confidences remasked
    x = torch.tensor([[0, V, V, 1]])
    extra = {"conf": torch.tensor([[0.3, 0.0, 0.0, 0.95]], dtype=torch.float64)}
    lp = _lp([[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.0, 1.0, 0.0]])
    order = torch.tensor([[0, 1, 2, 3]])  # ascending running confidence: 0.3, 0.6, 0.8, 0.95
    dec = RCRSampler(4).decide(lp, lp, torch.zeros((1, 4), dtype=torch.long), order, x, extra, 0)
    assert dec.reveal[0].tolist() == [False, True, True, False]
    assert dec.remask[0].tolist() == [True, True, True, False]  # L - N_0 = 4 - 1 = 3
    assert dec.extra["conf"][0].tolist() == [0.0, 0.0, 0.0, 0.95]


def test_rcr_with_one_step_is_the_product_of_the_first_marginals():
    den, L = _oracle(), 4
    law = exact_policy_law(RCRSampler(1), den, L)
    p = den(torch.full((1, L), V)).probs[0]
    prod = torch.ones(1, dtype=torch.float64)
    for i in range(L):
        prod = (prod.unsqueeze(1) * p[i].unsqueeze(0)).reshape(-1)
    assert float((law - prod).abs().max()) < 1e-14


def test_a_step_that_undoes_its_own_reveals_makes_no_new_call():
    """K > L gives zero counts: a step reveals the single masked position and remasks the lowest running
    confidence, which may be that same position; the state is then unchanged and the output is reused."""
    den = CountingDenoiser(_oracle(CYCLE))
    res = RCRSampler(6, tie_break="lowest_index").sample(den, 200, 2, make_generator(3))
    changes = (res.step_num_masked[:, 1:] != res.step_num_masked[:, :-1]).sum(1) + 1
    assert int(res.nfe.sum()) == den.rows and bool((res.nfe <= 6).all())
    assert bool((res.nfe < 6).any()) and bool((changes >= 1).all())


def test_history_state_follows_resampled_particles():
    """E-SMC resamples rows with RunState.take_rows; the per-run state of a history rule must follow."""
    base = KLASSSampler(0.5, 0.05, 1)
    res = EntropySMCSampler(base, num_particles=3).sample(_oracle(), 30, 4, make_generator(2))
    assert res.tokens.shape == (30, 4) and bool((res.tokens < V).all()) and bool((res.reveal_step >= 0).all())
