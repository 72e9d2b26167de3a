r"""MDLM ancestral sampler (Bernoulli step rule).

Time grid :math:`1 = t_0 > t_1 > \dots > t_K = t_{\min}` (``linspace``). At step k (from
:math:`t = t_k` to :math:`s = t_{k+1}`) every still-masked position is revealed independently with
probability :math:`(\alpha(s) - \alpha(t)) / (1 - \alpha(t))` and, if revealed, its token is drawn from the
denoiser's predictive law given the tokens revealed *before* the step (tokens revealed in the same step
never see each other). Revealed tokens are frozen (carry-over). The number revealed per step is random
(binomial), so steps can be empty; an empty step makes no denoiser call.

Last-step rule: with ``t_min = 0`` (default) :math:`\alpha(0) = 1`, so the last step reveals every
remaining token by sampling. With ``t_min > 0`` (MDLM uses 1e-5) tokens may remain masked after K steps;
they are filled in one extra call by ``final_fill`` = ``"argmax"`` (MDLM's noise removal) or ``"sample"``.
That extra step is recorded as step K of the trace.

Categorical precision: ``"float64"`` draws every position's reveal step once, at step 0
(:meth:`AncestralSampler.reveal_schedule`: step k with probability :math:`m(t_k) - m(t_{k+1})`, the law of
the per-step Bernoulli decisions), then at each step one float64 inverse-CDF token per revealed position
(:mod:`sims.sampling.scheduled`; the marginals come from a full pass or from the oracle's incremental
session, ``oracle_path``, with the same random numbers). ``"float32_gumbel"`` reproduces MDLM's implementation: one float32 Gumbel-max draw over V+1
classes with weights :math:`p(v)(\alpha_s-\alpha_t)` and :math:`1-\alpha_s` for the mask, which needs the
denoiser output before the reveal decision (cached while the state is unchanged).
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch

from sims.categorical import Precision, sample_categorical, sample_from_log_probs
from sims.sampling.base import (
    TIME_MDLM,
    Capabilities,
    Conventions,
    Sampler,
    check_final_fill,
    check_steps,
    check_temperature,
    last_step_text,
)
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.sampling.scheduled import ScheduledRun, check_oracle_path, ensure_schedule, scheduled_step
from sims.schedules import Schedule, get_schedule, time_grid
from sims.schedules.check import check_schedule_on_grid


class AncestralSampler(ScheduledRun, Sampler):
    """MDLM ancestral sampling with a Bernoulli reveal per masked position per step.

    Args:
        steps: K >= 1.
        schedule: name, :class:`~sims.schedules.Schedule` or callable alpha(t); default linear.
        t_min: last grid time (0 = exact final step; MDLM uses 1e-5).
        final_fill: how positions still masked at ``t_min > 0`` are filled: ``"argmax"`` or ``"sample"``.
        temperature: token temperature (1 = exact law, 0 = argmax).
        categorical_precision: ``"float64"`` or ``"float32_gumbel"`` (see the module docstring).
        oracle_path: ``"auto"`` (default), ``"full"`` or ``"incremental"``: how the denoiser's marginals are
            obtained in float64 runs (:mod:`sims.sampling.scheduled`; same random numbers either way).

    Name: ``"ancestral"``, or ``"ancestral_<schedule>"`` for a schedule other than linear.
    """

    def __init__(
        self,
        steps: int,
        schedule="linear",
        t_min: float = 0.0,
        final_fill: Literal["argmax", "sample"] = "argmax",
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
        oracle_path: str = "auto",
    ):
        super().__init__(categorical_precision)
        self.oracle_path = check_oracle_path(oracle_path)
        self.steps = check_steps(steps)
        self.schedule: Schedule = get_schedule(schedule)
        self.grid = time_grid(self.steps, t_min)
        check_schedule_on_grid(self.schedule, self.grid)  # m(t) at the grid's own times
        self.t_min = float(t_min)
        self.final_fill = check_final_fill(final_fill)
        self.temperature = check_temperature(temperature)
        self.unmask_probs = [
            self.schedule.unmask_probability(float(self.grid[k]), float(self.grid[k + 1]))
            for k in range(self.steps)
        ]
        self.name = "ancestral" + ("" if self.schedule.name == "linear" else f"_{self.schedule.name}")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=True
        )

    def num_steps(self, length: int) -> int:
        return self.steps + (1 if self.t_min > 0 else 0)

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}" + (" (+ 1 fill step)" if self.t_min > 0 else ""),
            time_direction=TIME_MDLM,
            schedule=self.schedule.describe(),
            step_rule="bernoulli: each masked token revealed independently w.p. (m(t) - m(s))/m(t)",
            position_rule="every masked position independently (random counts; empty steps possible)",
            tie_break="none (no ranking)",
            last_step=last_step_text(self.t_min, self.final_fill),
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per non-empty step (cached otherwise)",
            source="MDLM ancestral sampling (Sahoo et al., arXiv 2406.07524); Feng et al.",
            extras={"time_grid": f"linspace(1, {self.t_min:g}, K+1)"}
            | ({"oracle_path": self.oracle_path} if self.scheduled() else {}),
        )

    # ---- the scheduled stream (float64): schedule at step 0, then one uniform per revealed token ------
    def scheduled(self) -> bool:
        return self.categorical_precision == "float64"

    def step_temperatures(self, k: int) -> tuple[float, float]:
        if k == self.steps:  # fill step at t_min > 0
            return (0.0 if self.final_fill == "argmax" else self.temperature), self.temperature
        return self.temperature, self.temperature

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        if self.scheduled():
            ensure_schedule(self, state, generator)
            t = float(self.grid[k]) if k < self.steps else self.t_min
            draw_t, record_t = self.step_temperatures(k)
            time = self._time(t, state.batch, state.x.device)
            scheduled_step(state, k, generator, "float64", draw_t, record_t, time)
            return
        if k == self.steps:  # fill step at t_min > 0
            self._final_fill(state, generator)
            return
        x, V, trace = state.x, state.vocab_size, state.trace
        batch, length = x.shape
        device = x.device
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        if not bool(masked.any()):
            return
        t, s = float(self.grid[k]), float(self.grid[k + 1])
        if self.categorical_precision == "float64":
            u = torch.rand(
                (batch, length), dtype=torch.float64, generator=generator, device=generator.device
            ).to(device)
            reveal = masked & (u < self.unmask_probs[k])
            rows = reveal.any(1)
            if not bool(rows.any()):
                return
            lp = state.cache.get(x, rows, self._time(t, batch, device))
            values = sample_from_log_probs(lp, generator, "float64", self.temperature)
            lp_used = tempered(lp, self.temperature)
        else:
            rows = masked.any(1)
            lp = state.cache.get(x, rows, self._time(t, batch, device))
            reveal_r, values, lp_used = self._float32_joint_draw(lp, masked[rows], t, s, generator)
            reveal = torch.zeros_like(masked)
            reveal[rows] = reveal_r
        trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal[rows], values, trace, k, lp_used, state.cache)

    def _time(self, t: float, batch: int, device) -> torch.Tensor:
        return torch.full((batch,), t, dtype=torch.float64, device=device)

    def _float32_joint_draw(self, lp, masked, t, s, generator):
        """MDLM's single Gumbel-max draw over V+1 classes, in float32 (see module docstring)."""
        a_t, a_s = float(self.schedule.alpha(t)), float(self.schedule.alpha(s))
        probs = torch.exp(tempered(lp, self.temperature))
        w = torch.cat([probs * (a_s - a_t), torch.full_like(probs[..., :1], 1 - a_s)], dim=-1) / (1 - a_t)
        draw = sample_categorical(w, generator, "float32_gumbel")
        V = lp.shape[-1]
        reveal = masked & (draw < V)
        return reveal, draw.clamp(max=V - 1), tempered(lp, self.temperature)

    def _final_fill(self, state: RunState, generator: torch.Generator) -> None:
        x, V, trace, k = state.x, state.vocab_size, state.trace, self.steps
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        rows = masked.any(1)
        if not bool(rows.any()):
            return
        lp = state.cache.get(x, rows, self._time(self.t_min, x.shape[0], x.device))
        temp = 0.0 if self.final_fill == "argmax" else self.temperature
        values = sample_from_log_probs(lp, generator, "float64", temp)
        trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, masked[rows], values, trace, k, tempered(lp, self.temperature), state.cache)

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps drawn from the Bernoulli rule: each position independently at step k
        with probability ``w_k = m(t_k) - m(t_{k+1})`` (leftovers at ``t_min > 0`` go to the fill step K)."""
        w = self.schedule.step_weights(self.grid)
        w = torch.cat([w, (1 - w.sum()).clamp(min=0).reshape(1)]) if self.t_min > 0 else w
        u = torch.rand((batch, length), dtype=torch.float64, generator=generator, device=generator.device)
        cdf = torch.cumsum(w, 0).to(u.device)
        return torch.searchsorted(cdf * (1 / cdf[-1]), u, right=True).clamp(max=len(w) - 1)

    # ---- exact law ------------------------------------------------------------------------------
    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        masked = masked_positions(state, V)
        if step == self.steps:  # final fill (t_min > 0)
            temp = 0.0 if self.final_fill == "argmax" else self.temperature
            return reveal_values(state, masked, log_probs, 1.0, temp)
        p = self.unmask_probs[step]
        out = []
        for r in range(len(masked) + 1):
            w = p**r * (1 - p) ** (len(masked) - r)
            if w == 0:
                continue
            for subset in itertools.combinations(masked, r):
                out.extend(reveal_values(state, subset, log_probs, w, self.temperature))
        return out
