r"""The common denoiser interface shared by the oracle, perturbed oracles and trained networks.

A denoiser maps a batch of partially masked sequences ``x`` (mask id = V) to per-position predictive
laws :math:`p_\theta(x_i = v \mid x_{\text{revealed}})` for every position i:

* masked positions: a probability vector over the V real tokens (the mask class is never predicted:
  MDLM's "SUBS" parameterisation);
* revealed positions: one-hot on the revealed token (carry-over).

Outputs are float64 log-probabilities. Time-agnostic denoisers (the oracle, and the time-independent
networks of this suite) ignore ``t``; a time-conditioned one sets ``time_conditioned = True`` so that
samplers do not reuse cached outputs across steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch


@dataclass
class DenoiserOutput:
    """Per-position predictive laws.

    Attributes:
        log_probs: ``(B, L, V)`` float64 log-probabilities (one-hot at revealed positions).
        impossible: ``(B,)`` bool; True where the revealed tokens have zero probability under the
            denoiser's reference language (the trajectory has already left the support). Always False
            for denoisers that cannot tell.
    """

    log_probs: torch.Tensor
    impossible: torch.Tensor

    @property
    def probs(self) -> torch.Tensor:
        return torch.exp(self.log_probs)

    def select(self, rows: torch.Tensor) -> DenoiserOutput:
        return DenoiserOutput(self.log_probs[rows], self.impossible[rows])


class Denoiser(ABC):
    """Base class: subclasses implement :meth:`predict` on validated inputs."""

    vocab_size: int
    time_conditioned: bool = False

    @property
    def mask_id(self) -> int:
        return self.vocab_size

    @abstractmethod
    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        """Predictive laws for ``tokens`` ``(B, L)`` (mask id = V); ``t`` is ``(B,)`` diffusion time or None."""

    def __call__(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        return self.predict(tokens, t)

    def describe(self) -> dict:
        return {"type": type(self).__name__}

    # ---- optional capability (declining default) ------------------------------------------------------
    def offers_scheduled_session(self, length: int) -> bool:
        """Whether :meth:`scheduled_session` can answer exactly for sequences of ``length`` (default: no)."""
        return False

    def scheduled_session(self, schedule: torch.Tensor, num_steps: int):
        """A :class:`sims.inference.incremental.ScheduledSession`: the exact predictive laws of only the
        positions a value-independent ``schedule`` ``(B, L)`` reveals, step by step (the oracle offers it;
        samplers then skip the full pass). Only called when :meth:`offers_scheduled_session` is True."""
        raise NotImplementedError(f"{type(self).__name__} offers no scheduled session")


def one_hot_log(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``(B, L, V)`` log one-hot of ``tokens``; rows at masked positions are meaningless (mask clamped)."""
    oh = torch.nn.functional.one_hot(tokens.clamp(max=vocab_size - 1), vocab_size)
    return torch.log(oh.to(torch.float64))


def carry_over(log_probs: torch.Tensor, tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Overwrite revealed positions of ``log_probs`` with one-hot logs (SUBS carry-over)."""
    revealed = (tokens < vocab_size).unsqueeze(-1)
    return torch.where(revealed, one_hot_log(tokens, vocab_size), log_probs)
