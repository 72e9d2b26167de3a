"""A denoiser with arbitrary, exactly known and inconsistent conditionals, for identities that must hold for
*any* denoiser (the ELBO forms, the order mixture of Garg et al. arXiv 2511.19152, Prop. 3.1)."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over


class RandomTableDenoiser(Denoiser):
    """For each (position, revealed context) a fixed random law: Dirichlet(``concentration``) drawn from a
    generator seeded by a CRC of ``(seed, position, context)``, plus 1e-3, normalised. Not the conditionals of
    any joint law (inconsistent), time-independent, deterministic given ``seed``."""

    time_conditioned = False

    def __init__(self, vocab_size: int, seed: int = 0, concentration: float = 0.7):
        self.vocab_size, self.seed, self.concentration = vocab_size, seed, concentration

    def _law(self, l: int, row: tuple) -> np.ndarray:
        key = zlib.crc32(repr((self.seed, l, row)).encode())
        rng = np.random.default_rng(key)
        return rng.dirichlet(np.full(self.vocab_size, self.concentration)) + 1e-3

    def predict(self, tokens, t=None):
        tokens = torch.as_tensor(tokens).long()
        B, L = tokens.shape
        V = self.vocab_size
        out = torch.empty((B, L, V), dtype=torch.float64)
        for b in range(B):
            row = tuple(int(v) for v in tokens[b])
            for l in range(L):
                p = self._law(l, row)
                out[b, l] = torch.as_tensor(np.log(p / p.sum()))
        return DenoiserOutput(carry_over(out, tokens, V), torch.zeros(B, dtype=torch.bool))
