r"""The variance study behind the figures ``variance_decomposition`` and ``variance_ppots_mirror``.

Source: Jia et al., arXiv 2511.18159, Sec. 3-4.2; released code github.com/Qwen-Applications/StableDLLM
(read through the mirror ``dj614/StableDLLM``: ``LLaDA/rebuttal.py`` at commit f4c764c/1bf3d41 and the
refactored HEAD 27dde34). Everything is exact (enumeration + quadrature) except the Monte Carlo
pre-estimates, which are seeded replicates of the paper's own procedure. The figure modules only call
these functions, plot and write the data.

* :func:`estimator_table`: exact A/B/C of every estimator (standard, P-POTS optimum and paper curve, EPR
  fit on [0, 1] and on the released grid, MIRROR, two independent masks, P-POTS* + MIRROR, stratified
  rates, exact-k with uniform and optimal proposals) for one denoiser;
* :func:`eps_sweep`: A, B, C and the totals of the uniform, P-POTS-optimal, EPR and exact-k estimators as
  the rate floor eps goes to 0;
* :func:`ppots_proposals`, :func:`ppots_replicates`: what each P-POTS proposal achieves, exactly and
  from Monte Carlo pre-estimates used the released way (raw grid or EPR fit on the released grid
  sampler) or turned into our unbiased full-support histogram;
* :func:`mirror_summary`: MIRROR correlation maps and the A ratios of MIRROR and of two independent masks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from sims.estimators.decomposition import decompose_k_estimator, decompose_time_estimator
from sims.estimators.loss_table import MaskLossTable
from sims.estimators.mirror import mirror_covariance_map
from sims.estimators.moments import MaskSizeMoments
from sims.estimators.proposal import optimal_time_sampler, paper_grid, proposal_curve
from sims.estimators.rates import conditional_variance, rate_moments
from sims.estimators.time_samplers import TimeSampler, UniformTime
from sims.models.objectives import histogram_from_curve
from theory.variance.closed_forms import (
    a_term_log_slope,
    optimal_k_proposal,
    optimal_time_variance,
    uniform_time_closed_form,
)
from theory.variance.released_code import ReleasedGridTime, fit_epr, pre_estimate_curve
from theory.variance.stratified import stratified_time_variance


def estimator_row(name: str, A, B, C, total, rows, bias) -> dict:
    """One row of the estimator table (``total_per_row`` = total x rows per example: equal compute)."""
    return {
        "estimator": name,
        "A": A,
        "B": B,
        "C": C,
        "total": total,
        "rows_per_example": rows,
        "total_per_row": total * rows,
        "bias": bias,
    }


def estimator_table(mom: MaskSizeMoments, eps: float, strata: int, epr_starts: int) -> list[dict]:
    """Exact decomposition of every estimator for one denoiser's moments (rows in a fixed order)."""
    grid = paper_grid(70)
    epr = fit_epr(grid, proposal_curve(mom, eps, grid, "paper"), n_starts=epr_starts, seed=0)
    specs = [
        ("standard (uniform t)", UniformTime(), "single"),
        ("P-POTS optimal p*", optimal_time_sampler(mom, eps), "single"),
        ("P-POTS paper curve", optimal_time_sampler(mom, eps, "paper"), "single"),
        ("EPR fit on [0,1]", epr.full_support_sampler(), "single"),
        ("EPR fit, released grid", epr.released_sampler(), "single"),
        ("MIRROR", UniformTime(), "mirror"),
        ("two indep. masks", UniformTime(), "pair"),
        ("P-POTS* + MIRROR", optimal_time_sampler(mom, eps, masks="mirror"), "mirror"),
    ]
    rows = []
    for name, sampler, masks in specs:
        d = decompose_time_estimator(mom, eps, sampler, masks, name=name)
        rows.append(estimator_row(name, d.A, d.B, d.C, d.total, d.rows_per_example, d.bias))
    st = stratified_time_variance(mom, eps, strata, "independent")
    rows.append(estimator_row(f"stratified t (n={strata})", st.A, st.B, st.C, st.total, 1, rows[0]["bias"]))
    k = decompose_k_estimator(mom)
    rows.append(estimator_row("exact-k (L/k weight)", k.A, k.B, k.C, k.total, 1, k.bias))
    ko = decompose_k_estimator(mom, optimal_k_proposal(mom))
    rows.append(estimator_row("exact-k, optimal r_k", ko.A, ko.B, ko.C, ko.total, 1, ko.bias))
    return rows


