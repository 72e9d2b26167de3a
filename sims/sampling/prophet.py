r"""Prophet early commit (Li et al., "Diffusion Language Models Know the Answer Before Decoding", arXiv
2508.19982; official ``pixeli99/Prophet`` ``generate_earlyexit.py``).

The base is LLaDA's fixed-count decoding (K steps split over semi-AR blocks, LLaDA counts, the ``count``
most confident masked positions of the current block). Before committing at step k (0-based), Prophet
measures the top-2 gap of the log-probabilities (equal to the logit gap),

.. math::  g = \frac{1}{|A|} \sum_{l \in A} \big(\log p_l^{(1)} - \log p_l^{(2)}\big),

averaged over an answer region A, and if :math:`g \ge \tau(\text{progress})` with progress
:math:`(k+1)/K` it commits **every** masked position of the sequence (all blocks) in this step, each with the
token already drawn, and stops. The threshold is phase-wise: :math:`\tau = 7.5` while progress < 0.33, 5.0
while < 0.67, 2.5 after (the released defaults, confirmed in the code and its README).

Conventions (the suite has no prompt or answer span):

* ``answer_positions``: the region A (default: every position);
* the gap is averaged over the **masked** positions of A, and a position whose law has one atom has gap
  :math:`+\infty`. The released code averages over all of A, revealed positions included, where LLaDA's
  output is its (untrained) self-prediction; with the suite's carry-over denoisers a revealed position has
  gap :math:`+\infty`, so that literal reading would commit everything as soon as one answer token is
  revealed. When no position of A is masked the rule commits (gap :math:`+\infty`);
* the confidence ranking the base uses (``score``): ``"max_prob"`` (LLaDA ``low_confidence`` at
  temperature 0, the released setting) or ``"sampled_prob"`` (the same at temperature > 0).

Calls: one per step while masks remain (the code evaluates the gap at every step); after an early commit no
mask is left, so the remaining steps make no call. The code's example uses blocks of 32, K = L, temperature 0.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.policy import Decision, PolicySampler, llada_plan
from sims.sampling.ranking import quantize
from sims.sampling.scores import check_score, position_scores, score_uses_values
from sims.validation import (
    InvalidArgumentError,
    InvalidTypeError,
    check_int,
    check_optional_positive_int,
    check_probability,
    check_real,
)

PROPHET_SCORES = ("max_prob", "sampled_prob")


def top2_gap(log_probs: torch.Tensor) -> torch.Tensor:
    """``(..., L)`` log-probability gap between the two most likely tokens (``+inf`` with one atom)."""
    top2 = log_probs.topk(2, dim=-1).values
    return torch.where(torch.isfinite(top2[..., 1]), top2[..., 0] - top2[..., 1], torch.inf)


def prophet_threshold(progress: float, thresholds=(7.5, 5.0, 2.5), phases=(0.33, 0.67)) -> float:
    """The released phase-wise threshold: early / mid / late by ``progress = (k+1)/K``."""
    if progress < phases[0]:
        return thresholds[0]
    if progress < phases[1]:
        return thresholds[1]
    return thresholds[2]


def _items(value, name: str, n: int | None = None) -> list:
    """The entries of a tuple/list argument, ``n`` of them when given."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidTypeError(f"{name} must be a tuple of numbers, got {type(value).__name__} {value!r:.80}")
    items = list(value)
    if n is not None and len(items) != n:
        raise InvalidArgumentError(f"{name} must hold {n} numbers, got {value!r:.80}")
    return items


