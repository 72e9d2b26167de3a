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

Position rules (``order``):

* ``"random"``: a uniformly random subset of the masked candidates (LLaDA ``remasking='random'``; the Li &
  Cai / Tang et al. "MDLM" sampler). Chosen before the call.
* ``"max_prob"``: highest :math:`\max_v p_i(v)` (context-only confidence; Fast-dLLM, Dream at T=0).
* ``"sampled_prob"``: highest :math:`p_i(\hat x_i)` of the token :math:`\hat x_i` sampled at each candidate
  (LLaDA ``remasking='low_confidence'``). Biased even at one token per step, since the choice looks at the
  drawn value.
* ``"margin"``: highest top-1 minus top-2 probability (Dream ``topk_margin``).
* ``"entropy"``: lowest predictive entropy (Dream ``entropy``).

Scores are untempered; tokens are drawn at ``temperature`` (0 = argmax). Ties are broken towards the
lowest position after rounding scores to 40 fractional bits.

Semi-autoregressive blocks (``block_length``): the sequence is cut into blocks decoded left to right;
``steps`` must be a multiple of the number of blocks and each block gets ``steps / num_blocks`` steps;
only masked positions of the current block are candidates (LLaDA/Fast-dLLM semantics).

Calls: one denoiser call per step with a non-zero count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.sampling.base import (
    check_steps,
    check_tie_break,
    commit_reveals,
    entropy_of_log_probs,
    masked_positions,
    rank_positions,
    reveal_values,
    top_count_sets,
)
from sims.sampling.stepping import RunState, SteppedSampler, tempered
from sims.schedules import get_schedule, time_grid
from sims.validation import check_positive_int

ORDERS = ("random", "max_prob", "sampled_prob", "margin", "entropy")
COUNT_RULES = ("llada", "schedule", "dream")


def llada_counts(num_masked: int, steps: int) -> list[int]:
    """LLaDA ``get_num_transfer_tokens``: floor(M/K) each, +1 on the first M mod K steps."""
    base, rem = divmod(num_masked, steps)
    return [base + (1 if k < rem else 0) for k in range(steps)]


def schedule_counts(num_masked: int, steps: int, schedule) -> list[int]:
    """Deterministic counts that follow ``schedule``'s alpha on the uniform grid (see module docstring)."""
    sched = get_schedule(schedule)
    grid = time_grid(steps)
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


