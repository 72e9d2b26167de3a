r"""WINO, wide-in narrow-out revokable decoding (Hong et al., arXiv 2507.18578; official
``Feng-Hong/WINO-DLLM`` ``LLaDA/decoding.py::decoding_wino``, commit 84964c7).

One pass per step gives, in the current block, the law :math:`p_l` of every masked position and the
"shadow" law of every revealed one. The shadow copy of position i attends to the whole sequence except
position i, so it is the leave-one-out conditional :math:`q_i = p(x_i \mid x_{R\setminus i})`
(:mod:`sims.sampling.loo_policy`; exact with the oracle). Step k, with :math:`M` the masked and
:math:`D` the revealed positions of the current block (the first block with a mask):

* **wide in** (draft): with confidence :math:`c_l = \max_v p_l(v)` (or the drawn token's probability),
  draft every :math:`l \in M` with :math:`c_l > \tau_1`; if more than
  :math:`a = \min(\max(\lfloor 0.7 |M| \rfloor, 5), 20)` pass, only the a most confident; if none passes,
  the most confident one. Let n be the number drafted.
* **narrow out** (verify, only when n > 1): remask every :math:`i \in D` with
  :math:`q_i(x_i) < \tau_2`; if that is at least :math:`n_{\text{prev}}` tokens (the previous step's n,
  30 at a block's first step), only the :math:`n_{\text{prev}} - 1` lowest.

Both halves read the same pass on the state before the step (drafts of this step are verified from the
next step on). Run state: :math:`n_{\text{prev}}` and the current block (augmented-state exact law,
:func:`sims.sampling.policy.exact_policy_law` fed the pass by
:meth:`~sims.sampling.loo_policy.LeaveOneOutPolicy.kernel_denoiser`). With :math:`\tau_2 = 0` nothing is
ever remasked and the rule is Fast-dLLM-type threshold decoding with WINO's cap (tested).

Defaults and sources: :math:`\tau_1 = 0.7`, :math:`\tau_2 = 0.9` (the repository's config
``LLaDA/configs/soduko.yaml``, confirmed; the function's own default is :math:`\tau_1 = 0.6`; the copy
``decoding_wino`` in ``zhaoyMa/Saber`` uses 0.7); the cap constants 0.7, 5, 20 and the initial
:math:`n_{\text{prev}} = 30` are the function's (confirmed); blocks of 128 and temperature 0 in the
config. The paper's method section was not read: the rule is the code's.

Conventions of this implementation (flagged in ``Conventions``): strict comparisons as in the code;
confidence from the untempered law; ties broken per ``tie_break`` after rounding to 40 fractional bits
(the code uses ``torch.topk``); the code loops until the block is full, which remasking could in principle
prolong, so a run has at most ``max_steps`` steps (default 2L) and the last one drafts every remaining
mask and remasks nothing.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions
from sims.sampling.loo_policy import LeaveOneOutPolicy, check_loo_source, loo_nfe_rule
from sims.sampling.policy import Decision
from sims.sampling.ranked import check_block_length
from sims.sampling.ranking import quantize
from sims.validation import (
    InvalidArgumentError,
    check_choice,
    check_optional_positive_int,
    check_probability,
)

#: the draft cap a = min(max(floor(CAP_FRACTION |M|), CAP_MIN), CAP_MAX) and the initial n_prev (code)
CAP_FRACTION, CAP_MIN, CAP_MAX, FIRST_LAST_ACCEPT = 0.7, 5, 20, 30
WINO_SCORES = ("max_prob", "sampled_prob")


def current_block(x: torch.Tensor, vocab_size: int, block_length: int | None) -> torch.Tensor:
    """``(B,)`` index of the first block with a mask (0 with one block; the block count if none)."""
    L = x.shape[1]
    b = L if block_length is None else block_length
    blocks = torch.arange(L, device=x.device) // b
    big = torch.full_like(x, L // b)
    return torch.where(x == vocab_size, blocks.expand_as(x), big).amin(1)


def rank_within(mask: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``(n, L)`` rank of each position among the ``mask`` positions in ``order`` (best first); others
    get L."""
    L = mask.shape[1]
    in_order = mask.gather(1, order)
    ranks_sorted = torch.cumsum(in_order.long(), 1) - 1
    ranks = torch.full_like(order, L)
    ranks.scatter_(1, order, torch.where(in_order, ranks_sorted, torch.full_like(ranks_sorted, L)))
    return ranks


