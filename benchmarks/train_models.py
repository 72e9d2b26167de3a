"""Benchmark: train the small MDMs (standard / P-POTS / MIRROR / P-POTS+MIRROR [/ pair]) and the AR baseline.

Usage (from the repository root)::

    python benchmarks/train_models.py                    # quick preset: a few minutes on 2 CPU cores
    python benchmarks/train_models.py --preset full      # full preset (GPU used when present)
    python benchmarks/train_models.py --retrain          # ignore the model cache (results/models/)

The reference in every ratio is the standard estimator trained with the same seed in the same run:

* time ratio: training CPU time of the optimisation steps (evaluation and variance measurement
  excluded; wall time when CPU time is not recorded) / standard's. Wall times are also printed; on a
  shared machine they mostly measure contention;
* variance reduction factor: exact per-row variance of the standard estimator / exact per-row variance of
  the estimator the method actually trained with (for P-POTS: its pre-estimated proposal), both
  evaluated on the same trained network (its own conditionals, by enumeration; per row = equal compute);
* NELBO gap: exact per-token NELBO minus the exact entropy rate (AR: exact NLL minus entropy), with the
  spread over seeds.

Models are cached in results/models/ (so paper_repro reuses them); with a cached model the stored
training time is reported and marked "cached". Results go to results/benchmarks/train_models_<preset>.json.

Full preset (documented, not run by default): ngram2 at L=6 (exact enumeration), 5 methods x 5 seeds + AR,
d_model 128, 3 layers, 3000 steps of 128 rows; roughly 1-2 h on 2 CPU cores, minutes on a GPU.

Multi-seed studies at scale (sims/models/scale.py; one JSON record per model under
results/training_scale/<preset>/models/, resumable; summary with intervals in .../summary.json)::

    python benchmarks/train_models.py --scale quick              # minutes
    python benchmarks/train_models.py --scale auto --log cpu.log # gpu preset with CUDA, else cpu (~1 h)
    python benchmarks/train_models.py --scale cpu --shard 0/2 &  # two processes share the work;
    python benchmarks/train_models.py --scale cpu --shard 1/2    # results identical to one process
    python benchmarks/train_models.py --scale cpu --methods standard ppots_mirror ar  # a subset first
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch

from sims.models.aggregate import scale_summary
from sims.models.cache import get_trained, model_path
from sims.models.experiments import TRAINING_SUITES, summary_row
from sims.models.scale import default_results_dir, resolve_preset, run_scale
from sims.results import atomic_write_text, write_json


def _fmt(v, nd=4):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}g}"


def run_scale_study(name: str, device: str, shard: str, log_path: Path | None, methods=None) -> int:
    """Train and measure a multi-seed study; print progress (and append it to ``log_path``)."""
    preset = resolve_preset(name)
    i, n = (int(v) for v in shard.split("/"))

    def log(line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, flush=True)
        if log_path is not None:
            with open(log_path, "a") as fh:
                fh.write(stamped + "\n")

    log(f"study {preset.name}: {len(preset.configs())} models, shard {i}/{n}, device {device}")
    records, oracle = run_scale(
        preset, device=device, shard=(i, n), log=log, methods=tuple(methods) if methods else None
    )
    if len(records) < len(preset.configs()):
        log(f"{len(records)} of {len(preset.configs())} records present; run the other shards, then again")
        return 0
    summary = scale_summary(records, oracle)
    path = write_json(default_results_dir(preset.name) / "summary.json", summary)
    for m in summary["methods"]:
        row = summary["final_gap"][m]
        sd = row["sd"]
        log(
            f"{m:>13s}: gap {row['mean']['value']:.5f} [{row['mean']['low']:.5f}, {row['mean']['high']:.5f}], "
            f"s.d. {sd['value']:.5f} [{sd['low']:.5f}, {sd['high']:.5f}]"
        )
    log(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(TRAINING_SUITES), default="quick")
    p.add_argument("--scale", help="run a multi-seed study instead: quick, cpu, gpu or auto")
    p.add_argument("--shard", default="0/1", help="i/n: compute every n-th model of the study from the i-th")
    p.add_argument("--log", type=Path, help="append progress lines to this file")
    p.add_argument("--device", default="auto")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    p.add_argument("--methods", nargs="*", help="subset of the suite's methods (and 'ar')")
    p.add_argument("--seeds", nargs="*", type=int, help="subset of the suite's seeds")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.scale:
        return run_scale_study(args.scale, args.device, args.shard, args.log, args.methods)
    suite = TRAINING_SUITES[args.preset]
    rows = []
    t_all = time.perf_counter()
    path = args.out / f"train_models_{args.preset}.json"
    configs = [
        c
        for c in suite.configs()
        if (not args.methods or ("ar" if c.kind == "ar" else c.method) in args.methods)
        and (not args.seeds or c.seed in args.seeds)
    ]
    for cfg in configs:
        cached = model_path(cfg).exists() and not args.retrain
        model = get_trained(cfg, device=args.device, retrain=args.retrain)
        row = summary_row(model)
        row["cached"] = cached
        row["steps_per_second"] = cfg.steps / model.train_seconds if model.train_seconds else math.nan
        ex = model.history.get("final", {}).get("exact", {})
        dec = ex.get("decomposition")
        if dec:
            row["exact_decomposition"] = dec
        rows.append(row)
        cpu = model.train_cpu_seconds
        print(
            f"{row['method']:>13s} seed {row['seed']}: {model.train_seconds:6.1f} s wall, {_fmt(cpu, 3)} s cpu "
            f"({row['steps_per_second']:.0f} steps/s, {model.device}{', cached' if cached else ''}), "
            f"exact gap {_fmt(row.get('exact_gap'))}, val gap {_fmt(row['val_gap'])} +- {_fmt(row['val_gap_se'], 2)}",
            flush=True,
        )
        atomic_write_text(
            path, json.dumps({"preset": args.preset, "partial": True, "rows": rows}, indent=1, default=str)
        )
    tkey = "train_cpu_seconds" if all(r.get("train_cpu_seconds") for r in rows) else "train_seconds"
    ref_time = {r["seed"]: r[tkey] for r in rows if r["method"] == "standard"}
    for r in rows:
        r["time_ratio_vs_standard"] = r[tkey] / ref_time[r["seed"]] if r["seed"] in ref_time else None
    print(
        f"\nper method (mean and sample s.d. over seeds; reference = standard, same seed; time ratio from {tkey})"
    )
    print(
        f"{'method':>13s} {'train s':>8s} {'time x':>7s} {'exact gap':>18s} {'var/row (own, exact)':>21s} "
        f"{'reduction x':>11s}"
    )
    summary = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        gaps = [r["exact_gap"] for r in rs if r.get("exact_gap") is not None]
        times = [r[tkey] for r in rs]
        ratios = [r["time_ratio_vs_standard"] for r in rs if r["time_ratio_vs_standard"]]
        own_var, red = [], []
        for r in rs:
            dec = r.get("exact_decomposition")
            if dec:
                own_var.append(dec["own"]["total_per_row"])
                red.append(dec["standard"]["total_per_row"] / dec["own"]["total_per_row"])
        s = {
            "n": len(rs),
            "train_seconds_mean": statistics.fmean(times),
            "time_ratio_mean": statistics.fmean(ratios) if ratios else None,
            "exact_gap_mean": statistics.fmean(gaps) if gaps else None,
            "exact_gap_sd": statistics.stdev(gaps) if len(gaps) > 1 else None,
            "own_variance_per_row_mean": statistics.fmean(own_var) if own_var else None,
            "variance_reduction_mean": statistics.fmean(red) if red else None,
        }
        summary[method] = s
        gap_txt = f"{_fmt(s['exact_gap_mean'])} +- {_fmt(s['exact_gap_sd'], 2)}"
        print(
            f"{method:>13s} {s['train_seconds_mean']:8.1f} {_fmt(s['time_ratio_mean'], 3):>7s} {gap_txt:>18s} "
            f"{_fmt(s['own_variance_per_row_mean']):>21s} {_fmt(s['variance_reduction_mean'], 3):>11s}"
        )
    total = time.perf_counter() - t_all
    print(
        f"\ntotal wall time {total:.1f} s (device {rows[0]['device'] if rows else '-'}, "
        f"threads {torch.get_num_threads()})"
    )
    out = {
        "preset": args.preset,
        "suite": {
            "language": suite.language,
            "length": suite.length,
            "methods": suite.methods,
            "seeds": suite.seeds,
        },
        "rows": rows,
        "summary": summary,
        "wall_seconds": total,
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    atomic_write_text(path, json.dumps(out, indent=1, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
