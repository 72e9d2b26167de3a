r"""Running-confidence remasking, RCR (He et al., MDPO, arXiv 2508.13148; official ``autonomousvision/mdpo``
``src/mdlm_generation_utils.py::diffusion_generate`` with ``rcr=True``).

A fixed schedule of revealed counts :math:`N_0 < N_1 < \dots < N_{K-1} = L` (MaskGIT style:
:math:`N_k = L - \lfloor L\, m((k+1)/K) \rfloor` with the mask ratio :math:`m(r) = 1 - r` (``"linear"``,
the released default) or :math:`\cos(\pi r/2)` (``"cosine"``), clipped to :math:`[10^{-6}, 1]` as in the
code). At step k:

1. one denoiser call; every masked position is revealed with a drawn token, and its **running confidence**
   is set to the confidence of that draw;
2. unless k is the last step, the :math:`L - N_k` revealed positions with the lowest running confidence
   (over the whole sequence, old tokens included) are remasked.

A token committed early with high confidence keeps it; a token whose confidence was low at its draw is
remasked and redrawn with more context later. The running confidences are the per-run state (carried in
``RunState.extra``); the rule is a Markov kernel on (partial sequence, running confidences) and revisits
revealed tokens.

Confidence (``score``): ``"max_prob"`` (the code at temperature 0, the released evaluation setting) or
``"sampled_prob"`` (the probability of the drawn token, the code at temperature > 0). Ties in the running
confidence (rounded to 40 fractional bits): uniformly random (default) or lowest index first.

Not implemented: semi-AR blocks (the code also runs RCR inside blocks, where the remask pool includes
earlier blocks and the reveal is a top-k among masked positions), the code's temperature by logit division
with nucleus (top-p 0.95) filtering, and its other confidence names (``entropy``, ``topk_margin``). The
code treats never-revealed positions as confidence 1 in the remask ranking; with one block every position
is revealed at that point, so this never matters here. Calls: one per step (the state changes every step
unless a remask undoes exactly the step's reveals, in which case the cached output is reused).
"""

from __future__ import annotations

import numpy as np
import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.policy import Decision, PolicySampler
from sims.sampling.ranking import quantize
from sims.sampling.scores import check_score, position_scores, score_uses_values

RCR_SCORES = ("max_prob", "sampled_prob")
RCR_MODES = ("linear", "cosine")


def maskgit_revealed(length: int, steps: int, mode: str = "linear") -> list[int]:
    """Revealed counts :math:`N_k` after each step (the code's ``get_num_transfer_tokens_maskgit``, cumulated)."""
    out = []
    for k in range(steps):
        r = (k + 1) / steps
        ratio = 1 - r if mode == "linear" else float(np.cos(r * np.pi / 2))
        ratio = float(np.clip(ratio, 1e-6, 1))
        out.append(length - int(np.floor(length * ratio)))
    return out


class RCRSampler(PolicySampler):
    """Running-confidence remasking (module docstring).

    Args:
        steps: K >= 1.
        mode: mask-ratio schedule, ``"linear"`` (default) or ``"cosine"``.
        score: the confidence, one of :data:`RCR_SCORES`.
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"rcr"`` (``"_cosine"``, ``"_sampled_prob"`` appended for non-defaults).
    """

    has_history = True
    can_remask = True
    uses_steps = True

    def __init__(
        self,
        steps: int,
        mode: str = "linear",
        score: str = "max_prob",
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        if mode not in RCR_MODES:
            raise ValueError(f"mode must be one of {RCR_MODES}, got {mode!r}")
        self.mode = mode
        self.score = check_score(score, RCR_SCORES)
        self.decision_uses_values = score_uses_values(score)
        self.name = (
            "rcr" + ("" if mode == "linear" else f"_{mode}") + ("" if score == "max_prob" else f"_{score}")
        )

    def num_steps(self, length: int) -> int:
        return self.steps

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=NO_TIME,
            schedule=f"MaskGIT {self.mode} mask ratio (counts only)",
            step_rule="reveal every masked position, then remask the L - N_k lowest running confidences",
            position_rule=f"running confidence = {self.score!r} of each token's last draw",
            tie_break=f"{self.tie_break} (running confidences rounded to 40 fractional bits)",
            last_step="the last step reveals every masked position and remasks nothing",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step with masks (cached when a step leaves the state unchanged)",
            source="arXiv 2508.13148; autonomousvision/mdpo src/mdlm_generation_utils.py (rcr=True)",
            extras={
                "mode": self.mode,
                "score": self.score,
                "revealed_counts": "N_k = L - floor(L m((k+1)/K))",
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {"conf": torch.zeros((batch, length), dtype=torch.float64, device=device)}

    def _running(self, log_probs, values, x, extra) -> torch.Tensor:
        conf = quantize(position_scores(self.score, log_probs, values))
        return torch.where(x == log_probs.shape[-1], conf, extra["conf"])

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        return -self._running(log_probs, values, x, extra), torch.ones_like(x, dtype=torch.bool)

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        L = x.shape[1]
        count = 0 if k == self.steps - 1 else L - maskgit_revealed(L, self.steps, self.mode)[k]
        remask = torch.zeros_like(x, dtype=torch.bool)
        remask.scatter_(1, order[:, :count], True)
        conf = torch.where(
            remask, torch.zeros_like(extra["conf"]), self._running(log_probs, values, x, extra)
        )
        return Decision(x == log_probs.shape[-1], remask, {"conf": conf})
