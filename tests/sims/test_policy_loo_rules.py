"""The leave-one-out policies (WINO, P2, the informed / Gibbs predictor-corrector, Saber) on hand-built outputs, the
reductions they state, the pass they read (source, call count, checks) and their exact laws' reductions.

Monte Carlo against the exact laws runs for every registered case in ``tests/conformance`` (P2 and the
predictor-corrector: plain kernels fed the pass) and ``tests/sims/test_policy_history_laws.py`` (WINO,
Saber).
"""

import math

import pytest
import torch

from sims.bench.cells import BudgetExceeded, CallCap
from sims.bench.exact_laws import kernel_law
from sims.categorical import make_generator
from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import PassUnavailableError
from sims.exact import exact_log_joint, exact_sampler_law, total_variation
from sims.languages.formal import parity_language
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.loo_policy import LeaveOneOutView, loo_pass
from sims.sampling.p2 import P2Sampler, masked_after
from sims.sampling.policy import exact_policy_law
from sims.sampling.remask import RemaskCorrector
from sims.sampling.saber import SaberSampler, remask_count
from sims.sampling.wino import WINOSampler
from sims.validation import NumericalError
from tests.conformance.cases import CYCLE, HMM
from tests.helpers import P_MIN, CountingDenoiser, grouped_chi_square

V = 3
M = V  # mask id
LAW_TOL = 1e-12  # sums of at most a few hundred float64 products of probabilities


class NoPass(Denoiser):
    """The oracle's marginals only (declines the leave-one-out pass)."""

    def __init__(self, inner):
        self.inner = inner
        self.vocab_size = inner.vocab_size

    def predict(self, tokens, t=None):
        return self.inner(tokens, t)


def oracle(lang=HMM):
    return OracleDenoiser(lang, on_impossible="uniform")


def laws(rows):
    """``(1, L, V)`` log-probabilities from per-position probability rows."""
    return torch.tensor([rows], dtype=torch.float64).log()


# ---- the pass -------------------------------------------------------------------------------------
def test_masked_reprediction_equals_the_oracle_pass_and_costs_one_call_per_revealed_position():
    x = torch.tensor([[0, M, 2, 1], [M, M, M, M], [1, 1, M, 0]])
    exact, imp_a, calls_a = loo_pass(oracle(), x)
    approx, imp_b, calls_b = loo_pass(NoPass(oracle()), x)
    assert float((exact.exp() - approx.exp()).abs().max()) < LAW_TOL and torch.equal(imp_a, imp_b)
    assert calls_a.tolist() == [1, 1, 1] and calls_b.tolist() == [4, 1, 4]
    with pytest.raises(PassUnavailableError, match="loo_source='auto'"):
        loo_pass(NoPass(oracle()), x, "pass")
    with pytest.raises(PassUnavailableError, match="leave-one-out"):
        WINOSampler(loo_source="pass").sample(NoPass(oracle()), 2, 4, make_generator(0))


def test_the_support_flag_is_read_off_the_pass():
    """A row leaves the support iff its revealed tokens are impossible (the marginal pass's flag)."""
    o = oracle()
    xs = torch.tensor([[a, b, c, M] for a in range(V) for b in range(V) for c in (M, 0, 1, 2)])
    _, imp, _ = loo_pass(o, xs)
    assert torch.equal(imp, o(xs).impossible) and 0 < int(imp.sum()) < len(xs)


def test_a_nan_pass_raises():
    class NaNPass(NoPass):
        def passes(self):
            return ("marginals", "leave_one_out")

        def leave_one_out(self, tokens):
            out = self.inner.leave_one_out(tokens)
            out.log_probs[0, 0] = math.nan
            return out

    with pytest.raises(NumericalError, match="NaN"):
        P2Sampler(4).sample(NaNPass(oracle()), 2, 4, make_generator(0))


