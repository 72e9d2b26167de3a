"""Core figure: data-direction excess, generative perplexity and sequence error rate against model calls,
oracle denoiser, n-gram and HMM languages at two lengths, MDLM ancestral and random-order fixed-count samplers.

Thin module: the sweep is :func:`sims.sweep.run_sweep` (one seeded cell per language, length, sampler, K).
Data: ``core_quality_vs_steps.json`` / ``.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.plot_style import (
    CALLS_LABEL,
    MIN_PERPLEXITY_SAMPLES,
    house_style,
    label_panels,
    length_linestyles,
    new_figure,
    perplexity_or_missing,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.sweep import SweepConfig, load_rows, run_sweep

DESCRIPTION = "data excess, gen. perplexity and SER vs model calls (oracle; ngram2 + hmm; two lengths)"

FIGURE = FigureSpec(
    name="core_quality_vs_steps",
    title="Oracle denoiser: quality against model calls for two samplers, two languages, two lengths",
    caption="Registry languages ngram2 (bigram, V = 8, 4 successors) and hmm (16 states, V = 8); samplers: "
    "MDLM ancestral (Bernoulli reveals, linear schedule; empty steps make no call) and random-order fixed "
    "counts (LLaDA rule; one call per step); oracle denoiser with the min-violation fallback after impossible "
    "evidence; 128 samples per cell (quick preset); line styles: lengths; x: the mean number of model calls. "
    "Rows: (a, b) the data-direction excess E_M KL(q || p_M)/L by teacher forcing (95% t-intervals; exact "
    "zeros at one token per step omitted); (c, d) generative perplexity of the in-support samples (hollow where "
    f"SER > 0; a point from fewer than {MIN_PERPLEXITY_SAMPLES} in-support samples is not drawn, its count is "
    "written at the bottom), dashed: the optimal perplexity exp(H/L) where known; (e, f) SER (Wilson 95%).",
    shows="At a fixed number of calls the per-token excess hardly changes when L grows fourfold, while the "
    "sequence error rate grows: perplexity needs O(1) steps, whole sequences need steps proportional to L. "
    "Fixed counts are exact at one token per step (K = L); the ancestral sampler still fails there.",
    claims=(
        "core.excess_flat_in_length",
        "core.ser_grows_with_length",
        "core.one_token_per_step_exact",
        "core.ancestral_not_exact_at_k_eq_l",
    ),
    caveats=(
        "Monte Carlo with 128 samples per cell (quick preset): SER = 0 means no failure among them.",
        "Generative perplexity of in-support samples only: the generative perplexity of all samples is "
        "infinite wherever SER > 0.",
    ),
    oracle_fallback="min_violation",
)

PRESETS = {
    "quick": SweepConfig(
        languages=["ngram2", "hmm"],
        lengths=[32, 128],
        samplers=["ancestral", "fixed_random"],
        steps=[1, 2, 4, 8, 16, 32, 64, 128],
        num_samples=128,
        batch_size=128,
    ),
    "full": SweepConfig(
        languages=["ngram2", "ngram3", "hmm"],
        lengths=[64, 256],
        samplers=["ancestral", "fixed_random", "fixed_max_prob"],
        steps=[1, 2, 4, 8, 16, 32, 64, 128, 256],
        num_samples=1024,
        batch_size=256,
    ),
}
#: Per-token excess below this (nats) is float64 noise around an exact zero (one token per step): not drawn.
EXCESS_FLOOR = 1e-12


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("core_quality_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = run_sweep(cfg, stem.with_suffix(".json"), progress=progress)
    store.write_csv(stem.with_suffix(".csv"))
    return [
        _plot(load_rows(store), stem.with_suffix(".png")),
        stem.with_suffix(".json"),
        stem.with_suffix(".csv"),
    ]


def _errorbar(ax, x, y, lo, hi, **kw):
    ax.errorbar(
        x,
        y,
        yerr=[[max(0.0, a - b) for a, b in zip(y, lo)], [max(0.0, b - a) for a, b in zip(y, hi)]],
        capsize=2,
        lw=1,
        **kw,
    )


def _plot(rows: list[dict], path: Path) -> Path:
    langs = sorted({r["language"] for r in rows})
    samplers = sorted({r["sampler"] for r in rows})
    lengths = sorted({r["length"] for r in rows})
    lstyle = length_linestyles(lengths)
    with house_style():
        fig, axes = new_figure(3, len(langs), width=10.0, height=9.6, sharex="col")
        for j, lang in enumerate(langs):
            ax_ex, ax_ppl, ax_ser = axes[0, j], axes[1, j], axes[2, j]
            missing = 0
            for sampler in samplers:
                st = style_for(sampler)
                for L in lengths:
                    pts = sorted(
                        (
                            r
                            for r in rows
                            if r["language"] == lang and r["sampler"] == sampler and r["length"] == L
                        ),
                        key=lambda r: r["quality"]["mean_nfe"],
                    )
                    if not pts:
                        continue
                    kw = {"color": st["color"], "marker": st["marker"], "ls": lstyle[L], "ms": 3.5}
                    ex = [
                        (r["quality"]["mean_nfe"], r["order_conditional_excess_nll_per_token"])
                        for r in pts
                        if r.get("order_conditional_excess_nll_per_token")
                        and r["order_conditional_excess_nll_per_token"]["mean"] > EXCESS_FLOOR
                    ]
                    if ex:
                        _errorbar(
                            ax_ex,
                            [x for x, _ in ex],
                            [e["mean"] for _, e in ex],
                            [max(e["ci_low"], 1e-3 * e["mean"]) for _, e in ex],
                            [e["ci_high"] for _, e in ex],
                            **kw,
                        )
                    x = [r["quality"]["mean_nfe"] for r in pts]
                    nll = [r["quality"]["gen_nll_per_token_in_support"] or {} for r in pts]
                    n_in = [v.get("n", 0) for v in nll]
                    ppl = [
                        perplexity_or_missing(math.exp(v["mean"]) if v else math.nan, n)
                        for v, n in zip(nll, n_in)
                    ]
                    lo = [math.exp(v["ci_low"]) if math.isfinite(p) else math.nan for v, p in zip(nll, ppl)]
                    hi = [math.exp(v["ci_high"]) if math.isfinite(p) else math.nan for v, p in zip(nll, ppl)]
                    _errorbar(ax_ppl, x, ppl, lo, hi, **kw)
                    bad = [r["quality"]["sequence_error"]["p"] > 0 for r in pts]
                    ax_ppl.scatter(
                        [a for a, b, p in zip(x, bad, ppl) if b and math.isfinite(p)],
                        [p for b, p in zip(bad, ppl) if b and math.isfinite(p)],
                        facecolors="white",
                        edgecolors=st["color"],
                        marker=st["marker"],
                        zorder=3,
                        s=16,
                    )
                    gone = [(a, n) for a, n, p in zip(x, n_in, ppl) if not math.isfinite(p)]
                    for a, n in gone:
                        ax_ppl.text(
                            a,
                            0.03 + 0.07 * missing,
                            str(n),
                            transform=ax_ppl.get_xaxis_transform(),
                            ha="center",
                            fontsize=9,
                            color=st["color"],
                        )
                    missing += bool(gone)
                    ser = [r["quality"]["sequence_error"] for r in pts]
                    _errorbar(
                        ax_ser,
                        x,
                        [s["p"] for s in ser],
                        [s["ci_low"] for s in ser],
                        [s["ci_high"] for s in ser],
                        **kw,
                    )
            for L in lengths:
                opt = next(
                    (
                        r["quality"]["optimal_nll_per_token"]
                        for r in rows
                        if r["language"] == lang and r["length"] == L
                    ),
                    None,
                )
                if opt is not None:
                    ax_ppl.axhline(math.exp(opt), color="0.4", ls=lstyle[L], lw=0.8)
            ax_ex.set_title(lang)
            ax_ex.set_yscale("log")
            for ax in (ax_ex, ax_ppl, ax_ser):
                ax.set_xscale("log", base=2)
            ax_ser.set_xlabel(CALLS_LABEL)
            ax_ser.set_ylim(-0.03, 1.03)
            if j == 0:
                ax_ex.set_ylabel("$E_M\\,KL(q\\Vert p_M)/L$ (nats/token)")
                ax_ppl.set_ylabel("generative perplexity\n(in-support samples)")
                ax_ser.set_ylabel("sequence error rate")
        proxy_legend(
            fig,
            [(s, {"color": style_for(s)["color"], "marker": style_for(s)["marker"]}) for s in samplers]
            + [(f"$L$ = {L}", {"ls": lstyle[L]}) for L in lengths]
            + [("optimal exp($H/L$)", {"color": "0.4", "lw": 0.8})],
            loc="outside lower center",
            ncol=5,
        )
        label_panels(axes)
        return save_figure(fig, path)
