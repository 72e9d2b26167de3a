r"""The studies behind the figures ``variance_estimators`` and ``variance_gradient`` (exact throughout).

Source: Jia et al., arXiv 2511.18159, Sec. 4.3-4.6 (ISAD, SyRM, StraTS, bin-wise EMA; third-party
extraction) and the reviewers' request for gradient variance; released code StableDLLM (``LLaDA-04``,
commit 13ac449). Each function returns plain dicts ready for strict JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sims.estimators.decomposition import (
    VarianceDecomposition,
    decompose_k_estimator,
    decompose_time_estimator,
)
from sims.estimators.loss_table import MaskLossTable
from sims.estimators.moments import MaskSizeMoments, mask_size_moments
from sims.estimators.position_table import PositionLossTable
from sims.estimators.proposal import optimal_time_sampler
from sims.estimators.time_samplers import UniformTime
from theory.variance.closed_forms import optimal_k_proposal
from theory.variance.control_variate import ema_control_variate, released_ema_gradient_gap
from theory.variance.gradient import (
    decompose_k_gradient,
    decompose_time_gradient,
    gradient_moments,
    gradient_optimal_time_sampler,
)
from theory.variance.isad import isad_decomposition, rarest_token
from theory.variance.parametric import LogLinearDenoiser, gradient_table, log_linear_log_probs
from theory.variance.stratified import strats_mean_variance
from theory.variance.syrm import (
    exact_position_table,
    optimum_shift,
    syrm_parts,
    template_log_joint,
    theorem1_brute_force,
    theorem1_formula,
)


def _abc(d: VarianceDecomposition) -> dict:
    return {
        "A": d.A,
        "B": d.B,
        "C": d.C,
        "total": d.total,
        "total_per_row": d.total_per_row,
        "mean": d.mean,
        "bias": d.bias,
    }


def isad_study(table: PositionLossTable, eps: float, deltas: Sequence[float]) -> dict:
    """Exact mean, bias against the standard estimator and A/B/C of ISAD and of its likelihood-ratio
    correction for each Delta, with the rarest token as the "delimiter" id."""
    rare = [rarest_token(table)]
    std = isad_decomposition(table, eps, variant="standard")
    rows = []
    for delta in deltas:
        isad = isad_decomposition(table, eps, rare, delta, "isad")
        lr = isad_decomposition(table, eps, rare, delta, "lr")
        rows.append(
            {
                "delta": delta,
                "isad": _abc(isad),
                "lr": _abc(lr),
                "isad_minus_standard_mean": isad.mean - std.mean,
                "lr_minus_standard_mean": lr.mean - std.mean,
            }
        )
    return {"rare_ids": rare, "standard": _abc(std), "rows": rows}


def syrm_study(
    noises: Sequence[float], vocab_size: int, shift_vocab_size: int, eps: float, seed: int
) -> dict:
    """SyRM on the template language for each syntax-noise level: Thm 4 parts (exact conditionals), A and
    A / mean^2 for the response-only and response + syntax eligible sets, and the Thm 5-6 optimum shift of
    the log-linear model (vocabulary ``shift_vocab_size``)."""
    R, C = [1, 2, 3], [4]
    rows = []
    for noise in noises:
        table = exact_position_table(template_log_joint(vocab_size, noise, seed), vocab_size, 5)
        parts = syrm_parts(table, R, C)
        dec = {
            name: decompose_time_estimator(mask_size_moments(table.restrict(E)), eps)
            for name, E in (("response", R), ("response+syntax", R + C))
        }
        small = exact_position_table(template_log_joint(shift_vocab_size, noise, seed), shift_vocab_size, 5)
        rows.append(
            {
                "syntax_noise": noise,
                "parts": {**parts.__dict__, "identity_gap": parts.identity_gap},
                "eligible": {
                    k: {**_abc(d), "A_over_mean2": d.A / d.mean**2, "total_over_mean2": d.total / d.mean**2}
                    for k, d in dec.items()
                },
                "optimum_shift": optimum_shift(small, R, C, segment_points=5).to_dict(),
            }
        )
    return {"response": R, "syntax": C, "prompt": [0], "rows": rows, "theorem1": theorem1_check(seed)}


def theorem1_check(seed: int, values: int = 6, positions: int = 4, t: float = 0.3) -> dict:
    """SyRM Thm 1 on a seeded discrete law of Y (``values`` points in R^positions): brute force against the
    formula with covariances and with correlations in place of rho_ij."""
    rng = np.random.default_rng(seed)
    y, p = rng.normal(size=(values, positions)) + 1.0, rng.dirichlet(np.ones(values))
    mu = p @ y
    cov = (y - mu).T @ np.diag(p) @ (y - mu)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    return {
        "t": t,
        "brute_force": theorem1_brute_force(y, p, t),
        "formula_covariance": theorem1_formula(mu, np.diag(cov), cov, t),
        "formula_correlation": theorem1_formula(mu, np.diag(cov), corr, t),
    }


def control_variate_study(mom: MaskSizeMoments, eps: float, num_bins: int, eta: float) -> dict:
    """The released bin-wise EMA control variate: exact loss-value variances, and the gradient gap of the
    released construction on a small batch of the log-linear model (exactly 0)."""
    model = LogLinearDenoiser.random(3, 4, 0.3, seed=1)
    x = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2]])
    noisy = torch.where(torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]]).bool(), 3, x)

    def losses(theta):
        lp = log_linear_log_probs(theta, noisy, 3)
        return -(lp.gather(-1, x.unsqueeze(-1)).squeeze(-1) * (noisy == 3)).sum(1)

    gen = torch.Generator().manual_seed(0)
    baseline = torch.rand(num_bins, dtype=torch.float64, generator=gen)
    c = torch.rand(num_bins, dtype=torch.float64, generator=gen)
    gap = released_ema_gradient_gap(
        losses, model.theta, torch.tensor([0, num_bins // 2, num_bins - 1]), baseline, c
    )
    return {**ema_control_variate(mom, eps, num_bins, eta).to_dict(), "gradient_gap": gap}


def strats_study(mom: MaskSizeMoments, eps: float, cases: Sequence[tuple[int, int]]) -> list[dict]:
    """StraTS: exact variance of the batch mean against the extraction's formula for (strata, per stratum)."""
    return [strats_mean_variance(mom, eps, k, r).to_dict() for k, r in cases]


