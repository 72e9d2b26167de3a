r"""EB-sampler: entropy-bounded adaptive unmasking (Ben-Hamu et al., arXiv 2505.24857, Eq. 2, Alg. 1).

At each step, with predictive laws :math:`p_l = p(x^l \mid \text{visible})` from **one** denoiser call:

1. rank the candidate (masked) positions by an error proxy, best first (Eq. 1), the argument ``score``
   (:mod:`sims.sampling.scores`): ``"entropy"`` (lowest :math:`H(p_l)`), ``"max_prob"`` (the paper's
   "confidence", highest :math:`\max_v p_l(v)`) or ``"margin"`` (highest top-1 minus top-2 probability);
2. unmask the **longest prefix** U of that order with

   .. math::  \sum_{l \in U} H(p_l) - \max_{l \in U} H(p_l) \le \gamma \qquad (\text{nats});

   the left side is non-decreasing in the prefix length, so this is the paper's
   ``(cumsum(H) - cummax(H) <= gamma).sum()``; it is 0 for a single position, so at least one token is
   unmasked per step; :math:`\gamma = 0` gives one token per step (plus free zero-entropy ties);
3. draw every :math:`l \in U` independently from :math:`p_l` (at ``temperature``).

Conventions (named in :meth:`EBSampler.conventions`):

* entropies and scores are computed from the *untempered* denoiser output; tokens are drawn at
  ``temperature`` (1 = the law the theory is about; the paper's experiments use 0 = argmax);
* ties in the score (rounded to 40 fractional bits, as in :func:`sims.sampling.ranking.rank_positions`)
  are broken uniformly at random by default (``tie_break="random"``) or towards the lowest position
  (``"lowest_index"``), and entropies are rounded to 40 fractional bits before the cumulative test. With
  ``"lowest_index"`` the rule is a deterministic function of the denoiser output, as the exact KL identity
  of :mod:`theory.parallel_bounds` requires (with random ties it holds per tie order, and the mixture's KL
  is at most the average by convexity);
* ``block_length``: optional semi-autoregressive blocks (only masked positions of the leftmost unfinished
  block are candidates; the paper's App. D ablation uses 64); default one block;
* calls: one per step while masked positions remain; the number of steps is random (at most L).

Exact kernel with random ties and the entropy score (:meth:`EBSampler.set_law`): within a tie group the
entropies are equal, so the number of positions the rule takes is the same for every order; the set is
the groups before the boundary group plus a uniformly random subset of the needed size of the boundary
group. The law is computed from that (binomially many sets, not factorially many orders); where a tie
group does not have one entropy (another score) the orders are enumerated as for every ranked sampler.

Unconfirmed details (no official code; the paper gives a listing): whether entropies are computed before
or after temperature/top-p adjustments, and tie-breaking. Both are labelled conventions above.
"""

from __future__ import annotations

import itertools

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.ranked import AdaptiveRankedStepSampler
from sims.sampling.ranking import quantize, quantized_scores, rank_positions
from sims.sampling.scores import entropy_of_log_probs, position_scores
from sims.validation import check_real

#: the scores (:mod:`sims.sampling.scores`) the EB rule accepts (Eq. 1 of the paper)
EB_SCORES = ("entropy", "max_prob", "margin")


def eb_select(
    log_probs: torch.Tensor,
    candidates: torch.Tensor,
    gamma: float,
    score: str = "entropy",
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``(n, L)``: the EB set of each row (module docstring); rows without candidates get none.

    ``order`` is the ranking by ``score`` (best first); by default :func:`rank_positions` with lowest-index
    ties.
    """
    if order is None:
        values = torch.zeros(log_probs.shape[:-1], dtype=torch.long, device=log_probs.device)
        order = rank_positions(position_scores(score, log_probs, values), candidates)  # (n, L) best first
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


class EBSampler(AdaptiveRankedStepSampler):
    """Entropy-bounded unmasking; see the module docstring.

    Args:
        gamma: entropy budget per step in nats (>= 0; ``float('inf')`` unmasks everything at once).
        score: ranking score, one of :data:`EB_SCORES` (the paper's error proxy).
        temperature: token temperature (1 = exact law; 0 = argmax, the paper's experiments).
        block_length: semi-AR block size (None = whole sequence).
        tie_break: ``"random"`` (default) or ``"lowest_index"`` (deterministic rule).
        categorical_precision: categorical sampling precision.

    There is no step count: the run lasts until no mask is left (at most L steps).
    Name: ``"eb_<score>_g<gamma>"`` (``"_block<b>"`` appended with blocks).
    """

    allowed_scores = EB_SCORES

    def __init__(
        self,
        gamma: float = 0.1,
        score: str = "entropy",
        temperature: float = 1.0,
        block_length: int | None = None,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(score, temperature, block_length, tie_break, categorical_precision)
        self.gamma = check_real(gamma, "gamma", minimum=0.0, allow_inf=True)  # inf: one shot
        self.name = f"eb_{score}_g{gamma:g}" + ("" if block_length is None else f"_block{block_length}")

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="EB: longest score-ordered prefix with sum H - max H <= gamma (nats)",
            position_rule=f"score {self.score!r} (untempered), masked positions of the current block",
            tie_break=f"{self.tie_break}; scores and entropies rounded to 40 fractional bits",
            source="arXiv 2505.24857 Eq. 2 / Alg. 1",
            extras={
                "gamma_nats": self.gamma,
                "score": self.score,
                "block_length": self.block_length,
                "entropy_from": "untempered denoiser output",
            },
        )

    def select(self, log_probs, candidates, values, order, k):
        return eb_select(log_probs, candidates, self.gamma, self.score, order)

    def set_law(
        self, state: tuple, step: int, log_probs: torch.Tensor, values: torch.Tensor
    ) -> list[tuple[tuple, float]]:
        """Law of the revealed set over the tie orders; with random ties and one entropy per tie group,
        by subsets of the boundary group (module docstring), else by enumerating the orders."""
        if self.tie_break != "random":
            return super().set_law(state, step, log_probs, values)
        lp = log_probs.unsqueeze(0).to(torch.float64)
        vals = values.unsqueeze(0)
        cand = self.candidates(torch.tensor([state], dtype=torch.long), lp.shape[-1], step)
        scores = position_scores(self.score, lp, vals)[0]
        order = rank_positions(scores.unsqueeze(0), cand)[0]
        q, h = quantized_scores(scores), quantize(entropy_of_log_probs(lp))[0]
        ranked = [int(i) for i in order if bool(cand[0, int(i)])]
        groups = [list(g) for _, g in itertools.groupby(ranked, key=lambda i: float(q[i]))]
        if any(len({float(h[i]) for i in g}) > 1 for g in groups):
            return super().set_law(state, step, log_probs, values)
        count = int(self.select(lp, cand, vals, order.unsqueeze(0), step)[0].sum())
        fixed: list[int] = []
        for g in groups:
            if len(fixed) + len(g) <= count:
                fixed += g
                continue
            combos = list(itertools.combinations(g, count - len(fixed)))
            return [(tuple(sorted(fixed + list(c))), 1.0 / len(combos)) for c in combos]
        return [(tuple(sorted(fixed)), 1.0)]
