"""Enumeration of all :math:`V^L` token sequences in base-V order (position 0 most significant).

Dependency-free, so every layer (languages, samplers, exact laws) can index laws over sequences the same way.
"""

from __future__ import annotations

import torch

MAX_STATES = 2**22


def all_sequences(vocab_size: int, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(V**L, L)`` every sequence, row index = base-V number with position 0 most significant."""
    if vocab_size**length > MAX_STATES:
        raise ValueError(f"V**L = {vocab_size}**{length} is too large to enumerate (limit {MAX_STATES})")
    idx = torch.arange(vocab_size**length, device=device)
    powers = vocab_size ** torch.arange(length - 1, -1, -1, device=device)
    return (idx.unsqueeze(-1) // powers) % vocab_size


def sequence_index(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Inverse of :func:`all_sequences`: row indices of ``(B, L)`` token sequences."""
    L = tokens.shape[-1]
    powers = vocab_size ** torch.arange(L - 1, -1, -1, device=tokens.device)
    return (tokens.long() * powers).sum(-1)
