r"""User-given schedules: a callable alpha(t), a sympy expression of m(t), and a schedule written in the
energy paper's time convention. Each is validated on a grid when built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy
import torch

from sims.schedules.base import Schedule, check_unit_interval, same_kind
from sims.validation import InvalidArgumentError, check_type


def _values_on_grid(fn: Callable, grid: np.ndarray, what: str) -> np.ndarray:
    """``fn`` at every grid point as floats; a call that fails or returns a non-number is named."""
    out = np.empty(grid.shape)
    for i, t in enumerate(grid):
        try:
            out[i] = float(fn(float(t)))
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidArgumentError(
                f"{what} failed or returned a non-number at {float(t)!r}: {exc!r}"
            ) from exc
    return out


def _check_callables(fn, derivative, name, formula, what: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{what} must be callable, got {type(fn).__name__}")
    if derivative is not None and not callable(derivative):
        raise InvalidArgumentError(f"the derivative of {what} must be callable or None")
    check_type(name, str, "name")
    check_type(formula, str, "formula")


class FunctionSchedule(Schedule):
    """A user-supplied alpha(t), validated: alpha(1)=0, alpha(0)=1, non-increasing on a 1001-point grid.

    ``derivative`` (optional) gives alpha'(t); without it :meth:`masked_fraction_derivative` uses a central
    difference (see :data:`FD_STEP`).
    """

    def __init__(
        self,
        alpha_fn: Callable,
        name: str = "callable",
        formula: str = "user function",
        derivative: Callable | None = None,
    ):
        _check_callables(alpha_fn, derivative, name, formula, "alpha(t)")
        self._alpha = alpha_fn
        self._dalpha = derivative
        self.name, self.formula = name, formula
        # A first look on a fixed grid (catches most mistakes at construction); the values a sampler uses
        # are checked again at its own time points (Schedule.unmask_probability / step_weights).
        grid = np.linspace(0.0, 1.0, 1001)
        vals = _values_on_grid(alpha_fn, grid, "schedule alpha(t)")
        if not np.all(np.isfinite(vals)):
            raise InvalidArgumentError("schedule alpha(t) returned a non-finite value on [0, 1]")
        if abs(vals[0] - 1) > 1e-12 or abs(vals[-1]) > 1e-12:
            raise InvalidArgumentError(
                f"schedule must satisfy alpha(0)=1 and alpha(1)=0; got alpha(0)={vals[0]}, "
                f"alpha(1)={vals[-1]}"
            )
        if np.any(np.diff(vals) > 1e-12):
            raise InvalidArgumentError("schedule alpha(t) must be non-increasing in t")

    def masked_fraction(self, t):
        if isinstance(t, torch.Tensor):
            return torch.tensor(
                [1.0 - float(self._alpha(float(v))) for v in t.flatten()], dtype=torch.float64
            ).reshape(t.shape)
        if isinstance(t, np.ndarray):
            return np.array([1.0 - float(self._alpha(float(v))) for v in t.flatten()]).reshape(t.shape)
        return 1.0 - float(self._alpha(float(t)))

    def masked_fraction_derivative(self, t):
        if self._dalpha is None:
            return super().masked_fraction_derivative(t)
        arr = check_unit_interval(t)
        d = np.array([-float(self._dalpha(float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return same_kind(d, t)


class SympySchedule(Schedule):
    """A schedule given by a sympy expression of the masked fraction m(t) (mdlm convention).

    Numerical values and the exact derivative are lambdified from the expression; it is validated like
    :class:`FunctionSchedule` (m(0) = 0, m(1) = 1, non-decreasing on a 1001-point grid).
    """

    def __init__(
        self, masked_fraction_expr, t: sympy.Symbol, name: str = "sympy", formula: str | None = None
    ):
        check_type(t, sympy.Symbol, "t", "a sympy Symbol")
        check_type(name, str, "name")
        if formula is not None:
            check_type(formula, str, "formula")
        self.t = t
        try:
            self.expr = sympy.sympify(masked_fraction_expr)
        except (sympy.SympifyError, TypeError) as exc:
            raise InvalidArgumentError(f"masked fraction: not a sympy expression ({exc})") from exc
        extra = self.expr.free_symbols - {t}
        if extra:
            raise InvalidArgumentError(f"masked fraction m({t}) has free symbols other than {t}: {extra}")
        self.name = name
        self.formula = formula or f"1 - ({sympy.sstr(self.expr)})"
        self._m = sympy.lambdify(t, self.expr, "numpy")
        self._dm = sympy.lambdify(t, sympy.diff(self.expr, t), "numpy")
        grid = np.linspace(0.0, 1.0, 1001)
        try:
            with np.errstate(all="ignore"):
                vals = np.broadcast_to(np.asarray(self._m(grid), dtype=np.float64), grid.shape)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"masked fraction m(t) is not real on [0, 1] ({exc})") from exc
        if not np.all(np.isfinite(vals)):
            raise InvalidArgumentError("masked fraction m(t) is not finite on [0, 1]")
        if abs(vals[0]) > 1e-12 or abs(vals[-1] - 1) > 1e-12:
            raise InvalidArgumentError(f"need m(0)=0 and m(1)=1, got m(0)={vals[0]}, m(1)={vals[-1]}")
        if np.any(np.diff(vals) < -1e-12):
            raise InvalidArgumentError("masked fraction m(t) must be non-decreasing in t")

    def masked_fraction(self, t):
        arr = check_unit_interval(t)
        return same_kind(np.broadcast_to(np.asarray(self._m(arr), dtype=np.float64), arr.shape), t)

    def masked_fraction_derivative(self, t):
        arr = check_unit_interval(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.broadcast_to(np.asarray(self._dm(arr), dtype=np.float64), arr.shape)
        return same_kind(d, t)

    def sympy_masked_fraction(self, t):
        return self.expr.subs(self.t, t)


class EnergyPaperSchedule(Schedule):
    r"""A schedule given in the energy-paper convention: :math:`\alpha^{EP}_s` increasing from 0 (s = 0,
    all masked) to 1 (s = 1, data), converted explicitly: :math:`m(t) = 1 - \alpha^{EP}(1 - t)`.

    ``alpha_ep_derivative`` (optional) is :math:`\dot\alpha^{EP}_s`; without it a central difference is used.
    """

    def __init__(
        self,
        alpha_ep: Callable,
        name: str = "ep_callable",
        formula_ep: str = "user function",
        alpha_ep_derivative: Callable | None = None,
    ):
        _check_callables(alpha_ep, alpha_ep_derivative, name, formula_ep, "alpha^EP(s)")
        self._a, self._da = alpha_ep, alpha_ep_derivative
        self.name = name
        self.formula = f"alpha^EP(1 - t) with alpha^EP(s) = {formula_ep}"
        grid = np.linspace(0.0, 1.0, 1001)
        vals = _values_on_grid(alpha_ep, grid, "alpha^EP(s)")
        if not np.all(np.isfinite(vals)):
            raise InvalidArgumentError("alpha^EP(s) returned a non-finite value on [0, 1]")
        if abs(vals[0]) > 1e-12 or abs(vals[-1] - 1) > 1e-12:
            raise InvalidArgumentError(
                f"energy-paper convention needs alpha^EP(0)=0 and alpha^EP(1)=1; got {vals[0]}, {vals[-1]}"
            )
        if np.any(np.diff(vals) < -1e-12):
            raise InvalidArgumentError("alpha^EP(s) must be non-decreasing in s")

    def masked_fraction(self, t):
        arr = check_unit_interval(t)
        vals = np.array([1.0 - float(self._a(1.0 - float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return same_kind(vals, t)

    def masked_fraction_derivative(self, t):
        if self._da is None:
            return super().masked_fraction_derivative(t)
        arr = check_unit_interval(t)
        d = np.array([float(self._da(1.0 - float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return same_kind(d, t)
