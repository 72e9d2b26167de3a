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

Variants (``variant``), as in the official ``diffusion.py`` (defaults from its ``scripts/*.sh``, OWT,
L = T = 1024, confirmed in the repository):

==============  =========================================================================  ===============
variant         sigma                                                                      default eta
==============  =========================================================================  ===============
``mdlm``        0                                                                          --
``cap``         :math:`\min(\eta, (1-\alpha_s)/\alpha_t)` (:math:`\eta` if :math:`\alpha_t=0`)          0.008
``rescale``     :math:`\eta\,\sigma^{\max}_t`                                              0.015
``conf``        per position :math:`\eta_l\sigma^{\max}_t`, :math:`\eta=\mathrm{softmax}_l(-p_l)` over   --
                revealed positions, :math:`p_l` = probability of its token when it was revealed;
                masked positions use :math:`\sigma=0`
``loop``        MDLM with :math:`\alpha_t=(1-t)\alpha_{on}/(1-t_{on})` for :math:`t>t_{on}`, then a     0.02
                constant :math:`\alpha=\alpha_{on}` phase with :math:`\sigma=\eta`, then MDLM with
                :math:`\alpha_t = 1 - t(1-\alpha_{on})/t_{off}` for :math:`t \le t_{off}`
                (:math:`t_{on}=0.55, t_{off}=0.05, \alpha_{on}=0.9`)
``fb``          forward-backward corrector :math:`(\alpha_s-\alpha_t)/\alpha_t` (Prop. 4.2),       --
                clipped to :math:`\sigma^{\max}_t` (see below)
==============  =========================================================================  ===============

The paper uses ``cap`` with :math:`\eta=0.04` when T < L (not the default here).

Exactness of Theorem 3.1 *as implemented* (found by :func:`masked_probability_path` and the exact state
laws in the tests): ``conf`` uses :math:`\sigma=0` on masked positions and :math:`\sigma_l>0` on revealed
ones, so it masks more than :math:`1-\alpha_s`; ``loop`` decides its phase from the step's start time,
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
from collections import defaultdict
from typing import Literal

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.enumeration import sequence_index
from sims.sampling.base import commit_reveals, masked_positions, reveal_values
from sims.sampling.stepping import RunState, SteppedSampler, check_temperature, tempered
from sims.schedules import get_schedule, time_grid
from sims.validation import check_positive_int

VARIANTS = ("mdlm", "cap", "rescale", "conf", "loop", "fb")
DEFAULT_ETA = {"cap": 0.008, "rescale": 0.015, "loop": 0.02}
#: Grid times within this distance of t_on / t_off count as equal (linspace rounding).
PHASE_TOL = 1e-12


class ReMDMSampler(SteppedSampler):
    """ReMDM remasking; see the module docstring for every variant and convention."""

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
        precision: Precision = "float64",
    ):
        super().__init__(precision)
        self.steps = check_positive_int(steps, "steps")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.eta = float(DEFAULT_ETA.get(variant, 0.0) if eta is None else eta)
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {self.eta}")
        self.schedule = get_schedule(schedule)
        if variant == "loop":
            if self.schedule.name != "linear":
                raise ValueError("the loop variant defines its own piecewise alpha(t); use schedule='linear'")
            if not 0.0 < t_off < t_on < 1.0 or not 0.0 < alpha_on < 1.0:
                raise ValueError(
                    f"need 0 < t_off < t_on < 1 and 0 < alpha_on < 1, got t_on={t_on}, "
                    f"t_off={t_off}, alpha_on={alpha_on}"
                )
            if self.eta > (1 - alpha_on) / alpha_on:
                raise ValueError(
                    f"loop: eta={self.eta} exceeds sigma_max=(1-alpha_on)/alpha_on="
                    f"{(1 - alpha_on) / alpha_on:g} (Eq. 7)"
                )
        self.t_on, self.t_off, self.alpha_on = float(t_on), float(t_off), float(alpha_on)
        self.grid = time_grid(self.steps, t_min)
        self.t_min = float(t_min)
        if final_fill not in ("argmax", "sample"):
            raise ValueError(f"final_fill must be 'argmax' or 'sample', got {final_fill!r}")
        self.final_fill = final_fill
        self.temperature = check_temperature(temperature)
        eta_txt = f"_eta{self.eta:g}" if variant in ("cap", "rescale", "loop") else ""
        self.name = f"remdm_{variant}{eta_txt}"
        self._params = [self.step_parameters(k) for k in range(self.steps)]

    # ---- schedule of one step -------------------------------------------------------------------
    def alpha(self, t: float) -> float:
        return float(self.schedule.alpha(t))

    def loop_alpha(self, t: float) -> float:
        """The loop variant's piecewise alpha(t) (continuous; constant alpha_on on [t_off, t_on])."""
        if t > self.t_on:
            return (1 - t) * self.alpha_on / (1 - self.t_on)
        if t <= self.t_off:
            return 1 - t * (1 - self.alpha_on) / self.t_off
        return self.alpha_on

    def step_parameters(self, k: int) -> tuple[float, float, float, str]:
        """``(alpha_t, alpha_s, sigma, phase)`` of step k (``conf``: sigma_max, scaled per position)."""
        t, s = float(self.grid[k]), float(self.grid[k + 1])
        if self.variant == "loop":
            if s == 0.0 and t > self.t_off + PHASE_TOL:
                # coarse grid whose last step starts inside the loop window: the run must still end
                # fully revealed (alpha(0) = 1), so this step reveals every remaining token, no remasking
                return self.loop_alpha(t), 1.0, 0.0, "final_from_loop"
            if t > self.t_on + PHASE_TOL:
                a = self.alpha_on / (1 - self.t_on)
                # a step straddling t_on overshoots alpha_on (official code); alpha_s > 1 is clipped to 1,
                # which is what the code's negative mask weight amounts to under Gumbel-max
                return (1 - t) * a, min(1.0, (1 - s) * a), 0.0, "mdlm_before_loop"
            if t <= self.t_off + PHASE_TOL:
                b = (1 - self.alpha_on) / self.t_off
                return 1 - t * b, 1 - s * b, 0.0, "mdlm_after_loop"
            return self.alpha_on, self.alpha_on, self.eta, "loop"
        a_t, a_s = self.alpha(t), self.alpha(s)
        sigma_max = min(1.0, (1 - a_s) / a_t) if a_t > 0 else 1.0
        if self.variant == "mdlm":
            sigma = 0.0
        elif self.variant == "cap":
            sigma = min(self.eta, (1 - a_s) / a_t) if a_t > 0 else self.eta
        elif self.variant == "rescale":
            sigma = self.eta * sigma_max
        elif self.variant == "fb":  # clipped to sigma_max: the raw formula exceeds it late in the run
            sigma = min((a_s - a_t) / a_t, sigma_max) if a_t > 0 else 1.0
        else:  # conf: per-position scale of sigma_max
            sigma = sigma_max
        return a_t, a_s, sigma, "remdm"

    @staticmethod
    def unmask_probability(a_t: float, a_s: float, sigma: float) -> float:
        r""":math:`(\alpha_s - (1-\sigma)\alpha_t)/(1-\alpha_t)`, checked to lie in [0, 1]."""
        if a_t >= 1:
            return 1.0
        u = (a_s - (1 - sigma) * a_t) / (1 - a_t)
        if not -1e-12 <= u <= 1 + 1e-12:
            raise ValueError(f"inadmissible sigma={sigma} for alpha_t={a_t}, alpha_s={a_s} (unmask prob {u})")
        return min(1.0, max(0.0, u))

    def num_steps(self, length: int) -> int:
        return self.steps + (1 if self.t_min > 0 else 0)

    def conventions(self) -> dict:
        return {
            "sampler": self.name,
            "step_rule": f"ReMDM {self.variant} (per-position remask/unmask)",
            "steps": self.steps,
            "eta": self.eta,
            "schedule": self.schedule.describe(),
            "loop": {"t_on": self.t_on, "t_off": self.t_off, "alpha_on": self.alpha_on}
            if self.variant == "loop"
            else None,
            "time_grid": f"linspace(1, {self.t_min:g}, K+1)",
            "last_step": "alpha(0)=1 reveals all"
            if self.t_min == 0
            else f"extra {self.final_fill} fill at t_min={self.t_min:g}",
            "nucleus": "none (paper: top-p 0.9)",
            "temperature": self.temperature,
            "precision": self.precision,
            "nfe": "one call per step that reveals something in a changed row",
            "source": "arXiv 2503.00307 Eq. 6-7; kuleshov-group/remdm diffusion.py",
        }

    # ---- batched sampler ------------------------------------------------------------------------
    def _begin(self, denoiser, batch, length, device) -> RunState:
        state = super()._begin(denoiser, batch, length, device)
        state.extra["conf"] = torch.full((batch, length), -torch.inf, dtype=torch.float64, device=device)
        return state

    def position_sigma(
        self, x: torch.Tensor, conf: torch.Tensor, vocab_size: int, sigma: float
    ) -> torch.Tensor:
        """``(B, L)`` remask probabilities of the revealed positions (0 at masked ones)."""
        masked = x == vocab_size
        if self.variant != "conf":
            return torch.where(
                masked, torch.zeros((), dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
            )  # float64 (scalars would give float32)
        finite = torch.isfinite(conf) & ~masked
        c = torch.where(finite, conf, -torch.inf)
        any_finite = finite.any(1, keepdim=True)
        eta = torch.where(any_finite, torch.softmax(torch.where(any_finite, c, 0.0), dim=1), 0.0)
        return torch.where(finite, eta * sigma, 0.0)

    def _step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        V, x, trace = state.vocab_size, state.x, state.trace
        B, L = x.shape
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        if k == self.steps:  # final fill at t_min > 0
            self._final_fill(state, generator)
            return
        a_t, a_s, sigma, _ = self._params[k]
        u_unmask = self.unmask_probability(a_t, a_s, 0.0 if self.variant == "conf" else sigma)
        sig = self.position_sigma(x, state.extra["conf"], V, sigma)
        r = torch.rand((B, L), dtype=torch.float64, generator=generator, device=generator.device).to(x.device)
        reveal = masked & (r < u_unmask)
        remask = ~masked & (r < sig)
        rows = reveal.any(1)
        if bool(rows.any()):
            t = torch.full((B,), float(self.grid[k]), dtype=torch.float64, device=x.device)
            lp = state.cache.get(x, rows, t)
            values = sample_from_log_probs(lp, generator, self.precision, self.temperature)
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
        if self.variant == "conf":
            raise NotImplementedError(
                "conf depends on the history (stored confidences); use exact_remdm_laws"
            )
        return self._transitions(state, step, log_probs, None)

    def _transitions(self, state, step, log_probs, conf):
        """Successors of ``state`` (tokens) with probabilities; ``conf`` (tuple) for the conf variant."""
        V = log_probs.shape[-1]
        if step == self.steps:
            temp = 0.0 if self.final_fill == "argmax" else self.temperature
            return reveal_values(state, masked_positions(state, V), log_probs, 1.0, temp)
        a_t, a_s, sigma, _ = self._params[step]
        u = self.unmask_probability(a_t, a_s, 0.0 if self.variant == "conf" else sigma)
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


def masked_probability_path(sampler: ReMDMSampler) -> list[float]:
    r"""Exact per-position P(masked) after each step for variants whose sigma does not depend on the state.

    Two-state recursion: :math:`m' = m\,(1-u) + (1-m)\,\sigma` with u the unmask probability. Theorem 3.1
    says :math:`m' = 1 - \alpha_s` whenever :math:`m = 1 - \alpha_t`.
    """
    if sampler.variant == "conf":
        raise ValueError("conf's sigma depends on the state; use exact_remdm_laws")
    m, out = 1.0, []
    for k in range(sampler.steps):
        a_t, a_s, sigma, _ = sampler._params[k]
        u = sampler.unmask_probability(a_t, a_s, sigma)
        m = m * (1 - u) + (1 - m) * sigma
        out.append(m)
    return out


def nominal_masked_fraction(sampler: ReMDMSampler) -> list[float]:
    """``1 - alpha(t_{k+1})`` after every step k (the loop variant uses its piecewise alpha)."""
    f = sampler.loop_alpha if sampler.variant == "loop" else sampler.alpha
    return [1 - f(float(sampler.grid[k + 1])) for k in range(sampler.steps)]


def state_index(states: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Index of partial sequences ``(N, L)`` (mask = V) in base V+1, position 0 most significant."""
    L = states.shape[-1]
    powers = (vocab_size + 1) ** torch.arange(L - 1, -1, -1, device=states.device)
    return (states.long() * powers).sum(-1)


def all_states(vocab_size: int, length: int) -> torch.Tensor:
    """``((V+1)**L, L)`` every partial sequence in :func:`state_index` order."""
    n = (vocab_size + 1) ** length
    idx = torch.arange(n)
    powers = (vocab_size + 1) ** torch.arange(length - 1, -1, -1)
    return (idx.unsqueeze(-1) // powers) % (vocab_size + 1)


def _option_matrix(
    sampler: ReMDMSampler, states: torch.Tensor, lp: torch.Tensor, step: int, conf: torch.Tensor
) -> torch.Tensor:
    """``(S, L, V+1)``: law of each position's next value (index V = masked) given each state."""
    S, L = states.shape
    V = lp.shape[-1]
    masked = states == V
    out = torch.zeros((S, L, V + 1), dtype=torch.float64)
    if step == sampler.steps:  # final fill
        if sampler.final_fill == "argmax":
            draw = torch.nn.functional.one_hot(lp.argmax(-1), V).to(torch.float64)
        else:
            draw = torch.exp(tempered(lp, sampler.temperature))
        out[..., :V] = torch.where(masked.unsqueeze(-1), draw, 0.0)
        keep = torch.nn.functional.one_hot(states.clamp(max=V), V + 1).to(torch.float64)
        return torch.where(masked.unsqueeze(-1), out, keep)
    a_t, a_s, sigma, _ = sampler._params[step]
    u = sampler.unmask_probability(a_t, a_s, 0.0 if sampler.variant == "conf" else sigma)
    if sampler.temperature == 0:
        draw = torch.nn.functional.one_hot(lp.argmax(-1), V).to(torch.float64)
    else:
        draw = torch.exp(tempered(lp.to(torch.float64), sampler.temperature))
    sig = sampler.position_sigma(states, conf, V, sigma)  # (S, L), 0 at masked
    masked_row = torch.cat([u * draw, torch.full((S, L, 1), 1 - u, dtype=torch.float64)], -1)
    keep = torch.nn.functional.one_hot(states.clamp(max=V), V + 1).to(torch.float64)
    remask = torch.zeros_like(keep)
    remask[..., V] = 1.0
    revealed_row = (1 - sig).unsqueeze(-1) * keep + sig.unsqueeze(-1) * remask
    return torch.where(masked.unsqueeze(-1), masked_row, revealed_row)


def exact_remdm_laws(
    sampler: ReMDMSampler, denoiser: Denoiser, length: int, chunk: int = 256
) -> list[torch.Tensor]:
    """Exact law of the state after every step, as dense vectors over the ``(V+1)**L`` partial sequences.

    The kernel factorises over positions given the state, so each state's successor law is an outer
    product of per-position laws (:func:`_option_matrix`); states are processed in chunks of ``chunk``.
    The history-dependent ``conf`` variant is delegated to :func:`exact_remdm_laws_conf`.
    """
    if sampler.variant == "conf":
        return exact_remdm_laws_conf(sampler, denoiser, length)
    V = denoiser.vocab_size
    n = (V + 1) ** length
    if n > 2**14:
        raise ValueError(f"(V+1)**L = {n} partial sequences is too many for the dense propagation")
    states_all = all_states(V, length)
    law = torch.zeros(n, dtype=torch.float64)
    law[-1] = 1.0  # the all-masked state has the largest index
    laws = []
    no_conf = torch.full((1, length), -math.inf, dtype=torch.float64)
    for step in range(sampler.num_steps(length)):
        live = (law > 0).nonzero().flatten()
        new = torch.zeros(n, dtype=torch.float64)
        for part in live.split(chunk):
            st = states_all[part]
            lp = denoiser(st).log_probs.cpu().to(torch.float64)
            opt = _option_matrix(sampler, st, lp, step, no_conf.expand(len(part), -1))
            kern = opt[:, 0]
            for i in range(1, length):
                kern = (kern.unsqueeze(-1) * opt[:, i].unsqueeze(1)).reshape(len(part), -1)
            new += law[part] @ kern
        law = new
        laws.append(law.clone())
    return laws


def final_sequence_law(
    state_law: torch.Tensor, vocab_size: int, length: int, atol: float = 1e-12
) -> torch.Tensor:
    """``(V**L,)`` law over full sequences from a dense state law with (numerically) no masked mass left."""
    states = all_states(vocab_size, length)
    full = ~(states == vocab_size).any(1)
    left = float(state_law[~full].sum())
    if left > atol:
        raise AssertionError(f"{left} probability left on partially masked states")

    out = torch.zeros(vocab_size**length, dtype=torch.float64)
    out.index_add_(0, sequence_index(states[full], vocab_size), state_law[full])
    return out


def exact_remdm_laws_conf(sampler: ReMDMSampler, denoiser: Denoiser, length: int) -> list[torch.Tensor]:
    """Exact state laws for the ``conf`` variant, carrying the stored confidences in the state.

    The number of distinct (tokens, confidences) histories grows quickly; use only for tiny cases (or a
    point-mass denoiser, for which confidences are all -1).
    """
    V = denoiser.vocab_size
    start = (tuple([V] * length), tuple([-math.inf] * length))
    states: dict = {start: 1.0}
    laws = []
    for step in range(sampler.num_steps(length)):
        keys = sorted({k[0] for k in states})
        outs = denoiser(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
        lp_of = dict(zip(keys, outs))
        nxt: dict = defaultdict(float)
        for (tokens, conf), pr in states.items():
            lp = lp_of[tokens]
            for new, q in sampler._transitions(tokens, step, lp, conf):
                if q <= 0:
                    continue
                newc = list(conf)
                for i, (a, b) in enumerate(zip(tokens, new)):
                    if a == V and b != V:
                        newc[i] = -float(torch.exp(lp[i, b]))
                    elif a != V and b == V:
                        newc[i] = -math.inf
                nxt[(new, tuple(newc))] += pr * q
        states = dict(nxt)
        law = torch.zeros((V + 1) ** length, dtype=torch.float64)
        for (tokens, _), pr in states.items():
            law[int(state_index(torch.tensor(tokens), V))] += pr
        laws.append(law)
    return laws
