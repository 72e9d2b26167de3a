"""The x-conditioned posterior: a denoiser that predicts one fixed sequence with probability one.

With it a sampler's run is the forward-process posterior given x (the setting of ReMDM's Theorem 3.1,
arXiv 2503.00307), so exact state laws can be compared with the nominal schedule
(``theory.sampler_studies.correction.remdm_schedule_deviation``; ``tests/sims/test_remdm.py``).
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over


class PointMassDenoiser(Denoiser):
    """Predicts a fixed sequence x with probability one at every masked position (x-conditioned posterior).

    Revealed positions are carried over (SUBS); no row is ever flagged impossible.
    """

    def __init__(self, x: tuple, vocab_size: int):
        self.x = torch.tensor(x, dtype=torch.long)
        if self.x.ndim != 1 or bool((self.x < 0).any()) or bool((self.x >= vocab_size).any()):
            raise ValueError(f"x must be a sequence of tokens in [0, {vocab_size}), got {x}")
        self.vocab_size = vocab_size

    def predict(self, tokens, t=None):
        B, L = tokens.shape
        if L != self.x.numel():
            raise ValueError(f"the point mass has length {self.x.numel()}, got sequences of length {L}")
        oh = torch.nn.functional.one_hot(self.x, self.vocab_size).to(torch.float64).expand(B, L, -1)
        return DenoiserOutput(
            carry_over(torch.log(oh), tokens, self.vocab_size), torch.zeros(B, dtype=torch.bool)
        )
