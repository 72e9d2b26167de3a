"""``python -m paper_repro [--preset quick|full] [--only NAME ...] [--out figures] [--workers N | --dask ADDRESS
| --slurm K=V ...]``: every figure module as one work item, on local processes, Dask or Slurm."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

import paper_repro
from paper_repro.ledger.publish import refresh_docs, write_gallery, write_provenance
from paper_repro.scheduling import (
    dependencies,
    discover,
    figure_items,
    item_store,
    staging_root,
)
from sims.execution import InlineExecutor, add_executor_arguments, make_executor, run_items, spec_from_args
from sims.results import atomic_write_text

PRESETS = ("quick", "full")
TRAIN_PREFIX = "train|"


def parse_args(argv, mods) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m paper_repro", description=paper_repro.__doc__)
    p.add_argument("--preset", choices=PRESETS, default="quick")
    p.add_argument("--only", nargs="*", choices=sorted(mods), help="run only these figure modules")
    p.add_argument("--out", type=Path, default=Path("figures"))
    p.add_argument("--list", action="store_true", help="list the figure modules and exit")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: skip the modules it finished, continue the others from their "
        "partial results (default: recompute everything)",
    )
    add_executor_arguments(p)
    return p.parse_args(argv)


def write_timings(out: Path, preset: str, report, workers: int | None, threads: int) -> dict:
    """Merge this run's seconds into ``<out>/timings_<preset>.json`` (the others' records stay): per figure
    module (``seconds``) and per model trained or loaded from the cache (``models``)."""
    path = out / f"timings_{preset}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    timings = {k: round(v, 2) for k, v in report.timings().items() if k not in report.resumed}
    modules = {k: v for k, v in timings.items() if not k.startswith(TRAIN_PREFIX)}
    models = {k[len(TRAIN_PREFIX) :]: v for k, v in timings.items() if k.startswith(TRAIN_PREFIX)}
    seconds = {**previous.get("seconds", {}), **modules}
    summary = {
        "preset": preset,
        "seconds": dict(sorted(seconds.items())),
        "total_seconds": round(sum(seconds.values()), 2),
        "models": dict(sorted({**previous.get("models", {}), **models}.items())),
        "this_run_seconds": round(sum(timings.values()), 2),
        "wall_seconds": round(report.wall_seconds, 2),
        "workers": workers,
        "executor": report.executor,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": threads,
        "cpus": os.cpu_count(),
    }
    atomic_write_text(path, json.dumps(summary, indent=1))
    return summary


def publish(out: Path, preset: str, mods, workers: int | None, threads: int, executor: str) -> None:
    """After the figure modules: the run's provenance, the gallery and claims ledger of ``out`` (computed
    from every data file there, so a ``--only`` run updates its figures' verdicts in place) and, when
    ``out`` is the repository's ``figures/``, the generated blocks of README.md and docs/."""
    write_provenance(out, preset, threads, workers, executor)
    gallery = write_gallery(out, preset, [m.FIGURE for m in mods.values()])
    print(f"[paper_repro] gallery and claims ledger: {gallery}")
    for doc in refresh_docs(out):
        print(f"[paper_repro] generated blocks refreshed: {doc}")


def main(argv=None) -> int:
    mods = discover()
    args = parse_args(argv, mods)
    if args.list:
        deps = dependencies(mods)
        for name, mod in mods.items():
            after = f"  [after {', '.join(deps[name])}]" if deps[name] else ""
            print(f"{name:28s} {getattr(mod, 'DESCRIPTION', '')}{after}")
        return 0
    names = args.only or list(mods)
    progress = not args.no_progress
    torch.set_num_threads(max(1, args.threads))
    spec = spec_from_args(args, staging_root(args.out, args.preset) / "submitit")
    timings_path = args.out / f"timings_{args.preset}.json"
    recorded = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    costs = {
        **recorded.get("seconds", {}),
        **{TRAIN_PREFIX + k: v for k, v in recorded.get("models", {}).items()},
    }
    store = item_store(args.out, args.preset)
    if args.resume:  # a module counts as finished only while all its files are still there
        for key in store.keys():
            files = store.read(key).value.get("files", [])
            if not all((args.out / f).exists() for f in files):
                store.discard([key])

    def report_module(result) -> None:
        if result.ok and result.key.startswith(TRAIN_PREFIX):
            tqdm.write(f"[paper_repro] model {result.key[len(TRAIN_PREFIX) :]}: {result.seconds:.1f} s")
        elif result.ok:
            files = "".join(f"\n    wrote {args.out / f}" for f in result.value["files"])
            tqdm.write(f"[paper_repro] {result.key}: {result.seconds:.1f} s ({result.worker}){files}")
        else:
            tqdm.write(f"[paper_repro] {result.key} FAILED (traceback at the end)")

    items = figure_items(names, mods, args.preset, args.out, False, args.resume)
    with make_executor(spec, max_items=len(items)) as executor:
        inline = isinstance(executor, InlineExecutor)
        if inline and progress:  # one process: the modules' own progress bars too
            items = figure_items(names, mods, args.preset, args.out, True, args.resume)
        print(
            f"[paper_repro] {len(names)} figure modules and {len(items) - len(names)} models "
            f"({args.preset}) on {executor.describe()}",
            flush=True,
        )
        report = run_items(
            items,
            executor,
            store=store,
            resume=args.resume,
            costs=costs,
            progress=progress,
            desc=f"paper_repro {args.preset}",
            on_result=report_module,
        )
    workers = getattr(executor, "workers", 1 if inline else None)
    summary = write_timings(args.out, args.preset, report, workers, max(1, args.threads))
    if report.resumed:
        print(f"[paper_repro] resumed: {', '.join(report.resumed)} had finished")
    if not report.ok:
        print(report.failure_report(), file=sys.stderr)
        print(f"[paper_repro] {len(report.failures)} failed, {len(report.skipped)} skipped", file=sys.stderr)
        return 1
    shutil.rmtree(store.folder, ignore_errors=True)
    publish(args.out, args.preset, mods, workers, max(1, args.threads), executor.describe())
    print(
        f"[paper_repro] done in {summary['wall_seconds']:.1f} s ({summary['this_run_seconds']:.1f} s of work)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
