r"""The bin-wise EMA control variate of the released code, exactly: loss-value variance and gradient.

Source: Jia et al., arXiv 2511.18159 (extraction: "reduces B by maintaining an exponential moving average
of losses within bins of t"; :math:`\ell^{\rm adj} = \ell - c_j \tilde b_j`,
:math:`c_j = (M_{LH} - \mu_L\mu_H)/(M_{HH} - \mu_H^2 + \epsilon)`); released code StableDLLM
``LLaDA-04/train_and_infer.py`` (commit 13ac449, ``ema_control_variate_optimal_c``): bins
``round(t (m - 1))`` (so the two end bins are half as wide), H = the bin's current EMA baseline, c = 1 by
default, the baseline updated after use under ``no_grad`` with rate :math:`\eta`.

Exact facts (our derivation; the model is fixed, so the losses in a bin are i.i.d.):

* **Gradient.** :math:`\tilde b_j` and :math:`c_j` carry no gradient, so
  :math:`\nabla \mathrm{mean}(\ell - c\tilde b) = \nabla\mathrm{mean}(\ell)` exactly: the method changes the
  reported loss value and its variance, never the update (:func:`released_ema_gradient_gap`).
* **Ideal baseline** (:math:`\tilde b_j = b_j := E[\ell\mid j]`, c = 1):
  :math:`\mathrm{Var}(\ell - b_{j(u)}) = \mathrm{Var}(\ell) - \mathrm{Var}_j(b_j)`, and
  :math:`\mathrm{Var}_j(b_j) \le \mathrm{Var}_u(E_x g) \le B` (Jensen): it removes part of B, at most B.
* **Stationary EMA.** :math:`\tilde b_j` is a weighted sum of *earlier* losses of the bin, independent of
  the current one, with variance :math:`\frac{\eta}{2-\eta}\mathrm{Var}(\ell\mid j)`. So with c = 1 the
  variance is :math:`\mathrm{Var}(\ell) - \mathrm{Var}_j(b_j) + E_j\frac{\eta}{2-\eta}\mathrm{Var}(\ell\mid j)`,
  and the "optimal c" statistics estimate :math:`\mathrm{Cov}(\ell, \tilde b_j\mid j) = 0`: c_j tends to
  0, i.e. no control variate at all.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sims.estimators.decomposition import decompose_time_estimator
from sims.estimators.moments import MaskSizeMoments
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import check_eps, rate_moments
from sims.validation import check_positive_int


def released_bin_edges(num_bins: int) -> np.ndarray:
    """Edges in t of the bins ``round(t (m - 1))``: 0, 1/(2(m-1)), 3/(2(m-1)), ..., 1."""
    m = check_positive_int(num_bins, "num_bins", minimum=2)
    inner = (np.arange(m - 1) + 0.5) / (m - 1)
    return np.concatenate([[0.0], inner, [1.0]])


@dataclass
class ControlVariateVariance:
    """Per-example loss-value variance of the standard estimator with the bin-wise control variate."""

    num_bins: int
    eta: float
    total: float
    B: float
    between_bins: float
    ideal: float
    stationary_ema: float
    bin_means: list

    @property
    def ideal_reduction(self) -> float:
        return self.total / self.ideal

    def to_dict(self) -> dict:
        return {**asdict(self), "ideal_reduction": self.ideal_reduction}


def ema_control_variate(
    moments: MaskSizeMoments, eps: float = 1e-3, num_bins: int = 10, eta: float = 0.01
) -> ControlVariateVariance:
    """Exact variances of :math:`\\ell - \\tilde b_{j(u)}` (uniform u, one mask) with the released bins."""
    eps = check_eps(eps)
    edges = released_bin_edges(num_bins)
    base = decompose_time_estimator(moments, eps)
    means, within = [], []
    for a, b in itertools.pairwise(edges):
        u, w = quadrature_nodes(eps, a, b)
        rm = rate_moments(moments, eps, u)
        width = b - a
        mean_j = float(moments.prob @ (rm.g @ w)) / width
        second_j = float(moments.prob @ (rm.m2 @ w)) / width
        means.append((width, mean_j))
        within.append((width, second_j - mean_j**2))
    wts = np.array([m[0] for m in means])
    bj = np.array([m[1] for m in means])
    between = float(wts @ bj**2 - (wts @ bj) ** 2)
    noise = float(wts @ np.array([v[1] for v in within])) * eta / (2 - eta)
    return ControlVariateVariance(
        num_bins,
        eta,
        base.total,
        base.B,
        between,
        base.total - between,
        base.total - between + noise,
        bj.tolist(),
    )


def released_ema_gradient_gap(loss_fn, theta: torch.Tensor, bins: torch.Tensor, baseline, c) -> float:
    """Max |grad mean(l - c b) - grad mean(l)| for losses ``loss_fn(theta)`` ``(B,)`` with the released
    code's detached baseline ``baseline[bins]`` and coefficient ``c`` (0.0 exactly: they carry no gradient)."""
    th1 = theta.detach().clone().requires_grad_(True)
    th2 = theta.detach().clone().requires_grad_(True)
    b = torch.as_tensor(baseline, dtype=torch.float64)[bins]
    cc = torch.as_tensor(c, dtype=torch.float64)[bins]
    (g_adj,) = torch.autograd.grad((loss_fn(th1) - cc * b).mean(), th1)
    (g_raw,) = torch.autograd.grad(loss_fn(th2).mean(), th2)
    return float((g_adj - g_raw).abs().max())
