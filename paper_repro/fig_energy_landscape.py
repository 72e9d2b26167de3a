"""Energy paper (Chen et al. arXiv 2509.13866) Fig. 2 / Fig. 3 analogue: the one-token energy landscape
e(alpha, gamma) over Beta-parameterised mask schedules for several weights gamma, the optimal schedule of each
weight, the unweighted energies of common schedules, and the paper's identities evaluated once.

Thin module: the computation is :mod:`theory.energy.study` (landscape, common schedules) and
:func:`theory.energy.identities.energy_identity_checks`. Energy definitions are reconstructions
(:mod:`theory.energy`); EP time (s = 0 all masked). Data: ``energy_landscape.json``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from paper_repro.ledger import FigureSpec
from sims.plot_style import MAX_WIDTH, house_style, label_panels, note, style_for
from sims.plotting import save_figure
from sims.results import write_json
from sims.schedules import BetaCDFSchedule
from theory.energy.identities import energy_identity_checks
from theory.energy.study import beta_landscape, common_schedule_energies

DESCRIPTION = "one-token energy landscape over Beta(a',b') schedules for several weights gamma (EP Fig. 2/3)"

WEIGHTS = [(0.5, 0.5), (1.0, 1.0), (0.9, 0.3), (2.0, 2.0)]
#: Weights that are named schedules (Prop. 3.7: Beta(1/2, 1/2) gives linear, Beta(1, 1) sin^2).
WEIGHT_ENTITY = {(0.5, 0.5): "linear", (1.0, 1.0): "sin2"}
#: Schedule label -> house-style entity (for colours).
ENTITY = {
    "sin^2(pi s/2) [sin2]": "sin2",
    "linear s": "linear",
    "sin(pi s/2) [cosine_mdlm]": "cosine_mdlm",
    "1-cos(pi s/2) [MD4 cosine]": "cosine",
    "1-(1-s)^2 [MD4 poly2]": "poly2",
    "smoothstep": "smoothstep",
}

FIGURE = FigureSpec(
    name="energy_landscape",
    title="One-token energy over Beta-CDF schedules: the minimum pi^2 sits at the weight's own parameters",
    caption="EP time s (0 = all masked). (a-d) e(alpha, gamma)/pi^2 for the schedule alpha = sin^2(pi/2 "
    "I_s(a', b')) and the weight gamma = I_s(a, b) (closed form pi^2 B(2a' - a, 2b' - b) B(a, b)/B(a', b')^2, "
    "derived; hatched: infinite, where 2a' <= a or 2b' <= b), for four weights; star: (a', b') = (a, b); "
    "crosses: quadrature spot checks. (e) the weights gamma_s (dashed) and their optimal schedules "
    "alpha*_s = sin^2(pi/2 gamma_s) (solid). (f) unweighted energies (gamma = s) of common schedules truncated to "
    "[eps, 1 - eps], against eps.",
    shows="The minimum of every landscape is pi^2 at the weight's own Beta parameters (Condition 3.4), and the "
    "energy is finite only in the region 2a' > a, 2b' > b. Without a weight only sin^2 and the smoothstep have "
    "finite energy; linear, sine, cosine and poly2 diverge logarithmically at an end point.",
    claims=(
        "energy.optimality_condition",
        "energy.per_token_identities",
        "energy.prop_3_7",
        "energy.beta_landscape",
        "energy.unweighted_energies",
        "energy.discrete_equal_angles",
        "energy.discrete_unequal_dgamma",
        "energy.integrated_energies",
        "energy.reconstructed_rates_generate_flow",
    ),
    caveats=(
        "The paper's display equations are unreadable: e(alpha, gamma) and the n-token energies are "
        "reconstructions chosen to reproduce the constants its prose states; minimisers and ratios do not "
        "depend on their constant factors.",
        "The identities behind the claims are evaluated once per run (JSON 'identities'); the tests check them "
        "on more cases.",
    ),
)

PRESETS = {
    "quick": {"grid": 121, "spot_checks": 2, "eps": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]},
    "full": {"grid": 301, "spot_checks": 6, "eps": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]},
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    ap = np.linspace(0.05, 3.0, cfg["grid"])
    data = {
        "convention": "EP time s (0 = all masked); gamma = I_s(a,b); alpha = sin^2(pi/2 I_s(a',b'))",
        "closed_form": "pi^2 B(2a'-a, 2b'-b) B(a,b) / B(a',b')^2 (derived; verified by quadrature)",
        "grid": ap.tolist(),
        **beta_landscape(WEIGHTS, ap, cfg["spot_checks"], seed=0),
        "common_schedules": common_schedule_energies(cfg["eps"]),
        "identities": energy_identity_checks(),
    }
    stem = Path(out_dir) / ("energy_landscape" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data, indent=None)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    ap = np.array(data["grid"])
    with house_style():
        fig, axd = plt.subplot_mosaic(
            [["a", "b", "c", "d"], ["e", "e", "f", "f"]],
            figsize=(MAX_WIDTH, 6.6),
            layout="constrained",
            height_ratios=[1, 1.1],
        )
        for key, (a, b) in zip("abcd", WEIGHTS):
            ax = axd[key]
            ratio = np.array(data["weights"][f"{a:g},{b:g}"]["energy_over_pi2"], dtype=float)
            finite = np.isfinite(ratio)
            im = ax.pcolormesh(
                ap,
                ap,
                np.where(finite, ratio, np.nan),
                cmap="magma_r",
                norm=LogNorm(1.0, 30.0),
                shading="auto",
            )
            ax.contourf(ap, ap, finite.astype(float), levels=[-0.5, 0.5], colors=["0.85"], hatches=["//"])
            ax.plot([a], [b], marker="*", color="red", ms=11, mec="k")
            checks = [c for c in data["spot_checks"] if (c["a"], c["b"]) == (a, b)]
            ax.plot([c["a2"] for c in checks], [c["b2"] for c in checks], "+", color="cyan", ms=7)
            ax.set_title(f"$\\gamma = I(a{{=}}{a:g}, b{{=}}{b:g})$")
            ax.set_xlabel("$a'$")
            ax.set_ylabel("$b'$" if key == "a" else "")
            ax.grid(False)
        fig.colorbar(im, ax=[axd[k] for k in "abcd"], label="$e/\\pi^2$", shrink=0.9)
        s = np.linspace(0, 1, 201)
        ax = axd["e"]
        for a, b in WEIGHTS:
            st = style_for(WEIGHT_ENTITY.get((a, b), f"beta({a:g},{b:g})"))
            sched = BetaCDFSchedule(a, b)
            ax.plot(s, sched.gamma_ep(s), color=st["color"], ls="--")
            name = WEIGHT_ENTITY.get((a, b))
            ax.plot(
                s,
                sched.alpha_ep(s),
                color=st["color"],
                label=f"Beta({a:g}, {b:g})" + (f" ({name})" if name else ""),
            )
        ax.plot(s, s, color="0.6", ls=":", lw=0.8)
        ax.set_xlabel("EP time $s$")
        ax.set_ylabel("$\\gamma_s$ (dashed), $\\alpha^*_s$ (solid)")
        ax.set_title("weights and their optimal schedules")
        ax.legend(loc="upper left", fontsize=9)
        ax = axd["f"]
        for name, rec in data["common_schedules"].items():
            st = style_for(ENTITY[name])
            mirror = "cosine_mdlm" in name  # sin(pi s/2) mirrors 1 - cos(pi s/2): identical energies
            ax.plot(
                rec["eps"],
                np.array(rec["truncated_energy"]) / math.pi**2,
                color=st["color"],
                marker=st["marker"],
                ls="--" if mirror else "-",
                mfc="none" if mirror else st["color"],
                ms=7 if mirror else 4,
                label=name,
            )
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("truncation $\\varepsilon$ (energy on $[\\varepsilon, 1-\\varepsilon]$)")
        ax.set_ylabel("unweighted energy $/\\pi^2$")
        ax.set_title("common schedules, $\\gamma = s$")
        ax.legend(loc="upper left", fontsize=9)
        worst = max(c["rel_diff"] for c in data["spot_checks"])
        note(axd["e"], f"closed form vs quadrature:\nmax rel. diff {worst:.1e}", loc="lower right")
        label_panels([axd[k] for k in "abcdef"])
        return save_figure(fig, path)
