r"""SEDD's predictors on the absorbing graph (Lou et al., arXiv 2310.16834; official
``louaaron/Score-Entropy-Discrete-Diffusion`` ``sampling.py``, ``graph_lib.py::Absorbing``, ``noise_lib.py``).

SEDD parameterises the reverse process by the concrete score. With total noise :math:`\bar\sigma(t)` and
:math:`\alpha(t) = e^{-\bar\sigma(t)}` (probability that a token is still clean), the exact score of an
absorbing process at a masked position l is

.. math::  s_l(v) = \frac{\alpha(t)}{1 - \alpha(t)}\, q(x_l = v \mid \text{revealed}), \qquad s_l(\text{mask}) = 1,

so the suite's denoisers give it from their normalised laws. On the grid ``linspace(1, eps, K+1)``
(``eps = 1e-5``, :math:`\Delta t = (1-\text{eps})/K`), step k from t to :math:`s = t - \Delta t` moves each
masked position to token v with probability :math:`\pi_k\, q(v)` and leaves it masked otherwise, where

* ``predictor="euler"`` (``EulerPredictor``: identity plus :math:`\Delta t\,\dot{\bar\sigma}(t)` times the
  reverse rate): :math:`\pi_k = \Delta t\, \dot{\bar\sigma}(t)\, \alpha(t)/(1-\alpha(t))`, clipped to
  :math:`[0, 1]` (the code's categorical then has a negative "stay" weight, which its Gumbel race never
  picks: the same as clipping);
* ``predictor="analytic"`` (``AnalyticPredictor``, the staggered score times the transposed transition,
  Tweedie :math:`\tau`-leaping): :math:`\pi_k = (e^{\bar\sigma(t) - \bar\sigma(s)} - 1)\,
  \alpha(t)/(1-\alpha(t)) = (\alpha(s) - \alpha(t))/(1 - \alpha(t))`, MDLM's ancestral step.

After the K steps the code's ``Denoiser`` step (noise removal at t = eps) samples every position still
masked from q (the truncated staggered score is proportional to q); it is recorded as step K.

Noise schedules (``noise``): ``"loglinear"`` (the absorbing default), :math:`\bar\sigma(t) =
-\log(1 - (1-\epsilon)t)` with :math:`\epsilon = 10^{-3}`; ``"geometric"``,
:math:`\bar\sigma(t) = \sigma_{\min}^{1-t}\sigma_{\max}^t` with :math:`(10^{-4}, 20)` from the released
config. With the log-linear schedule :math:`1 - \alpha(t) = (1-\epsilon)t`, so both predictors give
:math:`\pi_k = \Delta t / t`: **with an exact (normalised) score, Euler, analytic and MDLM's linear-schedule
ancestral sampler on the same grid have the same law** (tested). They differ with the geometric schedule,
with a learned score whose total mass is not :math:`\alpha/(1-\alpha)`, and in float32.

Everything here is value independent (which positions move never depends on the denoiser), so the
schedule is a Bernoulli reveal schedule. ``categorical_precision="float32_gumbel"`` emulates the code's
float32 Gumbel race over the V+1 outcomes (stay, or each token) in one draw. Calls: one per step in
which some position moves (float64), or with a masked position (float32 race, which needs q first).
"""

from __future__ import annotations

import itertools
import math

import torch

from sims.categorical import Precision, sample_categorical, sample_from_log_probs
from sims.sampling.base import TIME_MDLM, Capabilities, Conventions, Sampler, check_steps, check_temperature
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.schedules import time_grid

PREDICTORS = ("euler", "analytic")
NOISES = ("loglinear", "geometric")


def total_noise(t: float, noise: str, eps: float = 1e-3, sigma_min: float = 1e-4, sigma_max: float = 20.0):
    """``(sigma_bar(t), d sigma_bar / dt)`` of SEDD's noise schedules (``noise_lib.py``)."""
    if noise == "loglinear":
        return -math.log1p(-(1 - eps) * t), (1 - eps) / (1 - (1 - eps) * t)
    if noise == "geometric":
        s = sigma_min ** (1 - t) * sigma_max**t
        return s, s * math.log(sigma_max / sigma_min)
    raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")


def move_probabilities(steps: int, predictor: str, noise: str, eps: float = 1e-5) -> list[float]:
    """:math:`\\pi_k` of every step (module docstring)."""
    grid = time_grid(steps, eps)
    dt = (1 - eps) / steps
    out = []
    for k in range(steps):
        t, s = float(grid[k]), float(grid[k + 1])
        sig_t, dsig_t = total_noise(t, noise)
        ratio = math.exp(-sig_t) / -math.expm1(-sig_t)  # alpha / (1 - alpha)
        if predictor == "euler":
            pi = dt * dsig_t * ratio
        elif predictor == "analytic":
            pi = math.expm1(sig_t - total_noise(s, noise)[0]) * ratio
        else:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
        out.append(min(1.0, max(0.0, pi)))
    return out


