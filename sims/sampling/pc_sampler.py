r"""PC-Sampler (position-aware, calibrated confidence; Huang et al., arXiv 2508.13021; official
``NEUIR/Uncode``, formerly PC-Sampler, ``src/generate.py::generate_with_pc_sampler``).

LLaDA fixed-count decoding (K steps split over semi-AR blocks, LLaDA counts) whose position score is

.. math::  s_l = e^{-\lambda (l - b)} \cdot \min\big(\alpha,\; -p_l(\hat x_l) \log f(\hat x_l)\big),

with :math:`\hat x_l` the token drawn at l, :math:`p_l(\hat x_l)` its probability, :math:`f` a background
token frequency (the code's ``P_baseline.json``, unigram frequencies counted on a corpus) and b the start of
the current block. The exponential weight favours positions near the left end (the paper's fix for a
"rigid boundary bias"); the calibration term down-weights frequent, trivially confident tokens; the clip
:math:`\alpha` bounds rare tokens. The ``count`` highest scores of the block's masked positions are revealed.

The suite's background (``background``): ``"all_masked"`` (default) is the denoiser's law at the all-masked
state averaged over positions, :math:`f(v) = \frac1L \sum_l p(x_l = v)`, the exact expected unigram frequency
of the language at length L (it is read from the step-0 output, which every run computes anyway, and
carried in the run state, so the rule is exact on the augmented state); ``"uniform"`` (:math:`f = 1/V`: the
score is the drawn token's probability times the position weight); or an explicit sequence of V
frequencies.

Conventions and differences from the code: scores are ranked in the log domain,
:math:`\log s_l = -\lambda(l-b) + \log \min(\alpha, \cdot)`, which is the same ranking without the code's
float32 underflow (:math:`e^{-\lambda l}` is 0 in float32 beyond :math:`l \approx 414` at
:math:`\lambda = 0.25`, so on long blocks the code ranks far positions by index order only); the code adds
1e-9 inside the logarithm, which only matters for a zero background frequency (here
:math:`-\log 0 = +\infty`, clipped to :math:`\alpha`). Log-scores are rounded to 40 fractional bits, ties
broken uniformly at random (default) or towards the lowest index.

Defaults: :math:`\lambda = 0.25`, :math:`\alpha = 10` (the evaluation scripts for HumanEval, MBPP,
MATH-500, GSM8K and GPQA; Sudoku uses :math:`\lambda = 0`, Countdown :math:`\lambda = 1`; the function's own
defaults are :math:`\lambda = \alpha = 1`); K = L in the scripts. Calls: one per step with a non-zero count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.policy import Decision, PolicySampler, llada_plan
from sims.sampling.ranking import quantize
from sims.validation import (
    InvalidArgumentError,
    as_float64,
    check_choice,
    check_optional_positive_int,
    check_real,
    check_stochastic,
)


def pc_log_scores(
    log_probs: torch.Tensor,
    values: torch.Tensor,
    background: torch.Tensor,
    lam: float,
    alpha: float,
    block_start: int,
) -> torch.Tensor:
    """``(n, L)`` log-scores :math:`-\\lambda (l - b) + \\log\\min(\\alpha, -p_l(\\hat x_l)\\log f(\\hat x_l))`.

    ``background`` has shape ``(V,)`` or ``(n, V)``.
    """
    p = log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
    bg = background if background.dim() == 2 else background.unsqueeze(0).expand(values.shape[0], -1)
    f = bg.gather(1, values)
    ce = torch.where(f > 0, -p * torch.log(f), torch.full_like(p, math.inf))
    ce = torch.where(p > 0, ce, torch.zeros_like(p))  # a zero-probability token contributes nothing
    calibrated = ce.clamp(max=alpha).clamp(min=1e-300)
    pos = torch.arange(values.shape[1], device=values.device, dtype=torch.float64) - block_start
    return -lam * pos + torch.log(calibrated)


class PCSampler(PolicySampler):
    """PC-Sampler (module docstring).

    Args:
        steps: K >= 1 (split equally over the blocks).
        lam: position decay lambda >= 0.
        alpha: clip alpha > 0 of the calibrated confidence.
        background: ``"all_masked"``, ``"uniform"`` or a sequence of V non-negative frequencies summing to 1.
        block_length: semi-AR block size (None = one block).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"pc_sampler_l<lam>_a<alpha>"`` (``"_uniform"``, ``"_explicit"``, ``"_block<b>"`` appended).
    """

    uses_steps = True
    decision_uses_values = True

    def __init__(
        self,
        steps: int,
        lam: float = 0.25,
        alpha: float = 10.0,
        background: str | Sequence[float] = "all_masked",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.lam = check_real(lam, "lam", minimum=0.0)
        self.alpha = check_real(alpha, "alpha", minimum=0.0, open_min=True)
        if isinstance(background, str):
            self.background = check_choice(background, ("all_masked", "uniform"), "background")
        else:
            bg = as_float64(background, "background (V token frequencies)")
            if bg.dim() != 1:
                raise InvalidArgumentError(
                    f"background must be one vector of V frequencies, got shape {tuple(bg.shape)}"
                )
            self.background = check_stochastic(bg, "background (V token frequencies)")
        self.has_history = isinstance(self.background, str) and self.background == "all_masked"
        self.block_length = check_optional_positive_int(block_length, "block_length")
        tag = "" if self.has_history else ("_uniform" if isinstance(self.background, str) else "_explicit")
        self.name = f"pc_sampler_l{lam:g}_a{alpha:g}{tag}" + (
            "" if block_length is None else f"_block{block_length}"
        )

    def num_steps(self, length: int) -> int:
        return len(llada_plan(length, self.steps, self.block_length))

    def evaluates_every_masked_step(self, length: int) -> bool:
        return all(c > 0 for _, _, c in llada_plan(length, self.steps, self.block_length))

    def conventions(self) -> Conventions:
        bg = self.background if isinstance(self.background, str) else [float(v) for v in self.background]
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=NO_TIME,
            schedule="none (LLaDA counts)",
            step_rule="LLaDA fixed counts per block",
            position_rule="highest exp(-lam (l - block start)) min(alpha, -p(x_hat) log f(x_hat)) among the "
            "masked positions of the current block (ranked in the log domain)",
            tie_break=f"{self.tie_break} (log-scores rounded to 40 fractional bits)",
            last_step="counts sum to each block",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step with a non-zero count",
            source="arXiv 2508.13021; NEUIR/Uncode src/generate.py generate_with_pc_sampler",
            extras={
                "lam": self.lam,
                "alpha": self.alpha,
                "background": bg,
                "block_length": self.block_length,
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        if not self.has_history:
            return {}
        return {"background": torch.full((batch, vocab_size), torch.nan, dtype=torch.float64, device=device)}

    def active_rows(self, x, vocab_size, extra, k):
        count = llada_plan(x.shape[1], self.steps, self.block_length)[k][2]
        return (x == vocab_size).any(1) & (count > 0)

    def _background(self, log_probs: torch.Tensor, extra: dict) -> torch.Tensor:
        V = log_probs.shape[-1]
        if isinstance(self.background, torch.Tensor):
            if self.background.numel() != V:
                raise InvalidArgumentError(
                    f"background has {self.background.numel()} frequencies, the vocabulary {V}"
                )
            return self.background.to(log_probs.device)
        if self.background == "uniform":
            return torch.full((V,), 1.0 / V, dtype=torch.float64, device=log_probs.device)
        bg = extra["background"]
        fresh = quantize(log_probs.exp().mean(1))  # the step-0 output is the all-masked law
        return torch.where(torch.isnan(bg), fresh, bg)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        a, b, _ = llada_plan(x.shape[1], self.steps, self.block_length)[k]
        pos = torch.arange(x.shape[1], device=x.device)
        cand = (x == log_probs.shape[-1]) & (pos >= a) & (pos < b)
        bg = self._background(log_probs, extra)
        return pc_log_scores(log_probs, values, bg, self.lam, self.alpha, a), cand

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        a, b, count = llada_plan(x.shape[1], self.steps, self.block_length)[k]
        pos = torch.arange(x.shape[1], device=x.device)
        cand = (x == log_probs.shape[-1]) & (pos >= a) & (pos < b)
        top = torch.zeros_like(cand)
        top.scatter_(1, order[:, :count], True)
        new = {"background": self._background(log_probs, extra)} if self.has_history else {}
        return Decision(top & cand, torch.zeros_like(cand), new)
