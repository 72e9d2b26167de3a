r"""Exact A/B/C decomposition of the *gradient* variance of the training estimators (trace of covariance).

Source: Jia et al., arXiv 2511.18159, Sec. 3 decompose the *loss* variance; a reviewer asked for the
gradient variance (research notes ``variance_and_anyprocess.md`` §1.1). Our restatement: the per-example
gradient of the t-form estimator is :math:`\nabla\ell = w(u)\,G(x,m)/(L\pi(u))` with
:math:`G(x,m) = \nabla_\theta c_\theta(x,m)`, and the law of total variance applies to
:math:`\mathrm{tr}\,\mathrm{Cov}` coordinate by coordinate:

.. math::
    \mathrm{tr}\,\mathrm{Cov}(\nabla\ell) = \underbrace{E_{x,u}\,\mathrm{tr}\,\mathrm{Cov}(\nabla\ell\mid x,u)}_{A}
    + \underbrace{E_x\,\mathrm{tr}\,\mathrm{Cov}_u(E[\nabla\ell\mid x,u])}_{B}
    + \underbrace{\mathrm{tr}\,\mathrm{Cov}_x(E[\nabla\ell\mid x])}_{C}.

Sufficient statistics per x and mask size k: the mean gradient :math:`\mu_k(x)\in\mathbb R^P`, its Gram
matrix :math:`\Gamma_x[k,j] = \mu_k(x)\cdot\mu_j(x)`, the mean squared norm
:math:`s_k(x) = \mathrm{mean}_{|m|=k}\lVert G\rVert^2` and, for MIRROR, the grouped sums of
:math:`G(m_1)\cdot G(m_2)` (the scalar case of :mod:`sims.estimators.moments` with products replaced by
dot products). With :math:`b_k(u) = \mathrm{Bin}(k;L,\pi)/(L\pi)`,
:math:`\lVert E[\nabla\ell\mid x,u]\rVert^2 = w^2 b^\top\Gamma_x b`. For P = 1 everything reduces to the
scalar decomposition of :mod:`sims.estimators.decomposition` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from sims.estimators.decomposition import VarianceDecomposition
from sims.estimators.loss_table import mask_matrix
from sims.estimators.moments import MAX_MIRROR_LENGTH, MaskSizeMoments, mirror_joint_states
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import MASK_SCHEMES, ROWS_PER_EXAMPLE, MaskScheme, check_eps, rate_moments
from sims.estimators.time_samplers import DensityTime, TimeSampler, UniformTime
from sims.validation import InvalidArgumentError


@dataclass
class GradientMoments:
    """Per-size gradient statistics (see the module docstring); ``mean`` is ``(N, L+1, P)``."""

    prob: np.ndarray
    mean: np.ndarray
    gram: np.ndarray
    second: np.ndarray
    mirror_low: np.ndarray | None
    mirror_high: np.ndarray | None
    length: int

    def scalar_view(self) -> MaskSizeMoments:
        """A :class:`MaskSizeMoments` carrying the squared-norm and MIRROR dot sums (its ``mean`` is unused
        placeholder zeros): :func:`sims.estimators.rates.rate_moments` then gives exact E|grad|^2 terms."""
        zeros = np.zeros_like(self.second)
        return MaskSizeMoments(
            self.prob,
            np.zeros_like(self.prob),
            zeros,
            self.second,
            self.mirror_low,
            self.mirror_high,
            self.length,
        )


def gradient_moments(grads: torch.Tensor, prob, mirror: bool = True) -> GradientMoments:
    """Group a ``(N, 2**L, P)`` per-(x, mask) gradient table by mask size (and MIRROR joint states)."""
    G = np.asarray(grads, dtype=np.float64)
    M = G.shape[1]
    L = M.bit_length() - 1
    sizes = mask_matrix(L).sum(1).numpy()
    onehot = np.zeros((M, L + 1))
    onehot[np.arange(M), sizes] = 1.0
    counts = onehot.sum(0)
    mean = np.einsum("nmp,mk->nkp", G, onehot) / counts[None, :, None]
    second = (np.einsum("nmp,nmp->nm", G, G) @ onehot) / counts
    gram = np.einsum("nkp,njp->nkj", mean, mean)
    low = high = None
    if mirror and L <= MAX_MIRROR_LENGTH:
        st = mirror_joint_states(L)
        group = np.zeros((3**L, L + 1))
        group[np.arange(3**L), st["n0"]] = 1.0
        low = np.einsum("nsp,nsp->ns", G[:, st["low1"]], G[:, st["low2"]]) @ group
        high = np.einsum("nsp,nsp->ns", G[:, st["high1"]], G[:, st["high2"]]) @ group
    return GradientMoments(np.asarray(prob, dtype=np.float64), mean, gram, second, low, high, L)


def _rate_weights(L: int, eps: float, u: np.ndarray) -> np.ndarray:
    """``(Q, L+1)`` :math:`b_k(u) = \\mathrm{Bin}(k; L, \\pi)/(L\\pi)`."""
    pi = eps + (1 - eps) * u
    k = np.arange(L + 1)
    return stats.binom.pmf(k[None, :], L, pi[:, None]) / (L * pi[:, None])


def _conditional(gm: GradientMoments, eps: float, u: np.ndarray, masks: MaskScheme):
    """(b, |g|^2, tr Var) at rates ``u``: ``(Q, L+1)``, ``(N, Q)``, ``(N, Q)``."""
    b = _rate_weights(gm.length, eps, u)
    gg = np.einsum("qk,nkj,qj->nq", b, gm.gram, b)
    rm = rate_moments(gm.scalar_view(), eps, u, mirror=masks == "mirror")
    if masks == "single":
        v = rm.m2 - gg
    elif masks == "pair":
        v = (rm.m2 - gg) / 2
    elif masks == "mirror":
        v = (rm.m2 - gg + rm.cross - gg) / 2
    else:
        raise InvalidArgumentError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
    return b, gg, v


def decompose_time_gradient(
    gm: GradientMoments,
    eps: float = 1e-3,
    sampler: TimeSampler | None = None,
    masks: MaskScheme = "single",
    nodes_per_panel: int = 16,
    name: str | None = None,
) -> VarianceDecomposition:
    """Exact A/B/C of :math:`\\mathrm{tr}\\,\\mathrm{Cov}` of the t-form gradient (``mean`` = ``target`` = the
    norm of the mean gradient; ``bias`` = 0 by convention: the gradient bias is not tracked here)."""
    eps = check_eps(eps)
    sampler = sampler or UniformTime()
    u, w = quadrature_nodes(eps, sampler.lo, sampler.hi, sampler.breakpoints, nodes_per_panel)
    b, gg, v = _conditional(gm, eps, u, masks)
    dens, wt = sampler.density(u), sampler.weight(u)
    meas = w * dens
    a = (b * (wt * meas)[:, None]).sum(0)  # (L+1,): E_u[w b_k]
    mean_x = np.einsum("k,nkp->np", a, gm.mean)  # E[grad | x]
    A = float(gm.prob @ ((v * wt**2) @ meas))
    B = float(gm.prob @ ((gg * wt**2) @ meas - np.einsum("nk,k->n", np.einsum("nkj,j->nk", gm.gram, a), a)))
    mbar = gm.prob @ mean_x
    C = float(gm.prob @ (mean_x**2).sum(1) - mbar @ mbar)
    norm = float(np.sqrt(mbar @ mbar))
    conv = {"quantity": "tr Cov of the per-example gradient", "eps": eps, "masks": masks}
    return VarianceDecomposition(
        name or f"gradient t-form[{sampler.name}, {masks}]",
        A,
        B,
        C,
        A + B + C,
        norm,
        norm,
        0.0,
        ROWS_PER_EXAMPLE[masks],
        conv,
    )


def decompose_k_gradient(
    gm: GradientMoments, proposal=None, name: str | None = None
) -> VarianceDecomposition:
    """Exact A/B/C of tr Cov of the exact-k gradient :math:`G/(k L r_k)`."""
    L = gm.length
    r = np.full(L, 1.0 / L) if proposal is None else np.asarray(proposal, dtype=np.float64)
    k = np.arange(1, L + 1)
    scale = 1.0 / (k * L * r)
    gram = gm.gram[:, 1:, 1:]
    diag = np.einsum("nkk->nk", gram)
    A = float(gm.prob @ (((gm.second[:, 1:] - diag) * scale**2) @ r))
    mean_x = np.einsum("k,nkp->np", scale * r, gm.mean[:, 1:])
    B = float(gm.prob @ ((diag * scale**2) @ r - (mean_x**2).sum(1)))
    mbar = gm.prob @ mean_x
    C = float(gm.prob @ (mean_x**2).sum(1) - mbar @ mbar)
    norm = float(np.sqrt(mbar @ mbar))
    conv = {
        "quantity": "tr Cov of the per-example gradient",
        "k": "uniform" if proposal is None else "proposal",
    }
    return VarianceDecomposition(name or "gradient k-form", A, B, C, A + B + C, norm, norm, 0.0, 1, conv)


def gradient_optimal_time_sampler(gm: GradientMoments, eps: float = 1e-3, masks: MaskScheme = "single"):
    r"""The rate density minimising tr Cov of the gradient: :math:`p \propto \sqrt{E_x E[\lVert\nabla\ell\rVert^2
    \mid x,u]}` (Cauchy-Schwarz, as for the loss; our derivation)."""
    eps = check_eps(eps)

    def curve(u):
        u = np.atleast_1d(np.asarray(u, dtype=np.float64))
        _, gg, v = _conditional(gm, eps, u, masks)
        return np.sqrt(np.maximum(gm.prob @ (gg + v), 0.0))

    return DensityTime(
        curve,
        name=f"gradient p-pots[{masks}]",
        breakpoints=((0.5 - eps) / (1 - eps),),
        eps_for_quadrature=eps,
    )