def denoiser_summary(mom: MaskSizeMoments, eps: float, strata: int, epr_starts: int) -> dict:
    """The estimator table plus the reference quantities of one denoiser."""
    return {
        "estimators": estimator_table(mom, eps, strata, epr_starts),
        "ar_loss_variance_true_model": mom.ar_loss_variance(),
        "nelbo_per_token": mom.nelbo_per_token(),
        "entropy_per_token": float(-(mom.prob @ mom.log_q)) / mom.length,
        "a_slope": a_term_log_slope(mom),
    }


def eps_sweep(mom: MaskSizeMoments, eps_grid: Sequence[float], epr_starts: int) -> dict:
    """A, B, C, total of the uniform estimator (closed form) and the P-POTS-optimal, EPR (fitted once at
    eps = 1e-3) and exact-k totals for every eps in ``eps_grid``; the predicted slope of A."""
    grid = paper_grid(70)
    epr = fit_epr(grid, proposal_curve(mom, 1e-3, grid, "paper"), n_starts=epr_starts, seed=0)
    out = {
        "eps": list(eps_grid),
        "A": [],
        "B": [],
        "C": [],
        "total": [],
        "ppots_opt": [],
        "epr_fixed": [],
        "slope": a_term_log_slope(mom),
        "k_form": decompose_k_estimator(mom).total,
    }
    epr_sampler = epr.full_support_sampler()
    for e in eps_grid:
        d = uniform_time_closed_form(mom, e)
        for key in ("A", "B", "C", "total"):
            out[key].append(getattr(d, key))
        out["ppots_opt"].append(optimal_time_variance(mom, e))
        out["epr_fixed"].append(decompose_time_estimator(mom, e, epr_sampler).total)
    out["eps0"] = uniform_time_closed_form(mom, 0.0).to_dict()
    return out


def _dec(mom: MaskSizeMoments, eps: float, sampler: TimeSampler, masks: str = "single") -> dict:
    d = decompose_time_estimator(mom, eps, sampler, masks)
    return {"total_per_row": d.total_per_row, "A": d.A, "B": d.B, "C": d.C, "bias": d.bias}


def ppots_proposals(mom: MaskSizeMoments, eps: float, epr_starts: int) -> dict:
    """The exact P-POTS proposals and what each achieves: ``{"samplers", "results", "epr"}``."""
    grid = paper_grid(70)
    epr = fit_epr(grid, proposal_curve(mom, eps, grid, "paper"), n_starts=epr_starts, seed=0)
    samplers = {
        "uniform": UniformTime(),
        "exact p*": optimal_time_sampler(mom, eps),
        "paper curve": optimal_time_sampler(mom, eps, "paper"),
        "EPR fit, [0,1]": epr.full_support_sampler(),
        "EPR fit, released grid": epr.released_sampler(),
    }
    return {"samplers": samplers, "results": {k: _dec(mom, eps, s) for k, s in samplers.items()}, "epr": epr}


def released_head_proposal(mom: MaskSizeMoments, eps: float, b: int) -> dict:
    """The exact limit of the released HEAD P-POTS (StableDLLM 27dde34 ``fit_p_of_t``): the paper curve
    on the grid ``linspace(1/b, 1-1/b, b-1)`` used raw (no EPR fit, no uniform mix) by the grid sampler."""
    grid = paper_grid(b)
    return _dec(
        mom, eps, ReleasedGridTime(grid, proposal_curve(mom, eps, grid, "paper"), name="head raw grid")
    )


