r"""EB-sampler: entropy-bounded adaptive unmasking (Ben-Hamu et al., arXiv 2505.24857, Eq. 2, Alg. 1).

At each step, with predictive laws :math:`p_l = p(x^l \mid \text{visible})` from **one** denoiser call:

1. rank the candidate (masked) positions by an error proxy, best first (Eq. 1):
   ``"entropy"`` (lowest :math:`H(p_l)`), ``"confidence"`` (highest :math:`\max_v p_l(v)`) or ``"margin"``
   (highest top-1 minus top-2 probability);
2. unmask the **longest prefix** U of that order with

   .. math::  \sum_{l \in U} H(p_l) - \max_{l \in U} H(p_l) \le \gamma \qquad (\text{nats});

   the left side is non-decreasing in the prefix length, so this is the paper's
   ``(cumsum(H) - cummax(H) <= gamma).sum()``; it is 0 for a single position, so at least one token is
   unmasked per step; :math:`\gamma = 0` gives one token per step (plus free zero-entropy ties);
3. draw every :math:`l \in U` independently from :math:`p_l` (at ``temperature``).

Conventions (named in :meth:`EBSampler.conventions`):

* entropies and proxies are computed from the *untempered* denoiser output; tokens are drawn at
  ``temperature`` (1 = the law the theory is about; the paper's experiments use 0 = argmax);
* ties in the proxy (scores rounded to 40 fractional bits, as in :func:`sims.sampling.base.rank_positions`)
  are broken uniformly at random by default (``tie_break="random"``) or towards the lowest position
  (``"lowest_index"``), and entropies are rounded to 40 fractional bits before the cumulative test. With
  ``"lowest_index"`` the rule is a deterministic function of the denoiser output, as the exact KL identity
  of :mod:`theory.parallel_bounds` requires (with random ties it holds per tie order, and the mixture's KL
  is at most the average by convexity);
* ``block_length``: optional semi-autoregressive blocks (only masked positions of the leftmost unfinished
  block are candidates; the paper's App. D ablation uses 64); default one block;
* calls: one per step while masked positions remain; the number of steps is random (at most L).

Unconfirmed details (no official code; the paper gives a listing): whether entropies are computed before
or after temperature/top-p adjustments, and tie-breaking. Both are labelled conventions above.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import (
    SCORE_BITS,
    check_tie_break,
    entropy_of_log_probs,
    rank_positions,
    reveal_values,
    selection_law,
)
from sims.sampling.stepping import (
    RunState,
    SteppedSampler,
    block_candidates,
    check_block_length,
    check_temperature,
    ranked_reveal_step,
)
from sims.validation import check_positive_int

PROXIES = ("entropy", "confidence", "margin")


def quantize(values: torch.Tensor) -> torch.Tensor:
    """Round to :data:`SCORE_BITS` fractional bits (sums of a few thousand such numbers are exact)."""
    scale = 2.0**SCORE_BITS
    return torch.round(values.to(torch.float64) * scale) / scale


def proxy_scores(log_probs: torch.Tensor, proxy: str) -> torch.Tensor:
    """Higher = unmasked earlier: -entropy, max probability, or top-1 minus top-2 probability."""
    if proxy == "entropy":
        return -entropy_of_log_probs(log_probs)
    p = torch.exp(log_probs)
    if proxy == "confidence":
        return p.max(-1).values
    if proxy == "margin":
        top2 = p.topk(min(2, p.shape[-1]), dim=-1).values
        return top2[..., 0] - (top2[..., 1] if top2.shape[-1] > 1 else 0.0)
    raise ValueError(f"proxy must be one of {PROXIES}, got {proxy!r}")


def eb_select(
    log_probs: torch.Tensor,
    candidates: torch.Tensor,
    gamma: float,
    proxy: str,
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``(n, L)``: the EB set of each row (module docstring); rows without candidates get none.

    ``order`` is the proxy ranking (best first); by default :func:`rank_positions` with lowest-index ties.
    """
    if order is None:
        order = rank_positions(proxy_scores(log_probs, proxy), candidates)  # (n, L) best first
    h = quantize(entropy_of_log_probs(log_probs))
    h_sorted = h.gather(1, order)
    valid = candidates.gather(1, order)
    h_sorted = torch.where(valid, h_sorted, torch.zeros_like(h_sorted))
    excess = torch.cumsum(h_sorted, 1) - torch.cummax(h_sorted, 1).values
    count = (valid & (excess <= gamma)).sum(1)  # excess is non-decreasing: this is the longest prefix
    keep = torch.arange(order.shape[1], device=order.device).unsqueeze(0) < count.unsqueeze(1)
    out = torch.zeros_like(candidates)
    out.scatter_(1, order, keep & valid)
    return out


