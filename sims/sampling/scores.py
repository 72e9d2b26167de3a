r"""Position scores: one name, one formula, for every sampler that ranks masked positions.

A position rule reveals the candidates with the **highest** score first. Every ranking sampler takes its
score through the argument ``score=`` with these names (each sampler accepts the subset that its paper
defines):

===================  ====================================================================  ===========================
name                 score of position l (from the denoiser law :math:`p_l`)                used by
===================  ====================================================================  ===========================
``"random"``         none: a uniformly random order drawn before the denoiser call          fixed count (LLaDA random)
``"max_prob"``       :math:`\max_v p_l(v)` (context-only confidence)                        fixed count, EB, Fast-dLLM
``"sampled_prob"``   :math:`p_l(\hat x_l)` of the token :math:`\hat x_l` drawn at l         fixed count (LLaDA
                                                                                            low-confidence), Fast-dLLM
``"margin"``         top-1 minus top-2 probability                                          fixed count (Dream), EB
``"entropy"``        :math:`-H(p_l)` (lowest entropy first)                                 fixed count (Dream), EB
===================  ====================================================================  ===========================

Scores are computed from the *untempered* denoiser output. ``"sampled_prob"`` is the only score that
looks at the drawn values (:func:`score_uses_values`), which biases the output law even at one token per
step (tests/sims/test_samplers.py).
"""

from __future__ import annotations

import torch

from sims.validation import InvalidArgumentError, check_choice

SCORES = ("random", "max_prob", "sampled_prob", "margin", "entropy")


def check_score(score: str, allowed: tuple[str, ...]) -> str:
    """``score`` if it is one of ``allowed`` (a subset of :data:`SCORES`), else a ValueError naming it."""
    return check_choice(score, allowed, "score")


def score_uses_values(score: str) -> bool:
    """True when the score depends on the drawn token values (the exact kernel must enumerate them)."""
    return score == "sampled_prob"


def entropy_of_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) along the last axis, with 0 log 0 = 0."""
    terms = torch.exp(log_probs).mul_(log_probs)  # p log p; NaN exactly where p = 0 (0 * -inf)
    return -terms.nan_to_num_(nan=0.0).sum(-1)


def position_scores(score: str, log_probs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Scores ``(..., L)`` of every position from ``log_probs`` ``(..., L, V)`` and drawn ``values`` ``(..., L)``."""
    if score == "max_prob":
        return log_probs.max(-1).values.exp()
    if score == "sampled_prob":
        return log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
    if score == "margin":
        top2 = log_probs.exp().topk(min(2, log_probs.shape[-1]), dim=-1).values
        return top2[..., 0] - (top2[..., 1] if top2.shape[-1] > 1 else 0.0)
    if score == "entropy":
        return -entropy_of_log_probs(log_probs)
    if score == "random":
        raise InvalidArgumentError("score 'random' has no value: the order is drawn before the denoiser call")
    raise InvalidArgumentError(f"score must be one of {SCORES}, got {score!r}")
