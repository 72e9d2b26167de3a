"""What a batched run carries between steps: the call cache, the trace, and the run state.

Call counting (:class:`CachedDenoiser`): a call is made only for rows whose state changed since their
last call (time-agnostic denoisers), so steps that reveal nothing cost nothing, as in
MDLM/ReMDM/bd3lms ``ddpm_cache``. Every write to a row (a reveal or a remask) invalidates its cache
entry, even if a later write restores an earlier state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sims.denoisers.base import Denoiser
from sims.sampling.result import SampleResult
from sims.sampling.scores import entropy_of_log_probs
from sims.validation import InvalidArgumentError


class CachedDenoiser:
    """Calls a denoiser only for rows whose state changed since their last call; counts calls per row."""

    def __init__(self, denoiser: Denoiser, batch: int, device: torch.device):
        self.denoiser = denoiser
        self.log_probs: torch.Tensor | None = None
        self.valid = torch.zeros(batch, dtype=torch.bool, device=device)
        self.nfe = torch.zeros(batch, dtype=torch.long, device=device)
        self.impossible = torch.zeros(batch, dtype=torch.bool, device=device)

    def get(self, x: torch.Tensor, rows: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probs ``(n, L, V)`` for the rows selected by the bool mask ``rows``."""
        need = rows if self.denoiser.time_conditioned else rows & ~self.valid
        if bool(need.any()):
            out = self.denoiser(x[need], None if t is None else t[need])
            lp = out.log_probs.to(x.device)
            if self.log_probs is None:
                self.log_probs = torch.zeros(
                    (x.shape[0],) + tuple(lp.shape[1:]), dtype=torch.float64, device=x.device
                )
            self.log_probs[need] = lp
            self.valid |= need
            self.nfe += need.long()
            self.impossible[need] |= out.impossible.to(x.device)
        return self.log_probs[rows]

    def invalidate(self, rows: torch.Tensor) -> None:
        self.valid &= ~rows


