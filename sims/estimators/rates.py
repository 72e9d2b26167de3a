r"""Exact conditional moments of the per-token t-form loss given the rate u, for each mask scheme.

Rate and floor (LLaDA ``p_mask = (1-eps) t + eps``; MDLM ``t = (1-eps) u + eps``, the same thing): the
rate variable :math:`u \in [0,1]` sets the mask probability :math:`\pi(u) = \varepsilon + (1-\varepsilon) u`
and each position is masked independently with probability :math:`\pi`. The mask size is then
:math:`\mathrm{Bin}(L,\pi)`, so the moments of the per-token loss :math:`c(x,m)/(L\pi)` given (x, u),
:math:`g(x,u) = E[\cdot \mid x,u]` and :math:`E[\cdot^2 \mid x,u]`, are binomial mixtures of
:math:`\mu_k(x)` and :math:`s_k(x)` (:mod:`sims.estimators.moments`).

Mask schemes (network rows per example in brackets): ``"single"`` one Bernoulli mask (1); ``"pair"``
two independent masks, losses averaged (2); ``"mirror"`` (Jia et al., arXiv 2511.18159, Sec. 4.2) one
uniform :math:`U_i` per position, :math:`m_1 = \{U_i < \pi\}`, :math:`m_2 = \{U_i > 1-\pi\}`, loss
:math:`(\ell_1+\ell_2)/2` (2). Grouping the :math:`3^L` joint states by the number n0 of
"neither"/"both" positions gives exact polynomials in :math:`\pi` for :math:`E[c(m_1)c(m_2)]`. Then
:math:`\mathrm{Var}((\ell_1+\ell_2)/2 \mid x,u) = (v + \mathrm{Cov}_{12})/2`, versus v/2 for two
independent masks (``masks="pair"``), with :math:`v(x,u) = \mathrm{Var}(\ell \mid x,u)` for one mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from sims.estimators.moments import MAX_MIRROR_LENGTH, MaskSizeMoments
from sims.validation import InvalidArgumentError

MaskScheme = Literal["single", "mirror", "pair"]
MASK_SCHEMES = ("single", "mirror", "pair")
#: Network rows (forward passes) one example costs under each mask scheme.
ROWS_PER_EXAMPLE = {"single": 1, "mirror": 2, "pair": 2}


def mask_probability(u, eps: float):
    r""":math:`\pi(u) = \varepsilon + (1-\varepsilon) u` (LLaDA/StableDLLM ``p_mask``)."""
    return eps + (1.0 - eps) * np.asarray(u, dtype=np.float64)


def check_eps(eps: float, allow_zero: bool = False) -> float:
    eps = float(eps)
    lo_ok = eps >= 0 if allow_zero else eps > 0
    if not (lo_ok and eps < 1 and math.isfinite(eps)):
        raise InvalidArgumentError(f"eps must lie in {'[0' if allow_zero else '(0'}, 1), got {eps}")
    return eps


@dataclass
class RateMoments:
    r"""Conditional moments of the single-mask per-token loss :math:`c/(L\pi)` at rates ``u``.

    ``g``, ``m2``: ``(N, Q)`` :math:`E[\cdot \mid x,u]` and :math:`E[\cdot^2 \mid x,u]`; ``cross``:
    ``(N, Q)`` :math:`E[\ell_1\ell_2 \mid x,u]` for a MIRROR pair (None if not requested).
    """

    u: np.ndarray
    pi: np.ndarray
    g: np.ndarray
    m2: np.ndarray
    cross: np.ndarray | None


def rate_moments(moments: MaskSizeMoments, eps: float, u, mirror: bool = False) -> RateMoments:
    """Exact conditional moments at the rates ``u`` (binomial mixture over mask sizes)."""
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    pi = mask_probability(u, eps)
    if np.any(pi <= 0):
        raise InvalidArgumentError("mask probability must be > 0 at every rate (use eps > 0 or u > 0)")
    L = moments.length
    k = np.arange(L + 1)
    binom = stats.binom.pmf(k[None, :], L, pi[:, None])  # (Q, L+1)
    scale = 1.0 / (L * pi)
    g = (moments.mean @ binom.T) * scale
    m2 = (moments.second @ binom.T) * scale**2
    cross = None
    if mirror:
        if moments.mirror_low is None:
            raise InvalidArgumentError(
                f"MIRROR moments were not computed (mask_size_moments(mirror=True), L <= {MAX_MIRROR_LENGTH})"
            )
        n0 = k[None, :]
        lowp = np.where(
            pi[:, None] <= 0.5, pi[:, None] ** (L - n0) * np.clip(1 - 2 * pi[:, None], 0, None) ** n0, 0.0
        )
        highp = np.where(
            pi[:, None] > 0.5,
            np.clip(2 * pi[:, None] - 1, 0, None) ** n0 * (1 - pi[:, None]) ** (L - n0),
            0.0,
        )
        cross = (moments.mirror_low @ lowp.T + moments.mirror_high @ highp.T) * scale**2
    return RateMoments(u, pi, g, m2, cross)


def conditional_variance(rm: RateMoments, masks: MaskScheme) -> np.ndarray:
    """``(N, Q)`` variance of the per-example estimator (before the importance weight) given (x, u)."""
    v = rm.m2 - rm.g**2
    if masks == "single":
        return v
    if masks == "pair":
        return v / 2
    if masks == "mirror":
        return (v + (rm.cross - rm.g**2)) / 2
    raise InvalidArgumentError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
