r"""Shared machinery of the fast (linear-space, certified) forward-backward engines.

The scaled sequential engine (:mod:`sims.inference.scaled`) and the parallel scan (:mod:`sims.inference.scan`)
both produce :class:`LinearMessages`: time-major forward messages :math:`\hat\alpha_t` (normalised) and
backward messages :math:`\hat\beta_t` (positive scale per node), kept in linear space, together with
lower bounds on the log of their smallest positive entries and the rows whose exactness certificate
failed. This module turns them into

* a :class:`~sims.inference.chain.ChainPosterior` (log node posteriors), or
* a :class:`TokenPosterior` (log token posteriors, the oracle's output) through a linear-space
  projection that needs only a handful of passes over the data.

Exactness certificate (used throughout)
---------------------------------------
For non-negative arrays whose non-zero entries are exact to rounding, a sum of products is exact to
rounding, with an exact zero pattern, if every non-zero product term is a *normal* number: it then
carries a relative error of a few ulps and no term is lost to underflow. We guarantee this by
requiring that the logs of the smallest positive factors add up to at least ``-safe``, with
``safe = -log(tiny) - 8 - log S`` (:func:`safe_log_range`), so that even after a division by a
normaliser of at most S the entries stay normal. Rows that fail anywhere are recomputed by the exact
log-space engine (:func:`sims.inference.log_engine.forward_backward_log`). The token projection is certified the same
way (smallest posterior entry times smallest emission probability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sims.inference.chain import ChainPosterior, LiftedChain, log_normalize
from sims.inference.log_engine import forward_backward_log


def safe_log_range(dtype: torch.dtype, num_states: int) -> float:
    """Largest ``r`` such that non-zero terms above ``exp(-r)``, divided by up to ``num_states``, stay normal."""
    tiny = torch.finfo(dtype).tiny
    return -math.log(tiny) - 8.0 - math.log(max(num_states, 1))


def min_finite(log_x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Smallest finite entry along ``dim`` (0 where there is none): the log of the smallest positive entry."""
    return torch.where(torch.isfinite(log_x), log_x, torch.zeros_like(log_x)).amin(dim)


