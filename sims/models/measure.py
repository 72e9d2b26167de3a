r"""Measurements on trained networks: validation NELBO / NLL and loss- and gradient-variance during training.

Validation NELBO (per token, nats)
----------------------------------
* :func:`exact_nelbo`: :math:`E_{x\sim q}[\sum_k \mu_k(x)/k]/L` by enumerating the support and all masks
  (:func:`sims.estimators.mask_loss_table`); exact, small L only.
* :func:`mc_nelbo`: on a fixed validation set, every sequence gets, for each k = 1..L, one mask of
  exactly k uniformly chosen positions, and :math:`\sum_k c(x,m_k)/k` is an unbiased estimate of its
  sequence NELBO (exact-k form, stratified over k). The mean over the set is reported with its standard
  error (which contains both data and mask noise). The masks come from a fixed seed, so different models
  are compared with common random numbers.
* :func:`ar_nll`: the exact per-token NLL of an autoregressive model on the same set.

Variance during training (:func:`measure_estimator_variance`)
-------------------------------------------------------------
Nested draws at the current parameters: per data sequence x, a rate :math:`u_1` with two independent
mask draws (estimator values a, a'), and a second rate :math:`u_2` with one mask draw (b). With G the
per-example gradient,

* total :math:`= \mathrm{tr\,Cov}(G_a)`, A :math:`= E\|G_a - G_{a'}\|^2/2`,
  C :math:`= \mathrm{tr\,Cov}(G_a, G_b)`, B = total - A - C (law of total variance, as in
  :mod:`sims.estimators.decomposition`; each term is an unbiased estimate, B can come out slightly
  negative by noise),

and the same for the scalar loss. What one "estimate" is: one data sequence's training-loss value
:math:`\ell` exactly as in training (:func:`sims.models.objectives.example_losses`: MIRROR's pair averaged,
one example of 2 rows; P-POTS weighted by 1/p(u)), so ``loss_total`` estimates the exact
:math:`A + B + C` of :func:`sims.estimators.decompose_time_estimator` for the same mask scheme and rate law
(unbiased sample variance, per token).

``loss_total_se`` is the plug-in delta-method standard error :math:`\sqrt{(\hat m_4 - s^4)/n}`. It is NOT a
valid yardstick near the floor: there :math:`E[\ell^4] = O(1/\varepsilon^2)` comes from rare small-rate
draws that a sample of :math:`n \ll 1/(L\varepsilon^2)` examples almost never contains, so the plug-in SE is
far too small and falls together with :math:`s^2` (unbiased, but right-skewed: its median lies well below
A + B + C). Compare a measurement with the exact value in units of the EXACT standard error of the
n-example sample variance, :func:`sims.estimators.sample_variance_law` (Jia et al., arXiv 2511.18159, Sec. 3
for A + B + C; Var of a sample variance from the fourth central moment).

Per-example gradients use ``torch.func`` (vmap of grad), accumulated
in chunks so memory stays bounded. ``per_row`` values multiply by the rows per example (equal-compute
comparison: the variance of a batch mean over R rows is ``per_row / R``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.func import functional_call, grad, vmap

from sims.denoisers.base import Denoiser
from sims.estimators import (
    TimeSampler,
    UniformTime,
    decompose_k_estimator,
    decompose_time_estimator,
    mask_loss_table,
    mask_size_moments,
    mirror_covariance_map,
    optimal_time_sampler,
)
from sims.exact import all_sequences, exact_log_joint
from sims.languages.base import Language
from sims.metrics import MeanEstimate, mean_estimate
from sims.models.denoiser import ARModel
from sims.models.objectives import ROWS_PER_EXAMPLE, MaskedExamples, draw_examples, example_losses
from sims.validation import InvalidArgumentError


def exact_nelbo(
    language: Language,
    denoiser: Denoiser,
    length: int,
    eps: float | None = None,
    own_sampler: TimeSampler | None = None,
    own_masks: str = "single",
) -> dict:
    """Exact per-token NELBO, the exact entropy H(q)/L and their gap (nats/token), by enumeration.

    With ``eps`` given, also the exact A/B/C decomposition (:mod:`sims.estimators`) of the training
    estimators on the denoiser's own conditionals: ``standard``, ``mirror``, ``pair`` (uniform u),
    ``ppots_opt`` / ``ppots_opt_mirror`` (variance-optimal u-density for single / MIRROR masks) and
    ``k_form``, plus the fraction of (x, u) cells where the MIRROR losses correlate positively, and
    ``own``: the estimator actually used in training (rate law ``own_sampler``, default uniform, and mask
    scheme ``own_masks``).
    """
    table = mask_loss_table(language, denoiser, length)
    mom = mask_size_moments(table, mirror=eps is not None)
    nelbo = mom.nelbo_per_token()
    h = float(-(mom.prob @ mom.log_q)) / length
    out = {"nelbo": nelbo, "entropy": h, "gap": nelbo - h, "method": "exact enumeration"}
    if eps is not None:
        dec = {
            "standard": decompose_time_estimator(mom, eps, UniformTime(), "single"),
            "mirror": decompose_time_estimator(mom, eps, UniformTime(), "mirror"),
            "pair": decompose_time_estimator(mom, eps, UniformTime(), "pair"),
            "ppots_opt": decompose_time_estimator(mom, eps, optimal_time_sampler(mom, eps), "single"),
            "ppots_opt_mirror": decompose_time_estimator(
                mom, eps, optimal_time_sampler(mom, eps, masks="mirror"), "mirror"
            ),
            "k_form": decompose_k_estimator(mom),
            "own": decompose_time_estimator(mom, eps, own_sampler or UniformTime(), own_masks),
        }
        out["decomposition"] = {k: v.to_dict() for k, v in dec.items()}
        out["mirror_positive_fraction"] = mirror_covariance_map(mom, eps, num_cells=100).fraction_positive
    return out


def exact_k_masks(num: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``(num, L, L)`` bool: for every row and k = 1..L (axis 1), a mask of exactly k uniform positions."""
    scores = torch.rand(
        (num, length, length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    rank = scores.argsort(-1).argsort(-1)
    k = torch.arange(1, length + 1).reshape(1, length, 1)
    return rank < k


@torch.no_grad()
def mc_nelbo_per_sequence(
    denoiser: Denoiser, x: torch.Tensor, masks: torch.Tensor, batch_rows: int = 8192
) -> torch.Tensor:
    """``(n,)`` unbiased per-token NELBO estimates of validation sequences ``x`` ``(n, L)`` with the exact-k
    masks of :func:`exact_k_masks`."""
    n, L = x.shape
    V = denoiser.vocab_size
    toks = x.unsqueeze(1).expand(n, L, L).reshape(-1, L)
    mk = masks.reshape(-1, L)
    vals = []
    for s in range(0, toks.shape[0], batch_rows):
        t, m = toks[s : s + batch_rows], mk[s : s + batch_rows]
        lp = denoiser(torch.where(m, torch.full_like(t, V), t)).log_probs.to(t.device)
        tok = lp.gather(-1, t.unsqueeze(-1)).squeeze(-1)
        vals.append(torch.where(m, -tok, torch.zeros_like(tok)).sum(-1))
    c = torch.cat(vals).reshape(n, L)
    return (c / torch.arange(1, L + 1, dtype=torch.float64)).sum(1) / L


def mc_nelbo(
    denoiser: Denoiser, x: torch.Tensor, masks: torch.Tensor, batch_rows: int = 8192
) -> MeanEstimate:
    """Mean per-token NELBO over the validation set with its standard error (data + mask noise)."""
    return mean_estimate(mc_nelbo_per_sequence(denoiser, x, masks, batch_rows))


@torch.no_grad()
def ar_nll(model: ARModel, x: torch.Tensor) -> MeanEstimate:
    """Exact per-token NLL of each validation sequence under ``model``; mean and data standard error."""
    return mean_estimate(-model.log_prob(x) / x.shape[1])


@torch.no_grad()
def exact_ar_nll(language: Language, model: ARModel, length: int) -> dict:
    """Exact :math:`E_q[-\\log p_\\theta(x)]/L` over the enumerated support, entropy and gap."""
    lj = exact_log_joint(language, length).cpu()
    sup = torch.isfinite(lj)
    x = all_sequences(language.vocab_size, length)[sup]
    q = torch.exp(lj[sup])
    nll = float(-(q * model.log_prob(x).cpu()).sum()) / length
    h = float(-(q * lj[sup]).sum()) / length
    return {"nll": nll, "entropy": h, "gap": nll - h, "method": "exact enumeration"}


# ------------------------------------------------------------------------------------------------
# Loss and gradient variance
# ------------------------------------------------------------------------------------------------
@dataclass
class VarianceMeasurement:
    """Monte Carlo A/B/C split of the per-example loss and gradient variance (see module docstring)."""

    method: str
    num_examples: int
    rows_per_example: int
    loss_total: float
    loss_A: float
    loss_B: float
    loss_C: float
    loss_mean: float
    loss_total_se: float
    grad_total: float
    grad_A: float
    grad_B: float
    grad_C: float
    grad_mean_sqnorm: float

    @property
    def grad_total_per_row(self) -> float:
        return self.grad_total * self.rows_per_example

    @property
    def loss_total_per_row(self) -> float:
        return self.loss_total * self.rows_per_example

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "grad_total_per_row": self.grad_total_per_row,
            "loss_total_per_row": self.loss_total_per_row,
        }


def per_example_gradients(net: torch.nn.Module, ex: MaskedExamples, device=None, chunk: int = 32):
    """Yield ``(loss (c,), flat gradients (c, P))`` float64 per chunk of examples (vmap of grad; parameter
    order of ``net.named_parameters()``)."""
    device = device or next(net.parameters()).device
    params = {k: v.detach() for k, v in net.named_parameters()}

    def one(p, noisy, targets, mask, weight):
        e = MaskedExamples(
            noisy.unsqueeze(0), targets.unsqueeze(0), mask.unsqueeze(0), weight.unsqueeze(0), None
        )
        return example_losses(lambda z: functional_call(net, p, (z,)), e)[0]

    g_fn = vmap(grad(one, has_aux=False), in_dims=(None, 0, 0, 0, 0))
    n = ex.noisy.shape[0]
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        args = (
            ex.noisy[sl].to(device),
            ex.targets[sl].to(device),
            ex.mask[sl].to(device),
            ex.row_weight[sl].to(device),
        )
        with torch.no_grad():
            loss = example_losses(net, MaskedExamples(*args, None))
        grads = g_fn(params, *args)
        flat = torch.cat([grads[k].reshape(grads[k].shape[0], -1) for k in params], dim=1)
        yield loss.double().cpu(), flat.double()


def measure_estimator_variance(
    net: torch.nn.Module,
    x: torch.Tensor,
    method: str,
    eps: float,
    sampler: TimeSampler | None,
    mask_id: int,
    generator: torch.Generator,
    chunk: int = 32,
) -> VarianceMeasurement:
    """Nested Monte Carlo loss/gradient variance of ``method`` at the current parameters of ``net``.

    ``x`` ``(n, L)`` data sequences (fresh draws from the language); rates and masks from ``generator``.
    """
    n = x.shape[0]
    if n < 2:
        raise InvalidArgumentError("need at least two examples")
    device = next(net.parameters()).device
    was = net.training
    net.eval()
    try:
        ea = draw_examples(x, method, eps, sampler, mask_id, generator)
        ea2 = draw_examples(x, method, eps, sampler, mask_id, generator, u=ea.u)
        eb = draw_examples(x, method, eps, sampler, mask_id, generator)
        sums = {"sa": 0.0, "sb": 0.0, "sqa": 0.0, "dab": 0.0, "d2": 0.0}
        ga_sum = gb_sum = None
        losses = {"a": [], "a2": [], "b": []}
        for (la, ga), (la2, ga2), (lb, gb) in zip(
            per_example_gradients(net, ea, device, chunk),
            per_example_gradients(net, ea2, device, chunk),
            per_example_gradients(net, eb, device, chunk),
        ):
            losses["a"].append(la)
            losses["a2"].append(la2)
            losses["b"].append(lb)
            ga_sum = ga.sum(0) if ga_sum is None else ga_sum + ga.sum(0)
            gb_sum = gb.sum(0) if gb_sum is None else gb_sum + gb.sum(0)
            sums["sqa"] += float((ga * ga).sum())
            sums["dab"] += float((ga * gb).sum())
            sums["d2"] += float(((ga - ga2) ** 2).sum())
    finally:
        net.train(was)
    a, a2, b = (torch.cat(losses[k]) for k in ("a", "a2", "b"))
    grad_total = (sums["sqa"] - float(ga_sum @ ga_sum) / n) / (n - 1)
    grad_C = (sums["dab"] - float(ga_sum @ gb_sum) / n) / (n - 1)
    grad_A = sums["d2"] / (2 * n)
    loss_total = float(a.var(unbiased=True))
    loss_A = float(((a - a2) ** 2).mean()) / 2
    loss_C = float(((a - a.mean()) * (b - b.mean())).sum()) / (n - 1)
    # standard error of the sample variance (delta method with the sample fourth central moment)
    m4 = float(((a - a.mean()) ** 4).mean())
    se_total = math.sqrt(max(m4 - loss_total**2, 0.0) / n)
    mean_g = ga_sum / n
    return VarianceMeasurement(
        method,
        n,
        ROWS_PER_EXAMPLE[method],
        loss_total,
        loss_A,
        loss_total - loss_A - loss_C,
        loss_C,
        float(a.mean()),
        se_total,
        grad_total,
        grad_A,
        grad_total - grad_A - grad_C,
        grad_C,
        float(mean_g @ mean_g),
    )
