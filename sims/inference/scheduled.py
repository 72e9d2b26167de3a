r"""Which incremental engine answers a scheduled session for a chain (:mod:`sims.inference.incremental`).

``"auto"``: the nearest-neighbour engine (:mod:`sims.inference.separable`) when every revealed token pins
its node's state and the chain's powers are certified, else the evidence tree
(:mod:`sims.inference.evidence_tree`) when the chain has a per-token evidence table, else ``None`` (the
caller uses the full pass). Both engines are exact in float64; the choice only affects speed.

Whether a session pays at all (:func:`incremental_pays`, the samplers' ``oracle_path="auto"``): the
nearest-neighbour engine always does (a few gathers per reveal). For the evidence tree the rule counts the
multiply-adds each path does per row and step (:func:`tree_step_flops`) and takes the tree when it does
fewer than the full pass's :math:`4 n S^2` (forward and backward vector-matrix products over n chain
steps). The tree's count is the products it actually makes, with r = min(ceil(L / K), blocks) reveals per
row and step: :math:`\lceil b/g \rceil - 1` chunk-table products per changed block (g node factors per
table entry), the changed ancestors, which the reveals of a row share near the root
(:math:`\sum_{l=1}^{h} \min(r, P / 2^l)` for P = 2^h padded blocks), all :math:`2 S^3` each, and the
queries' vector-matrix products, :math:`2 r (b + 2h) S^2`. The tree's products are batched S x S GEMMs,
the full pass's vector-matrix products are overhead- and memory-bound at these sizes, so per multiply-add
the tree is faster: :data:`TREE_EFFICIENCY`, calibrated on the sampler benchmark's evidence-tree rows
(``docs/sampler_performance.md`` §4 shows the predicted ratio beside the measured one and counts the rows
on which ``auto`` took the measured faster path; ``tests/benchmarks`` checks that it does on every row with
a clear winner). The tree is taken when :func:`predicted_speedup` ``= TREE_EFFICIENCY x`` full flops /
tree flops is at least 1.
"""

from __future__ import annotations

import torch

from sims.inference.chain import LiftedChain
from sims.inference.evidence_tree import (
    CHUNK_TABLE_BYTES,
    DEFAULT_TREE_BYTES,
    EvidenceTreeSession,
    choose_block,
    choose_chunk,
)
from sims.inference.incremental import Fallback, ScheduledSession, position_layout
from sims.inference.pinned_walk import PinnedWalkSession, pin_width
from sims.inference.separable import NearestNeighbourSession, chain_powers, lex_powers, pinned_states
from sims.validation import InvalidArgumentError

ENGINES = ("auto", "nearest_neighbour", "evidence_tree")
#: Multiply-adds per second of the tree's batched products over the full pass's vector-matrix products
#: (module docstring: calibrated on the sampler benchmark, CPU, one thread).
TREE_EFFICIENCY = 2.0


def _neighbour_tables(chain: LiftedChain, layout, length: int):
    """Pinned states and certified chain powers of the nearest-neighbour engine (cached), or ``None``s."""
    states = pinned_states(layout) if layout.offset == 0 else None
    if states is None:
        return None, None
    key = ("chain_powers", length)
    if key not in chain.engine_cache:
        chain.engine_cache[key] = chain_powers(layout)
    return states, chain.engine_cache[key]


def tree_step_flops(layout, batch: int, length: int, num_steps: int, max_tree_bytes: int) -> float:
    """Multiply-adds of the evidence tree per row and step (module docstring), for ``batch`` rows."""
    S, n = layout.num_states, max(1, length - layout.offset - 1)
    b = choose_block(batch, n, S, max_tree_bytes)
    blocks = -(-n // b)
    height = max(0, (blocks - 1).bit_length())
    padded = 1 << height
    codes = layout.tables.shape[1] + 1  # tokens, the mask and the identity past the last node
    g = max(1, min(b, choose_chunk(codes, S, min(CHUNK_TABLE_BYTES, batch * 2 * padded * S * S * 8))))
    reveals = min(-(-length // max(1, num_steps)), blocks)
    products = reveals * (-(-b // g) - 1) + sum(
        min(reveals, padded >> level) for level in range(1, height + 1)
    )
    return 2.0 * products * S**3 + 2.0 * reveals * (b + 2 * height) * S**2


def predicted_speedup(layout, batch: int, length: int, num_steps: int, max_tree_bytes: int) -> float:
    """Predicted full-pass time over evidence-tree time (module docstring); the tree pays at >= 1."""
    full = 4.0 * max(1, length - layout.offset - 1) * layout.num_states**2
    return TREE_EFFICIENCY * full / tree_step_flops(layout, batch, length, num_steps, max_tree_bytes)


def incremental_pays(
    chain: LiftedChain, batch: int, length: int, num_steps: int, max_tree_bytes: int = DEFAULT_TREE_BYTES
) -> bool:
    """Whether the ``"auto"`` session of ``chain`` is expected to beat the full pass (module docstring):
    ``False`` also when no session exists."""
    layout = position_layout(chain, length)
    if layout is None:
        return False
    if _neighbour_tables(chain, layout, length)[1] is not None:
        return True
    return predicted_speedup(layout, batch, length, num_steps, max_tree_bytes) >= 1.0


def scheduled_session(
    chain: LiftedChain,
    schedule: torch.Tensor,
    num_steps: int,
    fallback: Fallback,
    engine: str = "auto",
    max_tree_bytes: int = DEFAULT_TREE_BYTES,
    on_impossible: str = "raise",
) -> ScheduledSession | None:
    """A session for ``schedule`` ``(B, L)`` (reveal step of each position, ``0..num_steps-1``), or ``None``.

    ``fallback(tokens)`` is the full oracle (log-probs ``(n, L, V)`` and impossibility flags), used for rows
    whose evidence became impossible or could not be certified; ``on_impossible`` says how impossible rows
    are answered (as the oracle does: :class:`~sims.inference.incremental.ScheduledSession`).
    """
    if engine not in ENGINES:
        raise InvalidArgumentError(f"engine must be one of {ENGINES}, got {engine!r}")
    layout = position_layout(chain, schedule.shape[1])
    if layout is None:
        return None
    if engine in ("auto", "nearest_neighbour"):
        states, powers = _neighbour_tables(chain, layout, schedule.shape[1])
        if powers is not None:

            def lex():  # built on first use (an impossible row under on_impossible="min_violation")
                tables = chain.lexicographic_tables()
                if tables is None or tables.evidence_violations:
                    return None
                key = ("lex_powers", schedule.shape[1])
                if key not in chain.engine_cache:
                    chain.engine_cache[key] = lex_powers(tables, schedule.shape[1])
                return chain.engine_cache[key]

            return NearestNeighbourSession(
                layout, states, powers, schedule, fallback, num_steps, on_impossible, lex
            )
        if engine == "nearest_neighbour":
            return None
    width = pin_width(layout)
    if width is not None:  # n-grams: walks between pinned contexts once they are short
        return PinnedWalkSession(
            layout, schedule, fallback, num_steps, max_tree_bytes, on_impossible, width=width
        )
    return EvidenceTreeSession(layout, schedule, fallback, num_steps, max_tree_bytes, on_impossible)
