r"""Remask-and-resample as a provable correction of parallel decoding (any-process generation, arXiv 2510.06190).

:class:`RemaskCorrector` runs a base sampler on a fixed-length language, then ``rounds`` correction
rounds. Each round remasks a uniformly random set of r positions (one application of AP-MDM's transition
map :math:`g`, :mod:`sims.sampling.any_process`, no call) and re-reveals them one at a time from the
denoiser (r :math:`g` steps, one call each). With the exact oracle a round is a random-scan block-Gibbs
kernel K with :math:`qK = q`, hence for any start law p and every n (data processing; :math:`TV`, both KL
directions):

.. math::  D(pK^{n+1}, q) \le D(pK^n, q), \qquad \mathrm{SER}(pK^{n+1}) \le \mathrm{SER}(pK^n),

the latter because K never leaves the support from inside it. Convergence to q needs K to be irreducible
on the support: r = L gives :math:`K(x,\cdot) = q` (exact after one round); r = 1 on the parity language
only repairs odd strings and then freezes (every in-support string is a fixed point).
:func:`corrector_round_kernel` returns K as a matrix so all of this is checked exactly.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import torch

from sims.categorical import sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.enumeration import all_sequences, sequence_index
from sims.sampling.any_process import apply_transition, apply_transition_fixed
from sims.sampling.base import Capabilities, Conventions, Sampler, check_temperature
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.result import SampleResult
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.validation import (
    InvalidArgumentError,
    SizeLimitError,
    check_choice,
    check_positive_int,
    check_type,
)

RESAMPLE_ORDERS = ("random", "left_to_right")


class RemaskCorrector(Sampler):
    """A base sampler followed by ``rounds`` remask-and-resample rounds (see the module docstring).

    Args:
        base: any fixed-length sampler (its exact law must be computable for exact checks).
        rounds: number of correction rounds n.
        remask_count: r, positions remasked per round (uniformly random subset, ``1 <= r <= L``).
        resample_order: ``"random"`` (a uniformly random masked position per step) or ``"left_to_right"``.
        temperature: token temperature of the resampling steps (1 = exact Gibbs kernel).

    Steps: the base's steps, then per round one remask step (no call) and r reveal steps (one call each).
    Every step is an application of :func:`~sims.sampling.any_process.apply_transition_fixed`. The base
    runs through its public step API on the same run state, so calls are counted once.
    Name: ``"<base name>+remask<r>x<rounds>"``.
    """

    def __init__(
        self,
        base: Sampler,
        rounds: int,
        remask_count: int = 1,
        resample_order: str = "random",
        temperature: float = 1.0,
    ):
        check_type(base, Sampler, "base", "a Sampler")
        super().__init__(base.categorical_precision)
        self.base = base
        self.rounds = check_positive_int(rounds, "rounds", minimum=0)
        self.remask_count = check_positive_int(remask_count, "remask_count")
        self.resample_order = check_choice(resample_order, RESAMPLE_ORDERS, "resample_order")
        self.temperature = check_temperature(temperature)
        self.name = f"{base.name}+remask{remask_count}x{rounds}"

    @property
    def capabilities(self) -> Capabilities:
        b = self.base.capabilities
        return Capabilities(
            value_independent_schedule=False,
            exact_kernel=b.exact_kernel,
            revisits=True,
            uses_steps=b.uses_steps,
            needs_eos=b.needs_eos,
        )

    def _check_length(self, length: int) -> None:
        if self.remask_count > length:
            raise InvalidArgumentError(f"remask_count {self.remask_count} exceeds the length {length}")

    def num_steps(self, length: int) -> int:
        self._check_length(length)
        return self.base.num_steps(length) + self.rounds * (1 + self.remask_count)

    def conventions(self) -> Conventions:
        b = self.base.conventions()
        return Conventions(
            sampler=self.name,
            steps=f"base ({b.steps}) + {self.rounds} rounds x (1 remask + {self.remask_count} reveal steps)",
            time_direction=b.time_direction,
            schedule=b.schedule,
            step_rule="base rule, then per round: remask r positions (AP-MDM g, no call), reveal one per step",
            position_rule=f"remask: uniformly random r-subset of all positions; reveal: {self.resample_order}",
            tie_break=b.tie_break,
            last_step="the last round's r-th reveal step fills the last masked position",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="base calls + one call per resampled position",
            source="remask-and-resample with AP-MDM's g (arXiv 2510.06190); this suite",
            extras={
                "base": b.to_dict(),
                "rounds": self.rounds,
                "remask_count": self.remask_count,
                "resample_order": self.resample_order,
            },
        )

    # ---- batched sampler ------------------------------------------------------------------------
    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        state = self.base.begin(denoiser, batch, length, device)
        state.trace.widen(self.num_steps(length))
        return state

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V, trace = state.x, state.vocab_size, state.trace
        batch, length = x.shape
        device = x.device
        k0 = self.base.num_steps(length)
        if k < k0:
            self.base.step(state, k, generator)
            return
        rows = torch.ones(batch, dtype=torch.bool, device=device)
        if (k - k0) % (1 + self.remask_count) == 0:  # remask step
            trace.step_num_masked[:, k] = 0
            u = torch.rand((batch, length), dtype=torch.float64, generator=generator, device=generator.device)
            chosen = torch.argsort(u.to(device), dim=1)[:, : self.remask_count]
            remask = torch.zeros((batch, length), dtype=torch.bool, device=device).scatter_(1, chosen, True)
            x.copy_(apply_transition_fixed(x, x, remask, V))
            trace.reveal_step[remask] = -1
            state.cache.invalidate(rows)
            return
        masked = x == V
        trace.step_num_masked[:, k] = masked.sum(1)
        if self.resample_order == "random":
            u = torch.rand(
                (batch, length), dtype=torch.float64, generator=generator, device=generator.device
            ).to(device)
            pick = torch.where(masked, u, -1.0).argmax(1)
        else:
            pick = masked.long().argmax(1)  # lowest masked index
        reveal = torch.zeros_like(masked).scatter_(1, pick.unsqueeze(1), True)
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
        trace.record_step_entropy(k, rows, lp, masked)
        # = g(x, values, remask = other masked positions): they stay masked
        commit_reveals(x, rows, reveal, values, trace, k, tempered(lp, self.temperature), state.cache)

    def finish(self, state: RunState) -> SampleResult:
        res = super().finish(state)
        res.reveal_time = None  # the corrector's reveals have no diffusion time
        return res

    # ---- exact law ------------------------------------------------------------------------------
    def corrector_transitions(
        self, state: tuple, phase: int, log_probs: torch.Tensor | None, vocab_size: int
    ) -> list:
        """One corrector step: ``phase`` 0 = remask a uniform r-subset, else reveal one masked position."""
        V = vocab_size
        L = len(state)
        if phase == 0:
            subsets = list(itertools.combinations(range(L), self.remask_count))
            w = 1.0 / len(subsets)
            out = []
            for sub in subsets:
                remask = [i in sub for i in range(L)]
                new = apply_transition(state, state, remask, [0] * L, [0] * L, V)
                out.append((new, w))
            return out
        masked = masked_positions(state, V)
        if not masked:
            return [(state, 1.0)]
        picks = masked if self.resample_order == "random" else masked[:1]
        w = 1.0 / len(picks)
        return [t for i in picks for t in reveal_values(state, (i,), log_probs, w, self.temperature)]

    def kernel_denoiser(self, denoiser: Denoiser) -> Denoiser:
        # the base's pass; the correction steps read masked positions only, where every pass is the marginal
        return self.base.kernel_denoiser(denoiser)

    def exact_transitions(self, state, step, log_probs, length):
        k0 = self.base.num_steps(length)
        if step < k0:
            return self.base.exact_transitions(state, step, log_probs, length)
        phase = (step - k0) % (1 + self.remask_count)
        return self.corrector_transitions(state, phase, log_probs, log_probs.shape[-1])


def corrector_round_kernel(corrector: RemaskCorrector, denoiser: Denoiser, length: int) -> torch.Tensor:
    """``(V**L, V**L)`` matrix of one correction round (remask step + r reveal steps), exactly.

    Row x is the law after one round started from the full sequence x (index order of
    :func:`sims.enumeration.all_sequences`). Rows of impossible sequences use the denoiser's fallback.
    """

    V = denoiser.vocab_size
    if V**length > 4096:
        raise SizeLimitError(f"V**L = {V**length}: the round kernel matrix would be too large")
    seqs = all_sequences(V, length)
    N = seqs.shape[0]
    K = torch.zeros((N, N), dtype=torch.float64)
    for r in range(N):
        states = {tuple(seqs[r].tolist()): 1.0}
        for phase in range(1 + corrector.remask_count):
            keys = list(states)
            outs = (
                denoiser(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
                if phase
                else [None] * len(keys)
            )
            nxt: dict = defaultdict(float)
            for key, lp in zip(keys, outs):
                for new, q in corrector.corrector_transitions(key, phase, lp, V):
                    if q > 0:
                        nxt[new] += states[key] * q
            states = dict(nxt)
        for key, p in states.items():
            K[r, int(sequence_index(torch.tensor(key), V))] += p
    return K
