r"""Sign map of the MIRROR covariance :math:`\mathrm{Cov}(\ell_1, \ell_2 \mid x, u)` on a grid of rates.

Source: Jia et al., arXiv 2511.18159, Sec. 4.2 (MIRROR).

Given (x, u) a MIRROR pair has :math:`\mathrm{Var}((\ell_1+\ell_2)/2 \mid x,u) = (v + \mathrm{Cov}_{12})/2`
against v/2 for two independent masks (:mod:`sims.estimators.rates`), so it beats them where the two
losses are negatively correlated. That is not guaranteed pointwise; this module computes the exact
covariance on a grid of rates and the q-weighted fraction of (x, u) cells where it is positive.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sims.estimators.moments import MaskSizeMoments
from sims.estimators.rates import rate_moments


@dataclass
class MirrorCovarianceMap:
    """Sign map of :math:`\\mathrm{Cov}(\\ell_1, \\ell_2 \\mid x, u)` for MIRROR pairs on a u-grid."""

    u: np.ndarray
    cov: np.ndarray  # (N, T)
    corr: np.ndarray  # (N, T); nan where the single-mask variance is 0
    fraction_positive: float  # q-weighted over x, uniform over the u cells
    fraction_positive_by_bin: dict

    def to_dict(self) -> dict:
        return {
            "fraction_positive": self.fraction_positive,
            "fraction_positive_by_bin": self.fraction_positive_by_bin,
            "num_u_cells": int(self.u.size),
        }


def mirror_covariance_map(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    num_cells: int = 400,
    bins: Sequence[float] = (0.0, 0.1, 0.5, 0.9, 1.0),
    rel_tol: float = 1e-12,
) -> MirrorCovarianceMap:
    r"""Exact :math:`\mathrm{Cov}(\ell_1,\ell_2 \mid x,u)` at the midpoints of ``num_cells`` u-cells.

    A cell counts as positively correlated when the covariance exceeds ``rel_tol`` times the
    single-mask variance (so exact zeros from rounding are not counted). The fraction is weighted by
    q(x) and uniform in u; ``fraction_positive_by_bin`` restricts u to each bin.
    """
    u = (np.arange(num_cells) + 0.5) / num_cells
    rm = rate_moments(moments, eps, u, mirror=True)
    v = rm.m2 - rm.g**2
    cov = rm.cross - rm.g**2
    pos = cov > rel_tol * np.maximum(v, 0) + 1e-300
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(v > 0, cov / v, np.nan)
    frac = float(moments.prob @ pos.mean(1))
    by_bin = {}
    for a, b in itertools.pairwise(bins):
        sel = (u >= a) & (u < b)
        if sel.any():
            by_bin[f"[{a:g},{b:g})"] = float(moments.prob @ pos[:, sel].mean(1))
    return MirrorCovarianceMap(u, cov, corr, frac, by_bin)
