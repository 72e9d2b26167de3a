r"""DUS, the dilated unmasking scheduler (Luxembourg et al., arXiv 2506.19037; official ``omerlux/DUS``).

Inside each block of B positions (the whole sequence by default), the positions are split into dilated
groups that are revealed one group per step, coarse to fine:

* stride :math:`s_0 = \lfloor B / b^{e} \rfloor` (``base`` b, ``skip`` e; the code's ``base_skip``);
* for :math:`s = s_0, \lfloor s_0/b \rfloor, \dots, 1`: the group is every offset :math:`j` with
  :math:`j \bmod s = 0` not revealed by an earlier group (empty groups are dropped);
* any offset left over forms a last group, and the last group is merged into the one before it when it is
  smaller (the code's ``merge_last_level``).

For :math:`B = 2^m` and b = 2 this gives :math:`m` groups of sizes 2, 2, 4, ..., B/2, so a block costs
:math:`\log_2 B` calls instead of B (the paper's speed-quality trade-off). Positions in a group are far
apart, which is the paper's argument: under a first-order Markov assumption non-adjacent tokens are nearly
independent given the rest, so revealing them together loses little (the joint-entropy bound). Every token
of a group is drawn independently from the denoiser's law given the earlier groups (at ``temperature``;
the code decodes at 0).

Released code versus this implementation: ``generate_scheduled`` (README usage ``remasking=low_confidence,
confidence_threshold=0.3``) remasks the tokens of a non-final group whose confidence is below the threshold
and never schedules them again, so they stay masked to the end of the block. That would end runs with
masks, which the sampler contract forbids; it is not implemented (documented in docs/decoding_policies.md).
The code's alternative ``scheduler="binary"`` and the paper's dilated-spacing post-filter for adaptive
samplers (Sec. 4.4) are not implemented either.

Defaults: base 2 and skip 1 (README, confirmed); the paper and README use blocks of 32 (``block_length``
here defaults to the whole sequence, which the tiny test sequences need).
"""

from __future__ import annotations

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, Conventions
from sims.sampling.planned import Plan, PlannedSetSampler, check_plan
from sims.validation import InvalidArgumentError, check_optional_positive_int, check_positive_int


def dilated_groups(block: int, base: int = 2, skip: int = 1) -> list[list[int]]:
    """The DUS groups of offsets ``0..block-1`` (module docstring), coarse to fine."""
    block = check_positive_int(block, "block_length")
    base = check_positive_int(base, "base")
    skip = check_positive_int(skip, "skip")
    if base == 1:
        return [list(range(block))]
    stride = block // base**skip
    groups, done = [], set()
    while stride >= 1:
        group = [j for j in range(block) if j % stride == 0 and j not in done]
        if group:
            groups.append(group)
            done.update(group)
        stride //= base
    rest = [j for j in range(block) if j not in done]
    if rest:
        groups.append(rest)
    if len(groups) >= 2 and len(groups[-1]) < len(groups[-2]):
        last = groups.pop()
        groups[-1] = groups[-1] + last
    return groups


class DUSSampler(PlannedSetSampler):
    """Dilated unmasking scheduler (module docstring). The number of steps follows from the block length.

    Args:
        base: dilation base b (>= 1; 1 reveals a whole block at once).
        skip: exponent e of the first stride :math:`\\lfloor B/b^e \\rfloor` (>= 1).
        block_length: block size B (None = the whole sequence); blocks are decoded left to right.
        temperature: token temperature (1 = exact law, 0 = argmax).
        categorical_precision: categorical sampling precision.

    Name: ``"dus_b<base>"`` (``"_skip<e>"``, ``"_block<B>"`` appended for non-defaults).
    """

    uses_steps = False

    def __init__(
        self,
        base: int = 2,
        skip: int = 1,
        block_length: int | None = None,
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, categorical_precision)
        self.base = check_positive_int(base, "base")
        self.skip = check_positive_int(skip, "skip")
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = (
            f"dus_b{base}"
            + ("" if skip == 1 else f"_skip{skip}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def plan_law(self, length: int) -> list[tuple[Plan, float]]:
        b = length if self.block_length is None else self.block_length
        if length % b:
            raise InvalidArgumentError(f"length {length} must be a multiple of block_length {b}")
        plan = []
        for start in range(0, length, b):
            plan.extend(tuple(start + j for j in g) for g in dilated_groups(b, self.base, self.skip))
        return [(check_plan(tuple(plan), length), 1.0)]

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps="set by the block length: one step per dilated group (log_b B per block of B = b^m)",
            time_direction=NO_TIME,
            schedule="none (planned groups)",
            step_rule="one dilated group per step, blocks left to right",
            position_rule=f"dilated groups, base {self.base}, first stride B // {self.base}^{self.skip}; "
            "a smaller last group is merged into the previous one",
            tie_break="none (a fixed plan)",
            last_step="the last group of the last block reveals the rest",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per group",
            source="arXiv 2506.19037; omerlux/DUS generate.py (dilated_unmask_levels, merge_last_level)",
            extras={
                "base": self.base,
                "skip": self.skip,
                "block_length": self.block_length,
                "low_confidence_remask": "not implemented (the code leaves remasked tokens masked)",
            },
        )
