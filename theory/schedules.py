r"""Masking schedules, both time conventions, per-position schedules and time grids.

Convention used inside the suite ("mdlm"; MDLM/SEDD/MD4/LLaDA/Garg et al.): diffusion time runs from
:math:`t = 1` (every token masked) to :math:`t = 0` (clean data). :math:`\alpha(t)` is the probability
that a token is *revealed* at time t, so :math:`\alpha(1) = 0`, :math:`\alpha(0) = 1`, and :math:`\alpha`
decreases in t. The masked fraction is :math:`m(t) = 1 - \alpha(t)`; the forward masking time
:math:`\tau` of a token has CDF :math:`P(\tau \le t) = m(t)` (Garg et al. arXiv 2511.19152, Prop. 3.2).

The energy paper (Chen et al., arXiv 2509.13866, Sec. 2.1, Eq. 3) and flow matching use the opposite
direction ("ep"): time :math:`s = 1 - t` runs from :math:`s = 0` (all masked) to :math:`s = 1` (data) and
their :math:`\alpha^{EP}_s = \alpha(1 - s)` increases. Conversions are explicit:
:func:`mdlm_to_ep_time`, :func:`ep_to_mdlm_time`, :func:`convert_time`, :meth:`Schedule.alpha_ep`,
:class:`EnergyPaperSchedule` (build a schedule from an EP-convention :math:`\alpha^{EP}`).
The EP's "linear" :math:`\alpha^{EP}_s = s` is our ``linear``; its "sine" :math:`\sin(\pi s/2)` is our
``cosine_mdlm``; its "squared sine" :math:`\sin^2(\pi s/2)` is our ``sin2`` (= Beta-CDF(1, 1)).

Reverse step from t to s < t (MDLM ancestral): a masked token is revealed with probability

.. math::
    \frac{\alpha(s) - \alpha(t)}{1 - \alpha(t)} = \frac{m(t) - m(s)}{m(t)},

computed from m to avoid cancellation. Over a grid :math:`1 = t_0 > \dots > t_K = 0` each token is
revealed at step k with probability :math:`w_k = m(t_{k-1}) - m(t_k)` independently of the others.

Schedules implemented (formula for :math:`\alpha(t)` in the mdlm convention, source):

========================  ==================================================  ==========================================
name                      :math:`\alpha(t)`                                    source
========================  ==================================================  ==========================================
``linear``                :math:`1 - t`                                        MDLM log-linear, MD4 linear, LLaDA
``cosine``                :math:`1 - \sin(\pi t / 2)`                          MD4 ``cosine`` (= MaskGIT), r = 1 - t
``cosine_mdlm``           :math:`\cos(\pi t / 2)`                              MDLM ``CosineNoise`` (no eps); EP "sine"
``sin2``                  :math:`\cos^2(\pi t / 2)`                            EP "squared sine" (Prop. 3.7, Beta(1,1))
``poly<k>``               :math:`1 - t^k`                                      MD4 ``poly<k>``; Garg et al. Sec. 4
``beta:<a>,<b>``          :math:`\sin^2(\tfrac{\pi}{2} I_{1-t}(a, b))`         EP Sec. 3.3, Eq. 15-16 (Beta-CDF)
callable / sympy          user function / sympy expression of m(t)             validated on a grid
========================  ==================================================  ==========================================

Beta-CDF schedules (energy paper): the interpolation schedule is :math:`\gamma_s = I_s(a, b)` (regularized
incomplete beta function, EP time) and the mask schedule follows the optimality condition (EP Condition
3.4) :math:`\alpha^{EP}_s = \sin^2(\tfrac{\pi}{2}\gamma_s)`. In the mdlm convention this is
:math:`m(t) = \sin^2(\tfrac{\pi}{2} I_t(b, a))` (using :math:`I_{1-t}(a,b) = 1 - I_t(b,a)`), which is how it
is evaluated (no cancellation at either end).

Every schedule gives :meth:`Schedule.masked_fraction_derivative` (closed form where one exists), the ELBO
weight :meth:`Schedule.elbo_weight` :math:`= m'(t)/m(t) = -\alpha'(t)/(1-\alpha(t))` and a sympy expression
:meth:`Schedule.sympy_masked_fraction` used by the symbolic tests.

Per-position (multivariate) schedules :class:`PerPositionSchedule` give every position its own
:math:`\alpha_{t,l}` (Garg et al., Sec. 3); :class:`PowerPerPositionSchedule` is their
:math:`\alpha_{t,l} = 1 - t^{w_l}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special as sps
import sympy
import torch

#: The two time conventions, by name (see the module docstring).
TIME_CONVENTIONS = {
    "mdlm": "t=1 all masked -> t=0 clean; alpha(t) = P(revealed) decreasing (MDLM, MD4, LLaDA, Garg et al.)",
    "ep": "s=0 all masked -> s=1 clean; alpha(s) = P(revealed) increasing (energy paper, flow matching)",
}


# ---- array helpers: every schedule accepts floats, numpy arrays and torch tensors ----------------------
def _as_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def _like(values: np.ndarray, t):
    """Return ``values`` in the type of ``t`` (float -> float, ndarray -> ndarray, tensor -> float64 tensor)."""
    if isinstance(t, torch.Tensor):
        return torch.as_tensor(values, dtype=torch.float64, device=t.device)
    if isinstance(t, np.ndarray):
        return np.asarray(values, dtype=np.float64)
    return float(values)


def _sin(x):
    return (
        torch.sin(x)
        if isinstance(x, torch.Tensor)
        else (np.sin(x) if isinstance(x, np.ndarray) else math.sin(x))
    )


def _check_unit_interval(t, name: str = "t") -> np.ndarray:
    arr = _as_numpy(t)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {t!r}")
    if np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{arr.min()}, {arr.max()}]")
    return arr


#: Step of the central difference used by :meth:`Schedule.masked_fraction_derivative` when a schedule has
#: no closed form (error ~ h^2 |m'''| plus ~1e-16/h rounding: about 1e-10 for smooth schedules).
FD_STEP = 1e-6


class Schedule:
    """Base class: subclasses define :meth:`masked_fraction` m(t) (and optionally its inverse)."""

    name: str = "schedule"
    formula: str = ""

    def masked_fraction(self, t):
        """m(t) = 1 - alpha(t); works on floats, numpy arrays and torch tensors."""
        raise NotImplementedError

    def alpha(self, t):
        """Probability that a token is revealed at time t."""
        return 1 - self.masked_fraction(t)

    def time_of_masked_fraction(self, m: torch.Tensor) -> torch.Tensor:
        """Inverse of m(t) on [0, 1] (bisection in float64 unless a subclass gives a closed form)."""
        m = torch.as_tensor(m, dtype=torch.float64)
        lo, hi = torch.zeros_like(m), torch.ones_like(m)
        for _ in range(64):
            mid = (lo + hi) / 2
            below = torch.as_tensor(self.masked_fraction(mid), dtype=torch.float64) < m
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2

    def unmask_probability(self, t: float, s: float) -> float:
        r"""Probability that a still-masked token is revealed between t and s < t: (m(t) - m(s)) / m(t)."""
        mt, ms = float(self.masked_fraction(t)), float(self.masked_fraction(s))
        if mt <= 0:
            return 1.0
        return min(1.0, max(0.0, (mt - ms) / mt))

    def step_weights(self, grid: torch.Tensor) -> torch.Tensor:
        """``w_k = m(t_{k-1}) - m(t_k)`` for k = 1..K: law of the step at which a token is revealed."""
        m = torch.as_tensor(self.masked_fraction(grid), dtype=torch.float64)
        return m[:-1] - m[1:]

    def describe(self) -> dict:
        return {"name": self.name, "alpha(t)": self.formula, "time": "t=1 all masked -> t=0 clean"}

    # ---- derivatives and the ELBO weight ------------------------------------------------------------
    def masked_fraction_derivative(self, t):
        """m'(t) = -alpha'(t) (density of the masking time). Closed form in subclasses; the base class
        uses a central difference of step :data:`FD_STEP` (one-sided at the ends of [0, 1])."""
        arr = _check_unit_interval(t)
        h = FD_STEP
        lo, hi = np.clip(arr - h, 0.0, 1.0), np.clip(arr + h, 0.0, 1.0)
        d = (_as_numpy(self.masked_fraction(hi)) - _as_numpy(self.masked_fraction(lo))) / (hi - lo)
        return _like(d, t)

    def alpha_derivative(self, t):
        """alpha'(t) = -m'(t) (<= 0 in the mdlm convention)."""
        return -self.masked_fraction_derivative(t)

    def elbo_weight(self, t):
        r"""ELBO weight :math:`m'(t)/m(t) = -\alpha'(t)/(1-\alpha(t))` (MDLM Eq. 10, MD4; 1/t for linear)."""
        m = _as_numpy(self.masked_fraction(t))
        dm = _as_numpy(self.masked_fraction_derivative(t))
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(m > 0, dm / np.where(m > 0, m, 1.0), np.inf)
        return _like(w, t)

    # ---- the energy-paper (ep) convention -----------------------------------------------------------
    def alpha_ep(self, s):
        r""":math:`\alpha^{EP}_s = \alpha(1 - s)`: revealed probability at energy-paper time s (0 = masked)."""
        return self.alpha(ep_to_mdlm_time(s))

    def masked_fraction_ep(self, s):
        r""":math:`1 - \alpha^{EP}_s = m(1 - s)` (computed from m, no cancellation)."""
        return self.masked_fraction(ep_to_mdlm_time(s))

    def alpha_ep_derivative(self, s):
        r""":math:`\dot\alpha^{EP}_s = \tfrac{d}{ds}\alpha(1-s) = m'(1-s) \ge 0`."""
        return self.masked_fraction_derivative(ep_to_mdlm_time(s))

    # ---- symbolic -----------------------------------------------------------------------------------
    def sympy_masked_fraction(self, t: sympy.Symbol) -> sympy.Expr:
        """m(t) as a sympy expression in the mdlm convention."""
        raise NotImplementedError(f"{type(self).__name__} has no sympy expression")

    def sympy_alpha(self, t: sympy.Symbol) -> sympy.Expr:
        return 1 - self.sympy_masked_fraction(t)

    def sympy_alpha_ep(self, s: sympy.Symbol) -> sympy.Expr:
        r""":math:`\alpha^{EP}_s` as a sympy expression (substitutes t = 1 - s)."""
        t = sympy.Symbol("t_internal", real=True)
        return self.sympy_alpha(t).subs(t, 1 - s)


@dataclass
class LinearSchedule(Schedule):
    name: str = "linear"
    formula: str = "1 - t"

    def masked_fraction(self, t):
        return t

    def time_of_masked_fraction(self, m):
        return torch.as_tensor(m, dtype=torch.float64)

    def masked_fraction_derivative(self, t):
        return _like(np.ones_like(_check_unit_interval(t)), t)

    def sympy_masked_fraction(self, t):
        return t


@dataclass
class CosineSchedule(Schedule):
    """MD4/MaskGIT cosine: masked fraction sin(pi t / 2)."""

    name: str = "cosine"
    formula: str = "1 - sin(pi t / 2)"

    def masked_fraction(self, t):
        return _sin(math.pi * t / 2 if not isinstance(t, torch.Tensor) else torch.pi * t / 2)

    def time_of_masked_fraction(self, m):
        return 2 / torch.pi * torch.arcsin(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1))

    def masked_fraction_derivative(self, t):
        return _like(np.pi / 2 * np.cos(np.pi * _check_unit_interval(t) / 2), t)

    def sympy_masked_fraction(self, t):
        return sympy.sin(sympy.pi * t / 2)


@dataclass
class CosineMDLMSchedule(Schedule):
    """MDLM ``CosineNoise`` (without eps): alpha = cos(pi t / 2), masked fraction 1 - cos(pi t / 2).

    In the energy-paper convention this is the "sine" schedule alpha^EP_s = sin(pi s / 2).
    """

    name: str = "cosine_mdlm"
    formula: str = "cos(pi t / 2)"

    def masked_fraction(self, t):
        # 1 - cos(x) = 2 sin^2(x/2): no cancellation near t = 0.
        x = math.pi * t / 4 if not isinstance(t, torch.Tensor) else torch.pi * t / 4
        return 2 * _sin(x) ** 2

    def time_of_masked_fraction(self, m):
        return (
            4 / torch.pi * torch.arcsin(torch.sqrt(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1) / 2))
        )

    def masked_fraction_derivative(self, t):
        return _like(np.pi / 2 * np.sin(np.pi * _check_unit_interval(t) / 2), t)

    def sympy_masked_fraction(self, t):
        return 1 - sympy.cos(sympy.pi * t / 2)


@dataclass
class PolynomialSchedule(Schedule):
    """alpha = 1 - t^k (MD4 ``poly<k>``); k = 1 is linear."""

    exponent: float = 2.0
    name: str = "poly"
    formula: str = "1 - t^k"

    def __post_init__(self):
        if not self.exponent > 0:
            raise ValueError(f"exponent must be > 0, got {self.exponent}")
        self.formula = f"1 - t^{self.exponent:g}"

    def masked_fraction(self, t):
        return t**self.exponent

    def time_of_masked_fraction(self, m):
        return torch.as_tensor(m, dtype=torch.float64).clamp(0, 1) ** (1.0 / self.exponent)

    def masked_fraction_derivative(self, t):
        arr = _check_unit_interval(t)
        k = self.exponent
        with np.errstate(divide="ignore"):
            d = k * np.power(arr, k - 1.0) if k != 1 else np.ones_like(arr)
        return _like(d, t)

    def sympy_masked_fraction(self, t):
        return t ** sympy.nsimplify(self.exponent, rational=True)

    def describe(self) -> dict:
        return {**super().describe(), "exponent": self.exponent}


@dataclass
class SineSquaredSchedule(Schedule):
    r"""Energy paper's "squared sine" :math:`\alpha^{EP}_s = \sin^2(\pi s/2)` (EP Prop. 3.7; also the
    Fisher-Rao-optimal cosine schedule of Zhang & Syed arXiv 2508.04884). In the mdlm convention
    :math:`\alpha(t) = \cos^2(\pi t/2)`, :math:`m(t) = \sin^2(\pi t/2)`; equals Beta-CDF(1, 1)."""

    name: str = "sin2"
    formula: str = "cos^2(pi t / 2)"

    def masked_fraction(self, t):
        x = math.pi * t / 2 if not isinstance(t, torch.Tensor) else torch.pi * t / 2
        return _sin(x) ** 2

    def alpha(self, t):
        x = math.pi * (1 - t) / 2 if not isinstance(t, torch.Tensor) else torch.pi * (1 - t) / 2
        return _sin(x) ** 2

    def time_of_masked_fraction(self, m):
        return 2 / torch.pi * torch.arcsin(torch.sqrt(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1)))

    def masked_fraction_derivative(self, t):
        return _like(np.pi / 2 * np.sin(np.pi * _check_unit_interval(t)), t)

    def sympy_masked_fraction(self, t):
        return sympy.sin(sympy.pi * t / 2) ** 2


class BetaCDFSchedule(Schedule):
    r"""Energy-paper Beta-CDF schedule (Chen et al. arXiv 2509.13866, Sec. 3.3, Eq. 15 and Condition 3.4).

    EP convention (s = 0 masked): interpolation schedule :math:`\gamma_s = I_s(a, b)` and mask schedule
    :math:`\alpha^{EP}_s = \sin^2(\tfrac{\pi}{2}\gamma_s)`. Mdlm convention (t = 1 - s):

    .. math::
        m(t) = \sin^2\big(\tfrac{\pi}{2} I_t(b, a)\big), \qquad
        \alpha(t) = \sin^2\big(\tfrac{\pi}{2} I_{1-t}(a, b)\big), \qquad
        m'(t) = \tfrac{\pi}{2}\sin\big(\pi I_t(b,a)\big)\,\frac{t^{b-1}(1-t)^{a-1}}{B(b, a)}.

    (a, b) = (1/2, 1/2) gives the linear schedule and (1, 1) the squared sine (EP Prop. 3.7).
    """

    def __init__(self, a: float, b: float):
        for name, v in (("a", a), ("b", b)):
            if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v > 0):
                raise ValueError(f"Beta parameter {name} must be a finite number > 0, got {v!r}")
        self.a, self.b = float(a), float(b)
        self.name = f"beta({self.a:g},{self.b:g})"
        self.formula = f"sin^2(pi/2 * I_(1-t)({self.a:g}, {self.b:g}))"

    def __repr__(self) -> str:
        return f"BetaCDFSchedule(a={self.a!r}, b={self.b!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, BetaCDFSchedule) and (self.a, self.b) == (other.a, other.b)

    def __hash__(self) -> int:
        return hash((self.a, self.b))

    def gamma_ep(self, s):
        r"""Interpolation schedule :math:`\gamma_s = I_s(a, b)` in EP time."""
        return _like(sps.betainc(self.a, self.b, _check_unit_interval(s, "s")), s)

    def gamma_ep_derivative(self, s):
        r""":math:`\dot\gamma_s` = Beta(a, b) density."""
        arr = _check_unit_interval(s, "s")
        with np.errstate(divide="ignore"):
            logpdf = (self.a - 1) * np.log(arr) + (self.b - 1) * np.log1p(-arr) - sps.betaln(self.a, self.b)
        return _like(np.exp(logpdf), s)

    def masked_fraction(self, t):
        arr = _check_unit_interval(t)
        return _like(np.sin(np.pi / 2 * sps.betainc(self.b, self.a, arr)) ** 2, t)

    def alpha(self, t):
        arr = _check_unit_interval(t)
        return _like(np.sin(np.pi / 2 * sps.betainc(self.a, self.b, 1.0 - arr)) ** 2, t)

    def masked_fraction_derivative(self, t):
        arr = _check_unit_interval(t)
        a, b = self.a, self.b
        # sin(pi I) with I = I_t(b,a) and 1 - I = I_{1-t}(a,b), whichever is smaller (no cancellation).
        small = np.minimum(sps.betainc(b, a, arr), sps.betainc(a, b, 1.0 - arr))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_pdf = (b - 1) * np.log(arr) + (a - 1) * np.log1p(-arr) - sps.betaln(b, a)
            d = np.pi / 2 * np.sin(np.pi * small) * np.exp(log_pdf)
        # Exact ends: I ~ t^b/(b B) gives m'(t) ~ pi^2/(2 b B^2) t^(2b-1) as t -> 0, and symmetrically
        # m'(t) ~ pi^2/(2 a B^2) (1-t)^(2a-1) as t -> 1 (B = B(a, b)).
        bb = math.exp(2 * sps.betaln(a, b))

        def end_limit(p: float) -> float:
            return 0.0 if p > 0.5 else (np.pi**2 / (2 * p * bb) if p == 0.5 else math.inf)

        d = np.where(arr == 0.0, end_limit(b), np.where(arr == 1.0, end_limit(a), d))
        return _like(d, t)

    def time_of_masked_fraction(self, m):
        m = torch.as_tensor(m, dtype=torch.float64).clamp(0, 1)
        g = 2 / np.pi * np.arcsin(np.sqrt(m.cpu().numpy()))
        return torch.as_tensor(sps.betaincinv(self.b, self.a, g), dtype=torch.float64, device=m.device)

    def sympy_gamma_ep(self, s: sympy.Symbol) -> sympy.Expr:
        a, b = sympy.nsimplify(self.a, rational=True), sympy.nsimplify(self.b, rational=True)
        return sympy.betainc_regularized(a, b, 0, s)

    def sympy_masked_fraction(self, t):
        a, b = sympy.nsimplify(self.a, rational=True), sympy.nsimplify(self.b, rational=True)
        return sympy.sin(sympy.pi / 2 * sympy.betainc_regularized(b, a, 0, t)) ** 2

    def describe(self) -> dict:
        return {
            **super().describe(),
            "a": self.a,
            "b": self.b,
            "ep_convention": "gamma_s = I_s(a,b), alpha_s = sin^2(pi/2 gamma_s), s = 1 - t",
        }


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
        arr = _check_unit_interval(t)
        d = np.array([-float(self._dalpha(float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return _like(d, t)


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
        arr = _check_unit_interval(t)
        return _like(np.broadcast_to(np.asarray(self._m(arr), dtype=np.float64), arr.shape), t)

    def masked_fraction_derivative(self, t):
        arr = _check_unit_interval(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.broadcast_to(np.asarray(self._dm(arr), dtype=np.float64), arr.shape)
        return _like(d, t)

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
        arr = _check_unit_interval(t)
        vals = np.array([1.0 - float(self._a(1.0 - float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return _like(vals, t)

    def masked_fraction_derivative(self, t):
        if self._da is None:
            return super().masked_fraction_derivative(t)
        arr = _check_unit_interval(t)
        d = np.array([float(self._da(1.0 - float(v))) for v in arr.flatten()]).reshape(arr.shape)
        return _like(d, t)


class ComposedSchedule(Schedule):
    r"""Time-warped schedule :math:`m(t) = m_{outer}(m_{inner}(t))` (the inner masked fraction is an increasing
    bijection of [0, 1]). Applying one warp to every position of a per-position schedule leaves the order law
    unchanged (see :mod:`theory.orders`)."""

    def __init__(self, outer: Schedule, inner: Schedule):
        self.outer, self.inner = get_schedule(outer), get_schedule(inner)
        self.name = f"{self.outer.name}o{self.inner.name}"
        self.formula = f"[{self.outer.formula}] at m_inner(t), inner = {self.inner.formula}"

    def masked_fraction(self, t):
        inner = _as_numpy(self.inner.masked_fraction(t))
        return _like(_as_numpy(self.outer.masked_fraction(np.clip(inner, 0.0, 1.0))), t)

    def masked_fraction_derivative(self, t):
        inner = np.clip(_as_numpy(self.inner.masked_fraction(t)), 0.0, 1.0)
        d = _as_numpy(self.outer.masked_fraction_derivative(inner)) * _as_numpy(
            self.inner.masked_fraction_derivative(t)
        )
        return _like(d, t)

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
    if isinstance(spec, PerPositionSchedule):
        raise ValueError(
            "a PerPositionSchedule gives one schedule per position; samplers and univariate "
            "functions need a single Schedule"
        )
    if callable(spec):
        return FunctionSchedule(spec)
    if isinstance(spec, str):
        if spec in SCHEDULES:
            return SCHEDULES[spec]()
        if spec.startswith("poly"):
            return PolynomialSchedule(exponent=float(spec[4:]))
        if spec.startswith("beta:"):
            try:
                a, b = (float(v) for v in spec[5:].split(","))
            except ValueError as exc:
                raise ValueError(f"Beta schedule spec must look like 'beta:0.9,0.3', got {spec!r}") from exc
            return BetaCDFSchedule(a, b)
    raise ValueError(
        f"unknown schedule {spec!r}; use one of {sorted(SCHEDULES)}, 'poly<k>', 'beta:<a>,<b>', "
        "a Schedule or a callable alpha(t)"
    )


# ---- per-position (multivariate) schedules ------------------------------------------------------------
class PerPositionSchedule:
    r"""One schedule per position, :math:`\alpha_{t,l}` (Garg et al. arXiv 2511.19152, Sec. 3 and Eq. 8).

    The forward process stays independent across positions; position l is masked at time t with probability
    :math:`m_l(t)`, and its masking time has CDF :math:`m_l` (Prop. 3.2 / Cor. 3.1). Array methods return
    shape ``t.shape + (L,)`` (numpy, float64).
    """

    def __init__(self, schedules: Sequence):
        if len(schedules) == 0:
            raise ValueError("a per-position schedule needs at least one position")
        self.schedules = [get_schedule(s) for s in schedules]
        # the same object at every position: evaluate once and broadcast
        self._single = all(s is self.schedules[0] for s in self.schedules)

    @classmethod
    def uniform(cls, schedule, length: int) -> PerPositionSchedule:
        """The univariate schedule repeated at every position."""
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        return cls([get_schedule(schedule)] * int(length))

    @property
    def length(self) -> int:
        return len(self.schedules)

    def _stack(self, method: str, t) -> np.ndarray:
        arr = _check_unit_interval(t)
        if self._single:
            one = _as_numpy(getattr(self.schedules[0], method)(arr))
            return np.repeat(one[..., None], self.length, axis=-1)
        return np.stack([_as_numpy(getattr(s, method)(arr)) for s in self.schedules], axis=-1)

    def masked_fraction(self, t) -> np.ndarray:
        return self._stack("masked_fraction", t)

    def alpha(self, t) -> np.ndarray:
        return self._stack("alpha", t)

    def masked_fraction_derivative(self, t) -> np.ndarray:
        return self._stack("masked_fraction_derivative", t)

    def elbo_weight(self, t) -> np.ndarray:
        """Per-position ELBO weights m_l'(t)/m_l(t) (Garg et al. Eq. 8)."""
        return self._stack("elbo_weight", t)

    def time_of_masked_fraction(self, m) -> torch.Tensor:
        """Per-position inverse: ``m`` of shape ``(..., L)`` -> times ``(..., L)`` (Garg et al. Alg. 1)."""
        m = torch.as_tensor(m, dtype=torch.float64)
        if m.shape[-1] != self.length:
            raise ValueError(f"last axis of m must have length {self.length}, got {tuple(m.shape)}")
        return torch.stack([s.time_of_masked_fraction(m[..., i]) for i, s in enumerate(self.schedules)], -1)

    def step_weights(self, grid: torch.Tensor) -> torch.Tensor:
        """``(K, L)``: probability that position l is revealed at step k of the grid."""
        m = torch.as_tensor(self.masked_fraction(_as_numpy(grid)), dtype=torch.float64)
        return m[:-1] - m[1:]

    @property
    def is_univariate(self) -> bool:
        first = self.schedules[0].describe()
        return all(s.describe() == first for s in self.schedules[1:])

    def describe(self) -> dict:
        return {
            "type": type(self).__name__,
            "positions": [s.describe() for s in self.schedules],
            "time": TIME_CONVENTIONS["mdlm"],
        }


