"""Step-by-step samplers: a run split into ``begin`` / ``step`` / ``finish`` so wrappers can act in between.

The adaptive samplers of this package (EB, Fast-dLLM, ReMDM) are written as :class:`SteppedSampler`
subclasses. Their :meth:`Sampler._sample_batch` is the plain loop ``begin; step k = 0..K-1; finish``; the
entropy-guided particle sampler (:mod:`sims.sampling.denoising_entropy`) runs the same steps and resamples
whole rows in between with :meth:`RunState.take_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sims.categorical import sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.sampling.base import CachedDenoiser, Sampler, SampleResult, Trace, commit_reveals, rank_positions


@dataclass
class RunState:
    """Everything a batched run carries between steps (tokens, call cache, trace, sampler extras)."""

    x: torch.Tensor
    cache: CachedDenoiser
    trace: Trace
    vocab_size: int
    extra: dict = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    def take_rows(self, idx: torch.Tensor) -> None:
        """Replace row j by row ``idx[j]`` everywhere (resampling), except the call counters.

        ``cache.nfe`` is left in place on purpose: it counts the calls made *in each row slot*, so the sum
        over the slots of a particle group is the group's total cost whatever the lineage.
        """
        self.x = self.x[idx].clone()
        c = self.cache
        if c.log_probs is not None:
            c.log_probs = c.log_probs[idx].clone()
        c.valid = c.valid[idx].clone()
        c.impossible = c.impossible[idx].clone()
        t = self.trace
        for name in (
            "reveal_step",
            "token_entropy",
            "token_logprob",
            "step_entropy_sum",
            "step_num_masked",
            "reveal_time",
        ):
            v = getattr(t, name)
            if v is not None:
                setattr(t, name, v[idx].clone())
        for k, v in list(self.extra.items()):
            if isinstance(v, torch.Tensor) and v.shape[:1] == (self.batch,):
                self.extra[k] = v[idx].clone()


class SteppedSampler(Sampler):
    """A sampler whose batched run is ``begin``, then ``step`` for k = 0..K-1, then ``finish``."""

    timed_trace = False

    def _begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        V = denoiser.vocab_size
        x = torch.full((batch, length), V, dtype=torch.long, device=device)
        return RunState(
            x=x,
            cache=CachedDenoiser(denoiser, batch, device),
            trace=Trace(batch, length, self.num_steps(length), device, timed=self.timed_trace),
            vocab_size=V,
        )

    def _step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        raise NotImplementedError

    def _finish(self, state: RunState) -> SampleResult:
        if bool((state.x == state.vocab_size).any()):
            raise AssertionError(f"{self.name}: run ended with masked positions")
        return state.trace.result(state.x, state.cache, self.conventions())

    def _sample_batch(
        self, denoiser: Denoiser, batch: int, length: int, generator: torch.Generator, device: torch.device
    ) -> SampleResult:
        state = self._begin(denoiser, batch, length, device)
        for k in range(self.num_steps(length)):
            self._step(state, k, generator)
        return self._finish(state)


def tempered(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """The law tokens are drawn from: ``log_softmax(lp / T)`` (T = 0: recorded as ``lp``)."""
    if temperature in (0.0, 1.0):
        return log_probs
    return torch.log_softmax(log_probs / temperature, dim=-1)


def check_temperature(temperature: float) -> float:
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    return float(temperature)


def block_candidates(x: torch.Tensor, vocab_size: int, block_length: int | None) -> torch.Tensor:
    """Masked positions of the first block (left to right) that still has masked positions.

    ``block_length=None`` means the whole sequence is one block. Rows without masks get no candidate.
    """
    masked = x == vocab_size
    if block_length is None:
        return masked
    L = x.shape[1]
    block = torch.arange(L, device=x.device) // block_length
    big = torch.full_like(x, L)  # larger than any block index
    current = torch.where(masked, block.expand_as(x), big).amin(1, keepdim=True)
    return masked & (block.unsqueeze(0) == current)


def check_block_length(block_length, length: int) -> None:
    if block_length is not None and length % block_length:
        raise ValueError(f"length {length} must be a multiple of block_length {block_length}")


def ranked_reveal_step(sampler, state: RunState, k: int, generator: torch.Generator, scores, select) -> None:
    """One step of a ranking-based rule (EB, Fast-dLLM): one call for the rows with masks, draw a value at
    every position, rank the candidates by ``scores(lp, values)`` (ties per ``sampler.tie_break``) and reveal
    ``select(lp, candidates, values, order)``.

    ``sampler`` provides ``precision``, ``temperature``, ``tie_break`` and ``candidates(x, V)``.
    """

    V = state.vocab_size
    masked = state.x == V
    state.trace.step_num_masked[:, k] = masked.sum(1)
    rows = masked.any(1)
    if not bool(rows.any()):
        return
    lp = state.cache.get(state.x, rows)
    values = sample_from_log_probs(lp, generator, sampler.precision, sampler.temperature)
    cand = sampler.candidates(state.x[rows], V)
    order = rank_positions(scores(lp, values), cand, generator if sampler.tie_break == "random" else None)
    reveal = select(lp, cand, values, order)
    state.trace.record_step_entropy(k, rows, lp, masked)
    commit_reveals(
        state.x, rows, reveal, values, state.trace, k, tempered(lp, sampler.temperature), state.cache
    )
