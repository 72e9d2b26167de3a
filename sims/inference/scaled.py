r"""Certified scaled (linear-space) forward-backward: the fast sequential engine.

The recursions are those of :mod:`sims.inference.chain` (notation there), run on probabilities instead of
logarithms, with every message rescaled to sum to one (the scaled forward-backward of Rabiner, "A
tutorial on hidden Markov models", Proc. IEEE 1989, Sec. V.A; dynamax's ``hmm_filter`` does the same):

.. math::
    \hat\alpha_{t+1} = \frac{(\hat\alpha_t A) \odot E_{t+1}}{c_{t+1}}, \qquad
    \hat r_{t} = \frac{E_t \odot (A\, \hat r_{t+1})}{d_t}, \qquad
    \hat\beta_t = A\, \hat r_{t+1}, \qquad
    \gamma_t \propto \hat\alpha_t \odot \hat\beta_t,

with :math:`E_t` the linear node evidence, :math:`\log Z = \log c_0 + \sum_t \log c_t`
(:math:`c_0` the normaliser of :math:`\pi \odot E_0`) and :math:`\hat r` the evidence-including
backward message (:math:`\hat r_n \propto E_n`). Forward and backward run in the same loop: one
``(2, B, S) @ (2, S, S)`` product, one multiply, one sum and one divide per step (chains of at most
:data:`~sims.inference.linear.DENSE_MAX_STATES` states; larger n-gram chains use their block structure in
two loops).

Exactness certificate (see :mod:`sims.inference.linear`)
----------------------------------------------------
Let :math:`\ell_t = \log \min\{\hat\alpha_t(s) > 0\}`. If
:math:`\ell_t + \log A_{\min} + \log E_{t+1,\min} \ge -\text{safe}` every non-zero term of step
:math:`t \to t+1` is a normal number, so the step is exact to rounding with an exact zero pattern;
dividing by :math:`c \le 1` cannot underflow. By induction all messages are exact to rounding if the
condition holds at every step (same for the backward steps, whose normaliser is at most S). Without
the certificate a state whose relative probability drops below ~1e-308 becomes exactly zero, and
later evidence that forces it turns a possible sequence into an "impossible" one (tested). The
condition is checked after the loop, vectorised; failing rows are recomputed by the log engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sims.inference.chain import ChainPosterior, LiftedChain
from sims.inference.linear import (
    LinearMessages,
    LinearTransition,
    TokenPosterior,
    linear_transition,
    min_finite,
    min_positive_log_linear,
    node_evidence,
    posterior_from_messages,
    safe_log_range,
    token_posterior_from_messages,
)
from sims.inference.log_engine import forward_log_evidence_log


@dataclass
class ScaledStats:
    """Diagnostics of one scaled run: rows recomputed by the exact log-space engine."""

    rows: int
    fallback_rows: int


def scaled_messages(
    chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype = torch.float64
) -> LinearMessages:
    """Run the certified scaled recursions; returns time-major linear messages (module docstring)."""
    B = tokens.shape[0]
    S = chain.num_states
    lin = linear_transition(chain, dtype)
    safe = safe_log_range(dtype, S)
    ev = node_evidence(chain, tokens, dtype)
    n = ev.num_rest
    dev = tokens.device
    a0 = torch.exp(ev.log_a0).to(dtype)
    E_last = (ev.table[ev.rest_tokens[n - 1]] if ev.table is not None else ev.E[n - 1]) if n > 0 else None

    if lin.dense is not None:
        buf = torch.empty((n + 1, 2, B, S), dtype=dtype, device=dev)
        buf[0, 0] = a0
        if n > 0:
            buf[0, 1] = E_last / E_last.sum(-1, keepdim=True)
        norms = _stacked_loop(lin, buf, ev, n)
        alpha = buf[:, 0]  # (n+1, B, S) strided view
        r_rev = buf[:, 1]  # r_n, r_{n-1}, ..., r_0
        r = r_rev.index_select(0, torch.arange(n, -1, -1, device=dev)) if n > 0 else r_rev
    else:
        alpha = torch.empty((n + 1, B, S), dtype=dtype, device=dev)
        r = torch.empty((n + 1, B, S), dtype=dtype, device=dev)
        alpha[0] = a0
        if n > 0:
            r[n] = E_last / E_last.sum(-1, keepdim=True)
        norms = _structured_loops(lin, alpha, r, ev.E, n)

    # beta_j = A r_{j+1} for j < n (one batched product), beta_n = 1
    beta = torch.empty((n + 1, B, S), dtype=dtype, device=dev)
    beta[n] = 1.0
    if n > 0:
        beta[:n] = lin.backward(r[1:].reshape(n * B, S)).reshape(n, B, S)

    log_c = (
        torch.log(norms.to(torch.float64)) if n > 0 else torch.zeros((0, B), dtype=torch.float64, device=dev)
    )
    log_z = ev.log_c0 + log_c.sum(0)
    impossible = ~torch.isfinite(ev.log_c0) | ~torch.isfinite(log_c).all(0)

    # ---- certificate, vectorised over all steps (NaN entries of dead rows compare False) ----
    lo_alpha = torch.cat([min_finite(ev.log_a0).unsqueeze(0), min_positive_log_linear(alpha[1:])], 0)
    lo_beta = torch.zeros((n + 1, B), dtype=torch.float64, device=dev)
    bad = (lo_alpha[0] < -safe) | ev.unsafe | lin.unsafe
    if n > 0:
        bad = bad | (ev.min_log_e < -safe).any(0)  # linear evidence itself would be inexact
        lo_r = min_positive_log_linear(r[1:])  # r_1..r_n; r_n from the linear E_n (checked above)
        zero = torch.zeros((1, B), dtype=torch.float64, device=dev)
        min_log_e_nodes = torch.cat([zero, ev.min_log_e], 0)  # nodes 0..n (node 0: folded into alpha_0)
        fwd_terms = lo_alpha[:n] + lin.min_log + ev.min_log_e  # alpha_{t+1} from alpha_t and E_{t+1}
        bwd_terms = lo_r + lin.min_log + min_log_e_nodes[:n]  # r_j from r_{j+1} and E_j (and beta_j)
        bad = bad | ((fwd_terms < -safe) | (bwd_terms < -safe)).any(0)
        lo_beta[:n] = lo_r + lin.min_log
    return LinearMessages(alpha, beta, lo_alpha, lo_beta, log_z, impossible, bad)


def _stacked_loop(lin: LinearTransition, buf: torch.Tensor, ev, n: int) -> torch.Tensor:
    """Forward and backward in one loop; ``buf[t+1] = (alpha_{t+1}, r_{n-1-t})``. Returns forward norms."""
    B, S = buf.shape[2], buf.shape[3]
    mats = torch.stack([lin.dense, lin.dense.T.contiguous()])  # (2, S, S)
    # evidence at step t: forward E_{t+1}, backward E_{n-1-t} (node 0: none, i.e. the all-ones row)
    if n == 0:
        return torch.empty((0, B), dtype=buf.dtype, device=buf.device)
    if ev.table is not None:  # gather both directions straight from the token ids
        mask_id = torch.full((1, B), lin.chain.vocab_size, dtype=torch.long, device=buf.device)
        idx = torch.stack([ev.rest_tokens, torch.cat([ev.rest_tokens[: n - 1].flip(0), mask_id], 0)], 1)
        ev_steps = ev.table[idx]  # (n, 2, B, S)
    else:
        ones = torch.ones((1, B, S), dtype=buf.dtype, device=buf.device)
        ev_steps = torch.stack([ev.E, torch.cat([ev.E[: n - 1].flip(0), ones], 0)], 1)
    norms = torch.empty((n, 2, B, 1), dtype=buf.dtype, device=buf.device)
    x = buf[0]
    for t in range(n):
        y = torch.bmm(x, mats)
        y.mul_(ev_steps[t])
        x = torch.div(y, torch.sum(y, -1, keepdim=True, out=norms[t]), out=buf[t + 1])
    return norms[:, 0, :, 0]


def _structured_loops(
    lin: LinearTransition, alpha: torch.Tensor, r: torch.Tensor, E: torch.Tensor, n: int
) -> torch.Tensor:
    """Forward then backward recursion with the n-gram block structure (large n-gram chains)."""
    B = alpha.shape[1]
    norms = torch.empty((n, B, 1), dtype=alpha.dtype, device=alpha.device)
    for t in range(n):
        y = lin.forward(alpha[t]).mul_(E[t])
        torch.div(y, torch.sum(y, -1, keepdim=True, out=norms[t]), out=alpha[t + 1])
    for j in range(n - 1, -1, -1):
        y = lin.backward(r[j + 1])
        if j > 0:
            y.mul_(E[j - 1])  # E[j-1] is the evidence of node j
        torch.div(y, y.sum(-1, keepdim=True), out=r[j])
    return norms[:, :, 0]


def forward_backward_scaled(
    chain: LiftedChain,
    tokens: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    return_stats: bool = False,
    fallback: bool = True,
):
    """Certified scaled forward-backward; same result as the log engine (to rounding in float64).

    Args:
        chain: the lifted chain.
        tokens: ``(B, L)`` with mask id ``chain.vocab_size``.
        dtype: float64 (exact to rounding) or float32 (approximate; still certified against underflow).
        return_stats: also return a :class:`ScaledStats`.
        fallback: recompute uncertified rows with :func:`~sims.inference.log_engine.forward_backward_log` (float64).
            With ``False`` they are only reported (used by tests of the certificate).
    """
    msgs = scaled_messages(chain, tokens, dtype)
    post = posterior_from_messages(chain, msgs, tokens, fallback=fallback)
    if return_stats:
        return post, ScaledStats(rows=tokens.shape[0], fallback_rows=int(msgs.bad.sum()))
    return post


def token_posteriors_scaled(
    chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype = torch.float64
) -> TokenPosterior:
    """Token posteriors ``(B, L, V)`` through the linear finisher of :mod:`sims.inference.linear`."""
    return token_posterior_from_messages(chain, scaled_messages(chain, tokens, dtype), tokens, dtype)


def forward_log_evidence_scaled(chain: LiftedChain, tokens: torch.Tensor) -> torch.Tensor:
    """Certified scaled forward pass: ``log p(revealed tokens)`` per row (``-inf`` where impossible).

    Messages are kept for blocks of 64 steps and certified together; rows whose certificate fails are
    recomputed by the exact log-space forward pass.
    """
    B, S = tokens.shape[0], chain.num_states
    lin = linear_transition(chain, torch.float64)
    safe = safe_log_range(torch.float64, S)
    ev = node_evidence(chain, tokens, torch.float64)
    n = ev.num_rest
    log_z = ev.log_c0.clone()
    bad = (min_finite(ev.log_a0) < -safe) | ev.unsafe | lin.unsafe
    if n > 0:
        bad = bad | (ev.min_log_e < -safe).any(0)
        block = 64
        buf = torch.empty((block + 1, B, S), dtype=torch.float64, device=tokens.device)
        norms = torch.empty((n, B, 1), dtype=torch.float64, device=tokens.device)
        buf[0] = torch.exp(ev.log_a0)
        lo_prev = min_finite(ev.log_a0)
        for start in range(0, n, block):
            stop = min(start + block, n)
            for t in range(start, stop):
                y = lin.forward(buf[t - start]).mul_(ev.E[t])
                torch.div(y, torch.sum(y, -1, keepdim=True, out=norms[t]), out=buf[t - start + 1])
            k = stop - start
            lo = torch.cat([lo_prev.unsqueeze(0), min_positive_log_linear(buf[1:k])], 0)  # (k, B)
            bad = bad | ((lo + lin.min_log + ev.min_log_e[start:stop]) < -safe).any(0)
            lo_prev = min_positive_log_linear(buf[k])
            buf[0] = buf[k]
        log_z = log_z + torch.log(norms[:, :, 0]).sum(0)
    log_z = torch.where(torch.isfinite(log_z), log_z, torch.full_like(log_z, -torch.inf))
    if bool(bad.any()):
        log_z[bad] = forward_log_evidence_log(chain, tokens[bad])
    return log_z


__all__ = [
    "ChainPosterior",
    "ScaledStats",
    "forward_backward_scaled",
    "forward_log_evidence_scaled",
    "scaled_messages",
    "token_posteriors_scaled",
]
