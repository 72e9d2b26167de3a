r"""Sparse-plus-rank-1 transition operators of token chains (:class:`~sims.inference.chain.SparseTokenTransition`).

The transition is :math:`A = S + \lambda \nu^\top` with :math:`S` top-K sparse (K entries per row, padded
"ELL" layout) and a rank-1 "teleport" term. This module holds everything that touches :math:`A` without
ever forming the dense :math:`V \times V` matrix:

* :class:`SparseOperator`: :math:`S` and :math:`S^\top` in CSR form for one dtype (the linear-space
  products of the sparse engine, :mod:`sims.inference.sparse`), built once per chain and dtype;
* the linear-space steps :math:`x A = x S + (x \cdot \lambda)\, \nu^\top` and
  :math:`A y = S y + \lambda\, (\nu \cdot y)` for batches of vectors, each in :math:`O(\mathrm{nnz} + V)`;
* look-ups of single entries :math:`A_{uw}`, dense rows :math:`A_{u,:}` and columns :math:`A_{:,w}`;
* the exact log-space products used by the reference engine (:func:`log_forward`, :func:`log_backward`):
  a segment log-sum-exp over the edges, with the per-segment maximum subtracted, so no term that
  matters can underflow and structural zeros stay ``-inf``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from sims.inference.chain import LiftedChain, SparseTokenTransition
from sims.validation import InvalidArgumentError

#: Rows of :math:`S + \lambda \nu^\top` must sum to one within this tolerance.
ROW_SUM_TOL = 1e-10


def _log_min_positive(x: torch.Tensor) -> float:
    pos = x[x > 0]
    return float(torch.log(pos.min())) if pos.numel() else 0.0


def check_sparse_transition(tr: SparseTokenTransition) -> None:
    """Validate shapes, signs and row sums of a :class:`SparseTokenTransition` (errors name the field)."""
    if tr.indices.ndim != 2 or tr.values.shape != tr.indices.shape:
        raise InvalidArgumentError(
            f"sparse transition: indices and values must both be (V, K), got {tuple(tr.indices.shape)} "
            f"and {tuple(tr.values.shape)}"
        )
    V = tr.indices.shape[0]
    for name in ("initial", "teleport_weight", "teleport"):
        t = getattr(tr, name)
        if tuple(t.shape) != (V,):
            raise InvalidArgumentError(
                f"sparse transition: {name} must have shape ({V},), got {tuple(t.shape)}"
            )
    for name in ("initial", "values", "teleport_weight", "teleport"):
        t = getattr(tr, name)
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise InvalidArgumentError(f"sparse transition: {name} must be finite and non-negative")
    if tr.indices.numel() and (int(tr.indices.min()) < 0 or int(tr.indices.max()) >= V):
        raise InvalidArgumentError(f"sparse transition: indices must lie in 0..{V - 1}")
    sums = tr.values.sum(1) + tr.teleport_weight * tr.teleport.sum()
    bad = (sums - 1).abs() > ROW_SUM_TOL
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise InvalidArgumentError(
            f"sparse transition: row {row} of S + lambda nu^T sums to {float(sums[row])!r}, not 1"
        )
    if abs(float(tr.initial.sum()) - 1) > ROW_SUM_TOL:
        raise InvalidArgumentError(f"sparse transition: initial sums to {float(tr.initial.sum())!r}, not 1")


@dataclass
class SparseOperator:
    """:math:`A = S + \\lambda \\nu^\\top` of one chain in one dtype (see the module docstring).

    Attributes:
        tr: the chain's float64 tables.
        dtype: dtype of the linear-space products.
        csr, csr_t: :math:`S` and :math:`S^\\top` (CSR, zero padding dropped).
        lam, nu, initial: :math:`\\lambda`, :math:`\\nu`, :math:`\\pi` in ``dtype``.
        min_log: log of the smallest positive factor of a product term, ``min(log S_min, log lam_min +
            log nu_min)`` (float64 tables): the certificate's bound for one step.
        nnz: stored entries of :math:`S`.
    """

    tr: SparseTokenTransition
    dtype: torch.dtype
    csr: torch.Tensor
    csr_t: torch.Tensor
    lam: torch.Tensor
    nu: torch.Tensor
    initial: torch.Tensor
    min_log: float
    nnz: int

    @property
    def vocab_size(self) -> int:
        return self.tr.indices.shape[0]

    def forward_t(self, x: torch.Tensor) -> torch.Tensor:
        """``(x @ A).T`` ``(V, n)`` for row vectors ``x`` ``(n, V)``: one sparse product plus the rank-1 term."""
        y = torch.sparse.mm(self.csr_t, x.T.contiguous())
        return y.addr_(self.nu, x @ self.lam)

    def backward_t(self, y: torch.Tensor) -> torch.Tensor:
        """``A @ y.T`` ``(V, n)`` for column vectors stored as the rows of ``y`` ``(n, V)``."""
        x = torch.sparse.mm(self.csr, y.T.contiguous())
        return x.addr_(self.lam, y @ self.nu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ A`` for row vectors ``x`` ``(n, V)``."""
        return self.forward_t(x).T.contiguous()