class Trace:
    """Collects the per-position and per-step records of a run into a :class:`SampleResult`."""

    def __init__(self, batch: int, length: int, steps: int, device: torch.device, timed: bool = False):
        kw = {"device": device}
        self.reveal_step = torch.full((batch, length), -1, dtype=torch.long, **kw)
        self.token_entropy = torch.full((batch, length), torch.nan, dtype=torch.float64, **kw)
        self.token_logprob = torch.full((batch, length), torch.nan, dtype=torch.float64, **kw)
        self.step_entropy_sum = torch.full((batch, steps), torch.nan, dtype=torch.float64, **kw)
        self.step_num_masked = torch.zeros((batch, steps), dtype=torch.long, **kw)
        self.reveal_time = (
            torch.full((batch, length), torch.nan, dtype=torch.float64, **kw) if timed else None
        )
        self._entropy: tuple[torch.Tensor, torch.Tensor] | None = None  # (log-probs, their entropies)

    def widen(self, steps: int) -> None:
        """Append step columns up to ``steps`` (a wrapper that runs more steps after its base sampler)."""
        extra = steps - self.step_num_masked.shape[1]
        if extra < 0:
            raise InvalidArgumentError(
                f"cannot narrow a trace of {self.step_num_masked.shape[1]} steps to {steps}"
            )
        b, dev = self.step_num_masked.shape[0], self.step_num_masked.device
        nan = torch.full((b, extra), torch.nan, dtype=torch.float64, device=dev)
        self.step_entropy_sum = torch.cat([self.step_entropy_sum, nan], 1)
        self.step_num_masked = torch.cat(
            [self.step_num_masked, torch.zeros((b, extra), dtype=torch.long, device=dev)], 1
        )

    def record_step_entropy(
        self, step: int, rows: torch.Tensor, log_probs: torch.Tensor, masked: torch.Tensor
    ) -> None:
        """Sum of predictive entropies over masked positions for the rows (bool mask) that used an output.

        The entropies are kept for :meth:`record_reveals` of the same step when it records draws from the
        same (untempered) output, so each step evaluates them once."""
        h = entropy_of_log_probs(log_probs)
        self._entropy = (log_probs, h)
        self.step_entropy_sum[rows, step] = torch.where(masked[rows], h, torch.zeros_like(h)).sum(-1)

    def record_reveals(
        self,
        step: int,
        reveal: torch.Tensor,
        log_probs_used: torch.Tensor,
        values: torch.Tensor,
        rows: torch.Tensor,
    ) -> None:
        """Record reveals (bool ``(n, L)``) of the selected ``rows`` drawn from ``log_probs_used``."""
        cached, self._entropy = self._entropy, None
        h = (
            cached[1]
            if cached is not None and cached[0] is log_probs_used
            else entropy_of_log_probs(log_probs_used)
        )
        lp = log_probs_used.gather(-1, values.unsqueeze(-1)).squeeze(-1)
        tgt = rows.nonzero().flatten()
        rs = self.reveal_step[tgt]
        self.reveal_step[tgt] = torch.where(reveal, torch.full_like(rs, step), rs)
        self.token_entropy[tgt] = torch.where(reveal, h, self.token_entropy[tgt])
        self.token_logprob[tgt] = torch.where(reveal, lp, self.token_logprob[tgt])

    def record_token_reveals(
        self,
        step: int,
        rows: torch.Tensor,
        positions: torch.Tensor,
        log_probs_used: torch.Tensor,
        values: torch.Tensor,
        entropy: torch.Tensor | None = None,
    ) -> None:
        """Record reveals given token by token: ``rows[j], positions[j]`` drawn ``values[j]`` from
        ``log_probs_used[j]`` (``(n, V)``; ``entropy`` its entropies when already computed)."""
        self.reveal_step[rows, positions] = step
        self.token_entropy[rows, positions] = (
            entropy_of_log_probs(log_probs_used) if entropy is None else entropy
        )
        self.token_logprob[rows, positions] = log_probs_used.gather(-1, values.unsqueeze(-1)).squeeze(-1)

    def result(self, tokens: torch.Tensor, cache: CachedDenoiser, conventions: dict) -> SampleResult:
        return self.result_with(tokens, cache.nfe, cache.impossible, conventions)

    def result_with(
        self, tokens: torch.Tensor, nfe: torch.Tensor, left_support: torch.Tensor, conventions: dict
    ) -> SampleResult:
        """The run's result from this trace and the calls and support flags counted elsewhere (the
        incremental path counts them in its session, not in a call cache)."""
        return SampleResult(
            tokens=tokens,
            nfe=nfe,
            reveal_step=self.reveal_step,
            token_entropy=self.token_entropy,
            token_logprob=self.token_logprob,
            step_entropy_sum=self.step_entropy_sum,
            step_num_masked=self.step_num_masked,
            left_support=left_support,
            reveal_time=self.reveal_time,
            conventions=conventions,
        )


TRACE_FIELDS = (
    "reveal_step",
    "token_entropy",
    "token_logprob",
    "step_entropy_sum",
    "step_num_masked",
    "reveal_time",
)


@dataclass
class RunState:
    """Everything a batched run carries between steps (tokens, call cache, trace, sampler extras).

    ``extra`` holds per-sampler state; tensors whose first axis is the batch follow the rows in
    :meth:`take_rows`.
    """

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
        for name in TRACE_FIELDS:
            v = getattr(t, name)
            if v is not None:
                setattr(t, name, v[idx].clone())
        for k, v in list(self.extra.items()):
            if isinstance(v, torch.Tensor) and v.shape[:1] == (self.batch,):
                self.extra[k] = v[idx].clone()


def commit_reveals(
    x: torch.Tensor,
    rows: torch.Tensor,
    reveal: torch.Tensor,
    values: torch.Tensor,
    trace: Trace,
    step: int,
    log_probs_used: torch.Tensor,
    cache: CachedDenoiser,
) -> None:
    """Write ``values`` at the ``reveal`` positions (``(n, L)``) of the selected ``rows`` and record them."""
    x[rows] = torch.where(reveal, values, x[rows])
    trace.record_reveals(step, reveal, log_probs_used, values, rows)
    changed = torch.zeros_like(rows)
    changed[rows] = reveal.any(1)
    cache.invalidate(changed)


def tempered(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """The law tokens are drawn from: ``log_softmax(lp / T)`` (T = 0: recorded as ``lp``)."""
    if temperature in (0.0, 1.0):
        return log_probs
    return torch.log_softmax(log_probs / temperature, dim=-1)