class WINOSampler(LeaveOneOutPolicy):
    """WINO draft-and-verify (module docstring).

    Args:
        threshold: draft threshold tau_1 in [0, 1] (strict ``>``).
        threshold_back: verification threshold tau_2 in [0, 1] (remask if the shadow confidence is ``<``).
        block_length: semi-AR block size (None = one block).
        max_steps: step budget (None = 2L); the last step drafts every remaining mask.
        score: ``"max_prob"`` (default) or ``"sampled_prob"`` (the drawn token's probability, the code at
            temperature above 0).
        temperature: token temperature (1 = exact law, 0 = argmax, the released setting).
        tie_break: ``"random"`` or ``"lowest_index"``.
        loo_source: ``"auto"`` or ``"pass"`` (:mod:`sims.sampling.loo_policy`).
        categorical_precision: categorical sampling precision.

    Name: ``"wino_t<tau1>_b<tau2>"`` (``"_block<b>"``, ``"_steps<n>"`` appended when set).
    """

    has_history = True
    can_remask = True

    def __init__(
        self,
        threshold: float = 0.7,
        threshold_back: float = 0.9,
        block_length: int | None = None,
        max_steps: int | None = None,
        score: str = "max_prob",
        temperature: float = 1.0,
        tie_break: str = "random",
        loo_source: str = "auto",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.threshold = check_probability(threshold, "threshold")
        self.threshold_back = check_probability(threshold_back, "threshold_back")
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.max_steps = check_optional_positive_int(max_steps, "max_steps")
        self.score = check_choice(score, WINO_SCORES, "score")
        self.loo_source = check_loo_source(loo_source)
        self.decision_uses_values = self.score == "sampled_prob"
        self.name = (
            f"wino_t{threshold:g}_b{threshold_back:g}"
            + ("" if block_length is None else f"_block{block_length}")
            + ("" if max_steps is None else f"_steps{max_steps}")
        )

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        steps = 2 * length if self.max_steps is None else self.max_steps
        if steps < length:
            raise InvalidArgumentError(f"max_steps {steps} must be at least the length {length}")
        return steps

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps="adaptive: until no mask is left, at most max_steps (default 2L; no step count K)",
            time_direction=NO_TIME,
            schedule="none (adaptive rule)",
            step_rule="WINO: draft masked candidates with confidence > tau_1 (cap min(max(floor(0.7 |M|), 5), "
            "20); at least the most confident); if more than one drafted, remask revealed tokens of the block "
            "whose leave-one-out probability is < tau_2 (at most n_prev - 1 when >= n_prev qualify)",
            position_rule="masked and revealed positions of the current block (first block with a mask)",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            last_step="step max_steps - 1 drafts every remaining mask and remasks nothing (suite convention; "
            "the code loops until the block is full)",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule=loo_nfe_rule(self.loo_source),
            source="arXiv 2507.18578; Feng-Hong/WINO-DLLM LLaDA/decoding.py::decoding_wino (84964c7)",
            extras={
                "threshold": self.threshold,
                "threshold_back": self.threshold_back,
                "block_length": self.block_length,
                "max_steps": self.max_steps,
                "score": self.score,
                "draft_cap": [CAP_FRACTION, CAP_MIN, CAP_MAX],
                "first_last_accept": FIRST_LAST_ACCEPT,
                "defaults_from": "LLaDA/configs/soduko.yaml (tau_1 = 0.7, tau_2 = 0.9); function default "
                "tau_1 = 0.6; paper method section not read",
                **self.pass_extras(),
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {
            "last_accept": torch.full((batch,), FIRST_LAST_ACCEPT, dtype=torch.long, device=device),
            "block": torch.full((batch,), -1, dtype=torch.long, device=device),
        }

    def _sets(self, x: torch.Tensor, V: int):
        blk = current_block(x, V, self.block_length)
        L = x.shape[1]
        b = L if self.block_length is None else self.block_length
        inblock = (torch.arange(L, device=x.device) // b).unsqueeze(0) == blk.unsqueeze(1)
        masked = x == V
        return blk, masked & inblock, ~masked & inblock

    def _scores(self, log_probs, values, x):
        V = log_probs.shape[-1]
        if self.score == "max_prob":
            conf = log_probs.max(-1).values.exp()
        else:
            conf = log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
        back = log_probs.gather(-1, x.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1).exp()
        return quantize(conf), quantize(back)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        _, cand, ver = self._sets(x, log_probs.shape[-1])
        conf, back = self._scores(log_probs, values, x)
        # verified tokens first, lowest shadow confidence first; then drafts, most confident first
        return torch.where(ver, 3.0 - back, conf), cand | ver

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        masked = x == V
        if k == self.num_steps(x.shape[1]) - 1:
            return Decision(masked, torch.zeros_like(masked), {})
        blk, cand, ver = self._sets(x, V)
        conf, back = self._scores(log_probs, values, x)
        last = torch.where(
            blk == extra["block"], extra["last_accept"], torch.full_like(blk, FIRST_LAST_ACCEPT)
        )
        cap = (CAP_FRACTION * cand.sum(1).double()).floor().long().clamp(min=CAP_MIN, max=CAP_MAX)
        npass = (cand & (conf > self.threshold)).sum(1)
        take = torch.where(npass > cap, cap, npass.clamp(min=1))
        reveal = cand & (rank_within(cand, order) < take.unsqueeze(1))
        low = ver & (back < self.threshold_back)
        capped = ver & (rank_within(ver, order) < (last - 1).unsqueeze(1))
        remask = torch.where((low.sum(1) >= last).unsqueeze(1), capped, low)
        remask = remask & (take > 1).unsqueeze(1)
        return Decision(reveal, remask, {"last_accept": take, "block": blk})