def min_positive_log_linear(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log`` of the smallest positive entry along ``dim`` of a linear tensor (0 where none / NaN rows)."""
    pos = torch.where(x > 0, x, 1.0).amin(dim)
    return torch.log(pos.to(torch.float64))


# ---------------------------------------------------------------------------------------------------
# Transition and evidence in linear space
# ---------------------------------------------------------------------------------------------------

#: Chains with at most this many states use a dense transition matrix; larger n-gram chains keep
#: their block structure in the scaled engine (the scan always densifies).
DENSE_MAX_STATES = 256


@dataclass
class LinearTransition:
    """Linear-space transition of a lifted chain, in one dtype.

    ``dense`` is the ``(S, S)`` matrix ``A`` when the chain is small enough or has no block form
    (:meth:`~sims.inference.chain.LiftedChain.block_transition`); otherwise ``forward``/``backward`` apply
    the n-gram block structure (``blocks``, with ``rest`` middle windows). ``min_log`` is ``log`` of the
    smallest positive entry of ``A`` (from the float64 tables). ``unsafe`` is True when some entry of
    ``A`` exceeds 1: the certificate's normaliser bounds assume probabilities, so every row then takes
    the log engine.
    """

    chain: LiftedChain
    dtype: torch.dtype
    dense: torch.Tensor | None
    min_log: float
    blocks: tuple[torch.Tensor, torch.Tensor] | None = None
    unsafe: bool = False
    rest: int = 0

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """``p @ A`` for messages ``(N, S)``."""
        if self.dense is not None:
            return p @ self.dense
        fwd, _ = self.blocks
        N, V, R = p.shape[0], self.chain.vocab_size, self.rest
        x = p.reshape(N, V, R).permute(2, 0, 1)  # (R, N, a)
        return torch.bmm(x, fwd).permute(1, 0, 2).reshape(N, R * V)

    def backward(self, q: torch.Tensor) -> torch.Tensor:
        """``A @ q`` for messages ``(N, S)`` (i.e. ``q @ A.T``)."""
        if self.dense is not None:
            return q @ self.dense.T
        _, bwd = self.blocks
        N, V, R = q.shape[0], self.chain.vocab_size, self.rest
        x = q.reshape(N, R, V).permute(1, 0, 2)  # (R, N, x)
        return torch.bmm(x, bwd).permute(1, 2, 0).reshape(N, V * R)


def dense_log_transition(chain: LiftedChain) -> torch.Tensor:
    """``(S, S)`` float64 ``log A`` of any lifted chain, obtained by propagating the one-hot basis.

    Exact: each row of the result is ``log(e_i @ A) = log A[i, :]`` computed with a single non-zero term.
    """
    S = chain.num_states
    eye = torch.log(torch.eye(S, dtype=torch.float64, device=chain.device))
    return chain.propagate_forward(eye)


def linear_transition(
    chain: LiftedChain, dtype: torch.dtype = torch.float64, force_dense: bool = False
) -> LinearTransition:
    """Linear-space transition of ``chain`` (cached on the chain object per dtype)."""
    cache = chain.engine_cache
    key = ("transition", dtype, force_dense)
    if key in cache:
        return cache[key]
    S = chain.num_states
    blocks = chain.block_transition()
    if blocks is not None and not force_dense and S > DENSE_MAX_STATES:
        out = LinearTransition(
            chain,
            dtype,
            None,
            float(blocks.min_log),
            (blocks.fwd.to(dtype), blocks.bwd.to(dtype)),
            rest=blocks.rest,
        )
    else:
        log_a = dense_log_transition(chain)
        out = LinearTransition(
            chain,
            dtype,
            torch.exp(log_a).to(dtype).contiguous(),
            float(min_finite(log_a.reshape(-1), 0)),
            unsafe=bool((log_a > 0).any() | (chain.log_initial > 0).any()),
        )
    cache[key] = out
    return out


def state_log_evidence(chain: LiftedChain, rest: torch.Tensor) -> torch.Tensor:
    """Compact node evidence ``(B, n, E)`` -> state-space log evidence ``(B, n, S)`` (float64)."""
    B, n = rest.shape[0], rest.shape[1]
    if n == 0:
        return torch.zeros((B, 0, chain.num_states), dtype=torch.float64, device=rest.device)
    zeros = torch.zeros((B * n, chain.num_states), dtype=torch.float64, device=rest.device)
    return chain.add_evidence(zeros, rest.reshape(B * n, -1)).reshape(B, n, chain.num_states)


def fast_engines_apply(chain: LiftedChain) -> bool:
    """Whether the automatic choice may use the linear-space engines for this chain.

    Chains with a per-token evidence table (HMM and n-gram chains) always qualify. Other chains (e.g.
    automaton chains) qualify when they have at most :data:`DENSE_MAX_STATES` states (they are
    densified); their tables and evidence must be probabilities, which is checked (rows violating it are
    recomputed by the log engine).
    """
    tabled = chain.token_evidence_probe_length() is not None and chain.final_log_weights() is None
    return tabled or chain.num_states <= DENSE_MAX_STATES


def evidence_table(chain: LiftedChain, dtype: torch.dtype):
    """``(V+1, S)`` linear evidence and ``(V+1,)`` min log evidence of a non-first node per token value.

    For chains whose node evidence depends on one token only
    (:meth:`~sims.inference.chain.LiftedChain.token_evidence_probe_length`; HMM: the emitted token,
    n-gram: the newest token of the window) the table is read off the chain's own ``evidence`` on probe
    sequences, so it is exactly the chain's evidence. Chains with final weights
    (:meth:`~sims.inference.chain.LiftedChain.final_log_weights`) get the table without them: it is read
    at the probe's node on a probe one (masked) token longer, where it is not the last node. Returns
    ``None`` for other chains.
    """
    L0 = chain.token_evidence_probe_length()
    if L0 is None:
        return None
    cache = chain.engine_cache
    key = ("evidence", dtype)
    if key not in cache:
        V = chain.vocab_size
        extra = 0 if chain.final_log_weights() is None else 1
        probe = torch.full((V + 1, L0 + extra), V, dtype=torch.long, device=chain.device)
        probe[:, L0 - 1] = torch.arange(V + 1, device=chain.device)
        _, rest = chain.evidence(probe)
        node = rest.shape[1] - 1 - extra
        log_table = state_log_evidence(chain, rest[:, node : node + 1])[:, 0]  # (V+1, S)
        cache[key] = (torch.exp(log_table).to(dtype), min_finite(log_table))
    return cache[key]


class NodeEvidence:
    """Evidence of one batch, laid out for the fast engines.

    Attributes:
        log_a0: ``(B, S)`` normalised log forward message of node 0 (initial law times its evidence).
        log_c0: ``(B,)`` its log normaliser (``-inf`` where already impossible).
        E: ``(n, B, S)`` linear evidence of nodes 1..n (time-major), dtype of the engine (built on first
            access when it comes from a table).
        min_log_e: ``(n, B)`` float64 log of the smallest positive evidence entry of each node.
        rest_tokens: ``(n, B)`` token ids of nodes 1..n when the evidence comes from a table, else None.
        table: the ``(V+1, S)`` linear evidence table, or None.
        unsafe: ``(B,)`` rows with an evidence value above 1 (only possible for unknown chain types):
            outside the certificate's assumptions, so they take the log engine.
    """

    def __init__(self, log_a0, log_c0, E, min_log_e, rest_tokens=None, table=None, unsafe=None):
        self.log_a0, self.log_c0, self._E, self.min_log_e = log_a0, log_c0, E, min_log_e
        self.rest_tokens, self.table = rest_tokens, table
        self.unsafe = (
            torch.zeros(log_c0.shape, dtype=torch.bool, device=log_c0.device) if unsafe is None else unsafe
        )

    @property
    def num_rest(self) -> int:
        return self.min_log_e.shape[0]

    @property
    def E(self) -> torch.Tensor:
        if self._E is None:
            self._E = self.table[self.rest_tokens]
        return self._E


def node_evidence(chain: LiftedChain, tokens: torch.Tensor, dtype: torch.dtype) -> NodeEvidence:
    """Build :class:`NodeEvidence` (table look-ups for HMM / n-gram chains, generic otherwise)."""
    L = tokens.shape[1]
    n = chain.num_nodes(L) - 1
    table = evidence_table(chain, dtype) if chain.final_log_weights() is None else None
    if table is None:  # no table, or final weights on the last node: generic evidence
        first, rest = chain.evidence(tokens)
        ev = state_log_evidence(chain, rest)
        log_a0, log_c0 = log_normalize(chain.log_initial.unsqueeze(0) + first)
        unsafe = (ev > 0).flatten(1).any(1) | (first > 0).any(1)
        return NodeEvidence(
            log_a0,
            log_c0,
            torch.exp(ev).to(dtype).transpose(0, 1).contiguous(),
            min_finite(ev).T.contiguous(),
            unsafe=unsafe,
        )
    lin_table, min_table = table
    first, _ = chain.evidence(tokens[:, : L - n + 1] if n > 0 else tokens)  # node 0 (+ one cheap node)
    rest_tokens = tokens[:, L - n :].T.contiguous()  # (n, B)
    log_a0, log_c0 = log_normalize(chain.log_initial.unsqueeze(0) + first)
    return NodeEvidence(log_a0, log_c0, None, min_table[rest_tokens], rest_tokens, lin_table)


# ---------------------------------------------------------------------------------------------------
# Messages -> posteriors
# ---------------------------------------------------------------------------------------------------


@dataclass
class LinearMessages:
    """Output of a fast engine (time-major, linear space).

    Attributes:
        alpha: ``(T, B, S)`` forward messages, each normalised to sum one.
        beta: ``(T, B, S)`` backward messages (any positive scale per node).
        lo_alpha, lo_beta: ``(T, B)`` float64 lower bounds on the log smallest positive entries.
        log_z: ``(B,)`` float64 log-evidence (``-inf`` where impossible).
        impossible: ``(B,)`` the evidence has probability zero (valid where ``bad`` is False).
        bad: ``(B,)`` certificate failures: such rows must be recomputed by the log engine.
        fallback_rows: number of rows the caller recomputed (filled in by the finishers).
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    lo_alpha: torch.Tensor
    lo_beta: torch.Tensor
    log_z: torch.Tensor
    impossible: torch.Tensor
    bad: torch.Tensor


def merge_rows(post: ChainPosterior, rows: torch.Tensor, sub: ChainPosterior) -> ChainPosterior:
    """Replace ``rows`` (bool mask) of ``post`` by the rows of ``sub`` (computed for those rows only)."""
    idx = rows.nonzero().flatten()
    log_z, log_gamma, imp = post.log_evidence.clone(), post.log_gamma.clone(), post.impossible.clone()
    log_z[idx], log_gamma[idx], imp[idx] = sub.log_evidence, sub.log_gamma, sub.impossible
    return ChainPosterior(log_evidence=log_z, log_gamma=log_gamma, impossible=imp)


def posterior_from_messages(
    chain: LiftedChain, msgs: LinearMessages, tokens: torch.Tensor, fallback: bool = True
) -> ChainPosterior:
    """Log node posteriors ``log alpha + log beta`` (normalised in log space, so tiny posteriors keep
    their relative accuracy); uncertified rows are recomputed by the log engine when ``fallback``."""
    S = chain.num_states
    log_ab = (torch.log(msgs.alpha) + torch.log(msgs.beta)).to(torch.float64).transpose(0, 1)
    log_gamma, norm = log_normalize(log_ab)
    impossible = msgs.impossible | (~torch.isfinite(norm)).any(-1)
    uniform = torch.full((S,), -math.log(S), dtype=torch.float64, device=log_gamma.device)
    log_gamma = torch.where(impossible[:, None, None], uniform, log_gamma)
    log_z = torch.where(impossible, torch.full_like(msgs.log_z, -math.inf), msgs.log_z)
    post = ChainPosterior(log_evidence=log_z, log_gamma=log_gamma, impossible=impossible)
    if fallback and bool(msgs.bad.any()):
        post = merge_rows(post, msgs.bad, forward_backward_log(chain, tokens[msgs.bad]))
    return post


@dataclass
class TokenPosterior:
    """Per-position token posteriors of a batch.

    Attributes:
        log_probs: ``(B, L, V)`` float64 log-probabilities at every position (revealed positions carry
            their own posterior, a one-hot law for n-grams; callers apply carry-over). Rows flagged
            ``impossible`` hold the uniform law as a placeholder.
        log_evidence: ``(B,)`` float64 log-probability of the revealed tokens.
        impossible: ``(B,)`` bool.
        fallback_rows: rows recomputed by the exact log-space engine.
    """

    log_probs: torch.Tensor
    log_evidence: torch.Tensor
    impossible: torch.Tensor
    fallback_rows: int = 0


def token_posterior_from_chain_posterior(
    chain: LiftedChain, post: ChainPosterior, length: int, fallback_rows: int = 0
) -> TokenPosterior:
    """The log-space projection (reference path)."""
    log_probs = chain.token_log_marginals(post.log_gamma, length)
    if bool(post.impossible.any()):
        log_probs[post.impossible] = -math.log(chain.vocab_size)
    return TokenPosterior(log_probs, post.log_evidence, post.impossible, fallback_rows)


def token_posterior_from_messages(
    chain: LiftedChain, msgs: LinearMessages, tokens: torch.Tensor, dtype: torch.dtype
) -> TokenPosterior:
    """Token posteriors from linear messages: gamma = alpha * beta, normalised, projected, logged once.

    Certified per row (module docstring); rows that fail, or whose engine certificate failed, take the
    exact log path (:func:`posterior_from_messages` / the log engine + ``token_log_marginals``).
    """
    B, L = tokens.shape
    V, S = chain.vocab_size, chain.num_states
    safe = safe_log_range(dtype, max(S, V))
    gamma = msgs.alpha * msgs.beta  # (T, B, S)
    gamma.div_(gamma.sum(-1, keepdim=True))
    lo_gamma = msgs.lo_alpha + msgs.lo_beta  # (T, B)
    need_log = msgs.bad.clone()
    lin = chain.linear_token_marginals(gamma, L)
    if lin is None:
        need_log[:] = True
    else:
        need_log |= ((lo_gamma + chain.projection_min_log()) < -safe).any(0)
    need_log &= ~msgs.impossible | msgs.bad  # impossible rows get placeholders below
    if lin is None:
        log_probs = torch.empty((B, L, V), dtype=torch.float64, device=tokens.device)
    else:
        log_probs = torch.log(lin.to(torch.float64)).transpose(0, 1).contiguous()
    impossible = msgs.impossible & ~msgs.bad
    log_z = msgs.log_z.clone()
    n_fallback = 0
    if bool(need_log.any()):
        rows = need_log.nonzero().flatten()
        sub_msgs = LinearMessages(
            msgs.alpha[:, rows],
            msgs.beta[:, rows],
            msgs.lo_alpha[:, rows],
            msgs.lo_beta[:, rows],
            msgs.log_z[rows],
            msgs.impossible[rows],
            msgs.bad[rows],
        )
        post = posterior_from_messages(chain, sub_msgs, tokens[rows])
        log_probs[rows] = chain.token_log_marginals(post.log_gamma, L)
        log_z[rows] = post.log_evidence
        impossible[rows] = post.impossible
        n_fallback = int(msgs.bad.sum())
    log_z = torch.where(impossible, torch.full_like(log_z, -math.inf), log_z)
    if bool(impossible.any()):
        log_probs[impossible] = -math.log(V)
    return TokenPosterior(log_probs, log_z, impossible, n_fallback)
