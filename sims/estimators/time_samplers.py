r"""Laws of the rate variable u (the "t-sampler") with their importance weights.

The t-form estimator draws :math:`u \in [0,1]` from a law with density :math:`p(u)` and returns
:math:`\ell = w(u)\, c(x,m) / (L\,\pi(u))` with importance weight :math:`w(u) = 1/p(u)` (``w = 1`` for
uniform u: the standard estimator), so it has the same mean for every p with full support; P-POTS
(Jia et al., arXiv 2511.18159, Sec. 4.1) is the choice of p that minimises the variance
(:mod:`sims.estimators.proposal`). :class:`TimeSampler` also represents laws whose weight is not
1/density: the grid sampler of the released StableDLLM code is one
(:class:`theory.variance.released_code.ReleasedGridTime`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from sims.categorical import sample_categorical
from sims.estimators.quadrature import quadrature_integral, quadrature_nodes
from sims.validation import InvalidArgumentError


class TimeSampler:
    """Law of the rate variable u in [0, 1] with its importance weight w(u).

    A proper importance sampler has ``weight = 1 / density`` on its support; the StableDLLM grid sampler
    (:class:`theory.variance.released_code.ReleasedGridTime`) does not, which this class can represent
    exactly.
    """

    name = "time_sampler"
    lo, hi = 0.0, 1.0
    breakpoints: tuple = ()

    def density(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weight(self, u: np.ndarray) -> np.ndarray:
        return 1.0 / self.density(u)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled exactly")

    def describe(self) -> dict:
        return {"name": self.name, "support": [self.lo, self.hi]}


class UniformTime(TimeSampler):
    """u ~ U[0, 1], weight 1 (the standard estimator)."""

    name = "uniform"

    def density(self, u):
        return np.ones_like(np.asarray(u, dtype=np.float64))

    def weight(self, u):
        return np.ones_like(np.asarray(u, dtype=np.float64))

    def sample(self, n, generator):
        return torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device)


class HistogramTime(TimeSampler):
    """Piecewise-constant density on ``edges`` with bin ``masses`` (exactly samplable, weight 1/p)."""

    name = "histogram"

    def __init__(self, edges: Sequence[float], masses: Sequence[float], name: str = "histogram"):
        e = np.asarray(edges, dtype=np.float64)
        m = np.asarray(masses, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0) or e[0] < 0 or e[-1] > 1:
            raise InvalidArgumentError(
                "edges must be strictly increasing in [0, 1] with at least two entries"
            )
        if m.shape != (e.size - 1,) or np.any(m < 0) or not np.all(np.isfinite(m)) or m.sum() <= 0:
            raise InvalidArgumentError(
                "masses must be finite, non-negative, one per bin, with a positive sum"
            )
        self.edges, self.masses = e, m / m.sum()
        self.lo, self.hi = float(e[0]), float(e[-1])
        self.breakpoints = tuple(e.tolist())
        self.name = name
        self._dens = self.masses / np.diff(e)

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        j = np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, self.masses.size - 1)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(inside, self._dens[j], 0.0)

    def sample(self, n, generator):
        probs = torch.as_tensor(self.masses).expand(n, -1)
        j = sample_categorical(probs.to(generator.device), generator).cpu()
        r = torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device).cpu()
        e = torch.as_tensor(self.edges)
        return (e[j] + r * (e[j + 1] - e[j])).to(generator.device)

    def describe(self):
        return {
            "name": self.name,
            "type": "histogram",
            "edges": self.edges.tolist(),
            "masses": self.masses.tolist(),
        }


class DensityTime(TimeSampler):
    """Density proportional to ``fn(u)`` on ``[lo, hi]``, normalised by quadrature, weight 1/p."""

    def __init__(
        self,
        fn: Callable[[np.ndarray], np.ndarray],
        name: str,
        lo: float = 0.0,
        hi: float = 1.0,
        breakpoints: Sequence[float] = (),
        eps_for_quadrature: float = 1e-12,
    ):
        if not 0 <= lo < hi <= 1:
            raise InvalidArgumentError(f"need 0 <= lo < hi <= 1, got [{lo}, {hi}]")
        self.fn, self.name, self.lo, self.hi = fn, name, float(lo), float(hi)
        self.breakpoints = tuple(breakpoints)
        u, w = quadrature_nodes(max(eps_for_quadrature, 1e-300), lo, hi, self.breakpoints)
        vals = np.asarray(fn(u), dtype=np.float64)
        if np.any(vals < 0) or not np.all(np.isfinite(vals)):
            raise InvalidArgumentError(f"density function {name!r} must be finite and non-negative")
        self.norm = float(w @ vals)
        if not self.norm > 0:
            raise InvalidArgumentError(f"density function {name!r} integrates to {self.norm}")

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(
            inside, np.asarray(self.fn(np.clip(u, self.lo, self.hi)), dtype=np.float64) / self.norm, 0.0
        )

    def to_histogram(
        self, num_bins: int = 64, spacing: Literal["linear", "log"] = "log", eps: float = 1e-3
    ) -> HistogramTime:
        """A samplable histogram approximation (bin masses = exact integrals of this density)."""
        if spacing == "log":
            inner = np.geomspace(max(eps, 1e-12), self.hi, num_bins)
            edges = np.unique(np.concatenate([[self.lo], inner[inner > self.lo]]))
        else:
            edges = np.linspace(self.lo, self.hi, num_bins + 1)
        masses = [
            float(quadrature_integral(lambda v: self.density(v), a, b)) for a, b in itertools.pairwise(edges)
        ]
        return HistogramTime(edges, masses, name=f"{self.name}_histogram")

    def describe(self):
        return {"name": self.name, "type": "density", "support": [self.lo, self.hi]}
