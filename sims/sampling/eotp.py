r"""End-of-text prediction (EoTP) on LLaDA fixed-count decoding (Learn2PD, Bao et al., "Learning to Parallel:
Accelerating Diffusion Large Language Models via Learnable Parallel Decoding", arXiv 2509.25188; official
``ims-kdks/Learning-to-Parallel-Decoding`` ``llada/generate.py``, ``generate_predict_eot``).

Base: LLaDA's fixed-count decoding (K steps split over semi-AR blocks, LLaDA counts, the ``count`` most
confident masked positions of the current block revealed with their drawn tokens). EoTP: once the end of the
text is detected, everything after it is thrown away, i.e. (EOS padding) set to EOS without a model call,

.. math::  x_j \leftarrow \mathrm{EOS} \quad \text{for every } j > j^*,

so the later steps of the run have nothing to decode and make no call (the calls saved,
:meth:`EoTPSampler.calls_saved`, are :math:`K - \mathrm{NFE}` when every step has a non-zero count). Two
triggers:

* ``"predicted"`` (the released code, default): after the step's reveals, among the positions that were
  masked at the step's start and whose drawn token :math:`\hat x_j` is EOS (anywhere in the sequence, not only
  the current block), :math:`j^*` is the one with the highest EOS probability :math:`p_j(\mathrm{EOS})`
  (rounded to 40 bits; ties to the lowest index, ``torch.argmax``). Position :math:`j^*` itself keeps its
  state: revealed if it was among the step's reveals, else still masked.
* ``"committed"`` (the paper's wording, "upon detection of an [EoT] token"): :math:`j^*` is the first
  position holding EOS after the step's reveals.

Tokens already revealed after :math:`j^*` are overwritten (the code truncates the sequence there), so the rule
revisits. With the exact oracle and the ``"committed"`` trigger the fill only writes what the language forces
(EOS is absorbing), except where one parallel step revealed a token after an EOS, which the fill repairs; with
one token per step it is exact (tested). The ``"predicted"`` trigger conditions on a drawn token that is not
committed and is biased (tested exactly).

Defaults: the code's ``low_confidence`` remasking is the drawn token's probability (``score="sampled_prob"``
at temperature > 0; it equals ``"max_prob"`` at temperature 0, the released setting); LLaDA's EOS is
``<|eot_id|>`` (126081), here the language's EOS padding token (:mod:`sims.sampling.length_base`). The code
recomputes the block's planned counts after a truncation only implicitly (its ``topk`` may then pick
positions outside the block); here a step reveals ``min(count, masked candidates)``.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.denoisers.passes import pass_conventions
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.length_base import LengthPolicySampler, Rewrite, force_suffix, identity_origin
from sims.sampling.policy import llada_plan
from sims.sampling.ranking import quantize
from sims.sampling.result import SampleResult
from sims.sampling.scores import check_score, position_scores
from sims.validation import check_choice, check_optional_positive_int

EOTP_TRIGGERS = ("predicted", "committed")
LLADA_SCORES = ("max_prob", "sampled_prob")


def llada_candidates(x: torch.Tensor, V: int, block: tuple[int, int]) -> torch.Tensor:
    """Bool ``(n, L)``: masked positions inside ``block = (start, stop)``."""
    pos = torch.arange(x.shape[1], device=x.device)
    return (x == V) & (pos >= block[0]) & (pos < block[1])


def top_reveals(order: torch.Tensor, candidates: torch.Tensor, count: int) -> torch.Tensor:
    """Bool ``(n, L)``: the first ``count`` positions of ``order`` that are candidates (ranked first)."""
    top = torch.zeros_like(candidates)
    top.scatter_(1, order[:, :count], True)
    return top & candidates


def end_of_text_start(
    trigger: str, x_before: torch.Tensor, x_after: torch.Tensor, values: torch.Tensor, log_probs: torch.Tensor
) -> torch.Tensor:
    """``(n,)`` first position set to EOS by the trigger (``L`` where it does not fire); module docstring."""
    L, V = x_before.shape[1], log_probs.shape[-1]
    eos = V - 1
    if trigger == "predicted":
        hit = (x_before == V) & (values == eos)
        conf = torch.where(hit, quantize(log_probs[..., eos].exp()), torch.full_like(log_probs[..., 0], -1.0))
        first = conf.argmax(1)
    else:
        hit = x_after == eos
        first = hit.long().argmax(1)
    return torch.where(hit.any(1), first + 1, torch.full_like(first, L))


class EoTPSampler(LengthPolicySampler):
    """LLaDA fixed-count decoding with Learn2PD's end-of-text prediction (module docstring).

    Args:
        steps: K >= 1 (split equally over the blocks).
        trigger: one of :data:`EOTP_TRIGGERS`.
        score: base confidence, ``"max_prob"`` or ``"sampled_prob"``.
        block_length: semi-AR block size (None = one block).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"eotp"`` (``"_committed"``, ``"_<score>"``, ``"_block<b>"`` appended for non-defaults).
    """

    uses_steps = True
    decision_uses_values = True  # the trigger looks at the drawn tokens

    def __init__(
        self,
        steps: int,
        trigger: str = "predicted",
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.trigger = check_choice(trigger, EOTP_TRIGGERS, "trigger")
        self.score = check_score(score, LLADA_SCORES)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = (
            "eotp"
            + ("" if trigger == "predicted" else f"_{trigger}")
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        return len(llada_plan(length, self.steps, self.block_length))

    def planned_calls(self, length: int) -> int:
        """Calls of the same fixed-count run without end-of-text prediction: its steps with a non-zero count."""
        return sum(1 for _, _, c in llada_plan(length, self.steps, self.block_length) if c > 0)

    def calls_saved(self, result: SampleResult) -> torch.Tensor:
        """``(B,)`` calls saved by end-of-text prediction in ``result`` (a run of this sampler)."""
        return self.planned_calls(result.tokens.shape[1]) - result.nfe

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps} (no call once nothing is left to decode)",
            time_direction=NO_TIME,
            schedule="none (LLaDA counts)",
            step_rule="LLaDA fixed counts; end-of-text prediction sets every position after the detected "
            "end to EOS without a call",
            position_rule=f"highest {self.score!r} among the masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits); the end position: highest "
            "EOS probability, ties to the lowest index",
            last_step="counts sum to each block; positions after the detected end are EOS",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step whose block still has masks; calls saved = planned_calls(L) - NFE "
            "(calls_saved)",
            source="arXiv 2509.25188; ims-kdks/Learning-to-Parallel-Decoding llada/generate.py "
            "(generate_predict_eot)",
            extras={
                "trigger": self.trigger,
                "score": self.score,
                "block_length": self.block_length,
                "eos": "the denoiser's eos_token(), the last token id (EOS padding)",
                "passes": pass_conventions("marginals"),
            },
        )

    def _plan(self, length: int, k: int) -> tuple[int, int, int]:
        return llada_plan(length, self.steps, self.block_length)[k]

    def active_rows(self, x, vocab_size, extra, k):
        a, b, count = self._plan(x.shape[1], k)
        return llada_candidates(x, vocab_size, (a, b)).any(1) & (count > 0)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        a, b, _ = self._plan(x.shape[1], k)
        return position_scores(self.score, log_probs, values), llada_candidates(
            x, log_probs.shape[-1], (a, b)
        )

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        a, b, count = self._plan(x.shape[1], k)
        reveal = top_reveals(order, llada_candidates(x, V, (a, b)), count)
        x1 = torch.where(reveal, values, x)
        start = end_of_text_start(self.trigger, x, x1, values, log_probs)
        x2, forced = force_suffix(x1, start, V - 1)
        return Rewrite(x2, identity_origin(x), reveal & ~forced, forced, {})
