r"""First-hitting sampler (Zheng et al., arXiv 2409.02908, Prop. 4.1; bd3lms ``first_hitting``).

With n masked tokens at time t, the forward masking times of the masked tokens are i.i.d. given
:math:`\tau \le t` with :math:`P(\tau \le s \mid \tau \le t) = m(s)/m(t)`; the next reverse event is their
maximum, so

.. math::
    m(s) = m(t)\, u^{1/n}, \qquad u \sim U(0, 1)

(linear schedule: :math:`s = t u^{1/n}`). At that time exactly one uniformly chosen masked position is
revealed with a token from the denoiser. There are exactly L events and L calls; the token law equals the
continuous-time reverse process (random-order autoregression). Reveal times are recorded in the trace.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.denoisers.base import Denoiser
from sims.sampling.base import TIME_MDLM, Capabilities, Conventions, Sampler, check_temperature
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.runtime import RunState
from sims.sampling.scheduled import ScheduledRun, check_oracle_path, ensure_schedule, scheduled_step
from sims.schedules import get_schedule
from sims.schedules.base import time_grid
from sims.schedules.check import check_schedule_on_grid


class FirstHittingSampler(ScheduledRun, Sampler):
    """Exact continuous-time sampling, one token per event (see module docstring).

    There is no step count: a run has exactly L events (the registry's K is ignored). The order of the
    events is drawn once, at the first event (a uniformly random permutation, :meth:`reveal_schedule`);
    then per event the time and one token (:mod:`sims.sampling.scheduled`; ``oracle_path`` as there).
    """

    name = "first_hitting"
    timed_trace = True

    def __init__(
        self,
        schedule="linear",
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
        oracle_path: str = "auto",
    ):
        super().__init__(categorical_precision)
        self.oracle_path = check_oracle_path(oracle_path)
        self.schedule = get_schedule(schedule)
        self.temperature = check_temperature(temperature)
        check_schedule_on_grid(self.schedule, time_grid(1))  # the ends it uses: m(1) = 1, m(0) = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=False
        )

    def num_steps(self, length: int) -> int:
        return length

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps="L events (no step count K)",
            time_direction=TIME_MDLM,
            schedule=self.schedule.describe(),
            step_rule="one token per event at m(s) = m(t) u^(1/n), n masked",
            position_rule="a uniformly random masked position per event",
            tie_break="none (no ranking)",
            last_step="the L-th event reveals the last masked position",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per event (L calls)",
            source="Zheng et al., arXiv 2409.02908, Prop. 4.1; bd3lms first_hitting",
            extras={"oracle_path": self.oracle_path},
        )

    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        state = super().begin(denoiser, batch, length, device)
        state.extra["masked_fraction"] = torch.ones(batch, dtype=torch.float64, device=device)  # m(t)
        return state

    def _event_time(self, k: int, length: int, masked_fraction, generator, device):
        """The k-th event: ``m(s) = m(t) u^{1/n}`` with n = L - k masked positions; returns m(s) and s."""
        u = torch.rand(
            masked_fraction.shape[0], dtype=torch.float64, generator=generator, device=generator.device
        )
        m_s = masked_fraction * u.to(device) ** (1.0 / (length - k))
        return m_s, self.schedule.time_of_masked_fraction(m_s).to(device)

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        ensure_schedule(self, state, generator)
        device = state.x.device
        m_s, s = self._event_time(k, state.x.shape[1], state.extra["masked_fraction"], generator, device)
        state.extra["masked_fraction"] = m_s
        rows, pos = scheduled_step(
            state, k, generator, self.categorical_precision, *self.step_temperatures(k), s
        )
        state.trace.reveal_time[rows, pos] = s[rows]

    def incremental_hook(self, batch, device, generator):
        fraction = [torch.ones(batch, dtype=torch.float64, device=device)]

        def after_query(k, trace, query):
            fraction[0], s = self._event_time(k, trace.reveal_step.shape[1], fraction[0], generator, device)
            trace.reveal_time[query.rows, query.positions] = s[query.rows]

        return after_query

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps: a uniformly random permutation (one position per event)."""
        u = torch.rand((batch, length), dtype=torch.float64, generator=generator, device=generator.device)
        return torch.argsort(torch.argsort(u.cpu(), dim=1), dim=1)

    def evaluates_every_masked_step(self, length: int) -> bool:
        return True

    def exact_transitions(self, state, step, log_probs, length):
        masked = masked_positions(state, log_probs.shape[-1])
        w = 1.0 / len(masked)
        return [t for i in masked for t in reveal_values(state, (i,), log_probs, w, self.temperature)]
