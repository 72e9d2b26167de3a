"""Enumeration of all :math:`V^L` token sequences in base-V order (position 0 most significant).

Dependency-free, so every layer (languages, samplers, exact laws) can index laws over sequences the same way.
"""

from __future__ import annotations

import torch

from sims.validation import InvalidArgumentError, check_device, check_enumeration_size, check_int

MAX_STATES = 2**22


def all_sequences(vocab_size: int, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(V**L, L)`` every sequence, row index = base-V number with position 0 most significant.

    Raises :class:`~sims.validation.SizeLimitError` when V**L exceeds :data:`MAX_STATES`."""
    check_enumeration_size(vocab_size, length, MAX_STATES, "all_sequences")
    device = check_device(device)
    idx = torch.arange(vocab_size**length, device=device)
    powers = vocab_size ** torch.arange(length - 1, -1, -1, device=device)
    return (idx.unsqueeze(-1) // powers) % vocab_size


def sequence_index(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Inverse of :func:`all_sequences`: row indices of ``(B, L)`` token sequences."""
    V = check_int(vocab_size, "vocab_size", minimum=1)
    if not isinstance(tokens, torch.Tensor) or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise InvalidArgumentError("tokens must be an integer tensor of shape (..., L)")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
        raise InvalidArgumentError(f"tokens must lie in 0..{V - 1} (no mask ids) to index sequences")
    L = tokens.shape[-1]
    powers = vocab_size ** torch.arange(L - 1, -1, -1, device=tokens.device)
    return (tokens.long() * powers).sum(-1)


def law_of_final_states(states, vocab_size: int, length: int, who: str) -> torch.Tensor:
    """The law ``(V**L,)`` of the fully revealed sequences given as ``(sequence, probability)`` pairs (the
    final states of an exact kernel's propagation). A sequence still holding the mask id ``vocab_size``
    raises: every trajectory of an exact kernel must end revealed."""
    law = torch.zeros(vocab_size**length, dtype=torch.float64)
    for seq, p in states:
        if vocab_size in seq:
            raise AssertionError(f"{who}: a trajectory ended with masked positions: {seq}")
        law[int(sequence_index(torch.tensor(seq), vocab_size))] += p
    return law
