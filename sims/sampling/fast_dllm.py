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

Confidence (``confidence``): ``"max_prob"`` = :math:`\max_v p_l(v)` (Alg. 1, line 6); ``"sampled_prob"`` =
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
from sims.sampling.base import check_tie_break, rank_positions, reveal_values, selection_law
from sims.sampling.stepping import (
    RunState,
    SteppedSampler,
    block_candidates,
    check_block_length,
    check_temperature,
    ranked_reveal_step,
)
from sims.validation import check_positive_int

RULES = ("threshold", "factor")
CONFIDENCES = ("max_prob", "sampled_prob")


def confidence_scores(log_probs: torch.Tensor, values: torch.Tensor, confidence: str) -> torch.Tensor:
    if confidence == "max_prob":
        return log_probs.max(-1).values.exp()
    if confidence == "sampled_prob":
        return log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
    raise ValueError(f"confidence must be one of {CONFIDENCES}, got {confidence!r}")


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
            raise ValueError(f"factor_variant must be 'paper' or 'code', got {factor_variant!r}")
    else:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
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


class FastDLLMSampler(SteppedSampler):
    """Confidence-threshold / factor parallel decoding; see the module docstring."""

    def __init__(
        self,
        rule: str = "threshold",
        threshold: float = 0.9,
        factor: float = 1.0,
        confidence: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        factor_variant: str = "paper",
        tie_break: str = "random",
        precision: Precision = "float64",
    ):
        super().__init__(precision)
        self.tie_break = check_tie_break(tie_break)
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if confidence not in CONFIDENCES:
            raise ValueError(f"confidence must be one of {CONFIDENCES}, got {confidence!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        if factor_variant not in ("paper", "code"):
            raise ValueError(f"factor_variant must be 'paper' or 'code', got {factor_variant!r}")
        self.rule, self.threshold, self.factor = rule, float(threshold), float(factor)
        self.confidence, self.factor_variant = confidence, factor_variant
        self.block_length = None if block_length is None else check_positive_int(block_length, "block_length")
        self.temperature = check_temperature(temperature)
        par = f"t{threshold:g}" if rule == "threshold" else f"f{factor:g}"
        self.name = (
            f"fast_dllm_{rule}_{par}"
            + ("" if confidence == "max_prob" else "_sampledconf")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": f"Fast-dLLM {self.rule}",
            "threshold": self.threshold,
            "factor": self.factor,
            "factor_variant": self.factor_variant,
            "confidence": self.confidence,
            "block_length": self.block_length,
            "temperature": self.temperature,
            "threshold_test": "c >= tau (official code)",
            "ties": f"{self.tie_break} (40-bit rounding)",
            "last_step": "runs until no mask is left (at most L steps)",
            "precision": self.precision,
            "nfe": "one call per step while masks remain",
            "source": "arXiv 2505.22618 Alg. 1; NVlabs code",
        }

    def candidates(self, x: torch.Tensor, vocab_size: int) -> torch.Tensor:
        return block_candidates(x, vocab_size, self.block_length)

    def _select(self, lp, candidates, values, order=None):
        conf = confidence_scores(lp, values, self.confidence)
        return fast_dllm_select(
            conf, candidates, self.rule, self.threshold, self.factor, self.factor_variant, order
        )

    def _step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        ranked_reveal_step(
            self,
            state,
            k,
            generator,
            lambda lp, values: confidence_scores(lp, values, self.confidence),
            self._select,
        )

    # ---- exact law ------------------------------------------------------------------------------
    def select_positions(self, state: tuple, step: int, log_probs: torch.Tensor) -> tuple:
        """The unmasked set for ``max_prob`` confidence with a deterministic (lowest-index) tie rule."""
        if self.confidence != "max_prob":
            raise ValueError("the set depends on the drawn values for confidence='sampled_prob'")
        if self.tie_break != "lowest_index":
            raise ValueError("select_positions needs a deterministic rule: use tie_break='lowest_index'")
        x = torch.tensor([state], dtype=torch.long)
        ((sel, _),) = self._set_law(x, log_probs, torch.zeros(x.shape, dtype=torch.long)).items()
        return sel

    def _set_law(self, x: torch.Tensor, log_probs: torch.Tensor, values: torch.Tensor) -> dict[tuple, float]:
        """Law of the unmasked set for one row (a single set unless random ties are possible)."""
        V = log_probs.shape[-1]
        lp = log_probs.unsqueeze(0).to(torch.float64)
        cand = self.candidates(x, V)
        conf = confidence_scores(lp, values, self.confidence)
        return selection_law(
            conf[0],
            cand[0],
            self.tie_break,
            lambda order: self._select(lp, cand, values, order.unsqueeze(0))[0],
        )

    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        if V not in state:
            return [(state, 1.0)]
        x = torch.tensor([state], dtype=torch.long)
        if self.confidence == "max_prob":
            law = self._set_law(x, log_probs, torch.zeros(x.shape, dtype=torch.long))
            return [
                t for sel, w in law.items() for t in reveal_values(state, sel, log_probs, w, self.temperature)
            ]
        # The set depends on the drawn values: enumerate joint draws at every candidate.
        cand = tuple(int(i) for i in self.candidates(x, V)[0].nonzero().flatten())
        out = []
        for draw, p in reveal_values(state, cand, log_probs, 1.0, self.temperature):
            values = torch.tensor([[draw[i] if state[i] == V else 0 for i in range(length)]])
            for sel, w in self._set_law(x, log_probs, values).items():
                new = tuple(draw[i] if i in sel else state[i] for i in range(length))
                out.append((new, p * w))
        return out
