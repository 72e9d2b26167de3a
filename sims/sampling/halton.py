r"""Halton / van der Corput order (Besnier et al., arXiv 2503.17076; official ``valeoai/Halton-MaskGIT``).

The Halton scheduler reveals positions in a quasi-random, low-discrepancy order fixed in advance,
independent of the denoiser's confidence. On a sequence (one dimension) the Halton sequence is the van der
Corput sequence: with the radical inverse in base b,

.. math::  \phi_b(i) = \sum_j d_j\, b^{-j-1} \quad\text{for } i = \sum_j d_j b^j,

the order lists :math:`\lfloor L\,\phi_b(i) \rfloor` for :math:`i = 1, 2, \dots`, keeping the first
occurrence of each position, until all L positions appear (``halton_order``; computed in exact integer
arithmetic). In base 2 and :math:`L = 8` this is 4, 2, 6, 1, 5, 3, 7, 0. The released image code does the
same in two dimensions (bases 2 and 3 on a square grid), starting its generator at :math:`\phi(1) = 1/2`
and removing duplicates in order of first occurrence.

Counts (``count_rule``): ``"arccos"`` (the released sampler): after step k (0-based) the first
:math:`r_k = \max(k+1, \lfloor L\,(1 - \arccos((k+1)/K)/(\pi/2)) \rfloor)` positions of the order are
revealed (capped at L), computed in float32 as the code does; ``"llada"``: the LLaDA counts
(:func:`sims.sampling.fixed_count.llada_counts`). ``randomize=True`` (a code option, off by default) rotates
the order by a uniformly random offset per sequence.

Not implemented: the code's softmax temperature schedule (``sm_temp_min``/``sm_temp_max``, default 1 to 1),
classifier-free guidance and top-k filtering of the token law. Defaults: base 2 (the first Halton
dimension), arccos counts, no randomization (code defaults; the paper's image experiments use 32 steps).
"""

from __future__ import annotations

import math

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.fixed_count import llada_counts
from sims.sampling.planned import Plan, PlannedSetSampler, check_plan
from sims.validation import check_positive_int

HALTON_COUNT_RULES = ("arccos", "llada")


def radical_inverse(i: int, base: int) -> tuple[int, int]:
    """:math:`\\phi_b(i)` as an exact fraction ``(numerator, denominator)``."""
    num, den = 0, 1
    while i > 0:
        i, d = divmod(i, base)
        num, den = num * base + d, den * base
    return num, den


def halton_order(length: int, base: int = 2) -> list[int]:
    """Positions in van der Corput order: first occurrences of ``floor(L * phi_b(i))``, ``i = 1, 2, ...``."""
    length = check_positive_int(length, "length")
    base = check_positive_int(base, "base", minimum=2)
    seen, order, i = set(), [], 1
    while len(order) < length:
        num, den = radical_inverse(i, base)
        pos = (length * num) // den
        if pos not in seen:
            seen.add(pos)
            order.append(pos)
        i += 1
    return order


def arccos_counts(length: int, steps: int) -> list[int]:
    """Per-step counts of the released Halton sampler (cumulative ``max(k+1, int(L r))``, float32 as in the code)."""
    revealed, prev = [], 0
    for k in range(steps):
        ratio = torch.tensor((k + 1) / steps, dtype=torch.float32)
        r = 1 - torch.arccos(ratio) / (math.pi * 0.5)
        cum = min(length, max(k + 1, int(r * length)))
        revealed.append(cum - prev)
        prev = cum
    return revealed


class HaltonSampler(PlannedSetSampler):
    """Reveals positions in Halton / van der Corput order (module docstring).

    Args:
        steps: K >= 1.
        base: radix of the van der Corput sequence (>= 2; the code's first dimension uses 2).
        count_rule: ``"arccos"`` (code) or ``"llada"``.
        randomize: rotate the order by a uniformly random offset per sequence (code option).
        temperature: token temperature (1 = exact law, 0 = argmax).
        categorical_precision: categorical sampling precision.

    Name: ``"halton"`` (``"_b<base>"``, ``"_llada"``, ``"_random_shift"`` appended for non-defaults).
    """

    def __init__(
        self,
        steps: int,
        base: int = 2,
        count_rule: str = "arccos",
        randomize: bool = False,
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, categorical_precision)
        self.steps = check_steps(steps)
        self.base = check_positive_int(base, "base", minimum=2)
        if count_rule not in HALTON_COUNT_RULES:
            raise ValueError(f"count_rule must be one of {HALTON_COUNT_RULES}, got {count_rule!r}")
        self.count_rule = count_rule
        self.randomize = bool(randomize)
        self.name = (
            "halton"
            + ("" if base == 2 else f"_b{base}")
            + ("" if count_rule == "arccos" else f"_{count_rule}")
            + ("_random_shift" if self.randomize else "")
        )

    def counts(self, length: int) -> list[int]:
        if self.count_rule == "arccos":
            return arccos_counts(length, self.steps)
        return llada_counts(length, self.steps)

    def plan_law(self, length: int) -> list[tuple[Plan, float]]:
        order = halton_order(length, self.base)
        counts = self.counts(length)
        shifts = range(length) if self.randomize else [0]
        law = []
        for shift in shifts:
            rolled = order[-shift:] + order[:-shift] if shift else order
            plan, start = [], 0
            for c in counts:
                plan.append(tuple(rolled[start : start + c]))
                start += c
            law.append((check_plan(tuple(plan), length), 1.0 / len(shifts)))
        return law

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=NO_TIME,
            schedule="none (counts from the count rule, no diffusion time)",
            step_rule=f"planned counts ({self.count_rule})",
            position_rule=f"van der Corput order in base {self.base}"
            + (", rotated by a uniform random offset per sequence" if self.randomize else ""),
            tie_break="none (a fixed order)",
            last_step="the counts sum to L: the last step reveals the rest of the order",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step with a non-empty set",
            source="arXiv 2503.17076; valeoai/Halton-MaskGIT Sampler/halton_sampler.py",
            extras={"base": self.base, "count_rule": self.count_rule, "randomize": self.randomize},
        )
