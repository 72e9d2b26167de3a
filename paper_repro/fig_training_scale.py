"""Multi-seed training at scale: do P-POTS and MIRROR improve the gap or the run-to-run spread? (Jia et al.)

Study :data:`sims.models.scale.SCALE_PRESETS` (``quick`` for the quick figure preset; ``full`` uses
``auto``: the ``gpu`` preset when CUDA is present, else ``cpu``): five MDM training estimators (standard,
P-POTS, MIRROR, P-POTS + MIRROR, two independent masks) and a matched AR model, five or more seeds each,
every model measured exactly beside the oracle (:func:`sims.models.scale.measure_model`); the
run-to-run statistics with intervals come from :func:`sims.models.aggregate.scale_summary`.

Panels: (a) exact gap (NELBO - H/L; AR: NLL - H/L) against training steps, mean and 95% t-interval over
seeds; (b) final exact gap, one dot per seed, mean and interval; (c) run-to-run spread (s.d. over seeds)
with its chi-square interval; (d) exact SER and (e) exact per-token KL of the sampler law against
sampling steps, model means beside the oracle and the AR model's own law; (f) exact per-row variance of
the estimator each model trained with, on its own final network (A/B/C), and the last measured
per-example gradient variance per row (right axis).

Per-model records: ``results/training_scale/<preset>/models/*.json`` (one file per model, resumable).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_repro.ledger import FigureSpec
from sims.models.aggregate import scale_summary
from sims.models.scale import resolve_preset, run_scale
from sims.plotting import house_style, save_figure
from sims.results import atomic_write_text, write_json

DESCRIPTION = "multi-seed MDM training (standard / P-POTS / MIRROR / both / pair) vs AR: exact gaps, spreads"

#: Scale preset used by each figure preset.
SCALE_OF = {"quick": "quick", "full": "auto"}

COLORS = {"standard": "C0", "ppots": "C1", "mirror": "C2", "ppots_mirror": "C3", "pair": "C4", "ar": "k"}

FIGURE = FigureSpec(
    name="training_scale",
    title="Multi-seed training: exact gaps and run-to-run spread of MDM estimators vs AR",
    caption="Small transformer MDMs trained with the standard estimator, P-POTS, MIRROR, both, and two "
    "independent masks, and a matched AR model (same network, rows per step, schedule and seeds), five "
    "seeds or more each, on a language short enough for exact enumeration. Gaps in nats/token "
    "(NELBO - H/L; AR: NLL - H/L) by enumeration; intervals are 95% (t for means, chi-square for s.d.).",
    shows="Whether the variance-reduced estimators give a lower final gap or a smaller run-to-run spread "
    "than the standard estimator, and how far the MDMs' spread is from the AR model's.",
    claims=(
        "training.variance_reduction_realised",
        "training.gap_improved",
        "training.spread_reduced",
        "training.spread_near_ar",
        "training.mdm_gap_above_ar",
    ),
    caveats=(
        "Toy scale: networks of ~10^5 parameters on an enumerable language; the paper's claims concern "
        "8B-parameter LLM fine-tuning.",
        "Five seeds give wide spread intervals (a factor of ~4.6 between the ends of a s.d. interval).",
        "Seeds are shared across methods (same initial network and data stream), so differences are paired.",
    ),
    depends_on=(),
)


def _slim(r: dict) -> dict:
    keep = (
        "name",
        "kind",
        "method",
        "seed",
        "num_parameters",
        "train_seconds",
        "train_cpu_seconds",
        "device",
    )
    out = {k: r.get(k) for k in keep}
    out.update(
        {
            "final_exact": r["final_exact"],
            "exact_curve": r["exact_curve"],
            "quality": r["quality"],
            "measure_last": r["measure"][-1] if r.get("measure") else None,
            "weights_checksum": r["weights_checksum"],
        }
    )
    return out


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    sp = resolve_preset(SCALE_OF[preset])
    records, oracle = run_scale(sp, log=print if progress else None)
    summary = scale_summary(records, oracle)
    stem = Path(out_dir) / ("training_scale" + ("" if preset == "quick" else f"_{preset}"))
    data = {"scale_preset": sp.describe(), "summary": summary, "runs": [_slim(r) for r in records]}
    write_json(stem.with_suffix(".json"), data)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "seed", "final_exact_gap", "own_variance_per_row", "train_cpu_seconds"])
    for r in records:
        dec = (r["final_exact"] or {}).get("decomposition")
        w.writerow(
            [
                r["method"],
                r["seed"],
                r["final_exact"]["gap"],
                dec["own"]["total_per_row"] if dec else "",
                r["train_cpu_seconds"],
            ]
        )
    atomic_write_text(stem.with_suffix(".csv"), buf.getvalue())
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json"), stem.with_suffix(".csv")]


def _err(iv: dict) -> tuple[float, list[float]]:
    return iv["value"], [iv["value"] - iv["low"], iv["high"] - iv["value"]]


def _plot(data: dict, path: Path) -> Path:
    s = data["summary"]
    methods = s["methods"]
    with house_style():
        fig, axes = plt.subplots(2, 3, figsize=(19, 9.5))
        axes = axes.ravel()
        ax = axes[0]
        for m, c in s["gap_curve"].items():
            mean = np.array([g["value"] for g in c["gap"]])
            lo = np.array([g["low"] for g in c["gap"]])
            hi = np.array([g["high"] for g in c["gap"]])
            ax.plot(c["step"], mean, color=COLORS.get(m), label=m, marker=".")
            ax.fill_between(c["step"], np.maximum(lo, 1e-6), hi, color=COLORS.get(m), alpha=0.15)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("exact gap (nats/token)")
        ax.set_title("(a) exact gap vs training step (mean, 95% CI)")
        ax.legend(fontsize=7)
        ax = axes[1]
        for i, m in enumerate(methods):
            row = s["final_gap"][m]
            ax.scatter([i] * row["n"], row["values"], color=COLORS.get(m), s=14, zorder=3)
            mean = row["mean"]
            ax.errorbar(
                [i + 0.2],
                [mean["value"]],
                yerr=[[mean["value"] - mean["low"]], [mean["high"] - mean["value"]]],
                fmt="s",
                color=COLORS.get(m),
                capsize=3,
            )
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=25)
        ax.set_yscale("log")
        ax.set_ylabel("final exact gap (nats/token)")
        ax.set_title("(b) final gap: seeds, mean and 95% CI")
        ax = axes[2]
        for i, m in enumerate(methods):
            sd = s["final_gap"][m]["sd"]
            if sd:
                v, e = _err(sd)
                ax.errorbar([i], [v], yerr=[[e[0]], [e[1]]], fmt="o", color=COLORS.get(m), capsize=3)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=25)
        ax.set_yscale("log")
        ax.set_ylabel("s.d. of the final exact gap over seeds")
        ax.set_title("(c) run-to-run spread (95% chi-square CI)")
        for ax, key, label in (
            (axes[3], "sequence_error", "exact SER"),
            (axes[4], "kl_per_token", "exact KL(q || p_K) / L (nats/token)"),
        ):
            oq = s["oracle"]["quality"]
            ax.plot([q["steps"] for q in oq], [q[key] for q in oq], "k--", marker="x", label="oracle")
            for m, rows in s["quality"].items():
                if m == "ar" or not rows:
                    continue
                v = [r[key] for r in rows]
                ax.errorbar(
                    [r["steps"] for r in rows],
                    [x["value"] for x in v],
                    yerr=[[x["value"] - x["low"] for x in v], [x["high"] - x["value"] for x in v]],
                    color=COLORS.get(m),
                    marker="o",
                    capsize=2,
                    label=m,
                )
            if s["quality"].get("ar"):
                ax.axhline(s["quality"]["ar"][0][key]["value"], color="k", lw=0.8, label="AR (own law)")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("sampling steps K (fixed count, random order)")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        axes[3].set_title("(d) exact sequence error vs sampling steps (mean, 95% CI)")
        axes[4].set_title("(e) exact per-token KL of the sampler law vs steps")
        ax = axes[5]
        mdm = [m for m in methods if m != "ar"]
        bottom = np.zeros(len(mdm))
        for part, col in (("A", "C0"), ("B", "C1"), ("C", "C2")):
            vals = []
            for m in mdm:
                ds = [r["final_exact"]["decomposition"]["own"] for r in data["runs"] if r["method"] == m]
                vals.append(float(np.mean([d[part] * d["rows_per_example"] for d in ds])))
            ax.bar(range(len(mdm)), vals, bottom=bottom, color=col, label=f"exact {part} x rows")
            bottom += np.array(vals)
        ax.set_xticks(range(len(mdm)))
        ax.set_xticklabels(mdm, rotation=25)
        ax.set_ylabel("exact loss variance per row (own estimator)")
        ax.legend(fontsize=7, loc="upper left")
        ax2 = ax.twinx()
        meas = s["measured_grad_variance_per_row"]
        xs = [i for i, m in enumerate(mdm) if m in meas]
        ax2.errorbar(
            xs,
            [meas[mdm[i]]["value"] for i in xs],
            yerr=[
                [meas[mdm[i]]["value"] - meas[mdm[i]]["low"] for i in xs],
                [meas[mdm[i]]["high"] - meas[mdm[i]]["value"] for i in xs],
            ],
            fmt="D",
            color="k",
            capsize=3,
        )
        ax2.set_ylabel("measured tr Cov(grad) per row (black, MC)")
        ax.set_title("(f) exact estimator variance; measured gradient variance")
        p = data["scale_preset"]
        fig.suptitle(
            f"{p['language']} L={p['length']}, scale preset {p['name']}: {len(p['seeds'])} seeds per method, "
            f"{p['overrides'].get('steps')} steps"
        )
        fig.tight_layout()
        return save_figure(fig, path)
