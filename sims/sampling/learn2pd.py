r"""Learn2PD's filter in its oracle form: Extremely Greedy Parallel decoding towards a reference run (Bao et al.,
arXiv 2509.25188; official ``ims-kdks/Learning-to-Parallel-Decoding`` ``llada/generate_training_data.py``).

Learn2PD trains a small filter :math:`f_\theta` to predict, for each position, whether the model's current
prediction equals the *final* token, and commits the position as soon as it does. The oracle it imitates
(the paper's "Extremely Greedy Parallel", EGP) needs the final tokens, so it is a **two-pass** rule:

1. *Reference pass* (steps :math:`0..K-1`): LLaDA fixed-count decoding (K steps, LLaDA counts, the most
   confident masked positions of the current block; the code's ``low_confidence`` remasking) gives the
   reference :math:`y`. The code takes it at temperature 0.
2. *Filter pass* (steps :math:`K..K+L-1`), from the all-masked sequence again, blocks left to right: each step
   makes one call, draws a prediction :math:`\hat x_j` at every masked position (argmax at temperature 0) and
   commits every masked position of the current block with :math:`\hat x_j = y_j`. If none matches, the
   whole block is committed to :math:`y` (the code's guard: its next call repeats the same prediction and
   then copies the block; with the suite's call cache that repeat is free, so the copy happens in the same
   step). With ``end_of_text`` (EoTP in oracle form), once a committed EOS lies where :math:`y` is EOS to the
   end, every later position is set to EOS without a call.

Every committed token equals the reference, so **the output is the reference**: its law is exactly the law of
LLaDA fixed-count decoding (:class:`sims.sampling.fixed_count.FixedCountSampler` with the same K, score,
blocks, temperature and tie rule; tested), whatever the filter pass does. What the oracle filter measures is
cost: the filter pass's calls are the fewest a learned filter could need to reproduce the reference by
committing correct predictions only, an upper bound on what Learn2PD's filter can save.

NFE convention (stated honestly): the suite counts every call, so ``nfe`` = reference calls + filter calls.
The reference pass makes exactly one call per step with a non-zero count (every such step reveals a token),
:meth:`Learn2PDOracleSampler.reference_calls`, so the filter pass's calls are ``nfe - reference_calls(L)``.
The paper's speedups count the filter pass only.

Run state (``exact_kernel`` False): the reference. The exact law is the reference sampler's
(:func:`sims.exact.exact_sampler_law` of that sampler).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.denoisers.passes import pass_conventions
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.eotp import LLADA_SCORES, llada_candidates, top_reveals
from sims.sampling.length_base import LengthPolicySampler, Rewrite, force_suffix, identity_origin
from sims.sampling.policy import llada_plan
from sims.sampling.scores import check_score, position_scores
from sims.validation import check_bool, check_optional_positive_int


def eos_run_start(y: torch.Tensor, eos: int) -> torch.Tensor:
    """``(n,)`` first position from which ``y`` is EOS to the end (``L`` if its last token is not EOS)."""
    L = y.shape[1]
    not_eos = (y != eos).long()
    last = torch.where(not_eos.any(1), L - 1 - not_eos.flip(1).argmax(1), torch.full_like(y[:, 0], -1))
    return last + 1


class Learn2PDOracleSampler(LengthPolicySampler):
    """Two-pass oracle filter of Learn2PD (module docstring).

    Args:
        steps: K >= 1 of the reference pass (split equally over the blocks).
        score: reference confidence, ``"max_prob"`` or ``"sampled_prob"``.
        block_length: semi-AR block size of both passes (None = one block).
        end_of_text: EoTP in oracle form in the filter pass.
        temperature: token temperature of both passes (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"`` (the reference pass's ranking).
        categorical_precision: categorical sampling precision.

    Name: ``"learn2pd_oracle"`` (``"_noeot"``, ``"_<score>"``, ``"_block<b>"`` appended for non-defaults).
    """

    uses_steps = True
    has_history = True
    decision_uses_values = True

    def __init__(
        self,
        steps: int,
        score: str = "max_prob",
        block_length: int | None = None,
        end_of_text: bool = True,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.score = check_score(score, LLADA_SCORES)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.end_of_text = check_bool(end_of_text, "end_of_text")
        self.name = (
            "learn2pd_oracle"
            + ("" if end_of_text else "_noeot")
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        return len(llada_plan(length, self.steps, self.block_length)) + length

    def reference_calls(self, length: int) -> int:
        """Calls of the reference pass: its steps with a non-zero count (module docstring)."""
        return sum(1 for _, _, c in llada_plan(length, self.steps, self.block_length) if c > 0)

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps} reference steps, then at most L filter steps",
            time_direction=NO_TIME,
            schedule="none (LLaDA counts in the reference pass)",
            step_rule="reference pass: LLaDA fixed counts; filter pass: commit every masked position of the "
            "current block whose prediction equals the reference (the whole block if none does)",
            position_rule=f"reference: highest {self.score!r} in the current block; filter: the oracle match",
            tie_break=f"{self.tie_break} in the reference ranking (scores rounded to 40 fractional bits)",
            last_step="the filter pass ends with the reference (every committed token equals it)",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="every call of both passes; reference calls = steps with a non-zero count "
            "(reference_calls), filter calls = nfe - reference_calls (the paper counts the latter)",
            source="arXiv 2509.25188 (Extremely Greedy Parallel oracle); ims-kdks/Learning-to-Parallel-"
            "Decoding llada/generate_training_data.py",
            extras={
                "score": self.score,
                "block_length": self.block_length,
                "end_of_text": self.end_of_text,
                "filter": "oracle: the prediction equals the reference token (upper bound of a learned filter)",
                "eos": "the denoiser's eos_token(), the last token id (EOS padding)",
                "passes": pass_conventions("marginals"),
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {"reference": torch.full((batch, length), vocab_size, dtype=torch.long, device=device)}

    def _filter_block(self, x: torch.Tensor, V: int) -> torch.Tensor:
        """Bool ``(n, L)``: masked positions of the first block that has masks (filter pass)."""
        L = x.shape[1]
        b = L if self.block_length is None else self.block_length
        masked = x == V
        pos = torch.arange(L, device=x.device)
        first = torch.where(masked.any(1), masked.long().argmax(1), torch.zeros_like(x[:, 0]))
        start = (first // b) * b
        return masked & (pos >= start.unsqueeze(1)) & (pos < (start + b).unsqueeze(1))

    def active_rows(self, x, vocab_size, extra, k):
        plan = llada_plan(x.shape[1], self.steps, self.block_length)
        if k >= len(plan):
            return (x == vocab_size).any(1)
        a, b, count = plan[k]
        last = k == len(plan) - 1  # the reference is stored and the sequence reset at the last step
        return torch.full_like(x[:, 0], last, dtype=torch.bool) | (
            llada_candidates(x, vocab_size, (a, b)).any(1) & (count > 0)
        )

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        plan = llada_plan(x.shape[1], self.steps, self.block_length)
        if k >= len(plan):
            return None
        a, b, _ = plan[k]
        return position_scores(self.score, log_probs, values), llada_candidates(
            x, log_probs.shape[-1], (a, b)
        )

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        plan = llada_plan(x.shape[1], self.steps, self.block_length)
        none = torch.zeros_like(x, dtype=torch.bool)
        if k < len(plan):  # reference pass
            a, b, count = plan[k]
            reveal = top_reveals(order, llada_candidates(x, V, (a, b)), count)
            x1 = torch.where(reveal, values, x)
            if k < len(plan) - 1:
                return Rewrite(x1, identity_origin(x), reveal, none, {})
            reset = torch.full_like(x, V)
            return Rewrite(reset, torch.full_like(x, -1), none, none, {"reference": x1})
        y = extra["reference"]
        cand = self._filter_block(x, V)
        match = cand & (values == y)
        guard = cand & ~match.any(1, keepdim=True)
        x1 = torch.where(match | guard, y, x)
        forced = guard
        if self.end_of_text:
            start = eos_run_start(y, V - 1)
            pos = torch.arange(x.shape[1], device=x.device)
            hit = (x1 == V - 1) & (pos >= start.unsqueeze(1))
            cut = torch.where(hit.any(1), hit.long().argmax(1) + 1, torch.full_like(start, x.shape[1]))
            x1, filled = force_suffix(x1, cut, V - 1)
            forced = forced | filled
        return Rewrite(x1, identity_origin(x), match & ~forced, forced, {})
