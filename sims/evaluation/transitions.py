r"""Transition-level KL and TV rates of generated sequences, as Tang et al. report them.

Tang, Yu, Zhang & Ver Steeg ("Is Your Diffusion Sampler Actually Correct?", arXiv 2602.19619; code
LuhanTang/dllm_sampler, ``sampler/metrics_full.py``) compare the empirical first-order transitions of
generated sequences with the ground-truth chain. With :math:`M` observed consecutive pairs, row counts
:math:`n_i`, weights :math:`w_i = n_i / M` and the empirical conditionals :math:`\hat p(j \mid i)`:

.. math::
    \text{KL rate} = \sum_i w_i\, KL\big(\hat p(\cdot \mid i) \,\Vert\, q(\cdot \mid i)\big), \qquad
    \text{TV rate} = \sum_i w_i\, \tfrac12 \big\lVert \hat p(\cdot \mid i) - q(\cdot \mid i) \big\rVert_1 .

Their reference :math:`q(\cdot \mid i)` is a first-order chain smoothed by a teleport term, so their KL
is always finite. Ours is the language's *exact* position-pooled transition law

.. math::
    q(j \mid i) = \frac{\sum_t P(x_t = i, x_{t+1} = j)}{\sum_t P(x_t = i)},

from the exact pair marginals of its emission automaton
(:meth:`sims.languages.emission.AutomatonLanguage.pair_marginals`); for a stationary bigram it is the
transition matrix itself, for other languages it is the suite's extension of their metric (labelled).
Exact zeros are kept, so a sampler that produces an impossible transition has an infinite KL rate; the
fraction of such pairs is reported beside it (``impossible_rate``), with the finite TV rate.

Both rates are plug-in estimates, biased upwards for finite samples even for exact samples of q: compare
with :func:`transition_rates` of the same number of exact samples (the *data floor*), as the bench does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from sims.languages.automaton_forms import emission_automaton
from sims.languages.base import Language
from sims.languages.emission import AutomatonLanguage
from sims.validation import InvalidArgumentError, check_tokens


@dataclass
class TransitionReference:
    """The exact position-pooled transition law of a language at one length.

    Attributes:
        conditional: ``(V, V)`` :math:`q(j \\mid i)`; rows of tokens that never precede another are NaN.
        pair_law: ``(V, V)`` pooled pair law :math:`\\frac{1}{L-1} \\sum_t P(x_t = i, x_{t+1} = j)`.
    """

    conditional: torch.Tensor
    pair_law: torch.Tensor


@dataclass
class TransitionRates:
    """Tang et al.'s transition-level rates of a set of sequences (nats; module docstring)."""

    kl_rate: float
    tv_rate: float
    entropy_rate: float
    impossible_rate: float
    pairs: int

    def to_dict(self) -> dict:
        return asdict(self)


def reference_transitions(language: Language, length: int) -> TransitionReference:
    """:class:`TransitionReference` of ``language`` on sequences of ``length`` (at least 2)."""
    if length < 2:
        raise InvalidArgumentError(f"transitions need sequences of length >= 2, got {length}")
    lang = (
        language
        if isinstance(language, AutomatonLanguage)
        else AutomatonLanguage(emission_automaton(language))
    )
    pooled = lang.pair_marginals(length).sum(0) / (length - 1)
    rows = pooled.sum(1, keepdim=True)
    conditional = torch.where(rows > 0, pooled / rows, torch.full_like(pooled, math.nan))
    return TransitionReference(conditional, pooled)


def transition_rates(tokens: torch.Tensor, reference: TransitionReference) -> TransitionRates:
    """Empirical KL / TV / entropy rates of ``tokens`` ``(N, L)`` against ``reference`` (module docstring)."""
    V = reference.conditional.shape[0]
    tokens = check_tokens(tokens, V, allow_mask=False).to(reference.conditional.device)
    prev, nxt = tokens[:, :-1].reshape(-1), tokens[:, 1:].reshape(-1)
    M = prev.numel()
    if M == 0:
        raise InvalidArgumentError("transition rates need at least one pair of consecutive tokens")
    counts = torch.zeros(V * V, dtype=torch.float64, device=tokens.device)
    counts.index_add_(0, prev * V + nxt, torch.ones(M, dtype=torch.float64, device=tokens.device))
    counts = counts.reshape(V, V)
    row = counts.sum(1)
    w = row / M
    seen = row > 0
    p_hat = torch.where(seen.unsqueeze(1), counts / row.clamp(min=1).unsqueeze(1), torch.zeros_like(counts))
    q = torch.nan_to_num(reference.conditional, nan=0.0)
    impossible = float(counts[(q == 0)].sum() / M)
    log_ratio = torch.where(p_hat > 0, torch.log(p_hat) - torch.log(q), torch.zeros_like(p_hat))
    kl_rows = (p_hat * log_ratio).sum(1)
    kl = math.inf if impossible > 0 else float((w * kl_rows).sum())
    tv = float((w * 0.5 * (p_hat - q).abs().sum(1)).sum())
    ent = float((w * -torch.special.xlogy(p_hat, p_hat).sum(1)).sum())
    return TransitionRates(kl, tv, ent, impossible, M)