def test_fallback_runs_have_the_oracle_law_and_count_the_extra_calls():
    s = P2Sampler(4)
    a = exact_sampler_law(s, oracle(), 4)
    b = exact_sampler_law(s, NoPass(oracle()), 4)
    assert float((a - b).abs().max()) < LAW_TOL
    res = s.sample(NoPass(oracle()), 50, 4, make_generator(1))
    # one pass per step on rows that changed; each pass costs 1 + (revealed positions) calls
    assert bool((res.nfe >= 1 + 0 + 1 + 1 + 1 + 2 + 1 + 3).all())
    den = CountingDenoiser(oracle())
    res = s.sample(den, 50, 4, make_generator(1))
    assert int(res.nfe.sum()) == den.rows + den.pass_rows


def test_the_view_is_the_pass():
    x = torch.tensor([[0, M, 2, 1]])
    out = LeaveOneOutView(oracle())(x)
    assert torch.equal(out.log_probs, oracle().leave_one_out(x).log_probs)


# ---- WINO -----------------------------------------------------------------------------------------
def wino_decide(s, rows, x, last=30, block=0, k=0, values=None):
    lp = laws(rows)
    x = torch.tensor([x])
    values = torch.zeros_like(x) if values is None else torch.tensor([values])
    extra = {"last_accept": torch.tensor([last]), "block": torch.tensor([block])}
    scores, cand = s.ranking(lp, lp, values, x, extra, k)
    order = torch.sort(torch.where(cand, scores, -torch.inf), descending=True, stable=True).indices
    return s.decide(lp, lp, values, order, x, extra, k)


def test_wino_drafts_strictly_above_the_threshold_or_the_most_confident():
    s = WINOSampler(0.7, 0.9, tie_break="lowest_index")
    rows = [[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.75, 0.25, 0.0], [0.5, 0.3, 0.2]]
    d = wino_decide(s, rows, [M, M, M, M])
    assert d.reveal[0].tolist() == [True, False, True, False]  # 0.7 is not > 0.7
    assert d.remask.sum() == 0 and d.extra["last_accept"].tolist() == [2]
    d = wino_decide(s, [[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]] * 2, [M, M, M, M])
    assert d.reveal[0].tolist() == [False, True, False, False]


def test_wino_verifies_only_after_a_multi_token_draft_and_caps_the_remask():
    s = WINOSampler(0.7, 0.9, tie_break="lowest_index")
    # positions 0, 1 revealed (token 0) with shadow probabilities 0.5 and 0.85; 2, 3 masked
    rows = [[0.5, 0.5, 0.0], [0.85, 0.15, 0.0], [0.9, 0.1, 0.0], [0.95, 0.05, 0.0]]
    d = wino_decide(s, rows, [0, 0, M, M])
    assert d.reveal[0].tolist() == [False, False, True, True] and d.remask[0].tolist() == [
        True,
        True,
        False,
        False,
    ]
    d = wino_decide(s, rows, [0, 0, M, M], last=2)  # 2 >= n_prev qualify: only n_prev - 1 = 1, the lowest
    assert d.remask[0].tolist() == [True, False, False, False]
    d = wino_decide(s, rows, [0, 0, M, M], last=2, block=-1)  # a new block resets n_prev to 30
    assert d.remask[0].tolist() == [True, True, False, False]
    one = [[0.5, 0.5, 0.0], [0.85, 0.15, 0.0], [0.9, 0.1, 0.0], [0.6, 0.4, 0.0]]
    d = wino_decide(s, one, [0, 0, M, M])  # one token drafted: no verification
    assert d.reveal[0].tolist() == [False, False, True, False] and not bool(d.remask.any())
    d = wino_decide(s, rows, [0, 0, M, M], k=s.num_steps(4) - 1)  # last step: fill, no remask
    assert d.reveal[0].tolist() == [False, False, True, True] and not bool(d.remask.any())


