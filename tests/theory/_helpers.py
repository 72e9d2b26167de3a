"""Test-only denoisers with exactly known conditionals (the random-table denoiser lives in
:mod:`theory.orders.random_table`; it is re-exported here for the tests)."""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from theory.orders.random_table import RandomTableDenoiser

__all__ = ["RandomTableDenoiser", "TimeTemperedDenoiser"]


class TimeTemperedDenoiser(Denoiser):
    """A time-conditioned denoiser: the base law at temperature ``fn(t)`` (t in mdlm time)."""

    time_conditioned = True

    def __init__(self, base: Denoiser, fn):
        self.base, self.fn, self.vocab_size = base, fn, base.vocab_size

    def predict(self, tokens, t=None):
        if t is None:
            raise ValueError("this denoiser needs t")
        out = self.base.predict(tokens)
        temp = torch.as_tensor([float(self.fn(float(v))) for v in t], dtype=torch.float64)
        lp = torch.log_softmax(out.log_probs / temp.reshape(-1, 1, 1), dim=-1)
        return DenoiserOutput(carry_over(lp, torch.as_tensor(tokens).long(), self.vocab_size), out.impossible)
