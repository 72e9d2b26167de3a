r"""P-POTS: the variance-optimal rate law, the paper's pre-estimate target, and the paper's grid.

Source: Jia et al., arXiv 2511.18159, Sec. 4.1 ("Pareto-optimal t-sampler"); code
github.com/Qwen-Applications/StableDLLM.

For any density p on u with weight 1/p, :math:`A+B+C = \int \bar M_2(u)/p(u)\,du - \mu^2` with
:math:`\bar M_2 = E_x E[(c/(L\pi))^2 \mid x,u]`; Cauchy-Schwarz gives the unique optimum
:math:`p^\star \propto \sqrt{\bar M_2}` and the minimum :math:`(\int\sqrt{\bar M_2})^2 - \mu^2`
(:func:`theory.variance.closed_forms.optimal_time_variance`). The paper's pre-estimate targets
:math:`\sqrt{\bar g^2 + \bar v}` (data-averaged mean squared plus mean conditional variance), which
omits :math:`\mathrm{Var}_x g(x,u)`; ``kind="paper"`` computes that curve exactly. The pre-estimate is
run on the released code's grid ``linspace(1/b, 1-1/b, b-1)`` (:func:`paper_grid`); its Monte Carlo
reproduction and the released grid sampler are in :mod:`theory.variance.released_code`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from sims.estimators.moments import MaskSizeMoments
from sims.estimators.rates import MaskScheme, check_eps, conditional_variance, rate_moments
from sims.estimators.time_samplers import DensityTime
from sims.validation import InvalidArgumentError, check_positive_int


def proposal_curve(
    moments: MaskSizeMoments,
    eps: float,
    u,
    kind: Literal["exact", "paper"] = "exact",
    masks: MaskScheme = "single",
) -> np.ndarray:
    r"""Unnormalised P-POTS curve at ``u``.

    ``"exact"``: :math:`\sqrt{E_x[g^2] + E_x[v]}` = :math:`\sqrt{\bar M_2}` (the variance-optimal density).
    ``"paper"``: :math:`\sqrt{(E_x g)^2 + E_x v}` (what the paper's pre-estimate converges to).
    ``v`` is the conditional variance of the per-example estimator for the mask scheme ``masks``.
    """
    rm = rate_moments(moments, eps, u, mirror=masks == "mirror")
    v = moments.prob @ conditional_variance(rm, masks)
    if kind == "exact":
        return np.sqrt(np.maximum(moments.prob @ rm.g**2 + v, 0.0))
    if kind == "paper":
        return np.sqrt(np.maximum((moments.prob @ rm.g) ** 2 + v, 0.0))
    raise InvalidArgumentError(f"kind must be 'exact' or 'paper', got {kind!r}")


def optimal_time_sampler(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    kind: Literal["exact", "paper"] = "exact",
    masks: MaskScheme = "single",
) -> DensityTime:
    """P-POTS density (normalised on [0, 1]) for ``kind`` and mask scheme ``masks``."""
    eps = check_eps(eps)
    return DensityTime(
        lambda u: proposal_curve(moments, eps, u, kind, masks),
        name=f"p-pots[{kind}, {masks}]",
        breakpoints=((0.5 - eps) / (1 - eps),),
        eps_for_quadrature=eps,
    )


def paper_grid(b: int = 70) -> np.ndarray:
    """StableDLLM pre-estimation grid ``linspace(1/b, 1 - 1/b, b - 1)`` (``evaluate_over_x0``)."""
    b = check_positive_int(b, "b", minimum=3)
    return np.linspace(1.0 / b, 1.0 - 1.0 / b, b - 1)
