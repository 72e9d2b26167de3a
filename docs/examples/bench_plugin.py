"""A one-file decoding policy for ``mdm-suite bench`` (docs/bench.md, "Bench your own sampler").

Run it on the standard panel against every registered policy::

    mdm-suite bench --quick --sampler docs/examples/bench_plugin.py:LeftToRightSampler

or check it against the sampler contract only::

    mdm-suite bench --validate-only --sampler docs/examples/bench_plugin.py:LeftToRightSampler

The policy: semi-autoregressive decoding in left-to-right order with LLaDA's counts (floor(L/K) positions
per step, the remainder on the first steps), i.e. the K-step version of autoregressive order. At K = L it
is exact under the oracle (one token per step, any order is exact); at K < L it reveals *adjacent*
positions together, which are the most dependent ones in a Markov language, so random order should beat
it at equal calls. ``tests/sims/test_bench_plugin_example.py`` runs this file through the bench.

Contract (``docs/extending.md``, "A sampler"): subclass ``Sampler``; declare ``capabilities`` and
``conventions()``; implement ``num_steps`` and ``step`` with the run state's call cache
(``state.cache.get``), the trace and ``commit_reveals``; give ``reveal_schedule`` because the schedule is
value-independent (teacher forcing then gives the data-direction excess) and ``exact_transitions``
because the kernel is easy (the bench's exact tier then gets the exact law). The bench constructs the
class as ``LeftToRightSampler(K)`` because ``capabilities.uses_steps`` is True.
"""

from __future__ import annotations

import torch

from sims.categorical import sample_from_log_probs
from sims.sampling.base import NO_TIME, Capabilities, Conventions, Sampler, check_steps
from sims.sampling.fixed_count import llada_counts
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.runtime import RunState, commit_reveals, tempered


class LeftToRightSampler(Sampler):
    """K steps, LLaDA counts, positions revealed left to right (module docstring)."""

    name = "left_to_right"

    def __init__(self, steps: int):
        super().__init__("float64")
        self.steps = check_steps(steps)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=True
        )

    def num_steps(self, length: int) -> int:
        if self.steps > length:
            raise ValueError(f"steps {self.steps} must be at most the length {length}")
        return self.steps

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=NO_TIME,
            schedule="none (fixed counts)",
            step_rule="LLaDA counts: floor(L/K) per step, the remainder on the first steps",
            position_rule="the leftmost masked positions (semi-autoregressive order)",
            tie_break="none (no ranking)",
            last_step="the counts sum to L",
            temperature=1.0,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step",
            source="docs/examples/bench_plugin.py (an example plugin)",
        )

    def plan(self, length: int) -> list[range]:
        """Positions revealed at each step."""
        out, start = [], 0
        for c in llada_counts(length, self.num_steps(length)):
            out.append(range(start, start + c))
            start += c
        return out

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        reveal = torch.zeros_like(masked)
        reveal[:, list(self.plan(x.shape[1])[k])] = True
        rows = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, 1.0)
        state.trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal, values, state.trace, k, tempered(lp, 1.0), state.cache)

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        out = torch.empty(length, dtype=torch.long)
        for k, positions in enumerate(self.plan(length)):
            out[list(positions)] = k
        return out.expand(batch, length).clone()

    def exact_transitions(self, state, step, log_probs, length):
        todo = tuple(i for i in self.plan(length)[step] if i in masked_positions(state, log_probs.shape[-1]))
        return reveal_values(state, todo, log_probs, 1.0, 1.0)
