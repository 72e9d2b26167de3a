r"""Fixed-count samplers: a deterministic number of tokens per step, chosen by a position rule.

Count rules (per block of M positions split over :math:`K_b` steps):

* ``"llada"`` (default; LLaDA ``get_num_transfer_tokens``): :math:`\lfloor M/K_b \rfloor` per step, plus one
  on the first :math:`M \bmod K_b` steps (L=100, K=7 gives 15,15,14,14,14,14,14). Never an empty step
  while :math:`K_b \le M`.
* ``"schedule"``: :math:`c_k = \mathrm{rnd}(M\alpha(t_{k+1})) - \mathrm{rnd}(M\alpha(t_k))` on the uniform grid,
  with :math:`\mathrm{rnd}(y) = \lfloor y + 1/2 + 10^{-9} \rfloor` (round half up, robust to float noise at
  ties; deterministic counts that follow a schedule).
* ``"dream"`` (Dream ``_sample``): :math:`c_k = \lfloor M_k (1 - m(s)/m(t)) \rfloor` with :math:`M_k` the number
  still masked, on Dream's grid ``linspace(1, 1e-3, K+1)``; the last step takes all. Can give empty steps
  (L=K=128 reveals 0 at step 1).
* an explicit list of counts (must sum to M).

Position rules (``score``, :mod:`sims.sampling.scores`):

* ``"random"``: a uniformly random subset of the masked candidates (LLaDA ``remasking='random'``; the Li &
  Cai / Tang et al. "MDLM" sampler). The order of every block is drawn once, at step 0 (a uniformly random
  permutation, :meth:`FixedCountSampler.reveal_schedule`: the same law as a fresh uniform subset per step),
  and one token per revealed position per step (:mod:`sims.sampling.scheduled`; ``oracle_path``).
* ``"max_prob"``: highest :math:`\max_v p_i(v)` (context-only confidence; Fast-dLLM, Dream at T=0).
* ``"sampled_prob"``: highest :math:`p_i(\hat x_i)` of the token :math:`\hat x_i` sampled at each candidate
  (LLaDA ``remasking='low_confidence'``). Biased even at one token per step, since the choice looks at the
  drawn value.
* ``"margin"``: highest top-1 minus top-2 probability (Dream ``topk_margin``).
* ``"entropy"``: lowest predictive entropy (Dream ``entropy``).

Scores are untempered; tokens are drawn at ``temperature`` (0 = argmax). Scores are rounded to 40
fractional bits; ties are broken uniformly at random (``tie_break="random"``, the default) or towards the
lowest position (``"lowest_index"``, deterministic); :mod:`sims.sampling.ranking`.

Semi-autoregressive blocks (``block_length``): the sequence is cut into blocks decoded left to right;
K (``steps``) must be a multiple of the number of blocks and each block gets ``steps / num_blocks`` steps;
only masked positions of the current block are candidates (LLaDA/Fast-dLLM semantics).

Calls: one denoiser call per step with a non-zero count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sims.categorical import Precision
from sims.sampling.base import NO_TIME, TIME_MDLM, Capabilities, Conventions, check_steps
from sims.sampling.ranked import RankedStepSampler
from sims.sampling.ranking import top_count_sets
from sims.sampling.runtime import RunState
from sims.sampling.scheduled import ScheduledRun, check_oracle_path, ensure_schedule, scheduled_step
from sims.sampling.scores import SCORES, position_scores
from sims.schedules import get_schedule, time_grid
from sims.schedules.check import check_schedule_on_grid
from sims.validation import InvalidArgumentError, InvalidTypeError, check_choice, check_int

COUNT_RULES = ("llada", "schedule", "dream")


def llada_counts(num_masked: int, steps: int) -> list[int]:
    """LLaDA ``get_num_transfer_tokens``: floor(M/K) each, +1 on the first M mod K steps."""
    base, rem = divmod(num_masked, steps)
    return [base + (1 if k < rem else 0) for k in range(steps)]


def schedule_counts(num_masked: int, steps: int, schedule) -> list[int]:
    """Deterministic counts that follow ``schedule``'s alpha on the uniform grid (see module docstring)."""
    sched = get_schedule(schedule)
    grid = time_grid(steps)
    check_schedule_on_grid(sched, grid)  # alpha at the grid's own times
    # Round half up, treating values within 1e-9 of a half as exact halves, so that float noise in alpha
    # (e.g. sin^2(pi/4) = 0.4999999999999999) cannot flip a tie between mathematically equal schedules.
    revealed = [math.floor(num_masked * float(sched.alpha(float(t))) + 0.5 + 1e-9) for t in grid]
    revealed[0], revealed[-1] = 0, num_masked
    return [revealed[k + 1] - revealed[k] for k in range(steps)]


