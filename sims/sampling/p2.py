r"""P2 path planning with self-planning (Peng et al., arXiv 2502.03540; official
``pengzhangzhi/Path-Planning`` ``src/path_planning/p2.py::p2_sampling`` and the README's minimal
self-planning implementation, commit a69aa00).

A planner scores *every* position each step; the lowest-scoring ones are (re)masked, the rest are kept or
filled, so revealed tokens can be revised. Step k = 0..K-1 (one pass):

* draw :math:`\hat x_l \sim p_l^{1/T}` at every masked position;
* score masked positions by :math:`s_l = \log p_l(\hat x_l)` (the denoiser's confidence in its draw) and
  revealed positions by :math:`s_i = \eta \log q_i(x_i)` with
  :math:`q_i = p(x_i \mid x_{R\setminus i})` the leave-one-out conditional (self-planning: the denoiser
  judges its own earlier tokens; exact with the oracle, :mod:`sims.sampling.loo_policy`);
* with :math:`\kappa = (k+1)/K` (the linear ``kappa_fn``), exactly
  :math:`m_k = \lfloor L (1 - \kappa) \rfloor` positions stay masked after the step: the :math:`m_k`
  lowest scores are masked (revealed ones among them are remasked), every other masked position takes its
  draw, every other revealed position keeps its token.

The stochasticity strength :math:`\eta \ge 0` multiplies the (non-positive) log-scores of revealed tokens:
:math:`\eta = 0` never remasks (then P2 is top-:math:`(m_{k-1}-m_k)` confidence decoding with LLaDA-type
counts; tested), larger :math:`\eta` remasks more. The rule has no history: a Markov kernel on partial
sequences given the pass (exact law by :func:`sims.exact.exact_sampler_law`, which feeds the kernel the
pass through :meth:`~sims.sampling.loo_policy.LeaveOneOutPolicy.kernel_denoiser`).

Defaults (code and README, confirmed): :math:`\eta = 1`, :math:`\tau = 1` (temperature), linear
:math:`\kappa`, ``score_fn = logP``. The paper's per-task settings were not read.

Our reading and the code's differences (flagged in ``Conventions``):

* the code scores a revealed position by the log-probability of a *fresh draw* there (without a planner
  the denoiser's own output, with a planner the planner's output on the drafted sequence); for a carry-over
  denoiser that draw is the current token with probability 1 and every revealed score is 0 (no remasking),
  so the principled oracle analogue, used here, is the leave-one-out probability of the current token
  (the task's reading, and the paper's self-planning BERT-style score);
* the code masks the scores strictly below the :math:`m_k`-th lowest (ties at the cut stay revealed, so
  fewer than :math:`m_k` may be masked); here exactly :math:`m_k`, ties broken per ``tie_break`` after
  rounding to 40 fractional bits; the count uses exact integer arithmetic (the code: float32 times
  ``1 - kappa``, then truncation);
* the README's minimal version scores by the Gumbel-perturbed log-softmax at the drawn token; here the
  untempered probability of the drawn token (``src/p2.py``'s ``logP``).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.loo_policy import LeaveOneOutPolicy, check_loo_source, loo_nfe_rule
from sims.sampling.policy import Decision
from sims.validation import check_real


def masked_after(length: int, steps: int, k: int) -> int:
    """:math:`m_k = \\lfloor L (1 - (k+1)/K) \\rfloor` positions masked after step k (exact integers)."""
    return (length * (steps - k - 1)) // steps


class P2Sampler(LeaveOneOutPolicy):
    """P2 self-planning sampler (module docstring).

    Args:
        steps: K >= 1.
        eta: stochasticity strength eta >= 0 (multiplies revealed tokens' log leave-one-out scores).
        temperature: token temperature (1 = exact law, the released default tau = 1; 0 = argmax).
        tie_break: ``"random"`` or ``"lowest_index"``.
        loo_source: ``"auto"`` or ``"pass"`` (:mod:`sims.sampling.loo_policy`).
        categorical_precision: categorical sampling precision.

    Name: ``"p2_eta<eta>"``.
    """

    can_remask = True
    decision_uses_values = True
    uses_steps = True

    def __init__(
        self,
        steps: int,
        eta: float = 1.0,
        temperature: float = 1.0,
        tie_break: str = "random",
        loo_source: str = "auto",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.eta = check_real(eta, "eta", minimum=0.0)
        self.loo_source = check_loo_source(loo_source)
        self.name = f"p2_eta{eta:g}"

    def num_steps(self, length: int) -> int:
        return self.steps

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=str(self.steps),
            time_direction=NO_TIME,
            schedule="linear kappa: floor(L (1 - (k+1)/K)) positions masked after step k",
            step_rule="P2: keep or fill the L - m_k highest-scoring positions, mask the m_k lowest",
            position_rule="all positions: masked scored log p(drawn token), revealed scored eta log "
            "q(current token) with q the leave-one-out conditional (self-planning)",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits; exactly m_k masked)",
            last_step="m_{K-1} = 0: every position revealed at step K-1",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule=loo_nfe_rule(self.loo_source),
            source="arXiv 2502.03540; pengzhangzhi/Path-Planning src/path_planning/p2.py (a69aa00)",
            extras={
                "eta": self.eta,
                "kappa": "linear (t)",
                "revealed_score": "eta * log leave-one-out probability of the current token (our reading; "
                "the code scores a fresh draw at revealed positions)",
                "cut": "exactly m_k masked (the code keeps ties at the cut revealed)",
                **self.pass_extras(),
            },
        )

    def active_rows(self, x, vocab_size, extra, k):
        # m_k is non-increasing, so a row without masks keeps every position (no call needed)
        return (x == vocab_size).any(1)

    def _scores(self, log_probs, values, x):
        V = log_probs.shape[-1]
        masked = x == V
        drawn = log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1)
        own = log_probs.gather(-1, x.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1)
        # eta = 0: revealed tokens score 0 (never remasked), also where q(x_i) = 0 (no 0 * -inf)
        revealed = self.eta * own if self.eta else torch.zeros_like(own)
        return torch.where(masked, drawn, revealed)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        return self._scores(log_probs, values, x), torch.ones_like(x, dtype=torch.bool)

    def decision_top_count(self, x, extra, k):
        return x.shape[1] - masked_after(x.shape[1], self.steps, k)  # decide reads the kept set only

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        L = x.shape[1]
        keep_n = L - masked_after(L, self.steps, k)
        keep = torch.zeros_like(x, dtype=torch.bool)
        keep.scatter_(1, order[:, :keep_n], True)
        masked = x == V
        return Decision(masked & keep, ~masked & ~keep, {})
