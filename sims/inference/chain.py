r"""Log-space forward-backward over a lifted first-order chain (the engine behind every oracle).

Both language families reduce to a chain of hidden nodes :math:`z_0, \dots, z_{T-1}` with

.. math::
    p(z, \text{evidence}) = \pi(z_0)\, e_0(z_0) \prod_{t \ge 1} A(z_{t-1}, z_t)\, e_t(z_t),

where :math:`e_t` is the likelihood of the revealed tokens attached to node :math:`t` (equal to 1 for a
node whose tokens are all masked). The posterior marginals of the nodes are

.. math::
    \gamma_t(z) \propto \hat\alpha_t(z)\, \hat\beta_t(z),

with normalised forward messages :math:`\hat\alpha_t \propto e_t \cdot (\hat\alpha_{t-1} A)` and
backward messages :math:`\hat\beta_t \propto A (e_{t+1} \hat\beta_{t+1})`, all stored as logarithms.
The evidence probability is :math:`\log Z = \sum_t \log c_t`, the sum of the forward normalisers.

Exactness of the fast path
--------------------------
A log-space matrix product :math:`\log \sum_s \exp(a_s) M_{s s'}` is computed as
:math:`m + \log(\exp(a - m) M)` with :math:`m = \max_s a_s` (one BLAS call). This is exact up to
float64 rounding unless a product term underflows, which can only happen in a row where some finite
entry satisfies :math:`a_s - m + \log M_{\min} < -700`. Such rows are detected and recomputed with a
plain ``logsumexp`` over the broadcast sum, so structural zeros (``-inf``) are never confused with
underflow.

This module defines the chain interface (:class:`LiftedChain`), the result type and the guarded
log-space products. The engines that use it: the reference log-space recursion
(:mod:`sims.inference.log_engine`), the certified scaled recursion (:mod:`sims.inference.scaled`) and the
log-depth parallel scan (:mod:`sims.inference.scan`); :func:`sims.inference.forward_backward` picks one
(:mod:`sims.inference.select`); token chains with top-K sparse transitions plus a rank-1 teleport take
the sparse engine (:mod:`sims.inference.sparse`). The engines never look at a language: everything they
need from a chain beyond the abstract methods (a per-token evidence table, a linear-space token
projection, a block structure, the tables of the lexicographic semiring, a sparse token transition) is
a method of the chain with a default that declines, so a new chain type works with the reference engine out of the box and opts into the fast
paths by overriding those methods.

Time direction: node index runs left to right over the sequence; it has nothing to do with diffusion
time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

#: Product terms are guaranteed to stay above exp(-SAFE_LOG_RANGE) (normal float64 numbers).
SAFE_LOG_RANGE = 700.0


def log_matmul_exp(
    log_x: torch.Tensor, mat: torch.Tensor, log_mat: torch.Tensor, min_log_mat: float
) -> torch.Tensor:
    r"""Return :math:`\log(\exp(\text{log\_x}) \,@\, \text{mat})`, exactly, in float64.

    Args:
        log_x: ``(..., N, S_in)`` log-weights (may contain ``-inf``).
        mat: ``(S_in, S_out)`` or ``(..., S_in, S_out)`` non-negative matrix whose leading dims match
            those of ``log_x``.
        log_mat: ``log(mat)`` (``-inf`` at zeros), same shape as ``mat``.
        min_log_mat: log of the smallest positive entry of ``mat`` (used for the underflow test).
    """
    m = log_x.amax(-1, keepdim=True)
    finite_row = torch.isfinite(m)
    m_safe = torch.where(finite_row, m, torch.zeros_like(m))
    shifted = log_x - m_safe
    out = torch.log(torch.exp(shifted) @ mat) + m_safe
    # Rows where some finite product term could fall below exp(-SAFE_LOG_RANGE): recompute exactly.
    lowest = torch.where(torch.isfinite(shifted), shifted, torch.zeros_like(shifted)).amin(-1)
    risky = (lowest + min_log_mat) < -SAFE_LOG_RANGE
    if bool(risky.any()):
        idx = risky.nonzero(as_tuple=True)
        rows = log_x[idx]  # (n, S_in)
        if mat.ndim == 2:
            lm = log_mat.unsqueeze(0)
        else:
            lm = log_mat[idx[:-1]]  # (n, S_in, S_out)
        out[idx] = torch.logsumexp(rows.unsqueeze(-1) + lm, dim=-2)
    return out


def min_positive_log(mat: torch.Tensor) -> float:
    """log of the smallest strictly positive entry of ``mat`` (0.0 if there is none)."""
    pos = mat[mat > 0]
    return float(torch.log(pos.min())) if pos.numel() else 0.0


def log_normalize(log_w: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(log_w - lse, lse)`` with ``lse = logsumexp(log_w, dim)``; rows of all ``-inf`` give NaN."""
    lse = torch.logsumexp(log_w, dim=dim, keepdim=True)
    return log_w - lse, lse.squeeze(dim)


