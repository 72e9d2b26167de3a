r"""Monte Carlo reference for the exact decomposition: nested draws of the estimator and z-score checks.

The brute-force reference the exact formulas of :mod:`sims.estimators` are tested against (Jia et al.,
arXiv 2511.18159, Sec. 3 decomposition). Nested draws per example (x; a rate with two independent mask
draws; a second rate with one mask draw) give unbiased estimates of the mean, the total variance, A
(paired masks) and C (paired rates).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sims.categorical import sample_categorical
from sims.denoisers.base import Denoiser
from sims.estimators.decomposition import VarianceDecomposition
from sims.estimators.loss_table import MaskLossTable, mask_index, masked_losses
from sims.estimators.rates import MaskScheme
from sims.estimators.time_samplers import TimeSampler
from sims.languages.base import Language


def _draw_masks(u: torch.Tensor, eps: float, length: int, masks: MaskScheme, generator: torch.Generator):
    pi = (eps + (1 - eps) * u).unsqueeze(-1)
    U = torch.rand(
        (u.shape[0], length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    m1 = U < pi
    if masks == "single":
        return pi.squeeze(-1), [m1]
    if masks == "mirror":
        return pi.squeeze(-1), [m1, U > 1 - pi]
    U2 = torch.rand(
        (u.shape[0], length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    return pi.squeeze(-1), [m1, U2 < pi]


def sample_nested_losses(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    draw_x: Callable[[int], torch.Tensor],
    length: int,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    r"""Brute-force nested draws of the per-example estimator.

    Per draw: x; rate :math:`u_1` with two independent mask draws (estimates ``a`` and ``a2``); a second
    rate :math:`u_2` with one mask draw (``b``). Unbiased moment identities:
    :math:`E[a] = \mu`, :math:`E[a^2] - \mu^2 = A+B+C`, :math:`E[(a-a_2)^2]/2 = A`,
    :math:`E[a\,b] - \mu^2 = C`.
    ``loss_fn(x, mask)`` returns :math:`c(x,m)`; ``draw_x(n)`` returns n data items.
    """
    x = draw_x(n)
    out = {}
    u1 = sampler.sample(n, generator).cpu()
    u2 = sampler.sample(n, generator).cpu()
    for key, u in (("a", u1), ("a2", u1), ("b", u2)):
        pi, ms = _draw_masks(u, eps, length, masks, generator)
        w = torch.as_tensor(sampler.weight(u.numpy()))
        vals = [loss_fn(x, m) / (length * pi) * w for m in ms]
        out[key] = sum(vals) / len(vals)
    return out


def sample_table_losses(
    table: MaskLossTable,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """:func:`sample_nested_losses` with x drawn from the support law and c looked up in ``table``."""

    def draw_x(k):
        return sample_categorical(table.prob.expand(k, -1).to(generator.device), generator).cpu()

    return sample_nested_losses(
        lambda xi, m: table.loss[xi, mask_index(m)], draw_x, table.length, eps, sampler, masks, n, generator
    )


def sample_denoiser_losses(
    language: Language,
    denoiser: Denoiser,
    length: int,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """:func:`sample_nested_losses` end to end: x from ``language.sample``, c from ``denoiser`` calls."""
    return sample_nested_losses(
        lambda x, m: masked_losses(denoiser, x, m).cpu(),
        lambda k: language.sample(k, length, generator).cpu(),
        length,
        eps,
        sampler,
        masks,
        n,
        generator,
    )


@dataclass
class MCCheck:
    """A Monte Carlo estimate with its standard error and the exact value it should match."""

    name: str
    estimate: float
    stderr: float
    exact: float

    @property
    def z(self) -> float:
        return (
            (self.estimate - self.exact) / self.stderr
            if self.stderr > 0
            else (0.0 if abs(self.estimate - self.exact) < 1e-12 else math.inf)
        )


def monte_carlo_checks(draws: dict[str, torch.Tensor], exact: VarianceDecomposition) -> list[MCCheck]:
    """Means of i.i.d. per-draw quantities (so plain CLT standard errors) against the exact values."""
    a, a2, b = draws["a"], draws["a2"], draws["b"]
    mu = exact.mean
    items = [
        ("mean", a, mu),
        ("second moment", a * a, exact.total + mu**2),
        ("A (paired masks)", (a - a2) ** 2 / 2, exact.A),
        ("C + mean^2 (paired rates)", a * b, exact.C + mu**2),
    ]
    n = a.numel()
    return [
        MCCheck(name, float(v.mean()), float(v.std(unbiased=True)) / math.sqrt(n), ex)
        for name, v, ex in items
    ]
