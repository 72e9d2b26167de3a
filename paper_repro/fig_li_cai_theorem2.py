"""Li & Cai (arXiv 2505.21400) Theorem 2, the multi-scale lower bound, evaluated for natural laws of its
random sets and compared with the exact expected KL of random-order parallel sampling.

Thin module: the computation is :mod:`theory.li_cai` (:func:`theorem2_sweep`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.ledger import FigureSpec
from sims.plot_style import STEPS_LABEL, house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import write_json
from theory.entropy_profile import ngram_profile, profile_by_enumeration
from theory.information import even_parity_joint
from theory.li_cai import THEOREM2_LAWS, THEOREM2_PROVENANCE, theorem2_sweep

DESCRIPTION = "Li & Cai Thm 2 lower bound (three readings of W_j) vs exact E_M KL and Thm 1"

FIGURE = FigureSpec(
    name="li_cai_theorem2",
    title="Li & Cai Theorem 2 (lower bound) under three readings of its random sets",
    caption="Exact E_M KL(q || p_M) of the random-order fixed-count oracle sampler with balanced schedules "
    "(area formula), Li & Cai's Theorem 1 upper bound, and the Theorem 2 lower bound "
    "s_max/(16L) sum_i sum_j 2^-j E I(X_i; X_{W_j}) (eps_train = 0) with W_j uniform random sets of the other "
    "positions of sizes min(2^j, L-1) ('doubling'), min(2^j, s_max - 1) ('in step') or all of them ('all', "
    "the largest value any law can give). (a) ngram2 (V = 8) at L = 64 against the number of steps K; (b) "
    "exact / lower bound for the in-step reading at L = 16, 64, 256 against K/L; (c) even-parity strings at "
    "L = 10 (TC = log 2, sum_i I = 10 log 2), K = 1, 2, 5, 10.",
    shows="Only a reading whose sets vanish at one token per step can be right (otherwise the bound is "
    "positive where the exact KL is 0); with sets inside one step the bound holds on every balanced "
    "schedule here, loosely at few steps; with all other positions it fails on parity at K = 1.",
    claims=(
        "li_cai.theorem2_in_step_holds",
        "li_cai.theorem2_needs_vanishing_sets",
        "li_cai.theorem2_envelope_fails",
    ),
    caveats=(
        "The sizes and law of W_j are not known (only the form and the constant 1/16 are, from two "
        "third-party notes): every curve is our reading.",
        "Oracle denoiser (eps_train = 0); balanced schedules only in (a) and (b).",
    ),
)

PRESETS = {
    "quick": {"lengths": [16, 64, 256], "main_length": 64, "parity_length": 10},
    "full": {"lengths": [16, 64, 256, 1024], "main_length": 256, "parity_length": 12},
}


def _steps(L: int) -> list[int]:
    return sorted({int(v) for v in np.rint(np.geomspace(1, L, 14))} | {L // 2, L - 1, L})


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    lang = make_language("ngram2")
    data = {
        "provenance": THEOREM2_PROVENANCE,
        "laws": list(THEOREM2_LAWS),
        "bigram": {str(L): theorem2_sweep(ngram_profile(lang, L), _steps(L)) for L in cfg["lengths"]},
        "main_length": cfg["main_length"],
    }
    P = cfg["parity_length"]
    data["parity"] = {
        "length": P,
        "rows": theorem2_sweep(profile_by_enumeration(even_parity_joint(P)), [1, 2, P // 2, P]),
    }
    stem = Path(out_dir) / ("li_cai_theorem2" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


LAW_LABELS = {"doubling": "Thm 2, doubling", "doubling_in_step": "Thm 2, in step", "all": "Thm 2, all others"}
#: The three readings are not entities of the house style table: fixed colours and markers.
LAW_STYLES = {
    "doubling": {"color": "#1b9e77", "marker": "^"},
    "doubling_in_step": {"color": "#d95f02", "marker": "s"},
    "all": {"color": "#7570b3", "marker": "D"},
}


def _positive(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys) if y > 0]
    return [p[0] for p in pts], [p[1] for p in pts]


def _plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, axes = new_figure(1, 3, width=9.6, height=3.7)
        axes = axes[0]
        ax = axes[0]
        rows = data["bigram"][str(data["main_length"])]
        K = [r["steps"] for r in rows]
        ax.plot(*_positive(K, [r["exact"] for r in rows]), "o-", color="k", label="exact")
        ax.plot(*_positive(K, [r["theorem1"] for r in rows]), "--", color="0.5", label="Thm 1")
        for law in data["laws"]:
            st = LAW_STYLES[law]
            ys = [r["lower"][law] for r in rows]
            ax.plot(*_positive(K, ys), ":", marker=st["marker"], color=st["color"], label=LAW_LABELS[law])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(STEPS_LABEL)
        ax.set_ylabel(r"$E_M\,KL$ (nats)")
        ax.legend(fontsize=9)
        ax = axes[1]
        for L, rows in data["bigram"].items():
            st = style_for(f"length {L}")
            pts = [
                (r["steps"] / int(L), r["exact"] / r["lower"]["doubling_in_step"])
                for r in rows
                if r["lower"]["doubling_in_step"] > 0
            ]
            ax.plot(*zip(*pts), "o-", color=st["color"], label=f"$L$ = {L}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("$K/L$")
        ax.set_ylabel("exact / Thm 2 (in step)")
        ax.legend()
        ax = axes[2]
        prow = data["parity"]["rows"]
        x = np.arange(len(prow))
        width = 0.2
        ax.bar(x - 1.5 * width, [r["exact"] for r in prow], width, color="k", label="exact")
        for i, law in enumerate(data["laws"]):
            ax.bar(
                x + (i - 0.5) * width,
                [r["lower"][law] for r in prow],
                width,
                color=LAW_STYLES[law]["color"],
                label=LAW_LABELS[law],
            )
        ax.set_xticks(x, [f"K={r['steps']}" for r in prow])
        ax.set_ylabel("nats")
        ax.set_title(f"even parity, $L$ = {data['parity']['length']}")
        ax.legend(fontsize=9)
        label_panels(axes)
        return save_figure(fig, path)
