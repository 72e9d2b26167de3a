r"""Exact A/B/C variance decomposition of the t-form and exact-k training-loss estimators.

Source: Jia, Zhou, Liu, Jiang, Jiang, arXiv 2511.18159 (ICLR 2026), Sec. 3; our own restatement,
computed exactly from the per-size moments (:mod:`sims.estimators.moments`).

Estimators (per sequence, normalised per token, i.e. estimating NELBO/L)
-------------------------------------------------------------------------
* **t-form with a floor** (LLaDA ``p_mask = (1-eps) t + eps``; MDLM ``t = (1-eps) u + eps``, the same
  thing): draw a rate variable :math:`u \in [0,1]` from a law with density :math:`p(u)`, set the mask
  probability :math:`\pi(u) = \varepsilon + (1-\varepsilon) u`, mask each position independently with
  probability :math:`\pi`, and return :math:`\ell = w(u)\, c(x,m) / (L\,\pi(u))` with importance weight
  :math:`w(u) = 1/p(u)` (``w = 1`` for uniform u: the standard estimator). For :math:`\varepsilon = 0`
  this is the 1/t weight of MDLM/MD4 with the linear schedule, and its mean is exactly
  :math:`\frac1L\sum_{k\ge1}\mu_k(x)/k` because :math:`\int_0^1 \mathrm{Bin}(k;L,t)/t\,dt = 1/k`.
* **exact-k form** (LLaDA ``get_log_likelihood``, RADD ``k_DCE_loss``): :math:`k \sim U\{1..L\}` (or a
  proposal r_k with weight 1/(L r_k)), mask exactly k uniformly chosen positions, return
  :math:`c(x,m)/k`, whose mean is again :math:`\frac1L\sum_k \mu_k(x)/k`.

Decomposition (law of total variance, conditioning order x -> rate -> mask; paper Sec. 3)
----------------------------------------------------------------------------------------
With :math:`g(x,u) = E[\ell \mid x,u]` and :math:`v(x,u) = \mathrm{Var}(\ell \mid x,u)`:

.. math::
    \mathrm{Var}(\ell) = \underbrace{E_{x,u}[v]}_{A:\ \text{masking pattern}}
      + \underbrace{E_x[\mathrm{Var}_u(g)]}_{B:\ \text{masking rate}}
      + \underbrace{\mathrm{Var}_x(E_u[g])}_{C:\ \text{data}} .

For the oracle and :math:`\varepsilon = 0`, :math:`E_u[g] = -\log q(x)/L`, so C is exactly the
variance of the autoregressive per-token loss of the true model. For :math:`\varepsilon > 0` A grows
like :math:`\log(1/\varepsilon)` (:func:`theory.variance.closed_forms.a_term_log_slope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from sims.estimators.moments import MaskSizeMoments
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import (
    MASK_SCHEMES,
    ROWS_PER_EXAMPLE,
    MaskScheme,
    check_eps,
    conditional_variance,
    rate_moments,
)
from sims.estimators.time_samplers import TimeSampler, UniformTime
from sims.validation import InvalidArgumentError


@dataclass
class VarianceDecomposition:
    """Exact A/B/C split of the variance of one per-example estimator (per-token units, nats/token).

    ``total = A + B + C`` is the variance of one example; ``rows_per_example`` is the number of denoiser
    rows (forward passes) one example costs, so ``total * rows_per_example`` compares estimators at
    equal compute. ``mean`` is the estimator's expectation, ``target`` the per-token NELBO
    (eps = 0) and ``bias = mean - target``.
    """

    estimator: str
    A: float
    B: float
    C: float
    total: float
    mean: float
    target: float
    bias: float
    rows_per_example: int = 1
    conventions: dict = field(default_factory=dict)

    @property
    def total_per_row(self) -> float:
        return self.total * self.rows_per_example

    def to_dict(self) -> dict:
        return {**asdict(self), "total_per_row": self.total_per_row}


def assemble_decomposition(name, prob, cond_var_mean, g_x_mean, g_x_second, target, rows, conventions):
    r"""A/B/C from per-x integrals: ``cond_var_mean`` :math:`E_u[v]`, ``g_x_mean`` :math:`E_u[g]` and
    ``g_x_second`` :math:`E_u[g^2]` (each ``(N,)``), averaged over x with weights ``prob``."""
    A = float(prob @ cond_var_mean)
    B = float(prob @ (g_x_second - g_x_mean**2))
    mean = float(prob @ g_x_mean)
    C = float(prob @ (g_x_mean - mean) ** 2)
    return VarianceDecomposition(name, A, B, C, A + B + C, mean, target, mean - target, rows, conventions)


def decompose_time_estimator(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    sampler: TimeSampler | None = None,
    masks: MaskScheme = "single",
    nodes_per_panel: int = 16,
    name: str | None = None,
) -> VarianceDecomposition:
    r"""Exact A/B/C of the t-form estimator :math:`w(u)\,c/(L\pi(u))`, u from ``sampler``.

    ``masks``: ``"single"`` (one Bernoulli mask), ``"mirror"`` (complementary pair from shared
    uniforms, average of the two losses), ``"pair"`` (two independent masks, averaged).
    """
    eps = check_eps(eps)
    if masks not in MASK_SCHEMES:
        raise InvalidArgumentError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
    sampler = sampler or UniformTime()
    u, w = quadrature_nodes(eps, sampler.lo, sampler.hi, sampler.breakpoints, nodes_per_panel)
    rm = rate_moments(moments, eps, u, mirror=masks == "mirror")
    dens, wt = sampler.density(u), sampler.weight(u)
    meas = w * dens
    cv = conditional_variance(rm, masks)
    gx = (rm.g * wt) @ meas
    gx2 = (rm.g * wt) ** 2 @ meas
    conv = {
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "weight": "w(u) c / (L pi(u))",
        "sampler": sampler.describe(),
        "masks": masks,
        "normalisation": "per token (divide by L)",
    }
    return assemble_decomposition(
        name or f"t-form[{sampler.name}, {masks}]",
        moments.prob,
        (cv * wt**2) @ meas,
        gx,
        gx2,
        moments.nelbo_per_token(),
        ROWS_PER_EXAMPLE[masks],
        conv,
    )


def decompose_k_estimator(
    moments: MaskSizeMoments, proposal: Sequence[float] | None = None, name: str | None = None
) -> VarianceDecomposition:
    r"""Exact A/B/C of the exact-k estimator :math:`c(x,m)/(k L r_k)` (uniform r_k = 1/L: :math:`c/k`)."""
    L = moments.length
    r = np.full(L, 1.0 / L) if proposal is None else np.asarray(proposal, dtype=np.float64)
    if r.shape != (L,) or np.any(r <= 0) or abs(r.sum() - 1) > 1e-9:
        raise InvalidArgumentError("proposal must be L positive probabilities for k = 1..L summing to 1")
    k = np.arange(1, L + 1)
    scale = 1.0 / (k * L * r)
    mu, s = moments.mean[:, 1:], moments.second[:, 1:]
    cv = ((s - mu**2) * scale**2) @ r
    gx = (mu * scale) @ r
    gx2 = ((mu * scale) ** 2) @ r
    conv = {
        "k": "uniform on 1..L" if proposal is None else "proposal r_k",
        "mask": "exactly k uniform positions",
        "weight": "c / (k L r_k)",
        "normalisation": "per token (divide by L)",
    }
    return assemble_decomposition(
        name or ("k-form[uniform]" if proposal is None else "k-form[proposal]"),
        moments.prob,
        cv,
        gx,
        gx2,
        moments.nelbo_per_token(),
        1,
        conv,
    )
