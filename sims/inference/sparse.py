r"""Sparse exact forward-backward for token chains with top-K transitions plus a rank-1 teleport.

Setting: a first-order token chain (:class:`~sims.inference.chain.SparseTokenTransition`) with initial law
:math:`\pi` and transition :math:`A = S + \lambda \nu^\top`, :math:`S` with at most K entries per row, and
*hard* evidence: a revealed position holds one token, a masked one anything (the oracle of Tang et al.,
arXiv 2602.19619, Sec. 4, whose log-domain recursion costs :math:`O(B L V K)`).

Gap decomposition
-----------------
With hard evidence the forward message at position i depends only on the last revealed token u before
i and the distance k to it, and the backward message only on the next revealed token w after i and the
distance :math:`k'`:

.. math::
    \alpha_i \propto e_u^\top A^{k}\ \ (\text{or } \pi^\top A^{i} \text{ before the first revealed token}),
    \qquad
    \beta_i \propto A^{k'} e_w\ \ (\text{or } \mathbf 1 \text{ after the last one, rows of } A
    \text{ summing to one}),

so :math:`p(x_i \mid \text{revealed}) \propto \alpha_i \odot \beta_i` and
:math:`\log Z = \sum_{i \text{ revealed}} \log (e_u^\top A^{k})_{x_i}` (the start law for the first
revealed token). The engine computes each *distinct* chain of messages once per batch: forward chains
keyed by u (or the start), each to the largest depth any position of the batch needs, and backward
chains keyed by w. Chains are sorted by depth, so at step k the chains still running are a prefix of
the block of step k - 1 and the loop needs no gathers. One step of a block of n vectors is one sparse
product (CSR, :math:`O(n\,\mathrm{nnz})`) plus the rank-1 term (:math:`O(nV)`), never the dense
:math:`V \times V` matrix. The total number of message vectors is at most the number of masked
positions (far fewer when tokens repeat: all fully masked rows share one chain); adjacent revealed
pairs are single look-ups :math:`A_{uw}`. The posteriors are then :math:`O(V)` per masked position.

Exactness certificate (float64 and float32)
-------------------------------------------
As in :mod:`sims.inference.linear`: a step :math:`M_k = M_{k-1} A / c_k` is exact to rounding with an
exact zero pattern if every non-zero product term is a normal number, which holds when
:math:`\ell(M_{k-1}) + \log A_{\min} \ge -\text{safe}`, :math:`\ell` the log of the smallest positive entry
and :math:`\log A_{\min} = \min(\log S_{\min}, \log \lambda_{\min} + \log \nu_{\min})`. The posterior
products :math:`\alpha_i \odot \beta_i` need :math:`\ell(\alpha_i) + \ell(\beta_i) \ge -\text{safe}`, and the
start vectors (:math:`\pi`, rows and columns of A, formed in float64) must be representable in the
engine's dtype. All conditions are checked vectorised after the loops; rows of the batch that use an
uncertified message are recomputed: float32 rows by the float64 sparse engine, float64 rows by the exact
log-space engine (:func:`~sims.inference.log_engine.forward_backward_log`, whose products for these
chains are segment log-sum-exps, :mod:`sims.inference.sparse_ops`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sims.inference.chain import ChainPosterior, LiftedChain
from sims.inference.linear import TokenPosterior, min_positive_log_linear, safe_log_range
from sims.inference.log_engine import forward_backward_log, forward_log_evidence_log
from sims.inference.sparse_ops import SparseOperator, dense_columns, dense_rows, entries, sparse_operator

#: Rows per internal chunk are chosen so that one chunk's ``rows * L * V`` stays below this (bounds the
#: message buffers to a few times the output size of the chunk).
MAX_CHUNK_ELEMENTS = 2**26
#: Masked positions whose posteriors are formed at once.
POSTERIOR_BLOCK = 1024
#: Vectors per sparse product: MKL's CSR x dense product streams the dense operand once per stored
#: entry, so wide operands fall out of cache (measured per-vector cost at V = 4096, K = 64: flat for
#: 8-16 columns, 2x at 32-64, 4-7x at 128-512 on the development CPU).
SPMM_TILE = 16


def sparse_engine_applies(chain: LiftedChain) -> bool:
    """Whether the chain offers a sparse token transition (then ``method="auto"`` uses this engine)."""
    return chain.sparse_token_transition() is not None


@dataclass
class Chains:
    """Message chains of one direction for one batch (flat storage, sorted by depth).

    Attributes:
        flat: ``(N, V)`` normalised messages (backward: ``(N + 1, V)``, the last row all ones, the message
            after the last revealed token); chain of rank r at depth k is row ``offsets[k-1] + r``.
        offsets: ``(D + 1,)`` start of each depth block; ``rank``: ``(V+1,)`` rank of each key (-1 unused).
        cum_log_norm: ``(N,)`` float64 :math:`\\sum_{j=2}^{k} \\log c_j` of each row's chain.
        first_bad: ``(num_chains,)`` the first uncertified depth of each chain (D + 1 if none).
        lo: float64 log of the smallest positive entry of each row of ``flat``.
    """

    flat: torch.Tensor
    offsets: torch.Tensor
    rank: torch.Tensor
    cum_log_norm: torch.Tensor
    first_bad: torch.Tensor
    lo: torch.Tensor

    def row(self, key: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.offsets[depth - 1] + self.rank[key]

    def certified(self, key: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return depth < self.first_bad[self.rank[key]]


def run_chains(op: SparseOperator, op64: SparseOperator, depth: torch.Tensor, backward: bool) -> Chains:
    """Compute every chain with ``depth[key] > 0`` to its depth (module docstring).

    Keys: tokens ``0..V-1`` and, for the forward direction, the start ``V``. Start vectors: forward
    ``A[u, :]`` (start: :math:`\\pi`), backward ``A[:, w]``; all formed in float64 and certified before
    the conversion to ``op.dtype``.
    """
    V, dev, dtype = op.vocab_size, depth.device, op.dtype
    safe = safe_log_range(dtype, V)
    keys = torch.nonzero(depth > 0).flatten()
    d = depth[keys]
    order = torch.argsort(-d, stable=True)
    keys, d = keys[order], d[order]
    n_ch = keys.numel()
    D = int(d[0]) if n_ch else 0
    rank = torch.full((V + 1,), -1, dtype=torch.long, device=dev)
    rank[keys] = torch.arange(n_ch, device=dev)
    # n_k = number of chains with depth >= k, k = 1..D
    n_k = torch.searchsorted(-d, -torch.arange(1, D + 1, device=dev), right=True)
    offsets = torch.zeros(D + 1, dtype=torch.long, device=dev)
    offsets[1:] = torch.cumsum(n_k, 0)
    N = int(offsets[-1])
    flat = torch.empty((N + int(backward), V), dtype=dtype, device=dev)
    if backward:
        flat[N] = 1.0  # the message after the last revealed token
    cum = torch.zeros(N, dtype=torch.float64, device=dev)
    first_bad = torch.full((n_ch,), D + 1, dtype=torch.long, device=dev)
    if n_ch == 0:
        lo = torch.zeros(N + int(backward), dtype=torch.float64, device=dev)
        return Chains(flat, offsets, rank, cum, first_bad, lo)
    tok = keys.clamp(max=V - 1)
    if backward:
        start = dense_columns(op64, tok)
    else:
        start = dense_rows(op64.tr, tok)
        start[keys == V] = op64.tr.initial
    start_lo = min_positive_log_linear(start)
    first_bad[start_lo < -safe] = 1
    flat[:n_ch] = start
    lo = torch.empty(N + int(backward), dtype=torch.float64, device=dev)
    lo[:n_ch] = min_positive_log_linear(flat[:n_ch])  # after the conversion to the engine's dtype
    step = op.backward_t if backward else op.forward_t
    n_list = n_k.tolist()
    off_list = offsets.tolist()
    for k in range(1, D):
        n, prev, cur = n_list[k], off_list[k - 1], off_list[k]
        for s in range(0, n, SPMM_TILE):
            e = min(s + SPMM_TILE, n)
            y_t = step(flat[prev + s : prev + e])  # (V, tile)
            norms = y_t.sum(0)
            if backward:  # a column with no in-edges is all zero: keep it zero (its gaps are impossible)
                norms = torch.where(norms > 0, norms, torch.ones_like(norms))
            mins = torch.where(y_t > 0, y_t, math.inf).amin(0)  # smallest positive entries (tile in cache)
            torch.div(y_t.T, norms.unsqueeze(1), out=flat[cur + s : cur + e])
            cum[cur + s : cur + e] = torch.log(norms.to(torch.float64))
            lo_t = torch.log((mins / norms).to(torch.float64))
            lo[cur + s : cur + e] = torch.where(torch.isfinite(lo_t), lo_t, 0.0)  # +inf: an all-zero column
        cum[cur : cur + n] += cum[prev : prev + n]
    lo[N:] = 0.0  # no positive entry (zero columns) or the all-ones row
    if D > 1:  # step k (rows of block k) is certified if its parent row (block k - 1) is
        depth_of = torch.repeat_interleave(torch.arange(1, D + 1, device=dev), n_k)
        rank_of = torch.arange(N, device=dev) - offsets[depth_of - 1]
        child = depth_of > 1
        parent = offsets[depth_of[child] - 2] + rank_of[child]
        fail = lo[parent] + op.min_log < -safe
        if bool(fail.any()):
            first_bad.scatter_reduce_(0, rank_of[child][fail], depth_of[child][fail], reduce="amin")
    return Chains(flat, offsets, rank, cum, first_bad, lo)


@dataclass
class GapLayout:
    """Per position of a ``(B, L)`` batch: forward key/depth and backward key/depth (module docstring).

    Forward key: the last revealed token before the position (``V`` = start, depth = position + 1);
    backward key: the next revealed token after it (``V`` = end: no message needed).
    """

    revealed: torch.Tensor
    fwd_key: torch.Tensor
    fwd_depth: torch.Tensor
    bwd_key: torch.Tensor
    bwd_depth: torch.Tensor


def gap_layout(tokens: torch.Tensor, V: int) -> GapLayout:
    """The :class:`GapLayout` of ``tokens`` ``(B, L)`` (mask id ``V``), by running max/min of revealed positions."""
    B, L = tokens.shape
    dev = tokens.device
    pos = torch.arange(L, device=dev).expand(B, L)
    revealed = tokens < V
    last = torch.cummax(torch.where(revealed, pos, torch.full_like(pos, -1)), 1).values
    prev = torch.cat([torch.full((B, 1), -1, dtype=torch.long, device=dev), last[:, :-1]], 1)
    fwd_key = torch.where(prev >= 0, tokens.gather(1, prev.clamp(min=0)), torch.full_like(prev, V))
    nxt_incl = torch.where(revealed, pos, torch.full_like(pos, L)).flip(1).cummin(1).values.flip(1)
    nxt = torch.cat([nxt_incl[:, 1:], torch.full((B, 1), L, dtype=torch.long, device=dev)], 1)
    bwd_key = torch.where(nxt < L, tokens.gather(1, nxt.clamp(max=L - 1)), torch.full_like(nxt, V))
    return GapLayout(revealed, fwd_key, pos - prev, bwd_key, nxt - pos)


def _log_evidence(
    op64: SparseOperator, tokens: torch.Tensor, lay: GapLayout, fwd: Chains
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log Z (B,), certified (B,))`` from the forward chains and the adjacency look-ups."""
    B = tokens.shape[0]
    V = op64.vocab_size
    b, i = lay.revealed.nonzero(as_tuple=True)
    key, k, x = lay.fwd_key[b, i], lay.fwd_depth[b, i], tokens[b, i]
    adjacent = (k == 1) & (key < V)
    logv = torch.empty(b.numel(), dtype=torch.float64, device=tokens.device)
    logv[adjacent] = torch.log(entries(op64.tr, key[adjacent], x[adjacent]))
    via = ~adjacent
    rows = fwd.row(key[via], k[via])
    logv[via] = torch.log(fwd.flat[rows, x[via]].to(torch.float64)) + fwd.cum_log_norm[rows]
    ok = torch.ones(B, dtype=torch.bool, device=tokens.device)
    ok[b[via][~fwd.certified(key[via], k[via])]] = False
    log_z = torch.zeros(B, dtype=torch.float64, device=tokens.device).index_add_(0, b, logv)
    return log_z, ok