def test_wino_caps_a_wide_draft():
    s = WINOSampler(0.5, 0.9, tie_break="lowest_index")
    L = 10
    rows = [[0.6 + 0.01 * i, 0.4 - 0.01 * i, 0.0] for i in range(L)]
    d = wino_decide(s, rows, [M] * L)
    # cap = min(max(floor(0.7 * 10), 5), 20) = 7: the 7 most confident (positions 3..9)
    assert d.reveal[0].tolist() == [False] * 3 + [True] * 7


@pytest.mark.parametrize("lang", [CYCLE, HMM], ids=["cycle", "hmm"])
def test_wino_without_verification_is_threshold_decoding(lang):
    """tau_2 = 0 never remasks; with L = 4 the cap (>= 5) never binds, so WINO is Fast-dLLM's threshold rule
    (strict versus non-strict comparison: equal unless a confidence equals the threshold exactly)."""
    a = exact_policy_law(WINOSampler(0.7, 0.0), oracle(lang), 4)
    b = exact_sampler_law(FastDLLMSampler("threshold", 0.7), oracle(lang), 4)
    assert float((a - b).abs().max()) < LAW_TOL


def test_wino_remasks_on_the_oracle():
    """On L = 4 the code's cap (at most n_prev - 1 remasks) never lets a remask through on these languages;
    on the HMM at L = 6 with tau = (0.6, 0.95) about a fifth of the runs remask."""
    res = WINOSampler(0.6, 0.95).sample(oracle(HMM), 1000, 6, make_generator(0))
    assert bool((res.step_num_masked.diff(dim=1) > 0).any())


@pytest.mark.slow
def test_wino_verification_law_on_a_remasking_case():
    """Exact law with remasks (HMM, L = 6; about 80 s on one core): Monte Carlo agrees, and verification
    moves the law towards the target (TV 0.352 against 0.397 without it, measured)."""
    o = oracle(HMM)
    a = exact_policy_law(WINOSampler(0.6, 0.95), o, 6)
    b = exact_policy_law(WINOSampler(0.6, 0.0), o, 6)
    target = exact_log_joint(HMM, 6).exp()
    assert total_variation(a, target) < total_variation(b, target) - 0.01
    res = WINOSampler(0.6, 0.95).sample(o, 20000, 6, make_generator(5), batch_size=10000)
    assert grouped_chi_square(res.tokens, a, V).pvalue > P_MIN


# ---- P2 -------------------------------------------------------------------------------------------
def test_p2_counts_follow_the_linear_kappa():
    assert [masked_after(4, 4, k) for k in range(4)] == [3, 2, 1, 0]
    assert [masked_after(5, 3, k) for k in range(3)] == [3, 1, 0]
    res = P2Sampler(3).sample(oracle(), 200, 5 - 1, make_generator(0))
    assert res.step_num_masked[:, 0].eq(4).all() and res.step_num_masked[:, 1].eq(masked_after(4, 3, 0)).all()


def test_p2_remasks_a_revealed_token_with_a_low_leave_one_out_probability():
    rows = [[0.2, 0.8, 0.0], [0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.5, 0.5, 0.0]]
    x = torch.tensor([[0, M, M, M]])  # position 0 holds token 0, leave-one-out probability 0.2
    values = torch.tensor([[0, 0, 1, 0]])  # draws: 0.9, 0.7, 0.5
    for eta, keep0 in ((1.0, False), (0.0, True)):
        s = P2Sampler(4, eta=eta, tie_break="lowest_index")
        lp = laws(rows)
        scores, _ = s.ranking(lp, lp, values, x, {}, 1)
        order = torch.sort(scores, descending=True, stable=True).indices
        d = s.decide(lp, lp, values, order, x, {}, 1)  # step 1 of 4: two positions revealed after it
        assert bool(d.remask[0, 0]) is not keep0
        assert d.reveal[0].tolist() == (
            [False, True, True, False] if not keep0 else [False, True, False, False]
        )


