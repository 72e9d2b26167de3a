r"""Composite Gauss-Legendre quadrature in the rate u that resolves the :math:`1/\pi` behaviour at the floor.

Every exact integral over the rate in :mod:`sims.estimators` and :mod:`theory.variance` (estimator
means and second moments, density normalisations, histogram masses) uses these nodes; the
incomplete-Beta closed form :func:`theory.variance.closed_forms.uniform_time_closed_form` is the
reference they are tested against (1e-10 relative down to eps = 1e-10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def quadrature_nodes(
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    breakpoints: Sequence[float] = (),
    nodes_per_panel: int = 16,
    max_width: float = 0.0625,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Composite Gauss-Legendre nodes/weights on ``[lo, hi]`` in u.

    Panels: geometric in :math:`\pi(u)` from :math:`\varepsilon` upwards (ratio 2, so integrands that
    behave like :math:`1/\pi` near :math:`\pi = \varepsilon` are resolved), every breakpoint, the MIRROR
    kink :math:`\pi = 1/2`, and at most ``max_width`` wide.
    """
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    pts = [lo, hi]
    pis = eps * 2.0 ** np.arange(0, math.ceil(math.log2(1.0 / eps)) + 1)
    pis = pis[pis < 1]
    pts += list((pis - eps) / (1 - eps))
    pts += list(np.arange(0, 1, max_width))
    pts += [(0.5 - eps) / (1 - eps)] if eps < 0.5 else []
    pts += list(breakpoints)
    edges = np.unique(np.clip(np.asarray(pts, dtype=np.float64), lo, hi))
    a, b = edges[:-1], edges[1:]
    keep = b > a
    a, b = a[keep], b[keep]
    nodes = (a[:, None] + b[:, None]) / 2 + (b - a)[:, None] / 2 * x[None, :]
    weights = (b - a)[:, None] / 2 * w[None, :]
    return nodes.ravel(), weights.ravel()


def quadrature_integral(
    fn: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    eps: float = 1e-12,
    breakpoints: Sequence[float] = (),
) -> float:
    u, w = quadrature_nodes(eps, lo, hi, breakpoints)
    return float(w @ np.asarray(fn(u), dtype=np.float64))
