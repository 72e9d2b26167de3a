r"""Exact log-probability of a multi-token draft given the revealed tokens: the joint, not a product.

For revealed tokens :math:`x_R` and a draft :math:`d` on masked positions D,

.. math::
    \log p(x_D = d \mid x_R) = \log p(x_R, x_D = d) - \log p(x_R),

two forward passes over the chain (:func:`sims.inference.forward_log_evidence`), exact to float64
rounding. This is what draft-and-verify rules need (APD, arXiv 2506.00413; self-speculative decoding,
arXiv 2510.04147; information-gain lookahead): the product of the marginals
:math:`\prod_{i \in D} p(x_i = d_i \mid x_R)` is the joint only when the drafted tokens are conditionally
independent given :math:`x_R`.

``chain_rule=True`` also returns the sequential conditionals in left-to-right position order,

.. math::
    \log p(x_{j} = d_{j} \mid x_R, d_{D_{<j}}) = \log p(x_R, d_{D_{\le j}}) - \log p(x_R, d_{D_{<j}}),

which sum to the joint: one forward pass per prefix of the draft, batched (|D| + 1 passes in total).

``laws=True`` returns the whole sequential conditional law at each drafted position,
:math:`p(x_j = \cdot \mid x_R, d_{D_{<j}})` (what an autoregressive verifier's causal pass gives, and what
speculative sampling needs for its residual law): one forward-backward pass per draft prefix, batched
(:func:`sims.inference.token_posteriors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sims.inference.chain import LiftedChain
from sims.inference.engine import forward_log_evidence, token_posteriors
from sims.validation import InvalidArgumentError


@dataclass
class DraftLogProb:
    """Result of :func:`draft_log_prob`.

    Attributes:
        joint: ``(B,)`` :math:`\\log p(x_D = d \\mid x_R)` (``-inf`` for an impossible draft; NaN where
            ``impossible``).
        impossible: ``(B,)`` True where the revealed tokens themselves have probability zero.
        conditionals: ``(B, L)`` sequential conditionals at the drafted positions (left to right), NaN
            elsewhere; ``None`` unless asked for.
        laws: ``(B, L, V)`` sequential conditional laws (log) at the drafted positions, NaN elsewhere and
            where the draft prefix before the position is impossible; ``None`` unless asked for.
    """

    joint: torch.Tensor
    impossible: torch.Tensor
    conditionals: torch.Tensor | None = None
    laws: torch.Tensor | None = None


def check_draft(tokens: torch.Tensor, draft: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The draft positions ``(B, L)`` bool; a draft must have the tokens' shape and fill masked positions
    only (mask id V elsewhere)."""
    if draft.shape != tokens.shape:
        raise InvalidArgumentError(
            f"draft must have the shape of tokens {tuple(tokens.shape)}, got {tuple(draft.shape)}"
        )
    if draft.dtype.is_floating_point or draft.dtype == torch.bool:
        raise InvalidArgumentError("draft must be an integer tensor (mask id V where nothing is drafted)")
    if draft.numel() and (int(draft.min()) < 0 or int(draft.max()) > vocab_size):
        raise InvalidArgumentError(f"draft tokens must lie in 0..{vocab_size} (mask id {vocab_size})")
    drafted = draft < vocab_size
    if bool((drafted & (tokens < vocab_size)).any()):
        raise InvalidArgumentError(
            "a draft may only fill masked positions (found a drafted revealed position)"
        )
    return drafted


def draft_log_prob(
    chain: LiftedChain,
    tokens: torch.Tensor,
    draft: torch.Tensor,
    chain_rule: bool = False,
    method: str = "auto",
    laws: bool = False,
) -> DraftLogProb:
    """Exact :math:`\\log p(x_D = d \\mid x_R)` for each row (module docstring).

    Args:
        chain: the language's lifted chain.
        tokens: ``(B, L)`` revealed tokens, mask id V.
        draft: ``(B, L)`` drafted tokens at masked positions, mask id V elsewhere.
        chain_rule: also return the sequential conditionals (one forward pass per draft prefix).
        method: forward engine (:func:`sims.inference.forward_log_evidence`).
        laws: also return the sequential conditional laws (one forward-backward pass per draft prefix).
    """
    V = chain.vocab_size
    drafted = check_draft(tokens, draft, V)
    merged = torch.where(drafted, draft, tokens)
    base = forward_log_evidence(chain, tokens, method)
    impossible = ~torch.isfinite(base)
    joint = forward_log_evidence(chain, merged, method) - base
    joint = torch.where(impossible, torch.full_like(joint, math.nan), joint)
    conditionals = None
    if chain_rule:
        conditionals = _sequential(chain, tokens, draft, drafted, base, method)
        conditionals = torch.where(
            impossible.unsqueeze(1), torch.full_like(conditionals, math.nan), conditionals
        )
    law = _sequential_laws(chain, tokens, draft, drafted, method) if laws else None
    return DraftLogProb(joint, impossible, conditionals, law)


def _sequential_laws(chain, tokens, draft, drafted, method) -> torch.Tensor:
    """Law at the drafted position of rank k from the posterior given the tokens and the draft of rank < k."""
    B, L = tokens.shape
    V = chain.vocab_size
    out = torch.full((B, L, V), math.nan, dtype=torch.float64, device=tokens.device)
    m = int(drafted.sum(1).max()) if B else 0
    if m == 0:
        return out
    rank = torch.cumsum(drafted.long(), 1) - 1
    prefixes = torch.cat([torch.where(drafted & (rank < k), draft, tokens) for k in range(m)])
    post = token_posteriors(chain, prefixes, method=method)
    lp = post.log_probs.reshape(m, B, L, V)
    bad = post.impossible.reshape(m, B)
    b, i = drafted.nonzero(as_tuple=True)
    k = rank[b, i]
    out[b, i] = torch.where(bad[k, b].unsqueeze(-1), math.nan, lp[k, b, i].to(torch.float64))
    return out


def _sequential(chain, tokens, draft, drafted, base, method) -> torch.Tensor:
    """Left-to-right chain-rule conditionals: prefix k reveals the draft tokens of rank < k."""
    B, L = tokens.shape
    rank = torch.cumsum(drafted.long(), 1) - 1  # rank of each drafted position within its row
    m = int(drafted.sum(1).max()) if B else 0
    prefixes = [torch.where(drafted & (rank < k), draft, tokens) for k in range(1, m + 1)]
    if m == 0:
        return torch.full((B, L), math.nan, dtype=torch.float64, device=tokens.device)
    ev = forward_log_evidence(chain, torch.cat(prefixes), method).reshape(m, B).T  # (B, m)
    ev = torch.cat([base.unsqueeze(1), ev], 1)  # (B, m + 1): evidence of prefixes 0..m
    steps = ev[:, 1:] - ev[:, :-1]  # (B, m)
    out = torch.full((B, L), math.nan, dtype=torch.float64, device=tokens.device)
    b, i = drafted.nonzero(as_tuple=True)
    out[b, i] = steps[b, rank[b, i]]
    return out
