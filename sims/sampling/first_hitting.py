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

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.sampling.base import (
    CachedDenoiser,
    Sampler,
    SampleResult,
    Trace,
    commit_reveals,
    masked_positions,
    rank_positions,
    reveal_values,
)
from sims.schedules import get_schedule


class FirstHittingSampler(Sampler):
    """Exact continuous-time sampling, one token per event (see module docstring)."""

    name = "first_hitting"

    def __init__(self, schedule="linear", temperature: float = 1.0, precision: Precision = "float64"):
        super().__init__(precision)
        self.schedule = get_schedule(schedule)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.temperature = float(temperature)

    def num_steps(self, length: int) -> int:
        return length

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": "one uniformly chosen token per event at m(s)=m(t)u^(1/n)",
            "schedule": self.schedule.describe(),
            "steps": "L events",
            "temperature": self.temperature,
            "precision": self.precision,
            "nfe": "L",
        }

    def _sample_batch(
        self, denoiser: Denoiser, batch: int, length: int, generator: torch.Generator, device: torch.device
    ) -> SampleResult:
        V = denoiser.vocab_size
        x = torch.full((batch, length), V, dtype=torch.long, device=device)
        cache = CachedDenoiser(denoiser, batch, device)
        trace = Trace(batch, length, length, device, timed=True)
        all_rows = torch.ones(batch, dtype=torch.bool, device=device)
        m_t = torch.ones(batch, dtype=torch.float64, device=device)
        for k in range(length):
            masked = x == V
            n = length - k
            trace.step_num_masked[:, k] = n
            u = torch.rand(batch, dtype=torch.float64, generator=generator, device=generator.device).to(
                device
            )
            m_t = m_t * u ** (1.0 / n)
            s = self.schedule.time_of_masked_fraction(m_t).to(device)
            pick = rank_positions(
                torch.rand(
                    (batch, length), dtype=torch.float64, generator=generator, device=generator.device
                ).to(device),
                masked,
            )[:, :1]
            lp = cache.get(x, all_rows, s)
            values = sample_from_log_probs(lp, generator, self.precision, self.temperature)
            reveal = torch.zeros_like(masked).scatter_(1, pick, True)
            trace.record_step_entropy(k, all_rows, lp, masked)
            trace.reveal_time.scatter_(1, pick, s.unsqueeze(1))
            lp_used = lp if self.temperature in (0.0, 1.0) else torch.log_softmax(lp / self.temperature, -1)
            commit_reveals(x, all_rows, reveal, values, trace, k, lp_used, cache)
        return trace.result(x, cache, self.conventions())

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps: a uniformly random permutation (one position per event)."""
        u = torch.rand((batch, length), dtype=torch.float64, generator=generator, device=generator.device)
        return torch.argsort(torch.argsort(u.cpu(), dim=1), dim=1)

    def exact_transitions(self, state, step, log_probs, length):
        masked = masked_positions(state, log_probs.shape[-1])
        w = 1.0 / len(masked)
        return [t for i in masked for t in reveal_values(state, (i,), log_probs, w, self.temperature)]
