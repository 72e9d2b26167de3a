r"""Leave-one-out token posteriors from one forward-backward pass: :math:`p(x_i \mid x_{R \setminus \{i\}})`.

For a chain (:mod:`sims.inference.chain`) with forward messages :math:`\hat\alpha_t` (evidence of nodes
:math:`\le t`) and backward messages :math:`\hat\beta_t` (evidence of nodes :math:`> t`), the posterior of
node t *without its own evidence* is

.. math::
    \gamma^{-}_t(z) \propto \big(\hat\alpha_{t-1} A\big)(z)\; \hat\beta_t(z),
    \qquad \gamma^{-}_0(z) \propto \pi(z)\, \hat\beta_0(z).

If token i's evidence enters the chain at one node :math:`t(i)` only (HMM and automaton chains: node i;
n-gram chains: the window ending at i, or node 0 for the first n-1 tokens), the leave-one-out posterior
of position i is that node's posterior with token i's evidence removed and every other piece of evidence
kept: :math:`\gamma^{(i)}_{t(i)} \propto (\hat\alpha_{t(i)-1} A) \cdot e^{(-i)}_{t(i)} \cdot \hat\beta_{t(i)}`,
where :math:`e^{(-i)}_{t(i)}` is the node's evidence with token i masked
(:meth:`~sims.inference.chain.LiftedChain.loo_node_evidence`), projected to tokens by the chain's own
:meth:`~sims.inference.chain.LiftedChain.token_log_marginals`. One pass gives every position: these are
the conditionals the Gibbs-type correctors and remasking rules need (informed correctors, arXiv
2407.21243; WINO, arXiv 2507.18578; P2, arXiv 2502.03540). At a masked position the result is the
ordinary marginal (masking a masked token changes nothing).

Chains that do not give :meth:`~sims.inference.chain.LiftedChain.loo_node_evidence` take the generic
exact fallback: one posterior per revealed position, with that position masked (cost: one
forward-backward per revealed position instead of one in total).

Messages are kept in log space without placeholders (a row whose evidence is impossible keeps ``-inf``
entries), so a position whose *other* tokens are possible gets its exact conditional even when the full
evidence is impossible. Exact to float64 rounding (guarded log-matmuls, as the reference engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sims.inference.chain import LiftedChain
from sims.inference.engine import token_posteriors

#: Rows per chunk of the generic fallback (each revealed position becomes one row).
FALLBACK_CHUNK = 4096


@dataclass
class RetainedMessages:
    """Log-space messages of every node (no placeholders; ``-inf`` rows where evidence died).

    Attributes:
        pre: ``(B, T, S)`` forward message entering node t before its evidence (``log pi`` at t = 0).
        beta: ``(B, T, S)`` normalised backward messages (evidence of the nodes after t).
    """

    pre: torch.Tensor
    beta: torch.Tensor


@dataclass
class LeaveOneOutPosterior:
    """Leave-one-out token posteriors of a batch.

    Attributes:
        log_probs: ``(B, L, V)`` float64 :math:`\\log p(x_i = v \\mid x_{R \\setminus \\{i\\}})` at every
            position i (the ordinary marginal where i is masked); the uniform law where impossible.
        impossible: ``(B, L)`` bool, True where the revealed tokens other than i have probability zero.
        generic: True when the chain declined :meth:`~sims.inference.chain.LiftedChain.loo_node_evidence`
            and the generic fallback (one posterior per revealed position) was used.
    """

    log_probs: torch.Tensor
    impossible: torch.Tensor
    generic: bool = False


def _normalise(log_w: torch.Tensor) -> torch.Tensor:
    """Subtract the row logsumexp where it is finite; rows of all ``-inf`` stay ``-inf`` (no NaN)."""
    lse = torch.logsumexp(log_w, -1, keepdim=True)
    return torch.where(torch.isfinite(lse), log_w - lse, log_w)


def retained_messages(chain: LiftedChain, tokens: torch.Tensor) -> RetainedMessages:
    """Forward (before each node's evidence) and backward log messages of every node (module docstring)."""
    first, rest = chain.evidence(tokens)
    B, n = first.shape[0], rest.shape[1]
    S = chain.num_states
    pre = torch.empty((B, n + 1, S), dtype=torch.float64, device=first.device)
    pre[:, 0] = chain.log_initial.unsqueeze(0).expand(B, S)
    alpha = _normalise(pre[:, 0] + first)
    for t in range(n):
        pre[:, t + 1] = chain.propagate_forward(alpha)
        alpha = _normalise(chain.add_evidence(pre[:, t + 1], rest[:, t]))
    beta = torch.empty_like(pre)
    b = torch.zeros((B, S), dtype=torch.float64, device=first.device)
    beta[:, n] = b
    for t in range(n - 1, -1, -1):
        b = _normalise(chain.propagate_backward(chain.add_evidence(b, rest[:, t])))
        beta[:, t] = b
    return RetainedMessages(pre, beta)


def leave_one_out_posteriors(
    chain: LiftedChain, tokens: torch.Tensor, method: str = "auto"
) -> LeaveOneOutPosterior:
    """:math:`p(x_i \\mid x_{R \\setminus \\{i\\}})` for every position of ``tokens`` ``(B, L)`` (mask id V).

    One retained forward-backward pass when the chain gives
    :meth:`~sims.inference.chain.LiftedChain.loo_node_evidence`, else the generic fallback
    (``method`` selects its engine, :func:`sims.inference.token_posteriors`).
    """
    layout = chain.loo_node_evidence(tokens)
    if layout is None:
        return _generic(chain, tokens, method)
    nodes, log_ev = layout
    B, L = tokens.shape
    V, S = chain.vocab_size, chain.num_states
    msgs = retained_messages(chain, tokens)
    log_gamma = msgs.pre[:, nodes] + log_ev + msgs.beta[:, nodes]  # (B, L, S)
    lse = torch.logsumexp(log_gamma, -1, keepdim=True)
    impossible = ~torch.isfinite(lse.squeeze(-1))
    uniform_s = -math.log(S)
    log_gamma = torch.where(torch.isfinite(lse), log_gamma - lse, torch.full_like(log_gamma, uniform_s))
    out = torch.empty((B, L, V), dtype=torch.float64, device=tokens.device)
    T = msgs.pre.shape[1]
    # positions sharing a node (the first n-1 tokens of an n-gram) are projected in separate rounds
    rank = torch.zeros(L, dtype=torch.long)
    seen: dict[int, int] = {}
    for i, t in enumerate(nodes.tolist()):
        rank[i] = seen.get(t, 0)
        seen[t] = rank[i].item() + 1
    for r in range(int(rank.max()) + 1 if L else 0):
        pos = (rank == r).nonzero().flatten().to(tokens.device)
        gamma_r = torch.full((B, T, S), uniform_s, dtype=torch.float64, device=tokens.device)
        gamma_r[:, nodes[pos]] = log_gamma[:, pos]
        out[:, pos] = chain.token_log_marginals(gamma_r, L)[:, pos]
    out[impossible] = -math.log(V)
    return LeaveOneOutPosterior(out, impossible)


def _generic(chain: LiftedChain, tokens: torch.Tensor, method: str) -> LeaveOneOutPosterior:
    """Exact fallback: the ordinary posterior, then one posterior per revealed position with it masked."""
    B, L = tokens.shape
    V = chain.vocab_size
    post = token_posteriors(chain, tokens, method=method)
    out = post.log_probs.clone()
    impossible = post.impossible.unsqueeze(1).expand(B, L).clone()
    b_idx, i_idx = (tokens < V).nonzero(as_tuple=True)
    for start in range(0, b_idx.numel(), FALLBACK_CHUNK):
        b, i = b_idx[start : start + FALLBACK_CHUNK], i_idx[start : start + FALLBACK_CHUNK]
        rows = tokens[b].clone()
        rows[torch.arange(b.numel(), device=rows.device), i] = V
        sub = token_posteriors(chain, rows, method=method)
        out[b, i] = sub.log_probs[torch.arange(b.numel(), device=rows.device), i]
        impossible[b, i] = sub.impossible
    out[impossible] = -math.log(V)
    return LeaveOneOutPosterior(out, impossible, generic=True)
