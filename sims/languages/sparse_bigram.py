r"""Bigram languages with top-K sparse transitions plus a rank-1 teleport: large vocabularies, exact.

.. math::
    q(x_{1:L}) = \pi(x_1) \prod_{t \ge 2} A(x_{t-1}, x_t), \qquad A = S + \lambda \nu^\top,

with :math:`S` holding at most K entries per row (padded "ELL" layout: ``indices``/``values`` of shape
``(V, K)``), :math:`\lambda_c \ge 0` the teleport mass of row c and :math:`\nu` the teleport law. This is
the ground-truth family of Tang et al. (arXiv 2602.19619): :math:`P' = (1-\varepsilon) P_K +
\varepsilon \mathbf 1 \nu^\top`. With :math:`\lambda = 0` the language has exact zeros outside the top-K
support (sequence error is meaningful); with :math:`\lambda > 0` and :math:`\nu > 0` every sequence is
possible. Storage and every computation are :math:`O(VK)`; the dense :math:`V \times V` matrix is formed
only on request (:meth:`SparseBigramLanguage.to_dense`, or by the dense engines when asked explicitly).

Exact paths: sampling (float64 inverse CDF over the dense row of each current token, the same draws as
the equivalent dense :class:`~sims.languages.ngram.NGramLanguage`), log-probability (look-ups),
entropy :math:`H = H(\pi) + \sum_{t \ge 1} \mu_t \cdot h` with row entropies :math:`h` in
:math:`O(VK)` and :math:`\mu_{t+1} = \mu_t A` propagated sparsely, token violations. The entropy rate
uses the stationary law by power iteration (:meth:`SparseBigramLanguage.stationary_law`, converged to a
stated L1 tolerance). The oracle uses the sparse engine (:mod:`sims.inference.sparse`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sims.categorical import sample_categorical
from sims.inference.chain import BlockTransition, LexTables, LiftedChain, SparseTokenTransition
from sims.inference.linear import DENSE_MAX_STATES
from sims.inference.min_violation import split_zeros
from sims.inference.sparse_ops import (
    check_sparse_transition,
    dense_rows,
    dense_transition,
    entries,
    log_backward,
    log_forward,
    sparse_operator,
)
from sims.languages.base import Language
from sims.languages.ngram import NGramLanguage
from sims.validation import (
    ROW_SUM_ATOL,
    InvalidDistributionError,
    as_float64,
    check_positive_int,
    check_tokens,
)


class SparseBigramChain(LiftedChain):
    """Token chain of a :class:`SparseBigramLanguage`: node t is the token at position t."""

    def __init__(self, tr: SparseTokenTransition):
        self.tr = tr
        self.num_states = self.vocab_size = tr.indices.shape[0]
        self.log_initial = torch.log(tr.initial)
        V = self.vocab_size
        eye = torch.log(torch.eye(V, dtype=torch.float64, device=tr.initial.device))
        self._evidence_table = torch.cat([eye, torch.zeros((1, V), dtype=torch.float64, device=eye.device)])

    def num_nodes(self, length: int) -> int:
        return length

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ev = self._evidence_table[tokens]  # (B, L, V): O(B L V), used by the reference engine only
        return ev[:, 0], ev[:, 1:]

    def add_evidence(self, log_msg: torch.Tensor, log_ev: torch.Tensor) -> torch.Tensor:
        return log_msg + log_ev

    def propagate_forward(self, log_msg: torch.Tensor) -> torch.Tensor:
        return log_forward(self.tr, log_msg)

    def propagate_backward(self, log_msg: torch.Tensor) -> torch.Tensor:
        return log_backward(self.tr, log_msg)

    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        return log_gamma.clone()

    # ---- optional engine capabilities (sims.inference.chain.LiftedChain) ----------------------------
    def sparse_token_transition(self) -> SparseTokenTransition:
        return self.tr

    def token_evidence_probe_length(self) -> int:
        return 2

    def linear_token_marginals(self, gamma: torch.Tensor, length: int) -> torch.Tensor:
        return gamma

    def block_transition(self) -> BlockTransition | None:
        """The dense matrix as one block (only when a dense engine is requested explicitly)."""
        if self.num_states <= DENSE_MAX_STATES:
            return None
        a = dense_transition(self.tr)
        pos = a[a > 0]
        return BlockTransition(a.unsqueeze(0), a.T.contiguous().unsqueeze(0), 1, float(torch.log(pos.min())))

    def lexicographic_tables(self) -> LexTables | None:
        """Dense lexicographic tables for the minimum-violation fallback, for V <= 256 only (O(V^2))."""
        if self.num_states > DENSE_MAX_STATES:
            return None
        ic, il = split_zeros(self.tr.initial)
        tc, tl = split_zeros(dense_transition(self.tr))
        return LexTables(ic, il, tc, tl, evidence_violations=False)


class SparseBigramLanguage(Language):
    """A bigram language with transition ``S + teleport_weight * teleport^T`` (module docstring).

    Args:
        initial: ``(V,)`` law of the first token.
        indices: ``(V, K)`` columns of the sparse part (distinct within a row where the value is > 0).
        values: ``(V, K)`` entries of the sparse part (>= 0; zeros are padding).
        teleport_weight: ``(V,)`` teleport mass of each row (zeros allowed); default all zero.
        teleport: ``(V,)`` teleport law (required when some weight is > 0).

    Each row of ``values`` plus its teleport weight must sum to 1 within ``ROW_SUM_ATOL`` (then both
    are divided by the sum, which only removes rounding noise).
    """

    def __init__(self, initial, indices, values, teleport_weight=None, teleport=None, device=None):
        vals = as_float64(values, "values", device)
        dev = vals.device
        if vals.ndim != 2:
            raise InvalidDistributionError(f"values must be (V, K), got shape {tuple(vals.shape)}")
        V, K = vals.shape
        self.vocab_size = check_positive_int(V, "vocab_size")
        idx = torch.as_tensor(indices, device=dev)
        if idx.dtype.is_floating_point or tuple(idx.shape) != (V, K):
            raise ValueError(f"indices must be an integer (V, K) = ({V}, {K}) tensor, got {tuple(idx.shape)}")
        idx = idx.long().clone()  # own compact storage (the input may be a view of a larger array)
        if int(idx.min()) < 0 or int(idx.max()) >= V:
            raise ValueError(f"indices must lie in 0..{V - 1}")
        lam = torch.zeros(V, dtype=torch.float64, device=dev)
        if teleport_weight is not None:
            lam = as_float64(teleport_weight, "teleport_weight", dev).reshape(-1)
        nu = torch.full((V,), 1.0 / V, dtype=torch.float64, device=dev)
        if teleport is not None:
            nu = as_float64(teleport, "teleport", dev)
        elif bool((lam > 0).any()):
            raise InvalidDistributionError("teleport: a teleport law is needed when some teleport_weight > 0")
        for name, t in (("values", vals), ("teleport_weight", lam)):
            if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
                raise InvalidDistributionError(f"{name}: entries must be finite and >= 0")
        if lam.shape != (V,):
            raise InvalidDistributionError(f"teleport_weight: expected shape ({V},), got {tuple(lam.shape)}")
        nu = _check_law(nu, "teleport", V)
        pi = _check_law(as_float64(initial, "initial", dev), "initial", V)
        _check_distinct(idx, vals)
        sums = vals.sum(1) + lam
        off = (sums - 1).abs() > ROW_SUM_ATOL
        if bool(off.any()):
            row = int(off.nonzero()[0, 0])
            raise InvalidDistributionError(
                f"values/teleport_weight: row {row} sums to {float(sums[row])!r}, not 1 (tolerance {ROW_SUM_ATOL})"
            )
        self.tr = SparseTokenTransition(pi, idx, vals / sums[:, None], lam / sums, nu)
        check_sparse_transition(self.tr)
        self._chain: SparseBigramChain | None = None

    # ---- construction helpers ----------------------------------------------------------------------
    @property
    def top_k(self) -> int:
        return self.tr.indices.shape[1]

    @property
    def device(self) -> torch.device:
        return self.tr.values.device

    def to(self, device) -> SparseBigramLanguage:
        tr = self.tr
        return SparseBigramLanguage(
            tr.initial, tr.indices, tr.values, tr.teleport_weight, tr.teleport, device=device
        )

    def chain(self) -> SparseBigramChain:
        if self._chain is None:
            self._chain = SparseBigramChain(self.tr)
        return self._chain

    def min_length(self) -> int:
        return 1

    def to_dense(self) -> NGramLanguage:
        """The same language as a dense order-2 :class:`NGramLanguage` (O(V^2) memory)."""
        return NGramLanguage(
            2, self.vocab_size, self.tr.initial, dense_transition(self.tr), device=self.device
        )

    def transition_rows(self, tokens: torch.Tensor) -> torch.Tensor:
        """Dense next-token laws ``(n, V)`` after each of ``tokens`` ``(n,)``."""
        return dense_rows(self.tr, tokens)

    # ---- direct paths ---------------------------------------------------------------------------------
    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        length = self.check_length(length)
        out = torch.empty((n, length), dtype=torch.long, device=self.device)
        x = sample_categorical(self.tr.initial.expand(n, -1), generator)
        out[:, 0] = x
        for t in range(1, length):
            x = sample_categorical(dense_rows(self.tr, x), generator)
            out[:, t] = x
        return out

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False).to(self.device)
        self.check_length(tokens.shape[1])
        lp = torch.log(self.tr.initial)[tokens[:, 0]]
        if tokens.shape[1] > 1:
            a = entries(self.tr, tokens[:, :-1].reshape(-1), tokens[:, 1:].reshape(-1))
            lp = lp + torch.log(a).reshape(tokens.shape[0], -1).sum(1)
        return lp

    def token_violations(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bool: position 0 with :math:`\\pi(x_0) = 0`, or t with :math:`A(x_{t-1}, x_t) = 0`."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False).to(self.device)
        bad = torch.zeros(tokens.shape, dtype=torch.bool, device=self.device)
        bad[:, 0] = self.tr.initial[tokens[:, 0]] == 0
        if tokens.shape[1] > 1:
            a = entries(self.tr, tokens[:, :-1].reshape(-1), tokens[:, 1:].reshape(-1))
            bad[:, 1:] = (a == 0).reshape(tokens.shape[0], -1)
        return bad

    def row_entropies(self) -> torch.Tensor:
        r"""``(V,)`` entropies (nats) of the rows of A in :math:`O(VK)` (module docstring)."""
        tr = self.tr
        on = tr.values > 0
        lam_nu = tr.teleport_weight[:, None] * tr.teleport[tr.indices]  # teleport part on the stored columns
        a = tr.values + lam_nu
        stored = torch.where(on, torch.special.xlogy(a, a), torch.zeros_like(a)).sum(1)
        tele_stored = torch.where(on, torch.special.xlogy(lam_nu, lam_nu), torch.zeros_like(a)).sum(1)
        lam = tr.teleport_weight
        nu_h = float(torch.special.xlogy(tr.teleport, tr.teleport).sum())
        tele_all = torch.special.xlogy(lam, lam) + lam * nu_h  # sum_x (lam nu_x) log(lam nu_x)
        return -(stored + tele_all - tele_stored)

    def token_marginals(self, length: int) -> torch.Tensor:
        """``(L, V)`` marginal laws of each position (sparse propagation, O(L V K))."""
        op = sparse_operator(self.chain(), torch.float64)
        mu = [self.tr.initial.unsqueeze(0)]
        for _ in range(length - 1):
            mu.append(op.forward(mu[-1]))
        return torch.cat(mu)

    def entropy(self, length: int) -> float:
        length = self.check_length(length)
        h0 = float(-torch.special.xlogy(self.tr.initial, self.tr.initial).sum())
        if length == 1:
            return h0
        mus = self.token_marginals(length - 1)  # laws of the tokens preceding positions 1..L-1
        return h0 + float((mus @ self.row_entropies()).sum())

    def stationary_law(self, tol: float = 1e-13, max_iter: int = 100_000) -> torch.Tensor:
        """Stationary law :math:`\\pi A = \\pi` by power iteration from the uniform law (sparse steps).

        Converged when the L1 change of one step is below ``tol``; raises if that does not happen within
        ``max_iter`` steps (periodic or slowly mixing chains), naming the last change.
        """
        op = sparse_operator(self.chain(), torch.float64)
        V = self.vocab_size
        mu = torch.full((1, V), 1.0 / V, dtype=torch.float64, device=self.device)
        change = math.inf
        for _ in range(max_iter):
            nxt = op.forward(mu)
            nxt = nxt / nxt.sum()
            change = float((nxt - mu).abs().sum())
            mu = nxt
            if change < tol:
                return mu[0]
        raise InvalidDistributionError(
            f"stationary_law: power iteration did not converge in {max_iter} steps (last L1 change {change:.3g})"
        )

    def entropy_rate(self) -> float:
        r"""Stationary entropy rate :math:`\sum_c \pi(c) h_c` (nats/token)."""
        return float(self.stationary_law() @ self.row_entropies())

    def describe(self) -> dict:
        tr = self.tr
        return {
            "type": "SparseBigramLanguage",
            "vocab_size": self.vocab_size,
            "top_k": self.top_k,
            "stored_entries": int((tr.values > 0).sum()),
            "teleport_rows": int((tr.teleport_weight > 0).sum()),
            "mean_teleport_weight": float(tr.teleport_weight.mean()),
        }

    def __repr__(self) -> str:
        return f"SparseBigramLanguage(V={self.vocab_size}, K={self.top_k}, device={self.device})"


def _check_law(t: torch.Tensor, name: str, V: int) -> torch.Tensor:
    t = t.reshape(-1)
    if t.numel() != V:
        raise InvalidDistributionError(f"{name}: expected {V} entries, got {t.numel()}")
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise InvalidDistributionError(f"{name}: entries must be finite and >= 0")
    s = float(t.sum())
    if abs(s - 1) > ROW_SUM_ATOL:
        raise InvalidDistributionError(f"{name}: sums to {s!r}, not 1 (tolerance {ROW_SUM_ATOL})")
    return t / s


def _check_distinct(idx: torch.Tensor, vals: torch.Tensor) -> None:
    """Columns holding a positive value must be distinct within each row."""
    V = idx.shape[0]
    key = torch.where(vals > 0, idx, V + torch.arange(idx.shape[1], device=idx.device))  # padding: unique
    srt = key.sort(1).values
    dup = (srt[:, 1:] == srt[:, :-1]).any(1)
    if bool(dup.any()):
        row = int(dup.nonzero()[0, 0])
        raise InvalidDistributionError(f"indices: row {row} lists a column twice with positive values")


def random_sparse_bigram(
    vocab_size: int,
    top_k: int,
    *,
    teleport: float = 0.0,
    concentration: float = 0.5,
    zipf: float = 1.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> SparseBigramLanguage:
    """A random language of the family, seeded: successors drawn Zipf(``zipf``)-popular without
    replacement, Dirichlet(``concentration``) weights, a constant teleport weight ``teleport`` towards the
    Zipf law, and the stationary law as the initial law (the peer's set-up with random tables)."""
    V = check_positive_int(vocab_size, "vocab_size")
    K = check_positive_int(top_k, "top_k")
    if K > V:
        raise ValueError(f"top_k {K} exceeds vocab_size {V}")
    if not 0.0 <= teleport < 1.0:
        raise ValueError(f"teleport must lie in [0, 1), got {teleport}")
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, V + 1, dtype=np.float64) ** zipf
    pop /= pop.sum()
    idx = np.stack([np.sort(rng.choice(V, size=K, replace=False, p=pop)) for _ in range(V)])
    vals = rng.dirichlet(np.full(K, float(concentration)), size=V)
    vals = np.maximum(vals, np.finfo(np.float64).tiny)  # keep the support exact (no underflow to 0)
    vals = (1 - teleport) * vals / vals.sum(1, keepdims=True)
    lam = np.full(V, teleport)
    lang = SparseBigramLanguage(np.full(V, 1.0 / V), idx, vals, lam, pop)
    return SparseBigramLanguage(lang.stationary_law(), idx, vals, lam, pop, device=device)
