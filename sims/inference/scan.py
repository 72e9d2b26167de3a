r"""Parallel-scan (log-depth) forward-backward over a lifted chain, certified exact in float64.

Formulation
-----------
With node evidence :math:`E_t` and transition :math:`A` (notation of :mod:`sims.inference.chain`), the forward
messages are prefix products and the backward messages suffix products of the evidence-weighted
transition matrices :math:`M_t = A\,\mathrm{diag}(E_t)`, :math:`t = 1..n`:

.. math::
    \alpha_t = \alpha_0 M_1 \cdots M_t, \qquad \beta_t = M_{t+1} \cdots M_n \mathbf 1 .

Matrix product is associative, so all prefixes and suffixes can be computed with a balanced tree in
:math:`O(\log n)` sequential depth (the parallel prefix sum of Blelloch, "Prefix sums and their
applications", 1990; used for HMM/CRF inference in the log semiring by torch-struct's
``LinearChain.logpartition`` and by dynamax's ``hmm_smoother`` parallel variant with
``associative_scan``). We use the odd-even (Ladner-Fischer style) variant:

* **up-sweep**: level 0 holds :math:`M_1..M_n` (padded with an identity to an even count); level
  :math:`l+1` holds the products of adjacent pairs of level :math:`l`, down to a single matrix. Total
  work :math:`\approx n\,S^3` per sequence (versus :math:`2 n S^2` for the sequential recursion);
* **down-sweep**: the forward message at an even boundary of level :math:`l` is the message of level
  :math:`l+1`; at an odd boundary it is the previous even one times one level-:math:`l` matrix (a
  vector-matrix product). The backward messages run the mirror image. Work :math:`O(n S^2)`.

Every stored matrix is kept in linear space, divided by its largest entry, with the log of that scale
in float64; vectors are normalised to sum one with their log normaliser in float64 (the forward one
accumulates :math:`\log Z`). Each product is batched over sequences and tree positions.

Exactness certificate
---------------------
As in :mod:`sims.inference.scaled`: for a product :math:`C = XY` of non-negative arrays whose non-zero
entries are exact to rounding, if :math:`\log x_{\min} + \log y_{\min} \ge -\text{safe}` (smallest
positive entries) then every non-zero term is a normal number and :math:`C` is exact to rounding with an
exact zero pattern; normalising by the maximum (:math:`\le S`) keeps its non-zero entries normal. The
smallest positive entry of each stored matrix/vector is measured after each level (vectorised), the
level-0 matrices use the bound :math:`\log A_{\min} + \log E_{t,\min}`. By induction all messages are
exact to rounding if every product passes; sequences where any product fails are recomputed with the
exact log-space engine (:func:`sims.inference.log_engine.forward_backward_log`, float64).

float32 / TF32
--------------
``dtype=torch.float32`` runs the same algorithm in float32 (certified against float32 underflow; rows
that fail fall back to the float64 log engine); ``tf32=True`` additionally allows TF32 tensor-core
matmuls on CUDA inside the call (the global flag is restored afterwards). ``emulate_tf32=True`` rounds
matmul operands to TF32's 10 explicit mantissa bits on any device (used to measure TF32 accuracy on
CPU; it is an emulation, not a measurement of a GPU).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from sims.inference.chain import LiftedChain
from sims.inference.linear import (
    LinearMessages,
    TokenPosterior,
    linear_transition,
    min_finite,
    min_positive_log_linear,
    node_evidence,
    posterior_from_messages,
    safe_log_range,
    token_posterior_from_messages,
)
from sims.validation import InvalidArgumentError

#: Default memory budget (bytes) for the matrices of one batch chunk of the scan.
DEFAULT_MAX_BYTES = 256 * 2**20

#: Bytes per (node, S*S entry) held at once by the scan (levels + product temporaries), for chunking.
_BYTES_FACTOR = 1.5


@dataclass
class ScanStats:
    """Diagnostics of one scan call."""

    rows: int
    fallback_rows: int
    chunks: int
    levels: int


def round_to_tf32(x: torch.Tensor) -> torch.Tensor:
    """Round float32 values to TF32 precision (10 explicit mantissa bits, round to nearest even).

    Emulates the operand rounding of TF32 tensor-core matmuls; accumulation stays float32.
    """
    if x.dtype != torch.float32:
        raise InvalidArgumentError("round_to_tf32 expects float32")
    bits = x.contiguous().view(torch.int32)
    lsb = (bits >> 13) & 1
    rounded = (bits + 0xFFF + lsb) & ~0x1FFF
    return torch.where(torch.isfinite(x), rounded.view(torch.float32), x)


@contextlib.contextmanager
def _tf32_matmul(enabled: bool):
    """Allow TF32 CUDA matmuls inside the block only (restores the previous global setting)."""
    if not enabled:
        yield
        return
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


def scan_bytes_per_sequence(num_nodes: int, num_states: int, dtype: torch.dtype = torch.float64) -> float:
    """Approximate peak memory of the scan per sequence (bytes)."""
    item = torch.empty((), dtype=dtype).element_size()
    return _BYTES_FACTOR * max(num_nodes, 1) * num_states**2 * item


def scan_messages(
    chain: LiftedChain,
    tokens: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    *,
    tf32: bool = False,
    emulate_tf32: bool = False,
    max_bytes: float = DEFAULT_MAX_BYTES,
) -> tuple[LinearMessages, ScanStats]:
    """Run the scan over batch chunks that fit ``max_bytes``; returns time-major linear messages."""
    if (tf32 or emulate_tf32) and dtype != torch.float32:
        raise InvalidArgumentError("tf32 / emulate_tf32 need dtype=torch.float32")
    B, L = tokens.shape
    n, S = chain.num_nodes(L) - 1, chain.num_states
    lin = linear_transition(chain, dtype, force_dense=True)
    chunk = max(1, int(max_bytes // scan_bytes_per_sequence(n, S, dtype)))
    parts, levels = [], 0
    with _tf32_matmul(tf32 and tokens.is_cuda):
        for start in range(0, B, chunk):
            msgs, levels = _scan_chunk(chain, lin, tokens[start : start + chunk], dtype, emulate_tf32)
            parts.append(msgs)
    if len(parts) == 1:
        msgs = parts[0]
    else:
        msgs = LinearMessages(
            *(
                torch.cat([getattr(m, f) for m in parts], dim)
                for f, dim in (
                    ("alpha", 1),
                    ("beta", 1),
                    ("lo_alpha", 1),
                    ("lo_beta", 1),
                    ("log_z", 0),
                    ("impossible", 0),
                    ("bad", 0),
                )
            )
        )
    return msgs, ScanStats(rows=B, fallback_rows=int(msgs.bad.sum()), chunks=len(parts), levels=levels)


def forward_backward_scan(
    chain: LiftedChain,
    tokens: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    *,
    tf32: bool = False,
    emulate_tf32: bool = False,
    max_bytes: float = DEFAULT_MAX_BYTES,
    return_stats: bool = False,
    fallback: bool = True,
):
    """Parallel-scan forward-backward (see the module docstring); same result as the log engine.

    Args:
        chain: any lifted chain (densified: the scan works with the ``(S, S)`` transition).
        tokens: ``(B, L)`` with mask id ``chain.vocab_size``.
        dtype: float64 (exact to rounding, certified) or float32.
        tf32: allow TF32 CUDA matmuls (float32 only).
        emulate_tf32: round matmul operands to TF32 precision (accuracy studies on CPU).
        max_bytes: memory budget per batch chunk; a single sequence over budget is still run alone.
        return_stats: also return :class:`ScanStats`.
        fallback: recompute uncertified rows with the float64 log engine (``False``: report only).
    """
    msgs, stats = scan_messages(
        chain, tokens, dtype, tf32=tf32, emulate_tf32=emulate_tf32, max_bytes=max_bytes
    )
    post = posterior_from_messages(chain, msgs, tokens, fallback=fallback)
    return (post, stats) if return_stats else post


def token_posteriors_scan(
    chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype = torch.float64, tf32: bool = False
) -> TokenPosterior:
    """Token posteriors ``(B, L, V)`` through the linear finisher of :mod:`sims.inference.linear`."""
    msgs, _ = scan_messages(chain, tokens, dtype, tf32=tf32)
    return token_posterior_from_messages(chain, msgs, tokens, dtype)


def _matmul(x: torch.Tensor, y: torch.Tensor, emulate_tf32: bool, out: torch.Tensor | None = None):
    if emulate_tf32:
        x, y = round_to_tf32(x), round_to_tf32(y)
    return torch.matmul(x, y, out=out)


def _vec_mat(v: torch.Tensor, m: torch.Tensor, emulate_tf32: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Row vectors ``v`` (k, b, S) times matrices ``m`` (k, b, S, S); returns (normalised, log sum)."""
    y = _matmul(v.unsqueeze(-2), m, emulate_tf32).squeeze(-2)
    return _normalise_vec(y)


