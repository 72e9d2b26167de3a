r"""The sampler contract: capabilities, conventions and the step-by-step run, declared once for every sampler.

Every sampler is a decoding policy over any :class:`~sims.denoisers.base.Denoiser` and declares

* its :class:`Capabilities` (what wrappers, sweeps and exact tools may rely on; no ``hasattr`` probes);
* its :class:`Conventions` (a typed record with fixed fields, written into every result as a plain dict);
* a public step API: :meth:`Sampler.begin` (all-masked batch), :meth:`Sampler.step` for
  :math:`k = 0, \dots, K-1` and :meth:`Sampler.finish`. :meth:`Sampler.sample` is exactly that loop, so
  wrappers (remask corrector, entropy-guided particles) drive the same steps and act in between;
* its exact one-step transition kernel :meth:`Sampler.exact_transitions` on partial sequences, written
  as plain enumeration, when ``capabilities.exact_kernel``; :func:`sims.exact.exact_sampler_law` chains
  the kernels into the exact output law that the batched sampler is tested against
  (``tests/conformance``).

K denotes the number of steps everywhere (code, docs, figure axes). Call counting and the trace are in
:mod:`sims.sampling.runtime`; the result in :mod:`sims.sampling.result`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields

import torch
from tqdm.auto import tqdm

from sims.categorical import PRECISIONS, Precision
from sims.denoisers.base import Denoiser
from sims.sampling.result import SampleResult
from sims.sampling.runtime import CachedDenoiser, RunState, Trace
from sims.validation import (
    InvalidArgumentError,
    check_bool,
    check_choice,
    check_device,
    check_generator,
    check_int,
    check_positive_int,
    check_type,
)
from sims.validation import check_temperature as _check_temperature

#: Allowed ``final_fill`` values of the grid-based samplers (ancestral, ReMDM).
FINAL_FILLS = ("argmax", "sample")

#: ``Conventions.time_direction`` of the time-based samplers (MDLM/SEDD/MD4 convention).
TIME_MDLM = "t = 1 all masked -> t = 0 clean (MDLM/SEDD/MD4)"
#: ``Conventions.time_direction`` of samplers without a diffusion time (steps are indexed by k only).
NO_TIME = "none (steps indexed by k only; no diffusion time)"


@dataclass(frozen=True)
class Capabilities:
    """What a sampler guarantees; wrappers, sweeps and exact tools read these flags instead of probing.

    Attributes:
        value_independent_schedule: each position is revealed exactly once, at a step drawn independently
            of the token values and of the denoiser output; :meth:`Sampler.reveal_schedule` draws it (used
            by teacher forcing, :func:`sims.metrics.order_conditional_excess_nll`).
        exact_kernel: :meth:`Sampler.exact_transitions` is implemented (a Markov kernel on partial
            sequences), so :func:`sims.exact.exact_sampler_law` gives the exact output law (with
            ``categorical_precision="float32_gumbel"``: the float64-limit law; the emulation's truncation
            bias is computed by :func:`sims.categorical.float32_gumbel_race_probability`).
        revisits: revealed tokens can be remasked (ReMDM, remask corrector).
        uses_steps: the step count K passed to the sampler changes the run (False for adaptive rules
            that run until no mask is left, and for first hitting).
        needs_eos: the rule is defined only on a variable-length language padded with an end-of-sequence
            token (length policies: DAEDAL, Learn2PD's end-of-text prediction). It reads the token from
            :meth:`sims.denoisers.base.Denoiser.eos_token` and refuses a denoiser that declares none
            (:class:`sims.denoisers.passes.EOSUnavailableError`); the bench and the conformance suite run
            it on EOS languages only.
    """

    value_independent_schedule: bool
    exact_kernel: bool
    revisits: bool
    uses_steps: bool
    needs_eos: bool = False


@dataclass(frozen=True)
class Conventions:
    """Named conventions of a sampler (fixed fields, then sampler-specific ``extras``).

    Every fixed field is set by every sampler (the conformance suite checks it); ``to_dict`` gives the
    plain JSON dict written into results and figure data files.
    """

    sampler: str  # the sampler's name (= its registry key where registered)
    steps: str  # the number of steps K, or why there is none (adaptive rules, first hitting)
    time_direction: str  # TIME_MDLM or NO_TIME
    schedule: str | dict  # alpha(t) (``Schedule.describe()``) or why there is none
    step_rule: str  # how many positions move per step
    position_rule: str  # which positions
    tie_break: str  # how equal scores are ordered ("none" without a ranking)
    last_step: str  # how the run ends fully revealed
    temperature: float  # token temperature (1 = exact law, 0 = argmax)
    categorical_precision: str  # float64 inverse CDF or the float32 Gumbel-max emulation
    nfe_rule: str  # when a denoiser call is made
    source: str  # paper / code the rule follows
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain dict (fixed fields in order, then ``extras``), safe to store as JSON."""
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "extras"}
        out["extras"] = copy.deepcopy(dict(self.extras))
        return out

    def missing(self) -> list[str]:
        """Fixed fields left empty (None or "")."""
        return [f.name for f in fields(self) if f.name != "extras" and getattr(self, f.name) in (None, "")]


