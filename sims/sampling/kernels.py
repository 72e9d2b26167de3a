"""Plain-enumeration helpers for exact transition kernels (:meth:`sims.sampling.base.Sampler.exact_transitions`).

A state is a tuple of tokens with the mask id V; a kernel returns ``[(successor state, probability)]``.
"""

from __future__ import annotations

import itertools

import torch


def masked_positions(state: tuple, mask_id: int) -> tuple:
    return tuple(i for i, v in enumerate(state) if v == mask_id)


def reveal_values(
    state: tuple, positions: tuple, log_probs: torch.Tensor, prob: float, temperature: float = 1.0
) -> list[tuple[tuple, float]]:
    """Enumerate independent draws at ``positions`` from (tempered) ``log_probs`` rows: product law."""
    if not positions:
        return [(state, prob)]
    lp = log_probs[list(positions)].to(torch.float64)
    if temperature == 0:
        choices = [[(int(lp[i].argmax()), 1.0)] for i in range(len(positions))]
    else:
        p = torch.softmax(lp / temperature, dim=-1) if temperature != 1 else torch.exp(lp)
        choices = [
            [(v, float(p[i, v])) for v in range(p.shape[1]) if p[i, v] > 0] for i in range(len(positions))
        ]
    out = []
    for combo in itertools.product(*choices):
        new = list(state)
        q = prob
        for pos, (v, pv) in zip(positions, combo):
            new[pos] = v
            q *= pv
        out.append((tuple(new), q))
    return out
