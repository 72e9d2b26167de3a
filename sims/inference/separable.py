r"""Nearest-neighbour engine: chains whose revealed tokens pin their node's state (bigram, i.i.d.).

If every token value v has evidence on a single state :math:`s(v)` (the one-hot window of a bigram; the
single state of an i.i.d. chain), a revealed position fixes its node, and by the Markov property the
posterior of a masked node i given all revealed tokens depends only on its nearest revealed neighbours
:math:`a < i < b`:

.. math::
    \gamma_i(s) \propto \ell_i(s)\, r_i(s), \qquad
    \ell_i = A^{i-a}[s_a, \cdot] \ (\text{or } \mu_i = \pi A^{i} \text{ without } a), \qquad
    r_i = A^{b-i}[\cdot, s_b] \ (\text{or } 1 \text{ without } b),

and the token marginal is :math:`\gamma_i F^\top` with F the evidence table (the identity for a bigram).
With the powers :math:`A^d` precomputed (d < L) a query costs O(S + SV). The neighbours come from the
schedule alone (:func:`nearest_earlier`): for a query at step k, the nearest positions revealed at steps
< k; for the support check of a reveal, those revealed at steps <= k (a same-step pair can be jointly
impossible even if each token is possible alone: then the row goes to the full oracle, as in the full path).

Exactness: every entry of :math:`A^d` and :math:`\mu_i` is a sum of products of non-negative numbers; the
zero pattern of each power is checked against boolean reachability and its smallest positive entry must
stay above :math:`e^{-\text{safe}/2}` (so the products :math:`\ell_i r_i` are normal numbers); otherwise the
engine declines and the sampler uses the full pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sims.inference.incremental import (
    Fallback,
    PositionLayout,
    ScheduledSession,
    log_min_positive,
    safe_range,
)


def pinned_states(layout: PositionLayout) -> torch.Tensor | None:
    """``(tables, V)`` state pinned by each token value, or ``None`` when some value leaves several states
    (a value with no state at all is impossible; :meth:`NearestNeighbourSession._reveal` checks its weight).
    ``None`` also with final weights (an automaton's acceptance: the suffix does not end in ones)."""
    if layout.final is not None:
        return None
    V = layout.tables.shape[1] - 1
    support = layout.tables[:, :V] > 0  # (n_tab, V, S)
    if not bool((support.sum(-1) <= 1).all()):
        return None
    return support.to(torch.float64).argmax(-1)


def chain_powers(layout: PositionLayout) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(A^d for d < L, mu_i = pi A^i for i < L)``, certified (module docstring), cached; else ``None``."""
    A, L, S = layout.transition, layout.length, layout.num_states
    powers = torch.empty((L, S, S), dtype=torch.float64, device=A.device)
    mu = torch.empty((L, S), dtype=torch.float64, device=A.device)
    reach = torch.empty_like(powers)
    reach_mu = torch.empty_like(mu)
    powers[0] = torch.eye(S, dtype=torch.float64, device=A.device)
    mu[0] = layout.initial
    reach[0], reach_mu[0] = powers[0], (mu[0] > 0).to(torch.float64)
    support = (A > 0).to(torch.float64)
    filled = 1
    while filled < L:  # doubling: A^(filled + j) = A^j A^filled, j < filled (batched products)
        n = min(filled, L - filled)
        step, step_reach = powers[filled - 1] @ A, ((reach[filled - 1] @ support) > 0).to(torch.float64)
        powers[filled : filled + n] = powers[:n] @ step
        mu[filled : filled + n] = mu[:n] @ step
        reach[filled : filled + n] = ((reach[:n] @ step_reach) > 0).to(torch.float64)
        reach_mu[filled : filled + n] = ((reach_mu[:n] @ step_reach) > 0).to(torch.float64)
        filled += n
    if bool(((reach > 0) != (powers > 0)).any()) or bool(((reach_mu > 0) != (mu > 0)).any()):
        return None
    half = safe_range(S) / 2 - max(0.0, -layout.min_log_table)
    lo = min(float(log_min_positive(powers, (0, 1, 2))), float(log_min_positive(mu, (0, 1))))
    return (powers, mu) if lo >= -half else None


def nearest_earlier(schedule: torch.Tensor, strict: bool, chunk_rows: int = 64) -> torch.Tensor:
    """``(B, L)`` index of the nearest position j < i with ``schedule[j] < schedule[i]`` (``strict``) or
    ``<=`` (else), -1 where there is none. Binary lifting over a sparse table of window minima, O(L log L)
    vectorised work per row, computed ``chunk_rows`` rows at a time to bound memory."""
    B, L = schedule.shape
    out = torch.empty((B, L), dtype=torch.long, device=schedule.device)
    levels = max(1, (L - 1).bit_length())
    for start in range(0, B, chunk_rows):
        key = schedule[start : start + chunk_rows].to(torch.int32)
        mins = [key]  # mins[k][i] = min(key[max(0, i - 2^k + 1) .. i])
        for k in range(1, levels + 1):
            prev, h = mins[-1], 1 << (k - 1)
            cur = prev.clone()
            cur[:, h:] = torch.minimum(prev[:, h:], prev[:, :-h])
            mins.append(cur)
        thr = key if strict else key + 1  # j qualifies iff key[j] < thr
        pos = torch.arange(L, device=key.device).expand_as(key) - 1
        for k in range(levels, -1, -1):
            m = mins[k].gather(1, pos.clamp(min=0))
            jump = (pos >= 0) & (m >= thr)
            pos = pos - jump.long() * (1 << k)
        out[start : start + chunk_rows] = pos.clamp(min=-1)
    return out


def nearest_later(schedule: torch.Tensor, strict: bool) -> torch.Tensor:
    """Mirror image of :func:`nearest_earlier`: the nearest j > i (``L`` where there is none)."""
    L = schedule.shape[1]
    left = nearest_earlier(schedule.flip(1), strict).flip(1)
    return torch.where(left >= 0, L - 1 - left, torch.full_like(left, L))


class NearestNeighbourSession(ScheduledSession):
    """:class:`~sims.inference.incremental.ScheduledSession` for chains with pinned states (module docstring).

    Everything that depends on the schedule only is laid out once, in the order of the queries: for each
    (row, position) pair the flat index of its neighbours' states and the row offsets into the stacked
    tables ``left[d, s] = A^d[s, :]`` (``left[i, S] = mu_i``: no left neighbour) and
    ``right[d, s] = A^d[:, s]`` (``right[d, S] = 1``: no right neighbour). A query is then a few gathers.
    """

    engine = "nearest_neighbour"

    def __init__(
        self,
        layout: PositionLayout,
        states: torch.Tensor,
        powers: tuple[torch.Tensor, torch.Tensor],
        schedule: torch.Tensor,
        fallback: Fallback,
        num_steps: int,
        on_impossible: str = "raise",
        lex: Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None] | None = None,
    ):
        V = layout.tables.shape[1] - 1
        super().__init__(V, schedule, fallback, num_steps, on_impossible)
        self._lex_source, self._lex = lex, None
        B, L = schedule.shape
        S, dev = layout.num_states, schedule.device
        self.layout, self.states_of, self.S = layout, states, S
        a_pow, mu = powers
        self.left_tab = torch.cat([a_pow, mu.unsqueeze(1)], 1).reshape(L * (S + 1), S)
        ones = torch.ones((L, 1, S), dtype=torch.float64, device=dev)
        self.right_tab = torch.cat([a_pow.transpose(1, 2), ones], 1).reshape(L * (S + 1), S)
        self.state = torch.full((B * L + 1,), S, dtype=torch.long, device=dev)  # last slot: "no neighbour"
        pos = self.order % L
        row_base = self.order - pos  # row * L
        sentinel = B * L

        def layout_of(neighbour: torch.Tensor, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
            nb = neighbour.reshape(-1)[self.order]
            has = nb >= 0 if left else nb < L
            flat = torch.where(has, row_base + nb, torch.full_like(nb, sentinel))
            d = torch.where(has, (pos - nb).abs(), pos if left else torch.zeros_like(pos))
            return flat, d * (S + 1)

        # steps where some row reveals several positions: only there can a new pair be jointly impossible
        row_of = torch.arange(B * L, device=dev) // L
        per_row = torch.bincount(schedule.reshape(-1) * B + row_of, minlength=num_steps * B)
        self.multi = (per_row.reshape(num_steps, B) > 1).any(1).tolist()
        self.q_left = layout_of(nearest_earlier(schedule, True), True)
        self.q_right = layout_of(nearest_later(schedule, True), False)
        if any(self.multi):
            self.r_left = layout_of(nearest_earlier(schedule, False), True)
            self.r_right = layout_of(nearest_later(schedule, False), False)
        else:  # one reveal per row and step: "earlier" and "not later" neighbours coincide
            self.r_left, self.r_right = self.q_left, self.q_right
        self.q_all = torch.stack([*self.q_left, *self.q_right])  # (4, B L): one slice per step
        self.r_all = torch.stack([*self.r_left, *self.r_right])
        proj = layout.tables[:, :V]  # (n_tab, V, S)
        eye = S == V and bool(
            torch.equal(proj, torch.eye(V, dtype=torch.float64, device=dev).expand_as(proj))
        )
        self.projection = None if eye else proj
        self.flat_of = lambda rows, positions: rows * L + positions
        # bigram: token value = pinned state in every table, and every value has its state
        self.identity_states = bool((states == torch.arange(V, device=dev)).all())
        self.every_value_pinned = bool((layout.tables[:, :V] > 0).any(-1).all())
        self._last = None  # (k, states of the last revealed pairs)
        self._last_probs = None  # (k, token marginals of the last full query)

    def _slice(self, arrays, k, sel):
        a, b = self.offsets[k], self.offsets[k + 1]
        if isinstance(arrays, torch.Tensor):
            x = arrays[:, a:b]
            return x if sel is None else x[:, sel]
        return [x[a:b] if sel is None else x[a:b][sel] for x in arrays]

    def _marginals(self, k, sel, rows, positions):
        a_flat, a_base, b_flat, b_base = self._slice(self.q_all, k, sel)
        gamma = self.left_tab.index_select(0, a_base + self.state[a_flat])
        gamma.mul_(self.right_tab.index_select(0, b_base + self.state[b_flat]))
        if self.projection is not None:
            gamma = torch.einsum("ns,nvs->nv", gamma, self.projection[self.layout.table_of(positions)])
        gamma.div_(gamma.sum(-1, keepdim=True))
        self._last_probs = (k, gamma) if sel is None else None
        # a live row's total weight is a sum of certified normal products: positive, nothing to check
        return gamma, torch.ones((), dtype=torch.bool, device=gamma.device).expand(gamma.shape[0])

    def _states(self, positions, values):
        return values if self.identity_states else self.states_of[self.layout.table_of(positions), values]

    def _record_values(self, k, rows, positions, values):
        s = self._states(positions, values)
        self.state[self.order[self.offsets[k] : self.offsets[k + 1]]] = s
        self._last = (k, s)

    def _reveal(self, k, sel, rows, positions, values):
        if sel is None and not self.multi[k] and self._last_probs is not None and self._last_probs[0] == k:
            # one reveal per row: the new state is possible iff the drawn value had positive probability
            bad = self._last_probs[1].gather(1, values.unsqueeze(1))[:, 0] <= 0
        else:
            S = self.S
            s = self._last[1] if sel is None and self._last[0] == k else self._states(positions, values)
            l_flat, l_base, r_flat, r_base = self._slice(self.r_all, k, sel)
            w = torch.minimum(
                self.left_tab.view(-1)[(l_base + self.state[l_flat]) * S + s],
                self.right_tab.view(-1)[(r_base + self.state[r_flat]) * S + s],
            )
            if not self.every_value_pinned:
                w = torch.minimum(w, self.layout.tables[self.layout.table_of(positions), values, s])
            bad = w <= 0
        if not bool(bad.any()):
            return None
        return rows[bad], None

    def _lex_marginals(self, k, sel, rows, positions):
        """Minimum-violation marginals of impossible rows from the same neighbours, in the semiring of
        (violation count, log weight) (:mod:`sims.inference.min_violation`): the counts of the other gaps
        are constants, so the limit posterior separates at revealed positions too."""
        if self._lex is None:
            self._lex = self._lex_source() if self._lex_source is not None else None
            if self._lex is None:
                self._lex_source = None
                return None
        left_c, left_w, right_c, right_w = self._lex
        a_flat, a_base, b_flat, b_base = self._slice((*self.q_left, *self.q_right), k, sel)
        ia, ib = a_base + self.state[a_flat], b_base + self.state[b_flat]
        c = left_c.index_select(0, ia) + right_c.index_select(0, ib)
        w = left_w.index_select(0, ia) + right_w.index_select(0, ib)
        best = c.amin(-1, keepdim=True)
        w = torch.where((c == best) & torch.isfinite(c), w, torch.full_like(w, -math.inf))
        log_gamma = w - torch.logsumexp(w, -1, keepdim=True)
        if self.projection is None:
            return log_gamma
        probs = torch.einsum("ns,nvs->nv", log_gamma.exp(), self.projection[self.layout.table_of(positions)])
        return torch.log(probs / probs.sum(-1, keepdim=True))


def lex_powers(tables, length: int):
    """Stacked minimum-violation tables for :class:`NearestNeighbourSession` (rows ``d * (S + 1) + s``):
    counts and log weights of the lexicographic powers of the transition (``left[d, s] = A_lex^d[s, :]``,
    ``left[i, S] = pi_lex A_lex^i``; ``right[d, s] = A_lex^d[:, s]``, ``right[d, S] = (0, 0)``: an open end
    always has a violation-free continuation of total weight 1, the rows of A being probabilities)."""
    tc, tw = tables.trans_count, tables.trans_logp
    tw = torch.where(torch.isfinite(tc), tw, torch.full_like(tw, -math.inf))
    S, dev = tc.shape[0], tc.device

    def step(c, w):
        cand = c.unsqueeze(-1) + tc  # (..., S_in, S_out)
        new_c = cand.amin(-2)
        ok = (cand == new_c.unsqueeze(-2)) & torch.isfinite(cand)
        return new_c, torch.logsumexp(
            torch.where(ok, w.unsqueeze(-1) + tw, torch.full_like(cand, -math.inf)), -2
        )

    eye = torch.eye(S, dtype=torch.bool, device=dev)
    C = torch.empty((length, S + 1, S), dtype=torch.float64, device=dev)
    W = torch.empty_like(C)
    C[0, :S] = torch.where(eye, 0.0, math.inf)
    W[0, :S] = torch.where(eye, 0.0, -math.inf)
    C[0, S], W[0, S] = (
        tables.init_count,
        torch.where(torch.isfinite(tables.init_count), tables.init_logp, -math.inf),
    )
    for d in range(1, length):
        C[d], W[d] = step(C[d - 1], W[d - 1])
    right_c = torch.cat(
        [C[:, :S].transpose(1, 2), torch.zeros((length, 1, S), dtype=torch.float64, device=dev)], 1
    )
    right_w = torch.cat(
        [W[:, :S].transpose(1, 2), torch.zeros((length, 1, S), dtype=torch.float64, device=dev)], 1
    )
    flat = lambda x: x.reshape(length * (S + 1), S)  # noqa: E731
    return flat(C), flat(W), flat(right_c), flat(right_w)
