r"""Planned position sets: samplers whose step k reveals a set of positions fixed before the run.

A plan is a partition of the positions :math:`\{0..L-1\}` into ordered sets :math:`S_0, \dots, S_{K-1}`
(possibly empty). A run draws one plan from a law over plans (:meth:`PlannedSetSampler.plan_law`; one plan
with probability one for a deterministic rule), then at step k reveals every position of :math:`S_k`, each
token drawn independently from the denoiser's law given the tokens revealed before the step (at
``temperature``). The denoiser is never consulted for *which* positions move, so the schedule is value
independent (:meth:`PlannedSetSampler.reveal_schedule`).

Exact kernel: given the revealed set :math:`R` at step k, the posterior over plans is the prior restricted
to the plans with :math:`S_0 \cup \dots \cup S_{k-1} = R` (the values carry no information about the plan),
so the next set is drawn from that posterior; the kernel is Markov on partial sequences.

Calls: one per step with a non-empty set.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.sampling.base import Capabilities, Sampler, check_temperature
from sims.sampling.kernels import reveal_values
from sims.sampling.runtime import RunState, commit_reveals, tempered

Plan = tuple[tuple[int, ...], ...]


def check_plan(plan: Plan, length: int) -> Plan:
    """``plan`` if its sets partition ``range(length)``, else a ValueError."""
    flat = sorted(i for s in plan for i in s)
    if flat != list(range(length)):
        raise ValueError(f"a plan must partition the {length} positions, got {plan}")
    return plan


def plan_steps(plan: Plan, length: int) -> list[int]:
    """The step of every position under ``plan``."""
    out = [0] * length
    for k, s in enumerate(plan):
        for i in s:
            out[i] = k
    return out


class PlannedSetSampler(Sampler):
    """Reveals planned position sets (module docstring). Subclasses implement :meth:`plan_law`."""

    def __init__(self, temperature: float, categorical_precision: Precision):
        super().__init__(categorical_precision)
        self.temperature = check_temperature(temperature)

    @abstractmethod
    def plan_law(self, length: int) -> list[tuple[Plan, float]]:
        """Every plan for sequences of ``length`` with its probability (all of the same number of steps)."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=self.uses_steps
        )

    uses_steps = True

    def num_steps(self, length: int) -> int:
        return len(self.plan_law(length)[0][0])

    def evaluates_every_masked_step(self, length: int) -> bool:
        return all(len(s) > 0 for plan, _ in self.plan_law(length) for s in plan)

    # ---- batched run ------------------------------------------------------------------------------
    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` step of every position: one plan per sequence drawn from :meth:`plan_law`."""
        law = self.plan_law(length)
        table = torch.tensor([plan_steps(plan, length) for plan, _ in law], dtype=torch.long)
        if len(law) == 1:
            return table.expand(batch, length).clone()
        probs = torch.tensor([p for _, p in law], dtype=torch.float64)
        u = torch.rand((batch, 1), dtype=torch.float64, generator=generator, device=generator.device).cpu()
        cdf = torch.cumsum(probs, 0) / probs.sum()
        idx = torch.searchsorted(cdf.unsqueeze(0).expand(batch, -1).contiguous(), u).squeeze(1)
        return table[idx.clamp(max=len(law) - 1)]

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        if "plan_step" not in state.extra:
            state.extra["plan_step"] = self.reveal_schedule(x.shape[0], x.shape[1], generator).to(x.device)
        reveal = masked & (state.extra["plan_step"] == k)
        rows = reveal.any(1)
        if not bool(rows.any()):
            return
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
        state.trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(
            x, rows, reveal[rows], values, state.trace, k, tempered(lp, self.temperature), state.cache
        )

    # ---- exact kernel -----------------------------------------------------------------------------
    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        revealed = {i for i, v in enumerate(state) if v != V}
        posterior: dict[tuple, float] = {}
        for plan, p in self.plan_law(length):
            if {i for s in plan[:step] for i in s} == revealed:
                nxt = tuple(sorted(plan[step]))
                posterior[nxt] = posterior.get(nxt, 0.0) + p
        if not posterior:
            raise ValueError(f"{self.name}: state {state} is not reachable at step {step}")
        total = sum(posterior.values())
        return [
            t
            for nxt, p in posterior.items()
            for t in reveal_values(state, nxt, log_probs, p / total, self.temperature)
        ]
