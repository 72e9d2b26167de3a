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

import numpy as np
import sympy
import torch

from sims.validation import (
    SCHEDULE_ATOL,
    InvalidArgumentError,
    InvalidTypeError,
    check_int,
    check_masked_fractions,
    check_real,
    check_time_grid,
)

#: The two time conventions, by name (see the module docstring).
TIME_CONVENTIONS = {
    "mdlm": "t=1 all masked -> t=0 clean; alpha(t) = P(revealed) decreasing (MDLM, MD4, LLaDA, Garg et al.)",
    "ep": "s=0 all masked -> s=1 clean; alpha(s) = P(revealed) increasing (energy paper, flow matching)",
}


# ---- array helpers: every schedule accepts floats, numpy arrays and torch tensors ----------------------
def as_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def same_kind(values: np.ndarray, t):
    """Return ``values`` in the type of ``t`` (float -> float, ndarray -> ndarray, tensor -> float64 tensor)."""
    if isinstance(t, torch.Tensor):
        if isinstance(values, np.ndarray) and not values.flags.writeable:
            values = values.copy()  # e.g. a broadcast view; torch warns about non-writable arrays
        return torch.as_tensor(values, dtype=torch.float64, device=t.device)
    if isinstance(t, np.ndarray):
        return np.asarray(values, dtype=np.float64)
    return float(values)


def sin_any(x):
    return (
        torch.sin(x)
        if isinstance(x, torch.Tensor)
        else (np.sin(x) if isinstance(x, np.ndarray) else math.sin(x))
    )


def check_unit_interval(t, name: str = "t") -> np.ndarray:
    """``t`` (float, array or tensor of times) as a float64 array; every entry finite and in [0, 1]."""
    if isinstance(t, (bool, np.bool_, str, bytes)) or t is None:
        raise InvalidTypeError(f"{name} must be a time or an array of times in [0, 1], got {t!r:.80}")
    try:
        arr = as_numpy(t)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"{name}: cannot read {t!r:.80} as times ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{name} must be finite, got {t!r}")
    if np.any(arr < 0.0) or np.any(arr > 1.0):
        raise InvalidArgumentError(f"{name} must lie in [0, 1], got values in [{arr.min()}, {arr.max()}]")
    return arr


#: Step of the central difference used by :meth:`Schedule.masked_fraction_derivative` when a schedule has
#: no closed form (error ~ h^2 |m'''| plus ~1e-16/h rounding: about 1e-10 for smooth schedules).
FD_STEP = 1e-6


#: Methods every schedule inherits and may not override: they are the points where the values a sampler
#: uses are checked (see :meth:`Schedule.unmask_probability`), so no subclass can skip the check.
CHECKED_METHODS = ("unmask_probability", "step_weights")


