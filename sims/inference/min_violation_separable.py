r"""Minimum-violation posteriors of pinned-state chains without a sequential pass (the bigram fallback).

For a chain whose revealed tokens pin their node's state as hard constraints (a bigram; see
:mod:`sims.inference.separable`), every configuration consistent with the revealed tokens is a product of
independent gap paths between consecutive revealed positions, its violation count is the sum of the gaps'
counts and its weight the product of theirs. The configurations of minimal total count are therefore the
products of each gap's minimal-count paths, and the limit posterior of
:mod:`sims.inference.min_violation` at a masked position i depends only on its gap :math:`(a, b)`:

.. math::
    \lim_{\varepsilon\to 0} p_\varepsilon(z_i = s \mid x_R) \propto
    \mathbf 1[c(s) = \min_{s'} c(s')]\; w_\ell(s)\, w_r(s), \qquad c = c_\ell + c_r,

with :math:`(c_\ell, w_\ell) = A_{\mathrm{lex}}^{i-a}[s_a, \cdot]` (or :math:`\pi_{\mathrm{lex}} A_{\mathrm{lex}}^{i}`
without a left neighbour) and :math:`(c_r, w_r) = A_{\mathrm{lex}}^{b-i}[\cdot, s_b]` (or (0, 1) without a
right neighbour: every row of A has a violation-free continuation of total weight 1), the powers taken in
the lexicographic semiring (:func:`sims.inference.separable.lex_powers`). This replaces the O(T) sequential
lexicographic pass by a few gathers over all positions at once; it agrees with it to float64 rounding
(tests against brute force in ``tests/sims/test_min_violation.py``).
"""

from __future__ import annotations

import math

import torch

from sims.inference.chain import LiftedChain
from sims.inference.incremental import position_layout
from sims.inference.separable import lex_powers, pinned_states


def separable_min_violation(chain: LiftedChain, tokens: torch.Tensor) -> torch.Tensor | None:
    """Log minimum-violation token marginals ``(B, L, V)`` of ``tokens``, or ``None`` when the chain's
    revealed tokens do not pin its states as hard constraints (use the sequential lexicographic pass)."""
    B, L = tokens.shape
    layout = position_layout(chain, L)
    tables = chain.lexicographic_tables()
    if layout is None or layout.offset != 0 or tables is None or tables.evidence_violations:
        return None
    states = pinned_states(layout)
    if states is None:
        return None
    key = ("lex_powers", L)
    if key not in chain.engine_cache:
        chain.engine_cache[key] = lex_powers(tables, L)
    left_c, left_w, right_c, right_w = chain.engine_cache[key]
    V, S, dev = chain.vocab_size, layout.num_states, tokens.device
    pos = torch.arange(L, device=dev).expand(B, L)
    revealed = tokens < V
    tab = layout.table_of(pos)
    state = torch.where(revealed, states[tab, tokens.clamp(max=V - 1)], torch.full_like(tokens, S))
    left = torch.cummax(torch.where(revealed, pos, -1), 1).values  # nearest revealed at or before i
    left = torch.cat([torch.full((B, 1), -1, device=dev, dtype=torch.long), left[:, :-1]], 1)  # strictly
    right = torch.cummin(torch.where(revealed, pos, L).flip(1), 1).values.flip(1)
    right = torch.cat([right[:, 1:], torch.full((B, 1), L, device=dev, dtype=torch.long)], 1)
    has_l, has_r = left >= 0, right < L
    s_l = torch.where(has_l, state.gather(1, left.clamp(min=0)), torch.full_like(left, S))
    s_r = torch.where(has_r, state.gather(1, right.clamp(max=L - 1)), torch.full_like(right, S))
    il = (torch.where(has_l, pos - left, pos) * (S + 1) + s_l).reshape(-1)
    ir = (torch.where(has_r, right - pos, 0) * (S + 1) + s_r).reshape(-1)
    c = (left_c.index_select(0, il) + right_c.index_select(0, ir)).reshape(B, L, S)
    w = (left_w.index_select(0, il) + right_w.index_select(0, ir)).reshape(B, L, S)
    best = c.amin(-1, keepdim=True)
    w = torch.where((c == best) & torch.isfinite(c), w, torch.full_like(w, -math.inf))
    log_gamma = w - torch.logsumexp(w, -1, keepdim=True)
    proj = layout.tables[:, :V]  # (n_tab, V, S)
    if S == V and bool(torch.equal(proj, torch.eye(V, dtype=torch.float64, device=dev).expand_as(proj))):
        return log_gamma
    probs = torch.einsum("bls,blvs->blv", log_gamma.exp(), proj[tab])
    return torch.log(probs / probs.sum(-1, keepdim=True))
