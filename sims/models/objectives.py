r"""MDM training-loss estimators: standard, P-POTS, MIRROR, P-POTS + MIRROR, and two independent masks.

All are the per-token t-form estimator of :mod:`sims.estimators` (rate u, mask probability
:math:`\pi = \varepsilon + (1-\varepsilon)u`, loss :math:`w(u)\,c(x,m)/(L\pi)`, with
:math:`c(x,m) = \sum_{i\in m} -\log p_\theta(x_i \mid x_{\setminus m})`), unbiased for the per-token
NELBO up to the exact O(eps) floor bias computed in :mod:`sims.estimators.decomposition`:

============== ================================ ============================= =================
method          rate u                          masks per example             rows per example
============== ================================ ============================= =================
standard        U[0,1], w = 1                   one Bernoulli(pi) mask        1
ppots           proposal p(u), w = 1/p(u)       one                           1
mirror          U[0,1]                          complementary pair (shared U) 2
ppots_mirror    proposal p(u), w = 1/p(u)       complementary pair            2
pair            U[0,1]                          two independent masks         2
============== ================================ ============================= =================

Equal compute: a training step uses a fixed number of network rows; methods with 2 rows per example
see half as many data sequences per step (the fair comparison of MIRROR against two independent masks
asked by the paper's reviewers; the paper itself runs MIRROR at twice the compute).

The P-POTS proposal used in training is :func:`pre_estimate_proposal`: the paper's pre-estimation
(StableDLLM ``evaluate_over_x0``: ``num_x`` sequences, the grid ``linspace(1/b, 1-1/b, b-1)``,
``num_masks`` masks per (x, u), per-token losses clamped at ``loss_max``, curve
:math:`\hat w = \sqrt{\hat g^2 + \hat v}`) turned into a histogram density on the whole of [0, 1]
(bins centred on the grid points) mixed with ``uniform_mix`` of the uniform law. Deviation from the
released code, on purpose: full support and exact histogram weights keep the estimator unbiased (the
released grid sampler is not; see :class:`theory.variance.released_code.ReleasedGridTime`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sims.estimators import HistogramTime, TimeSampler, UniformTime, paper_grid
from sims.validation import InvalidArgumentError, check_choice

METHODS = ("standard", "ppots", "mirror", "ppots_mirror", "pair")
ROWS_PER_EXAMPLE = {"standard": 1, "ppots": 1, "mirror": 2, "ppots_mirror": 2, "pair": 2}


def check_method(method: str) -> str:
    return check_choice(method, METHODS, "method")


def mask_scheme(method: str) -> str:
    """The :mod:`sims.estimators` mask scheme of a training method."""
    return {
        "standard": "single",
        "ppots": "single",
        "mirror": "mirror",
        "ppots_mirror": "mirror",
        "pair": "pair",
    }[check_method(method)]


def uses_proposal(method: str) -> bool:
    return check_method(method) in ("ppots", "ppots_mirror")


@dataclass
class MaskedExamples:
    """A batch of n examples with R = rows per example masked copies each.

    ``noisy`` ``(n, R, L)`` inputs (mask id V at masked positions), ``targets`` ``(n, L)`` clean tokens,
    ``mask`` ``(n, R, L)`` bool, ``row_weight`` ``(n, R)`` float32 = :math:`w(u)/(L\\pi R)`, ``u`` ``(n,)``.
    """

    noisy: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    row_weight: torch.Tensor
    u: torch.Tensor

    def to(self, device) -> MaskedExamples:
        return MaskedExamples(
            self.noisy.to(device),
            self.targets.to(device),
            self.mask.to(device),
            self.row_weight.to(device),
            self.u.to(device),
        )


def draw_examples(
    x: torch.Tensor,
    method: str,
    eps: float,
    sampler: TimeSampler | None,
    mask_id: int,
    generator: torch.Generator,
    u: torch.Tensor | None = None,
) -> MaskedExamples:
    """Draw rates and masks for clean sequences ``x`` ``(n, L)`` (float64 uniforms from ``generator``).

    ``sampler`` is the P-POTS rate law (ignored, i.e. U[0, 1], for methods without a proposal); ``u``
    may be given to reuse rates (nested variance measurements draw two mask sets at the same rates).
    Returned tensors live on the CPU.
    """
    check_method(method)
    x = x.cpu()
    n, L = x.shape
    sampler = sampler if (sampler is not None and uses_proposal(method)) else UniformTime()
    if u is None:
        u = sampler.sample(n, generator).cpu()
    w = torch.as_tensor(sampler.weight(u.numpy()), dtype=torch.float64)
    pi = (eps + (1 - eps) * u).unsqueeze(1)
    U = torch.rand((n, L), dtype=torch.float64, generator=generator, device=generator.device).cpu()
    scheme = mask_scheme(method)
    if scheme == "single":
        masks = [U < pi]
    elif scheme == "mirror":
        masks = [U < pi, U > 1 - pi]
    else:
        U2 = torch.rand((n, L), dtype=torch.float64, generator=generator, device=generator.device).cpu()
        masks = [U < pi, U2 < pi]
    mask = torch.stack(masks, dim=1)  # (n, R, L)
    R = mask.shape[1]
    noisy = torch.where(
        mask, torch.full_like(mask, mask_id, dtype=torch.long), x.unsqueeze(1).expand(n, R, L)
    )
    row_weight = (w.unsqueeze(1) / (L * pi * R)).to(torch.float32).expand(n, R).contiguous()
    return MaskedExamples(noisy, x, mask, row_weight, u)


def example_losses(net: torch.nn.Module, ex: MaskedExamples) -> torch.Tensor:
    """``(n,)`` per-example estimator values (differentiable): sum over rows of weight * masked CE."""
    n, R, L = ex.noisy.shape
    logits = net(ex.noisy.reshape(n * R, L))
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(n * R * L, -1), ex.targets.unsqueeze(1).expand(n, R, L).reshape(-1), reduction="none"
    ).reshape(n, R, L)
    c = (ce * ex.mask).sum(-1)
    return (c * ex.row_weight).sum(-1)


# ------------------------------------------------------------------------------------------------
# P-POTS pre-estimation with the current network
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def pre_estimate_curve(
    net: torch.nn.Module,
    x: torch.Tensor,
    eps: float,
    grid_b: int,
    num_masks: int,
    mask_id: int,
    generator: torch.Generator,
    loss_max: float | None = 10.0,
    batch_rows: int = 8192,
) -> dict:
    r"""The paper's Monte Carlo pre-estimate of :math:`\hat w(u) = \sqrt{\hat g(u)^2 + \hat v(u)}` on
    ``paper_grid(grid_b)`` with the network ``net`` (see module docstring)."""
    grid = paper_grid(grid_b)
    a, L = x.shape
    G = grid.size
    pi = torch.as_tensor(eps + (1 - eps) * grid)
    U = torch.rand(
        (a, G, num_masks, L), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    mask = U < pi[None, :, None, None]
    targets = x[:, None, None, :].expand(a, G, num_masks, L).reshape(-1, L)
    mflat = mask.reshape(-1, L)
    noisy = torch.where(mflat, torch.full_like(targets, mask_id), targets)
    dev = next(net.parameters()).device
    was = net.training
    net.eval()
    c = []
    for s in range(0, noisy.shape[0], batch_rows):
        logits = net(noisy[s : s + batch_rows].to(dev)).to(torch.float64)
        lp = (
            torch.log_softmax(logits, -1)
            .gather(-1, targets[s : s + batch_rows].to(dev).unsqueeze(-1))
            .squeeze(-1)
        )
        c.append(torch.where(mflat[s : s + batch_rows].to(dev), -lp, torch.zeros_like(lp)).sum(-1).cpu())
    net.train(was)
    loss = torch.cat(c).reshape(a, G, num_masks) / (L * pi[None, :, None])
    if loss_max is not None:
        loss = loss.clamp(max=loss_max)
    g = loss.mean(2).mean(0).numpy()
    v = loss.var(2, unbiased=True).mean(0).numpy()
    return {"grid": grid, "g": g, "v": v, "w": np.sqrt(g**2 + v)}


def histogram_from_curve(grid: np.ndarray, w: np.ndarray, uniform_mix: float = 0.05) -> HistogramTime:
    """Histogram density on [0, 1] with bins centred on ``grid`` (edges at midpoints, 0 and 1) and
    masses proportional to ``w`` times the bin width, mixed with ``uniform_mix`` of U[0, 1]."""
    if not 0 <= uniform_mix <= 1:
        raise InvalidArgumentError(f"uniform_mix must lie in [0, 1], got {uniform_mix}")
    grid = np.asarray(grid, dtype=np.float64)
    edges = np.concatenate([[0.0], (grid[:-1] + grid[1:]) / 2, [1.0]])
    width = np.diff(edges)
    w = np.maximum(np.asarray(w, dtype=np.float64), 1e-12)
    masses = w * width / (w * width).sum()
    return HistogramTime(edges, (1 - uniform_mix) * masses + uniform_mix * width, name="p-pots[pre-estimate]")


def pre_estimate_proposal(
    net: torch.nn.Module,
    x: torch.Tensor,
    eps: float,
    grid_b: int,
    num_masks: int,
    mask_id: int,
    generator: torch.Generator,
    uniform_mix: float = 0.05,
    loss_max: float | None = 10.0,
) -> tuple[HistogramTime, dict]:
    """:func:`pre_estimate_curve` then :func:`histogram_from_curve`; returns (sampler, curve)."""
    curve = pre_estimate_curve(net, x, eps, grid_b, num_masks, mask_id, generator, loss_max)
    return histogram_from_curve(curve["grid"], curve["w"], uniform_mix), curve