#: How a Monte Carlo pre-estimate is turned into a rate law (name -> builder from (grid, w, replicate)).
PRE_ESTIMATE_USES: dict[str, Callable] = {
    "raw grid, released sampler": lambda grid, w, r, starts: ReleasedGridTime(grid, w),
    "EPR fit, released sampler": lambda grid, w, r, starts: fit_epr(
        grid, w, n_starts=starts, seed=r
    ).released_sampler(),
    "histogram [0,1] (ours)": lambda grid, w, r, starts: histogram_from_curve(grid, w, 0.05),
}


def ppots_replicates(
    table: MaskLossTable,
    mom: MaskSizeMoments,
    eps: float,
    b: int,
    num_x: int,
    num_masks: int,
    generators: Sequence[torch.Generator],
    epr_starts: int,
    uses: Sequence[str] = tuple(PRE_ESTIMATE_USES),
    progress: Callable = iter,
) -> dict:
    """Monte Carlo pre-estimates (one per generator) with the paper's procedure, and the exact variance
    and bias each achieves when used in each way of :data:`PRE_ESTIMATE_USES`.

    Returns ``{"curves": (R, b-1) normalised on the grid, "raw": {use: [per replicate]},
    "summary": {use: {"total_per_row": (mean, sd), "bias": (mean, sd)}}}``.
    """
    grid = paper_grid(b)
    raw = {u: [] for u in uses}
    curves = []
    for r, g in progress(list(enumerate(generators))):
        est = pre_estimate_curve(table, eps, grid, num_x, num_masks, g)
        curves.append(est["w"] / np.trapezoid(est["w"], grid))
        for use in uses:
            raw[use].append(_dec(mom, eps, PRE_ESTIMATE_USES[use](grid, est["w"], r, epr_starts)))
    summary = {
        k: {
            m: (float(np.mean([d[m] for d in v])), float(np.std([d[m] for d in v], ddof=1)))
            for m in ("total_per_row", "bias")
        }
        for k, v in raw.items()
    }
    return {"grid": grid, "curves": np.array(curves), "raw": raw, "summary": summary}


def mirror_summary(mom: MaskSizeMoments, eps: float, num_cells: int = 200) -> dict:
    """MIRROR: q-weighted mean correlation and fraction of x with positive covariance per u-cell, the
    overall positive fraction, and A for one mask, two independent masks and a MIRROR pair."""
    cmap = mirror_covariance_map(mom, eps, num_cells=num_cells)
    with np.errstate(invalid="ignore"):
        corr = np.nansum(mom.prob[:, None] * np.nan_to_num(cmap.corr), 0)
    pos = (mom.prob[:, None] * (cmap.cov > 1e-12 * np.abs(cmap.cov).max())).sum(0)
    return {
        "u": cmap.u.tolist(),
        "mean_corr": corr.tolist(),
        "positive_fraction_by_u": pos.tolist(),
        "fraction_positive": cmap.fraction_positive,
        "by_bin": cmap.fraction_positive_by_bin,
        "A_single": decompose_time_estimator(mom, eps).A,
        "A_pair": decompose_time_estimator(mom, eps, masks="pair").A,
        "A_mirror": decompose_time_estimator(mom, eps, masks="mirror").A,
    }


def conditional_variance_curves(mom: MaskSizeMoments, eps: float, num_cells: int = 200) -> dict:
    """:math:`E_x \\mathrm{Var}(\\text{estimator} \\mid x, u)` at cell midpoints for each mask scheme."""
    u_mid = (np.arange(num_cells) + 0.5) / num_cells
    rm = rate_moments(mom, eps, u_mid, mirror=True)
    return {
        "u": u_mid.tolist(),
        **{k: (mom.prob @ conditional_variance(rm, k)).tolist() for k in ("single", "pair", "mirror")},
    }
