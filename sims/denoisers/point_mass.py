"""The x-conditioned posterior: a denoiser that predicts one fixed sequence with probability one.

With it a sampler's run is the forward-process posterior given x (the setting of ReMDM's Theorem 3.1,
arXiv 2503.00307), so exact state laws can be compared with the nominal schedule
(``theory.sampler_studies.correction.remdm_schedule_deviation``; ``tests/sims/test_remdm.py``).
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.validation import InvalidArgumentError, InvalidTypeError, check_positive_int, check_tokens


class PointMassDenoiser(Denoiser):
    """Predicts a fixed sequence x with probability one at every masked position (x-conditioned posterior).

    Revealed positions are carried over (SUBS); no row is ever flagged impossible.
    """

    def __init__(self, x: tuple, vocab_size: int):
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        try:
            seq = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidTypeError(f"x must be a sequence of token ids, got {x!r:.80} ({exc})") from None
        if seq.ndim != 1:
            raise InvalidArgumentError(f"x must be one sequence of tokens, got shape {tuple(seq.shape)}")
        tokens = check_tokens(seq.reshape(1, -1), self.vocab_size, allow_mask=False, name="x")
        self.x = tokens[0].long()

    def predict(self, tokens, t=None):
        B, L = tokens.shape
        if L != self.x.numel():
            raise InvalidArgumentError(
                f"the point mass has length {self.x.numel()}, got sequences of length {L}"
            )
        oh = torch.nn.functional.one_hot(self.x, self.vocab_size).to(torch.float64).expand(B, L, -1)
        return DenoiserOutput(
            carry_over(torch.log(oh), tokens, self.vocab_size), torch.zeros(B, dtype=torch.bool)
        )