class FixedCountSampler(SteppedSampler):
    """Fixed-count decoding; see the module docstring for every rule.

    Args:
        steps: total steps K (split equally across blocks).
        order: position rule, one of :data:`ORDERS`.
        count_rule: ``"llada"``, ``"schedule"``, ``"dream"`` or an explicit list of per-block counts.
        schedule: used by the ``"schedule"`` and ``"dream"`` count rules.
        block_length: semi-AR block size (None = one block).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default: uniformly among positions whose rounded scores are equal) or
            ``"lowest_index"`` (deterministic). Symmetric synthetic languages produce exact ties (e.g. every
            position of a stationary chain at the first step), and a deterministic lowest-index rule then
            reveals adjacent, strongly dependent positions together, an artefact of the convention.
        precision: categorical sampling precision.
    """

    def __init__(
        self,
        steps: int,
        order: str = "random",
        count_rule: str | Sequence[int] = "llada",
        schedule="linear",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        precision: Precision = "float64",
    ):
        super().__init__(precision)
        self.tie_break = check_tie_break(tie_break)
        self.steps = check_steps(steps)
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.order = order
        if isinstance(count_rule, str) and count_rule not in COUNT_RULES:
            raise ValueError(
                f"count_rule must be one of {COUNT_RULES} or a list of counts, got {count_rule!r}"
            )
        self.count_rule = count_rule if isinstance(count_rule, str) else [int(c) for c in count_rule]
        self.schedule = get_schedule(schedule)
        self.block_length = None if block_length is None else check_positive_int(block_length, "block_length")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.temperature = float(temperature)
        self.name = f"fixed_{order}" if block_length is None else f"fixed_{order}_block{block_length}"

    # ---- plan -----------------------------------------------------------------------------------
    def blocks(self, length: int) -> list[tuple[int, int]]:
        """``[(start, stop), ...]`` of the semi-AR blocks."""
        b = self.block_length or length
        if length % b:
            raise ValueError(f"length {length} must be a multiple of block_length {b}")
        nb = length // b
        if self.steps % nb:
            raise ValueError(f"steps {self.steps} must be a multiple of the number of blocks {nb}")
        return [(i * b, (i + 1) * b) for i in range(nb)]

    def block_counts(self, block_size: int, steps: int) -> list[int]:
        if isinstance(self.count_rule, list):
            counts = list(self.count_rule)
            if len(counts) != steps or sum(counts) != block_size or min(counts) < 0:
                raise ValueError(
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

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": "fixed count",
            "steps": self.steps,
            "count_rule": self.count_rule if isinstance(self.count_rule, str) else list(self.count_rule),
            "schedule": self.schedule.describe() if self.count_rule in ("schedule", "dream") else None,
            "order": self.order,
            "block_length": self.block_length,
            "temperature": self.temperature,
            "last_step": "reveals all remaining (counts sum to the block size)",
            "precision": self.precision,
            "nfe": "one call per step with a non-zero count",
            "ties": f"{self.tie_break} (scores rounded to 40 fractional bits)",
        }

    # ---- scores ---------------------------------------------------------------------------------
    def _scores(self, lp: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if self.order == "max_prob":
            return lp.max(-1).values.exp()
        if self.order == "sampled_prob":
            return lp.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
        if self.order == "margin":
            top2 = lp.exp().topk(min(2, lp.shape[-1]), dim=-1).values
            return top2[..., 0] - (top2[..., 1] if top2.shape[-1] > 1 else 0.0)
        if self.order == "entropy":
            return -entropy_of_log_probs(lp)
        raise AssertionError(self.order)

    # ---- batched sampler (one step; the loop is SteppedSampler's) --------------------------------
    def _step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        a, b, count = self.plan(x.shape[1])[k]
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        if count == 0:
            return
        pos = torch.arange(x.shape[1], device=x.device)
        candidates = masked & (pos >= a) & (pos < b)
        rows = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        if self.order == "random":
            u = torch.rand(x.shape, dtype=torch.float64, generator=generator, device=generator.device)
            ranked = rank_positions(u.to(x.device), candidates)
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.precision, self.temperature)
        if self.order != "random":
            tie_gen = generator if self.tie_break == "random" else None
            ranked = rank_positions(self._scores(lp, values), candidates, tie_gen)
        reveal = torch.zeros_like(masked)
        reveal.scatter_(1, ranked[:, :count], True)
        reveal &= candidates
        state.trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal, values, state.trace, k, tempered(lp, self.temperature), state.cache)

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps of the ``order="random"`` rule (uniform random subsets of the plan's sizes)."""
        if self.order != "random":
            raise ValueError(
                f"order {self.order!r} depends on the denoiser output; only 'random' has a "
                "value-independent reveal schedule"
            )
        out = torch.empty((batch, length), dtype=torch.long)
        u = torch.rand(
            (batch, length), dtype=torch.float64, generator=generator, device=generator.device
        ).cpu()
        plan = self.plan(length)
        for a, b in self.blocks(length):
            steps_here = [k for k, (a2, _, _) in enumerate(plan) if a2 == a]
            perm = torch.argsort(u[:, a:b], dim=1) + a  # uniformly random order inside the block
            start = 0
            for k in steps_here:
                c = plan[k][2]
                out.scatter_(1, perm[:, start : start + c], k)
                start += c
        return out

    # ---- exact law ------------------------------------------------------------------------------
    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        a, b, count = self.plan(length)[step]
        cand = tuple(i for i in masked_positions(state, V) if a <= i < b)
        count = min(count, len(cand))
        if count == 0:
            return [(state, 1.0)]
        if self.order == "random":
            subsets = list(itertools.combinations(cand, count))
            w = 1.0 / len(subsets)
            return [t for sub in subsets for t in reveal_values(state, sub, log_probs, w, self.temperature)]
        if self.order == "sampled_prob":
            # The choice depends on the drawn values: enumerate joint draws at all candidates.
            out = []
            for draw, p in reveal_values(state, cand, log_probs, 1.0, self.temperature):
                values = torch.tensor([draw[i] for i in cand])
                scores = log_probs[list(cand)].gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
                for chosen, w in self._top(cand, scores, count):
                    new = tuple(draw[i] if i in chosen else state[i] for i in range(length))
                    out.append((new, p * w))
            return out
        scores = self._scores(log_probs[list(cand)], torch.zeros(len(cand), dtype=torch.long))
        return [
            t
            for chosen, w in self._top(cand, scores, count)
            for t in reveal_values(state, chosen, log_probs, w, self.temperature)
        ]

    def _top(self, cand: tuple, scores: torch.Tensor, count: int) -> list[tuple[tuple, float]]:
        """Law of the chosen positions among ``cand`` (tie rule included)."""
        sets = top_count_sets(scores, torch.ones(len(cand), dtype=torch.bool), count, self.tie_break)
        return [(tuple(cand[j] for j in sub), w) for sub, w in sets]
