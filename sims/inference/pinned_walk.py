r"""Pinned walks: the evidence tree's session for chains whose state is pinned by w consecutive tokens.

For an order-n n-gram lifted to its context chain (:mod:`sims.inference.chain`), the state of node a is
the window of its last ``w = n - 1`` tokens; once those tokens are revealed the state is known, and by the
Markov property the posterior of a masked node j depends only on the evidence between the nearest pinned
nodes a < j < c:

.. math::
    \gamma_j \propto \big(u\, M_{a-w+1} \cdots M_j\big) \odot \big(M_{j+1} \cdots M_c \mathbf 1\big),
    \qquad M_t = A\,\mathrm{diag}(e_t),

where u is any positive vector: the w factors of the window leave a vector supported on the pinned state
only (checked on every window of w token values, :func:`pin_width`), and the isolated revealed tokens
between a and c enter as evidence. Without a pinned node on the left the walk starts from
:math:`v_0` at node 0, without one on the right it ends at the last node.

A value-independent schedule says in advance which nodes are pinned before every step (a node is pinned
once its window's positions are revealed), hence the longest walk of every step. The session answers the
steps with the evidence tree (:mod:`sims.inference.evidence_tree`) until every later step's walks are at
most :data:`MAX_WALK` nodes long and each row reveals at most one position per step, and with walks from
then on: O(walk S^2) vector products per query, nothing to update per reveal. Each walk step is rescaled
and certified like the tree's vector products; a row whose revealed token has probability zero (exactly
zero in the certified marginal of the query) becomes impossible, as the tree's total weight would say.
"""

from __future__ import annotations

import torch

from sims.inference.evidence_tree import EvidenceTreeSession
from sims.inference.incremental import PositionLayout, log_min_positive, normalise_rows

#: Longest walk (nodes) per query once the session switches from the tree to walks.
MAX_WALK = 128
#: Windows checked by :func:`pin_width` at most (V^w of them).
MAX_PIN_WINDOWS = 4096


def pin_width(layout: PositionLayout) -> int | None:
    """``w = offset + 1`` when every window of w consecutive later-node tokens leaves at most one state
    (from a positive start), else ``None`` (HMMs with overlapping emissions; chains with final weights,
    whose walks would need the acceptance of the last node)."""
    if layout.final is not None:
        return None
    w, V, S = layout.offset + 1, layout.tables.shape[1] - 1, layout.num_states
    if V**w > MAX_PIN_WINDOWS:
        return None
    F = layout.tables[layout.offset + 1, :V]  # (V, S)
    vec = torch.ones((1, S), dtype=torch.float64, device=F.device)
    for _ in range(w):
        vec = ((vec @ layout.transition).unsqueeze(1) * F.unsqueeze(0)).reshape(-1, S)
    return w if bool(((vec > 0).sum(1) <= 1).all()) else None


def longest_unpinned_run(pin_time: torch.Tensor, k: int) -> int:
    """Longest run of consecutive nodes not pinned before step k (``pin_time >= k``), over all rows."""
    n1 = pin_time.shape[1]
    idx = torch.arange(n1, device=pin_time.device).expand_as(pin_time)
    last = torch.cummax(torch.where(pin_time < k, idx, torch.full_like(idx, -1)), 1).values
    return int((idx - last).max())


