r"""CreditDecoding: trace credit fused into the logits (Wang et al., arXiv 2510.06133).

Each masked position l of the current block carries a credit vector :math:`C_l \in \mathbb{R}_{\ge 0}^V`
that accumulates, over the steps of the block, the confidence of the position's current top-1 token:

.. math::  C_l \leftarrow \beta\, C_l \ (\text{from the block's second step on}), \qquad
           C_l(v^*_l) \mathrel{+}= \big(p_l(v^*_l)\big)^{\gamma}, \quad v^*_l = \arg\max_v p_l(v),

and the step decodes with the *fused* law

.. math::  \tilde p_l \propto \exp\big(\log p_l + \alpha \log(1 + C_l)\big):

tokens are drawn from :math:`\tilde p_l` (at ``temperature``), and every masked candidate whose fused
confidence is at least :math:`\tau` is unmasked, always at least the most confident one (Fast-dLLM's
threshold rule on the fused confidences). A position whose prediction has been stable for several steps
builds credit and crosses :math:`\tau` earlier than its raw confidence would. Credit is reset when a new
block starts.

On an exact oracle the fused law is **not** the posterior, so the output law is biased whenever credit
changes a decision or a drawn value: the rule is a sharp test of the "history as evidence" heuristic.

Sources and what is confirmed: the paper's abstract and introduction (read). The update and fusion above are
those of ``CreditThresholdParallelDecoder`` in ``inclusionAI/dInfer`` (``python/dinfer/decoding/
parallel_strategy.py``), Ant Group's inference engine from the paper's authors' group; the paper states no
code link, so dInfer is taken as the reference and **the correspondence to the paper's equations is
unconfirmed**. Defaults :math:`\alpha = 0.7`, :math:`\gamma = 0.2`, :math:`\beta = 0.8` (dInfer's constructor)
and :math:`\tau = 0.9` (dInfer's benchmark default), temperature 0 there.

Differences from dInfer: dInfer's threshold is :math:`\min(\tau, \max_l \tilde c_l - 10^{-5})`, so when no
candidate reaches :math:`\tau` every candidate within :math:`10^{-5}` of the best is unmasked; here exactly
one (ties, after rounding to 40 fractional bits, broken uniformly at random by default). dInfer keeps the
credit in float32; here float64 rounded to 40 fractional bits.

Confidence (``score``): ``"max_prob"`` (:math:`\max_v \tilde p_l(v)`, dInfer at temperature 0) or
``"sampled_prob"`` (:math:`\tilde p_l(\hat x_l)` of the drawn token, dInfer's formula at temperature > 0).
Calls: one per step while masks remain; at most L steps.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.policy import Decision, PolicySampler
from sims.sampling.ranked import block_candidates, check_block_length
from sims.sampling.ranking import quantize
from sims.sampling.scores import check_score, position_scores, score_uses_values
from sims.validation import check_optional_positive_int, check_probability, check_real

CREDIT_SCORES = ("max_prob", "sampled_prob")


def current_block(x: torch.Tensor, vocab_size: int, block_length: int | None) -> torch.Tensor:
    """``(n,)`` index of the first block with a masked position (the number of blocks when none)."""
    L = x.shape[1]
    b = L if block_length is None else block_length
    idx = torch.arange(L, device=x.device) // b
    return torch.where(x == vocab_size, idx, torch.full_like(x, L // b)).amin(1)


def update_credit(
    credit: torch.Tensor, log_probs: torch.Tensor, eligible: torch.Tensor, decay: float, gamma: float
) -> torch.Tensor:
    """``decay * credit`` plus :math:`p(v^*)^\\gamma` on each eligible position's top-1 token (rounded)."""
    top_lp, top = log_probs.max(-1)
    bump = torch.where(eligible, torch.exp(gamma * top_lp), torch.zeros_like(top_lp))
    out = decay * credit
    out.scatter_add_(-1, top.unsqueeze(-1), bump.unsqueeze(-1))
    return quantize(out)


class CreditDecodingSampler(PolicySampler):
    """CreditDecoding (module docstring).

    Args:
        threshold: tau in [0, 1] on the fused confidence.
        alpha: fusion weight alpha >= 0 (0 gives Fast-dLLM's threshold rule).
        gamma: boost exponent gamma >= 0.
        decay: beta in [0, 1].
        score: the confidence, one of :data:`CREDIT_SCORES`.
        block_length: semi-AR block size (None = whole sequence).
        temperature: token temperature (1 = exact law of the fused distribution, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"credit_t<tau>_a<alpha>"`` (``"_g<gamma>"``, ``"_b<beta>"``, ``"_sampled_prob"``, ``"_block<b>"``
    appended for non-defaults).
    """

    has_history = True

    def __init__(
        self,
        threshold: float = 0.9,
        alpha: float = 0.7,
        gamma: float = 0.2,
        decay: float = 0.8,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.threshold = check_probability(threshold, "threshold")
        self.alpha = check_real(alpha, "alpha", minimum=0.0)
        self.gamma = check_real(gamma, "gamma", minimum=0.0)
        self.decay = check_probability(decay, "decay")
        self.score = check_score(score, CREDIT_SCORES)
        self.decision_uses_values = score_uses_values(score)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = (
            f"credit_t{threshold:g}_a{alpha:g}"
            + ("" if gamma == 0.2 else f"_g{gamma:g}")
            + ("" if decay == 0.8 else f"_b{decay:g}")
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="threshold on the fused confidence (credit-fused law), always the most confident",
            position_rule=f"fused {self.score!r}, masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            source="arXiv 2510.06133; rule of inclusionAI/dInfer CreditThresholdParallelDecoder "
            "(correspondence to the paper unconfirmed)",
            extras={
                "threshold": self.threshold,
                "alpha": self.alpha,
                "gamma": self.gamma,
                "decay": self.decay,
                "score": self.score,
                "block_length": self.block_length,
                "values_drawn_from": "the fused law",
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {
            "credit": torch.zeros((batch, length, vocab_size), dtype=torch.float64, device=device),
            "block": torch.full((batch,), -1, dtype=torch.long, device=device),
        }

    def _credit(
        self, log_probs: torch.Tensor, x: torch.Tensor, extra: dict
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The credit after this step's update, and the current block of each row."""
        V = log_probs.shape[-1]
        block = current_block(x, V, self.block_length)
        same = (block == extra["block"]).view(-1, 1, 1)
        old = torch.where(same, extra["credit"], torch.zeros_like(extra["credit"]))
        decay = torch.where(same, torch.full_like(old, self.decay), torch.ones_like(old))
        eligible = block_candidates(x, V, self.block_length)
        return update_credit(old * decay, log_probs, eligible, 1.0, self.gamma), block

    def value_log_probs(self, log_probs, x, extra, k):
        """The fused law :math:`\\tilde p` (module docstring)."""
        credit, _ = self._credit(log_probs, x, extra)
        return torch.log_softmax(log_probs + self.alpha * torch.log1p(credit), dim=-1)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        cand = block_candidates(x, log_probs.shape[-1], self.block_length)
        return position_scores(self.score, value_log_probs, values), cand

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        credit, block = self._credit(log_probs, x, extra)
        cand = block_candidates(x, log_probs.shape[-1], self.block_length)
        conf = quantize(position_scores(self.score, value_log_probs, values))
        reveal = cand & (conf >= self.threshold)
        top = torch.zeros_like(cand)
        top.scatter_(1, order[:, :1], True)
        reveal = reveal | (top & cand)
        return Decision(reveal, torch.zeros_like(reveal), {"credit": credit, "block": block})
