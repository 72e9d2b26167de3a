r"""User-given schedules: a callable alpha(t), a sympy expression of m(t), and a schedule written in the
energy paper's time convention. Each is validated on a grid when built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy
import torch

from sims.schedules.base import Schedule, check_unit_interval, same_kind


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
        self._alpha = alpha_fn
        self._dalpha = derivative
        self.name, self.formula = name, formula
        grid = np.linspace(0.0, 1.0, 1001)
        vals = np.array([float(alpha_fn(float(t))) for t in grid])
        if not np.all(np.isfinite(vals)):
            raise ValueError("schedule alpha(t) returned a non-finite value on [0, 1]")
        if abs(vals[0] - 1) > 1e-12 or abs(vals[-1]) > 1e-12:
            raise ValueError(
                f"schedule must satisfy alpha(0)=1 and alpha(1)=0; got alpha(0)={vals[0]}, "
                f"alpha(1)={vals[-1]}"
            )
        if np.any(np.diff(vals) > 1e-12):
            raise ValueError("schedule alpha(t) must be non-increasing in t")

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
        self.t = t
        self.expr = sympy.sympify(masked_fraction_expr)
        self.name = name
        self.formula = formula or f"1 - ({sympy.sstr(self.expr)})"
        self._m = sympy.lambdify(t, self.expr, "numpy")
        self._dm = sympy.lambdify(t, sympy.diff(self.expr, t), "numpy")
        grid = np.linspace(0.0, 1.0, 1001)
        vals = np.broadcast_to(np.asarray(self._m(grid), dtype=np.float64), grid.shape)
        if not np.all(np.isfinite(vals)):
            raise ValueError("masked fraction m(t) is not finite on [0, 1]")
        if abs(vals[0]) > 1e-12 or abs(vals[-1] - 1) > 1e-12:
            raise ValueError(f"need m(0)=0 and m(1)=1, got m(0)={vals[0]}, m(1)={vals[-1]}")
        if np.any(np.diff(vals) < -1e-12):
            raise ValueError("masked fraction m(t) must be non-decreasing in t")

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
        self._a, self._da = alpha_ep, alpha_ep_derivative
        self.name = name
        self.formula = f"alpha^EP(1 - t) with alpha^EP(s) = {formula_ep}"
        grid = np.linspace(0.0, 1.0, 1001)
        vals = np.array([float(alpha_ep(float(s))) for s in grid])
        if not np.all(np.isfinite(vals)):
            raise ValueError("alpha^EP(s) returned a non-finite value on [0, 1]")
        if abs(vals[0]) > 1e-12 or abs(vals[-1] - 1) > 1e-12:
            raise ValueError(
                f"energy-paper convention needs alpha^EP(0)=0 and alpha^EP(1)=1; got {vals[0]}, {vals[-1]}"
            )
        if np.any(np.diff(vals) < -1e-12):
            raise ValueError("alpha^EP(s) must be non-decreasing in s")

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
