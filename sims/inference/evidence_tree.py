r"""Evidence tree: incremental forward-backward for any chain with a per-token evidence table (HMM, n-gram).

With node evidence :math:`e_t` (all ones while the node's tokens are masked) and transfer matrices
:math:`M_t = A\,\mathrm{diag}(e_t)` (nodes :math:`t = 1..n`), the posterior of node j is

.. math::
    \gamma_j \propto \big(v_0 M_1 \cdots M_j\big) \odot \big(M_{j+1} \cdots M_n \mathbf 1\big),
    \qquad v_0 = \pi \odot e_0 .

Nodes are grouped in blocks of ``b`` consecutive nodes; a balanced binary tree (padded with identities to
a power of two) stores, per sequence, the product of every block and of every aligned run of blocks. A
reveal changes one :math:`e_t`: its block product is recomputed (b products with the shared A, one GEMM
each) and then its O(log(n/b)) ancestors (one S x S product each). A query at node j multiplies
:math:`v_0` by the O(log) tree pieces that cover the blocks before j and the in-block nodes up to j
(vector-matrix products), and symmetrically for the suffix: :math:`O((\log(n/b) + b) S^2)`. Memory:
``2 P S^2`` float64 per sequence with P the padded number of blocks; ``b`` is the smallest power of two
that fits :data:`DEFAULT_TREE_BYTES` (:func:`choose_block`).

Every stored matrix and every message is rescaled (matrices to a largest entry of 1, vectors to sum 1),
so nothing overflows; exactness is certified as in :mod:`sims.inference.linear`: each product is exact to
rounding, with an exact zero pattern, when the logs of the smallest positive entries of its operands add
up to at least ``-safe``. Rows that fail anywhere are answered by the full oracle from then on; so are
rows whose evidence became impossible (their total weight :math:`v_0 M_1 \cdots M_n \mathbf 1` is an exact
zero).
"""

from __future__ import annotations

import torch

from sims.inference.incremental import (
    Fallback,
    PositionLayout,
    ScheduledSession,
    log_min_positive,
    normalise_rows,
    safe_range,
)

#: Memory budget of one session's tree (all sequences); the block size grows until it fits.
DEFAULT_TREE_BYTES = 1 << 31


