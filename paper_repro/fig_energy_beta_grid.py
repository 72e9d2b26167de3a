"""Energy paper (Chen et al. arXiv 2509.13866, Sec. 3.3 / App. E.1): 2-D grid search over Beta-CDF schedules
gamma_s = I_s(a, b), alpha_s = sin^2(pi/2 gamma_s) (EP time; mdlm m(t) = sin^2(pi/2 I_t(b, a))) with the oracle
denoiser at few steps, against the linear, cosine (MD4), cosine_mdlm (EP "sine") and sin2 baselines.

* Exact part: tiny synthetic languages (sparse bigram and sparse HMM, V = 3, L = 7 quick / 8 full). The exact
  output law of each sampler is a mixture over ordered partitions (theory.orders.composition_laws, tested
  against sims.exact.exact_sampler_law); metrics are exact (KL both directions, sequence error).
* Monte Carlo part: the registry language ``ngram2`` (V = 8) at L = 32 (quick) / 64 (full), K = 4..32, sequence
  error rate with 95% Wilson intervals and in-support generative NLL with t-intervals.

Samplers: MDLM ancestral (Bernoulli reveals, grid linspace(1, 0, K+1), last step reveals all) and the random-
order fixed-count sampler with count_rule="schedule" (round(M alpha) cumulative counts; EP's count-based
reading, see docs/energy_and_orders.md). For the fixed-count sampler only the integer count plan matters, so its
heatmaps are piecewise constant, and schedules with alpha = 1/2 at an odd half-count differ only by float rounding
of the tie (e.g. L = 7, K = 2: linear gives counts [4, 3], sin2 [3, 4]); the plans are stored with each record.
Data: energy_beta_grid_{exact,mc}.json (+ .csv) beside the PNGs.
The best Beta cell in the exact heatmaps is selected on the exact law itself (no noise, "oracle tuning").
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint
from sims.languages import random_hmm, random_ngram
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, schedule_counts
from sims.schedules import BetaCDFSchedule, get_schedule
from sims.sweep import cell_seed
from theory.elbo import exact_subset_log_conditionals
from theory.orders import ancestral_exact_law, composition_laws, fixed_count_exact_law

DESCRIPTION = (
    "Beta(a,b) schedule grid search, oracle sampler: exact KL/SER (L=7) + Monte Carlo SER (L=32) vs baselines"
)

GRID10 = [round(0.1 * i, 1) for i in range(1, 11)]
BASELINES = ["linear", "cosine", "cosine_mdlm", "sin2"]
PRESETS = {
    "quick": {
        "exact_length": 7,
        "exact_steps": [2, 4, 7],
        "grid": GRID10,
        "mc_language": "ngram2",
        "mc_length": 32,
        "mc_steps": [4, 8, 16, 32],
        "mc_samples": 128,
        "mc_grid": [],
        "mc_extra": [(0.9, 0.3), (0.3, 0.9), (1.0, 0.2)],
        "seed": 0,
    },
    "full": {
        "exact_length": 8,
        "exact_steps": [2, 4, 8],
        "grid": GRID10,
        "mc_language": "ngram2",
        "mc_length": 64,
        "mc_steps": [4, 8, 16, 32],
        "mc_samples": 1024,
        "mc_grid": [0.1, 0.3, 0.5, 0.7, 0.9, 1.0],
        "mc_extra": [(1.0, 0.2)],
        "seed": 0,
    },
}
MC_BASELINES = {"quick": ["linear", "cosine", "sin2"], "full": BASELINES}
SAMPLERS = ("ancestral", "fixed_count_schedule")


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


def _schedules(grid, baselines=BASELINES):
    out = {f"beta({a:g},{b:g})": BetaCDFSchedule(a, b) for a in grid for b in grid}
    out.update({name: get_schedule(name) for name in baselines})
    return out


def _exact_part(cfg, out_dir: Path, progress: bool) -> ResultStore:
    L = cfg["exact_length"]
    store = ResultStore(
        out_dir / "energy_beta_grid_exact.json",
        meta={
            "length": L,
            "steps": cfg["exact_steps"],
            "grid": cfg["grid"],
            "method": "exact law = mixture over ordered partitions (theory.orders)",
            "schedules": {
                "beta(a,b)": BetaCDFSchedule(0.5, 0.5).describe()["ep_convention"],
                **{n: get_schedule(n).describe() for n in BASELINES},
            },
            "languages": {k: v.describe() for k, v in exact_languages().items()},
        },
    )
    scheds = _schedules(cfg["grid"])
    langs = exact_languages()
    it = [(ln, s, K) for ln in langs for s in SAMPLERS for K in cfg["exact_steps"]]
    if progress:
        it = tqdm(it, desc="exact Beta grid")
    laws_cache = {}
    for ln, sampler, K in it:
        todo = [name for name in scheds if f"{ln}|{sampler}|K={K}|{name}" not in store]
        if not todo:
            continue
        if ln not in laws_cache:
            lq = exact_log_joint(langs[ln], L)
            laws_cache[ln] = (lq, composition_laws(exact_subset_log_conditionals(lq, 3, L)))
        lq, laws = laws_cache[ln]
        for name in todo:
            sched = scheds[name]
            counts = None
            if sampler == "ancestral":
                law = ancestral_exact_law(laws, sched, K, L)
            else:
                counts = schedule_counts(L, K, sched)
                law = fixed_count_exact_law(laws, counts)
            met = exact_law_metrics(lq, torch.as_tensor(law), L)
            rec = {
                "language": ln,
                "sampler": sampler,
                "steps": K,
                "schedule": name,
                "length": L,
                "metrics": met.to_dict(),
                "counts": counts,
            }
            if isinstance(sched, BetaCDFSchedule):
                rec.update({"a": sched.a, "b": sched.b})
            store.records[f"{ln}|{sampler}|K={K}|{name}"] = rec
        store.flush()
    return store


def _mc_part(cfg, out_dir: Path, progress: bool) -> ResultStore:
    L, n = cfg["mc_length"], cfg["mc_samples"]
    store = ResultStore(
        out_dir / "energy_beta_grid_mc.json",
        meta={"language": cfg["mc_language"], "length": L, "num_samples": n, "seed": cfg["seed"]},
    )
    scheds = _schedules(cfg["mc_grid"], cfg["mc_baselines"])
    scheds.update({f"beta({a:g},{b:g})": BetaCDFSchedule(a, b) for a, b in cfg["mc_extra"]})
    lang = make_language(cfg["mc_language"])
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    cells = [(s, K, name) for s in SAMPLERS for K in cfg["mc_steps"] for name in scheds]
    cells = [c for c in cells if f"{c[0]}|K={c[1]}|{c[2]}" not in store]
    if progress:
        cells = tqdm(cells, desc="Monte Carlo Beta grid")
    opt = lang.entropy_per_token(L)
    for sampler_name, K, name in cells:
        key = f"{sampler_name}|K={K}|{name}"
        sched = scheds[name]
        sampler = (
            AncestralSampler(K, schedule=sched)
            if sampler_name == "ancestral"
            else FixedCountSampler(K, score="random", count_rule="schedule", schedule=sched)
        )
        res = sampler.sample(oracle, n, L, make_generator(cell_seed(key, cfg["seed"])), batch_size=256)
        q = evaluate_samples(lang, res.tokens, nfe=res.nfe, optimal_nll_per_token=opt)
        counts = schedule_counts(L, K, sched) if sampler_name != "ancestral" else None
        store.put(
            key,
            {
                "sampler": sampler_name,
                "steps": K,
                "schedule": name,
                "length": L,
                "counts": counts,
                "quality": q.to_dict(),
                "conventions": res.conventions,
            },
        )
    return store


KL_FLOOR = 1e-8  # exact laws: KL below this is float64 rounding of an exact sampler (one token per step)


def _plot_exact(store: ResultStore, cfg, path: Path) -> Path:

    recs = list(store.values())
    grid = cfg["grid"]
    langs = sorted({r["language"] for r in recs})
    rows = [(ln, s) for ln in langs for s in SAMPLERS]
    Ks = cfg["exact_steps"]
    with house_style():
        fig, axes = plt.subplots(
            len(rows), len(Ks), figsize=(4.0 * len(Ks), 3.4 * len(rows)), squeeze=False, layout="constrained"
        )
        for i, (ln, s) in enumerate(rows):
            for j, K in enumerate(Ks):
                ax = axes[i, j]
                cell = {
                    (r.get("a"), r.get("b")): r["metrics"]["kl_data_to_sampler"]
                    for r in recs
                    if r["language"] == ln and r["sampler"] == s and r["steps"] == K and "a" in r
                }
                Z = np.array([[cell[(a, b)] for a in grid] for b in grid])  # rows b, cols a
                Zp = np.where(np.isfinite(Z), np.maximum(Z, KL_FLOOR), np.nan)
                vmin, vmax = np.nanmin(Zp), np.nanmax(Zp)
                im = ax.imshow(
                    Zp,
                    origin="lower",
                    extent=(0.05, 1.05, 0.05, 1.05),
                    aspect="auto",
                    cmap="viridis",
                    norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.01)),
                )
                if np.isnan(Zp).any():
                    bi, ai = np.nonzero(np.isnan(Zp))
                    ax.scatter(
                        np.array(grid)[ai],
                        np.array(grid)[bi],
                        marker="x",
                        color="red",
                        s=12,
                        label="KL = inf",
                    )
                exact_cells = np.nonzero(Z <= KL_FLOOR)
                if len(exact_cells[0]):
                    ax.scatter(
                        np.array(grid)[exact_cells[1]],
                        np.array(grid)[exact_cells[0]],
                        marker=".",
                        s=12,
                        color="orange",
                        label=f"KL <= {KL_FLOOR:g} (exact)",
                    )
                bb, ba = np.unravel_index(np.nanargmin(Zp), Zp.shape)
                ax.scatter(
                    [grid[ba]],
                    [grid[bb]],
                    marker="*",
                    s=110,
                    color="white",
                    edgecolors="k",
                    label="best Beta on the grid",
                )
                ax.scatter(
                    [0.5],
                    [0.5],
                    marker="o",
                    s=40,
                    facecolors="none",
                    edgecolors="w",
                    lw=1.2,
                    label="(0.5,0.5) = linear",
                )
                ax.scatter(
                    [1.0],
                    [1.0],
                    marker="s",
                    s=40,
                    facecolors="none",
                    edgecolors="w",
                    lw=1.2,
                    label="(1,1) = sin2",
                )
                base = {
                    r["schedule"]: r["metrics"]["kl_data_to_sampler"]
                    for r in recs
                    if r["language"] == ln and r["sampler"] == s and r["steps"] == K and "a" not in r
                }
                ax.set_title(
                    f"{ln} | {s} | K={K}\nbest B({grid[ba]:g},{grid[bb]:g}) {np.nanmin(Z):.3g}, "
                    f"linear {base['linear']:.3g}, cosine {base['cosine']:.3g}",
                    fontsize=7,
                )
                ax.set_xlabel("Beta parameter a")
                ax.set_ylabel("Beta parameter b")
                cb = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
                cb.set_label("KL(q || p_sampler) [nats]", fontsize=6)
                cb.ax.tick_params(labelsize=6)
                if i == 0 and j == 0:
                    ax.legend(loc="upper left", fontsize=5, framealpha=0.7)
        fig.suptitle(
            f"Exact KL(data || sampler) over the Beta(a,b) grid, oracle denoiser, L={cfg['exact_length']}, "
            "V=3 (EP time: gamma = I(a,b), alpha = sin^2(pi/2 gamma))"
        )
        return save_figure(fig, path)


def _plot_summary(exact: ResultStore, mc: ResultStore, cfg, path: Path) -> Path:

    recs = list(exact.values())
    langs = sorted({r["language"] for r in recs})
    named = ["linear", "cosine", "cosine_mdlm", "sin2"]
    with house_style():
        fig, axes = plt.subplots(
            2, len(langs) + 1, figsize=(4.2 * (len(langs) + 1), 7.0), squeeze=False, layout="constrained"
        )
        for j, ln in enumerate(langs):
            for si, s in enumerate(SAMPLERS):
                ls = "-" if si == 0 else "--"
                sub = [r for r in recs if r["language"] == ln and r["sampler"] == s]
                Ks = sorted({r["steps"] for r in sub})
                for metric, row in (("kl_data_to_sampler", 0), ("sequence_error", 1)):
                    floor = KL_FLOOR if row == 0 else 0.0
                    best = [
                        max(floor, min(r["metrics"][metric] for r in sub if r["steps"] == K and "a" in r))
                        for K in Ks
                    ]
                    axes[row, j].plot(Ks, best, ls, color="k", marker="*", label=f"best Beta on grid, {s}")
                    for ci, name in enumerate(named):
                        vals = [
                            max(
                                floor,
                                next(
                                    r["metrics"][metric]
                                    for r in sub
                                    if r["steps"] == K and r["schedule"] == name
                                ),
                            )
                            for K in Ks
                        ]
                        axes[row, j].plot(Ks, vals, ls, color=f"C{ci}", marker="o", label=f"{name}, {s}")
            axes[0, j].set_title(f"exact, {ln}, L={cfg['exact_length']}")
            axes[0, j].set_ylabel("KL(q || p_sampler) [nats]")
            axes[1, j].set_ylabel("sequence error rate p(q(x)=0)")
            for row in range(2):
                axes[row, j].set_xlabel("number of steps K")
                axes[row, j].set_xticks(Ks)
            axes[0, j].set_yscale("log")
            axes[0, j].axhline(KL_FLOOR, color="0.5", ls=":", lw=0.8)
            axes[0, j].text(
                Ks[0], KL_FLOOR * 2, f"floor {KL_FLOOR:g}: exact sampler", fontsize=5, color="0.4"
            )
        axes[0, 0].legend(fontsize=5, ncol=2)
        # Monte Carlo panel
        mrecs = list(mc.values())
        show = [
            "linear",
            "cosine",
            "sin2",
            "beta(0.9,0.3)",
            "beta(0.3,0.9)",
            "beta(1,0.2)",
        ]  # the paper's picks
        for si, s in enumerate(SAMPLERS):
            ax = axes[si, -1]
            for ci, name in enumerate(show):
                pts = sorted(
                    (r for r in mrecs if r["sampler"] == s and r["schedule"] == name),
                    key=lambda r: r["steps"],
                )
                if not pts:
                    continue
                Ks = [r["steps"] for r in pts]
                ser = [r["quality"]["sequence_error"] for r in pts]
                p = [x["p"] for x in ser]
                ax.errorbar(
                    Ks,
                    p,
                    yerr=[
                        [a - x["ci_low"] for a, x in zip(p, ser)],
                        [x["ci_high"] - a for a, x in zip(p, ser)],
                    ],
                    color=f"C{ci}",
                    marker="o",
                    capsize=2,
                    lw=1,
                    label=name,
                )
            ax.set_title(
                f"Monte Carlo, {cfg['mc_language']}, L={cfg['mc_length']}, {s}\n"
                f"n={cfg['mc_samples']} per point, 95% Wilson CIs",
                fontsize=7,
            )
            ax.set_xscale("log", base=2)
            ax.set_xticks(cfg["mc_steps"], [str(k) for k in cfg["mc_steps"]])
            ax.set_xlabel("number of steps K")
            ax.set_ylabel("sequence error rate")
            ax.set_ylim(-0.03, 1.03)
            ax.legend(fontsize=5)
        fig.suptitle(
            "Beta-CDF schedules vs baselines with the oracle denoiser (solid: ancestral, dashed: "
            "fixed-count schedule counts)"
        )
        return save_figure(fig, path)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = {**PRESETS[preset], "mc_baselines": MC_BASELINES[preset]}
    out_dir = Path(out_dir)
    suffix = "" if preset == "quick" else f"_{preset}"
    sub = out_dir if preset == "quick" else out_dir / preset
    sub.mkdir(parents=True, exist_ok=True)
    exact = _exact_part(cfg, sub, progress)
    mc = _mc_part(cfg, sub, progress)
    exact.write_csv(sub / "energy_beta_grid_exact.csv")
    mc.write_csv(sub / "energy_beta_grid_mc.csv")
    p1 = _plot_exact(exact, cfg, out_dir / f"energy_beta_grid_exact{suffix}.png")
    p2 = _plot_summary(exact, mc, cfg, out_dir / f"energy_beta_grid_summary{suffix}.png")
    return [
        p1,
        p2,
        sub / "energy_beta_grid_exact.json",
        sub / "energy_beta_grid_mc.json",
        sub / "energy_beta_grid_exact.csv",
        sub / "energy_beta_grid_mc.csv",
    ]


if __name__ == "__main__":  # pragma: no cover
    for p in run(sys.argv[1] if len(sys.argv) > 1 else "quick", Path("figures"), True):
        print(p)