def dream_counts(num_masked: int, steps: int, schedule="linear", eps: float = 1e-3) -> list[int]:
    """Dream's rule int(M_t (1 - m(s)/m(t))) on Dream's grid linspace(1, eps, K+1) (eps = 1e-3 in Dream);
    the last step takes all that remain."""
    sched = get_schedule(schedule)
    grid = time_grid(steps, eps)
    remaining, counts = num_masked, []
    for k in range(steps):
        if k == steps - 1:
            c = remaining
        else:
            c = int(remaining * sched.unmask_probability(float(grid[k]), float(grid[k + 1])))
        counts.append(c)
        remaining -= c
    return counts


def check_count_rule(count_rule) -> str | list[int]:
    """A count rule name of :data:`COUNT_RULES`, or explicit counts (non-negative integers, at least one)."""
    if isinstance(count_rule, str):
        return check_choice(count_rule, COUNT_RULES, "count_rule")
    try:
        counts = list(count_rule)
    except TypeError:
        raise InvalidTypeError(
            f"count_rule must be one of {COUNT_RULES} or a list of counts, got {count_rule!r:.80}"
        ) from None
    if not counts:
        raise InvalidArgumentError("count_rule: an explicit list of counts must not be empty")
    return [check_int(c, f"count_rule[{i}]", minimum=0) for i, c in enumerate(counts)]