def sparse_operator(chain: LiftedChain, dtype: torch.dtype = torch.float64) -> SparseOperator:
    """The chain's :class:`SparseOperator` for ``dtype`` (validated once, cached on the chain)."""
    cache = chain.engine_cache
    key = ("sparse_operator", dtype)
    if key in cache:
        return cache[key]
    tr = chain.sparse_token_transition()
    if tr is None:
        raise InvalidArgumentError(f"{type(chain).__name__} gives no sparse token transition")
    check_sparse_transition(tr)
    V, K = tr.indices.shape
    keep = tr.values.reshape(-1) > 0
    rows = torch.arange(V, device=tr.values.device).repeat_interleave(K)[keep]
    cols = tr.indices.reshape(-1)[keep]
    vals = tr.values.reshape(-1)[keep].to(dtype)
    with warnings.catch_warnings():  # torch flags sparse CSR as "beta"; the products used here are tested
        warnings.simplefilter("ignore", UserWarning)
        csr = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (V, V)).coalesce().to_sparse_csr()
        csr_t = torch.sparse_coo_tensor(torch.stack([cols, rows]), vals, (V, V)).coalesce().to_sparse_csr()
    lam_nu = _log_min_positive(tr.teleport_weight) + _log_min_positive(tr.teleport)
    has_tele = bool((tr.teleport_weight > 0).any())
    min_log = min(_log_min_positive(tr.values), lam_nu if has_tele else 0.0)
    op = SparseOperator(
        tr,
        dtype,
        csr,
        csr_t,
        tr.teleport_weight.to(dtype),
        tr.teleport.to(dtype),
        tr.initial.to(dtype),
        min_log,
        int(keep.sum()),
    )
    cache[key] = op
    return op


# ---- single entries, rows and columns (float64, exact) ---------------------------------------------
def entries(tr: SparseTokenTransition, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`A_{u_i w_i}` for index vectors ``u``, ``w`` (float64, exact: one sum of two terms)."""
    hit = tr.indices[u] == w.unsqueeze(-1)  # (n, K)
    return (tr.values[u] * hit).sum(-1) + tr.teleport_weight[u] * tr.teleport[w]


def dense_rows(tr: SparseTokenTransition, u: torch.Tensor) -> torch.Tensor:
    """Rows :math:`A_{u_i, :}` as a dense ``(n, V)`` float64 tensor."""
    out = tr.teleport_weight[u].unsqueeze(-1) * tr.teleport.unsqueeze(0)
    return out.scatter_add_(1, tr.indices[u], tr.values[u])


def dense_columns(op: SparseOperator, w: torch.Tensor) -> torch.Tensor:
    r"""Columns :math:`A_{:, w_i}` as a dense ``(n, V)`` tensor in ``op.dtype`` (row i holds column ``w_i``).

    Read off the CSR rows of :math:`S^\top` (the in-edges of each ``w_i``), so the cost is
    :math:`O(nV + \sum_i \mathrm{indeg}(w_i))`; every entry is one stored value plus one teleport product.
    """
    tr = op.tr
    crow, col, val = op.csr_t.crow_indices(), op.csr_t.col_indices(), op.csr_t.values()
    start, stop = crow[w], crow[w + 1]
    counts = stop - start
    row_of = torch.arange(w.numel(), device=w.device).repeat_interleave(counts)
    pos = torch.arange(int(counts.sum()), device=w.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts
    )
    flat = start.repeat_interleave(counts) + pos
    out = (tr.teleport.to(op.dtype).index_select(0, w).unsqueeze(-1) * op.lam.unsqueeze(0)).contiguous()
    out.index_put_((row_of, col[flat]), val[flat], accumulate=True)
    return out


def dense_transition(tr: SparseTokenTransition) -> torch.Tensor:
    """The dense ``(V, V)`` float64 matrix (for comparisons with the dense engines; O(V^2) memory)."""
    V = tr.indices.shape[0]
    return dense_rows(tr, torch.arange(V, device=tr.values.device))


# ---- exact log-space products (reference engine) ---------------------------------------------------
def _segment_logsumexp(terms: torch.Tensor, seg: torch.Tensor, num: int) -> torch.Tensor:
    """Log-sum-exp of ``terms`` ``(B, E)`` grouped by ``seg`` ``(E,)`` into ``(B, num)`` (``-inf`` if empty)."""
    B = terms.shape[0]
    idx = seg.unsqueeze(0).expand(B, -1)
    m = torch.full((B, num), -math.inf, dtype=terms.dtype, device=terms.device)
    m = m.scatter_reduce(1, idx, terms, reduce="amax", include_self=True)
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = torch.zeros_like(m).scatter_add_(1, idx, torch.exp(terms - m_safe.gather(1, idx)))
    return torch.log(s) + m_safe


def log_forward(tr: SparseTokenTransition, log_msg: torch.Tensor) -> torch.Tensor:
    r"""``log sum_s exp(msg[s]) A[s, :]`` for ``(B, V)`` log messages, exactly (module docstring)."""
    V, K = tr.indices.shape
    with torch.no_grad():
        log_vals = torch.log(tr.values).reshape(-1)
        terms = (log_msg.unsqueeze(-1) + log_vals.reshape(V, K)).reshape(log_msg.shape[0], V * K)
        out = _segment_logsumexp(terms, tr.indices.reshape(-1), V)
        tele = torch.logsumexp(log_msg + torch.log(tr.teleport_weight), -1, keepdim=True)
        return torch.logaddexp(out, tele + torch.log(tr.teleport))


def log_backward(tr: SparseTokenTransition, log_msg: torch.Tensor) -> torch.Tensor:
    r"""``log sum_s' A[:, s'] exp(msg[s'])`` for ``(B, V)`` log messages, exactly."""
    with torch.no_grad():
        out = torch.logsumexp(log_msg[:, tr.indices] + torch.log(tr.values), -1)  # (B, V, K) -> (B, V)
        tele = torch.logsumexp(log_msg + torch.log(tr.teleport), -1, keepdim=True)
        return torch.logaddexp(out, tele + torch.log(tr.teleport_weight))