def gradient_study(mtable: MaskLossTable, model: LogLinearDenoiser, eps: float) -> dict:
    """Loss and gradient (tr Cov) A/B/C of each estimator for one parametric model (``mtable`` is the model's
    own raw loss table), side by side; reductions are per row (equal compute) against the standard one."""
    mom = mask_size_moments(mtable)
    gm = gradient_moments(gradient_table(model, mtable), mtable.prob.numpy())
    specs = {
        "standard": (UniformTime(), "single"),
        "P-POTS (loss-optimal)": (optimal_time_sampler(mom, eps), "single"),
        "P-POTS (gradient-optimal)": (gradient_optimal_time_sampler(gm, eps), "single"),
        "MIRROR": (UniformTime(), "mirror"),
        "two indep. masks": (UniformTime(), "pair"),
        "P-POTS* + MIRROR": (optimal_time_sampler(mom, eps, masks="mirror"), "mirror"),
    }
    out = {}
    for name, (sampler, masks) in specs.items():
        out[name] = {
            "loss": _abc(decompose_time_estimator(mom, eps, sampler, masks)),
            "gradient": _abc(decompose_time_gradient(gm, eps, sampler, masks)),
        }
    for name, prop in (("exact-k", None), ("exact-k, optimal r_k", optimal_k_proposal(mom))):
        out[name] = {
            "loss": _abc(decompose_k_estimator(mom, prop)),
            "gradient": _abc(decompose_k_gradient(gm, prop)),
        }
    for v in out.values():
        for kind in ("loss", "gradient"):
            v[kind]["reduction_vs_standard"] = out["standard"][kind]["total"] / v[kind]["total_per_row"]
    return {"estimators": out, "num_parameters": int(model.theta.numel())}
