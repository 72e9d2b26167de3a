r"""Closed forms of the exact variance decomposition: uniform rate, the eps floor, optimal proposals.

Source: Jia et al., arXiv 2511.18159, Sec. 3-4.1; the closed forms and asymptotics are our derivation
(the estimators and the A/B/C split are defined in :mod:`sims.estimators.decomposition`).

* Uniform rate, one mask: with :math:`\pi = \varepsilon + (1-\varepsilon)u` every rate integral is an
  incomplete Beta function (:func:`uniform_time_closed_form`; the reference the quadrature is tested
  against).
* The eps floor: for :math:`\varepsilon > 0` the k = 1 term of the second moment behaves like
  :math:`s_1/(L\pi)`, so A grows like :math:`(E_x s_1(x)/L)\log(1/\varepsilon)` and is infinite at
  :math:`\varepsilon = 0` (:func:`a_term_log_slope`), while B and C converge.
* P-POTS minimum: for any density p on u with weight 1/p,
  :math:`A+B+C = \int \bar M_2(u)/p(u)\,du - \mu^2`; Cauchy-Schwarz gives the minimum
  :math:`(\int\sqrt{\bar M_2})^2 - \mu^2` at :math:`p^\star \propto \sqrt{\bar M_2}`
  (:func:`optimal_time_variance`; the sampler is :func:`sims.estimators.proposal.optimal_time_sampler`).
* Exact-k form: the variance-optimal proposal is :math:`r_k \propto \sqrt{E_x s_k(x)}/k`
  (:func:`optimal_k_proposal`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from sims.estimators.decomposition import VarianceDecomposition, assemble_decomposition
from sims.estimators.moments import MaskSizeMoments
from sims.estimators.proposal import proposal_curve
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import MaskScheme, check_eps, rate_moments


def optimal_k_proposal(moments: MaskSizeMoments) -> np.ndarray:
    r"""Variance-optimal :math:`r_k \propto \sqrt{E_x s_k(x)}/k` for the exact-k estimator (our derivation)."""
    k = np.arange(1, moments.length + 1)
    r = np.sqrt(moments.prob @ moments.second[:, 1:]) / k
    return r / r.sum()


def uniform_time_closed_form(moments: MaskSizeMoments, eps: float = 1e-3) -> VarianceDecomposition:
    r"""Closed form (incomplete Beta functions) of the uniform-u, single-mask decomposition.

    Uses :math:`\int_\varepsilon^1 \pi^{a-1}(1-\pi)^{b-1} d\pi = B(a,b)(1 - I_\varepsilon(a,b))` and, for
    the k = 1 term of the second moment,
    :math:`\int_\varepsilon^1 (1-\pi)^{L-1}/\pi\, d\pi = -\log\varepsilon - \sum_{j=1}^{L-1} (1-\varepsilon)^j/j`.
    ``eps = 0`` is allowed: then A is ``inf`` whenever some :math:`s_1(x) > 0`, while B and C are finite.
    The reference the quadrature path is tested against.
    """
    eps = check_eps(eps, allow_zero=True)
    L = moments.length
    k = np.arange(1, L + 1)
    comb = special.comb(L, k)

    def tail_beta(a, b):  # int_eps^1 pi^(a-1) (1-pi)^(b-1) dpi
        full = special.beta(a, b)
        return full * (1 - special.betainc(a, b, eps)) if eps > 0 else full

    jac = 1.0 / (1.0 - eps)  # du = dpi / (1 - eps)
    # mean: int Bin(k;L,pi)/pi = comb * B(k, L-k+1) tail = (1/k) tail-fraction
    int_g = jac * comb * tail_beta(k, L - k + 1) / L  # (L,)
    gx = moments.mean[:, 1:] @ int_g
    # second moment of the loss: int Bin(k)/pi^2
    j2 = np.empty(L)
    for i, kk in enumerate(k):
        if kk >= 2:
            j2[i] = comb[i] * tail_beta(kk - 1, L - kk + 1)
        elif eps > 0:
            j2[i] = L * (-math.log(eps) - sum((1 - eps) ** j / j for j in range(1, L)))
        else:
            j2[i] = math.inf
    s = moments.second[:, 1:]
    with np.errstate(invalid="ignore"):
        m2x = np.where(s > 0, s * (jac * j2 / L**2), 0.0).sum(1)
    # E_u g^2: sum_{k,j} mu_k mu_j C(L,k) C(L,j) int pi^(k+j-2) (1-pi)^(2L-k-j)
    kk, jj = np.meshgrid(k, k, indexing="ij")
    cross = comb[:, None] * comb[None, :] * tail_beta(kk + jj - 1, 2 * L - kk - jj + 1) * jac / L**2
    mu = moments.mean[:, 1:]
    gx2 = np.einsum("nk,kj,nj->n", mu, cross, mu)
    conv = {
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "sampler": "uniform",
        "masks": "single",
        "method": "closed form (incomplete beta)",
    }
    return assemble_decomposition(
        "t-form[uniform, single] closed form",
        moments.prob,
        m2x - gx2,
        gx,
        gx2,
        moments.nelbo_per_token(),
        1,
        conv,
    )


def a_term_log_slope(moments: MaskSizeMoments) -> float:
    r"""Predicted growth rate :math:`dA/d\log(1/\varepsilon) \to E_x s_1(x) / L` as eps -> 0 (our derivation)."""
    return float(moments.prob @ moments.second[:, 1]) / moments.length


def optimal_time_variance(moments: MaskSizeMoments, eps: float = 1e-3, masks: MaskScheme = "single") -> float:
    r"""Closed minimum :math:`(\int_0^1 \sqrt{\bar M_2})^2 - \mu^2` over all u-densities (Cauchy-Schwarz)."""
    eps = check_eps(eps)
    u, w = quadrature_nodes(eps, 0.0, 1.0, ((0.5 - eps) / (1 - eps),))
    curve = proposal_curve(moments, eps, u, "exact", masks)
    rm = rate_moments(moments, eps, u)
    mu = float(moments.prob @ (rm.g @ w))
    return float(w @ curve) ** 2 - mu**2