def _normalise_vec(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = y.sum(-1, keepdim=True)
    return y / s, torch.log(s.squeeze(-1).to(torch.float64))


def _interleave(even: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """``even`` (k+1 or more, ...) and ``odd`` (k, ...) -> even[0], odd[0], even[1], ..., odd[k-1], even[k:]."""
    k = odd.shape[0]
    body = torch.stack([even[:k], odd], 1).reshape((2 * k,) + tuple(odd.shape[1:]))
    return torch.cat([body, even[k:]], 0)


def _normalise_mats(mats: torch.Tensor) -> torch.Tensor:
    """Divide each ``(S, S)`` matrix by its largest entry in place; return the log of that entry (float64)."""
    mx = mats.amax((-2, -1))
    mats.div_(torch.where(mx > 0, mx, torch.ones_like(mx))[..., None, None])
    return torch.log(mx.to(torch.float64))


def _refine_lo(mats: torch.Tensor, lo: torch.Tensor, threshold: float) -> torch.Tensor:
    """Replace lower bounds ``lo`` (k, b) below ``threshold`` by the measured log smallest positive entry."""
    low = lo < threshold
    if bool(low.any()):
        lo = lo.clone()
        lo[low] = min_positive_log_linear(mats[low].flatten(-2))
    return lo


def _scan_chunk(chain: LiftedChain, lin, tokens: torch.Tensor, dtype: torch.dtype, emulate_tf32: bool):
    """Scan for one batch chunk. Internal layout is level-major: ``(position, batch, ...)``."""
    S = chain.num_states
    safe = safe_log_range(dtype, S)
    ev = node_evidence(chain, tokens, dtype)
    n, b = ev.num_rest, tokens.shape[0]
    a0 = torch.exp(ev.log_a0).to(dtype)
    lo_a0 = min_finite(ev.log_a0)
    bad = (lo_a0 < -safe) | ev.unsafe | lin.unsafe
    if n == 0:
        ones = torch.ones((1, b, S), dtype=dtype, device=tokens.device)
        zero = torch.zeros((1, b), dtype=torch.float64, device=tokens.device)
        return LinearMessages(
            a0.unsqueeze(0),
            ones,
            lo_a0.unsqueeze(0),
            zero,
            ev.log_c0.clone(),
            ~torch.isfinite(ev.log_c0),
            bad,
        ), 0
    bad = bad | (ev.min_log_e < -safe).any(0)
    lo0 = lin.min_log + ev.min_log_e  # (n, b): bounds for M_t = A diag(E_t), never materialised
    levels, bad = upsweep(lin.dense, ev.E, lo0, bad, safe, emulate_tf32)
    alpha, beta, log_norm, lo_alpha, lo_beta, bad = downsweeps(
        lin.dense, ev.E, lo0, levels, a0, lo_a0, ev.log_c0, bad, safe, emulate_tf32
    )
    log_z = log_norm[n]
    impossible = ~torch.isfinite(log_z)
    return LinearMessages(alpha, beta, lo_alpha, lo_beta, log_z, impossible, bad), len(levels)


def upsweep(
    A: torch.Tensor,
    E: torch.Tensor,
    lo0: torch.Tensor,
    bad: torch.Tensor,
    safe: float,
    emulate_tf32: bool = False,
):
    """Tree of range products. Returns ``[(mats (m, b, S, S), log scale (m, b), log min (m, b)), ...]``
    from level 1 (pairs of M_t) to the top (one matrix), and the updated certificate failures."""
    n, b, S = E.shape
    dtype, dev = E.dtype, E.device
    # ---- level 1 from the implicit level 0: (A diag E_2j) A diag E_2j+1 ----
    p = n // 2
    m1 = p + n % 2
    mats = torch.empty((m1, b, S, S), dtype=dtype, device=dev)
    scale = torch.zeros((m1, b), dtype=torch.float64, device=dev)
    lo = torch.empty((m1, b), dtype=torch.float64, device=dev)
    if p > 0:
        bad = bad | ((lo0[0 : 2 * p : 2] + lo0[1 : 2 * p : 2]) < -safe).any(0)
        left = (A * E[0 : 2 * p : 2].unsqueeze(-2)).reshape(p * b * S, S)  # rows of A diag(E_2j)
        _matmul(left, A, emulate_tf32, out=mats[:p].view(p * b * S, S))  # one large GEMM
        del left
        mats[:p].mul_(E[1 : 2 * p : 2].unsqueeze(-2))
        scale[:p] = _normalise_mats(mats[:p])
        lo[:p] = (
            lo0[0 : 2 * p : 2] + lo0[1 : 2 * p : 2] - torch.where(torch.isfinite(scale[:p]), scale[:p], 0.0)
        )
    if n % 2:
        mats[p] = A * E[n - 1].unsqueeze(-2)
        lo[p] = lo0[n - 1]
    lo = _refine_lo(mats, lo, -safe / 2)
    levels = [(mats, scale, lo)]
    while mats.shape[0] > 1:
        m = mats.shape[0]
        p = m // 2
        bad = bad | ((lo[0 : 2 * p : 2] + lo[1 : 2 * p : 2]) < -safe).any(0)
        nxt = torch.empty((p + m % 2, b, S, S), dtype=dtype, device=dev)
        _matmul(mats[0 : 2 * p : 2], mats[1 : 2 * p : 2], emulate_tf32, out=nxt[:p])
        mx = _normalise_mats(nxt[:p])
        nscale = scale[0 : 2 * p : 2] + scale[1 : 2 * p : 2] + mx
        nlo = lo[0 : 2 * p : 2] + lo[1 : 2 * p : 2] - torch.where(torch.isfinite(mx), mx, 0.0)
        if m % 2:
            nxt[p] = mats[m - 1]
            nscale = torch.cat([nscale, scale[m - 1 :]])
            nlo = torch.cat([nlo, lo[m - 1 :]])
        mats, scale, lo = nxt, nscale, _refine_lo(nxt, nlo, -safe / 2)
        levels.append((mats, scale, lo))
    return levels, bad


def downsweeps(
    A: torch.Tensor,
    E: torch.Tensor,
    lo0: torch.Tensor,
    levels,
    a0: torch.Tensor,
    lo_a0: torch.Tensor,
    log_c0: torch.Tensor,
    bad: torch.Tensor,
    safe: float,
    emulate_tf32: bool = False,
):
    """Forward and backward messages at every node from the tree: ``alpha, beta (n+1, b, S)``
    (normalised), the forward log normalisers ``(n+1, b)``, log smallest positive entries of alpha and
    beta ``(n+1, b)`` and the updated certificate failures."""
    n, b, S = E.shape
    dtype, dev = E.dtype, E.device
    AT = A.T.contiguous()
    # ---- top level (one matrix): boundaries 0 and 1 ----
    top, top_scale, top_lo = levels[-1]
    a1, s1 = _vec_mat(a0.unsqueeze(0), top, emulate_tf32)
    alpha = torch.cat([a0.unsqueeze(0), a1])  # (2, b, S)
    log_norm = torch.stack([log_c0, log_c0 + top_scale[0] + s1[0]])
    lo_alpha = torch.stack([lo_a0, min_positive_log_linear(a1[0])])
    uni = torch.full((1, b, S), 1.0 / S, dtype=dtype, device=dev)
    b0, _ = _vec_mat(uni, top.transpose(-1, -2), emulate_tf32)
    beta = torch.cat([b0, uni])
    lo_beta = torch.stack([min_positive_log_linear(b0[0]), torch.full_like(lo_a0, -math.log(S))])
    bad = bad | ((lo_a0 + top_lo[0]) < -safe) | ((top_lo[0] - math.log(S)) < -safe)

    # ---- down-sweeps through the stored levels, then the implicit level 0 ----
    for mats, scale, lo in reversed(levels[:-1]):
        m = mats.shape[0]
        p = m // 2
        ea, eb = alpha[: p + 1], beta[: p + 1]
        odd_a, s_a = _vec_mat(ea[:p], mats[0 : 2 * p : 2], emulate_tf32)
        odd_b, _ = _vec_mat(eb[1:], mats[1 : 2 * p : 2].transpose(-1, -2), emulate_tf32)
        bad = bad | ((lo_alpha[:p] + lo[0 : 2 * p : 2]) < -safe).any(0)
        bad = bad | ((lo_beta[1 : p + 1] + lo[1 : 2 * p : 2]) < -safe).any(0)
        odd_norm = log_norm[:p] + scale[0 : 2 * p : 2] + s_a
        alpha, beta = _interleave(alpha, odd_a), _interleave(beta, odd_b)
        log_norm = _interleave(log_norm, odd_norm)
        lo_alpha = _interleave(lo_alpha, min_positive_log_linear(odd_a))
        lo_beta = _interleave(lo_beta, min_positive_log_linear(odd_b))

    p = n // 2  # level 0: alpha[2j+1] = (alpha[2j] A) * E_2j, beta[2j+1] = A (E_2j+1 * beta[2j+2])
    if p > 0:
        ya = _matmul(alpha[:p].reshape(p * b, S), A, emulate_tf32).reshape(p, b, S) * E[0 : 2 * p : 2]
        odd_a, s_a = _normalise_vec(ya)
        yb = _matmul((beta[1 : p + 1] * E[1 : 2 * p : 2]).reshape(p * b, S), AT, emulate_tf32).reshape(
            p, b, S
        )
        odd_b, _ = _normalise_vec(yb)
        bad = bad | ((lo_alpha[:p] + lo0[0 : 2 * p : 2]) < -safe).any(0)
        bad = bad | ((lo_beta[1 : p + 1] + lo0[1 : 2 * p : 2]) < -safe).any(0)
        alpha, beta = _interleave(alpha, odd_a), _interleave(beta, odd_b)
        log_norm = _interleave(log_norm, log_norm[:p] + s_a)
        lo_alpha = _interleave(lo_alpha, min_positive_log_linear(odd_a))
        lo_beta = _interleave(lo_beta, min_positive_log_linear(odd_b))
    return alpha, beta, log_norm, lo_alpha, lo_beta, bad
