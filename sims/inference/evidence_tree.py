r"""Evidence tree: incremental forward-backward for chains with a per-token evidence table (HMM, n-gram, DFA).

With node evidence :math:`e_t` (all ones while the node's tokens are masked) and transfer matrices
:math:`M_t = A\,\mathrm{diag}(e_t)` (nodes :math:`t = 1..n`), the posterior of node j is

.. math::
    \gamma_j \propto \big(v_0 M_1 \cdots M_j\big) \odot \big(M_{j+1} \cdots M_n f\big),
    \qquad v_0 = \pi \odot e_0 ,

with f the final weights of the last node (an automaton's accepting states; :math:`\mathbf 1` for HMMs
and n-grams).

Nodes are grouped in blocks of ``b`` consecutive nodes; a balanced binary tree (padded with identities to
a power of two) stores, per sequence, the product of every block and of every aligned run of blocks. A
reveal changes one :math:`e_t`: its block product is recomputed (from a table of the products of g
consecutive factors for every combination of token codes: ceil(b / g) - 1 batched products) and then its
O(log(n/b)) ancestors (one S x S product each; at one reveal per row only the changed path). A query at
node j multiplies :math:`v_0` by the O(log) tree pieces that cover the blocks before j (the left siblings
of its path) and the in-block nodes up to j (vector-matrix products), and the suffix by the right
siblings: one gathered sibling per level, :math:`O((\log(n/b) + b) S^2)`. Memory:
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

import math

import numpy as np
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
#: Tree matrices gathered per query chunk: chunks of pairs stay within a core's share of the cache.
QUERY_CHUNK_BYTES = 1 << 22
#: Memory of the table of products of g consecutive node factors (:func:`choose_chunk`), at most an eighth
#: of the tree's.
CHUNK_TABLE_BYTES = 1 << 28


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


def choose_chunk(codes: int, num_states: int, max_bytes: int = CHUNK_TABLE_BYTES) -> int:
    """Largest g whose table of products of g node factors (``codes^g`` matrices) fits ``max_bytes``."""
    g = 1
    while codes ** (g + 1) * num_states**2 * 8 <= max_bytes:
        g += 1
    return g


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` (batched) in float64; on the CPU through numpy's BLAS, which multiplies these small float64
    matrices (batches of 64 x 64 products) at about twice the rate of torch's on the benchmark
    machine (docs/sampler_performance.md); the numbers are products to rounding either way."""
    if a.device.type != "cpu":
        return torch.matmul(a, b)
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))


def _scale_matrices(x: torch.Tensor) -> torch.Tensor:
    """``x`` (a fresh product, overwritten) scaled to a largest entry of 1 per matrix (zero matrices kept)."""
    m = x.amax((-2, -1), keepdim=True)
    return x.div_(torch.where(m > 0, m, torch.ones_like(m)))


