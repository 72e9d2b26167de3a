r"""Prefix denoiser: a denoiser of length N used on sequences of length L <= N.

Given a partially masked sequence :math:`z \in (\{0..V-1\} \cup \{M\})^L`, the wrapper appends
:math:`N - L` masks and returns the base denoiser's laws at the first L positions:

.. math::  \tilde p(x_i \mid z) = p_N(x_i \mid z, x_{L+1:N} = M), \qquad i \le L .

For a denoiser that marginalises masked positions exactly (the oracle, or a trained MDM to the extent it
learned to), this is the law of the **prefix marginal** of the length-N language, which for n-gram and
HMM languages is the language at length L. It lets a model trained at length N (e.g. the cached models of
:data:`sims.models.experiments.TRAINING_SUITES`) be evaluated exactly at a shorter, enumerable length.
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.validation import InvalidArgumentError, InvalidTypeError, check_positive_int


class PrefixDenoiser(Denoiser):
    """Pad with masks to ``full_length``, predict with ``base``, keep the first L positions."""

    def __init__(self, base: Denoiser, full_length: int):
        if not isinstance(base, Denoiser):
            raise InvalidTypeError(f"base must be a sims Denoiser, got {type(base).__name__}")
        self.base = base
        self.full_length = check_positive_int(full_length, "full_length")
        self.vocab_size = base.vocab_size
        self.time_conditioned = base.time_conditioned

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        B, L = tokens.shape
        if L > self.full_length:
            raise InvalidArgumentError(
                f"tokens have length {L}; a PrefixDenoiser pads to full_length = {self.full_length}, so L must "
                "not exceed it"
            )
        pad = torch.full((B, self.full_length - L), self.vocab_size, dtype=tokens.dtype, device=tokens.device)
        out = self.base.predict(torch.cat([tokens, pad], dim=1), t)
        lp = out.log_probs[:, :L]
        return DenoiserOutput(carry_over(lp, tokens.to(lp.device), self.vocab_size), out.impossible)

    def describe(self) -> dict:
        return {"type": "PrefixDenoiser", "full_length": self.full_length, "base": self.base.describe()}
