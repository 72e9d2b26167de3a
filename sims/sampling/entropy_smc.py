r"""E-SMC: entropy-guided sequential Monte Carlo over any non-revisiting sampler (arXiv 2512.21336).

P particles per output run the base sampler's steps (its public step API on one run state of B·P rows).
After every ``resample_every`` steps (never after the last) the particles of each output are resampled
multinomially (float64) with weights :math:`\propto \exp(-\lambda\, h_{DE})`, :math:`h_{DE}` the state
entropy of the current state (:mod:`sims.sampling.denoising_entropy`); at the end the particle with the
lowest path entropy (sum over the evaluated steps) is returned. The run stops at the first resampling
point with no masked position left. The weight function, :math:`\lambda`, P and the resampling schedule
and scheme are **unconfirmed** against the paper (our choices: ``lam=1`` per nat, ``num_particles=4``,
``resample_every=1``, multinomial).

Calls: every particle's calls count (``nfe`` of an output = sum over its P particle slots).
"""

from __future__ import annotations

import torch

from sims.categorical import sample_categorical
from sims.denoisers.base import Denoiser
from sims.sampling.base import Capabilities, Conventions, Sampler
from sims.sampling.denoising_entropy import check_entropy_options, path_entropy
from sims.sampling.result import SampleResult
from sims.sampling.runtime import RunState
from sims.sampling.scores import entropy_of_log_probs
from sims.validation import InvalidArgumentError, check_positive_int, check_real, check_type


class EntropySMCSampler(Sampler):
    """E-SMC: particles resampled towards low state entropy; returns the lowest-path-entropy particle.

    Args:
        base: any sampler that never remasks (``capabilities.revisits`` False).
        num_particles: P particles per output sequence.
        lam: inverse temperature of the weights :math:`\\exp(-\\lambda h_{DE})` (per nat).
        resample_every: resample after every this many steps (never after the last step).
        state_reduce: ``"mean"`` (official state entropy) or ``"sum"``.

    Name: ``"esmc_<base name>_P<P>_lam<lam>"``.
    """

    def __init__(
        self,
        base: Sampler,
        num_particles: int = 4,
        lam: float = 1.0,
        resample_every: int = 1,
        state_reduce: str = "mean",
    ):
        check_type(base, Sampler, "base", "a Sampler")
        if base.capabilities.revisits:
            raise InvalidArgumentError(
                f"base {base.name!r} remasks revealed tokens (capabilities.revisits); E-SMC needs a base "
                "whose run is over once no position is masked"
            )
        super().__init__(base.categorical_precision)
        self.base = base
        self.num_particles = check_positive_int(num_particles, "num_particles")
        self.lam = check_real(lam, "lam", minimum=0.0)
        self.resample_every = check_positive_int(resample_every, "resample_every")
        check_entropy_options(state_reduce, "sum", "nats")
        self.state_reduce = state_reduce
        self.name = f"esmc_{base.name}_P{num_particles}_lam{lam:g}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False,
            exact_kernel=False,
            revisits=False,
            uses_steps=self.base.capabilities.uses_steps,
        )

    def num_steps(self, length: int) -> int:
        return self.base.num_steps(length)

    def conventions(self) -> Conventions:
        b = self.base.conventions()
        return Conventions(
            sampler=self.name,
            steps=b.steps,
            time_direction=b.time_direction,
            schedule=b.schedule,
            step_rule=f"base rule on {self.num_particles} particles, resampled every {self.resample_every} steps",
            position_rule=b.position_rule,
            tie_break=f"{b.tie_break}; final selection: lowest path entropy, lowest particle index",
            last_step=b.last_step,
            temperature=b.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="sum over the particles of an output",
            source="E-SMC (arXiv 2512.21336); weights exp(-lam * state entropy), multinomial resampling "
            "(UNVERIFIED against the paper)",
            extras={
                "base": b.to_dict(),
                "num_particles": self.num_particles,
                "lam": self.lam,
                "resample_every": self.resample_every,
                "state_reduce": self.state_reduce,
                "final_selection": "lowest path entropy (sum over steps)",
            },
        )

    def _state_entropy_now(self, st: RunState) -> torch.Tensor:
        V = st.vocab_size
        masked = st.x == V
        alive = masked.any(1)
        h = torch.zeros(st.batch, dtype=torch.float64, device=st.x.device)
        if bool(alive.any()):
            lp = st.cache.get(st.x, alive)
            ent = torch.where(masked[alive], entropy_of_log_probs(lp), 0.0).sum(1)
            if self.state_reduce == "mean":
                ent = ent / masked[alive].sum(1)
            h[alive] = ent
        return h

    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        state = self.base.begin(denoiser, batch * self.num_particles, length, device)
        state.extra["esmc_stopped"] = False
        return state

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        if state.extra["esmc_stopped"]:
            return
        self.base.step(state, k, generator)
        P = self.num_particles
        if (k + 1) % self.resample_every or k + 1 >= self.num_steps(state.x.shape[1]) or P == 1:
            return
        if not bool((state.x == state.vocab_size).any()):
            state.extra["esmc_stopped"] = True
            return
        batch = state.batch // P
        h = self._state_entropy_now(state).reshape(batch, P)
        w = torch.softmax(-self.lam * h, dim=1)  # (batch, P)
        draws = sample_categorical(w.unsqueeze(1).expand(batch, P, P), generator)  # (batch, P)
        idx = (torch.arange(batch, device=draws.device).unsqueeze(1) * P + draws).flatten()
        state.take_rows(idx.to(state.x.device))

    def finish(self, state: RunState) -> SampleResult:
        res = self.base.finish(state)
        P = self.num_particles
        batch = state.batch // P
        H = path_entropy(res, self.state_reduce, "sum").reshape(batch, P)
        rows = torch.arange(batch, device=H.device) * P + H.argmin(1)
        out = res.select_rows(rows.to(res.tokens.device), res.nfe.reshape(batch, P).sum(1))
        out.conventions = self.conventions().to_dict()
        return out