class PowerPerPositionSchedule(PerPositionSchedule):
    r"""Garg et al. (Sec. 4): :math:`\alpha_{t,l} = 1 - t^{w_l}`, i.e. masked fraction :math:`t^{w_l}`.

    The masking times are :math:`\tau_l = U_l^{1/w_l}`, so :math:`-\log\tau_l \sim \mathrm{Exp}(w_l)` and the
    decoding order (largest :math:`\tau` first) is Plackett-Luce with weights w (derived; see
    :func:`theory.orders.plackett_luce_probability`).
    """

    def __init__(self, weights: Sequence[float]):
        w = [float(v) for v in weights]
        if len(w) == 0 or not all(math.isfinite(v) and v > 0 for v in w):
            raise ValueError(f"power weights must be finite and > 0, got {weights!r}")
        self.weights = w
        super().__init__([PolynomialSchedule(exponent=v) for v in w])

    def describe(self) -> dict:
        return {**super().describe(), "weights": list(self.weights), "alpha_l(t)": "1 - t^w_l"}


# ---- time grids and conventions -----------------------------------------------------------------------
def time_grid(steps: int, t_min: float = 0.0) -> torch.Tensor:
    """``K+1`` float64 times ``linspace(1, t_min, K+1)``; the last point is exactly ``t_min``."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0.0 <= t_min < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
    grid = torch.linspace(1.0, t_min, int(steps) + 1, dtype=torch.float64)
    grid[0], grid[-1] = 1.0, t_min
    return grid


def to_flow_matching_time(t):
    """Convert MDLM time t (1 = masked) to flow-matching time s = 1 - t (0 = source/masked)."""
    return 1 - t


def mdlm_to_ep_time(t):
    """MDLM time t (1 = all masked) -> energy-paper time s = 1 - t (0 = all masked)."""
    return 1 - t


def ep_to_mdlm_time(s):
    """Energy-paper time s (0 = all masked) -> MDLM time t = 1 - s (1 = all masked)."""
    return 1 - s


def convert_time(value, source: str, target: str):
    """Convert a time between the conventions of :data:`TIME_CONVENTIONS` (``"mdlm"``, ``"ep"``)."""
    for c in (source, target):
        if c not in TIME_CONVENTIONS:
            raise ValueError(f"unknown time convention {c!r}; use one of {sorted(TIME_CONVENTIONS)}")
    return value if source == target else 1 - value