def _message_chains(op, op64, tokens, lay: GapLayout, need_backward: bool):
    V = op.vocab_size
    masked = ~lay.revealed
    need_f = masked | (lay.revealed & ((lay.fwd_depth > 1) | (lay.fwd_key == V)))
    fdepth = torch.zeros(V + 1, dtype=torch.long, device=tokens.device)
    fdepth.scatter_reduce_(0, lay.fwd_key[need_f], lay.fwd_depth[need_f], reduce="amax")
    fwd = run_chains(op, op64, fdepth, backward=False)
    if not need_backward:
        return fwd, None
    need_b = masked & (lay.bwd_key < V)
    bdepth = torch.zeros(V + 1, dtype=torch.long, device=tokens.device)
    bdepth.scatter_reduce_(0, lay.bwd_key[need_b], lay.bwd_depth[need_b], reduce="amax")
    return fwd, run_chains(op, op64, bdepth, backward=True)


def _posterior_chunk(chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype, out: torch.Tensor):
    """Fill ``out`` ``(B, L, V)`` with log posteriors; return ``(log Z, impossible, certified)``."""
    op, op64 = sparse_operator(chain, dtype), sparse_operator(chain, torch.float64)
    V = op.vocab_size
    safe = safe_log_range(dtype, V)
    lay = gap_layout(tokens, V)
    fwd, bwd = _message_chains(op, op64, tokens, lay, need_backward=True)
    log_z, ok = _log_evidence(op64, tokens, lay, fwd)
    impossible = ~torch.isfinite(log_z)
    B, L = tokens.shape
    out_flat = out.view(B * L, V)
    # revealed positions: one-hot laws
    p_rev = lay.revealed.reshape(-1).nonzero().flatten()
    out_flat.index_fill_(0, p_rev, -math.inf)
    out_flat[p_rev, tokens.reshape(-1)[p_rev]] = 0.0
    # masked positions: alpha * beta, normalised, in blocks
    b, i = (~lay.revealed).nonzero(as_tuple=True)
    order = torch.argsort((lay.bwd_key[b, i] >= V).to(torch.int8), stable=True)  # END positions last
    b, i = b[order], i[order]
    if b.numel():
        fk, fd, bk, bd = lay.fwd_key[b, i], lay.fwd_depth[b, i], lay.bwd_key[b, i], lay.bwd_depth[b, i]
        frow = fwd.row(fk, fd)
        has_b = bk < V  # positions after the last revealed token: the all-ones row at the end
        brow = torch.full_like(frow, bwd.flat.shape[0] - 1)
        brow[has_b] = bwd.row(bk[has_b], bd[has_b])
        lo = fwd.lo[frow]
        lo[has_b] += bwd.lo[brow[has_b]]
        good = fwd.certified(fk, fd) & (lo >= -safe)
        good[has_b] &= bwd.certified(bk[has_b], bd[has_b])
        ok[b[~good]] = False
        p_mask = b * L + i
        blk = min(POSTERIOR_BLOCK, b.numel())
        g_buf = torch.empty((blk, V), dtype=dtype, device=tokens.device)
        h_buf = torch.empty((blk, V), dtype=dtype, device=tokens.device)
        for s in range(0, b.numel(), blk):
            n = min(blk, b.numel() - s)
            g, h = g_buf[:n], h_buf[:n]
            torch.index_select(fwd.flat, 0, frow[s : s + n], out=g)
            if bool(has_b[s : s + n].any()):  # (positions are sorted: END positions come last)
                torch.index_select(bwd.flat, 0, brow[s : s + n], out=h)
                g.mul_(h)
                g.div_(g.sum(1, keepdim=True))
            log_g = torch.log(g, out=g) if dtype == torch.float64 else torch.log(g.to(torch.float64))
            out_flat.index_copy_(0, p_mask[s : s + n], log_g)
    return log_z, impossible, ok