class LiftedChain(ABC):
    """A first-order chain over ``num_states`` hidden states that emits a token sequence.

    Subclasses define how revealed tokens become per-node evidence and how node posteriors project
    back to per-position token posteriors. All tensors are float64 on :attr:`device`.
    """

    num_states: int
    vocab_size: int
    log_initial: torch.Tensor  # (S,)

    @property
    def device(self) -> torch.device:
        return self.log_initial.device

    @abstractmethod
    def num_nodes(self, length: int) -> int:
        """Number of chain nodes used for a token sequence of ``length``."""

    @abstractmethod
    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-evidence ``(first (B, S), rest (B, T-1, E))`` from tokens with mask id ``vocab_size``."""

    @abstractmethod
    def add_evidence(self, log_msg: torch.Tensor, log_ev: torch.Tensor) -> torch.Tensor:
        """Multiply (add in log space) compact node evidence ``(B, E)`` into a message ``(B, S)``."""

    @abstractmethod
    def propagate_forward(self, log_msg: torch.Tensor) -> torch.Tensor:
        r"""``log sum_s exp(msg[s]) A[s, s']`` for a batch of messages ``(B, S)``."""

    @abstractmethod
    def propagate_backward(self, log_msg: torch.Tensor) -> torch.Tensor:
        r"""``log sum_s' A[s, s'] exp(msg[s'])`` for a batch of messages ``(B, S)``."""

    @abstractmethod
    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        """Project node posteriors ``(B, T, S)`` to token posteriors ``(B, length, V)``."""

    # ---- optional capabilities (defaults decline; the engines fall back to generic paths) ------------
    @property
    def engine_cache(self) -> dict:
        """Per-chain cache of the fast engines (linear transitions and evidence tables per dtype)."""
        cache = self.__dict__.get("_engine_cache")
        if cache is None:
            cache = self.__dict__["_engine_cache"] = {}
        return cache

    def token_evidence_probe_length(self) -> int | None:
        """Length of a probe sequence whose last node's evidence depends on its last token only.

        Chains whose non-first node evidence is a function of one token (HMM: the emitted token;
        n-gram: the newest token of the window) return the length of a sequence for which that holds at
        the last node; the fast engines then read a ``(V+1, S)`` evidence table off :meth:`evidence` once.
        Chains with :meth:`final_log_weights` mean the evidence without them (the table is then read at
        that node of a probe one token longer). ``None`` (default): the evidence is built generically
        per batch.
        """
        return None

    def final_log_weights(self) -> torch.Tensor | None:
        """``(S,)`` log final weights that :meth:`evidence` adds to the last node's evidence, or ``None``.

        Automaton languages weight the state of the last node (the accepting states of a
        :class:`~sims.languages.formal.DFALanguage`, the final weights of an emission automaton). A chain
        that declares them and :meth:`token_evidence_probe_length` has per-token evidence at every node
        *except* for this extra factor on the last one: the table is read off a non-last node and the
        incremental engines (:mod:`sims.inference.incremental`) multiply the final weights in themselves.
        ``None`` (default): no final weights (every node's evidence is its tokens' alone).
        """
        return None

    def linear_token_marginals(self, gamma: torch.Tensor, length: int) -> torch.Tensor | None:
        """Token marginals ``(L, B, V)`` from *linear* node posteriors ``gamma`` ``(T, B, S)``, or ``None``.

        ``None`` (default) sends every row through the log-space projection
        (:meth:`token_log_marginals`). Chains that implement it must also give
        :meth:`projection_min_log` for the certificate of :mod:`sims.inference.linear`.
        """
        return None

    def projection_min_log(self) -> float:
        """log of the smallest positive factor of the linear token projection (0 for a pure selection)."""
        return 0.0

    def block_transition(self) -> BlockTransition | None:
        """The transition in block form for large chains (n-gram windows), or ``None`` (dense)."""
        return None

    def loo_node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Where each token's evidence enters the chain, for leave-one-out posteriors, or ``None``.

        Returns ``(nodes, log_ev)``: ``nodes`` ``(L,)`` long, the node whose evidence carries token i and
        from whose posterior :meth:`token_log_marginals` projects position i (masking token i changes the
        evidence of that node only); ``log_ev`` broadcastable to ``(B, L, S)``, the state-space
        log-evidence of node ``nodes[i]`` when token i is masked and every other token is as given. Used by
        :mod:`sims.inference.leave_one_out`; ``None`` (default) sends every row through the generic exact
        fallback (one posterior per revealed position).
        """
        return None

    def lexicographic_tables(self) -> LexTables | None:
        """Violation counts and log weights of the chain's own factors, for the minimum-violation
        fallback (:mod:`sims.inference.min_violation`); ``None`` (default) when the chain is not
        given by probability tables whose zeros could be smoothed."""
        return None

    def sparse_token_transition(self) -> SparseTokenTransition | None:
        """The transition as top-K sparse rows plus a rank-1 teleport, for a *token chain*, or ``None``.

        Only chains whose node t is the token at position t (``num_nodes(L) = L``, ``num_states =
        vocab_size``) and whose node evidence is the indicator of the revealed token (all ones for a
        mask) may return it; the sparse engine (:mod:`sims.inference.sparse`) then never touches the
        dense ``(V, V)`` transition. ``None`` (default): the dense engines are used.
        """
        return None


@dataclass
class BlockTransition:
    """An n-gram window transition kept in block form (see :class:`sims.inference.linear.LinearTransition`).

    Attributes:
        fwd: ``(R, a, x)`` forward blocks, ``bwd``: ``(R, x, a)`` backward blocks (float64), with
            ``R = V**(n-2)`` the number of middle windows.
        rest: R.
        min_log: log of the smallest positive transition probability.
    """

    fwd: torch.Tensor
    bwd: torch.Tensor
    rest: int
    min_log: float


@dataclass
class SparseTokenTransition:
    r"""A first-order token chain with transition :math:`A = S + \lambda \nu^\top` and initial law :math:`\pi`.

    :math:`S` is given row-wise in padded ("ELL") form: row c holds the entries ``values[c, k]`` at
    columns ``indices[c, k]`` (padding entries have value 0 and any column; the columns of the positive
    entries of a row are distinct). The
    rank-1 "teleport" term gives every row c the extra mass :math:`\lambda_c \nu_x` on token x (the
    mixture :math:`(1-\varepsilon) P_K + \varepsilon \mathbf 1 \nu^\top` of Tang et al., arXiv 2602.19619,
    is :math:`S = (1-\varepsilon) P_K`, :math:`\lambda = \varepsilon \mathbf 1`). Rows of :math:`A` must sum
    to one (the engine checks it). All tensors float64 on the chain's device.

    Attributes:
        initial: ``(V,)`` law of the first token.
        indices: ``(V, K)`` long column indices of :math:`S`.
        values: ``(V, K)`` non-negative entries of :math:`S`.
        teleport_weight: ``(V,)`` :math:`\lambda` (zeros allowed: exact zeros outside the top-K).
        teleport: ``(V,)`` :math:`\nu`, a probability vector (ignored where :math:`\lambda = 0`).
    """

    initial: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor
    teleport_weight: torch.Tensor
    teleport: torch.Tensor


@dataclass
class LexTables:
    """The chain's factors in the lexicographic (violation count, log weight) semiring.

    Attributes:
        init_count, init_logp: ``(S,)`` violations and log weight of the initial factor.
        trans_count, trans_logp: ``(S, S)`` same for the transition (count ``inf`` = structural zero).
        evidence_violations: True when a zero in the evidence of a revealed token is a violation (HMM
            emissions); False when it is a hard constraint (the one-hot evidence of n-gram windows).
    """

    init_count: torch.Tensor
    init_logp: torch.Tensor
    trans_count: torch.Tensor
    trans_logp: torch.Tensor
    evidence_violations: bool = True


@dataclass
class ChainPosterior:
    """Result of :func:`forward_backward`.

    Attributes:
        log_evidence: ``(B,)`` log-probability of the revealed tokens (``-inf`` if impossible).
        log_gamma: ``(B, T, S)`` normalised log node posteriors (uniform placeholder rows where the
            evidence is impossible).
        impossible: ``(B,)`` bool, True where the revealed tokens have probability zero.
    """

    log_evidence: torch.Tensor
    log_gamma: torch.Tensor
    impossible: torch.Tensor


class DenseTransitionChain(LiftedChain):
    r"""A lifted chain with one node per token and a dense ``(S, S)`` transition :math:`A`.

    The shared part of the dense chains (HMMs, automaton languages): node evidence multiplies in
    (adds in log space) and messages move by the guarded log-space product of :func:`log_matmul_exp`
    with :math:`A` or :math:`A^\top`. Subclasses call :meth:`set_transition` once and define the evidence
    and the token projection.
    """

    transition: torch.Tensor
    transition_t: torch.Tensor
    log_transition: torch.Tensor
    log_transition_t: torch.Tensor
    min_log_transition: float

    def set_transition(self, transition: torch.Tensor) -> None:
        """Store :math:`A`, its transpose, their logs (``-inf`` at structural zeros) and the certificate
        floor (log of the smallest positive entry)."""
        self.transition = transition
        self.transition_t = transition.T.contiguous()
        self.log_transition = torch.log(transition)
        self.log_transition_t = self.log_transition.T.contiguous()
        self.min_log_transition = min_positive_log(transition)

    def num_nodes(self, length: int) -> int:
        return length

    def add_evidence(self, log_msg: torch.Tensor, log_ev: torch.Tensor) -> torch.Tensor:
        return log_msg + log_ev

    def propagate_forward(self, log_msg: torch.Tensor) -> torch.Tensor:
        return log_matmul_exp(log_msg, self.transition, self.log_transition, self.min_log_transition)

    def propagate_backward(self, log_msg: torch.Tensor) -> torch.Tensor:
        return log_matmul_exp(log_msg, self.transition_t, self.log_transition_t, self.min_log_transition)
