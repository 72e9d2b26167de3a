r"""Fast-dLLM++ Fréchet-profile rule (Kasa et al., arXiv 2606.02955; official ``Ringo-Star/FastdLLM_plusplus``).

Per step (one denoiser call), inside the current block, with the masked candidates' confidences sorted
:math:`c_{(1)} \ge c_{(2)} \ge \dots`, the rule scores every prefix length n by

.. math::  L_n = \max\Big(0, \sum_{j \le n} c_{(j)} - (n-1)\Big) \ (\text{Fréchet lower bound}), \qquad
           U_n = 1 - c_{(n)}, \qquad G_n = L_n - U_n,

and unmasks the top n for the largest n with :math:`G_n > \delta` (the margin, ``margin``), at least one.
Without the max, :math:`G_{n+1} - G_n = 2c_{(n+1)} - 1 - c_{(n)} \le c_{(n+1)} - 1 \le 0`, so the passing
n form a prefix, and for :math:`\delta \ge 0` the max changes nothing (a prefix with
:math:`\sum c - (n-1) \le 0` has :math:`G_n \le 0`). The released ``get_transfer_index_frechet_profile``
drops the max and counts the passing n; with :math:`\delta \ge 0` (enforced here) the two agree. When every
confidence equals :math:`1-\epsilon`, :math:`G_n > \delta` iff :math:`(n+1)\epsilon < 1 - \delta`: Fast-dLLM's
factor rule with :math:`f = 1 - \delta` (:mod:`sims.sampling.fast_dllm`).

Confidence (``score``): ``"max_prob"`` (the paper's confidence; the code at temperature 0) or
``"sampled_prob"`` (the code's ``low_confidence`` at temperature > 0: the probability of the Gumbel-drawn
token). Default margin :math:`\delta = 0.25` (the README's "global default used in the main tables",
confirmed); the paper decodes in blocks of 32 at temperature 0 (here ``block_length=None`` and temperature 1
by default). Ties (scores rounded to 40 fractional bits): uniformly random or lowest index.

Calls: one per step while masks remain; at most L steps.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.ranked import AdaptiveRankedStepSampler
from sims.sampling.ranking import quantize, rank_positions
from sims.sampling.scores import position_scores
from sims.validation import check_real

FRECHET_SCORES = ("max_prob", "sampled_prob")


def frechet_select(
    conf: torch.Tensor, candidates: torch.Tensor, margin: float, order: torch.Tensor | None = None
) -> torch.Tensor:
    """Boolean ``(n, L)``: the longest confidence-sorted prefix with :math:`G_n > \\delta` (at least one).

    ``order`` is the confidence ranking (best first); by default lowest-index ties. Confidences are rounded
    to 40 fractional bits first, so the prefix sums are exact.
    """
    if order is None:
        order = rank_positions(conf, candidates)
    valid = candidates.gather(1, order)
    c = torch.where(valid, quantize(conf).gather(1, order), torch.zeros_like(conf, dtype=torch.float64))
    n = torch.arange(1, order.shape[1] + 1, dtype=torch.float64, device=conf.device).unsqueeze(0)
    lower = (torch.cumsum(c, 1) - (n - 1)).clamp(min=0)
    passes = valid & (lower - (1 - c) > margin)
    passes[:, 0] = valid[:, 0]  # always the most confident candidate
    passes = torch.cumprod(passes.long(), 1).bool()  # G_n is non-increasing: the passing n form a prefix
    out = torch.zeros_like(candidates)
    out.scatter_(1, order, passes)
    return out


class FrechetSampler(AdaptiveRankedStepSampler):
    """Fast-dLLM++ Fréchet-profile parallel decoding (module docstring).

    Args:
        margin: delta >= 0.
        score: the confidence, one of :data:`FRECHET_SCORES`.
        block_length: semi-AR block size (None = whole sequence).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"fast_dllm_pp_frechet_d<margin>"`` (``"_sampled_prob"``, ``"_block<b>"`` appended).
    """

    allowed_scores = FRECHET_SCORES

    def __init__(
        self,
        margin: float = 0.25,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(score, temperature, block_length, tie_break, categorical_precision)
        self.margin = check_real(margin, "margin", minimum=0.0)
        self.name = (
            f"fast_dllm_pp_frechet_d{margin:g}"
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="Fréchet profile: longest sorted prefix with max(0, sum c - (n-1)) - (1 - c_(n)) > delta",
            position_rule=f"confidence score {self.score!r}, masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            source="arXiv 2606.02955; Ringo-Star/FastdLLM_plusplus get_transfer_index_frechet_profile",
            extras={"margin": self.margin, "score": self.score, "block_length": self.block_length},
        )

    def select(self, log_probs, candidates, values, order, k):
        return frechet_select(position_scores(self.score, log_probs, values), candidates, self.margin, order)
