r"""ReMDM remasking samplers (Wang et al., arXiv 2503.00307; kuleshov-group/remdm ``_ddpm_caching_update``).

Step from t to s < t on the grid ``linspace(1, t_min, K+1)`` with :math:`\alpha` = P(revealed). Every
position moves independently given the current state and one denoiser output :math:`x_\theta` (Eq. 6):

* revealed position: remasked with probability :math:`\sigma_t`, otherwise kept;
* masked position: revealed (token drawn from :math:`x_\theta`) with probability
  :math:`(\alpha_s - (1-\sigma_t)\alpha_t)/(1-\alpha_t)`, otherwise stays masked,

with :math:`0 \le \sigma_t \le \sigma_t^{\max} = \min(1, (1-\alpha_s)/\alpha_t)` (Eq. 7). Theorem 3.1: the
per-token marginal of the state at every grid time is :math:`\alpha_t x + (1-\alpha_t)\,\text{mask}`, the
same as MDLM's, for any admissible :math:`\sigma_t` that is the same for the masked and the revealed
branch of a position. :math:`\sigma = 0` is MDLM (:class:`~sims.sampling.ancestral.AncestralSampler`).

Variants (``variant``): ``mdlm``, ``cap``, ``rescale``, ``conf``, ``loop``, ``fb``, each a rule object
of :mod:`sims.sampling.remdm_rules` (the table of sigmas and default etas is there). The exact-law
toolkit (dense state laws, the two-state recursion of Theorem 3.1) is :mod:`sims.sampling.remdm_exact`.

The paper uses ``cap`` with :math:`\eta=0.04` when K < L (fewer steps than tokens; not the default here).

Exactness of Theorem 3.1 *as implemented* (found by
:func:`sims.sampling.remdm_exact.masked_probability_path` and the exact state laws in the tests): ``conf``
uses :math:`\sigma=0` on masked positions and :math:`\sigma_l>0` on revealed ones, so it masks more than :math:`1-\alpha_s`; ``loop`` decides its phase from the step's start time,
so a step straddling :math:`t_{on}` or :math:`t_{off}` leaves the nominal schedule (exact when both lie on
the grid, e.g. K a multiple of 20 with ``t_min = 0``).

``fb`` clipping: :math:`(\alpha_s-\alpha_t)/\alpha_t \le \sigma^{\max}_t` iff
:math:`2\alpha_s - \alpha_t \le 1`, which
fails near the end of the run (e.g. the last step, :math:`\alpha_s = 1`). The official code then gets a
negative mask weight, which its Gumbel-max never picks (masked positions all reveal) while revealed ones
are still remasked with the raw sigma and refilled by the final argmax; we clip instead (documented
deviation).

Not implemented: nucleus (top-p = 0.9) filtering of :math:`x_\theta` (used in the paper's OWT runs) and
the bfloat16 storage of ``conf`` in the official code. Last step: with ``t_min = 0`` the last step has
:math:`\alpha_s = 1` (:math:`\sigma^{\max}=0`), so everything is revealed; with ``t_min > 0`` the leftover
masks are filled in one extra call by ``final_fill`` (the official noise removal is argmax).

Calls: the reveal decisions do not need the denoiser, so it is called only for rows that reveal something
and whose state changed since the last call (as MDLM's ``ddpm_cache``).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.sampling.base import (
    TIME_MDLM,
    Capabilities,
    Conventions,
    Sampler,
    check_final_fill,
    check_temperature,
    last_step_text,
)
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.remdm_rules import StepParameters, make_rule, unmask_probability
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.schedules import get_schedule, time_grid
from sims.schedules.check import check_schedule_on_grid
from sims.validation import InvalidArgumentError, check_positive_int


class ReMDMSampler(Sampler):
    """ReMDM remasking; see the module docstring for every variant and convention.

    Args:
        steps: K >= 1 (grid ``linspace(1, t_min, K+1)``).
        variant: one of :data:`sims.sampling.remdm_rules.VARIANTS`.
        eta: the variant's eta (None: the official default; must be None for variants without one).
        schedule: alpha(t) (``loop`` defines its own and needs ``"linear"``).
        t_on, t_off, alpha_on: the ``loop`` phases.
        t_min: last grid time; ``final_fill`` fills the leftover masks at ``t_min > 0``.
        temperature: token temperature (1 = exact law, 0 = argmax).
        categorical_precision: categorical sampling precision.

    Name: ``"remdm_<variant>"`` (``"_eta<eta>"`` appended for cap, rescale and loop).
    """

    timed_trace = True

    def __init__(
        self,
        steps: int,
        variant: str = "cap",
        eta: float | None = None,
        schedule="linear",
        t_on: float = 0.55,
        t_off: float = 0.05,
        alpha_on: float = 0.9,
        t_min: float = 0.0,
        final_fill: Literal["argmax", "sample"] = "argmax",
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(categorical_precision)
        self.steps = check_positive_int(steps, "steps")
        self.rule = make_rule(variant, eta, t_on, t_off, alpha_on)
        self.variant, self.eta = variant, self.rule.eta
        self.schedule = get_schedule(schedule)
        if self.rule.own_schedule and self.schedule.name != "linear":
            raise InvalidArgumentError(
                f"the {variant} variant defines its own piecewise alpha(t); use schedule='linear'"
            )
        self.grid = time_grid(self.steps, t_min)
        check_schedule_on_grid(self.schedule, self.grid)  # m(t) at the grid's own times
        self.t_min = float(t_min)
        self.final_fill = check_final_fill(final_fill)
        self.temperature = check_temperature(temperature)
        eta_txt = f"_eta{self.eta:g}" if variant in ("cap", "rescale", "loop") else ""
        self.name = f"remdm_{variant}{eta_txt}"
        self._table = [
            self.rule.step_parameters(float(self.grid[k]), float(self.grid[k + 1]), self.alpha)
            for k in range(self.steps)
        ]

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False,
            exact_kernel=not self.rule.state_dependent,
            revisits=self.variant != "mdlm",
            uses_steps=True,
        )

    # ---- schedule of one step -------------------------------------------------------------------
    def alpha(self, t: float) -> float:
        return float(self.schedule.alpha(t))

    def nominal_alpha(self, t: float) -> float:
        """alpha(t) of the variant (``loop``: its piecewise alpha)."""
        return self.rule.nominal_alpha(t, self.alpha)

    def step_parameters(self, k: int) -> StepParameters:
        """``(alpha_t, alpha_s, sigma, phase)`` of step k (``conf``: sigma_max, scaled per position)."""
        return self._table[k]

    def unmask_probability(self, k: int) -> float:
        """Probability that a masked position is revealed at step k (< K)."""
        a_t, a_s, sigma, _ = self._table[k]
        return unmask_probability(a_t, a_s, self.rule.unmask_sigma(sigma))

    def position_sigma(
        self, x: torch.Tensor, conf: torch.Tensor, vocab_size: int, sigma: float
    ) -> torch.Tensor:
        """``(B, L)`` remask probabilities of the revealed positions (0 at masked ones)."""
        return self.rule.position_sigma(x, conf, vocab_size, sigma)

    def num_steps(self, length: int) -> int:
        return self.steps + (1 if self.t_min > 0 else 0)

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}" + (" (+ 1 fill step)" if self.t_min > 0 else ""),
            time_direction=TIME_MDLM,
            schedule=self.schedule.describe() if not self.rule.own_schedule else self.rule.describe(),
            step_rule=f"ReMDM {self.variant}: per-position remask (sigma) / unmask",
            position_rule="every position independently: masked revealed w.p. "
            "(alpha_s - (1 - sigma) alpha_t)/(1 - alpha_t), revealed remasked w.p. sigma",
            tie_break="none (no ranking)",
            last_step=last_step_text(self.t_min, self.final_fill),
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step that reveals something in a changed row",
            source="arXiv 2503.00307 Eq. 6-7; kuleshov-group/remdm diffusion.py",
            extras={
                "rule": self.rule.describe(),
                "time_grid": f"linspace(1, {self.t_min:g}, K+1)",
                "nucleus": "none (paper: top-p 0.9)",
            },
        )

    # ---- batched sampler ------------------------------------------------------------------------
    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        state = super().begin(denoiser, batch, length, device)
        state.extra["conf"] = torch.full((batch, length), -torch.inf, dtype=torch.float64, device=device)
        return state

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        V, x, trace = state.vocab_size, state.x, state.trace
        B, L = x.shape
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        if k == self.steps:  # final fill at t_min > 0
            self._final_fill(state, generator)
            return
        sigma = self._table[k].sigma
        u_unmask = self.unmask_probability(k)
        sig = self.position_sigma(x, state.extra["conf"], V, sigma)
        r = torch.rand((B, L), dtype=torch.float64, generator=generator, device=generator.device).to(x.device)
        reveal = masked & (r < u_unmask)
        remask = ~masked & (r < sig)
        rows = reveal.any(1)
        if bool(rows.any()):
            t = torch.full((B,), float(self.grid[k]), dtype=torch.float64, device=x.device)
            lp = state.cache.get(x, rows, t)
            values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
            trace.record_step_entropy(k, rows, lp, masked)
            rr = rows.nonzero().flatten()
            trace.reveal_time[rr] = torch.where(reveal[rows], float(self.grid[k + 1]), trace.reveal_time[rr])
            commit_reveals(
                x, rows, reveal[rows], values, trace, k, tempered(lp, self.temperature), state.cache
            )
            newconf = -lp.gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
            state.extra["conf"][rows] = torch.where(reveal[rows], newconf, state.extra["conf"][rows])
        if bool(remask.any()):
            x[remask] = V
            state.extra["conf"][remask] = -torch.inf
            trace.reveal_step[remask] = -1
            trace.token_entropy[remask] = torch.nan
            trace.token_logprob[remask] = torch.nan
            trace.reveal_time[remask] = torch.nan
            state.cache.invalidate(remask.any(1))

    def _final_fill(self, state: RunState, generator: torch.Generator) -> None:
        V, x, k = state.vocab_size, state.x, self.steps
        masked = x == V
        rows = masked.any(1)
        if not bool(rows.any()):
            return
        t = torch.full((x.shape[0],), self.t_min, dtype=torch.float64, device=x.device)
        lp = state.cache.get(x, rows, t)
        temp = 0.0 if self.final_fill == "argmax" else self.temperature
        values = sample_from_log_probs(lp, generator, "float64", temp)
        state.trace.record_step_entropy(k, rows, lp, masked)
        rr = rows.nonzero().flatten()
        state.trace.reveal_time[rr] = torch.where(masked[rows], self.t_min, state.trace.reveal_time[rr])
        commit_reveals(
            x, rows, masked[rows], values, state.trace, k, tempered(lp, self.temperature), state.cache
        )

    # ---- exact law ------------------------------------------------------------------------------
    def exact_transitions(self, state, step, log_probs, length):
        if self.rule.state_dependent:
            raise NotImplementedError(
                f"{self.variant} depends on the history (stored confidences); use "
                "sims.sampling.remdm_exact.exact_remdm_laws"
            )
        return self.kernel(state, step, log_probs, None)

    def kernel(self, state: tuple, step: int, log_probs: torch.Tensor, conf: tuple | None) -> list:
        """Successors of ``state`` (tokens) with probabilities, given the stored confidences ``conf``
        (a tuple, ``-inf`` where none; only the ``conf`` variant reads them)."""
        V = log_probs.shape[-1]
        if step == self.steps:
            temp = 0.0 if self.final_fill == "argmax" else self.temperature
            return reveal_values(state, masked_positions(state, V), log_probs, 1.0, temp)
        sigma = self._table[step].sigma
        u = self.unmask_probability(step)
        x = torch.tensor([state], dtype=torch.long)
        c = torch.tensor([conf if conf is not None else [-math.inf] * len(state)], dtype=torch.float64)
        sig = self.position_sigma(x, c, V, sigma)[0].tolist()
        lp = log_probs.to(torch.float64)
        if self.temperature not in (0.0, 1.0):
            lp = torch.log_softmax(lp / self.temperature, dim=-1)
        options = []
        for i, v in enumerate(state):
            if v == V:
                opts = [(V, 1.0 - u)] if u < 1 else []
                if u > 0:
                    if self.temperature == 0:
                        opts.append((int(lp[i].argmax()), u))
                    else:
                        p = torch.exp(lp[i])
                        opts.extend((w, u * float(p[w])) for w in range(V) if p[w] > 0)
            else:
                opts = [(v, 1.0 - sig[i])] if sig[i] < 1 else []
                if sig[i] > 0:
                    opts.append((V, sig[i]))
            options.append([o for o in opts if o[1] > 0])
        out = []
        for combo in itertools.product(*options):
            prob = 1.0
            for _, pv in combo:
                prob *= pv
            out.append((tuple(v for v, _ in combo), prob))
        return out
