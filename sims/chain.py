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

Engines: this module holds the reference log-space recursion (:func:`forward_backward_log`). The
certified scaled recursion (:mod:`sims.chain_scaled`) and the log-depth parallel scan
(:mod:`sims.chain_scan`) compute the same posterior, faster; :func:`forward_backward` picks one
(:mod:`sims.chain_select`).

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


def forward_log_evidence(chain: LiftedChain, tokens: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Forward pass only: ``log p(revealed tokens)`` for each row, ``-inf`` where impossible.

    ``method``: ``"log"`` (the reference log-space recursion below), ``"scaled"`` (certified scaled
    recursion of :mod:`sims.chain_scaled`, exact rows recomputed by the log recursion) or ``"auto"``
    (= ``"scaled"``). All give the same values to float64 rounding.
    """
    if method == "log":
        return forward_log_evidence_log(chain, tokens)
    if method not in ("auto", "scaled"):
        raise ValueError(f"method must be 'auto', 'scaled' or 'log', got {method!r}")
    from sims.chain_linear import fast_engines_apply
    from sims.chain_scaled import forward_log_evidence_scaled

    if method == "auto" and (
        chain.num_nodes(tokens.shape[1]) - 1 < MIN_FAST_STEPS or not fast_engines_apply(chain)
    ):
        return forward_log_evidence_log(chain, tokens)

    return forward_log_evidence_scaled(chain, tokens)


def forward_log_evidence_log(chain: LiftedChain, tokens: torch.Tensor) -> torch.Tensor:
    """Reference log-space forward pass (exact; one guarded log-matmul per node)."""
    first, rest = chain.evidence(tokens)
    msg, log_z = log_normalize(chain.log_initial.unsqueeze(0) + first)
    for t in range(rest.shape[1]):
        dead = ~torch.isfinite(log_z)
        if bool(dead.any()):
            msg = torch.where(dead.unsqueeze(-1), torch.zeros_like(msg), msg)  # keep the row finite
        msg, c = log_normalize(chain.add_evidence(chain.propagate_forward(msg), rest[:, t]))
        log_z = log_z + c
    return torch.where(torch.isfinite(log_z), log_z, torch.full_like(log_z, -torch.inf))


#: With fewer chain steps than this, ``"auto"`` uses the log engine (the fast engines' fixed cost of
#: ~30 vectorised operations is not repaid; measured on the development CPU).
MIN_FAST_STEPS = 3

#: Engines accepted by :func:`forward_backward`.
METHODS = ("auto", "log", "scaled", "scan")
#: Arithmetic precisions accepted by :func:`forward_backward`.
PRECISIONS = ("float64", "float32", "tf32")


def forward_backward(
    chain: LiftedChain, tokens: torch.Tensor, method: str = "auto", precision: str = "float64"
) -> ChainPosterior:
    """Batched forward-backward posterior of the chain nodes given revealed tokens.

    Args:
        chain: the lifted chain.
        tokens: ``(B, L)`` token ids, mask id ``chain.vocab_size``.
        method: ``"log"`` (reference log-space recursion, :func:`forward_backward_log`), ``"scaled"``
            (certified scaled recursion, :mod:`sims.chain_scaled`), ``"scan"`` (log-depth parallel
            scan, :mod:`sims.chain_scan`) or ``"auto"`` (chosen by size and device,
            :func:`sims.chain_select.select_method`). In float64 all engines agree to rounding: the
            fast ones certify every step against underflow and recompute uncertified rows with the
            log engine.
        precision: ``"float64"`` (default, exact to rounding), ``"float32"`` (approximate, certified
            against float32 underflow; ``"scaled"``/``"scan"``) or ``"tf32"`` (float32 scan with TF32
            CUDA matmuls allowed; on CPU identical to ``"float32"``). Outputs are float64 either way.
    """
    method = resolve_method(chain, tokens, method, precision)
    if method == "log":
        return forward_backward_log(chain, tokens)
    dtype = torch.float64 if precision == "float64" else torch.float32
    if method == "scaled":
        from sims.chain_scaled import forward_backward_scaled

        return forward_backward_scaled(chain, tokens, dtype=dtype)
    from sims.chain_scan import forward_backward_scan

    return forward_backward_scan(chain, tokens, dtype=dtype, tf32=precision == "tf32")


def resolve_method(chain: LiftedChain, tokens: torch.Tensor, method: str, precision: str) -> str:
    """Validate ``method``/``precision`` and resolve ``"auto"`` to a concrete engine."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if method == "auto":
        from sims.chain_linear import fast_engines_apply
        from sims.chain_select import select_method

        tiny = chain.num_nodes(tokens.shape[1]) - 1 < MIN_FAST_STEPS
        if precision == "float64" and (tiny or not fast_engines_apply(chain)):
            return "log"
        method = select_method(
            tokens.shape[0], chain.num_nodes(tokens.shape[1]), chain.num_states, tokens.device, precision
        )
    if method == "log" and precision != "float64":
        raise ValueError("the log engine runs in float64 only; use method='scaled' or 'scan'")
    if method == "scaled" and precision == "tf32":
        raise ValueError("precision='tf32' needs method='scan'")
    return method


def token_posteriors(
    chain: LiftedChain, tokens: torch.Tensor, method: str = "auto", precision: str = "float64"
):
    """Token posteriors of every position: a :class:`sims.chain_linear.TokenPosterior`.

    Same engines and arguments as :func:`forward_backward`. The fast engines project the node posteriors
    to tokens in linear space with a certificate (:mod:`sims.chain_linear`); the log engine uses
    ``chain.token_log_marginals``. All agree to float64 rounding in float64.
    """
    from sims.chain_linear import token_posterior_from_chain_posterior

    method = resolve_method(chain, tokens, method, precision)
    dtype = torch.float64 if precision == "float64" else torch.float32
    if method == "log":
        return token_posterior_from_chain_posterior(
            chain, forward_backward_log(chain, tokens), tokens.shape[1]
        )
    if method == "scaled":
        from sims.chain_scaled import token_posteriors_scaled

        return token_posteriors_scaled(chain, tokens, dtype)
    from sims.chain_scan import token_posteriors_scan

    return token_posteriors_scan(chain, tokens, dtype, tf32=precision == "tf32")


def forward_backward_log(chain: LiftedChain, tokens: torch.Tensor) -> ChainPosterior:
    """Reference batched log-space forward-backward; see the module docstring for the recursions."""
    first, rest = chain.evidence(tokens)
    batch, n_rest = first.shape[0], rest.shape[1]
    S = chain.num_states
    uniform = torch.full(
        (S,),
        -float(torch.log(torch.tensor(float(S), dtype=torch.float64))),
        dtype=torch.float64,
        device=first.device,
    )

    alphas = torch.empty((batch, n_rest + 1, S), dtype=torch.float64, device=first.device)
    msg, log_z = log_normalize(chain.log_initial.unsqueeze(0) + first)
    impossible = ~torch.isfinite(log_z)
    msg = torch.where(impossible.unsqueeze(-1), uniform, msg)
    alphas[:, 0] = msg
    for t in range(n_rest):
        msg, c = log_normalize(chain.add_evidence(chain.propagate_forward(msg), rest[:, t]))
        dead = ~torch.isfinite(c)
        impossible = impossible | dead
        msg = torch.where(dead.unsqueeze(-1), uniform, msg)
        log_z = log_z + torch.where(dead, torch.zeros_like(c), c)
        alphas[:, t + 1] = msg

    betas = torch.empty_like(alphas)
    beta = torch.zeros((batch, S), dtype=torch.float64, device=first.device)
    betas[:, n_rest] = beta
    for t in range(n_rest - 1, -1, -1):
        beta, c = log_normalize(chain.propagate_backward(chain.add_evidence(beta, rest[:, t])))
        beta = torch.where(torch.isfinite(c).unsqueeze(-1), beta, torch.zeros_like(beta))
        betas[:, t] = beta

    log_gamma, norm = log_normalize(alphas + betas)
    bad = ~torch.isfinite(norm)  # only possible in impossible rows
    impossible = impossible | bad.any(-1)
    log_gamma = torch.where(impossible[:, None, None], uniform, log_gamma)
    log_z = torch.where(impossible, torch.full_like(log_z, -torch.inf), log_z)
    return ChainPosterior(log_evidence=log_z, log_gamma=log_gamma, impossible=impossible)