class PinnedWalkSession(EvidenceTreeSession):
    """The tree until :attr:`walk_from`, walks between pinned nodes from then on (module docstring)."""

    def __init__(
        self, layout, schedule, fallback, num_steps, *args, width: int, max_walk: int = MAX_WALK, **kw
    ):
        super().__init__(layout, schedule, fallback, num_steps, *args, **kw)
        self.w = width
        B = schedule.shape[0]
        pin_time = schedule.to(torch.long).unfold(1, width, 1).amax(-1)  # (B, n + 1): node a pinned after
        lo, hi = 0, num_steps  # smallest k whose runs (and every later step's) are at most max_walk
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if longest_unpinned_run(pin_time, mid) <= max_walk else (mid + 1, hi)
        per_step_row = torch.zeros((num_steps, B), dtype=torch.long, device=self.device)
        per_step_row.index_put_(
            (
                schedule.reshape(-1).to(torch.long),
                torch.arange(B, device=self.device).repeat_interleave(self.length),
            ),
            torch.ones(B * self.length, dtype=torch.long, device=self.device),
            accumulate=True,
        )
        one_per_row = bool((per_step_row[lo:] <= 1).all())
        self.walk_from = lo if one_per_row else num_steps
        self._probs = torch.zeros((B, self.vocab_size), dtype=torch.float64, device=self.device)

    # ---- walks ------------------------------------------------------------------------------------------
    def _marginals(self, k, sel, rows, positions):
        if k < self.walk_from:
            return super()._marginals(k, sel, rows, positions)
        probs, ok = self._walk_marginals(rows, positions)
        self._probs[rows] = probs
        return probs, ok

    def _reveal(self, k, sel, rows, positions, values):
        if k < self.walk_from:
            return super()._reveal(k, sel, rows, positions, values)
        failed = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        first = self.layout.node_of(positions) == 0
        if bool(first.any()):  # node 0: fold the new factor into v0 (one reveal per row)
            r0, tab = rows[first], self.layout.table_of(positions[first])
            f = self.layout.tables[tab, values[first]]
            failed[r0] = (
                log_min_positive(self.v0[r0], (-1,)) + self.lo_tables[tab, values[first]] < -self.safe
            )
            self.v0[r0], _ = normalise_rows(self.v0[r0] * f)
        impossible = rows[self._probs[rows, values] <= 0]
        return impossible, failed.nonzero().flatten()

    def _step(self, vec, lo_vec, ok, active, e, lo_e, forward: bool):
        nxt = (vec @ self.A) * e if forward else (vec * e) @ self.At
        nxt, _ = normalise_rows(nxt)
        ok = ok & (~active | (lo_vec + lo_e + self.lo_A >= -self.safe))
        vec = torch.where(active.unsqueeze(-1), nxt, vec)
        return vec, torch.where(active, _log_min(vec), lo_vec), ok

    def _walk_marginals(self, rows, positions):
        N, S, n, off, dev = rows.shape[0], self.S, self.n, self.layout.offset, self.device
        revealed = self.tokens[rows] != self.vocab_size  # (N, L)
        pinned = revealed.unfold(1, self.w, 1).all(-1)  # (N, n + 1)
        idx = torch.arange(n + 1, device=dev).expand(N, n + 1)
        left = torch.cummax(torch.where(pinned, idx, torch.full_like(idx, -1)), 1).values
        right = torch.flip(
            torch.cummin(torch.flip(torch.where(pinned, idx, torch.full_like(idx, n + 1)), [1]), 1).values,
            [1],
        )
        j = self.layout.node_of(positions)
        ar = torch.arange(N, device=dev)
        a = left[ar, (j - 1).clamp(min=0)]
        a = torch.where(j >= 1, a, torch.full_like(a, -1))
        start = a - off  # first node of the pinned window; < 1: start from v0 at node 0
        from_v0 = start < 1
        first = torch.where(from_v0, torch.ones_like(start), start)
        end = torch.where(right[ar, j] <= n, right[ar, j], torch.full_like(j, n))
        ok = torch.ones(N, dtype=torch.bool, device=dev)
        v = torch.where(
            from_v0.unsqueeze(-1), self.v0[rows], torch.full((N, S), 1.0 / S, dtype=torch.float64, device=dev)
        )
        lo_v = _log_min(v)
        steps = int((j - first + 1).clamp(min=0).max()) if N else 0
        for t in range(steps):  # forward: nodes first..j, aligned to end at j
            node = j - steps + 1 + t
            active = (node >= first) & (node >= 1)
            e, lo_e = self._node_evidence(rows, node.clamp(min=1, max=max(n, 1)))
            v, lo_v, ok = self._step(v, lo_v, ok, active, e, lo_e, True)
        w = torch.full((N, S), 1.0 / S, dtype=torch.float64, device=dev)
        lo_w = _log_min(w)
        steps = int((end - j).clamp(min=0).max()) if N else 0
        for t in range(steps):  # backward: nodes end..j+1, aligned to start at j + steps
            node = j + steps - t
            active = node <= end
            e, lo_e = self._node_evidence(rows, node.clamp(min=1, max=max(n, 1)))
            w, lo_w, ok = self._step(w, lo_w, ok, active, e, lo_e, False)
        gamma = v * w
        tables = self.layout.tables[self.layout.table_of(positions), : self.vocab_size]
        probs, nonzero = normalise_rows(torch.einsum("ns,nvs->nv", gamma, tables))
        return probs, ok & nonzero


def _log_min(v: torch.Tensor) -> torch.Tensor:
    m = v.amin(-1)
    return torch.log(m) if bool((m > 0).all()) else log_min_positive(v, (-1,))