class FixedCountSampler(ScheduledRun, RankedStepSampler):
    """Fixed-count decoding; see the module docstring for every rule.

    Args:
        steps: total steps K (split equally across blocks).
        score: position rule, one of :data:`sims.sampling.scores.SCORES` (``"random"`` by default).
        count_rule: ``"llada"``, ``"schedule"``, ``"dream"`` or an explicit list of per-block counts.
        schedule: used by the ``"schedule"`` and ``"dream"`` count rules.
        block_length: semi-AR block size (None = one block).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default: uniformly among positions whose rounded scores are equal) or
            ``"lowest_index"`` (deterministic). Symmetric synthetic languages produce exact ties (e.g. every
            position of a stationary chain at the first step), and a deterministic lowest-index rule then
            reveals adjacent, strongly dependent positions together, an artefact of the convention.
            Not used by ``score="random"``.
        categorical_precision: categorical sampling precision.
        oracle_path: ``score="random"`` only: ``"auto"`` (default), ``"full"`` or ``"incremental"``, how the
            marginals of the revealed positions are obtained (:mod:`sims.sampling.scheduled`; same random
            numbers either way).

    Name: ``"fixed_<score>"`` (``"_block<b>"`` appended with blocks).
    """

    allowed_scores = SCORES

    def __init__(
        self,
        steps: int,
        score: str = "random",
        count_rule: str | Sequence[int] = "llada",
        schedule="linear",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
        oracle_path: str = "auto",
    ):
        super().__init__(score, temperature, block_length, tie_break, categorical_precision)
        self.oracle_path = check_oracle_path(oracle_path)
        self.steps = check_steps(steps)
        self.count_rule = check_count_rule(count_rule)
        self.schedule = get_schedule(schedule)
        self.name = f"fixed_{score}" if block_length is None else f"fixed_{score}_block{block_length}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=self.score == "random",
            exact_kernel=True,
            revisits=False,
            uses_steps=True,
        )

    # ---- plan -----------------------------------------------------------------------------------
    def blocks(self, length: int) -> list[tuple[int, int]]:
        """``[(start, stop), ...]`` of the semi-AR blocks."""
        b = self.block_length or length
        if length % b:
            raise InvalidArgumentError(f"length {length} must be a multiple of block_length {b}")
        nb = length // b
        if self.steps % nb:
            raise InvalidArgumentError(f"steps {self.steps} must be a multiple of the number of blocks {nb}")
        return [(i * b, (i + 1) * b) for i in range(nb)]

    def block_counts(self, block_size: int, steps: int) -> list[int]:
        if isinstance(self.count_rule, list):
            counts = list(self.count_rule)
            if len(counts) != steps or sum(counts) != block_size or min(counts) < 0:
                raise InvalidArgumentError(
                    f"explicit counts {counts} must be {steps} non-negative numbers summing "
                    f"to the block size {block_size}"
                )
            return counts
        if self.count_rule == "llada":
            return llada_counts(block_size, steps)
        if self.count_rule == "schedule":
            return schedule_counts(block_size, steps, self.schedule)
        return dream_counts(block_size, steps, self.schedule)

    def plan(self, length: int) -> list[tuple[int, int, int]]:
        """Per step: ``(block_start, block_stop, count)``."""
        blocks = self.blocks(length)
        steps_per_block = self.steps // len(blocks)
        return [(a, b, c) for a, b in blocks for c in self.block_counts(b - a, steps_per_block)]

    def num_steps(self, length: int) -> int:
        return len(self.plan(length))

    def evaluates_every_masked_step(self, length: int) -> bool:
        return all(c > 0 for _, _, c in self.plan(length))

    def conventions(self) -> Conventions:
        timed = self.count_rule in ("schedule", "dream")
        ties = (
            "none (uniformly random order)"
            if self.score == "random"
            else f"{self.tie_break} (scores rounded to 40 fractional bits)"
        )
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=TIME_MDLM if timed else NO_TIME,
            schedule=self.schedule.describe() if timed else "none (counts do not use a schedule)",
            step_rule=f"fixed count per step (count rule {self.count_rule})",
            position_rule=f"highest score {self.score!r} among the masked positions of the current block"
            if self.score != "random"
            else "uniformly random subset of the masked positions of the current block",
            tie_break=ties,
            last_step="reveals all remaining (counts sum to the block size)",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step with a non-zero count",
            source={
                "llada": "LLaDA get_num_transfer_tokens",
                "schedule": "deterministic counts from alpha on the grid (Li & Cai)",
                "dream": "Dream _sample (linspace(1, 1e-3, K+1))",
            }.get(self.count_rule if isinstance(self.count_rule, str) else "", "explicit counts"),
            extras={
                "count_rule": self.count_rule if isinstance(self.count_rule, str) else list(self.count_rule),
                "score": self.score,
                "block_length": self.block_length,
            }
            | ({"oracle_path": self.oracle_path} if self.scheduled() else {}),
        )

    # ---- score="random": the scheduled stream (the order drawn once, then one uniform per token) ------
    def scheduled(self) -> bool:
        return self.score == "random"

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        if not self.scheduled():
            return super().step(state, k, generator)
        ensure_schedule(self, state, generator)
        scheduled_step(state, k, generator, self.categorical_precision, self.temperature, self.temperature)

    # ---- the ranked-step rule -------------------------------------------------------------------
    def active_rows(self, masked: torch.Tensor, k: int) -> torch.Tensor:
        count = self.plan(masked.shape[1])[k][2]
        return torch.full((masked.shape[0],), count > 0, dtype=torch.bool, device=masked.device)

    def candidates(self, x: torch.Tensor, vocab_size: int, k: int) -> torch.Tensor:
        a, b, _ = self.plan(x.shape[1])[k]
        pos = torch.arange(x.shape[1], device=x.device)
        return (x == vocab_size) & (pos >= a) & (pos < b)

    def order_prefix(self, length: int, k: int) -> int:
        """The step's count: :meth:`select` reads only ``order[:, :count]``."""
        return self.plan(length)[k][2]

    def select(self, log_probs, candidates, values, order, k):
        count = self.plan(candidates.shape[1])[k][2]
        reveal = torch.zeros_like(candidates)
        reveal.scatter_(1, order[:, :count], True)
        return reveal & candidates

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps of the ``score="random"`` rule (uniform random subsets of the plan's sizes)."""
        if self.score != "random":
            super().reveal_schedule(batch, length, generator)  # raises: the order needs the denoiser
        out = torch.empty((batch, length), dtype=torch.long)
        u = torch.rand(
            (batch, length), dtype=torch.float64, generator=generator, device=generator.device
        ).cpu()
        plan = self.plan(length)
        for a, b in self.blocks(length):
            steps_here = [k for k, (a2, _, _) in enumerate(plan) if a2 == a]
            perm = torch.argsort(u[:, a:b], dim=1) + a  # uniformly random order inside the block
            counts = torch.tensor([plan[k][2] for k in steps_here], dtype=torch.long)
            step_of_rank = torch.repeat_interleave(torch.tensor(steps_here, dtype=torch.long), counts)
            out.scatter_(1, perm, step_of_rank.expand(batch, -1))  # the c_k next in the order at step k
        return out

    # ---- exact kernel: the count best (no factorial enumeration of tie orders) ------------------
    def exact_candidates(self, state, step, vocab_size, length):
        a, b, count = self.plan(length)[step]
        if count == 0:
            return ()
        return tuple(i for i, v in enumerate(state) if v == vocab_size and a <= i < b)

    def set_law(self, state, step, log_probs, values):
        V, length = log_probs.shape[-1], len(state)
        cand = self.exact_candidates(state, step, V, length)
        count = min(self.plan(length)[step][2], len(cand))
        idx = list(cand)
        if self.score == "random":
            scores, ties = torch.zeros(len(cand), dtype=torch.float64), "random"
        else:
            scores, ties = position_scores(self.score, log_probs[idx], values[idx]), self.tie_break
        sets = top_count_sets(scores, torch.ones(len(cand), dtype=torch.bool), count, ties)
        return [(tuple(cand[j] for j in sub), w) for sub, w in sets]
