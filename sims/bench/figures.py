"""Figures of a bench run (house style, :mod:`sims.plot_style`), drawn from the leaderboard data alone.

* ``leaderboard.png``: (a) the verdict of every policy against random order at equal NFE on every
  language (pooled over tiers); (b) each policy's mean rank at matched NFE, per tier.
* ``pareto_<tier>.png``: one panel per language, the metric of every run against its mean NFE, one line
  per policy (the random-order baseline in black), and the Pareto front (dashed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors

from sims.plot_style import CALLS_LABEL, house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure

VERDICT_CODE = {"loses": 0, "mixed": 1, "no difference": 2, "not comparable": 3, "beats": 4}
VERDICT_COLORS = ("#d6604d", "#f4a582", "#e0e0e0", "#ffffff", "#4393c3")
VERDICT_TEXT = {"beats": "+", "loses": "−", "mixed": "±", "no difference": "=", "not comparable": ""}


def _label(tier: str) -> str:
    return tier.replace("=", "").replace(" ", "_")


def leaderboard_figure(board: dict, languages: list[str], path: Path) -> Path:
    policies = [r["policy"] for r in board["ranking"] if r["policy"] != board["baseline"]]
    policies += sorted(p for p in board["verdicts"] if p not in policies)
    n = max(len(policies), 1)
    with house_style():
        k = len(languages)
        fig, axes = new_figure(
            1, 2, width=6.5 + 0.5 * k, height=1.6 + 0.26 * n, gridspec_kw={"width_ratios": [1 + 0.4 * k, 2]}
        )
        ax = axes[0, 0]
        grid = [
            [
                VERDICT_CODE[board["verdicts"].get(p, {}).get(lang, {}).get("verdict", "not comparable")]
                for lang in languages
            ]
            for p in policies
        ]
        cmap = mcolors.ListedColormap(VERDICT_COLORS)
        ax.imshow(grid or [[3]], cmap=cmap, vmin=-0.5, vmax=4.5, aspect="auto")
        inverse = {v: k for k, v in VERDICT_CODE.items()}
        for i, row in enumerate(grid):
            for j, code in enumerate(row):
                ax.text(j, i, VERDICT_TEXT[inverse[code]], ha="center", va="center", fontsize=9)
        ax.set_xticks(range(len(languages)), languages, rotation=35, ha="right")
        ax.set_yticks(range(len(policies)), policies)
        ax.grid(False)
        ax.set_xlabel(f"vs {board['baseline']} at equal NFE:\n+ beats, − loses, ± mixed, = no difference")
        ax = axes[0, 1]
        for k, tier in enumerate(board["tiers"]):
            ranks = {r["policy"]: r["tiers"].get(tier) for r in board["ranking"]}
            ys = [i for i, p in enumerate(policies) if ranks.get(p) is not None]
            xs = [ranks[policies[i]] for i in ys]
            ax.plot(xs, ys, ls="none", marker="osD^v"[k % 5], label=tier, alpha=0.8)
        ax.set_yticks(range(len(policies)), [])
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlabel("mean rank at matched NFE (1 = best)")
        ax.legend(loc="upper right", title="tier")
        label_panels(axes)
        return save_figure(fig, path)


def pareto_figure(board: dict, tier: str, languages: list[str], path: Path) -> Path:
    cols = min(4, len(languages))
    rows = -(-len(languages) // cols)
    curves = [c for c in board["curves"] if c["tier"] == tier]
    fronts = {f["language"]: f["front"] for f in board["pareto"] if f["tier"] == tier}
    with house_style():
        fig, axes = new_figure(rows, cols, width=10.0, height=2.6 * rows + 1.2)
        handles = {}
        for idx, lang in enumerate(languages):
            ax = axes[idx // cols, idx % cols]
            for c in (c for c in curves if c["language"] == lang):
                base = c["policy"] == board["baseline"]
                style = {"color": "black", "marker": "o"} if base else style_for(c["policy"])
                x = [p["nfe"] for p in c["points"]]
                y = [p["value"] for p in c["points"]]
                (h,) = ax.plot(x, y, lw=2.0 if base else 0.9, ms=3, alpha=1.0 if base else 0.75, **style)
                handles.setdefault(c["policy"], h)
            front = fronts.get(lang, [])
            if front:
                (h,) = ax.step(
                    [p["nfe"] for p in front],
                    [p["value"] for p in front],
                    where="post",
                    ls="--",
                    color="red",
                    lw=1.2,
                )
                handles.setdefault("Pareto front", h)
            ax.set_xscale("log", base=2)
            ax.set_title(lang)
            ax.set_xlabel(CALLS_LABEL)
            if idx % cols == 0:
                ax.set_ylabel(board["metrics"][tier].split(" (")[0])
        for idx in range(len(languages), rows * cols):
            axes[idx // cols, idx % cols].set_visible(False)
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=4,
            fontsize=7,
            bbox_to_anchor=(0.5, -0.02 - 0.012 * len(handles) / 4),
        )
        fig.suptitle(f"{tier}: {board['metrics'][tier]} against model calls")
        label_panels([a for a in axes.flat if a.get_visible()])
        return save_figure(fig, path)


def write_figures(board: dict, languages: list[str], out: Path) -> list[Path]:
    out = Path(out)
    paths = [leaderboard_figure(board, languages, out / "leaderboard.png")]
    for tier in board["tiers"]:
        if any(c["tier"] == tier for c in board["curves"]):
            paths.append(pareto_figure(board, tier, languages, out / f"pareto_{_label(tier)}.png"))
    return paths
