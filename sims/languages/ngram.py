r"""n-gram languages of any order n over V tokens.

.. math::
    q(x_{1:L}) = \rho(x_{1:n-1}) \prod_{t=n}^{L} P(x_t \mid x_{t-n+1:t-1}),

with an initial law :math:`\rho` over the first :math:`n-1` tokens (shape :math:`V^{n-1}`) and a
transition table :math:`P` (shape :math:`V^{n-1} \times V`). Contexts are indexed as base-V numbers
with the *oldest* token most significant: context :math:`(c_1..c_{n-1}) \mapsto \sum_k c_k V^{n-1-k}`.

Lifted chain (for the oracle): node :math:`j` is the window of the :math:`n-1` tokens ending at position
:math:`j+n-2` (0-based), so node 0 holds :math:`x_{0:n-2}` and carries their evidence jointly, and
node :math:`j \ge 1` adds token :math:`x_{j+n-2}`. The transition :math:`(a, r) \to (r, x)` has
probability :math:`P(x \mid a, r)`; it is applied as V^{n-2} small V x V products (O(V^n) per node)
instead of a dense :math:`V^{n-1} \times V^{n-1}` matrix. Order 1 (i.i.d. tokens) is a one-state chain.

Direct paths (no chain): sampling, log-probability, and the exact entropy
:math:`H = H(\rho) + \sum_{t \ge n} \sum_c \mu_{t}(c) H(P(\cdot \mid c))`, with :math:`\mu_t` the law of
the context preceding position t, propagated exactly.
"""

from __future__ import annotations

import math

import torch

from sims.categorical import sample_categorical
from sims.inference.chain import BlockTransition, LexTables, LiftedChain, log_matmul_exp, min_positive_log
from sims.inference.min_violation import split_zeros
from sims.languages.base import Language
from sims.languages.hmm import HMMChain
from sims.languages.markov import stationary_distribution
from sims.validation import (
    InvalidDistributionError,
    as_float64,
    check_device,
    check_generator,
    check_positive_int,
    check_stochastic,
    check_tokens,
)


def check_ngram_tables(order: int, vocab_size: int, initial, transition, device=None):
    """The exact layouts of an n-gram's tables, checked before anything is reshaped.

    ``transition``: ``(V**(n-1), V)`` (row = context, oldest token most significant) or ``(V,)*n``; order 1
    also ``(V,)``. ``initial``: ``(V**(n-1),)`` or ``(V,)*(n-1)``. A flat or transposed table has the
    right number of entries but not the right shape and is rejected with the expected shape (a flat
    ``(V**n,)`` transition would otherwise be read as one law over V**n entries, and the language would
    no longer sum to 1). Returns the validated ``(initial (V**(n-1),), transition (V**(n-1), V))``.
    """
    V, n_ctx = vocab_size, vocab_size ** (order - 1)
    trans = as_float64(transition, "transition")
    allowed = {(n_ctx, V), (V,) * order} | ({(V,)} if order == 1 else set())
    if tuple(trans.shape) not in allowed:
        transposed = " (transposed? rows must be contexts)" if tuple(trans.shape) == (V, n_ctx) else ""
        raise InvalidDistributionError(
            f"transition: order {order} over V={V} needs {n_ctx}x{V} entries laid out as shape "
            f"{(n_ctx, V)} = (V**(n-1), V) or {(V,) * order} = (V,)*n, got shape {tuple(trans.shape)}"
            f"{transposed}"
        )
    trans = check_stochastic(
        trans, "transition", device=device, layout="(V**(n-1), V): row = context"
    ).reshape(n_ctx, V)
    if order == 1:
        return torch.ones(1, dtype=torch.float64, device=trans.device), trans
    if initial is None:
        raise InvalidDistributionError("initial: an n-gram of order >= 2 needs an initial law")
    init = as_float64(initial, "initial")
    if tuple(init.shape) not in {(n_ctx,), (V,) * (order - 1)}:
        raise InvalidDistributionError(
            f"initial: order {order} over V={V} needs {n_ctx} entries laid out as shape {(n_ctx,)} = "
            f"(V**(n-1),) or {(V,) * (order - 1)} = (V,)*(n-1), got shape {tuple(init.shape)}"
        )
    # The initial law is one joint vector over V**(n-1) windows, whatever shape it comes in.
    init = check_stochastic(init.reshape(-1), "initial", device=trans.device)
    return init.reshape(n_ctx), trans


