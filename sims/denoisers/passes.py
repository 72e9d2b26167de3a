r"""Kinds of denoiser pass beyond the marginals, and the model-call convention of each.

Decoding policies need more than :math:`p(x_i \mid x_R)` at masked positions (research notes
``decoding_policies.md`` §2):

* **leave-one-out** (LOO) conditionals :math:`p(x_i \mid x_{R \setminus \{i\}})` at revealed positions:
  WINO's narrow-out check, P2's self-planning score, Saber's backtracking, informed correctors' Gibbs
  updates, running-confidence remasking;
* the **joint log-probability of a multi-token draft** :math:`\log p(x_D = d \mid x_R)` (and its
  left-to-right chain-rule conditionals and laws): APD's acceptance test, self-speculative verification;
* a **lookahead** of N candidate next states per row (their marginals, one batched call): the
  information-gain sampler's candidate evaluation.

Every kind of pass has a stated model-call convention (:data:`PASS_CONVENTIONS`): a policy that uses a
pass counts its calls this way and writes the convention into its ``Conventions.extras`` (key
``"passes"``), so NFE stays comparable across policies. A denoiser declares the passes it answers
(:meth:`sims.denoisers.base.Denoiser.passes`); the defaults decline with :class:`PassUnavailableError`.
The oracle answers all of them exactly (:class:`sims.denoisers.oracle.OracleDenoiser`). A trained MDM
can offer an *approximation* of leave-one-out by masked re-prediction (:func:`masked_leave_one_out`,
exact for the oracle, one call per revealed position), and of a draft's joint by the chain rule of its
own masked predictions; neither is the model's exact conditional unless the model is consistent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from sims.inference.leave_one_out import LeaveOneOutPosterior
from sims.validation import InvalidArgumentError, SuiteError


class PassUnavailableError(SuiteError, NotImplementedError):
    """The denoiser does not answer this kind of pass (see :meth:`sims.denoisers.base.Denoiser.passes`)."""


class EOSUnavailableError(PassUnavailableError):
    """A length policy (``Capabilities.needs_eos``) was given a denoiser that declares no end-of-sequence
    padding token (:meth:`sims.denoisers.base.Denoiser.eos_token` is None)."""


@dataclass(frozen=True)
class PassConvention:
    """How one kind of pass is counted and what it returns.

    Attributes:
        kind: the pass's name (key of :data:`PASS_CONVENTIONS`).
        nfe: model calls one pass of a batch row counts.
        returns: what the pass returns.
        oracle: how the exact oracle computes it.
        model: what a trained network would need to answer it (and whether the answer is approximate).
    """

    kind: str
    nfe: str
    returns: str
    oracle: str
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


PASS_CONVENTIONS: dict[str, PassConvention] = {
    "marginals": PassConvention(
        "marginals",
        "1 call per row whose state changed since its last call (the suite's cache rule)",
        "(B, L, V) p(x_i | x_R); one-hot at revealed positions",
        "one forward-backward pass",
        "one network forward pass",
    ),
    "leave_one_out": PassConvention(
        "leave_one_out",
        "1 call per row (all positions at once, as a hollow / leave-one-out network would give them)",
        "(B, L, V) p(x_i | x_{R minus i}) at every position (the marginal where i is masked)",
        "one forward-backward pass with retained messages (sims.inference.leave_one_out)",
        "a hollow network (one pass, exact for that network); an MDM can approximate it by masked "
        "re-prediction, 1 call per revealed position (masked_leave_one_out)",
    ),
    "draft_log_prob": PassConvention(
        "draft_log_prob",
        "1 call per row (a verifier scores the whole draft in one pass, like an AR model's causal pass)",
        "(B,) log p(x_D = d | x_R), the joint of the draft; optionally the left-to-right chain-rule "
        "conditionals (B, L) and the conditional laws at the drafted positions (B, L, V)",
        "two forward passes (|D| + 1 with the chain rule; |D| forward-backward passes for the laws), "
        "sims.inference.draft",
        "an AR or any-order model's chain rule in one causal pass; an MDM's product of marginals is "
        "not the joint, but the chain rule of its own masked predictions gives the sequential laws, 1 call "
        "per drafted position after the first (masked_draft_laws)",
    ),
    "lookahead": PassConvention(
        "lookahead",
        "1 call per row (the N candidate next states of a row evaluated in one batched forward, as the "
        "Info-Gain sampler's code does)",
        "(B * N, L, V) marginals p(x_i | candidate state) of N candidate states per row",
        "one forward-backward pass per candidate state",
        "one batched forward of the N states (the network's own marginals; every denoiser answers it)",
    ),
}


def pass_conventions(*kinds: str) -> dict:
    """Plain-dict conventions of the passes ``kinds`` (for a sampler's ``Conventions.extras['passes']``)."""
    unknown = [k for k in kinds if k not in PASS_CONVENTIONS]
    if unknown:
        raise InvalidArgumentError(f"unknown pass kinds {unknown}; known: {sorted(PASS_CONVENTIONS)}")
    return {k: PASS_CONVENTIONS[k].to_dict() for k in kinds}


def masked_leave_one_out(
    denoiser, tokens: torch.Tensor, chunk: int = 4096
) -> tuple[LeaveOneOutPosterior, int]:
    """Leave-one-out by masked re-prediction with any denoiser: position i's law from the call on the
    tokens with i masked. Exact for the oracle; a trained model's *own* masked conditional otherwise.

    Returns the posterior and the number of calls made (one per revealed position, plus one for the
    masked positions' marginals).
    """
    B, L = tokens.shape
    V = denoiser.vocab_size
    base = denoiser(tokens)
    out = base.log_probs.clone()
    impossible = base.impossible.unsqueeze(1).expand(B, L).clone()
    b_idx, i_idx = (tokens < V).nonzero(as_tuple=True)
    for start in range(0, b_idx.numel(), chunk):
        b, i = b_idx[start : start + chunk], i_idx[start : start + chunk]
        rows = tokens[b].clone()
        ar = torch.arange(b.numel(), device=rows.device)
        rows[ar, i] = V
        sub = denoiser(rows)
        out[b, i] = sub.log_probs[ar, i]
        impossible[b, i] = sub.impossible
    return LeaveOneOutPosterior(out, impossible, generic=True), B + int(b_idx.numel())


def masked_draft_laws(
    denoiser, tokens: torch.Tensor, draft: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Sequential laws of a draft by the chain rule of masked predictions, with any denoiser.

    The law at the j-th drafted position (left to right), :math:`p(x_{w_j} \mid x_R, d_{w_0}, \dots,
    d_{w_{j-1}})`, is read off one call on the tokens with the first j drafted tokens revealed. The first
    drafted position's law is the plain marginal, which the caller already holds: it is left NaN and not
    called for. Exact for the oracle (it equals the ``draft_log_prob`` pass's ``laws``); a trained model's
    *own* sequential conditionals otherwise, which are not a joint unless the model is consistent.

    Returns the laws ``(B, L, V)`` (log; NaN at the first drafted and at undrafted positions) and the calls
    per row ``(B,)`` (drafted positions minus one).
    """
    V = denoiser.vocab_size
    drafted = (draft < V) & (tokens == V)
    rank = torch.cumsum(drafted.long(), 1) - 1  # rank of each drafted position, left to right
    n = drafted.sum(1)
    laws = torch.full((*tokens.shape, V), math.nan, dtype=torch.float64, device=tokens.device)
    for j in range(1, int(n.max()) if n.numel() else 0):
        rows = (n > j).nonzero().flatten()
        known = drafted[rows] & (rank[rows] < j)
        inp = torch.where(known, draft[rows], tokens[rows])
        out = denoiser(inp).log_probs.to(laws.device, torch.float64)
        at = drafted[rows] & (rank[rows] == j)
        b, i = at.nonzero(as_tuple=True)
        laws[rows[b], i] = out[b, i]
    return laws, (n - 1).clamp(min=0)
