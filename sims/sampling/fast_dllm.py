r"""Fast-dLLM confidence-aware parallel decoding (Wu et al., arXiv 2505.22618, Alg. 1; NVlabs/Fast-dLLM).

Per step (one denoiser call), inside the current block (the leftmost block with masked positions; the
whole sequence when ``block_length=None``), with confidence :math:`c_l` of each masked candidate:

* ``rule="threshold"``: unmask every candidate with :math:`c_l \ge \tau`, and always the most confident
  one. (Alg. 1 writes :math:`c > \tau`; the official ``get_transfer_index`` drops candidates with
  :math:`c < \tau`, i.e. keeps :math:`c \ge \tau` — we follow the code; the two differ only on exact ties.)
* ``rule="factor"``: sort confidences :math:`c^{(1)} \ge c^{(2)} \ge \dots` and unmask the top n for the
  largest n with :math:`(n+1)(1 - c^{(n)}) < f` (at least one). The left side increases with n, so this
  is the longest passing prefix. ``factor_variant="code"`` reproduces the official
  ``get_transfer_index_dynamic`` instead: pass iff :math:`c^{(n)} \ge 1 - f/(n+1)` and, when only the
  last candidate fails, that candidate is unmasked as well (an off-by-one in the released loop).

Confidence (``score``, :mod:`sims.sampling.scores`): ``"max_prob"`` = :math:`\max_v p_l(v)` (Alg. 1, line 6); ``"sampled_prob"`` =
:math:`p_l(\hat x_l)` of the token drawn at that position (the code's ``low_confidence`` with Gumbel
noise at temperature > 0). They coincide at temperature 0 (the paper's setting). The sampled version
looks at the drawn values, which biases the output law even when one token is revealed per step.

Defaults: ``threshold=0.9`` (paper §4.1, confirmed); ``block_length=None`` here because the suite's
sequences are short (the paper uses 32 with its KV cache); ``factor=1.0`` is the released function's
default argument, **not** a value the paper recommends (unconfirmed); ``temperature=1.0`` (exact law;
the paper decodes at 0). Ties (scores rounded to 40 fractional bits): uniformly random by default
(``tie_break="random"``), or the lowest position (``"lowest_index"``, a deterministic rule).

Calls: one per step while masks remain; at most L steps.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.ranked import AdaptiveRankedStepSampler
from sims.sampling.ranking import rank_positions
from sims.sampling.scores import position_scores
from sims.validation import InvalidArgumentError, check_choice, check_probability, check_real

RULES = ("threshold", "factor")
#: the scores (:mod:`sims.sampling.scores`) the Fast-dLLM rules accept (the confidence)
FAST_DLLM_SCORES = ("max_prob", "sampled_prob")
FACTOR_VARIANTS = ("paper", "code")


def fast_dllm_select(
    conf: torch.Tensor,
    candidates: torch.Tensor,
    rule: str,
    threshold: float,
    factor: float,
    factor_variant: str = "paper",
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``(n, L)`` set unmasked by the threshold or factor rule (see the module docstring).

    ``order`` is the confidence ranking (best first); by default lowest-index ties.
    """
    if order is None:
        order = rank_positions(conf, candidates)
    valid = candidates.gather(1, order)
    c = conf.to(torch.float64).gather(1, order)
    n_idx = torch.arange(1, order.shape[1] + 1, device=conf.device, dtype=torch.float64).unsqueeze(0)
    if rule == "threshold":
        passes = c >= threshold
    elif rule == "factor":
        if factor_variant == "paper":
            passes = (n_idx + 1) * (1 - c) < factor
        elif factor_variant == "code":
            passes = c >= 1 - factor / (n_idx + 1)
        else:
            raise InvalidArgumentError(
                f"factor_variant must be one of {FACTOR_VARIANTS}, got {factor_variant!r}"
            )
    else:
        raise InvalidArgumentError(f"rule must be one of {RULES}, got {rule!r}")
    passes = passes & valid
    passes[:, 0] = valid[:, 0]  # always the most confident candidate
    if rule == "factor":
        passes = torch.cumprod(passes.long(), 1).bool()  # longest passing prefix
        if factor_variant == "code":
            m = valid.sum(1)
            count = passes.sum(1)
            count = torch.where(count == m - 1, m, count)
            passes = torch.arange(order.shape[1], device=conf.device).unsqueeze(0) < count.unsqueeze(1)
            passes &= valid
    out = torch.zeros_like(candidates)
    out.scatter_(1, order, passes)
    return out


class FastDLLMSampler(AdaptiveRankedStepSampler):
    """Confidence-threshold / factor parallel decoding; see the module docstring.

    Args:
        rule: ``"threshold"`` or ``"factor"``.
        threshold: tau of the threshold rule, in [0, 1].
        factor: f of the factor rule, > 0.
        score: the confidence, one of :data:`FAST_DLLM_SCORES`.
        block_length: semi-AR block size (None = whole sequence).
        temperature: token temperature (1 = exact law, 0 = argmax).
        factor_variant: ``"paper"`` or ``"code"`` (the released loop's off-by-one).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    There is no step count: the run lasts until no mask is left (at most L steps).
    Name: ``"fast_dllm_threshold_t<tau>"`` or ``"fast_dllm_factor_f<f>"``, then ``"_sampled_prob"`` for
    that score and ``"_block<b>"`` with blocks.
    """

    allowed_scores = FAST_DLLM_SCORES

    def __init__(
        self,
        rule: str = "threshold",
        threshold: float = 0.9,
        factor: float = 1.0,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        factor_variant: str = "paper",
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(score, temperature, block_length, tie_break, categorical_precision)
        check_choice(rule, RULES, "rule")
        check_probability(threshold, "threshold")
        check_real(factor, "factor", minimum=0.0, open_min=True)
        check_choice(factor_variant, FACTOR_VARIANTS, "factor_variant")
        self.rule, self.threshold, self.factor = rule, float(threshold), float(factor)
        self.factor_variant = factor_variant
        par = f"t{threshold:g}" if rule == "threshold" else f"f{factor:g}"
        self.name = (
            f"fast_dllm_{rule}_{par}"
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def conventions(self) -> Conventions:
        test = "c >= tau (official code)" if self.rule == "threshold" else f"factor ({self.factor_variant})"
        return adaptive_conventions(
            self,
            step_rule=f"Fast-dLLM {self.rule}: {test}, always the most confident candidate",
            position_rule=f"confidence score {self.score!r}, masked positions of the current block",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            source="arXiv 2505.22618 Alg. 1; NVlabs/Fast-dLLM code",
            extras={
                "rule": self.rule,
                "threshold": self.threshold,
                "factor": self.factor,
                "factor_variant": self.factor_variant,
                "score": self.score,
                "block_length": self.block_length,
            },
        )

    def select(self, log_probs, candidates, values, order, k):
        conf = position_scores(self.score, log_probs, values)
        return fast_dllm_select(
            conf, candidates, self.rule, self.threshold, self.factor, self.factor_variant, order
        )