def choose_block(batch: int, num_nodes: int, num_states: int, max_bytes: int = DEFAULT_TREE_BYTES) -> int:
    """Smallest power-of-two block size whose tree (``2 P S^2`` float64 per sequence) fits ``max_bytes``."""
    b = 2
    while b < num_nodes:
        blocks = -(-num_nodes // b)
        padded = 1 << max(0, (blocks - 1).bit_length())
        if batch * 2 * padded * num_states**2 * 8 <= max_bytes:
            break
        b *= 2
    return b


def _scale_matrices(x: torch.Tensor) -> torch.Tensor:
    """``x`` (a fresh product, overwritten) scaled to a largest entry of 1 per matrix (zero matrices kept)."""
    m = x.amax((-2, -1), keepdim=True)
    return x.div_(torch.where(m > 0, m, torch.ones_like(m)))


class EvidenceTreeSession(ScheduledSession):
    """:class:`~sims.inference.incremental.ScheduledSession` over a blocked tree (module docstring)."""

    engine = "evidence_tree"

    def __init__(
        self,
        layout: PositionLayout,
        schedule: torch.Tensor,
        fallback: Fallback,
        num_steps: int,
        max_bytes: int = DEFAULT_TREE_BYTES,
        on_impossible: str = "raise",
    ):
        V = layout.tables.shape[1] - 1
        super().__init__(V, schedule, fallback, num_steps, on_impossible)
        B, L = schedule.shape
        S, dev = layout.num_states, schedule.device
        self.layout, self.S = layout, S
        self.n = L - layout.offset - 1  # leaves: nodes 1..n
        self.b = choose_block(B, max(self.n, 1), S, max_bytes)
        self.num_blocks = max(1, -(-self.n // self.b))
        self.height = max(0, (self.num_blocks - 1).bit_length())
        P = 1 << self.height
        self.safe = safe_range(S)
        self.A, self.At = layout.transition, layout.transition.T.contiguous()
        self.lo_A = layout.min_log_transition
        self.lo_tables = torch.log(torch.where(layout.tables > 0, layout.tables, 1.0)).amin(
            -1
        )  # (n_tab, V+1)
        # level 0: block products, all A^b (masked) except padding; higher levels: products of pairs
        eye = torch.eye(S, dtype=torch.float64, device=dev)
        pw, lo_pw = [eye], [0.0]
        ok = True
        for _ in range(self.b):
            ok = ok and lo_pw[-1] + self.lo_A >= -self.safe
            pw.append(_scale_matrices(pw[-1] @ self.A))
            lo_pw.append(float(log_min_positive(pw[-1], (0, 1))))
        block = torch.stack(
            [pw[self.b]] * (self.n // self.b) + ([pw[self.n % self.b]] if self.n % self.b else [])
        )
        lo_block = [lo_pw[self.b]] * (self.n // self.b) + (
            [lo_pw[self.n % self.b]] if self.n % self.b else []
        )
        if self.n == 0:
            block, lo_block = eye.unsqueeze(0), [0.0]
        pad = P - block.shape[0]
        level0 = torch.cat([block, eye.expand(pad, S, S)]) if pad else block
        lo0 = torch.tensor(lo_block + [0.0] * pad, dtype=torch.float64, device=dev)
        self.levels = [level0.unsqueeze(0).repeat(B, 1, 1, 1)]
        self.lo = [lo0.unsqueeze(0).repeat(B, 1)]
        for _ in range(self.height):
            prev, lo_prev = self.levels[-1][0], self.lo[-1][0]
            ok = ok and bool((lo_prev[0::2] + lo_prev[1::2] >= -self.safe).all())
            nxt = _scale_matrices(prev[0::2] @ prev[1::2])
            self.levels.append(nxt.unsqueeze(0).repeat(B, 1, 1, 1))
            self.lo.append(log_min_positive(nxt, (1, 2)).unsqueeze(0).repeat(B, 1))
        self.v0 = layout.initial.unsqueeze(0).repeat(B, 1)  # pi * e_0 (node 0's evidence folded in)
        self.v0, _ = normalise_rows(self.v0)
        if not ok or float(log_min_positive(layout.initial, (0,))) < -self.safe:
            self._mark(uncertified=torch.arange(B, device=dev))  # uncertified tree: full oracle throughout

    # ---- evidence of nodes --------------------------------------------------------------------------
    def _node_evidence(self, rows: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Linear evidence ``(N, S)`` of nodes >= 1 and its log smallest positive entry ``(N,)``."""
        pos = (nodes + self.layout.offset).clamp(max=self.length - 1)
        tok = self.tokens[rows, pos]
        tab = self.layout.table_of(pos)
        return self.layout.tables[tab, tok], self.lo_tables[tab, tok]

    def _block_products(self, rows: torch.Tensor, blocks: torch.Tensor):
        """Recompute the products of the given (row, block) pairs; returns them, their log smallest positive
        entries and a certificate. No rescaling inside a block: every product term is a product of at most
        b factors of A and b evidence entries, so it is a normal number when the sum of their log minima
        is at least ``-safe`` (checked), and the block product is then exact to rounding."""
        M, S, b = rows.shape[0], self.S, self.b
        P = torch.eye(S, dtype=torch.float64, device=self.device).expand(M, S, S).contiguous()
        bound = torch.zeros(M, dtype=torch.float64, device=self.device)
        last = torch.full((M,), self.n, dtype=torch.long, device=self.device)
        full = bool(((blocks + 1) * b <= self.n).all())
        for j in range(b):
            node = 1 + blocks * b + j
            e, lo_e = self._node_evidence(rows, node.clamp(max=max(self.n, 1)))
            if j == 0:  # I A = A exactly: no product for the first factor
                nxt = self.A.unsqueeze(0) * e.unsqueeze(1)
            else:
                nxt = (P.reshape(M * S, S) @ self.A).reshape(M, S, S).mul_(e.unsqueeze(1))
            valid = None if full else node <= last
            P = nxt if full else torch.where(valid[:, None, None], nxt, P)
            step_lo = lo_e + self.lo_A
            bound = bound + (step_lo if full else torch.where(valid, step_lo, torch.zeros_like(step_lo)))
        P = _scale_matrices(P)
        return P, log_min_positive(P, (1, 2)), bound >= -self.safe

    def _reveal(self, k, sel, rows, positions, values):
        failed = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        nodes = self.layout.node_of(positions)
        first = nodes == 0
        if bool(first.any()):  # node 0: fold the new factors into v0 (one position at a time per row)
            r0, p0, x0 = rows[first], positions[first], values[first]
            tab = self.layout.table_of(p0)
            for i in range(r0.shape[0]) if r0.unique().numel() < r0.numel() else [slice(None)]:
                r_i = r0[i]
                lo_v = log_min_positive(self.v0[r_i], (-1,))
                bad = lo_v + self.lo_tables[tab[i], x0[i]] < -self.safe
                failed[r_i] |= bad
                self.v0[r_i], _ = normalise_rows(self.v0[r_i] * self.layout.tables[tab[i], x0[i]])
        rest = ~first
        if bool(rest.any()):
            key = torch.unique(rows[rest] * self.num_blocks + (nodes[rest] - 1) // self.b)
            r, blk = key // self.num_blocks, key % self.num_blocks
            P, lo, ok = self._block_products(r, blk)
            failed[r[~ok]] = True
            self.levels[0][r, blk], self.lo[0][r, blk] = P, lo
            idx = blk
            for h in range(1, self.height + 1):
                key = torch.unique(r * (1 << (self.height - h + 1)) + idx // 2)
                r, idx = key // (1 << (self.height - h + 1)), key % (1 << (self.height - h + 1))
                below, lo_below = self.levels[h - 1], self.lo[h - 1]
                left, right = below[r, 2 * idx], below[r, 2 * idx + 1]
                ok = lo_below[r, 2 * idx] + lo_below[r, 2 * idx + 1] >= -self.safe
                failed[r[~ok]] = True
                prod = _scale_matrices(torch.bmm(left, right))
                self.levels[h][r, idx], self.lo[h][r, idx] = prod, log_min_positive(prod, (1, 2))
        # impossible rows: total weight v0 (root) 1 is an exact zero
        touched = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        touched[rows] = True
        t = touched.nonzero().flatten()
        root = self.levels[self.height][t, 0]
        total = (self.v0[t].unsqueeze(1) @ root).sum((1, 2))
        impossible = t[total <= 0]
        return impossible, failed.nonzero().flatten()

    # ---- queries -------------------------------------------------------------------------------------
    def _vm(self, v, lo_v, M, lo_M, active, ok):
        """``v @ M`` (rows where ``active``), rescaled to sum one; certificate and measured log minimum."""
        out, _ = normalise_rows(torch.bmm(v.unsqueeze(1), M).squeeze(1))
        ok = ok & (~active | (lo_v + lo_M >= -self.safe))
        v = torch.where(active.unsqueeze(-1), out, v)
        return v, torch.where(active, log_min_positive(v, (1,)), lo_v), ok

    def _walk(self, start_vec, rows, blk, forward: bool):
        """In-block walk from a block boundary over all b nodes (no rescaling: b factors of A and evidence
        per term, certified by their log minima): returns every intermediate vector ``(N, b + 1, S)`` and
        the log lower bound of each's smallest positive entry relative to the start."""
        N, b = rows.shape[0], self.b
        out = torch.empty((N, b + 1, self.S), dtype=torch.float64, device=self.device)
        lo = torch.zeros((N, b + 1), dtype=torch.float64, device=self.device)
        out[:, 0] = start_vec
        mat = self.A if forward else self.At
        for i in range(b):
            j = i if forward else b - 1 - i
            node = 1 + blk * b + j
            e, lo_e = self._node_evidence(rows, node.clamp(max=max(self.n, 1)))
            beyond = node > self.n  # padding: identity
            if forward:
                nxt = (out[:, i] @ mat) * e
            else:
                nxt = (out[:, i] * e) @ mat
            out[:, i + 1] = torch.where(beyond.unsqueeze(-1), out[:, i], nxt)
            lo[:, i + 1] = lo[:, i] + torch.where(beyond, torch.zeros_like(lo_e), lo_e + self.lo_A)
        return out, lo

    def _marginals(self, k, sel, rows, positions):
        N, H = rows.shape[0], self.height
        ar = torch.arange(N, device=self.device)
        nodes = self.layout.node_of(positions)
        inner = nodes >= 1
        blk = torch.where(inner, (nodes - 1) // self.b, torch.zeros_like(nodes))
        off = torch.where(inner, (nodes - 1) % self.b, torch.full_like(nodes, -1))
        ok = torch.ones(N, dtype=torch.bool, device=self.device)
        # forward: v0, the blocks before blk, the in-block nodes up to the queried one
        v = self.v0[rows]
        lo_v = log_min_positive(v, (1,))
        start = torch.zeros_like(blk)
        for h in range(H - 1, -1, -1):
            take = ((blk >> h) & 1).bool()
            idx = (start >> h).clamp(max=(1 << (H - h)) - 1)
            v, lo_v, ok = self._vm(v, lo_v, self.levels[h][rows, idx], self.lo[h][rows, idx], take, ok)
            start = start + (take.long() << h)
        walk, lo_walk = self._walk(v, rows, blk, True)
        v, lo_v = walk[ar, off + 1], lo_v + lo_walk[ar, off + 1]
        # backward: 1, the blocks after blk (right to left), the in-block nodes after the queried one
        s = torch.where(inner, blk + 1, torch.zeros_like(blk))
        pieces = []
        for h in range(H + 1):
            take = ((s >> h) & 1).bool() | ((s == 0) & (h == H))
            take &= s < (1 << H)
            pieces.append((take, (s >> h).clamp(max=(1 << (H - h)) - 1)))
            s = s + (take.long() << h)
        w = torch.full((N, self.S), 1.0 / self.S, dtype=torch.float64, device=self.device)
        lo_w = log_min_positive(w, (1,))
        for h in range(H, -1, -1):
            take, idx = pieces[h]
            Mt = self.levels[h][rows, idx].transpose(1, 2)
            w, lo_w, ok = self._vm(w, lo_w, Mt, self.lo[h][rows, idx], take, ok)
        walk, lo_walk = self._walk(w, rows, blk, False)
        back = torch.where(
            inner, self.b - 1 - off, torch.zeros_like(off)
        )  # block end down to the node after j
        w, lo_w = walk[ar, back], lo_w + lo_walk[ar, back]
        ok &= (lo_v >= -self.safe) & (lo_w >= -self.safe) & (lo_v + lo_w >= -self.safe)
        gamma = v * w
        tables = self.layout.tables[self.layout.table_of(positions), : self.vocab_size]  # (N, V, S)
        probs, nonzero = normalise_rows(torch.einsum("ns,nvs->nv", gamma, tables))
        return probs, ok & nonzero
