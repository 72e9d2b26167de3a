"""Energy paper (Chen et al. arXiv 2509.13866, Sec. 3.3 / App. E.1): the 2-D grid search over Beta-CDF
schedules with the exact oracle denoiser at few steps, against the linear, MD4 cosine, MDLM cosine (EP "sine")
and sin^2 baselines, exactly on tiny languages and by Monte Carlo on the registry bigram.

Thin module: the computation is :mod:`theory.energy.beta_grid` (exact composition-law cells, Monte Carlo
cells, the summary). Outputs: ``energy_beta_grid.png`` (summary), ``energy_beta_grid_exact.png`` (heatmaps),
``energy_beta_grid_exact.json`` / ``energy_beta_grid_mc.json`` (+ CSV; the summary in the exact file's
``meta``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint
from sims.languages import random_hmm, random_ngram
from sims.plot_style import CALLS_LABEL, house_style, label_panels, new_figure, proxy_legend, style_for
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.schedules import BetaCDFSchedule, get_schedule
from sims.sweep import cell_seed
from theory.elbo import exact_subset_log_conditionals
from theory.energy.beta_grid import (
    BASELINES,
    GRID_SAMPLERS,
    KL_FLOOR,
    PAPER_PICKS,
    exact_grid_records,
    grid_schedules,
    grid_summary,
    mc_grid_record,
)
from theory.energy.toy import PAPER_GRID
from theory.orders import composition_laws

DESCRIPTION = (
    "Beta(a,b) schedule grid search, oracle sampler: exact KL/SER (L=7) + Monte Carlo SER (L=32) vs baselines"
)

FIGURE = FigureSpec(
    name="energy_beta_grid",
    title="Beta-CDF schedules against the baselines with the exact denoiser",
    caption="gamma = I(a, b), alpha = sin^2(pi/2 gamma) (EP time) on the paper's grid a, b in {0.1, ..., 1.0}, "
    "oracle denoiser. Samplers: MDLM ancestral (Bernoulli reveals; solid) and random-order fixed counts "
    "following the schedule (counts floor(M alpha + 1/2), cumulative; dashed). x: expected model calls (empty "
    "steps make no call). (a, b, d, e) exact (output law as a mixture over ordered partitions) on a sparse "
    "bigram and a sparse 6-state HMM (V = 3, L = 7, K = 2, 4, 7): KL(q || p) and SER of the best grid cell "
    "(selected on the exact law itself) and of the baselines; KL below 1e-8 (an exact sampler) is drawn at "
    "1e-8. (c, f) Monte Carlo on ngram2 (V = 8, L = 32, 128 samples per point, Wilson 95%): SER of the "
    "baselines and the paper's recommended Beta(0.9, 0.3), Beta(1, 0.2) and Beta(0.3, 0.9), for the ancestral "
    "(c) and fixed-count (f) samplers. One colour per schedule in every panel. The heatmaps of every grid cell "
    "are in energy_beta_grid_exact.png.",
    shows="With an exact denoiser linear is the best grid cell for the ancestral sampler at K = 4 and 7 and "
    "nearly so at K = 2; for fixed counts only the count plan matters, and the best plans reveal fewer tokens "
    "first. The paper's recommended convex schedules are worse than linear at every K >= 8 on the Monte Carlo "
    "language: no general low-step advantage without a learned model.",
    claims=(
        "energy.beta_grid_linear_best_ancestral",
        "energy.beta_grid_fixed_count_plans",
        "energy.beta_grid_baselines_worse",
        "energy.beta_grid_tie_break",
        "energy.paper_schedules_no_gain_exact_denoiser",
    ),
    caveats=(
        "The paper's LLaDA results are task-specific and use a learned model: this figure does not contradict "
        "them; it shows that the gain is not a property of the schedule alone.",
        "The paper's rule for turning a schedule into per-step counts for LLaDA is not stated (App. E.2); "
        "floor(M alpha + 1/2) is our reading.",
    ),
    oracle_fallback="uniform",
    data_file="energy_beta_grid_exact.json",
)

PRESETS = {
    "quick": {
        "exact_length": 7,
        "exact_steps": [2, 4, 7],
        "grid": list(PAPER_GRID),
        "mc_language": "ngram2",
        "mc_length": 32,
        "mc_steps": [4, 8, 16, 32],
        "mc_samples": 128,
        "mc_grid": [],
        "mc_baselines": ["linear", "cosine", "sin2"],
        "mc_extra": [(0.9, 0.3), (0.3, 0.9), (1.0, 0.2)],
        "seed": 0,
    },
    "full": {
        "exact_length": 8,
        "exact_steps": [2, 4, 8],
        "grid": list(PAPER_GRID),
        "mc_language": "ngram2",
        "mc_length": 64,
        "mc_steps": [4, 8, 16, 32],
        "mc_samples": 1024,
        "mc_grid": [0.1, 0.3, 0.5, 0.7, 0.9, 1.0],
        "mc_baselines": list(BASELINES),
        "mc_extra": [(1.0, 0.2)],
        "seed": 0,
    },
}


def exact_languages():
    """Tiny languages with exact zeros (V = 3), fully determined by their seeds."""
    return {
        "bigram_V3": random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=0),
        # 6 hidden states, 2 successors each, one token per state: 100 of the 3^7 sequences (L=7) in the
        # support, and not a product set (independent reveals can leave the support)
        "hmm_S6_V3": random_hmm(
            6,
            3,
            transition_concentration=0.5,
            emission_concentration=0.5,
            transition_support=2,
            emission_support=1,
            stationary=True,
            seed=2,
        ),
    }


def _exact(cfg, path: Path, progress: bool) -> ResultStore:
    L = cfg["exact_length"]
    langs = exact_languages()
    store = ResultStore(
        path,
        meta={
            "length": L,
            "steps": cfg["exact_steps"],
            "grid": cfg["grid"],
            "method": "exact law = mixture over ordered partitions (theory.orders)",
            "schedules": {
                "beta(a,b)": BetaCDFSchedule(0.5, 0.5).describe()["ep_convention"],
                **{n: get_schedule(n).describe() for n in BASELINES},
            },
            "languages": {k: v.describe() for k, v in langs.items()},
        },
    )
    scheds = grid_schedules(cfg["grid"])
    laws_cache = {}
    cells = [(ln, s, K) for ln in langs for s in GRID_SAMPLERS for K in cfg["exact_steps"]]
    for ln, smp, K in tqdm(cells, desc="exact Beta grid", leave=False, disable=not progress):
        todo = {n: sc for n, sc in scheds.items() if f"{ln}|{smp}|K={K}|{n}" not in store}
        if not todo:
            continue
        if ln not in laws_cache:
            lq = exact_log_joint(langs[ln], L)
            laws_cache[ln] = (lq, composition_laws(exact_subset_log_conditionals(lq, 3, L)))
        lq, laws = laws_cache[ln]
        store.records.update(exact_grid_records(ln, lq, laws, todo, smp, K, L))
        store.flush()
    return store


def _mc(cfg, path: Path, progress: bool) -> ResultStore:
    L, n = cfg["mc_length"], cfg["mc_samples"]
    store = ResultStore(
        path, meta={"language": cfg["mc_language"], "length": L, "num_samples": n, "seed": cfg["seed"]}
    )
    scheds = grid_schedules(cfg["mc_grid"], cfg["mc_baselines"], cfg["mc_extra"])
    lang = make_language(cfg["mc_language"])
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    cells = [(s, K, name) for s in GRID_SAMPLERS for K in cfg["mc_steps"] for name in scheds]
    cells = [c for c in cells if f"{c[0]}|K={c[1]}|{c[2]}" not in store]
    for smp, K, name in tqdm(cells, desc="Monte Carlo Beta grid", leave=False, disable=not progress):
        key = f"{smp}|K={K}|{name}"
        g = make_generator(cell_seed(key, cfg["seed"]))
        store.put(key, mc_grid_record(lang, oracle, smp, K, name, scheds[name], L, n, g))
    return store


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    out_dir = Path(out_dir)
    suffix = "" if preset == "quick" else f"_{preset}"
    exact = _exact(cfg, out_dir / f"energy_beta_grid_exact{suffix}.json", progress)
    mc = _mc(cfg, out_dir / f"energy_beta_grid_mc{suffix}.json", progress)
    exact.meta["summary"] = grid_summary(exact.records, mc.records)
    exact.flush()
    exact.write_csv(out_dir / f"energy_beta_grid_exact{suffix}.csv")
    mc.write_csv(out_dir / f"energy_beta_grid_mc{suffix}.csv")
    return [
        _plot_summary(exact, mc, cfg, out_dir / f"energy_beta_grid{suffix}.png"),
        _plot_exact(exact, cfg, out_dir / f"energy_beta_grid_exact{suffix}.png"),
        exact.path,
        mc.path,
        out_dir / f"energy_beta_grid_exact{suffix}.csv",
        out_dir / f"energy_beta_grid_mc{suffix}.csv",
    ]


def _plot_exact(store: ResultStore, cfg, path: Path) -> Path:
    recs = list(store.values())
    grid = cfg["grid"]
    rows = [(ln, s) for ln in sorted({r["language"] for r in recs}) for s in GRID_SAMPLERS]
    Ks = cfg["exact_steps"]
    summary = store.meta["summary"]["exact"]
    with house_style():
        fig, axes = new_figure(len(rows), len(Ks), width=10.0, height=2.75 * len(rows))
        for i, (ln, smp) in enumerate(rows):
            for j, K in enumerate(Ks):
                ax = axes[i, j]
                cell = {
                    (r["a"], r["b"]): r["metrics"]["kl_data_to_sampler"]
                    for r in recs
                    if "a" in r and (r["language"], r["sampler"], r["steps"]) == (ln, smp, K)
                }
                Z = np.array([[cell[(a, b)] for a in grid] for b in grid])  # rows b, cols a
                Zp = np.where(np.isfinite(Z), np.maximum(Z, KL_FLOOR), np.nan)
                lo, hi = np.nanmin(Zp), np.nanmax(Zp)
                im = ax.imshow(
                    Zp,
                    origin="lower",
                    extent=(0.05, 1.05, 0.05, 1.05),
                    aspect="auto",
                    cmap="viridis",
                    norm=LogNorm(lo, max(hi, lo * 1.01)),
                )
                exact_cells = np.nonzero(Z <= KL_FLOOR)
                ax.scatter(
                    np.array(grid)[exact_cells[1]],
                    np.array(grid)[exact_cells[0]],
                    marker=".",
                    s=14,
                    color="orange",
                )
                best = summary[f"{ln}|{smp}|K={K}"]
                ba, bb = (float(v) for v in best["best"][5:-1].split(","))
                ax.scatter([ba], [bb], marker="*", s=110, color="white", edgecolors="k")
                ax.scatter([0.5], [0.5], marker="o", s=40, facecolors="none", edgecolors="w", lw=1.2)
                ax.scatter([1.0], [1.0], marker="s", s=40, facecolors="none", edgecolors="w", lw=1.2)
                ax.set_title(
                    f"{ln}, {'ancestral' if smp == 'ancestral' else 'fixed counts'}, $K$ = {K}", fontsize=9
                )
                ax.set_xlabel("$a$" if i == len(rows) - 1 else "")
                ax.set_ylabel("$b$" if j == 0 else "")
                ax.grid(False)
                fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
        fig.suptitle(
            f"exact $KL(q\\Vert p)$ (nats) over the grid, $L$ = {cfg['exact_length']}, $V$ = 3; star: best cell; "
            "circle: (0.5, 0.5) = linear; square: (1, 1) = sin$^2$; orange dots: exact (KL $\\leq 10^{-8}$)",
            fontsize=9,
        )
        label_panels(axes)
        return save_figure(fig, path)


def _plot_summary(exact: ResultStore, mc: ResultStore, cfg, path: Path) -> Path:
    recs = list(exact.values())
    summary = exact.meta["summary"]
    langs = sorted({r["language"] for r in recs})
    ls = {"ancestral": "-", "fixed_count_schedule": "--"}
    best = style_for("best_beta")
    with house_style():
        fig, axes = new_figure(2, len(langs) + 1, width=10.0, height=6.8)
        for j, ln in enumerate(langs):
            for smp in GRID_SAMPLERS:
                sub = [r for r in recs if r["language"] == ln and r["sampler"] == smp]
                Ks = sorted({r["steps"] for r in sub})
                for metric, row in (("kl_data_to_sampler", 0), ("sequence_error", 1)):
                    floor = KL_FLOOR if row == 0 else 0.0
                    cells = [
                        next(
                            r
                            for r in sub
                            if r["steps"] == K
                            and r["schedule"] == summary["exact"][f"{ln}|{smp}|K={K}"]["best"]
                        )
                        for K in Ks
                    ]
                    axes[row, j].plot(
                        [r["calls"] for r in cells],
                        [max(floor, r["metrics"][metric]) for r in cells],
                        ls[smp],
                        color=best["color"],
                        marker=best["marker"],
                        ms=8,
                    )
                    for name in BASELINES:
                        st = style_for(name)
                        pts = sorted((r for r in sub if r["schedule"] == name), key=lambda r: r["steps"])
                        axes[row, j].plot(
                            [r["calls"] for r in pts],
                            [max(floor, r["metrics"][metric]) for r in pts],
                            ls[smp],
                            color=st["color"],
                            marker=st["marker"],
                        )
            axes[0, j].set_title(f"exact, {ln}")
            axes[0, j].set_yscale("log")
            axes[0, j].set_ylabel("$KL(q\\Vert p)$ (nats)")
            axes[1, j].set_ylabel("sequence error rate")
            axes[1, j].set_xlabel(CALLS_LABEL)
        mrecs = list(mc.values())
        shown = [n for n in (*BASELINES, *PAPER_PICKS) if any(r["schedule"] == n for r in mrecs)]
        for row, smp in enumerate(GRID_SAMPLERS):
            ax = axes[row, -1]
            for name in shown:
                st = style_for(name)
                pts = sorted(
                    (r for r in mrecs if r["sampler"] == smp and r["schedule"] == name),
                    key=lambda r: r["steps"],
                )
                ser = [r["quality"]["sequence_error"] for r in pts]
                ax.errorbar(
                    [r["quality"]["mean_nfe"] for r in pts],
                    [s["p"] for s in ser],
                    yerr=[[s["p"] - s["ci_low"] for s in ser], [s["ci_high"] - s["p"] for s in ser]],
                    color=st["color"],
                    marker=st["marker"],
                    ls=ls[smp],
                    capsize=2,
                    lw=1,
                )
            ax.set_title(
                f"Monte Carlo {cfg['mc_language']}, {'ancestral' if smp == 'ancestral' else 'fixed counts'}"
            )
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("sequence error rate")
            ax.set_xlabel(CALLS_LABEL)
        names = ["best_beta", *BASELINES, *[n for n in PAPER_PICKS if n in shown]]
        proxy_legend(
            fig,
            [
                (
                    "best grid cell" if n == "best_beta" else n,
                    {"color": style_for(n)["color"], "marker": style_for(n)["marker"]},
                )
                for n in names
            ]
            + [("ancestral", {"ls": "-"}), ("fixed counts", {"ls": "--"})],
            loc="outside lower center",
            ncol=5,
        )
        label_panels(axes)
        return save_figure(fig, path)