def _scale_with_log_min(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_scale_matrices` and the log smallest positive entry of the result, from the minimum before
    scaling (division by a positive scale is monotone, so the scaled minimum is the minimum divided)."""
    hi, lo = x.amax((1, 2)), x.amin((1, 2))  # two fast reductions (aminmax over both dims is far slower)
    scale = torch.where(hi > 0, hi, torch.ones_like(hi))
    x.div_(scale[:, None, None])
    if bool((lo > 0).all()):
        return x, torch.log(lo / scale)
    return x, log_min_positive(x, (1, 2))


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
        chunk_bytes: int | None = None,
        query_bytes: int = QUERY_CHUNK_BYTES,
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
        if self.n == 0:  # L = 1 (one node): an empty tree
            block, lo_block = eye.unsqueeze(0), [0.0]
        else:
            block = torch.stack(
                [pw[self.b]] * (self.n // self.b) + ([pw[self.n % self.b]] if self.n % self.b else [])
            )
            lo_block = [lo_pw[self.b]] * (self.n // self.b) + (
                [lo_pw[self.n % self.b]] if self.n % self.b else []
            )
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
        self.flat = [lvl.view(-1, S, S) for lvl in self.levels]  # (row, index) -> row * width + index
        # the suffix's end vector: the final weights f of the last node (all ones without them), normalised
        f = layout.final
        self.end = torch.full((S,), 1.0 / S, dtype=torch.float64, device=dev) if f is None else f / f.sum()
        self.lo_end = -math.log(S) if f is None else float(log_min_positive(self.end, (0,)))
        self.root1 = self._root_end(self.levels[self.height][:, 0])  # the total weight is v0 . root f
        self.v0 = layout.initial.unsqueeze(0).repeat(B, 1)  # pi * e_0 (node 0's evidence folded in)
        self.v0, _ = normalise_rows(self.v0)
        # chunk tables: products of g consecutive node factors A diag(F[x]) (x a token, the mask V, or the
        # identity V + 1 past the last node), indexed by the codes in base V + 2
        self.codes = V + 2
        if chunk_bytes is None:
            chunk_bytes = min(CHUNK_TABLE_BYTES, B * 2 * P * S * S)  # an eighth of the tree (8 bytes each)
        self.g = max(1, min(self.b, choose_chunk(self.codes, S, chunk_bytes)))
        self.query_pairs = max(1, query_bytes // (8 * S * S))  # pairs per query chunk
        factor = torch.cat([self.A.unsqueeze(0) * layout.tables[layout.offset + 1].unsqueeze(1), eye[None]])
        self.chunks = {1: factor}
        for m in range(2, self.g + 1):
            self.chunks[m] = _matmul(self.chunks[m - 1].unsqueeze(1), factor.unsqueeze(0)).view(-1, S, S)
        ok = ok and (f is None or float(self.lo[-1].amin()) + layout.min_log_final >= -self.safe)
        if not ok or float(log_min_positive(layout.initial, (0,))) < -self.safe:
            self._mark(uncertified=torch.arange(B, device=dev))  # uncertified tree: full oracle throughout

    def _root_end(self, root: torch.Tensor) -> torch.Tensor:
        """``root f`` (row sums without final weights), ``(..., S)``."""
        f = self.layout.final
        return root.sum(-1) if f is None else root @ f

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
        is at least ``-safe`` (checked), and the block product is then exact to rounding (in any order of
        association). The block's b nodes are taken g at a time from :attr:`chunks` (the products of g
        factors for every combination of token codes), so a block costs ceil(b / g) - 1 batched products."""
        b, g, codes = self.b, self.g, self.codes
        nodes = 1 + blocks.unsqueeze(1) * b + torch.arange(b, device=self.device)  # (M, b)
        beyond = nodes > self.n  # padding of the last block: identity (code V + 1)
        tok = self.tokens[rows.unsqueeze(1), (nodes + self.layout.offset).clamp(max=self.length - 1)]
        code = torch.where(beyond, codes - 1, tok)
        lo_node = self.lo_tables[self.layout.offset + 1, tok] + self.lo_A
        bound = torch.where(beyond, torch.zeros_like(lo_node), lo_node).sum(1)
        P = None
        for start in range(0, b, g):
            m = min(g, b - start)
            c = code[:, start]
            for j in range(1, m):
                c = c * codes + code[:, start + j]
            T = torch.index_select(self.chunks[m], 0, c)
            P = T if P is None else _matmul(P, T)
        P, lo = _scale_with_log_min(P)
        return P, lo, bound >= -self.safe

    def _reveal(self, k, sel, rows, positions, values):
        failed = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        nodes = self.layout.node_of(positions)
        first = nodes == 0
        # one reveal per row (K = L): every key below is already unique, no torch.unique
        one_per_row = rows.shape[0] < 2 or bool((rows[1:] > rows[:-1]).all())
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
            r, blk = rows[rest], (nodes[rest] - 1) // self.b
            if not one_per_row:
                key = torch.unique(r * self.num_blocks + blk)
                r, blk = key // self.num_blocks, key % self.num_blocks
            cur, lo_cur, ok = self._block_products(r, blk)
            failed[r[~ok]] = True
            idx = blk
            for h in range(1, self.height + 1):  # write level h - 1, then recompute its changed parents
                width = 1 << (self.height - h + 1)  # nodes of level h - 1 per row
                self.flat[h - 1].index_copy_(0, r * width + idx, cur)
                self.lo[h - 1][r, idx] = lo_cur
                if one_per_row:
                    idx = idx // 2
                else:
                    key = torch.unique(r * (width // 2) + idx // 2)
                    r, idx = key // (width // 2), key % (width // 2)
                children = torch.stack([2 * idx, 2 * idx + 1], 1)
                ok = self.lo[h - 1][r.unsqueeze(1), children].sum(1) >= -self.safe
                failed[r[~ok]] = True
                flat = (r.unsqueeze(1) * width + children).view(-1)
                pair = torch.index_select(self.flat[h - 1], 0, flat).view(-1, 2, self.S, self.S)
                cur, lo_cur = _scale_with_log_min(_matmul(pair[:, 0], pair[:, 1]))
            self.flat[self.height].index_copy_(0, r, cur)
            self.lo[self.height][r, 0] = lo_cur
            self.root1[r] = self._root_end(cur)
            if self.layout.final is not None:  # root f: one more product per entry
                failed[r[lo_cur + self.layout.min_log_final < -self.safe]] = True
        # impossible rows: total weight v0 (root) 1 is an exact zero
        if one_per_row:
            t = rows
        else:
            touched = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
            touched[rows] = True
            t = touched.nonzero().flatten()
        total = (self.v0[t] * self.root1[t]).sum(-1)
        impossible = t[total <= 0]
        return impossible, failed.nonzero().flatten()

    # ---- queries -------------------------------------------------------------------------------------
    def _walks(self, v, w, rows, blk):
        """In-block walks from both block boundaries over all b nodes (no rescaling: b factors of A and
        evidence per term, certified by their log minima): every intermediate vector of the forward walk
        from ``v`` and of the backward walk from ``w`` ``(N, b + 1, S)``, and the log lower bounds of their
        smallest positive entries relative to the start ``(N, b + 1)``."""
        N, b, S, off = rows.shape[0], self.b, self.S, self.layout.offset
        nodes = 1 + blk.unsqueeze(1) * b + torch.arange(b, device=self.device)  # (N, b)
        beyond = nodes > self.n  # padding of the last block: identity
        tok = self.tokens[rows.unsqueeze(1), (nodes + off).clamp(max=self.length - 1)]
        e = self.layout.tables[off + 1][tok]  # (N, b, S)
        lo_e = torch.where(beyond, 0.0, self.lo_tables[off + 1][tok] + self.lo_A)
        padded = bool(beyond.any())
        fw = torch.empty((N, b + 1, S), dtype=torch.float64, device=self.device)
        bw = torch.empty_like(fw)
        fw[:, 0], bw[:, 0] = v, w
        for i in range(b):
            j = b - 1 - i
            f, g = (fw[:, i] @ self.A).mul_(e[:, i]), (bw[:, i] * e[:, j]) @ self.At
            if padded:
                f = torch.where(beyond[:, i, None], fw[:, i], f)
                g = torch.where(beyond[:, j, None], bw[:, i], g)
            fw[:, i + 1], bw[:, i + 1] = f, g
        zero = torch.zeros((N, 1), dtype=torch.float64, device=self.device)
        lo_f = torch.cat([zero, lo_e.cumsum(1)], 1)
        lo_b = torch.cat([zero, lo_e.flip(1).cumsum(1)], 1)
        return fw, lo_f, bw, lo_b

    def _marginals(self, k, sel, rows, positions):
        """Marginals in chunks of pairs whose gathered tree matrices stay cache-sized
        (``query_bytes``, default :data:`QUERY_CHUNK_BYTES`)."""
        step = self.query_pairs
        if rows.shape[0] <= step:
            return self._query(rows, positions)
        parts = [self._query(rows[i : i + step], positions[i : i + step]) for i in range(0, len(rows), step)]
        return torch.cat([p for p, _ in parts]), torch.cat([o for _, o in parts])

    def _query(self, rows, positions):
        """Node j's block path from leaf to root: the siblings to its left are the tree pieces of the
        prefix (applied to v0 from the highest level down), those to its right the pieces of the suffix
        (applied to the final weights f, 1 without them, from the highest level down); one gathered sibling per level serves both."""
        N, H = rows.shape[0], self.height
        ar = torch.arange(N, device=self.device)
        nodes = self.layout.node_of(positions)
        inner = nodes >= 1
        blk = torch.where(inner, (nodes - 1) // self.b, torch.zeros_like(nodes))
        off = torch.where(inner, (nodes - 1) % self.b, torch.full_like(nodes, -1))
        ok = torch.ones(N, dtype=torch.bool, device=self.device)
        vw = torch.empty((N, 2, self.S), dtype=torch.float64, device=self.device)  # prefix v, suffix w
        vw[:, 0], vw[:, 1] = self.v0[rows], self.end
        lo_vw = torch.stack([_log_min_positive(vw[:, 0], (1,)), torch.full_like(vw[:, 1, 0], self.lo_end)], 1)
        for h in range(H - 1, -1, -1):  # each level's sibling extends the prefix (left) or the suffix (right)
            sib = (blk >> h) ^ 1
            M = torch.index_select(self.flat[h], 0, rows * (1 << (H - h)) + sib)
            lo_M = self.lo[h][rows, sib]
            left = (sib & 1) == 0
            active = torch.stack([left & inner, ~left & inner], 1)  # (N, 2)
            out = torch.cat([_matmul(vw[:, :1], M), _matmul(M, vw[:, 1].unsqueeze(-1)).transpose(1, 2)], 1)
            out, _ = normalise_rows(out)
            ok &= (~active | (lo_vw + lo_M.unsqueeze(1) >= -self.safe)).all(1)
            vw = torch.where(active.unsqueeze(-1), out, vw)
            lo_vw = torch.where(active, _log_min_positive(vw, (2,)), lo_vw)
        v, w, lo_v, lo_w = vw[:, 0], vw[:, 1], lo_vw[:, 0], lo_vw[:, 1]
        if not bool(inner.all()):  # node 0: the suffix is the whole tree, root 1
            out = ~inner
            root, _ = normalise_rows(self.root1[rows[out]])
            w[out], lo_w[out] = root, _log_min_positive(root, (1,))
            ok[out] &= self.lo[H][rows[out], 0] + self.layout.min_log_final - math.log(self.S) >= -self.safe
        fw, lo_f, bw, lo_b = self._walks(v, w, rows, blk)
        v, lo_v = fw[ar, off + 1], lo_v + lo_f[ar, off + 1]
        back = torch.where(inner, self.b - 1 - off, torch.zeros_like(off))  # block end down to node j + 1
        w, lo_w = bw[ar, back], lo_w + lo_b[ar, back]
        ok &= (lo_v >= -self.safe) & (lo_w >= -self.safe) & (lo_v + lo_w >= -self.safe)
        gamma = v * w
        tables = self.layout.tables[self.layout.table_of(positions), : self.vocab_size]  # (N, V, S)
        probs, nonzero = normalise_rows(torch.einsum("ns,nvs->nv", gamma, tables))
        return probs, ok & nonzero


def _log_min_positive(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """:func:`~sims.inference.incremental.log_min_positive` with one pass when every minimum is positive."""
    m = x.amin(dims)
    return torch.log(m) if bool((m > 0).all()) else log_min_positive(x, dims)