#: Capabilities of an adaptive rule with an exact kernel (value-dependent sets, no step count K).
EXACT_ADAPTIVE = Capabilities(
    value_independent_schedule=False, exact_kernel=True, revisits=False, uses_steps=False
)
ADAPTIVE_STEPS = "adaptive: until no mask is left (at most L; no step count K)"
ADAPTIVE_LAST_STEP = "runs until no mask is left (at most L steps)"
ADAPTIVE_NFE = "one call per step while masks remain"


def adaptive_conventions(
    sampler,
    *,
    step_rule: str,
    position_rule: str,
    tie_break: str,
    source: str,
    extras: dict,
    nfe_rule: str = ADAPTIVE_NFE,
) -> Conventions:
    """The conventions of an adaptive rule that runs until no mask is left: no step count K, no diffusion
    time, no schedule; the rule-specific fields are the arguments, the rest comes from ``sampler`` (its
    name, temperature and categorical precision)."""
    return Conventions(
        sampler=sampler.name,
        steps=ADAPTIVE_STEPS,
        time_direction=NO_TIME,
        schedule="none (adaptive rule)",
        step_rule=step_rule,
        position_rule=position_rule,
        tie_break=tie_break,
        last_step=ADAPTIVE_LAST_STEP,
        temperature=sampler.temperature,
        categorical_precision=sampler.categorical_precision,
        nfe_rule=nfe_rule,
        source=source,
        extras=extras,
    )


def check_steps(steps) -> int:
    return check_positive_int(steps, "steps")


def check_temperature(temperature: float) -> float:
    """A token temperature: finite and >= 0 (0 = argmax); NaN, inf, negative and non-numbers refused
    (:func:`sims.validation.check_temperature`)."""
    return _check_temperature(temperature, "temperature")


def check_categorical_precision(precision: str) -> str:
    return check_choice(precision, PRECISIONS, "categorical_precision")


def check_final_fill(final_fill: str) -> str:
    return check_choice(final_fill, FINAL_FILLS, "final_fill")


def last_step_text(t_min: float, final_fill: str) -> str:
    """``Conventions.last_step`` of the grid-based samplers (ancestral, ReMDM)."""
    if t_min == 0:
        return "alpha(0) = 1 reveals all remaining by sampling"
    return f"extra {final_fill} fill of leftover masks at t_min={t_min:g}, recorded as step K"


