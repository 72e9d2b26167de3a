"""Sequence error rate vs number of steps on hard languages: SER needs N proportional to L (Feng et al.).

Languages (stand-ins for Feng et al.'s hard HMM, which could not be read; sims/languages/hard.py):
pair-copy over V = 16 symbols (exact closed forms), binary block-parity HMM with blocks of 4 (Bernoulli
exact, fixed counts by Rao-Blackwellised Monte Carlo over the reveal sets), sparse-successor bigram (V = 8,
successors v+1, v+2; Monte Carlo with the oracle sampler, Wilson 95% intervals). Samplers: MDLM ancestral
(Bernoulli step rule, linear schedule, uniform grid, t_min = 0) and fixed counts with LLaDA's rule and
uniformly random positions, oracle denoiser.

Panels: (a) SER vs N for L = 64..4096 (pair copy); (b) the same vs N/L, where the curves collapse;
(c) the other languages vs N/L; (d) -log(1 - SER) vs L/N (linear: SER ~ 1 - exp(-c L/N)).
Data: feng_ser_vs_steps.json beside the PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.languages.hard import sparse_successor_chain
from sims.plotting import house_style, save_figure
from sims.results import ResultStore
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.sweep import cell_seed
from theory.sequence_error import (
    block_fixed_count_ser_monte_carlo,
    block_ser_bernoulli,
    monte_carlo_ser,
    pair_ser_fixed,
)

DESCRIPTION = "SER vs steps and vs N/L on hard languages (pair copy exact, parity HMM, sparse chain MC)"

PAIR_V = 16
PARITY_BLOCK, PARITY_V = 4, 2
PRESETS = {
    "quick": {
        "lengths": [64, 256, 1024, 4096],
        "rb_lengths": [64, 256, 1024],
        "rb_samples": 1000,
        "mc_lengths": [64],
        "mc_ratios": [1 / 4, 1 / 2, 1, 2],
        "mc_samples": 128,
        "seed": 0,
    },
    "full": {
        "lengths": [64, 128, 256, 512, 1024, 2048, 4096],
        "rb_lengths": [64, 256, 1024, 4096],
        "rb_samples": 20000,
        "mc_lengths": [64, 256],
        "mc_ratios": [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4],
        "mc_samples": 2048,
        "seed": 0,
    },
}


def _grid(L: int, hi_ratio: float, lo_ratio: float = 1 / 64) -> list[int]:
    """Powers of two from max(1, L * lo_ratio) to L * hi_ratio."""
    lo = max(0, int(math.log2(max(1.0, L * lo_ratio))))
    return [2**e for e in range(lo, int(math.log2(L * hi_ratio)) + 1)]


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_ser_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "sampler_conventions": {
                "bernoulli": AncestralSampler(2).conventions(),
                "fixed": FixedCountSampler(2).conventions(),
            },
            "denoiser": "oracle (uniform fallback after impossible evidence; SER does not depend on it)",
            "pair_copy_symbols": PAIR_V,
            "parity": {"block": PARITY_BLOCK, "V": PARITY_V},
            "sparse_chain": {"V": 8, "offsets": [1, 2]},
            "seed": cfg["seed"],
            "provenance": "stand-in hard languages; Feng et al.'s own construction could not be read",
        },
    )
    cells = []
    for L in cfg["lengths"]:
        cells += [("pair", "bernoulli", L, N) for N in _grid(L, 8)]
        cells += [("pair", "fixed", L, N) for N in _grid(L, 1)]
        if L % PARITY_BLOCK == 0:
            cells += [("parity", "bernoulli", L, N) for N in _grid(L, 8)]
    for L in cfg["rb_lengths"]:
        cells += [("parity", "fixed", L, N) for N in _grid(L, 1)]
    for L in cfg["mc_lengths"]:
        for r in cfg["mc_ratios"]:
            N = int(r * L)
            cells += [("sparse", "bernoulli", L, N)] + ([("sparse", "fixed", L, N)] if N <= L else [])
    todo = [c for c in cells if "|".join(map(str, c)) not in store]
    it = todo
    if progress:
        it = tqdm(todo, desc="ser cells", leave=False)
    sparse = sparse_successor_chain(8)
    for lang, rule, L, N in it:
        key = "|".join(map(str, (lang, rule, L, N)))
        g = make_generator(cell_seed(key, cfg["seed"]))
        rec = {"language": lang, "rule": rule, "length": L, "steps": N}
        if lang in ("pair", "parity"):
            V, b = (PAIR_V, 2) if lang == "pair" else (PARITY_V, PARITY_BLOCK)
            if rule == "bernoulli":
                rec.update(ser=block_ser_bernoulli([1.0 / N] * N, L, V, b), method="exact closed form")
            else:
                try:
                    if lang != "pair":
                        raise ValueError("no exact DP for blocks > 2")
                    rec.update(ser=pair_ser_fixed(llada_counts(L, N), V), method="exact DP")
                except ValueError:
                    est = block_fixed_count_ser_monte_carlo(
                        FixedCountSampler(N), L, V, b, cfg["rb_samples"], g
                    )
                    rec.update(
                        ser=est.mean,
                        ci_low=est.ci_low,
                        ci_high=est.ci_high,
                        method=f"Rao-Blackwellised MC over reveal sets (n={est.n})",
                    )
        else:
            sampler = AncestralSampler(N) if rule == "bernoulli" else FixedCountSampler(N)
            est = monte_carlo_ser(sparse, sampler, L, cfg["mc_samples"], g)
            rec.update(
                ser=est.p,
                ci_low=est.ci_low,
                ci_high=est.ci_high,
                method=f"MC with oracle sampling (n={est.n}, Wilson 95%)",
            )
        store.put(key, rec)
    rows = sorted(store.values(), key=lambda r: (r["language"], r["rule"], r["length"], r["steps"]))

    # fitted slope of -log(1-SER) against L/N (Bernoulli pair copy: theory (1-1/V)/2 as N/L grows)
    fits = {}
    for lang in ("pair", "parity", "sparse"):
        for rule in ("bernoulli", "fixed"):
            sub = [
                r
                for r in rows
                if r["language"] == lang
                and r["rule"] == rule
                and 0 < r["ser"] < 0.95
                and r["steps"] >= r["length"] / 4
            ]
            if len(sub) >= 3:
                x = np.array([r["length"] / r["steps"] for r in sub])
                y = np.array([-math.log1p(-r["ser"]) for r in sub])
                fits[f"{lang}|{rule}"] = {
                    "slope_vs_L_over_N": float(np.polyfit(x, y, 1)[0]),
                    "points": len(sub),
                }
    fits["pair|bernoulli|theory_slope_large_N"] = (1 - 1 / PAIR_V) / 2
    near = {}
    for lang in ("pair", "parity"):
        for L in cfg["lengths"]:
            for r_ in (0.5, 1, 2, 4):
                N = int(r_ * L)
                vals = {
                    r["rule"]: r["ser"]
                    for r in rows
                    if r["language"] == lang and r["length"] == L and r["steps"] == N
                }
                if vals:
                    near[f"{lang}|L={L}|N/L={r_}"] = vals
    store.meta["fits"] = fits
    store.meta["bernoulli_vs_fixed_near_N_eq_L"] = near
    store.flush()

    with house_style():
        fig, axes = plt.subplots(1, 4, figsize=(18, 4.8), layout="constrained")
        colors = {L: f"C{i}" for i, L in enumerate(sorted({r["length"] for r in rows}))}

        def curve(ax, sub, xfun, color, ls, label, marker="o"):
            sub = sorted(sub, key=lambda r: r["steps"])
            x = [xfun(r) for r in sub]
            y = [r["ser"] for r in sub]
            if any("ci_low" in r for r in sub):
                err = [
                    [max(0.0, r["ser"] - r.get("ci_low", r["ser"])) for r in sub],
                    [max(0.0, r.get("ci_high", r["ser"]) - r["ser"]) for r in sub],
                ]
                ax.errorbar(x, y, yerr=err, color=color, ls=ls, marker=marker, capsize=2, label=label, lw=1)
            else:
                ax.plot(x, y, color=color, ls=ls, marker=marker, label=label, lw=1.2)

        for L in cfg["lengths"]:
            for rule, ls in (("fixed", "-"), ("bernoulli", "--")):
                sub = [r for r in rows if r["language"] == "pair" and r["rule"] == rule and r["length"] == L]
                curve(axes[0], sub, lambda r: r["steps"], colors[L], ls, f"L={L}, {rule}")
                curve(axes[1], sub, lambda r: r["steps"] / r["length"], colors[L], ls, f"L={L}, {rule}")
        x = np.logspace(-6, 3, 200, base=2)
        axes[1].plot(
            x,
            -np.expm1(-(1 - 1 / PAIR_V) / (2 * x)),
            color="k",
            lw=2,
            alpha=0.35,
            label="Bernoulli limit 1-exp(-(1-1/V) L/(2N))",
        )
        axes[1].axvline(1.0, color="0.5", lw=0.8, ls=":")
        for ax, xl in ((axes[0], "number of steps N"), (axes[1], "N / L")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel(xl)
            ax.set_ylabel("sequence error rate  P_p(q(x) = 0)")
            ax.set_ylim(-0.03, 1.03)
        axes[0].set_title(
            f"(a) pair copy, V={PAIR_V}: exact SER vs N\n(solid: fixed counts, dashed: Bernoulli)"
        )
        axes[1].set_title("(b) same vs N/L: curves collapse\n(fixed counts reach SER = 0 at N = L)")
        axes[0].legend(fontsize=6, ncol=2)
        axes[1].legend(fontsize=6, ncol=1, loc="upper right")
        ax = axes[2]
        markers = {"parity": "s", "sparse": "^"}
        for lang, lab in (("parity", f"parity b={PARITY_BLOCK}"), ("sparse", "sparse chain")):
            shown = sorted({r["length"] for r in rows if r["language"] == lang})
            if (
                lang == "parity"
            ):  # Bernoulli curves coincide across L (exact): show two lengths with both rules
                both = sorted({r["length"] for r in rows if r["language"] == lang and r["rule"] == "fixed"})
                shown = sorted({both[0], both[-1]})
            for L in shown:
                for rule, ls in (("fixed", "-"), ("bernoulli", "--")):
                    sub = [
                        r for r in rows if r["language"] == lang and r["rule"] == rule and r["length"] == L
                    ]
                    if sub:
                        curve(
                            ax,
                            sub,
                            lambda r: r["steps"] / r["length"],
                            colors[L],
                            ls,
                            f"{lab}, L={L}, {rule}",
                            marker=markers[lang],
                        )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N / L")
        ax.set_ylabel("sequence error rate")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(
            f"(c) parity HMM (b={PARITY_BLOCK}, V={PARITY_V}; squares) and sparse chain\n"
            "(V=8, MC with oracle; triangles), 95% intervals"
        )
        ax.legend(fontsize=6, ncol=1, loc="upper right")
        ax = axes[3]
        for lang, rule, col, mk in (
            ("pair", "bernoulli", "C0", "o"),
            ("pair", "fixed", "C1", "o"),
            ("parity", "bernoulli", "C2", "s"),
            ("sparse", "bernoulli", "C3", "^"),
            ("sparse", "fixed", "C4", "^"),
        ):
            sub = [
                r
                for r in rows
                if r["language"] == lang
                and r["rule"] == rule
                and 0 < r["ser"] < 0.999
                and r["steps"] >= r["length"] / 8
            ]
            if sub:
                ax.scatter(
                    [r["length"] / r["steps"] for r in sub],
                    [-math.log1p(-r["ser"]) for r in sub],
                    color=col,
                    marker=mk,
                    s=12,
                    label=f"{lang}, {rule}",
                )
        xs = np.linspace(0, 8, 50)
        ax.plot(xs, (1 - 1 / PAIR_V) / 2 * xs, color="k", lw=1, ls="--", label="pair: (1-1/V) L/(2N)")
        ax.plot(xs, xs / 4, color="0.5", lw=1, ls=":", label=f"parity b={PARITY_BLOCK}, V={PARITY_V}: L/(4N)")
        ax.set_xlabel("L / N")
        ax.set_ylabel("-log(1 - SER)")
        ax.set_title("(d) -log(1-SER) is linear in L/N\n(all lengths overlaid)")
        ax.legend(fontsize=6)
        fig.suptitle(
            "Sequence error needs steps linear in L (stand-in hard languages, oracle denoiser)", fontsize=10
        )
        png = save_figure(fig, stem.with_suffix(".png"))
    return [png, stem.with_suffix(".json")]