def _rows_needed(B: int, L: int, V: int) -> int:
    return max(1, MAX_CHUNK_ELEMENTS // max(L * V, 1))


def token_posteriors_sparse(
    chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype = torch.float64
) -> TokenPosterior:
    """Token posteriors ``(B, L, V)`` of a sparse token chain (module docstring); same result as the log
    engine to float64 rounding (float32: certified against underflow, uncertified rows redone in float64)."""
    B, L = tokens.shape
    V = chain.vocab_size
    log_probs = torch.empty((B, L, V), dtype=torch.float64, device=tokens.device)
    log_z = torch.empty(B, dtype=torch.float64, device=tokens.device)
    impossible = torch.empty(B, dtype=torch.bool, device=tokens.device)
    ok = torch.empty(B, dtype=torch.bool, device=tokens.device)
    step = _rows_needed(B, L, V)
    for s in range(0, B, step):
        sl = slice(s, s + step)
        log_z[sl], impossible[sl], ok[sl] = _posterior_chunk(chain, tokens[sl], dtype, log_probs[sl])
    n_fallback = int((~ok).sum())
    if n_fallback:
        rows = (~ok).nonzero().flatten()
        if dtype != torch.float64:
            sub = token_posteriors_sparse(chain, tokens[rows], torch.float64)
            log_probs[rows], log_z[rows], impossible[rows] = sub.log_probs, sub.log_evidence, sub.impossible
        else:
            post = forward_backward_log(chain, tokens[rows])
            log_probs[rows] = chain.token_log_marginals(post.log_gamma, L)
            log_z[rows], impossible[rows] = post.log_evidence, post.impossible
    log_z = torch.where(impossible, torch.full_like(log_z, -math.inf), log_z)
    if bool(impossible.any()):
        log_probs[impossible] = -math.log(V)
    return TokenPosterior(log_probs, log_z, impossible, n_fallback)


def forward_backward_sparse(
    chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype = torch.float64
) -> ChainPosterior:
    """Node posteriors of a token chain: the token posteriors (node t is the token at position t)."""
    post = token_posteriors_sparse(chain, tokens, dtype)
    return ChainPosterior(post.log_evidence, post.log_probs, post.impossible)


def forward_log_evidence_sparse(chain: LiftedChain, tokens: torch.Tensor) -> torch.Tensor:
    """``log p(revealed tokens)`` per row from the forward chains only (float64, certified; uncertified
    rows by the exact log-space forward pass)."""
    B, L = tokens.shape
    V = chain.vocab_size
    op64 = sparse_operator(chain, torch.float64)
    log_z = torch.empty(B, dtype=torch.float64, device=tokens.device)
    ok = torch.empty(B, dtype=torch.bool, device=tokens.device)
    step = _rows_needed(B, L, V)
    for s in range(0, B, step):
        sub = tokens[s : s + step]
        lay = gap_layout(sub, V)
        # only revealed positions need forward messages (suffix gaps have mass exactly one)
        fdepth = torch.zeros(V + 1, dtype=torch.long, device=tokens.device)
        need = lay.revealed & ((lay.fwd_depth > 1) | (lay.fwd_key == V))
        fdepth.scatter_reduce_(0, lay.fwd_key[need], lay.fwd_depth[need], reduce="amax")
        fwd = run_chains(op64, op64, fdepth, backward=False)
        log_z[s : s + step], ok[s : s + step] = _log_evidence(op64, sub, lay, fwd)
    if not bool(ok.all()):
        log_z[~ok] = forward_log_evidence_log(chain, tokens[~ok])
    return torch.where(torch.isfinite(log_z), log_z, torch.full_like(log_z, -math.inf))


__all__ = [
    "GapLayout",
    "forward_backward_sparse",
    "forward_log_evidence_sparse",
    "gap_layout",
    "run_chains",
    "sparse_engine_applies",
    "token_posteriors_sparse",
]