class Sampler(ABC):
    """A decoding policy: declares capabilities and conventions; runs as ``begin``, ``step`` x K, ``finish``.

    Args:
        categorical_precision: how tokens are drawn, ``"float64"`` (inverse CDF) or ``"float32_gumbel"``
            (MDLM/SEDD's float32 Gumbel-max, :mod:`sims.categorical`).
    """

    name = "sampler"
    #: the trace records diffusion times of reveals (``SampleResult.reveal_time``)
    timed_trace = False

    def __init__(self, categorical_precision: Precision = "float64"):
        self.categorical_precision = check_categorical_precision(categorical_precision)

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """The flags of :class:`Capabilities` (may depend on the arguments)."""

    @abstractmethod
    def num_steps(self, length: int) -> int:
        """Number of steps of a run on sequences of ``length`` (the trace width; validates the length)."""

    @abstractmethod
    def conventions(self) -> Conventions:
        """Named conventions, written into every result (:meth:`Conventions.to_dict`)."""

    # ---- the step API -----------------------------------------------------------------------------
    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        """State of ``batch`` all-masked sequences before step 0."""
        V = denoiser.vocab_size
        x = torch.full((batch, length), V, dtype=torch.long, device=device)
        return RunState(
            x=x,
            cache=CachedDenoiser(denoiser, batch, device),
            trace=Trace(batch, length, self.num_steps(length), device, timed=self.timed_trace),
            vocab_size=V,
        )

    @abstractmethod
    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        """Step k (0-based) of the run, in place on ``state``."""

    def finish(self, state: RunState) -> SampleResult:
        """The result of a run whose K steps are done (every position revealed)."""
        if bool((state.x == state.vocab_size).any()):
            raise AssertionError(f"{self.name}: run ended with masked positions")
        return state.trace.result(state.x, state.cache, self.conventions().to_dict())

    def sample_batch(
        self, denoiser: Denoiser, batch: int, length: int, generator: torch.Generator, device: torch.device
    ) -> SampleResult:
        """One batch: :meth:`begin`, :meth:`step` for k = 0..K-1, :meth:`finish`."""
        state = self.begin(denoiser, batch, length, device)
        for k in range(self.num_steps(length)):
            self.step(state, k, generator)
        return self.finish(state)

    def sample(
        self,
        denoiser: Denoiser,
        num_samples: int,
        length: int,
        generator: torch.Generator,
        *,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> SampleResult:
        """Draw ``num_samples`` sequences of ``length`` in batches of ``batch_size``.

        Reproducible for a fixed (generator seed, batch_size, device); ``generator`` is the only source of
        randomness.
        """
        check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
        check_generator(generator)
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        length = check_positive_int(length, "length")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        progress = check_bool(progress, "progress")
        device = check_device(generator.device if device is None else device)
        self.num_steps(length)  # validates the step count against the length
        parts = []
        starts = range(0, num_samples, batch_size)
        if progress:
            starts = tqdm(starts, desc=self.name, leave=False)
        for start in starts:
            b = min(batch_size, num_samples - start)
            parts.append(self.sample_batch(denoiser, b, length, generator, device))
        return SampleResult.concatenate(parts)

    # ---- exact law and declared extras --------------------------------------------------------------
    def exact_transitions(
        self, state: tuple, step: int, log_probs: torch.Tensor, length: int
    ) -> list[tuple[tuple, float]]:
        """All successors of the partial sequence ``state`` (mask = V) at ``step`` with their probabilities.

        ``log_probs`` is the denoiser output ``(L, V)`` for ``state``. Written as plain enumeration; it is
        the reference the batched sampler is tested against. Implemented iff ``capabilities.exact_kernel``.
        """
        raise NotImplementedError(f"{self.name}: no exact transition kernel (capabilities.exact_kernel)")

    def kernel_denoiser(self, denoiser: Denoiser) -> Denoiser:
        """The denoiser whose output :meth:`exact_transitions` reads: ``denoiser`` itself, unless the step
        reads another pass (the leave-one-out policies return a view of that pass,
        :class:`sims.sampling.loo_policy.LeaveOneOutView`). Exact-law engines call it once per law."""
        return denoiser

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, L)`` reveal steps drawn without any denoiser (iff ``capabilities.value_independent_schedule``)."""
        raise InvalidArgumentError(
            f"{self.name}: which positions are revealed when depends on the denoiser output, the token "
            "values or earlier remasking (capabilities.value_independent_schedule is False)"
        )

    def evaluates_every_masked_step(self, length: int) -> bool:
        """True when the denoiser output is used at every step that starts with a masked position, so the
        trace records a state entropy at each of them (needed by exact path-entropy laws)."""
        return False
