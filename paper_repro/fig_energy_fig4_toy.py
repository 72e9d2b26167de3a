"""The energy paper's Fig. 4 toy (Chen et al., arXiv 2509.13866, App. E.6), exactly, on the paper's own
Beta-CDF tuning grid; and the support caveat of its Thm. 3.1 constants on the two toy targets.

Thin module: the computation is :mod:`theory.energy.toy`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.ledger import FigureSpec
from sims.plot_style import house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import write_json
from theory.energy.toy import PAPER_GRID, SAMPLERS, best_cells, support_constants, toy_grid

DESCRIPTION = "EP Fig. 4 toy (n = 5, d = 2, 3 steps): P(legal) over the paper's Beta grid, both targets"

FIGURE = FigureSpec(
    name="energy_fig4_toy",
    title="Energy paper Fig. 4 toy, exactly: which Beta schedule each target prefers",
    caption="n = 5 tokens over {a, b}; targets: {aaaaa, bbbbb} uniform ('extremes') and all sentences with "
    "two or three a's uniform; 3 sampling steps with the exact conditionals (no training), as in App. E.6. "
    "Schedules: gamma = Beta-CDF(a, b), alpha = sin^2(pi/2 gamma) in EP time, on the paper's tuning grid a, b "
    "in {0.1, ..., 1.0}. Exact probability that the sample lies in the target's support, for the "
    "random-order fixed-count sampler (counts floor(5 alpha + 1/2) per step; a, b) and the MDLM ancestral "
    "(Bernoulli) sampler (d, e); white dots: the best cells; x: linear = Beta(1/2, 1/2). (c) the "
    "kinetic-energy constant C_1 = C_k / C_c of Thm. 3.1 for each target (support count) against the "
    "full-support value of App. D.1.",
    shows="The two targets prefer disjoint sets of schedules on the paper's grid with either sampler, as "
    "the figure of the paper claims; both targets have zeros in their support, so the Thm. 3.1 constant "
    "computed with the paper's full-support sum is wrong for them.",
    claims=("energy.fig4_targets_prefer_different_schedules", "energy.fig4_support_constant"),
    caveats=(
        "The paper shows only histograms; its (a, b) values and count rule are in the image: we evaluate "
        "its tuning grid with two samplers instead of reproducing its bars.",
        "Energy constants use the reconstructed energies of theory/energy.",
    ),
)

PRESETS = {"quick": {"n": 5, "steps": 3}, "full": {"n": 5, "steps": 3}}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    data = toy_grid(cfg["n"], cfg["steps"], PAPER_GRID)
    data["best"] = {
        target: {
            smp: {
                m: sorted(best_cells(data["targets"][target][smp], m))
                for m in ("p_legal", "kl_data_to_sampler")
            }
            for smp in SAMPLERS
        }
        for target in data["targets"]
    }
    data["support_constants"] = support_constants(cfg["n"])
    stem = Path(out_dir) / ("energy_fig4_toy" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    grid = data["grid"]
    with house_style():
        fig, axes = new_figure(2, 3, width=9.6, height=6.4)
        for row, smp in enumerate(SAMPLERS):
            for col, target in enumerate(data["targets"]):
                ax = axes[row, col]
                res = data["targets"][target][smp]
                img = np.array([[res[f"beta:{a:g},{b:g}"]["p_legal"] for a in grid] for b in grid])
                im = ax.imshow(
                    img, origin="lower", vmin=0, vmax=1, cmap="viridis", extent=(0.05, 1.05, 0.05, 1.05)
                )
                best = data["best"][target][smp]["p_legal"]
                for spec in best:
                    a, b = (float(v) for v in spec.split(":")[1].split(","))
                    if a in grid and b in grid:
                        ax.plot(a, b, "o", color="white", ms=4)
                ax.plot(0.5, 0.5, "x", color="red", ms=7)
                ax.set_xlabel("$a$")
                ax.set_ylabel("$b$")
                ax.set_title(f"{target.replace('_', ' ')}, {smp.replace('_', '-')}", fontsize=9)
                ax.grid(False)
        fig.colorbar(im, ax=axes[:, 1], label="P(sample in support)", shrink=0.8)
        ax = axes[0, 2]
        sc = data["support_constants"]
        names = list(sc)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [sc[n]["C_1"] for n in names], 0.4, color="k", label="support count")
        ax.bar(
            x + 0.2, [sc[n]["C_1_full_support"] for n in names], 0.4, color="#c44e52", label="full support"
        )
        ax.set_xticks(x, [n.replace("_", " ") for n in names])
        ax.set_ylabel("$C_1 = C_k / C_c$")
        ax.set_ylim(0, 1.35 * max(sc[n]["C_1_full_support"] for n in names))
        ax.legend(loc="upper left")
        axes[1, 2].set_visible(False)
        label_panels(axes)
        return save_figure(fig, path)
