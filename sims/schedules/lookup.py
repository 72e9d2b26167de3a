"""Schedules by name (``linear``, ``cosine``, ``cosine_mdlm``, ``sin2``, ``poly<k>``, ``beta:<a>,<b>``), from
instances or callables, and the composition of two schedules."""

from __future__ import annotations

import numpy as np
import sympy

from sims.schedules.base import MultivariateSchedule, Schedule, as_numpy, same_kind
from sims.schedules.closed_form import (
    BetaCDFSchedule,
    CosineMDLMSchedule,
    CosineSchedule,
    LinearSchedule,
    PolynomialSchedule,
    SineSquaredSchedule,
)
from sims.schedules.custom import FunctionSchedule
from sims.validation import InvalidArgumentError, InvalidTypeError


class ComposedSchedule(Schedule):
    r"""Time-warped schedule :math:`m(t) = m_{outer}(m_{inner}(t))` (the inner masked fraction is an increasing
    bijection of [0, 1]). Applying one warp to every position of a per-position schedule leaves the order law
    unchanged (see :mod:`theory.orders`)."""

    def __init__(self, outer: Schedule, inner: Schedule):
        self.outer, self.inner = get_schedule(outer), get_schedule(inner)
        self.name = f"{self.outer.name}o{self.inner.name}"
        self.formula = f"[{self.outer.formula}] at m_inner(t), inner = {self.inner.formula}"

    def masked_fraction(self, t):
        inner = as_numpy(self.inner.masked_fraction(t))
        return same_kind(as_numpy(self.outer.masked_fraction(np.clip(inner, 0.0, 1.0))), t)

    def masked_fraction_derivative(self, t):
        inner = np.clip(as_numpy(self.inner.masked_fraction(t)), 0.0, 1.0)
        d = as_numpy(self.outer.masked_fraction_derivative(inner)) * as_numpy(
            self.inner.masked_fraction_derivative(t)
        )
        return same_kind(d, t)

    def time_of_masked_fraction(self, m):
        return self.inner.time_of_masked_fraction(self.outer.time_of_masked_fraction(m))

    def sympy_masked_fraction(self, t):
        u = sympy.Symbol("u_internal", real=True)
        return self.outer.sympy_masked_fraction(u).subs(u, self.inner.sympy_masked_fraction(t))

    def describe(self) -> dict:
        return {**super().describe(), "outer": self.outer.describe(), "inner": self.inner.describe()}


SCHEDULES = {
    "linear": LinearSchedule,
    "cosine": CosineSchedule,
    "cosine_mdlm": CosineMDLMSchedule,
    "sin2": SineSquaredSchedule,
}


def get_schedule(spec) -> Schedule:
    """A schedule from a name (``linear``, ``cosine``, ``cosine_mdlm``, ``sin2``, ``poly<k>``,
    ``beta:<a>,<b>``), an instance, or a callable alpha(t) (mdlm convention)."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, MultivariateSchedule):
        raise InvalidArgumentError(
            "a PerPositionSchedule gives one schedule per position; samplers and univariate "
            "functions need a single Schedule"
        )
    if callable(spec):
        return FunctionSchedule(spec)
    if isinstance(spec, str):
        if spec in SCHEDULES:
            return SCHEDULES[spec]()
        if spec.startswith("poly"):
            try:
                k = float(spec[4:])
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"polynomial schedule spec must look like 'poly2' or 'poly0.5', got {spec!r}"
                ) from exc
            return PolynomialSchedule(exponent=k)
        if spec.startswith("beta:"):
            try:
                a, b = (float(v) for v in spec[5:].split(","))
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"Beta schedule spec must look like 'beta:0.9,0.3', got {spec!r}"
                ) from exc
            return BetaCDFSchedule(a, b)
    if not isinstance(spec, str):
        raise InvalidTypeError(
            f"schedule must be a name, a Schedule or a callable alpha(t), got {type(spec).__name__} {spec!r:.80}"
        )
    raise InvalidArgumentError(
        f"unknown schedule {spec!r}; use one of {sorted(SCHEDULES)}, 'poly<k>', 'beta:<a>,<b>', "
        "a Schedule or a callable alpha(t)"
    )