class Schedule:
    """Base class: subclasses define :meth:`masked_fraction` m(t) (and optionally its inverse).

    :meth:`unmask_probability` and :meth:`step_weights` (what samplers call) check m at exactly the times
    they use (finite, in [0, 1], monotone, m(1) = 1, m(0) = 0) and cannot be overridden; an overridden
    :meth:`time_of_masked_fraction` is wrapped so that its output is checked (finite, in [0, 1]).
    """

    name: str = "schedule"
    formula: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for meth in CHECKED_METHODS:
            if meth in cls.__dict__:
                raise InvalidTypeError(
                    f"{cls.__name__} overrides Schedule.{meth}, which checks the schedule at the times a "
                    "sampler uses; define masked_fraction (and optionally alpha / time_of_masked_fraction)"
                )
        if "time_of_masked_fraction" in cls.__dict__:
            cls.time_of_masked_fraction = _checked_inverse(cls.__dict__["time_of_masked_fraction"])

    def label(self) -> str:
        """How errors name this schedule."""
        return f"schedule {getattr(self, 'name', type(self).__name__)!r} ({type(self).__name__})"

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
        r"""Probability that a still-masked token is revealed between t and s < t: (m(t) - m(s)) / m(t).

        Checks, at exactly these two times: ``0 <= s <= t <= 1``, m(t) and m(s) finite in [0, 1],
        ``m(s) <= m(t)``, m(1) = 1 and m(0) = 0 (each within :data:`~sims.validation.SCHEDULE_ATOL`, the
        rounding the final clamp removes). A schedule that breaks one raises instead of being clamped into
        a silently different sampler."""
        tf = check_real(t, "t", minimum=0.0, maximum=1.0)
        sf = check_real(s, "s", minimum=0.0, maximum=1.0)
        if sf > tf:
            raise InvalidArgumentError(
                f"unmask_probability(t, s) needs s <= t (time runs 1 -> 0), got t={tf}, s={sf}"
            )
        mt, ms = float(self.masked_fraction(t)), float(self.masked_fraction(s))
        check_masked_fractions([mt, ms], [tf, sf], self.label())
        if mt <= 0:
            return 1.0
        return min(1.0, max(0.0, (mt - ms) / mt))

    def step_weights(self, grid: torch.Tensor) -> torch.Tensor:
        """``w_k = m(t_{k-1}) - m(t_k)`` for k = 1..K: law of the step at which a token is revealed.

        The grid must decrease strictly in [0, 1]; m is checked at every grid point as in
        :meth:`unmask_probability`."""
        times = check_time_grid(grid)
        m = torch.as_tensor(self.masked_fraction(grid), dtype=torch.float64)
        check_masked_fractions(m, times, self.label())
        return m[:-1] - m[1:]

    def describe(self) -> dict:
        return {"name": self.name, "alpha(t)": self.formula, "time": "t=1 all masked -> t=0 clean"}

    # ---- derivatives and the ELBO weight ------------------------------------------------------------
    def masked_fraction_derivative(self, t):
        """m'(t) = -alpha'(t) (density of the masking time). Closed form in subclasses; the base class
        uses a central difference of step :data:`FD_STEP` (one-sided at the ends of [0, 1])."""
        arr = check_unit_interval(t)
        h = FD_STEP
        lo, hi = np.clip(arr - h, 0.0, 1.0), np.clip(arr + h, 0.0, 1.0)
        d = (as_numpy(self.masked_fraction(hi)) - as_numpy(self.masked_fraction(lo))) / (hi - lo)
        return same_kind(d, t)

    def alpha_derivative(self, t):
        """alpha'(t) = -m'(t) (<= 0 in the mdlm convention)."""
        return -self.masked_fraction_derivative(t)

    def elbo_weight(self, t):
        r"""ELBO weight :math:`m'(t)/m(t) = -\alpha'(t)/(1-\alpha(t))` (MDLM Eq. 10, MD4; 1/t for linear)."""
        m = as_numpy(self.masked_fraction(t))
        dm = as_numpy(self.masked_fraction_derivative(t))
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(m > 0, dm / np.where(m > 0, m, 1.0), np.inf)
        return same_kind(w, t)

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


class MultivariateSchedule:
    """Base of schedules that give one alpha per position (:mod:`sims.schedules.per_position`).

    They are not a :class:`Schedule`: samplers and univariate functions need a single law, and
    :func:`sims.schedules.get_schedule` rejects them with a clear error.
    """


def _checked_inverse(fn):
    """Wrap a subclass's ``time_of_masked_fraction`` so that its times are checked (finite, in [0, 1] up to
    :data:`~sims.validation.SCHEDULE_ATOL`: e.g. ``cosine_mdlm`` gives 1.0000000000000002 at m = 1)."""

    def time_of_masked_fraction(self, m):
        out = fn(self, m)
        arr = as_numpy(out)
        if not np.all(np.isfinite(arr)) or np.any(arr < -SCHEDULE_ATOL) or np.any(arr > 1.0 + SCHEDULE_ATOL):
            raise InvalidArgumentError(
                f"{self.label()}: time_of_masked_fraction returned times outside [0, 1] or non-finite "
                f"({arr.ravel()[:8].tolist()}...)"
            )
        return out

    time_of_masked_fraction.__doc__ = fn.__doc__
    time_of_masked_fraction.__wrapped__ = fn
    return time_of_masked_fraction


# ---- time grids and conventions -----------------------------------------------------------------------
def time_grid(steps: int, t_min: float = 0.0) -> torch.Tensor:
    """``K+1`` float64 times ``linspace(1, t_min, K+1)``; the last point is exactly ``t_min``."""
    check_int(steps, "steps", minimum=1)
    check_real(t_min, "t_min", minimum=0.0, maximum=1.0, open_max=True)
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
        if not isinstance(c, str) or c not in TIME_CONVENTIONS:
            raise InvalidArgumentError(
                f"unknown time convention {c!r}; use one of {sorted(TIME_CONVENTIONS)}"
            )
    return value if source == target else 1 - value
