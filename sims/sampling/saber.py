r"""Saber, adaptive acceleration with backtracking (arXiv 2510.18165; official ``zhaoyMa/Saber``
``decoding.py::generate_with_saber``, commit 49579a9), with backtracking read on the leave-one-out pass.

Step k (one pass; current block = the first block with a mask, positions up to its end are "in range"):

* **confidences** :math:`c^k_l`: at a masked position the probability of the token drawn there
  (``score="sampled_prob"``, the code) or the maximum probability (``"max_prob"``, equal at temperature 0);
  at a revealed position the **leave-one-out** probability :math:`q_i(x_i) = p(x_i \mid x_{R\setminus i})`
  of its token; :math:`-\infty` beyond the block end;
* **acceleration**: with :math:`\bar c` the mean commit-time confidence of the tokens committed so far in
  range (1 before any commit), commit every masked candidate with :math:`c^k_l > \bar c`; if fewer than n
  pass, the n most confident (fewer if fewer are masked). Let f be the number committed;
* **backtracking** (unless the block is now complete): with :math:`\Delta_l = c^k_l - c^{k-1}_l`
  (:math:`c^{-1} = 0`; non-finite differences count as :math:`+\infty`), remask the
  :math:`\min(\max(\lfloor n/2 \rfloor, \lceil f/8 \rceil), f-1)` revealed in-range tokens (those
  committed this step included) with the lowest :math:`\Delta`, i.e. the largest confidence drop.

Every step commits f >= 1 and remasks at most f - 1, so a run takes at most L steps.

**Our reading (flagged).** The code measures the confidence of a committed token on the model's output
*at that committed position*, LLaDA's self-prediction with the token visible (its ``mask_index`` is the
initial generation region, never updated). A carry-over denoiser such as the oracle returns probability
1 there, so every old token would have drop 0 and backtracking would pick tokens by tie order. The
principled analogue used here is the leave-one-out probability of the committed token: how much the
rest of the sequence still supports it (the task's reading, not the paper's statement).

Code details kept: strict ``>``; the commit-time confidences are not reset when a token is remasked (they
stay in the mean until the position is committed again); the mean runs over all blocks up to the current
block's end; the remask pool includes tokens committed in the same step and earlier blocks. Code details
not kept: the code's top-n fallback can select already committed positions (their fresh draw overwrites
the token); here it selects masked candidates only. Ties: the commit ranking per ``tie_break``; the remask
ranking towards the lowest position (both after rounding to 40 fractional bits). Defaults: n = 2 (the
function's, confirmed), temperature 0 in the released configs; no confidence threshold to set.
Exact law on the augmented state (previous confidences, commit-time confidences).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.loo_policy import LeaveOneOutPolicy, check_loo_source, loo_nfe_rule
from sims.sampling.policy import Decision
from sims.sampling.ranked import check_block_length
from sims.sampling.ranking import quantize
from sims.sampling.wino import WINO_SCORES, current_block, rank_within
from sims.validation import check_choice, check_optional_positive_int, check_positive_int


def remask_count(n: int, committed: torch.Tensor) -> torch.Tensor:
    """:math:`\\min(\\max(\\lfloor n/2 \\rfloor, \\lceil f/8 \\rceil), f - 1)` per row (code's formula)."""
    f = committed
    return torch.minimum(torch.clamp((f + 7) // 8, min=n // 2), f - 1).clamp(min=0)


class SaberSampler(LeaveOneOutPolicy):
    """Saber acceleration and leave-one-out backtracking (module docstring).

    Args:
        n: minimum commits per step (>= 1; 2 in the code).
        block_length: semi-AR block size (None = one block).
        score: ``"max_prob"`` (default) or ``"sampled_prob"`` (the code's drawn-token probability).
        temperature: token temperature (1 = exact law, 0 = argmax, the released setting).
        tie_break: ``"random"`` or ``"lowest_index"`` (the commit ranking).
        loo_source: ``"auto"`` or ``"pass"`` (:mod:`sims.sampling.loo_policy`).
        categorical_precision: categorical sampling precision.

    Name: ``"saber_n<n>"`` (``"_block<b>"`` appended with blocks).
    """

    has_history = True
    can_remask = True

    def __init__(
        self,
        n: int = 2,
        block_length: int | None = None,
        score: str = "max_prob",
        temperature: float = 1.0,
        tie_break: str = "random",
        loo_source: str = "auto",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.n = check_positive_int(n, "n")
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.score = check_choice(score, WINO_SCORES, "score")
        self.loo_source = check_loo_source(loo_source)
        self.decision_uses_values = self.score == "sampled_prob"
        self.name = f"saber_n{n}" + ("" if block_length is None else f"_block{block_length}")

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="Saber: commit masked candidates with confidence > mean commit-time confidence (1 "
            "before any), at least n; then remask min(max(floor(n/2), ceil(f/8)), f - 1) revealed tokens with "
            "the largest confidence drop since the previous step",
            position_rule="masked positions of the current block; remask pool: revealed positions up to the "
            "block end, revealed confidence = leave-one-out probability of the token (our reading)",
            tie_break=f"commits {self.tie_break}, remasks lowest position (scores rounded to 40 fractional "
            "bits)",
            source="arXiv 2510.18165; zhaoyMa/Saber decoding.py::generate_with_saber (49579a9); "
            "leave-one-out backtracking is our reading",
            nfe_rule=loo_nfe_rule(self.loo_source),
            extras={
                "n": self.n,
                "block_length": self.block_length,
                "score": self.score,
                "revealed_confidence": "leave-one-out probability of the committed token (the code: the "
                "model's output at the committed position, probability 1 for a carry-over denoiser)",
                "commit_confidences_reset_on_remask": False,
                **self.pass_extras(),
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {
            "last_conf": torch.zeros((batch, length), dtype=torch.float64, device=device),
            "commit_conf": torch.full((batch, length), torch.nan, dtype=torch.float64, device=device),
        }

    def _conf(self, log_probs, values, x):
        V = log_probs.shape[-1]
        masked = x == V
        if self.score == "max_prob":
            drawn = log_probs.max(-1).values.exp()
        else:
            drawn = log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
        own = log_probs.gather(-1, x.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1).exp()
        blk = current_block(x, V, self.block_length)
        L = x.shape[1]
        b = L if self.block_length is None else self.block_length
        pos_block = (torch.arange(L, device=x.device) // b).unsqueeze(0)
        in_range = pos_block <= blk.unsqueeze(1)
        cand = masked & (pos_block == blk.unsqueeze(1))
        conf = torch.where(masked, quantize(drawn), quantize(own))
        return torch.where(in_range, conf, torch.full_like(conf, -torch.inf)), cand, in_range

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        conf, cand, _ = self._conf(log_probs, values, x)
        return conf, cand

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        masked = x == V
        conf, cand, in_range = self._conf(log_probs, values, x)
        final = extra["commit_conf"]
        known = ~torch.isnan(final) & in_range
        count = known.sum(1)
        mean = torch.where(known, final, torch.zeros_like(final)).sum(1) / count.clamp(min=1)
        thr = torch.where(count > 0, quantize(mean), torch.ones_like(mean))
        passing = cand & (conf > thr.unsqueeze(1))
        npass = passing.sum(1)
        top = cand & (rank_within(cand, order) < self.n)
        commit = torch.where((npass >= self.n).unsqueeze(1), passing, top)
        f = commit.sum(1)
        new_final = torch.where(commit, conf, final)
        delta = conf - extra["last_conf"]
        delta = torch.where(torch.isfinite(delta), delta, torch.full_like(delta, torch.inf))
        pool = (~masked | commit) & in_range
        block_done = ~(cand & ~commit).any(1)
        key = torch.where(pool, delta, torch.full_like(delta, torch.inf))
        asc = torch.sort(key, dim=1, stable=True).indices  # lowest delta first, ties lowest position
        r = torch.where(block_done, torch.zeros_like(f), remask_count(self.n, f))
        remask = pool & (rank_within(pool, asc) < r.unsqueeze(1))
        return Decision(commit, remask, {"last_conf": conf, "commit_conf": new_final})