@pytest.mark.parametrize("lang", [CYCLE, HMM], ids=["cycle", "hmm"])
def test_p2_without_stochasticity_is_top_confidence_decoding(lang):
    """eta = 0: revealed tokens score 0 = log 1, the top, so nothing is remasked and each step reveals the
    m_{k-1} - m_k most confident draws (LLaDA counts with K = L)."""
    a = exact_sampler_law(P2Sampler(4, eta=0.0), oracle(lang), 4)
    b = exact_sampler_law(FixedCountSampler(4, score="sampled_prob"), oracle(lang), 4)
    assert float((a - b).abs().max()) < LAW_TOL


def test_p2_with_stochasticity_revisits_on_the_oracle():
    s, g = P2Sampler(4, eta=2.0), make_generator(2)
    state = s.begin(oracle(HMM), 500, 4, torch.device("cpu"))
    remasked = torch.zeros(500, dtype=torch.bool)
    for k in range(4):
        before = state.x.clone()
        s.step(state, k, g)
        remasked |= ((before != V) & (state.x == V)).any(1)
    assert 0 < int(remasked.sum()) < 500
    target = exact_log_joint(HMM, 4).exp()
    tv = [total_variation(exact_sampler_law(P2Sampler(4, eta=e), oracle(HMM), 4), target) for e in (0, 1)]
    assert abs(tv[0] - tv[1]) > 1e-4  # the planner's remasking changes the law


def test_p2_pass_call_per_step():
    den = CountingDenoiser(oracle())
    res = P2Sampler(4, eta=0.0).sample(den, 30, 4, make_generator(0))
    assert res.nfe.tolist() == [4] * 30 and den.calls + den.pass_calls == 4


def test_wino_refuses_a_too_small_step_budget():
    with pytest.raises(ValueError, match="max_steps"):
        WINOSampler(max_steps=3).num_steps(4)


def test_outputs_are_carry_over_free():
    """The view is not a carry-over denoiser: a revealed position's law is its leave-one-out conditional."""
    x = torch.tensor([[0, 1, M, M]])
    out = LeaveOneOutView(oracle(CYCLE))(x)
    assert isinstance(out, DenoiserOutput) and float(out.log_probs[0, 0].exp().max()) < 1


# ---- Saber ----------------------------------------------------------------------------------------
def saber_decide(s, rows, x, last, commit_conf, values=None):
    lp = laws(rows)
    x = torch.tensor([x])
    values = torch.zeros_like(x) if values is None else torch.tensor([values])
    extra = {
        "last_conf": torch.tensor([last], dtype=torch.float64),
        "commit_conf": torch.tensor([commit_conf], dtype=torch.float64),
    }
    scores, cand = s.ranking(lp, lp, values, x, extra, 0)
    order = torch.sort(torch.where(cand, scores, -torch.inf), descending=True, stable=True).indices
    return s.decide(lp, lp, values, order, x, extra, 0)


def test_saber_remask_count_is_the_codes_formula():
    f = torch.tensor([1, 2, 8, 9, 17])
    assert remask_count(2, f).tolist() == [0, 1, 1, 2, 3]
    assert remask_count(4, f).tolist() == [0, 1, 2, 2, 3]


def test_saber_commits_above_the_mean_and_remasks_the_largest_leave_one_out_drop():
    s = SaberSampler(2, tie_break="lowest_index")
    nan = math.nan
    # position 0 holds token 0 with leave-one-out probability 0.6 (was 0.9 last step, committed at 0.8)
    rows = [[0.6, 0.4, 0.0], [0.9, 0.1, 0.0], [0.85, 0.15, 0.0], [0.3, 0.3, 0.4]]
    d = saber_decide(s, rows, [0, M, M, M], [0.9, 0.5, 0.5, 0.5], [0.8, nan, nan, nan])
    assert d.reveal[0].tolist() == [False, True, True, False]  # 0.9, 0.85 > mean 0.8; 0.4 not
    assert d.remask[0].tolist() == [True, False, False, False]  # drop -0.3 against rises 0.4, 0.35
    assert d.extra["commit_conf"][0, 1:3].tolist() == pytest.approx([0.9, 0.85], abs=1e-12)
    assert d.extra["commit_conf"][0, 0].item() == pytest.approx(0.8, abs=1e-12)  # not reset
    # nothing committed yet: threshold 1, the n most confident; the rest of the block stays masked
    d = saber_decide(s, rows, [M, M, M, M], [0.0] * 4, [nan] * 4)
    assert d.reveal[0].tolist() == [False, True, True, False]
    assert int(d.remask.sum()) == 1 and bool(d.remask[0, 2])  # f = 2: one remask, the smaller rise (0.85)
    # the block completes: no backtracking
    d = saber_decide(s, rows, [0, 1, M, M], [0.6, 0.9, 0.1, 0.1], [0.2, 0.2, nan, nan])
    assert d.reveal[0].tolist() == [False, False, True, True] and not bool(d.remask.any())


