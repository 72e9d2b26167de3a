r"""Value-independent schedules: one random-number stream, two exact paths (full pass or incremental oracle).

The samplers whose reveal schedule depends on no token value (ancestral/Bernoulli, fixed-count random
order incl. semi-AR blocks, first hitting; ``capabilities.value_independent_schedule``) run as follows:

1. at step 0, the whole schedule is drawn by the sampler's own ``reveal_schedule(B, L, generator)``
   (the reveal step of every position; its law is the step rule's law);
2. at step k, the positions scheduled at k that are still masked are revealed: one denoiser call per row
   with at least one of them (NFE rule unchanged), and one value per revealed position, drawn from the
   marginals given the tokens revealed before the step, in row-major order, in one categorical call.

Because the random numbers (the schedule, then one uniform per revealed token) do not depend on how the
marginals are computed, the two paths consume the generator identically:

* ``"full"``: the denoiser's full output ``(n, L, V)`` (the reference; the trace also records the state
  entropy sum over all masked positions, with one entropy evaluation per step);
* ``"incremental"``: the oracle's scheduled session (:mod:`sims.inference.incremental`), which computes
  the marginals of the revealed positions only; the state entropies are not available (NaN) and
  :func:`sims.sampling.denoising_entropy.state_entropy` refuses such results.

Given the seed, both give the same tokens, reveal steps, call counts and support flags; marginals agree
to float64 rounding, so a token can differ only if a uniform falls within rounding of a CDF boundary
(probability ~1e-16 per draw) or, at temperature 0, on an exact tie of the language. ``oracle_path="auto"``
takes the incremental path when the denoiser offers a session, L >= :data:`AUTO_MIN_LENGTH` and the
denoiser expects the session to be faster (:func:`use_incremental`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sims.categorical import sample_categorical, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.sampling.result import SampleResult
from sims.sampling.runtime import RunState, Trace, tempered
from sims.sampling.scores import entropy_of_log_probs
from sims.validation import InvalidArgumentError

ORACLE_PATHS = ("auto", "full", "incremental")
#: ``oracle_path="auto"`` uses the incremental path from this length on (below, a full pass is cheap and
#: the trace keeps the state entropies).
AUTO_MIN_LENGTH = 64


def check_oracle_path(path: str) -> str:
    if path not in ORACLE_PATHS:
        raise InvalidArgumentError(f"oracle_path must be one of {ORACLE_PATHS}, got {path!r}")
    return path


def ensure_schedule(sampler, state: RunState, generator: torch.Generator) -> torch.Tensor:
    """The run's schedule, drawn at the first step (``begin`` has no generator)."""
    if "schedule" not in state.extra:
        state.extra["schedule"] = sampler.reveal_schedule(state.batch, state.x.shape[1], generator).to(
            state.x.device
        )
    return state.extra["schedule"]