def _entropy_rows(p: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each row of ``p`` with 0 log 0 = 0."""
    return -torch.special.xlogy(p, p).sum(-1)


class NGramChain(LiftedChain):
    """Chain view of an n-gram language (order >= 2); see the module docstring."""

    def __init__(self, order: int, vocab_size: int, initial: torch.Tensor, transition: torch.Tensor):
        self.order, self.vocab_size = order, vocab_size
        V = vocab_size
        self.num_states = V ** (order - 1)
        self.rest = V ** (order - 2)
        self.log_initial = torch.log(initial)
        self.transition = transition  # (S, V): P(x | context)
        # P[a, r, x] with a the oldest context token and r the remaining n-2 tokens.
        p = transition.reshape(V, self.rest, V)
        self.fwd = p.permute(1, 0, 2).contiguous()  # (R, a, x)
        self.log_fwd = torch.log(self.fwd)
        self.bwd = p.permute(1, 2, 0).contiguous()  # (R, x, a)
        self.log_bwd = torch.log(self.bwd)
        self.min_log = min_positive_log(transition)
        z = torch.zeros((1, V), dtype=torch.float64, device=transition.device)
        eye = torch.log(torch.eye(V, dtype=torch.float64, device=transition.device))
        self._evidence_table = torch.cat([eye, z], dim=0)  # (V+1, V): one-hot logs, mask row = 0

    def num_nodes(self, length: int) -> int:
        return length - self.order + 2

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = tokens.shape[0]
        V, k = self.vocab_size, self.order - 1
        ev = self._evidence_table[tokens]  # (B, L, V)
        first = torch.zeros((B,) + (V,) * k, dtype=torch.float64, device=tokens.device)
        for i in range(k):
            shape = [B] + [1] * k
            shape[1 + i] = V
            first = first + ev[:, i].reshape(shape)
        return first.reshape(B, self.num_states), ev[:, k:]

    def add_evidence(self, log_msg: torch.Tensor, log_ev: torch.Tensor) -> torch.Tensor:
        B = log_msg.shape[0]
        return (log_msg.reshape(B, self.rest, self.vocab_size) + log_ev.unsqueeze(1)).reshape(B, -1)

    def propagate_forward(self, log_msg: torch.Tensor) -> torch.Tensor:
        B, V, R = log_msg.shape[0], self.vocab_size, self.rest
        x = log_msg.reshape(B, V, R).permute(2, 0, 1)  # (R, B, a)
        out = log_matmul_exp(x, self.fwd, self.log_fwd, self.min_log)  # (R, B, x)
        return out.permute(1, 0, 2).reshape(B, R * V)  # state (r, x)

    def propagate_backward(self, log_msg: torch.Tensor) -> torch.Tensor:
        B, V, R = log_msg.shape[0], self.vocab_size, self.rest
        x = log_msg.reshape(B, R, V).permute(1, 0, 2)  # (R, B, x)
        out = log_matmul_exp(x, self.bwd, self.log_bwd, self.min_log)  # (R, B, a)
        return out.permute(1, 2, 0).reshape(B, V * R)  # state (a, r)

    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        B, T, _ = log_gamma.shape
        V, k = self.vocab_size, self.order - 1
        out = torch.empty((B, length, V), dtype=torch.float64, device=log_gamma.device)
        g0 = log_gamma[:, 0].reshape((B,) + (V,) * k)
        for i in range(k):
            dims = [1 + j for j in range(k) if j != i]
            out[:, i] = torch.logsumexp(g0, dim=dims) if dims else g0
        out[:, k:] = torch.logsumexp(log_gamma[:, 1:].reshape(B, T - 1, self.rest, V), dim=2)
        return out

    # ---- optional engine capabilities (sims.inference.chain.LiftedChain) ----------------------------
    def token_evidence_probe_length(self) -> int:
        return self.order  # the last node of a length-n sequence is the window ending at its last token

    def linear_token_marginals(self, gamma: torch.Tensor, length: int) -> torch.Tensor:
        """``(L, B, V)`` token marginals from linear node posteriors ``(T, B, S)`` (window sums)."""
        T, B, _ = gamma.shape
        V, k = self.vocab_size, self.order - 1
        out = torch.empty((length, B, V), dtype=gamma.dtype, device=gamma.device)
        g0 = gamma[0].reshape((B,) + (V,) * k)
        for i in range(k):
            dims = [1 + j for j in range(k) if j != i]
            out[i] = g0.sum(dim=dims) if dims else g0
        if T > 1:
            out[k:] = gamma[1:].reshape(T - 1, B, self.rest, V).sum(2)
        return out

    def block_transition(self) -> BlockTransition:
        return BlockTransition(self.fwd, self.bwd, self.rest, float(self.min_log))

    def loo_node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token i >= n-1 is the newest token of node i-n+2 (masked: no evidence); the first n-1 tokens
        share node 0, whose evidence without token i is the one-hot evidence of the other n-2."""
        B, L = tokens.shape
        V, k = self.vocab_size, self.order - 1
        nodes = torch.clamp(torch.arange(L, device=tokens.device) - k + 1, min=0)
        log_ev = torch.zeros((B, L, self.num_states), dtype=torch.float64, device=tokens.device)
        ev = self._evidence_table[tokens[:, :k]]  # (B, k, V)
        for i in range(k):
            first = torch.zeros((B,) + (V,) * k, dtype=torch.float64, device=tokens.device)
            for j in range(k):
                if j != i:
                    shape = [B] + [1] * k
                    shape[1 + j] = V
                    first = first + ev[:, j].reshape(shape)
            log_ev[:, i] = first.reshape(B, self.num_states)
        return nodes, log_ev

    def lexicographic_tables(self) -> LexTables:
        V, S, R = self.vocab_size, self.num_states, self.rest
        ic, il = split_zeros(torch.exp(self.log_initial))
        pc, pl = split_zeros(self.transition)  # (S, V): P(x | context)
        tc = torch.full((S, S), math.inf, dtype=torch.float64, device=self.device)
        tl = torch.zeros((S, S), dtype=torch.float64, device=self.device)
        ctx = torch.arange(S, device=self.device)
        for x in range(V):
            nxt = (ctx % R) * V + x  # window (a, r) -> (r, x)
            tc[ctx, nxt] = pc[:, x]
            tl[ctx, nxt] = pl[:, x]
        return LexTables(ic, il, tc, tl, evidence_violations=False)


class NGramLanguage(Language):
    """n-gram language of order ``order`` (n >= 1) over ``vocab_size`` tokens.

    Args:
        order: n. Order 1 means i.i.d. tokens with law ``transition`` (shape (V,) or (1, V)); ``initial``
            is then ignored and may be None.
        vocab_size: V.
        initial: law of the first n-1 tokens, shape ``(V**(n-1),)`` or ``(V,)*(n-1)``.
        transition: next-token laws, shape ``(V**(n-1), V)`` or ``(V,)*n``; zeros allowed (sparse support).
    """

    def __init__(
        self, order: int, vocab_size: int, initial, transition, device: torch.device | str | None = None
    ):
        self.order = check_positive_int(order, "order")
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        if device is not None:
            device = check_device(device)
        self.initial, self.transition = check_ngram_tables(
            self.order, self.vocab_size, initial, transition, device
        )
        self._chain = None

    @property
    def device(self) -> torch.device:
        return self.transition.device

    @property
    def num_contexts(self) -> int:
        return self.vocab_size ** (self.order - 1)

    def to(self, device) -> NGramLanguage:
        return NGramLanguage(
            self.order,
            self.vocab_size,
            self.initial if self.order > 1 else None,
            self.transition,
            device=device,
        )

    def chain(self) -> LiftedChain:
        if self._chain is None:
            if self.order == 1:
                one = torch.ones((1, 1), dtype=torch.float64, device=self.device)
                self._chain = HMMChain(one[0], one, self.transition)
            else:
                self._chain = NGramChain(self.order, self.vocab_size, self.initial, self.transition)
        return self._chain

    def min_length(self) -> int:
        return max(1, self.order - 1)

    # ---- direct (chain-free) paths -------------------------------------------------------------
    def _decode_context(self, ctx: torch.Tensor) -> torch.Tensor:
        """Context indices (N,) -> tokens (N, n-1), oldest first."""
        k, V = self.order - 1, self.vocab_size
        powers = V ** torch.arange(k - 1, -1, -1, device=ctx.device)
        return (ctx.unsqueeze(-1) // powers) % V

    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        length = self.check_length(length)
        check_generator(generator)
        k, V = self.order - 1, self.vocab_size
        out = torch.empty((n, length), dtype=torch.long, device=self.device)
        ctx = torch.zeros(n, dtype=torch.long, device=self.device)
        if k > 0:
            ctx = sample_categorical(self.initial.expand(n, -1), generator)
            out[:, :k] = self._decode_context(ctx)
        rest = V ** max(k - 1, 0)
        for t in range(k, length):
            x = sample_categorical(self.transition[ctx], generator)
            out[:, t] = x
            if k > 0:
                ctx = (ctx % rest) * V + x
        return out

    def context_indices(self, tokens: torch.Tensor) -> torch.Tensor:
        """Index of the n-1 tokens ending at each position >= n-2: shape ``(B, L-n+2)``."""
        k, V = self.order - 1, self.vocab_size
        windows = tokens.unfold(1, k, 1)  # (B, L-k+1, k)
        powers = V ** torch.arange(k - 1, -1, -1, device=tokens.device)
        return (windows * powers).sum(-1)

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False).to(self.device)
        self.check_length(tokens.shape[1])
        log_t = torch.log(self.transition)
        k = self.order - 1
        if k == 0:
            return log_t[0][tokens].sum(-1)
        ctx = self.context_indices(tokens)
        lp = torch.log(self.initial)[ctx[:, 0]]
        if tokens.shape[1] > k:
            lp = lp + log_t[ctx[:, :-1], tokens[:, k:]].sum(-1)
        return lp

    def token_violations(self, tokens: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B, L)``: position t breaks the support locally.

        For t >= n-1: ``P(x_t | x_{t-n+1:t-1}) = 0``. The first n-1 positions are flagged together when
        ``rho(x_{1:n-1}) = 0``. A sequence is in the support iff no position is flagged.
        """
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False).to(self.device)
        k = self.order - 1
        bad = torch.zeros(tokens.shape, dtype=torch.bool, device=self.device)
        if k == 0:
            return self.transition[0][tokens] == 0
        ctx = self.context_indices(tokens)
        bad[:, :k] = (self.initial[ctx[:, 0]] == 0).unsqueeze(-1)
        if tokens.shape[1] > k:
            bad[:, k:] = self.transition[ctx[:, :-1], tokens[:, k:]] == 0
        return bad

    def _propagate_context(self, mu: torch.Tensor) -> torch.Tensor:
        """Law of the next context window given the law ``mu`` (S,) of the current one."""
        V, k = self.vocab_size, self.order - 1
        rest = V ** (k - 1)
        joint = mu.unsqueeze(-1) * self.transition  # (a*R + r, x)
        return joint.reshape(V, rest, V).sum(0).reshape(-1)

    def context_marginals(self, length: int) -> torch.Tensor:
        """``(L-n+2, V**(n-1))``: law of the window ending at positions n-2, ..., L-1."""
        mu = self.initial.clone()
        out = [mu]
        for _ in range(length - self.order + 1):
            mu = self._propagate_context(mu)
            out.append(mu)
        return torch.stack(out)

    def entropy(self, length: int) -> float:
        length = self.check_length(length)
        row_h = _entropy_rows(self.transition)
        if self.order == 1:
            return float(length * row_h[0])
        h = float(_entropy_rows(self.initial.unsqueeze(0))[0])
        n_steps = length - self.order + 1
        if n_steps > 0:
            mus = self.context_marginals(length)[:-1]  # contexts preceding positions n-1..L-1
            h += float((mus @ row_h).sum())
        return h

    def stationary_context_law(self) -> torch.Tensor:
        """Stationary law of the lifted chain over contexts (error if it is not unique)."""

        V, k = self.vocab_size, self.order - 1
        if k == 0:
            return torch.ones(1, dtype=torch.float64, device=self.device)
        dense = torch.zeros((V**k, V**k), dtype=torch.float64)
        rest = V ** (k - 1)
        ctx = torch.arange(V**k)
        for x in range(V):
            dense[ctx, (ctx % rest) * V + x] = self.transition[:, x].cpu()
        return stationary_distribution(dense).to(self.device)

    def entropy_rate(self) -> float:
        r"""Stationary entropy rate :math:`\sum_c \pi(c) H(P(\cdot\mid c))` (nats/token)."""
        if self.order == 1:
            return float(_entropy_rows(self.transition)[0])
        return float(self.stationary_context_law() @ _entropy_rows(self.transition))

    def describe(self) -> dict:
        return {
            "type": "NGramLanguage",
            "order": self.order,
            "vocab_size": self.vocab_size,
            "support_fraction": float((self.transition > 0).double().mean()),
        }

    def __repr__(self) -> str:
        return f"NGramLanguage(n={self.order}, V={self.vocab_size}, device={self.device})"