def test_saber_with_one_commit_per_step_never_backtracks():
    res = SaberSampler(1).sample(oracle(HMM), 300, 4, make_generator(4))
    assert bool((res.step_num_masked.diff(dim=1) <= 0).all())


def test_every_exact_engine_feeds_the_kernel_the_pass_it_reads():
    """The bench's capped kernel route and the augmented-state engine give the same law as
    ``exact_sampler_law`` (all through ``Sampler.kernel_denoiser``); fed the marginals instead, the law
    would differ."""
    s, o = P2Sampler(4), oracle(HMM)
    law = exact_sampler_law(s, o, 4)
    assert float((kernel_law(s, o, 4) - law).abs().max()) < LAW_TOL
    assert float((exact_policy_law(s, o, 4) - law).abs().max()) < LAW_TOL

    class MarginalsOnly(P2Sampler):
        def kernel_denoiser(self, denoiser):
            return denoiser

    assert total_variation(exact_sampler_law(MarginalsOnly(4), o, 4), law) > 1e-3


def test_the_bench_call_cap_forwards_and_caps_the_pass():
    """A bench cell's guard offers the oracle's leave-one-out pass (one call per pass, not masked
    re-prediction) and counts it against the cap."""
    guard = CallCap(oracle(), 4)
    assert "leave_one_out" in guard.passes()
    res = P2Sampler(4, eta=0.0).sample(guard, 8, 4, make_generator(0))
    assert res.nfe.tolist() == [4] * 8
    with pytest.raises(BudgetExceeded):
        P2Sampler(4, eta=0.0).sample(CallCap(oracle(), 3), 8, 4, make_generator(0))


def test_a_remask_corrector_around_a_leave_one_out_policy_keeps_its_pass():
    """Fed the marginals, the wrapper's law would move by a total variation of about 0.09 (measured)."""
    s = RemaskCorrector(P2Sampler(3, eta=2.0), rounds=1)
    law = exact_sampler_law(s, oracle(CYCLE), 4)
    res = s.sample(oracle(CYCLE), 30000, 4, make_generator(9), batch_size=10000)
    assert grouped_chi_square(res.tokens, law, V).pvalue > P_MIN


class _P2AllOrders(P2Sampler):
    """P2 whose exact kernel enumerates every tie order (the generic path)."""

    def decision_top_count(self, x, extra, k):
        return None


@pytest.mark.parametrize("name", ["parity", "cycle", "hmm"])
@pytest.mark.parametrize("steps, eta", [(2, 1.0), (3, 0.0), (4, 1.0)])
def test_p2_exact_law_by_tie_subsets_equals_the_enumeration_of_tie_orders(name, steps, eta):
    """P2 reads only the kept set, so the kernel may enumerate subsets of the boundary tie group; parity
    ties every position, so both paths meet many ties."""
    lang = {"parity": parity_language(), "cycle": CYCLE, "hmm": HMM}[name]
    den = OracleDenoiser(lang, on_impossible="uniform")
    fast = exact_sampler_law(P2Sampler(steps, eta=eta), den, 4)
    slow = exact_sampler_law(_P2AllOrders(steps, eta=eta), den, 4)
    assert float((fast - slow).abs().max()) < LAW_TOL