class SEDDSampler(Sampler):
    """SEDD Euler or analytic (Tweedie tau-leaping) predictor with noise removal (module docstring).

    Args:
        steps: K >= 1.
        predictor: ``"euler"`` (the released config's default) or ``"analytic"``.
        noise: ``"loglinear"`` (default for the absorbing graph) or ``"geometric"``.
        eps: last grid time (the code's 1e-5).
        temperature: token temperature (1 = exact law, 0 = argmax).
        categorical_precision: ``"float64"`` or ``"float32_gumbel"`` (the code's float32 race).

    Name: ``"sedd_<predictor>"`` (``"_geometric"`` appended for that noise).
    """

    def __init__(
        self,
        steps: int,
        predictor: str = "euler",
        noise: str = "loglinear",
        eps: float = 1e-5,
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(categorical_precision)
        self.steps = check_steps(steps)
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
        if noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must lie in (0, 1), got {eps}")
        self.predictor, self.noise, self.eps = predictor, noise, float(eps)
        self.temperature = check_temperature(temperature)
        self.move_probs = move_probabilities(self.steps, predictor, noise, self.eps)
        self.name = f"sedd_{predictor}" + ("" if noise == "loglinear" else f"_{noise}")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=True
        )

    def num_steps(self, length: int) -> int:
        return self.steps + 1

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps} (+ 1 noise-removal step)",
            time_direction=TIME_MDLM,
            schedule={"noise": self.noise, "alpha": "exp(-sigma_bar(t))"},
            step_rule=f"SEDD {self.predictor}: each masked position moves w.p. pi_k, to v w.p. pi_k q(v)",
            position_rule="every masked position independently",
            tie_break="none (no ranking)",
            last_step=f"noise removal at t_min={self.eps:g}: every leftover mask sampled from q (step K)",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step in which a position moves (float64) or with masks (float32 race)",
            source="arXiv 2310.16834; louaaron/Score-Entropy-Discrete-Diffusion sampling.py, graph_lib.py",
            extras={"predictor": self.predictor, "time_grid": f"linspace(1, {self.eps:g}, K+1)"},
        )

    # ---- batched run ------------------------------------------------------------------------------
    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V, trace = state.x, state.vocab_size, state.trace
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        if not bool(masked.any()):
            return
        if k == self.steps:  # noise removal
            rows = masked.any(1)
            lp = state.cache.get(x, rows)
            values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
            reveal = masked[rows]
        elif self.categorical_precision == "float64":
            u = torch.rand(x.shape, dtype=torch.float64, generator=generator, device=generator.device).to(
                x.device
            )
            move = masked & (u < self.move_probs[k])
            rows = move.any(1)
            if not bool(rows.any()):
                return
            lp = state.cache.get(x, rows)
            values = sample_from_log_probs(lp, generator, "float64", self.temperature)
            reveal = move[rows]
        else:  # the code's single float32 race over (tokens, stay)
            rows = masked.any(1)
            lp = state.cache.get(x, rows)
            pi = self.move_probs[k]
            probs = torch.exp(tempered(lp, self.temperature))
            w = torch.cat([probs * pi, torch.full_like(probs[..., :1], 1 - pi)], -1)
            draw = sample_categorical(w, generator, "float32_gumbel")
            reveal = masked[rows] & (draw < V)
            values = draw.clamp(max=V - 1)
        trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal, values, trace, k, tempered(lp, self.temperature), state.cache)

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps: step k with probability :math:`\\pi_k \\prod_{j<k}(1-\\pi_j)`, else step K."""
        w, stay = [], 1.0
        for pi in self.move_probs:
            w.append(stay * pi)
            stay *= 1 - pi
        w.append(stay)
        cdf = torch.cumsum(torch.tensor(w, dtype=torch.float64), 0)
        u = torch.rand(
            (batch, length), dtype=torch.float64, generator=generator, device=generator.device
        ).cpu()
        return torch.searchsorted(cdf / cdf[-1], u, right=True).clamp(max=len(w) - 1)

    def evaluates_every_masked_step(self, length: int) -> bool:
        return self.categorical_precision == "float32_gumbel"

    # ---- exact kernel -----------------------------------------------------------------------------
    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        masked = masked_positions(state, V)
        if step == self.steps:
            return reveal_values(state, masked, log_probs, 1.0, self.temperature)
        p = self.move_probs[step]
        out = []
        for r in range(len(masked) + 1):
            w = p**r * (1 - p) ** (len(masked) - r)
            if w == 0:
                continue
            for subset in itertools.combinations(masked, r):
                out.extend(reveal_values(state, subset, log_probs, w, self.temperature))
        return out
