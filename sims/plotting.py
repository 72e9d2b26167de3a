"""Matplotlib helpers: one house style and the metric-versus-steps sweep figure."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STYLE = {
    "figure.dpi": 120,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.markersize": 3.5,
    "savefig.bbox": "tight",
}


@contextmanager
def house_style():
    with plt.rc_context(STYLE):
        yield


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` (parents created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def _steps_axis(row: dict) -> float:
    """x of a sweep row: K, or the mean number of calls for a sampler that ignores K."""
    return row["steps"] if row["steps"] is not None else row["quality"]["mean_nfe"]


def plot_quality_vs_steps(rows: list[dict], path: str | Path, title: str | None = None) -> Path:
    r"""Quality versus steps, one column per language; lines are (sampler, length).

    Rows of panels:

    1. (if present) the data-direction excess :math:`E_M KL(q \Vert p_M)/L` in nats/token (paired Monte
       Carlo by teacher forcing; the quantity the Feng / Li & Cai theory bounds), log-log;
    2. generative perplexity :math:`\exp(E_p[-\log q]/L)` of the in-support samples (hollow markers where
       SER > 0, i.e. where the generative perplexity of *all* samples is infinite), with the optimal
       perplexity exp(H/L) dashed where it is known exactly;
    3. sequence error rate (Wilson 95% intervals).

    Error bars are 95% intervals (t-intervals of means, mapped through exp for perplexity).
    """
    langs = sorted({r["language"] for r in rows})
    has_excess = any(r.get("order_conditional_excess_nll_per_token") for r in rows)
    nrows = 3 if has_excess else 2
    with house_style():
        fig, axes = plt.subplots(
            nrows, len(langs), figsize=(3.5 * len(langs), 2.5 * nrows + 0.4), squeeze=False
        )
        for j, lang in enumerate(langs):
            sub = [r for r in rows if r["language"] == lang]
            groups = sorted({(r["sampler"], r["length"]) for r in sub})
            optimal_drawn = set()
            ax_ex, ax_ppl, ax_ser = (
                (axes[0, j], axes[1, j], axes[2, j]) if has_excess else (None, axes[0, j], axes[1, j])
            )
            for gi, (sampler, L) in enumerate(groups):
                pts = sorted(
                    (r for r in sub if r["sampler"] == sampler and r["length"] == L), key=_steps_axis
                )
                ks = [_steps_axis(r) for r in pts]
                q = [r["quality"] for r in pts]
                color = f"C{gi % 10}"
                label = f"{sampler}, L={L}" + (
                    " (ignores K: at its mean NFE)" if pts[0]["steps"] is None else ""
                )
                if has_excess:
                    ex = [
                        (k, r["order_conditional_excess_nll_per_token"])
                        for k, r in zip(ks, pts)
                        if r.get("order_conditional_excess_nll_per_token")
                    ]
                    # |excess| < 1e-12 nats/token is float64 noise around an exact zero (one token per
                    # step with the oracle); it cannot be drawn on a log axis and is omitted.
                    ex = [(k, e) for k, e in ex if e["mean"] > 1e-12]
                    if ex:
                        ax_ex.errorbar(
                            [k for k, _ in ex],
                            [e["mean"] for _, e in ex],
                            yerr=[
                                [min(e["mean"] - e["ci_low"], 0.999 * e["mean"]) for _, e in ex],
                                [e["ci_high"] - e["mean"] for _, e in ex],
                            ],
                            color=color,
                            marker="o",
                            label=label,
                            capsize=2,
                            lw=1,
                        )
                nll = [x["gen_nll_per_token_in_support"] or {} for x in q]
                ppl = [math.exp(x["mean"]) if x.get("mean") is not None else math.nan for x in nll]
                lo = [math.exp(_finite(x.get("ci_low", math.nan))) for x in nll]
                hi = [math.exp(_finite(x.get("ci_high", math.nan))) for x in nll]
                yerr = [
                    [max(0.0, p - a) if math.isfinite(a) else 0 for p, a in zip(ppl, lo)],
                    [max(0.0, b - p) if math.isfinite(b) else 0 for p, b in zip(ppl, hi)],
                ]
                ax_ppl.errorbar(ks, ppl, yerr=yerr, color=color, marker="o", label=label, capsize=2, lw=1)
                bad = [x["sequence_error"]["p"] > 0 for x in q]
                ax_ppl.scatter(
                    [k for k, b in zip(ks, bad) if b],
                    [p for p, b in zip(ppl, bad) if b],
                    facecolors="white",
                    edgecolors=color,
                    zorder=3,
                    s=14,
                )
                opt = q[0].get("optimal_nll_per_token")
                if opt is not None and L not in optimal_drawn:
                    optimal_drawn.add(L)
                    ax_ppl.axhline(
                        math.exp(opt),
                        color="0.4",
                        ls=(0, (4, 1 + len(optimal_drawn))),
                        lw=0.8,
                        label=f"optimal exp(H/L), L={L}",
                    )
                ser = [x["sequence_error"] for x in q]
                p = [s["p"] for s in ser]
                ax_ser.errorbar(
                    ks,
                    p,
                    yerr=[
                        [a - s["ci_low"] for a, s in zip(p, ser)],
                        [s["ci_high"] - a for a, s in zip(p, ser)],
                    ],
                    color=color,
                    marker="o",
                    label=label,
                    capsize=2,
                    lw=1,
                )
            if has_excess:
                ax_ex.set_title(lang)
                ax_ex.set_xscale("log", base=2)
                ax_ex.set_yscale("log")
                if j == 0:
                    ax_ex.set_ylabel("data-direction excess\n" + r"$E_M\,KL(q\Vert p_M)/L$ [nats/token]")
            else:
                ax_ppl.set_title(lang)
            ax_ppl.set_xscale("log", base=2)
            if j == 0:
                ax_ppl.set_ylabel("generative perplexity\n(in-support samples)")
            ax_ser.set_xscale("log", base=2)
            ax_ser.set_xlabel("number of steps K")
            if j == 0:
                ax_ser.set_ylabel("sequence error rate")
            ax_ser.set_ylim(-0.03, 1.03)
        axes[0, -1].legend(loc="upper right")
        axes[1 if has_excess else 0, -1].legend(loc="upper right")
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
