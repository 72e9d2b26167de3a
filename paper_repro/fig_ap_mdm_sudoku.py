"""AP-MDM (Yang et al., arXiv 2510.06190): self-correction by remasking on 4x4 Sudoku and length-variable
generation by insertion on two-sided Dyck-k, both exact.

Thin module: the computation is :mod:`theory.ap_mdm_sudoku` and :mod:`theory.ap_mdm_dyck2`.
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.plot_style import house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import write_json
from theory.ap_mdm_dyck2 import dyck2_study
from theory.ap_mdm_sudoku import REMASK_RULES, sudoku_study

DESCRIPTION = "AP-MDM remask self-correction on 4x4 Sudoku and insertion on two-sided Dyck-k, exact"

FIGURE = FigureSpec(
    name="ap_mdm_sudoku",
    title="AP-MDM: remask self-correction on 4x4 Sudoku, insertion on two-sided Dyck-k",
    caption="(a, b) 4x4 Sudoku puzzles (a solved grid with k blank cells, grid and blanks drawn from a seed); "
    "AP-MDM's map g unmasks one uniformly random masked cell per step with the exact posterior of the 288 "
    "solved grids given the revealed cells, mixed with uniform noise eps (uniform fallback when no grid "
    "agrees), and a remask head: none (a plain MDM), conflict (remask generated cells repeating a digit in "
    "their row, column or box) or oracle (remask generated cells no solution has). Exact law of the state "
    "propagated through 4k g steps. (a) probability of stopping on a solved grid within 4k steps against "
    "eps (mean over puzzles; bars up to that plus the mass still running). (b) the same against the number "
    "of g steps, at the largest eps (solid) and with a Latin-square denoiser that ignores the boxes at "
    "eps = 0 (dashed, more blanks). (c) two-sided Dyck-k, target uniform on the length 0..2N then on the "
    "words: total variation of the generated law to the target for the exact stop-or-insert reversal "
    "(each insertion is three g steps), insertion of a uniformly random cancelling pair with the exact "
    "length law, and the best fixed-length MDM with the exact oracle of one length.",
    shows="A plain MDM keeps its errors, so its probability of a solved grid falls with the noise and with a "
    "box-blind denoiser; with either remask head no run stops on a wrong grid and the probability of a "
    "solved grid approaches 1, at the price of extra g steps. Insertion with stop reaches the target law, "
    "lengths included, exactly; a fixed canvas cannot, and insertion without the content oracle gets the "
    "lengths right but not the words.",
    claims=(
        "ap_mdm.sudoku_remask_self_correction",
        "ap_mdm.sudoku_remask_never_stops_wrong",
        "ap_mdm.sudoku_exact_denoiser_no_remask",
        "ap_mdm.dyck2_support",
        "ap_mdm.length_variable",
    ),
    caveats=(
        "The paper's Sudoku is 9x9 with a trained model (remask head trained by token corruption); here the "
        "denoiser is the exact oracle made noisy or box-blind, and the remask heads are our two idealised "
        "rules (a local verifier, a perfect corruption detector). Insert and delete bits are 0 on Sudoku, as "
        "in the audit of the official code.",
        "The two-sided Dyck-k process is our exact construction (noising by deleting cancelling pairs), not "
        "the paper's proof construction; the target laws are our choice.",
    ),
    oracle_fallback="uniform",
)

PRESETS = {
    "quick": {
        "noise": {"num_blanks": 5, "seeds": (0, 1), "noises": (0.0, 0.05, 0.1, 0.2, 0.3)},
        "latin": {"num_blanks": 10, "seeds": (0, 1)},
        "dyck": ((2, 1), (2, 2), (2, 3), (3, 1), (3, 2)),
    },
    "full": {
        "noise": {"num_blanks": 6, "seeds": (0, 1, 2), "noises": (0.0, 0.05, 0.1, 0.2, 0.3)},
        "latin": {"num_blanks": 12, "seeds": (0, 1, 2, 3)},
        "dyck": ((2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (3, 2), (3, 3)),
    },
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    n = cfg["noise"]
    data = {
        "noise": sudoku_study(n["num_blanks"], n["seeds"], n["noises"], 4, ("sudoku",)),
        "latin": sudoku_study(cfg["latin"]["num_blanks"], cfg["latin"]["seeds"], (0.0,), 4, ("latin",)),
        "dyck2": dyck2_study(cfg["dyck"]),
    }
    stem = Path(out_dir) / ("ap_mdm_sudoku" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


COLORS = {"none": "#d95f02", "conflict": "#1b9e77", "oracle": "#7570b3"}
LABELS = {"none": "plain MDM (no remask)", "conflict": "remask: conflict", "oracle": "remask: oracle"}


def _mean_runs(study: dict, rule: str, noise: float, key: str) -> list[float]:
    rows = [r[key] for p in study["puzzles"] for r in p["runs"] if r["rule"] == rule and r["noise"] == noise]
    return [sum(v) / len(rows) for v in zip(*rows)]


def _plot(data: dict, path: Path) -> Path:
    noise, latin = data["noise"], data["latin"]
    eps = noise["noises"]
    with house_style():
        fig, axes = new_figure(1, 3, width=10.0, height=3.5)
        axes = list(axes[0])
        ax = axes[0]
        for rule in REMASK_RULES:
            v = [_mean_runs(noise, rule, e, "valid")[-1] for e in eps]
            r = [_mean_runs(noise, rule, e, "running")[-1] for e in eps]
            ax.errorbar(
                eps, v, yerr=[[0] * len(v), r], fmt="-o", color=COLORS[rule], label=LABELS[rule], ms=4
            )
        ax.set_xlabel(r"denoiser noise $\varepsilon$")
        ax.set_ylabel(f"P(solved within {noise['horizon']} g steps), k = {noise['num_blanks']}")
        ax.set_ylim(-0.03, 1.05)
        ax.legend(fontsize=8, loc="lower left")
        ax = axes[1]
        for rule in REMASK_RULES:
            v = _mean_runs(noise, rule, max(eps), "valid")
            ax.plot(range(len(v)), v, "-", color=COLORS[rule], label=f"{LABELS[rule]}, eps = {max(eps)}")
            w = _mean_runs(latin, rule, 0.0, "valid")
            ax.plot(
                range(len(w)),
                w,
                "--",
                color=COLORS[rule],
                label=f"{rule}, Latin denoiser, eps = 0, k = {latin['num_blanks']}",
            )
        ax.set_xlabel("g steps")
        ax.set_ylabel("P(stopped on a solved grid)")
        ax.set_ylim(-0.03, 1.05)
        ax.legend(fontsize=6, loc="lower right", bbox_to_anchor=(1.0, 0.3))
        ax = axes[2]
        for k, marker in ((2, "o"), (3, "s")):
            rows = [r for r in data["dyck2"]["rows"] if r["k"] == k]
            if not rows:
                continue
            N = [r["max_pairs"] for r in rows]
            ax.plot(
                N,
                [r["oracle"]["tv"] for r in rows],
                "-",
                marker=marker,
                color="k",
                label=f"k={k}: AP-MDM insert+stop",
            )
            ax.plot(
                N,
                [r["uniform"]["tv"] for r in rows],
                ":",
                marker=marker,
                color="#1b9e77",
                label=f"k={k}: uniform insertion",
            )
            ax.plot(
                N,
                [min(f["tv"] for f in r["fixed_length"]) for r in rows],
                "--",
                marker=marker,
                color="#d95f02",
                label=f"k={k}: best fixed-length MDM",
            )
        ax.set_xlabel("longest word: N pairs")
        ax.set_ylabel("TV(generated, target)")
        ax.set_xticks(sorted({r["max_pairs"] for r in data["dyck2"]["rows"]}))
        ax.set_ylim(-0.03, 1.3)
        ax.legend(fontsize=6.5, ncol=2, loc="upper left")
        label_panels(axes)
        return save_figure(fig, path)
