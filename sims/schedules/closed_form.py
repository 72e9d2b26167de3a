r"""Closed-form masking schedules: linear, cosine (MD4/MaskGIT), cosine (MDLM), polynomial, sin^2 and the
energy paper's Beta-CDF family. Formulas and sources: :mod:`sims.schedules.base`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.special as sps
import sympy
import torch

from sims.schedules.base import Schedule, check_unit_interval, same_kind, sin_any
from sims.validation import check_real


@dataclass
class LinearSchedule(Schedule):
    name: str = "linear"
    formula: str = "1 - t"

    def masked_fraction(self, t):
        return t

    def time_of_masked_fraction(self, m):
        return torch.as_tensor(m, dtype=torch.float64)

    def masked_fraction_derivative(self, t):
        return same_kind(np.ones_like(check_unit_interval(t)), t)

    def sympy_masked_fraction(self, t):
        return t


@dataclass
class CosineSchedule(Schedule):
    """MD4/MaskGIT cosine: masked fraction sin(pi t / 2)."""

    name: str = "cosine"
    formula: str = "1 - sin(pi t / 2)"

    def masked_fraction(self, t):
        return sin_any(math.pi * t / 2 if not isinstance(t, torch.Tensor) else torch.pi * t / 2)

    def time_of_masked_fraction(self, m):
        return 2 / torch.pi * torch.arcsin(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1))

    def masked_fraction_derivative(self, t):
        return same_kind(np.pi / 2 * np.cos(np.pi * check_unit_interval(t) / 2), t)

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
        return 2 * sin_any(x) ** 2

    def time_of_masked_fraction(self, m):
        return (
            4 / torch.pi * torch.arcsin(torch.sqrt(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1) / 2))
        )

    def masked_fraction_derivative(self, t):
        return same_kind(np.pi / 2 * np.sin(np.pi * check_unit_interval(t) / 2), t)

    def sympy_masked_fraction(self, t):
        return 1 - sympy.cos(sympy.pi * t / 2)


@dataclass
class PolynomialSchedule(Schedule):
    """alpha = 1 - t^k (MD4 ``poly<k>``); k = 1 is linear."""

    exponent: float = 2.0
    name: str = "poly"
    formula: str = "1 - t^k"

    def __post_init__(self):
        # finite: t**inf is 0 on [0, 1), which reveals every token in the first step
        check_real(self.exponent, "exponent", minimum=0.0, open_min=True)
        self.formula = f"1 - t^{self.exponent:g}"

    def masked_fraction(self, t):
        return t**self.exponent

    def time_of_masked_fraction(self, m):
        return torch.as_tensor(m, dtype=torch.float64).clamp(0, 1) ** (1.0 / self.exponent)

    def masked_fraction_derivative(self, t):
        arr = check_unit_interval(t)
        k = self.exponent
        with np.errstate(divide="ignore"):
            d = k * np.power(arr, k - 1.0) if k != 1 else np.ones_like(arr)
        return same_kind(d, t)

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
        return sin_any(x) ** 2

    def alpha(self, t):
        x = math.pi * (1 - t) / 2 if not isinstance(t, torch.Tensor) else torch.pi * (1 - t) / 2
        return sin_any(x) ** 2

    def time_of_masked_fraction(self, m):
        return 2 / torch.pi * torch.arcsin(torch.sqrt(torch.as_tensor(m, dtype=torch.float64).clamp(0, 1)))

    def masked_fraction_derivative(self, t):
        return same_kind(np.pi / 2 * np.sin(np.pi * check_unit_interval(t)), t)

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
            check_real(v, f"Beta parameter {name}", minimum=0.0, open_min=True)
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
        return same_kind(sps.betainc(self.a, self.b, check_unit_interval(s, "s")), s)

    def gamma_ep_derivative(self, s):
        r""":math:`\dot\gamma_s` = Beta(a, b) density."""
        arr = check_unit_interval(s, "s")
        with np.errstate(divide="ignore"):
            logpdf = (self.a - 1) * np.log(arr) + (self.b - 1) * np.log1p(-arr) - sps.betaln(self.a, self.b)
        return same_kind(np.exp(logpdf), s)

    def masked_fraction(self, t):
        arr = check_unit_interval(t)
        return same_kind(np.sin(np.pi / 2 * sps.betainc(self.b, self.a, arr)) ** 2, t)

    def alpha(self, t):
        arr = check_unit_interval(t)
        return same_kind(np.sin(np.pi / 2 * sps.betainc(self.a, self.b, 1.0 - arr)) ** 2, t)

    def masked_fraction_derivative(self, t):
        arr = check_unit_interval(t)
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
        return same_kind(d, t)

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
