r"""Incremental evidence: exact posterior marginals of the positions a value-independent schedule reveals.

A sampler whose reveal schedule does not depend on token values (ancestral/Bernoulli, fixed-count random
order, first hitting, semi-AR blocks with random order inside) knows, before it starts, at which step
each position is revealed: a ``(B, L)`` schedule. At step k it needs the posterior marginals

.. math::  p(x_i = v \mid x_{R_k}), \qquad i \in \{\text{schedule} = k\},\quad R_k = \{\text{schedule} < k\},

of the positions it reveals, not of all L positions. A :class:`ScheduledSession` answers exactly that,
step by step: :meth:`~ScheduledSession.query` (the marginals of the positions scheduled at step k, in
row-major order), then :meth:`~ScheduledSession.reveal` (their drawn values). Tokens revealed at the same
step never see each other, exactly as in the full pass. Two engines, chosen by the chain's structure
(:func:`scheduled_session`):

* ``"nearest_neighbour"`` (:mod:`sims.inference.separable`): chains whose revealed token pins its node's
  state (bigram, i.i.d.). By the Markov property the marginal at i depends only on the nearest revealed
  neighbours a < i < b: :math:`\gamma_i \propto A^{i-a}[s_a, \cdot] \odot A^{b-i}[\cdot, s_b]`. O(S) per
  query with precomputed powers; neighbours are computed once from the schedule.
* ``"evidence_tree"`` (:mod:`sims.inference.evidence_tree`): any chain with a per-token evidence table
  (HMMs, n-grams of any order): a balanced tree over blocks of evidence-weighted transfer matrices
  :math:`A\,\mathrm{diag}(e_t)`, updated per reveal and queried at the revealed positions only.

Both are exact in float64 (certified like the fast engines: rows whose certificate fails, rows whose
evidence became impossible through same-step reveals, are answered by the full oracle, ``fallback``, so
``on_impossible`` behaves exactly as in the full path). The layout of the chain (which node each position
belongs to and its per-position evidence factor) is read off the chain's own ``evidence`` on probe
sequences, so nothing here knows a language.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sims.inference.chain import LiftedChain
from sims.inference.linear import evidence_table, min_finite, safe_log_range
from sims.validation import InvalidArgumentError

#: Chains with more states than this get no incremental session (the tree's S^3 products would not pay).
MAX_TREE_STATES = 128


@dataclass
class PositionLayout:
    r"""Where each position's evidence enters the chain, read off the chain (:func:`position_layout`).

    Attributes:
        length: L; ``offset = L - T``: positions ``0..offset`` belong to node 0, position ``p > offset`` to
            node ``p - offset`` (its newest token).
        initial: ``(S,)`` linear initial law; transition: ``(S, S)`` dense linear transition.
        tables: ``(offset + 2, V + 1, S)`` linear evidence factor of each token value (mask row = 1):
            ``tables[p]`` for the positions of node 0, ``tables[offset + 1]`` for every later position.
            Each satisfies :math:`\sum_{v<V} F[v, s] = 1`, so a masked position's token marginal is
            :math:`\gamma F[:V]^\top`.
        min_log_table, min_log_transition: logs of the smallest positive entries (certificates).
        final: ``(S,)`` linear final weights of the last node
            (:meth:`~sims.inference.chain.LiftedChain.final_log_weights`: an automaton's acceptance), or
            ``None`` (all ones); each in [0, 1] with a positive entry (else the chain declines).
        min_log_final: log of its smallest positive entry (0 without final weights).
    """

    length: int
    offset: int
    initial: torch.Tensor
    transition: torch.Tensor
    tables: torch.Tensor
    min_log_table: float
    min_log_transition: float
    final: torch.Tensor | None = None
    min_log_final: float = 0.0

    @property
    def num_states(self) -> int:
        return self.transition.shape[0]

    def table_of(self, positions: torch.Tensor) -> torch.Tensor:
        """Index into :attr:`tables` of each position."""
        return positions.clamp(max=self.offset + 1)

    def node_of(self, positions: torch.Tensor) -> torch.Tensor:
        return (positions - self.offset).clamp(min=0)


def position_layout(chain: LiftedChain, length: int) -> PositionLayout | None:
    """The :class:`PositionLayout` of ``chain`` at ``length``, or ``None`` when the chain does not give one.

    Needs a per-token evidence table (:meth:`~sims.inference.chain.LiftedChain.token_evidence_probe_length`)
    and at most :data:`MAX_TREE_STATES` states. Node 0's evidence is probed position by position and must
    factorise over its positions (checked on a probe with every position revealed); every table must be a
    likelihood of the token (columns summing to the mask row, 1), else the chain declines.
    """
    if chain.token_evidence_probe_length() is None or chain.num_states > MAX_TREE_STATES:
        return None
    cache = chain.engine_cache
    key = ("position_layout", length)
    if key in cache:
        return cache[key]
    V, S, dev = chain.vocab_size, chain.num_states, chain.device
    T = chain.num_nodes(length)
    offset = length - T
    probe_len = max(offset + 2, chain.token_evidence_probe_length())
    tables = torch.empty((offset + 2, V + 1, S), dtype=torch.float64, device=dev)
    for p in range(offset + 1):
        probe = torch.full((V + 1, probe_len), V, dtype=torch.long, device=dev)
        probe[:, p] = torch.arange(V + 1, device=dev)
        first, _ = chain.evidence(probe)
        tables[p] = torch.exp(first)
    lin, _ = evidence_table(chain, torch.float64)
    tables[offset + 1] = lin
    # node 0 must factorise over its positions: check on every joint value of its positions (few)
    ok = bool((tables[:, V] == 1).all()) and bool(
        torch.allclose(tables[:, :V].sum(1), tables[:, V], rtol=1e-12, atol=0)
    )
    if ok and offset > 0:
        grid = torch.cartesian_prod(*[torch.arange(V, device=dev)] * (offset + 1)).reshape(-1, offset + 1)
        probe = torch.full((grid.shape[0], probe_len), V, dtype=torch.long, device=dev)
        probe[:, : offset + 1] = grid
        first, _ = chain.evidence(probe)
        prod = torch.ones((grid.shape[0], S), dtype=torch.float64, device=dev)
        for p in range(offset + 1):
            prod = prod * tables[p][grid[:, p]]
        ok = bool(torch.allclose(torch.exp(first), prod, rtol=1e-12, atol=0))
    if not ok:
        cache[key] = None
        return None
    log_a = chain.propagate_forward(torch.log(torch.eye(S, dtype=torch.float64, device=dev)))
    log_f = chain.final_log_weights()
    if (
        bool((log_a > 0).any())
        or bool((chain.log_initial > 0).any())
        or (log_f is not None and (bool((log_f > 0).any()) or not bool(torch.isfinite(log_f).any())))
    ):
        cache[key] = None  # not probability tables: outside the certificates' assumptions
        return None
    log_t = torch.log(tables)
    out = PositionLayout(
        length,
        offset,
        torch.exp(chain.log_initial),
        torch.exp(log_a),
        tables,
        float(min_finite(log_t.reshape(-1), 0)),
        float(min_finite(log_a.reshape(-1), 0)),
        None if log_f is None else torch.exp(log_f),
        0.0 if log_f is None else float(min_finite(log_f.reshape(-1), 0)),
    )
    cache[key] = out
    return out


@dataclass
class StepQuery:
    """Marginals of the positions revealed at one step.

    Attributes:
        rows, positions: ``(N,)`` the (row, position) pairs scheduled at this step, row-major (the session's
            ``order[offsets[k]:offsets[k+1]]``).
        log_probs: ``(N, V)`` float64 posterior log-marginals given the tokens revealed before the step.
        called: ``(B,)`` rows with at least one pair: one denoiser call each (NFE).
        impossible: ``(B,)`` called rows whose revealed tokens have probability zero (answered as the full
            oracle does for ``on_impossible``). Both flag tensors are read-only (shared between steps).
        probs: ``(N, V)`` the same marginals as probabilities (``log_probs = log(probs)``) when the engine
            answered every row, so a sampler can draw from them without exponentiating; else ``None``.
    """

    rows: torch.Tensor
    positions: torch.Tensor
    log_probs: torch.Tensor
    called: torch.Tensor
    impossible: torch.Tensor
    probs: torch.Tensor | None = None


#: ``fallback(tokens (n, L)) -> (log_probs (n, L, V), impossible (n,))``: the full oracle on some rows.
Fallback = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class ScheduledSession:
    """Base of the engines: schedule bookkeeping, revealed tokens, impossible and fallback rows.

    Rows whose revealed tokens became impossible are answered as the full oracle answers them:
    ``on_impossible="uniform"``: the uniform law; ``"min_violation"``: the engine's own minimum-violation
    marginals where it has them (:meth:`_lex_marginals`), else the full oracle; ``"raise"``: the full
    oracle (which raises at that call, as in the full path). Rows whose certificate failed always go to
    the full oracle (``fallback``).

    Engines implement :meth:`_marginals` (linear token marginals of live rows, with a per-pair
    certificate), :meth:`_reveal` (update; returns the rows that became impossible and those that could
    not be certified) and optionally :meth:`_record_values` and :meth:`_lex_marginals`.
    """

    engine = "none"

    def __init__(
        self,
        vocab_size: int,
        schedule: torch.Tensor,
        fallback: Fallback,
        num_steps: int,
        on_impossible: str = "raise",
    ):
        B, L = schedule.shape
        self.vocab_size, self.batch, self.length = vocab_size, B, L
        self.device = schedule.device
        self.fallback, self.on_impossible = fallback, on_impossible
        flat = schedule.reshape(-1).to(torch.long)
        if bool((flat < 0).any()) or bool((flat >= num_steps).any()):
            raise InvalidArgumentError(f"schedule entries must lie in 0..{num_steps - 1}")
        self.order = torch.argsort(flat * (B * L) + torch.arange(B * L, device=self.device))
        counts = torch.bincount(flat, minlength=num_steps)
        self.offsets = [0] + torch.cumsum(counts, 0).tolist()
        self.rows_order, self.pos_order = self.order // L, self.order % L
        self.called = torch.zeros((num_steps, B), dtype=torch.bool, device=self.device)
        self.called[flat, torch.arange(B * L, device=self.device) // L] = True  # one call per row and step
        self.no_flags = torch.zeros(B, dtype=torch.bool, device=self.device)
        self.tokens = torch.full((B, L), vocab_size, dtype=torch.long, device=self.device)
        self.impossible = torch.zeros(B, dtype=torch.bool, device=self.device)  # exact: evidence is zero
        self.uncertified = torch.zeros(B, dtype=torch.bool, device=self.device)
        self.any_dead = False
        self.fallback_rows = 0
        self._pending: tuple | None = None

    @property
    def dead(self) -> torch.Tensor:
        """Rows the engine no longer answers (impossible or uncertified)."""
        return self.impossible | self.uncertified

    def pairs(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, positions)`` scheduled at step k, row-major."""
        a, b = self.offsets[k], self.offsets[k + 1]
        return self.rows_order[a:b], self.pos_order[a:b]

    def query(self, k: int) -> StepQuery:
        """Marginals of the positions scheduled at step k, given every earlier step's reveals."""
        rows, pos = self.pairs(k)
        B, V, dev = self.batch, self.vocab_size, self.device
        called = self.called[k]
        self._pending = (k, rows, pos)
        if rows.numel() == 0:
            empty = torch.empty((0, V), dtype=torch.float64, device=dev)
            return StepQuery(rows, pos, empty, called, self.no_flags)
        if not self.any_dead:  # the common case: every row answered by the engine
            probs, ok = self._marginals(k, None, rows, pos)
            if bool(ok.all()):
                return StepQuery(rows, pos, torch.log(probs), called, self.no_flags, probs)
            self._mark(uncertified=rows[~ok])
        flags = torch.zeros(B, dtype=torch.bool, device=dev)
        lp = torch.empty((rows.shape[0], V), dtype=torch.float64, device=dev)
        live = ~self.dead[rows]
        if bool(live.any()):
            sel = live.nonzero().flatten()
            probs, ok = self._marginals(k, sel, rows[sel], pos[sel])
            lp[sel] = torch.log(probs)
            if not bool(ok.all()):  # uncertified pairs: their rows go to the full oracle from now on
                self._mark(uncertified=rows[sel][~ok])
                live = ~self.dead[rows]
        todo = ~live
        imp = todo & self.impossible[rows] & ~self.uncertified[rows]
        if bool(imp.any()) and self.on_impossible != "raise":
            sel = imp.nonzero().flatten()
            if self.on_impossible == "uniform":
                lp[sel] = -math.log(V)
            else:
                lex = self._lex_marginals(k, sel, rows[sel], pos[sel])
                sel = sel if lex is not None else sel[:0]
                if lex is not None:
                    lp[sel] = lex
            flags[rows[sel]] = True
            todo[sel] = False
        if not bool(todo.any()):
            return StepQuery(rows, pos, lp, called, flags)
        need = torch.zeros(B, dtype=torch.bool, device=dev).index_fill_(0, rows[todo], True)
        idx = need.nonzero().flatten()
        full_lp, full_imp = self.fallback(self.tokens[idx])
        self.fallback_rows += int(idx.numel())
        where = torch.full((B,), -1, dtype=torch.long, device=dev)
        where[idx] = torch.arange(idx.numel(), device=dev)
        lp[todo] = full_lp[where[rows[todo]], pos[todo]]
        flags[idx] = full_imp.to(dev)
        return StepQuery(rows, pos, lp, called, flags)

    def reveal(self, values: torch.Tensor) -> None:
        """Reveal the pairs of the last :meth:`query` with ``values`` ``(N,)``."""
        if self._pending is None:
            raise RuntimeError("reveal() needs a query() first")
        k, rows, pos = self._pending
        self._pending = None
        if rows.numel() == 0:
            return
        self.tokens.view(-1)[self.order[self.offsets[k] : self.offsets[k + 1]]] = values
        self._record_values(k, rows, pos, values)
        if not self.any_dead:
            out = self._reveal(k, None, rows, pos, values)
        else:
            sel = (~self.dead[rows]).nonzero().flatten()
            if sel.numel() == 0:
                return
            out = self._reveal(k, sel, rows[sel], pos[sel], values[sel])
        if out is not None:
            self._mark(*out)

    def _mark(self, impossible: torch.Tensor | None = None, uncertified: torch.Tensor | None = None) -> None:
        if impossible is not None:
            self.impossible[impossible] = True
        if uncertified is not None:
            self.uncertified[uncertified] = True
        self.any_dead = bool(self.dead.any())

    # ---- engine hooks: ``sel`` indexes the pairs of step k (None: all of them) ------------------------
    def _marginals(self, k, sel, rows, positions) -> tuple[torch.Tensor, torch.Tensor]:
        """Linear token marginals ``(n, V)`` of the given pairs and a per-pair certificate ``(n,)``."""
        raise NotImplementedError

    def _reveal(self, k, sel, rows, positions, values):
        """Update with the revealed pairs of live rows; returns ``(impossible rows, uncertified rows)``
        (either may be None) or None."""
        raise NotImplementedError

    def _record_values(self, k, rows, positions, values) -> None:
        """Called with every revealed pair, also of dead rows (engines that answer them keep state)."""

    def _lex_marginals(self, k, sel, rows, positions) -> torch.Tensor | None:
        """Log minimum-violation marginals ``(n, V)`` of impossible rows, or None (full oracle)."""
        return None


def normalise_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w / w.sum(-1), ok)``: ``ok`` False where the row sums to zero (no certified posterior)."""
    z = w.sum(-1, keepdim=True)
    ok = z[..., 0] > 0
    return w / torch.where(z > 0, z, torch.ones_like(z)), ok


def safe_range(num_states: int) -> float:
    """Certificate range of float64 products over ``num_states`` states (:func:`safe_log_range`)."""
    return safe_log_range(torch.float64, num_states)


def log_min_positive(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """log of the smallest positive entry over ``dims`` (0 where there is none)."""
    return torch.log(torch.where(x > 0, x, 1.0).amin(dim=dims))


LOG_TINY = math.log(torch.finfo(torch.float64).tiny)
