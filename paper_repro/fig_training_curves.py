"""Real small-model training: standard vs P-POTS vs MIRROR vs both, several seeds, AR baseline.

Figure ``training_curves.png`` (data ``training_curves.json`` / ``.csv``), suite
:data:`sims.models.experiments.TRAINING_SUITES` (quick: ``ngram2``, L = 5, 4 methods x 3 seeds + AR,
300 steps of 64 rows; full: L = 6, 5 methods x 5 seeds, 3000 steps):

(a) validation NELBO minus the true per-token NLL of the same validation sequences (paired Monte Carlo gap;
    AR: exact NLL minus true NLL) versus step; line = mean over seeds, band = min..max over seeds;
(b) measured per-example gradient variance (trace of the covariance, nested Monte Carlo) times rows per
    example (equal compute), mean +- s.d. over seeds;
(c) final exact NELBO gap (enumeration; AR: exact NLL gap), one dot per seed: the run-to-run spread;
(d) exact A/B/C (times rows per example) of the estimator each run trained with, on its own final
    network, mean over seeds; black diamonds: measured loss variance at the last step (MC, mean +- s.d.).

Models come from the shared cache (results/models/); the first call trains them.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sims.models.experiments import TRAINING_SUITES, run_configs, summary_row
from sims.plotting import house_style, save_figure
from sims.results import atomic_write_text

DESCRIPTION = "MDM training: standard / P-POTS / MIRROR / both over seeds (+AR): curves, variance, spread"

COLORS = {"standard": "C0", "ppots": "C1", "mirror": "C2", "ppots_mirror": "C3", "pair": "C4", "ar": "k"}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    suite = TRAINING_SUITES[preset]
    models = run_configs(suite.configs(), progress=progress)
    runs = []
    for m in models:
        row = summary_row(m)
        row["history"] = {
            "eval": m.history["eval"],
            "measure": m.history["measure"],
            "exact": m.history["final"].get("exact"),
            "conventions": m.history["conventions"],
        }
        runs.append(row)
    data = {
        "suite": {
            "language": suite.language,
            "length": suite.length,
            "preset": suite.preset,
            "methods": list(suite.methods),
            "seeds": list(suite.seeds),
        },
        "config_example": models[0].config.to_dict(),
        "runs": runs,
    }
    stem = Path(out_dir) / ("training_curves" + ("" if preset == "quick" else f"_{preset}"))
    atomic_write_text(stem.with_suffix(".json"), json.dumps(data, indent=1, default=str))
    buf = io.StringIO()
    keys = [
        "method",
        "seed",
        "train_seconds",
        "exact_value",
        "exact_gap",
        "val_gap",
        "val_gap_se",
        "measured_loss_total",
        "measured_grad_total_per_row",
    ]
    w = csv.writer(buf)
    w.writerow(keys)
    for r in runs:
        w.writerow([r.get(k) for k in keys])
    atomic_write_text(stem.with_suffix(".csv"), buf.getvalue())
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json"), stem.with_suffix(".csv")]


def _by_method(runs):
    out = {}
    for r in runs:
        out.setdefault(r["method"], []).append(r)
    return out


def _plot(data: dict, path: Path) -> Path:

    groups = _by_method(data["runs"])
    with house_style():
        fig, axes = plt.subplots(1, 4, figsize=(18, 4.6))
        ax = axes[0]
        for method, rs in groups.items():
            steps = [e["step"] for e in rs[0]["history"]["eval"]]
            vals = np.array([[e["gap"] for e in r["history"]["eval"]] for r in rs])
            se = np.array([[e["gap_se"] for e in r["history"]["eval"]] for r in rs])
            ax.plot(steps, vals.mean(0), color=COLORS[method], marker="o", label=f"{method} (n={len(rs)})")
            ax.fill_between(steps, vals.min(0), vals.max(0), color=COLORS[method], alpha=0.15)
            ax.errorbar(
                steps,
                vals.mean(0),
                yerr=np.sqrt((se**2).mean(0) / len(rs)),
                color=COLORS[method],
                ls="none",
                capsize=2,
            )
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("val. NELBO - true NLL (nats/token)")
        ax.set_title("(a) validation gap (paired MC; AR exact NLL)")
        ax.legend(fontsize=7)
        ax = axes[1]
        for method, rs in groups.items():
            if not rs[0]["history"]["measure"]:
                continue
            steps = [e["step"] for e in rs[0]["history"]["measure"]]
            vals = np.array([[e["grad_total_per_row"] for e in r["history"]["measure"]] for r in rs])
            ax.errorbar(
                steps,
                vals.mean(0),
                yerr=vals.std(0, ddof=1) if len(rs) > 1 else None,
                marker="o",
                color=COLORS[method],
                capsize=2,
                label=method,
            )
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("tr Cov(per-example gradient) x rows/example")
        ax.set_title("(b) measured gradient variance (equal compute)")
        ax.legend(fontsize=7)
        ax = axes[2]
        names = list(groups)
        for i, method in enumerate(names):
            gaps = [r["exact_gap"] for r in groups[method] if r.get("exact_gap") is not None]
            ax.scatter([i] * len(gaps), gaps, color=COLORS[method], zorder=3)
            if gaps:
                m = statistics.fmean(gaps)
                ax.hlines(m, i - 0.25, i + 0.25, color=COLORS[method])
                sd = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
                ax.text(i, max(gaps), f"{m:.4f}\n+-{sd:.4f}", ha="center", va="bottom", fontsize=6.5)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20)
        ax.set_yscale("log")
        all_gaps = [r["exact_gap"] for r in data["runs"] if r.get("exact_gap")]
        if all_gaps:
            ax.set_ylim(min(all_gaps) / 1.5, max(all_gaps) * 3)
        ax.set_ylabel("final exact gap: NELBO (AR: NLL) - H/L (nats/token)")
        ax.set_title("(c) run-to-run spread (one dot per seed)")
        ax = axes[3]
        mdm = [m for m in names if m != "ar"]
        bottom = np.zeros(len(mdm))
        for part, col in (("A", "C0"), ("B", "C1"), ("C", "C2")):
            vals = []
            for method in mdm:
                ds = [
                    r["history"]["exact"]["decomposition"]["own"]
                    for r in groups[method]
                    if r["history"].get("exact") and "decomposition" in r["history"]["exact"]
                ]
                vals.append(statistics.fmean(d[part] * d["rows_per_example"] for d in ds) if ds else np.nan)
            ax.bar(range(len(mdm)), vals, bottom=bottom, color=col, label=f"exact {part} x rows")
            bottom += np.nan_to_num(vals)
        meas = [
            [
                r["measured_loss_total"] * r["history"]["measure"][-1]["rows_per_example"]
                for r in groups[m]
                if r.get("measured_loss_total") is not None
            ]
            for m in mdm
        ]
        ax.errorbar(
            range(len(mdm)),
            [np.mean(v) if v else np.nan for v in meas],
            yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in meas],
            fmt="D",
            color="k",
            capsize=3,
            label="measured loss variance x rows (MC)",
        )
        ax.set_xticks(range(len(mdm)))
        ax.set_xticklabels(mdm, rotation=20)
        ax.set_ylabel("loss variance x rows per example (nats/token)^2")
        ax.set_title("(d) own estimator on final networks")
        ax.legend(fontsize=7)
        s = data["suite"]
        fig.suptitle(
            f"Small transformer MDMs on {s['language']} L={s['length']} ({s['preset']} preset): "
            "training with standard sampling, P-POTS, MIRROR and both; AR baseline"
        )
        fig.tight_layout()
        return save_figure(fig, path)