class ProphetSampler(PolicySampler):
    """LLaDA fixed-count decoding with Prophet's early commit (module docstring).

    Args:
        steps: K >= 1 (split equally over the blocks).
        thresholds: (early, mid, late) gap thresholds in nats of log-probability.
        phases: progress boundaries of the three phases.
        answer_positions: the answer region (None = all positions).
        score: base confidence, one of :data:`PROPHET_SCORES`.
        block_length: semi-AR block size (None = one block).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"prophet"`` (``"_<score>"``, ``"_block<b>"`` appended for non-defaults).
    """

    uses_steps = True

    def __init__(
        self,
        steps: int,
        thresholds: tuple[float, float, float] = (7.5, 5.0, 2.5),
        phases: tuple[float, float] = (0.33, 0.67),
        answer_positions: tuple[int, ...] | None = None,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.thresholds = tuple(
            check_real(t, f"thresholds[{i}]", minimum=0.0, allow_inf=True)
            for i, t in enumerate(_items(thresholds, "thresholds", 3))
        )
        p0, p1 = (check_probability(p, f"phases[{i}]") for i, p in enumerate(_items(phases, "phases", 2)))
        if p0 > p1:
            raise InvalidArgumentError(f"phases must be two increasing numbers in [0, 1], got {phases}")
        self.phases = (p0, p1)
        if answer_positions is not None:
            pos = [
                check_int(a, f"answer_positions[{i}]", minimum=0)
                for i, a in enumerate(_items(answer_positions, "answer_positions"))
            ]
            if not pos or len(set(pos)) < len(pos):
                raise InvalidArgumentError(
                    f"answer_positions must be distinct positions >= 0 (at least one), got {answer_positions}"
                )
        self.answer_positions = None if answer_positions is None else tuple(sorted(pos))
        self.score = check_score(score, PROPHET_SCORES)
        self.decision_uses_values = score_uses_values(score)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = (
            "prophet"
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        if self.answer_positions is not None and max(self.answer_positions) >= length:
            raise InvalidArgumentError(
                f"answer_positions {self.answer_positions} must lie below the length {length}"
            )
        return len(llada_plan(length, self.steps, self.block_length))

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps} (fewer calls after an early commit)",
            time_direction=NO_TIME,
            schedule="none (LLaDA counts)",
            step_rule="LLaDA fixed counts; early commit of every mask when the mean top-2 log-prob gap "
            "over the masked answer positions >= the phase threshold",
            position_rule=f"highest {self.score!r} among the masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            last_step="counts sum to each block; an early commit fills every remaining mask",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step while masks remain",
            source="arXiv 2508.19982; pixeli99/Prophet generate_earlyexit.py",
            extras={
                "thresholds": list(self.thresholds),
                "phases": list(self.phases),
                "progress": "(k+1)/K",
                "answer_positions": "all" if self.answer_positions is None else list(self.answer_positions),
                "gap_over": "masked answer positions (+inf if none)",
                "score": self.score,
                "block_length": self.block_length,
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def _candidates(self, x: torch.Tensor, V: int, k: int) -> tuple[torch.Tensor, int]:
        a, b, count = llada_plan(x.shape[1], self.steps, self.block_length)[k]
        pos = torch.arange(x.shape[1], device=x.device)
        return (x == V) & (pos >= a) & (pos < b), count

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        V = log_probs.shape[-1]
        cand, _ = self._candidates(x, V, k)
        return position_scores(self.score, log_probs, values), cand

    def commits_early(self, log_probs: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        """Bool ``(n,)``: the early-commit test of step k."""
        V = log_probs.shape[-1]
        region = x == V
        if self.answer_positions is not None:
            inside = torch.zeros(x.shape[1], dtype=torch.bool, device=x.device)
            inside[list(self.answer_positions)] = True
            region = region & inside
        gap = quantize(top2_gap(log_probs))
        mean = torch.where(region, gap, torch.zeros_like(gap)).sum(1) / region.sum(1).clamp(min=1)
        mean = torch.where(region.any(1), mean, torch.full_like(mean, torch.inf))
        return mean >= prophet_threshold((k + 1) / self.steps, self.thresholds, self.phases)

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        cand, count = self._candidates(x, V, k)
        top = torch.zeros_like(cand)
        top.scatter_(1, order[:, :count], True)
        reveal = torch.where(self.commits_early(log_probs, x, k).unsqueeze(1), x == V, top & cand)
        return Decision(reveal, torch.zeros_like(reveal), {})
