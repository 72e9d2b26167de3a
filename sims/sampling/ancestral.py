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

Precision: ``"float64"`` draws the reveal decision (float64 uniform) and then the token (float64 inverse
CDF). ``"float32_gumbel"`` reproduces MDLM's implementation: one float32 Gumbel-max draw over V+1
classes with weights :math:`p(v)(\alpha_s-\alpha_t)` and :math:`1-\alpha_s` for the mask, which needs the
denoiser output before the reveal decision (cached while the state is unchanged).
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch

from sims.categorical import Precision, sample_categorical, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.sampling.base import (
    CachedDenoiser,
    Sampler,
    SampleResult,
    Trace,
    check_steps,
    commit_reveals,
    masked_positions,
    reveal_values,
)
from sims.schedules import Schedule, get_schedule, time_grid


class AncestralSampler(Sampler):
    """MDLM ancestral sampling with a Bernoulli reveal per masked position per step.

    Args:
        steps: K >= 1.
        schedule: name, :class:`~sims.schedules.Schedule` or callable alpha(t); default linear.
        t_min: last grid time (0 = exact final step; MDLM uses 1e-5).
        final_fill: how positions still masked at ``t_min > 0`` are filled: ``"argmax"`` or ``"sample"``.
        temperature: token temperature (1 = exact law, 0 = argmax).
        precision: ``"float64"`` or ``"float32_gumbel"`` (see the module docstring).
    """

    name = "ancestral"

    def __init__(
        self,
        steps: int,
        schedule="linear",
        t_min: float = 0.0,
        final_fill: Literal["argmax", "sample"] = "argmax",
        temperature: float = 1.0,
        precision: Precision = "float64",
    ):
        super().__init__(precision)
        self.steps = check_steps(steps)
        self.schedule: Schedule = get_schedule(schedule)
        self.grid = time_grid(self.steps, t_min)
        self.t_min = float(t_min)
        if final_fill not in ("argmax", "sample"):
            raise ValueError(f"final_fill must be 'argmax' or 'sample', got {final_fill!r}")
        self.final_fill = final_fill
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.temperature = float(temperature)
        self.unmask_probs = [
            self.schedule.unmask_probability(float(self.grid[k]), float(self.grid[k + 1]))
            for k in range(self.steps)
        ]

    def num_steps(self, length: int) -> int:
        return self.steps + (1 if self.t_min > 0 else 0)

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": "bernoulli (each masked token independently)",
            "steps": self.steps,
            "schedule": self.schedule.describe(),
            "time_grid": f"linspace(1, {self.t_min:g}, K+1)",
            "last_step": "reveal all by sampling (alpha(0)=1)"
            if self.t_min == 0
            else f"extra {self.final_fill} fill of leftover masks at t_min={self.t_min:g}",
            "temperature": self.temperature,
            "precision": self.precision,
            "nfe": "one call per non-empty step (cached otherwise)",
        }

    def _sample_batch(
        self, denoiser: Denoiser, batch: int, length: int, generator: torch.Generator, device: torch.device
    ) -> SampleResult:
        V = denoiser.vocab_size
        x = torch.full((batch, length), V, dtype=torch.long, device=device)
        cache = CachedDenoiser(denoiser, batch, device)
        trace = Trace(batch, length, self.num_steps(length), device)
        for k in range(self.steps):
            masked = x == V
            trace.step_num_masked[:, k] = masked.sum(1)
            if not bool(masked.any()):
                continue
            t, s = float(self.grid[k]), float(self.grid[k + 1])
            if self.precision == "float64":
                u = torch.rand(
                    (batch, length), dtype=torch.float64, generator=generator, device=generator.device
                ).to(device)
                reveal = masked & (u < self.unmask_probs[k])
                rows = reveal.any(1)
                if not bool(rows.any()):
                    continue
                lp = cache.get(x, rows, self._time(t, batch, device))
                values = sample_from_log_probs(lp, generator, "float64", self.temperature)
                lp_used = self._tempered(lp)
            else:
                rows = masked.any(1)
                lp = cache.get(x, rows, self._time(t, batch, device))
                reveal_r, values, lp_used = self._float32_joint_draw(lp, masked[rows], t, s, generator)
                reveal = torch.zeros_like(masked)
                reveal[rows] = reveal_r
            trace.record_step_entropy(k, rows, lp, masked)
            commit_reveals(x, rows, reveal[rows], values, trace, k, lp_used, cache)
        if self.t_min > 0:
            self._final_fill(x, cache, trace, generator, V)
        return trace.result(x, cache, self.conventions())

    def _time(self, t: float, batch: int, device) -> torch.Tensor:
        return torch.full((batch,), t, dtype=torch.float64, device=device)

    def _tempered(self, lp: torch.Tensor) -> torch.Tensor:
        if self.temperature in (0.0, 1.0):
            return lp
        return torch.log_softmax(lp / self.temperature, dim=-1)

    def _float32_joint_draw(self, lp, masked, t, s, generator):
        """MDLM's single Gumbel-max draw over V+1 classes, in float32 (see module docstring)."""
        a_t, a_s = float(self.schedule.alpha(t)), float(self.schedule.alpha(s))
        probs = torch.exp(self._tempered(lp))
        w = torch.cat([probs * (a_s - a_t), torch.full_like(probs[..., :1], 1 - a_s)], dim=-1) / (1 - a_t)
        draw = sample_categorical(w, generator, "float32_gumbel")
        V = lp.shape[-1]
        reveal = masked & (draw < V)
        return reveal, draw.clamp(max=V - 1), self._tempered(lp)

    def _final_fill(self, x, cache, trace, generator, V):
        k = self.steps
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        rows = masked.any(1)
        if not bool(rows.any()):
            return
        lp = cache.get(x, rows, self._time(self.t_min, x.shape[0], x.device))
        temp = 0.0 if self.final_fill == "argmax" else self.temperature
        values = sample_from_log_probs(lp, generator, "float64", temp)
        trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, masked[rows], values, trace, k, self._tempered(lp), cache)

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
