"""Ranking positions by a score, the two tie-break rules, and the exact laws of ranking-based selections.

Scores are rounded to :data:`SCORE_BITS` fractional bits before ranking, so values that are equal up to
float64 rounding tie. Ties are broken by ``tie_break``:

* ``"random"`` (default of every ranking sampler): uniformly at random among positions whose rounded
  scores are equal (a random permutation drawn from the run's generator, then a stable sort);
* ``"lowest_index"``: towards the lowest position index (a deterministic rule).

The batched samplers rank with :func:`rank_positions`. A rule that reads only the first m entries of the
ranking (the m best, e.g. a fixed count per step) asks for ``prefix=m``: the same m entries, bit for bit
and from the same random numbers, found by partial selection (:mod:`sims.sampling.partial_rank`, top-k
and the boundary tie group) instead of a sort of all L positions. The exact kernels enumerate the
rankings :func:`rank_positions` can return (:func:`tie_orders`) and the laws of the selected sets
(:func:`selection_law`, :func:`top_count_sets`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from sims.sampling.partial_rank import ranking_prefix
from sims.validation import check_choice, check_int

#: Scores (confidence, margin, entropy) are rounded to this many fractional bits before ranking.
SCORE_BITS = 40

TIE_BREAKS = ("random", "lowest_index")

#: ``rank_positions(..., prefix=m)`` selects partially when ``m * PARTIAL_FRACTION <= L`` and sorts all L
#: positions otherwise (at (256, 1024) on one CPU thread the partial selection stops paying off between
#: m = L/4 and m = L/2); both give the same positions.
PARTIAL_FRACTION = 4


def check_tie_break(tie_break: str) -> str:
    return check_choice(tie_break, TIE_BREAKS, "tie_break")


def quantize(values: torch.Tensor) -> torch.Tensor:
    """Round to :data:`SCORE_BITS` fractional bits (sums of a few thousand such numbers are exact)."""
    scale = 2.0**SCORE_BITS
    return torch.round(values.to(torch.float64) * scale) / scale


def quantized_scores(scores: torch.Tensor) -> torch.Tensor:
    """Scores times 2**SCORE_BITS, rounded (equal up to float64 noise -> exactly equal)."""
    return torch.round_(scores.to(torch.float64) * 2.0**SCORE_BITS)


def rank_positions(
    scores: torch.Tensor,
    candidates: torch.Tensor,
    generator: torch.Generator | None = None,
    prefix: int | None = None,
) -> torch.Tensor:
    """Positions sorted by descending score, non-candidates last; ``(..., L)``, or its first ``prefix`` columns.

    Scores are rounded to :data:`SCORE_BITS` fractional bits first. Ties go to the lowest index when
    ``generator`` is None (``tie_break="lowest_index"``); otherwise they are broken uniformly at random
    (``tie_break="random"``): positions are first shuffled by a random permutation drawn from
    ``generator`` (the argsort of L uniforms, one ``torch.rand`` call), then stably sorted by score, so
    each tie group is ordered by ascending uniform. Non-candidates come last, in the same tie order.

    ``prefix=m`` returns the first ``min(m, L)`` columns only, computed by partial selection
    (:mod:`sims.sampling.partial_rank`: top-k and the boundary tie group, no sort of all L positions)
    when ``m <= L / PARTIAL_FRACTION`` (:data:`PARTIAL_FRACTION`), by the full sort otherwise. It
    draws the same uniforms (the generator ends in the same state) and is bit-identical to
    ``rank_positions(scores, candidates, generator)[..., :m]``: where that cannot be guaranteed (equal
    uniforms where they matter, probability about L^2/2^53 per row; NaN scores) it falls back to the full
    ranking.
    """
    q = quantized_scores(scores)
    # + 0.0 turns -0.0 into +0.0, so equal scores tie even where a sort compares raw bits (GPU radix sorts)
    q = torch.where(candidates, q, -torch.inf).add_(0.0)
    u = None
    if generator is not None:
        u = torch.rand(q.shape, dtype=torch.float64, generator=generator, device=generator.device).to(
            q.device
        )
    L = q.shape[-1]
    if prefix is None:
        return _full_ranking(q, u)
    prefix = check_int(prefix, "prefix", minimum=0)
    if prefix * PARTIAL_FRACTION <= L:
        top = ranking_prefix(q.reshape(-1, L), prefix, None if u is None else u.reshape(-1, L))
        if top is not None:
            return top.reshape(*q.shape[:-1], prefix)
    return _full_ranking(q, u)[..., :prefix]


def _full_ranking(q: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """Sort of all positions by (q descending, u ascending or index ascending)."""
    if u is None:
        return torch.sort(q, dim=-1, descending=True, stable=True).indices
    perm = torch.argsort(u, dim=-1)
    inner = torch.sort(q.gather(-1, perm), dim=-1, descending=True, stable=True).indices
    return perm.gather(-1, inner)


def tie_orders(
    scores: torch.Tensor, candidates: torch.Tensor, tie_break: str = "random"
) -> list[tuple[torch.Tensor, float]]:
    """Every ranking :func:`rank_positions` can return for one row, with its probability (exact kernels).

    ``scores`` and ``candidates`` have shape ``(L,)``. With ``tie_break="lowest_index"`` there is one
    ranking; with ``"random"`` every permutation within each group of equal (rounded) candidate scores is
    equally likely. Non-candidates come last in index order (they are never selected).
    """
    check_tie_break(tie_break)
    base = rank_positions(scores.unsqueeze(0), candidates.unsqueeze(0))[0]
    if tie_break == "lowest_index":
        return [(base, 1.0)]
    q = quantized_scores(scores)
    cand = [int(i) for i in base if bool(candidates[int(i)])]
    rest = [int(i) for i in base if not bool(candidates[int(i)])]
    groups = [list(g) for _, g in itertools.groupby(cand, key=lambda i: float(q[i]))]
    perms = [list(itertools.permutations(g)) for g in groups]
    prob = 1.0 / math.prod(len(p) for p in perms)
    return [
        (torch.tensor([i for part in combo for i in part] + rest, dtype=torch.long), prob)
        for combo in itertools.product(*perms)
    ]


def selection_law(
    scores: torch.Tensor,
    candidates: torch.Tensor,
    tie_break: str,
    select: Callable[[torch.Tensor], torch.Tensor],
) -> dict[tuple, float]:
    """Law of the selected set of a ranking-based rule for one row (exact kernels).

    ``select(order)`` maps a ranking ``(L,)`` (best first) to a boolean selection ``(L,)``; the law is
    taken over the rankings :func:`tie_orders` allows.
    """
    law: dict[tuple, float] = {}
    for order, w in tie_orders(scores, candidates, tie_break):
        key = tuple(int(i) for i in select(order).nonzero().flatten())
        law[key] = law.get(key, 0.0) + w
    return law


def top_count_sets(
    scores: torch.Tensor, candidates: torch.Tensor, count: int, tie_break: str = "random"
) -> list[tuple[tuple, float]]:
    """Law of the set of the ``count`` best candidates (exact kernels; no factorial blow-up).

    Candidates strictly above the boundary score are always taken; the rest is a uniformly random subset
    of the boundary tie group (``"random"``) or its lowest indices (``"lowest_index"``).
    """
    check_tie_break(tie_break)
    order = rank_positions(scores.unsqueeze(0), candidates.unsqueeze(0))[0]
    cand = [int(i) for i in order if bool(candidates[int(i)])]
    count = min(count, len(cand))
    if count == 0:
        return [((), 1.0)]
    if tie_break == "lowest_index":
        return [(tuple(sorted(cand[:count])), 1.0)]
    q = quantized_scores(scores)
    boundary = float(q[cand[count - 1]])
    sure = [i for i in cand if float(q[i]) > boundary]
    tied = [i for i in cand if float(q[i]) == boundary]
    need = count - len(sure)
    subsets = list(itertools.combinations(tied, need))
    return [(tuple(sorted(sure + list(sub))), 1.0 / len(subsets)) for sub in subsets]
