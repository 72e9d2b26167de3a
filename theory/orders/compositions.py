r"""Exact sampler laws as mixtures over compositions (block sizes) of ordered partitions: the MDLM
ancestral and random-order fixed-count samplers (time-independent denoiser, temperature 1). Derivation:
:mod:`theory.orders`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch

from sims.schedules import get_schedule, time_grid
from sims.validation import InvalidArgumentError


# =====================================================================================================
# Exact sampler laws as mixtures over ordered partitions
# =====================================================================================================
def compositions(L: int) -> list[tuple[int, ...]]:
    """All compositions of L (ordered tuples of positive block sizes)."""
    out = []
    for cuts in itertools.product((0, 1), repeat=L - 1):
        sizes, run = [], 1
        for c in cuts:
            if c:
                sizes.append(run)
                run = 1
            else:
                run += 1
        sizes.append(run)
        out.append(tuple(sizes))
    return out


def composition_laws(G_all: torch.Tensor) -> dict[tuple, np.ndarray]:
    r""":math:`A_c(x) = \sum_{(B_1..B_k):\,|B_i| = c_i}\prod_i\prod_{l\in B_i}\mu(x^l|x^{B_{<i}})` for every
    composition c, from ``G_all`` ``(V**L, 2**L, L)`` (all sequences), by dynamic programming over the revealed
    set. :math:`\sum_x A_c(x)` = the number of ordered partitions with sizes c."""
    G = torch.as_tensor(G_all, dtype=torch.float64).numpy()
    N, nS, L = G.shape
    if nS != 2**L:
        raise InvalidArgumentError("G_all must have shape (V**L, 2**L, L)")
    full = 2**L - 1
    P = np.ascontiguousarray(np.exp(G).transpose(1, 2, 0))  # (2^L, L, N): mu(x_l | x_S)
    block_cache: dict[int, dict[int, np.ndarray]] = {}

    def blocks(S: int) -> dict[int, np.ndarray]:
        """{B: prod_{l in B} mu(x_l | x_S)} for every non-empty B in the complement of S (bit DP)."""
        if S not in block_cache:
            prods: dict[int, np.ndarray] = {0: np.ones(N)}
            free = [l for l in range(L) if not S >> l & 1]
            for l in free:
                for B, v in list(prods.items()):
                    prods[B | (1 << l)] = v * P[S, l]
            del prods[0]
            block_cache[S] = prods
        return block_cache[S]

    layer: dict[tuple, np.ndarray] = {((), 0): np.ones(N)}
    result: dict[tuple, np.ndarray] = {}
    for _ in range(L):
        nxt: dict[tuple, np.ndarray] = {}
        for (comp, S), val in layer.items():
            for B, prod in blocks(S).items():
                key = (comp + (B.bit_count(),), S | B)
                if key in nxt:
                    nxt[key] += val * prod
                else:
                    nxt[key] = val * prod
        for (comp, S), val in nxt.items():
            if S == full:
                result[comp] = val
        layer = {k: v for k, v in nxt.items() if k[1] != full}
        if not layer:
            break
    return result


def ancestral_composition_probabilities(step_weights, L: int) -> dict[tuple, float]:
    r"""MDLM ancestral (Bernoulli) sampler: each position revealed at step k with probability ``w_k``
    independently; :math:`P(B_1..B_j) = \sum_{k_1<\dots<k_j}\prod_i w_{k_i}^{|B_i|}` (a function of the
    composition only). ``step_weights`` must sum to 1."""
    w = np.asarray(step_weights, dtype=np.float64)
    if abs(w.sum() - 1.0) > 1e-12 or np.any(w < -1e-15):
        raise InvalidArgumentError(f"step weights must be >= 0 and sum to 1, got sum {w.sum()}")
    out = {}
    for comp in compositions(L):
        # dp[k] = sum over placements of the blocks so far with the last block at step < k
        dp = np.ones(len(w) + 1)  # empty prefix: 1 for every cut position
        for size in comp:
            term = w**size
            new = np.zeros(len(w) + 1)
            # new[k] = sum_{k' < k} dp[k'] * term[k'] with dp indexed by "next free step"
            new[1:] = np.cumsum(dp[:-1] * term)
            dp = new
        out[comp] = float(dp[-1])
    return out


def fixed_count_composition(counts: Sequence[int]) -> tuple[int, ...]:
    """Block sizes (the non-zero counts, in order) of a fixed-count plan."""
    return tuple(int(c) for c in counts if c > 0)


def exact_law_from_compositions(
    laws: dict[tuple, np.ndarray], probs: dict[tuple, float], uniform_over_partitions: bool = False
) -> np.ndarray:
    r""":math:`\sum_c P(c)A_c` (``uniform_over_partitions``: each partition of sizes c has probability
    :math:`P(c)/\#\{\text{partitions of sizes } c\}`, the random-order fixed-count rule)."""
    total = None
    for comp, p in probs.items():
        if p == 0:
            continue
        A = laws[comp]
        if uniform_over_partitions:
            A = A * (math.prod(math.factorial(c) for c in comp) / math.factorial(sum(comp)))
        total = p * A if total is None else total + p * A
    return total


def ancestral_exact_law(laws: dict[tuple, np.ndarray], schedule, steps: int, L: int) -> np.ndarray:
    """Exact output law of :class:`sims.sampling.ancestral.AncestralSampler` (``t_min = 0``, temperature 1,
    time-independent denoiser) for any univariate schedule."""
    w = get_schedule(schedule).step_weights(time_grid(steps)).numpy()
    return exact_law_from_compositions(laws, ancestral_composition_probabilities(w, L))


def fixed_count_exact_law(laws: dict[tuple, np.ndarray], counts: Sequence[int]) -> np.ndarray:
    """Exact output law of the random-order fixed-count sampler with per-step ``counts`` (one block)."""
    return exact_law_from_compositions(
        laws, {fixed_count_composition(counts): 1.0}, uniform_over_partitions=True
    )
