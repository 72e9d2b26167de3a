r"""Exact variance of stratified rates (StraTS; mdlm's low-discrepancy sampler) for batches of n examples.

Source: Jia et al., arXiv 2511.18159 (StraTS is discussed there; its formula could not be read, see
``docs/variance_and_training.md``); mdlm's antithetic time sampler. Our restatement, exact.

A batch of n uses one u per stratum :math:`[j/n, (j+1)/n)`, independent (``"independent"``) or
shifted copies of one uniform (``"systematic"``), with single Bernoulli masks and the uniform-rate
t-form estimator of :mod:`sims.estimators.decomposition`. The result is n times the variance of the
batch mean, i.e. the per-example equivalent of the i.i.d. total A + B + C.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from sims.estimators.decomposition import decompose_time_estimator
from sims.estimators.moments import MaskSizeMoments
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import check_eps, rate_moments
from sims.estimators.time_samplers import UniformTime
from sims.validation import InvalidArgumentError, check_positive_int


@dataclass
class StratifiedVariance:
    """Variance of a batch mean of n examples times n (per-example equivalent) under stratified u."""

    mode: str
    num_strata: int
    total: float
    iid_total: float
    A: float | None = None
    B: float | None = None
    C: float | None = None

    @property
    def reduction_factor(self) -> float:
        return self.iid_total / self.total

    def to_dict(self):
        return {**asdict(self), "reduction_factor": self.reduction_factor}


def stratified_time_variance(
    moments: MaskSizeMoments,
    eps: float,
    num_strata: int,
    mode: Literal["independent", "systematic"] = "independent",
    nodes_per_panel: int = 16,
) -> StratifiedVariance:
    r"""Exact ``n * Var(batch mean)`` for a batch of n = ``num_strata`` examples, single masks, uniform u.

    ``"independent"``: one uniform u per stratum :math:`[j/n,(j+1)/n)` (StraTS); per stratum the law of
    total variance gives :math:`A_j, B_j, C_j` and the batch value is their average (A equals the i.i.d.
    A). ``"systematic"``: :math:`u_j = (u_0 + j)/n` with one shared :math:`u_0` (mdlm's antithetic
    sampler); then :math:`n\mathrm{Var} = n\mathrm{Var}_{u_0}(\frac1n\sum_j \bar g(u_j)) +
    \frac1n\sum_j E_{u_0}[\bar M_2(u_j) - \bar g(u_j)^2]`.
    """
    eps = check_eps(eps)
    n = check_positive_int(num_strata, "num_strata")
    iid = decompose_time_estimator(moments, eps, UniformTime(), "single", nodes_per_panel).total
    if mode == "independent":
        As, Bs, Cs = [], [], []
        for j in range(n):
            u, w = quadrature_nodes(eps, j / n, (j + 1) / n, (), nodes_per_panel)
            rm = rate_moments(moments, eps, u)
            meas = w * n
            A = float(moments.prob @ ((rm.m2 - rm.g**2) @ meas))
            gx, gx2 = rm.g @ meas, rm.g**2 @ meas
            As.append(A)
            Bs.append(float(moments.prob @ (gx2 - gx**2)))
            mean = float(moments.prob @ gx)
            Cs.append(float(moments.prob @ (gx - mean) ** 2))
        A, B, C = float(np.mean(As)), float(np.mean(Bs)), float(np.mean(Cs))
        return StratifiedVariance(mode, n, A + B + C, iid, A, B, C)
    if mode == "systematic":
        u0, w0 = quadrature_nodes(eps * n, 0.0, 1.0, (), nodes_per_panel)
        gbar = np.zeros_like(u0)
        within = np.zeros_like(u0)
        for j in range(n):
            rm = rate_moments(moments, eps, (u0 + j) / n)
            gb = moments.prob @ rm.g
            gbar += gb / n
            within += (moments.prob @ rm.m2 - gb**2) / n
        mean = float(w0 @ gbar)
        total = n * (float(w0 @ gbar**2) - mean**2) + float(w0 @ within)
        return StratifiedVariance(mode, n, total, iid)
    raise InvalidArgumentError(f"mode must be 'independent' or 'systematic', got {mode!r}")


@dataclass
class StratifiedMeanCheck:
    r"""StraTS for one x (averaged over x): the variance of the mean of n = k r rates, r per stratum.

    ``sigma_t2`` :math:`= E_x\mathrm{Var}(\ell\mid x)` (rate and mask), ``sigma_b2`` the between-strata
    variance of the stratum means (equal weights), ``exact`` :math:`= (\sigma_t^2 - \sigma_b^2)/n`,
    ``extraction`` the extraction's :math:`\sigma_t^2/n - \sigma_b^2/k` (equal iff r = 1).
    """

    strata: int
    per_stratum: int
    sigma_t2: float
    sigma_b2: float
    exact: float
    extraction: float

    def to_dict(self):
        return asdict(self)


def strats_mean_variance(
    moments: MaskSizeMoments, eps: float, strata: int, per_stratum: int = 1
) -> StratifiedMeanCheck:
    r"""Exact :math:`E_x\mathrm{Var}(\hat\mu\mid x)` for StraTS with k = ``strata`` equal strata and r =
    ``per_stratum`` uniform rates in each (Jia et al., Sec. 4.5 per the extraction; the released
    ``LLaDA-04`` code uses k = floor(sqrt(global batch)) strata and about sqrt(global batch) rates per
    stratum, i.e. r > 1)."""
    eps = check_eps(eps)
    k = check_positive_int(strata, "strata")
    r = check_positive_int(per_stratum, "per_stratum")
    means, seconds = [], []
    for j in range(k):
        u, w = quadrature_nodes(eps, j / k, (j + 1) / k)
        rm = rate_moments(moments, eps, u)
        means.append((rm.g @ w) * k)  # (N,)
        seconds.append((rm.m2 @ w) * k)
    m, s = np.array(means), np.array(seconds)  # (k, N)
    total_mean, total_second = m.mean(0), s.mean(0)
    sigma_t2 = float(moments.prob @ (total_second - total_mean**2))
    sigma_b2 = float(moments.prob @ ((m**2).mean(0) - m.mean(0) ** 2))
    n = k * r
    within = float(moments.prob @ (s - m**2).mean(0))
    return StratifiedMeanCheck(k, r, sigma_t2, sigma_b2, within / n, sigma_t2 / n - sigma_b2 / k)