class EBSampler(SteppedSampler):
    """Entropy-bounded unmasking; see the module docstring.

    Args:
        gamma: entropy budget per step in nats (>= 0; ``float('inf')`` unmasks everything at once).
        proxy: ranking proxy, one of :data:`PROXIES`.
        temperature: token temperature (1 = exact law; 0 = argmax, the paper's experiments).
        block_length: semi-AR block size (None = whole sequence).
        tie_break: ``"random"`` (default) or ``"lowest_index"`` (deterministic rule).
        precision: categorical sampling precision.
    """

    def __init__(
        self,
        gamma: float = 0.1,
        proxy: str = "entropy",
        temperature: float = 1.0,
        block_length: int | None = None,
        tie_break: str = "random",
        precision: Precision = "float64",
    ):
        super().__init__(precision)
        self.tie_break = check_tie_break(tie_break)
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if proxy not in PROXIES:
            raise ValueError(f"proxy must be one of {PROXIES}, got {proxy!r}")
        self.gamma, self.proxy = float(gamma), proxy
        self.temperature = check_temperature(temperature)
        self.block_length = None if block_length is None else check_positive_int(block_length, "block_length")
        self.name = f"eb_{proxy}_g{gamma:g}" + ("" if block_length is None else f"_block{block_length}")

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": "EB: longest proxy-ordered prefix with sum H - max H <= gamma",
            "gamma_nats": self.gamma,
            "proxy": self.proxy,
            "temperature": self.temperature,
            "block_length": self.block_length,
            "entropy_from": "untempered denoiser output",
            "ties": f"{self.tie_break}; proxy and entropies rounded to 40 fractional bits",
            "last_step": "runs until no mask is left (at most L steps)",
            "precision": self.precision,
            "nfe": "one call per step while masks remain",
            "source": "arXiv 2505.24857 Eq. 2 / Alg. 1",
        }

    def candidates(self, x: torch.Tensor, vocab_size: int) -> torch.Tensor:
        return block_candidates(x, vocab_size, self.block_length)

    def _step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        ranked_reveal_step(
            self,
            state,
            k,
            generator,
            lambda lp, values: proxy_scores(lp, self.proxy),
            lambda lp, cand, values, order: eb_select(lp, cand, self.gamma, self.proxy, order),
        )

    # ---- exact law ------------------------------------------------------------------------------
    def select_positions(self, state: tuple, step: int, log_probs: torch.Tensor) -> tuple:
        """The set U the rule unmasks from ``state`` (deterministic: needs ``tie_break="lowest_index"``)."""
        if self.tie_break != "lowest_index":
            raise ValueError("select_positions needs a deterministic rule: use tie_break='lowest_index'")
        return next(iter(self._position_law(state, log_probs)))

    def _position_law(self, state: tuple, log_probs: torch.Tensor) -> dict[tuple, float]:
        """Law of the unmasked set (a single set unless random ties are possible)."""
        x = torch.tensor([state], dtype=torch.long)
        V = log_probs.shape[-1]
        lp = log_probs.unsqueeze(0).to(torch.float64)
        cand = self.candidates(x, V)
        return selection_law(
            proxy_scores(lp, self.proxy)[0],
            cand[0],
            self.tie_break,
            lambda order: eb_select(lp, cand, self.gamma, self.proxy, order.unsqueeze(0))[0],
        )

    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        if V not in state:
            return [(state, 1.0)]
        return [
            t
            for sel, w in self._position_law(state, log_probs).items()
            for t in reveal_values(state, sel, log_probs, w, self.temperature)
        ]
