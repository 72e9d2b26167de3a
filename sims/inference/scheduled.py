"""Which incremental engine answers a scheduled session for a chain (:mod:`sims.inference.incremental`).

``"auto"``: the nearest-neighbour engine (:mod:`sims.inference.separable`) when every revealed token pins
its node's state and the chain's powers are certified, else the evidence tree
(:mod:`sims.inference.evidence_tree`) when the chain has a per-token evidence table, else ``None`` (the
caller uses the full pass). Both engines are exact in float64; the choice only affects speed.
"""

from __future__ import annotations

import torch

from sims.inference.chain import LiftedChain
from sims.inference.evidence_tree import DEFAULT_TREE_BYTES, EvidenceTreeSession
from sims.inference.incremental import Fallback, ScheduledSession, position_layout
from sims.inference.separable import NearestNeighbourSession, chain_powers, lex_powers, pinned_states

ENGINES = ("auto", "nearest_neighbour", "evidence_tree")


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
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    layout = position_layout(chain, schedule.shape[1])
    if layout is None:
        return None
    if engine in ("auto", "nearest_neighbour"):
        states = pinned_states(layout) if layout.offset == 0 else None
        powers = None
        if states is not None:
            key = ("chain_powers", schedule.shape[1])
            cache = chain.engine_cache
            if key not in cache:
                cache[key] = chain_powers(layout)
            powers = cache[key]
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
    return EvidenceTreeSession(layout, schedule, fallback, num_steps, max_tree_bytes, on_impossible)
