r"""LocalLeap: anchors and relaxed thresholds in their neighbourhoods (Kong et al., arXiv 2510.07081).

Per step (one denoiser call), inside the current block, with confidences :math:`c_l` of the masked
candidates:

1. anchors :math:`A = \{l : c_l \ge \tau\}`;
2. neighbourhood :math:`N = \{l : |l - a| \le r \text{ for some } a \in A\}` (positions, whether masked or
   not; only masked candidates matter);
3. unmask the most confident candidate, and every other candidate with
   :math:`c_l \ge \tau_{\text{relaxed}}` if :math:`l \in N`, :math:`c_l \ge \tau` otherwise.

Without anchors this is Fast-dLLM's threshold rule; with them, candidates near a confident anchor pass a
lower bar ("local determinism propagation"). Unlike Fast-dLLM's rules the set is not a prefix of the
confidence order.

Sources and what is confirmed: the paper's abstract and introduction (read) describe anchors and relaxed
decoding in bounded neighbourhoods; the rule above, and the defaults :math:`\tau = 0.9`,
:math:`\tau_{\text{relaxed}} = 0.75`, :math:`r = 4` (blocks of 32, temperature 0), are read from a
third-party mirror of the official ``friedrichor/LocalLeap`` ``generate.py`` (``get_transfer_index`` with
``threshold``, ``relaxed_threshold``, ``radius``). The official repository itself is not in the index, and
the paper's method section could not be read: **the defaults are unconfirmed** against the paper.

Confidence (``score``): ``"max_prob"`` (:math:`p(\arg\max)`, the paper's definition and the code at
temperature 0) or ``"sampled_prob"`` (the code's probability of the Gumbel-drawn token at temperature > 0).
Confidences are rounded to 40 fractional bits before the threshold tests; ties in the ranking are broken
uniformly at random (default) or towards the lowest index.

Calls: one per step while masks remain; at most L steps.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.ranked import AdaptiveRankedStepSampler
from sims.sampling.ranking import quantize, rank_positions
from sims.sampling.scores import position_scores
from sims.validation import check_positive_int, check_probability, check_real

LOCAL_LEAP_SCORES = ("max_prob", "sampled_prob")


def local_leap_select(
    conf: torch.Tensor,
    candidates: torch.Tensor,
    threshold: float,
    relaxed_threshold: float,
    radius: int,
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``(n, L)``: the LocalLeap set (module docstring); ``order`` ranks the candidates (best first)."""
    if order is None:
        order = rank_positions(conf, candidates)
    c = quantize(conf)
    anchors = candidates & (c >= threshold)
    L = conf.shape[1]
    pos = torch.arange(L, device=conf.device)
    near = (pos.view(1, L, 1) - pos.view(1, 1, L)).abs() <= radius  # near[0, i, a]: |i - a| <= r
    in_hood = (near & anchors.unsqueeze(1)).any(-1)
    bar = torch.where(in_hood, torch.full_like(c, relaxed_threshold), torch.full_like(c, threshold))
    out = candidates & (c >= bar)
    top = order[:, :1]
    out.scatter_(1, top, candidates.gather(1, top) | out.gather(1, top))  # always the most confident
    return out


class LocalLeapSampler(AdaptiveRankedStepSampler):
    """LocalLeap (module docstring).

    Args:
        threshold: tau in [0, 1] (anchors and the bar far from anchors).
        relaxed_threshold: the bar near an anchor, in [0, threshold].
        radius: neighbourhood radius r >= 0 (positions).
        score: the confidence, one of :data:`LOCAL_LEAP_SCORES`.
        block_length: semi-AR block size (None = whole sequence).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"local_leap_t<tau>_r<relaxed>_w<radius>"`` (``"_sampled_prob"``, ``"_block<b>"`` appended).
    """

    allowed_scores = LOCAL_LEAP_SCORES

    def __init__(
        self,
        threshold: float = 0.9,
        relaxed_threshold: float = 0.75,
        radius: int = 4,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(score, temperature, block_length, tie_break, categorical_precision)
        self.threshold = check_probability(threshold, "threshold")
        self.relaxed_threshold = check_real(
            relaxed_threshold, "relaxed_threshold (at most threshold)", minimum=0.0, maximum=self.threshold
        )
        self.radius = check_positive_int(radius, "radius", minimum=0)
        self.name = (
            f"local_leap_t{threshold:g}_r{relaxed_threshold:g}_w{radius}"
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="LocalLeap: c >= tau_relaxed within radius of an anchor (c >= tau), c >= tau elsewhere, "
            "always the most confident",
            position_rule=f"confidence score {self.score!r}, masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            source="arXiv 2510.07081; third-party mirror of friedrichor/LocalLeap generate.py "
            "(defaults unconfirmed against the paper)",
            extras={
                "threshold": self.threshold,
                "relaxed_threshold": self.relaxed_threshold,
                "radius": self.radius,
                "score": self.score,
                "block_length": self.block_length,
            },
        )

    def order_prefix(self, length: int, k: int) -> int:
        """:func:`local_leap_select` reads only the best entry ``order[:, :1]``."""
        return 1

    def select(self, log_probs, candidates, values, order, k):
        conf = position_scores(self.score, log_probs, values)
        return local_leap_select(conf, candidates, self.threshold, self.relaxed_threshold, self.radius, order)
