"""P-POTS proposals and MIRROR correlations, exactly (Jia et al., arXiv 2511.18159, Sec. 4.1-4.2).

Figure ``variance_ppots_mirror.png`` (data ``.json``), ``ngram2`` at L = 5, eps = 1e-3:

(a) u-densities: the exact variance-optimal p*(u) ~ sqrt(E_x M2(x,u)); the exact limit of the paper's
    pre-estimate sqrt(gbar^2 + vbar); the paper's EPR family fitted by us to that curve (the paper's own
    fitted constants are not used); the Monte Carlo pre-estimate with the paper's setting (15 sequences,
    grid linspace(1/70, 1-1/70, 69), 15 masks, losses clamped at 10; median and 10-90% band over
    replicates, each normalised on the grid like the released code).
(b) exact variance (per row) and exact bias achieved by each proposal: exact curves, and for the Monte
    Carlo pre-estimates the mean and standard deviation over replicates of (i) the released grid sampler
    on the raw estimate (StableDLLM HEAD fallback), (ii) the EPR fit used on the released grid
    (``rebuttal.py``), (iii) our full-support histogram (unbiased).
(c) MIRROR: q-weighted mean of Corr(l1, l2 | x, u) and the fraction of sequences x with positive
    covariance, versus u, for the oracle, a perturbed oracle and the trained quick MDM.
(d) conditional variance E_x Var(estimator | x, u) for one mask, two independent masks and a MIRROR pair.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.models.cache import get_trained
from sims.models.experiments import TRAINING_SUITES
from sims.models.objectives import histogram_from_curve
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import atomic_write_text
from sims.sweep import cell_seed
from theory import variance as tv

DESCRIPTION = "P-POTS densities (exact, paper curve, EPR fit, MC pre-estimate) and MIRROR correlations"
#: loads the model that ``training_curves`` trains into the shared cache (standard, seed 0)
DEPENDS_ON = ("training_curves",)

PRESETS = {
    "quick": {
        "language": "ngram2",
        "length": 5,
        "eps": 1e-3,
        "replicates": 8,
        "epr_starts": 5,
        "pre": {"b": 70, "num_x": 15, "num_masks": 15},
    },
    "full": {
        "language": "ngram2",
        "length": 6,
        "eps": 1e-3,
        "replicates": 40,
        "epr_starts": 20,
        "pre": {"b": 70, "num_x": 15, "num_masks": 15},
    },
}


def _norm_grid(grid, w):
    return w / np.trapezoid(w, grid)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    lang = make_language(cfg["language"])
    L, eps = cfg["length"], cfg["eps"]
    oracle = OracleDenoiser(lang)
    table = tv.mask_loss_table(lang, oracle, L)
    mom = tv.mask_size_moments(table)
    grid = tv.paper_grid(cfg["pre"]["b"])
    u_plot = np.geomspace(1e-4, 1 - 1e-4, 400)
    exact_p = tv.optimal_time_sampler(mom, eps)
    paper_p = tv.optimal_time_sampler(mom, eps, "paper")
    epr = tv.fit_epr(grid, tv.proposal_curve(mom, eps, grid, "paper"), n_starts=cfg["epr_starts"], seed=0)

    def dec(sampler, masks="single"):
        d = tv.decompose_time_estimator(mom, eps, sampler, masks)
        return {"total_per_row": d.total_per_row, "A": d.A, "B": d.B, "C": d.C, "bias": d.bias}

    proposals = {
        "uniform": dec(tv.UniformTime()),
        "exact p*": dec(exact_p),
        "paper curve": dec(paper_p),
        "EPR fit, [0,1]": dec(epr.full_support_sampler()),
        "EPR fit, released grid": dec(epr.released_sampler()),
    }
    # Monte Carlo pre-estimates (the paper's procedure) and what they achieve
    reps = {"raw grid, released sampler": [], "EPR fit, released sampler": [], "histogram [0,1] (ours)": []}
    curves = []
    it = range(cfg["replicates"])
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="pre-estimate replicates", leave=False)
    for r in it:
        g = make_generator(cell_seed(f"ppots-pre|{preset}", r))
        est = tv.pre_estimate_curve(table, eps, grid, cfg["pre"]["num_x"], cfg["pre"]["num_masks"], g)
        curves.append(_norm_grid(grid, est["w"]))
        reps["raw grid, released sampler"].append(dec(tv.ReleasedGridTime(grid, est["w"])))
        fit = tv.fit_epr(grid, est["w"], n_starts=cfg["epr_starts"], seed=r)
        reps["EPR fit, released sampler"].append(dec(fit.released_sampler()))
        reps["histogram [0,1] (ours)"].append(dec(histogram_from_curve(grid, est["w"], 0.05)))
    curves = np.array(curves)
    rep_summary = {
        k: {
            m: (float(np.mean([d[m] for d in v])), float(np.std([d[m] for d in v], ddof=1)))
            for m in ("total_per_row", "bias")
        }
        for k, v in reps.items()
    }
    # MIRROR correlation maps and conditional variances
    trained_cfg = next(
        c
        for c in TRAINING_SUITES[preset].configs()
        if c.kind == "mdm" and c.method == "standard" and c.seed == 0
    )
    dens = {"oracle": mom}
    for name, den in (
        ("perturbed oracle (T=1.5, mix 0.05)", PerturbedDenoiser(oracle, 1.5, 0.05)),
        ("trained MDM (standard, seed 0)", get_trained(trained_cfg, progress=progress).denoiser()),
    ):
        dens[name] = tv.mask_size_moments(tv.mask_loss_table(lang, den, L))
    mirror = {}
    for name, m in dens.items():
        cmap = tv.mirror_covariance_map(m, eps, num_cells=200)
        with np.errstate(invalid="ignore"):
            corr = np.nansum(m.prob[:, None] * np.nan_to_num(cmap.corr), 0)
        pos = (m.prob[:, None] * (cmap.cov > 1e-12 * np.abs(cmap.cov).max())).sum(0)
        mirror[name] = {
            "u": cmap.u.tolist(),
            "mean_corr": corr.tolist(),
            "positive_fraction_by_u": pos.tolist(),
            "fraction_positive": cmap.fraction_positive,
            "by_bin": cmap.fraction_positive_by_bin,
            "A_single": tv.decompose_time_estimator(m, eps).A,
            "A_pair": tv.decompose_time_estimator(m, eps, masks="pair").A,
            "A_mirror": tv.decompose_time_estimator(m, eps, masks="mirror").A,
        }
    u_mid = (np.arange(200) + 0.5) / 200
    rm = tv.rate_moments(mom, eps, u_mid, mirror=True)
    condvar = {k: (mom.prob @ tv.conditional_variance(rm, k)).tolist() for k in ("single", "pair", "mirror")}
    data = {
        "language": cfg["language"],
        "length": L,
        "eps": eps,
        "pre_estimate_setting": cfg["pre"],
        "replicates": cfg["replicates"],
        "epr_params_exact_curve": epr.params,
        "epr_kl": epr.kl,
        "proposals_exact": proposals,
        "pre_estimate_replicates": rep_summary,
        "pre_estimate_replicates_raw": reps,
        "densities": {
            "u": u_plot.tolist(),
            "exact p*": exact_p.density(u_plot).tolist(),
            "paper curve": paper_p.density(u_plot).tolist(),
            "EPR fit": epr.full_support_sampler().density(u_plot).tolist(),
            "grid": grid.tolist(),
            "pre_estimate_normalised": curves.tolist(),
        },
        "mirror": mirror,
        "conditional_variance": {"u": u_mid.tolist(), **condvar},
        "conventions": {
            "rate": "pi(u) = eps + (1-eps) u",
            "variance": "exact, per row (x rows/example)",
            "mc": "pre-estimate replicates only (seeded)",
        },
    }
    stem = Path(out_dir) / ("variance_ppots_mirror" + ("" if preset == "quick" else f"_{preset}"))
    atomic_write_text(stem.with_suffix(".json"), json.dumps(data, indent=1))
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with house_style():
        fig, axes = plt.subplots(1, 4, figsize=(18, 6.2), gridspec_kw={"width_ratios": [1.1, 1.2, 1, 1]})
        ax = axes[0]
        d = data["densities"]
        pe = data["proposals_exact"]
        u = np.array(d["u"])
        ax.plot(u, d["exact p*"], label=f"exact p* (var/row {pe['exact p*']['total_per_row']:.3g})")
        ax.plot(
            u, d["paper curve"], "--", label=f"paper curve, exact ({pe['paper curve']['total_per_row']:.3g})"
        )
        ax.plot(u, d["EPR fit"], ":", label=f"EPR fit to it ({pe['EPR fit, [0,1]']['total_per_row']:.3g})")
        cur = np.array(d["pre_estimate_normalised"])
        grid = np.array(d["grid"])
        ax.plot(grid, np.median(cur, 0), color="C3", lw=0.8, label=f"MC pre-estimate, median of {len(cur)}")
        ax.fill_between(
            grid,
            np.quantile(cur, 0.1, 0),
            np.quantile(cur, 0.9, 0),
            color="C3",
            alpha=0.25,
            label="MC pre-estimate 10-90%",
        )
        ax.axhline(1.0, color="k", lw=0.6, label=f"uniform ({pe['uniform']['total_per_row']:.3g})")
        ax.set_xscale("log")
        ax.set_xlabel("rate variable u (mask prob. eps + (1-eps) u)")
        ax.set_ylabel("density p(u)")
        ax.set_title("(a) P-POTS proposals (oracle)")
        ax.legend(fontsize=6)
        ax = axes[1]
        names, vals, errs, biases = [], [], [], []
        for k, v in pe.items():
            names.append(f"{k} (exact)")
            vals.append(v["total_per_row"])
            errs.append(0)
            biases.append(v["bias"])
        for k, v in data["pre_estimate_replicates"].items():
            names.append(f"MC pre-est.: {k}")
            vals.append(v["total_per_row"][0])
            errs.append(v["total_per_row"][1])
            biases.append(v["bias"][0])
        y = np.arange(len(names))[::-1]
        ax.barh(y, vals, xerr=errs, color=["C0"] * len(pe) + ["C3"] * (len(names) - len(pe)), capsize=2)
        for yi, v, b in zip(y, vals, biases):
            ax.text(
                v,
                yi,
                f"  {v:.3g}" + (f" (bias {b:+.2g})" if abs(b) > 1e-3 else ""),
                va="center",
                fontsize=6.5,
            )
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xlim(0, 1.45 * max(vals))
        ax.set_xlabel("exact variance per row (nats/token)^2; MC: mean +- s.d. over replicates")
        ax.set_title(f"(b) what each proposal achieves (eps={data['eps']:g})")
        ax = axes[2]
        for i, (name, m) in enumerate(data["mirror"].items()):
            ax.plot(
                m["u"],
                m["mean_corr"],
                color=f"C{i}",
                label=f"{name}: E_x corr; A ratio mirror/single {m['A_mirror'] / m['A_single']:.2f}",
            )
            ax.plot(
                m["u"],
                m["positive_fraction_by_u"],
                color=f"C{i}",
                ls=":",
                label=f"  fraction of x with cov>0 (overall {m['fraction_positive']:.2g})",
            )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("rate variable u")
        ax.set_ylabel("correlation / fraction")
        ax.set_title("(c) MIRROR: Corr(l1, l2 | x, u)")
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
        ax = axes[3]
        cv = data["conditional_variance"]
        for k, lab in (("single", "one mask"), ("pair", "two independent masks"), ("mirror", "MIRROR pair")):
            ax.plot(cv["u"], cv[k], label=lab)
        ax.set_yscale("log")
        ax.set_xlabel("rate variable u")
        ax.set_ylabel("E_x Var(estimator | x, u) (oracle)")
        ax.set_title("(d) masking-pattern variance per example")
        ax.legend(fontsize=7)
        fig.suptitle(f"P-POTS and MIRROR, exact ({data['language']}, L={data['length']})")
        fig.tight_layout()
        return save_figure(fig, path)
