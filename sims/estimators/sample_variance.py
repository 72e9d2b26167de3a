r"""Exact sampling law of a Monte Carlo *measurement* of the training-loss variance.

Quantity (per-token units, nats/token): :math:`\sigma^2 = \mathrm{Var}(\ell)`, the variance of ONE
per-example estimate of the t-form training estimator (Jia et al., arXiv 2511.18159, Sec. 3, the law of
total variance :math:`\sigma^2 = A + B + C` of :mod:`sims.estimators.decomposition`), with

.. math::
    \ell = \frac{w(u)}{L\,\pi(u)} \cdot \frac{S}{R},\qquad \pi(u) = \varepsilon + (1-\varepsilon)u,

:math:`w = 1/p(u)` the P-POTS importance weight (Sec. 4.1; ``w = 1`` for uniform u), and S the summed
raw loss of the R masked rows of one example: ``single`` :math:`S = c(x,m)` (R = 1); ``mirror``
(Sec. 4.2) :math:`S = c(x,m_1) + c(x,m_2)`, complementary pair from shared uniforms, so the pair is
ONE example averaged, never two samples (R = 2); ``pair`` two independent masks (R = 2).

A measurement draws n i.i.d. examples and reports the unbiased sample variance :math:`s^2_n`. For
i.i.d. draws (e.g. Cramér 1946, Sec. 27.4)

.. math::
    E[s^2_n] = \sigma^2,\qquad
    \mathrm{Var}(s^2_n) = \frac{\mu_4}{n} - \frac{\sigma^4 (n-3)}{n(n-1)},

with :math:`\mu_4` the fourth central moment of :math:`\ell`. Why this matters: near the floor,
:math:`P(m \neq \emptyset \mid u) \approx L\pi` and :math:`\ell \approx c_1/(L\pi)`, so
:math:`E[\ell^2] \sim \int du/\pi = O(\log 1/\varepsilon)` but :math:`E[\ell^4] \sim \int du/\pi^3 =
O(1/\varepsilon^2)`. A sample of :math:`n \ll 1/(L\varepsilon^2)` examples almost never contains the
rare small-rate draws that carry :math:`\mu_4`; its plug-in standard error (sample fourth moment) is
then far too small and low together with :math:`s^2_n` (which is unbiased but right-skewed: its median
lies well below :math:`\sigma^2`). The exact :math:`\mathrm{Var}(s^2_n)` here is the valid yardstick.

Computation: raw moments :math:`E[\ell^j]`, j = 1..4, exactly from the loss table :math:`c(x,m)`
(:mod:`sims.estimators.loss_table`): given (x, u) the mask law is a polynomial in :math:`\pi` per mask
size (single), per MIRROR joint state (:func:`sims.estimators.moments.mirror_joint_states`, 3^L states),
or a binomial convolution of two single masks (pair); the u-integral uses the composite Gauss-Legendre
rule of :mod:`sims.estimators.quadrature` (panels geometric in :math:`\pi`, resolving :math:`\pi^{-3}`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from sims.estimators.loss_table import MaskLossTable, mask_matrix
from sims.estimators.moments import mirror_joint_states
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import MASK_SCHEMES, ROWS_PER_EXAMPLE, MaskScheme, check_eps, mask_probability
from sims.estimators.time_samplers import TimeSampler, UniformTime
from sims.validation import InvalidArgumentError, check_positive_int

ORDERS = 4


@dataclass
class SampleVarianceLaw:
    """Exact mean, variance and fourth central moment of one example's estimate, and the exact standard
    error ``se`` of the unbiased sample variance of ``num_examples`` i.i.d. examples (see module)."""

    estimator: str
    num_examples: int
    mean: float
    variance: float
    fourth_central: float
    se: float
    rows_per_example: int
    conventions: dict = field(default_factory=dict)

    @property
    def kurtosis(self) -> float:
        return self.fourth_central / self.variance**2

    def z(self, measured: float) -> float:
        """``(measured - variance) / se``: a measured sample variance in units of its exact SE."""
        return (measured - self.variance) / self.se

    def to_dict(self) -> dict:
        return {**asdict(self), "kurtosis": self.kurtosis}


def _single_powers(loss: np.ndarray, pi: np.ndarray) -> list[np.ndarray]:
    """``[E[c^j | x, pi] for j = 0..4]``, each ``(N, Q)``: binomial mask law per mask size."""
    L = loss.shape[1].bit_length() - 1
    size = mask_matrix(L).sum(1).numpy()
    k = np.arange(L + 1)
    law = pi[None, :] ** k[:, None] * (1 - pi[None, :]) ** (L - k[:, None])  # (L+1, Q) one mask of size k
    onehot = (size[:, None] == k[None, :]).astype(np.float64)  # (2^L, L+1)
    return [(loss**j @ onehot) @ law for j in range(ORDERS + 1)]


def _mirror_powers(loss: np.ndarray, pi: np.ndarray) -> list[np.ndarray]:
    """``[E[S^j | x, pi]]`` with S = c(m1) + c(m2) of a MIRROR pair (joint-state enumeration)."""
    L = loss.shape[1].bit_length() - 1
    st = mirror_joint_states(L)
    n0 = st["n0"]
    low = np.where(
        pi[None, :] <= 0.5,
        pi[None, :] ** (L - n0[:, None]) * np.clip(1 - 2 * pi, 0, None) ** n0[:, None],
        0.0,
    )
    high = np.where(pi[None, :] > 0.5, np.clip(2 * pi - 1, 0, None) ** n0[:, None] * (1 - pi[None, :]) ** (L - n0[:, None]), 0.0)  # fmt: skip
    s_low = loss[:, st["low1"]] + loss[:, st["low2"]]
    s_high = loss[:, st["high1"]] + loss[:, st["high2"]]
    return [s_low**j @ low + s_high**j @ high for j in range(ORDERS + 1)]


def _pair_powers(loss: np.ndarray, pi: np.ndarray) -> list[np.ndarray]:
    """``[E[S^j | x, pi]]`` with S = c(m1) + c(m2) of two independent masks (binomial convolution)."""
    e = _single_powers(loss, pi)
    return [sum(math.comb(j, a) * e[a] * e[j - a] for a in range(j + 1)) for j in range(ORDERS + 1)]


def conditional_sum_powers(loss: np.ndarray, pi: np.ndarray, masks: MaskScheme) -> list[np.ndarray]:
    r"""``[E[S^j | x, pi] for j = 0..4]``, each ``(N, Q)``, for the raw-loss table ``loss`` ``(N, 2**L)``
    at mask probabilities ``pi`` ``(Q,)`` (S: summed raw loss of the example's rows, module docstring)."""
    if masks not in MASK_SCHEMES:
        raise InvalidArgumentError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
    fn = {"single": _single_powers, "mirror": _mirror_powers, "pair": _pair_powers}[masks]
    return fn(np.asarray(loss, dtype=np.float64), np.atleast_1d(np.asarray(pi, dtype=np.float64)))


def sample_variance_law(
    table: MaskLossTable,
    eps: float,
    sampler: TimeSampler | None = None,
    masks: MaskScheme = "single",
    num_examples: int = 128,
    nodes_per_panel: int = 16,
) -> SampleVarianceLaw:
    r"""Exact law of the n-example sample variance of :math:`\ell` (module docstring) on ``table``."""
    eps = check_eps(eps)
    n = check_positive_int(num_examples, "num_examples")
    if n < 2:
        raise InvalidArgumentError(f"num_examples must be >= 2 for a sample variance, got {n}")
    if masks not in MASK_SCHEMES:
        raise InvalidArgumentError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
    sampler = sampler or UniformTime()
    u, qw = quadrature_nodes(eps, sampler.lo, sampler.hi, sampler.breakpoints, nodes_per_panel)
    pi = mask_probability(u, eps)
    loss = table.loss.double().cpu().numpy()
    prob = table.prob.double().cpu().numpy()
    powers = conditional_sum_powers(loss, pi, masks)
    R = ROWS_PER_EXAMPLE[masks]
    scale = sampler.weight(u) / (table.length * pi * R)  # ell = scale(u) * S
    meas = qw * sampler.density(u)
    raw = [float(prob @ (powers[j] @ (scale**j * meas))) for j in range(ORDERS + 1)]
    m1, m2, m3, m4 = (raw[j] / raw[0] for j in range(1, 5))
    var = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    var_s2 = mu4 / n - var**2 * (n - 3) / (n * (n - 1))
    conv = {
        "quantity": "variance of one per-example estimate (A + B + C); se: exact s.d. of its n-example "
        "unbiased sample variance",
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "weight": "w(u) S / (L pi(u) R)",
        "sampler": sampler.describe(),
        "masks": masks,
        "normalisation": "per token (divide by L)",
    }
    return SampleVarianceLaw(
        f"t-form[{sampler.name}, {masks}]", n, m1, var, mu4, math.sqrt(max(var_s2, 0.0)), R, conv
    )
