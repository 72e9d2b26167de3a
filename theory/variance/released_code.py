r"""Reconstructions of the released StableDLLM P-POTS code: EPR fit, grid sampler, Monte Carlo pre-estimate.

Source: Jia et al., arXiv 2511.18159, Sec. 4.1; code github.com/Qwen-Applications/StableDLLM (read at
commit 1bf3d41, ``LLaDA/rebuttal.py``). The exact optimum and the exact limit of the paper's
pre-estimate are in :mod:`sims.estimators.proposal`; this module emulates what the released code does
with them, and computes exactly where that differs.

* **EPR family.** The paper's parametric family, as implemented in ``rebuttal.py::_fit_powerU_w_KL``,
  is :math:`p(u) \propto \sqrt{a u^r + b (1-u)^q + A^2 e^{2\kappa u^m}}`, fitted by minimising
  :math:`KL(\hat w \Vert p)` on the grid ``linspace(1/b, 1-1/b, b-1)``; :func:`fit_epr` fits it to our
  exact curve (no fitted constants of the paper are used: they are not published in a form we could
  read).
* **Grid sampler** (``rebuttal.py::train``, ``sample_t_from_p``; :class:`ReleasedGridTime`): the code
  draws u only inside ``[1/b, 1-1/b]`` and uniformly within grid cells while weighting by the linearly
  interpolated density, so its estimator is biased; the bias is exact here.
* **Pre-estimate** (``evaluate_over_x0``; :func:`pre_estimate_curve`): per-token losses are clamped at
  10, as the code does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from sims.categorical import sample_categorical
from sims.estimators.loss_table import MaskLossTable, mask_index
from sims.estimators.rates import mask_probability
from sims.estimators.time_samplers import DensityTime, TimeSampler
from sims.validation import InvalidArgumentError


class ReleasedGridTime(TimeSampler):
    """Emulation of the StableDLLM P-POTS sampler (``rebuttal.py::train``, ``sample_t_from_p``).

    The density values ``values`` on ``grid`` are normalised by the trapezoid rule; the CDF is the
    cumulative trapezoid area; a draw picks cell j with probability equal to its area and is uniform
    inside the cell, while the returned weight is 1 / (linear interpolation of the density). So the
    actual sampling density is piecewise constant (cell mean) but the weight uses the linear
    interpolant: the estimator is biased unless the values are constant, and it never samples
    outside ``[grid[0], grid[-1]]`` (truncation bias). Both biases are exact here.
    """

    name = "released_grid"

    def __init__(self, grid: Sequence[float], values: Sequence[float], name: str = "released_grid"):
        g = np.asarray(grid, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if g.ndim != 1 or g.size < 2 or np.any(np.diff(g) <= 0) or g[0] < 0 or g[-1] > 1:
            raise InvalidArgumentError("grid must be strictly increasing inside [0, 1]")
        if v.shape != g.shape or np.any(v <= 0) or not np.all(np.isfinite(v)):
            raise InvalidArgumentError("values must be positive and finite, one per grid point")
        area = 0.5 * (v[:-1] + v[1:]) * np.diff(g)
        self.grid, self.values = g, v / area.sum()
        self.cell_mass = area / area.sum()
        self.lo, self.hi = float(g[0]), float(g[-1])
        self.breakpoints = tuple(g.tolist())
        self.name = name

    def _cell(self, u):
        return np.clip(np.searchsorted(self.grid, u, side="right") - 1, 0, self.cell_mass.size - 1)

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        j = self._cell(u)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(inside, self.cell_mass[j] / np.diff(self.grid)[j], 0.0)

    def weight(self, u):
        return 1.0 / np.interp(np.asarray(u, dtype=np.float64), self.grid, self.values)

    def sample(self, n, generator):
        probs = torch.as_tensor(self.cell_mass).expand(n, -1)
        j = sample_categorical(probs.to(generator.device), generator).cpu()
        r = torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device).cpu()
        g = torch.as_tensor(self.grid)
        return (g[j] + r * (g[j + 1] - g[j])).to(generator.device)

    def describe(self):
        return {"name": self.name, "type": "released_grid", "grid": [self.lo, self.hi, self.grid.size]}


@dataclass
class EPRFit:
    r"""Fitted EPR curve :math:`\sqrt{a u^r + b(1-u)^q + A^2 e^{2\kappa u^m}}` (parameters and KL)."""

    params: dict
    kl: float
    grid: np.ndarray

    def curve(self, u) -> np.ndarray:
        p = self.params
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        return np.sqrt(
            p["a"] * u ** p["r"]
            + p["b"] * (1 - u) ** p["q"]
            + p["A"] ** 2 * np.exp(2 * p["kappa"] * u ** p["m"])
        )

    def full_support_sampler(self) -> DensityTime:
        """The fitted curve normalised on all of [0, 1] (unbiased importance sampler)."""
        return DensityTime(self.curve, name="epr-fit[0,1]")

    def released_sampler(self) -> ReleasedGridTime:
        """The fitted curve used the StableDLLM way: grid-interpolated on [1/b, 1 - 1/b]."""
        return ReleasedGridTime(self.grid, self.curve(self.grid), name="epr-fit[released grid]")


def _softplus(z):
    return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0)


def fit_epr(grid: np.ndarray, values: np.ndarray, n_starts: int = 20, seed: int = 0) -> EPRFit:
    r"""Fit the EPR family to a curve on ``grid`` by minimising :math:`KL(\hat w \Vert p)` (trapezoid rule).

    Parameter constraints follow the released code (``rebuttal.py``, commit 1bf3d41): a, b, A > 0;
    r, q, m >= 1; kappa >= 0 (softplus reparameterisation, L-BFGS-B, ``n_starts`` seeded restarts).
    (Our research notes recalled r, q >= 0 and m > 1 for the paper's text: unverified.)
    """
    t = np.asarray(grid, dtype=np.float64)
    w = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
    zw = np.trapezoid(w, t)
    if not zw > 0:
        raise InvalidArgumentError("values must have a positive integral on the grid")
    w_pdf = np.clip(w / zw, 1e-300, None)

    def unpack(z):
        sp = _softplus(z)
        return {
            "a": sp[0] + 1e-9,
            "b": sp[1] + 1e-9,
            "A": sp[2] + 1e-9,
            "r": 1 + sp[3],
            "q": 1 + sp[4],
            "kappa": sp[5],
            "m": 1 + sp[6],
        }

    def pdf(z):
        fit = EPRFit(unpack(z), 0.0, t)
        c = fit.curve(t)
        zc = np.trapezoid(c, t)
        return c / zc if np.isfinite(zc) and zc > 0 else None

    def loss(z):
        p = pdf(z)
        if p is None or not np.all(np.isfinite(p)):
            return 1e6
        return float(np.trapezoid(w_pdf * (np.log(w_pdf) - np.log(np.clip(p, 1e-300, None))), t))

    rng = np.random.default_rng(seed)
    best_z, best = None, np.inf
    for _ in range(n_starts):
        z0 = np.array([-0.3, 0.4, -1.0, 0.3, 0.2, -0.2, 0.2]) + rng.normal(scale=0.6, size=7)
        with np.errstate(over="ignore", invalid="ignore"):
            res = minimize(loss, z0, method="L-BFGS-B")
        if np.isfinite(res.fun) and res.fun < best:
            best_z, best = res.x, float(res.fun)
    if best_z is None:
        raise RuntimeError("EPR fit failed from every start")
    return EPRFit(unpack(best_z), best, t)


def pre_estimate_curve(
    table: MaskLossTable,
    eps: float,
    grid: np.ndarray,
    num_x: int,
    num_masks: int,
    generator: torch.Generator,
    loss_max: float | None = 10.0,
) -> dict:
    r"""Monte Carlo reproduction of the paper's P-POTS pre-estimation (StableDLLM ``evaluate_over_x0``).

    Draw ``num_x`` sequences from q; at every grid rate draw ``num_masks`` Bernoulli masks; per-token
    losses :math:`c/(L\pi)` clamped at ``loss_max`` (as the code does); return the grid, the
    data-averaged mean :math:`\hat g`, mean within-(x,u) variance :math:`\hat v` and
    :math:`\hat w = \sqrt{\hat g^2 + \hat v}`.
    """
    grid = np.asarray(grid, dtype=np.float64)
    L = table.length
    xi = sample_categorical(table.prob.expand(num_x, -1), generator).cpu()
    pi = torch.as_tensor(mask_probability(grid, eps))
    u = torch.rand(
        (num_x, grid.size, num_masks, L), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    m = mask_index(u < pi[None, :, None, None])
    c = table.loss[xi[:, None, None], m] / (L * pi[None, :, None])
    if loss_max is not None:
        c = c.clamp(max=loss_max)
    mean_x = c.mean(2)
    var_x = c.var(2, unbiased=True)
    g, v = mean_x.mean(0).numpy(), var_x.mean(0).numpy()
    return {"grid": grid, "g": g, "v": v, "w": np.sqrt(g**2 + v)}