def scheduled_step(
    state: RunState,
    k: int,
    generator: torch.Generator,
    precision: str,
    draw_temperature: float,
    record_temperature: float,
    time: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Full-path step k of a scheduled run (module docstring); returns the revealed ``(rows, positions)``."""
    x, V, trace = state.x, state.vocab_size, state.trace
    masked = x == V
    trace.step_num_masked[:, k] = masked.sum(1)
    reveal = (state.extra["schedule"] == k) & masked
    rows = reveal.any(1)
    if not bool(rows.any()):
        return None
    lp = state.cache.get(x, rows, time)
    r_idx, p_idx = reveal[rows].nonzero(as_tuple=True)
    lp_sel = lp[r_idx, p_idx]
    values = sample_from_log_probs(lp_sel, generator, precision, draw_temperature)
    h = entropy_of_log_probs(lp)  # one entropy evaluation per step
    trace.step_entropy_sum[rows, k] = torch.where(masked[rows], h, torch.zeros_like(h)).sum(-1)
    h_sel = h[r_idx, p_idx] if record_temperature in (0.0, 1.0) else None
    row_ids = rows.nonzero().flatten()[r_idx]
    trace.record_token_reveals(k, row_ids, p_idx, tempered(lp_sel, record_temperature), values, h_sel)
    x[row_ids, p_idx] = values
    state.cache.invalidate(rows)
    return row_ids, p_idx


def use_incremental(
    path: str, denoiser: Denoiser, length: int, batch: int | None = None, num_steps: int | None = None
) -> bool:
    """Whether a run takes the incremental path (raises when it is requested but not offered). ``"auto"``
    takes it from :data:`AUTO_MIN_LENGTH` on when offered and, given ``batch`` and ``num_steps``, when the
    denoiser expects it to be faster (``prefers_scheduled_session``: for the oracle's evidence tree, not at
    many reveals per row and step)."""
    if path == "full":
        return False
    offered = denoiser.offers_scheduled_session(length)
    if path == "incremental" and not offered:
        raise InvalidArgumentError(
            f"oracle_path='incremental': {type(denoiser).__name__} offers no scheduled session for this "
            "language and length (use oracle_path='auto' or 'full')"
        )
    if path == "incremental" or not offered:
        return offered
    if length < AUTO_MIN_LENGTH:
        return False
    return batch is None or denoiser.prefers_scheduled_session(batch, length, num_steps)


def incremental_run(
    sampler,
    denoiser: Denoiser,
    batch: int,
    length: int,
    generator: torch.Generator,
    device: torch.device,
    temperatures: Callable[[int], tuple[float, float]],
    after_query: Callable | None = None,
) -> SampleResult:
    """One batch on the incremental path; same random numbers and records as the full path.

    ``temperatures(k)`` gives (draw, record) temperatures of step k; ``after_query(k, trace, query)`` draws
    what the sampler draws before its values at step k (first hitting: the event time).
    """
    K = sampler.num_steps(length)
    schedule = sampler.reveal_schedule(batch, length, generator).to(device)
    session = denoiser.scheduled_session(schedule, K)
    trace = Trace(batch, length, K, device, timed=sampler.timed_trace)
    left = torch.zeros(batch, dtype=torch.bool, device=device)
    entropy = torch.empty(batch * length, dtype=torch.float64, device=device)  # in the session's order
    logprob = torch.empty(batch * length, dtype=torch.float64, device=device)
    for k in range(K):
        q = session.query(k)
        if after_query is not None:
            after_query(k, trace, q)
        if q.rows.numel() == 0:
            continue
        if q.impossible is not session.no_flags:
            left |= q.impossible
        draw_t, record_t = temperatures(k)
        if q.probs is not None and draw_t == 1.0 and sampler.categorical_precision == "float64":
            values = sample_categorical(q.probs, generator)  # what sample_from_log_probs draws from exp(lp)
        else:
            values = sample_from_log_probs(q.log_probs, generator, sampler.categorical_precision, draw_t)
        used = tempered(q.log_probs, record_t)
        a, b = session.offsets[k], session.offsets[k + 1]
        entropy[a:b] = entropy_of_log_probs(used)
        logprob[a:b] = used.gather(-1, values.unsqueeze(-1)).squeeze(-1)
        session.reveal(values)
    # what the full path records step by step, from the schedule (reveal steps, masked counts, one call per
    # row and non-empty step) and from the session's order (entropies and log-probs of the drawn tokens)
    trace.reveal_step.copy_(schedule)
    trace.token_entropy.view(-1)[session.order] = entropy
    trace.token_logprob.view(-1)[session.order] = logprob
    revealed_before = torch.searchsorted(
        torch.sort(schedule, 1).values, torch.arange(K, device=device).expand(batch, K).contiguous()
    )
    trace.step_num_masked.copy_(length - revealed_before)
    conv = sampler.conventions().to_dict()
    conv["extras"]["oracle_path"] = f"incremental:{session.engine}"
    return trace.result_with(session.tokens.clone(), session.called.sum(0), left, conv)


class ScheduledRun:
    """Mixin (listed before the sampler base) giving a scheduled sampler its two paths.

    The sampler sets ``oracle_path`` (:func:`check_oracle_path`) and implements ``scheduled()`` (whether
    this configuration runs on the scheduled stream), ``step_temperatures(k)`` and optionally
    ``before_query(k, trace, generator, state)``.
    """

    oracle_path = "auto"

    def scheduled(self) -> bool:
        return True

    def step_temperatures(self, k: int) -> tuple[float, float]:
        return self.temperature, self.temperature

    def sample_batch(self, denoiser, batch, length, generator, device):
        steps = self.num_steps(length)
        if self.scheduled() and use_incremental(self.oracle_path, denoiser, length, batch, steps):
            hook = self.incremental_hook(batch, device, generator)
            temps = self.step_temperatures
            return incremental_run(self, denoiser, batch, length, generator, device, temps, hook)
        return super().sample_batch(denoiser, batch, length, generator, device)

    def incremental_hook(self, batch, device, generator):
        """``after_query(k, trace, query)`` of the incremental path (default: nothing drawn before the values)."""
        return None

    def finish(self, state: RunState) -> SampleResult:
        result = super().finish(state)
        if self.scheduled():
            result.conventions["extras"]["oracle_path"] = "full"
        return result
