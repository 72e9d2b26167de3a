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
    recover_moves,
    staging_root,
)
from sims.execution import InlineExecutor, add_executor_arguments, make_executor, run_items, spec_from_args
from sims.locking import OutputLock
from sims.results import atomic_write_text, read_json
from sims.validation import CorruptFileError, InvalidArgumentError, SuiteError

PRESETS = ("quick", "full")
TRAIN_PREFIX = "train|"


def parse_args(argv, mods) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m paper_repro", description=paper_repro.__doc__)
    p.add_argument("--preset", choices=PRESETS, default="quick")
    p.add_argument(
        "--only",
        nargs="+",
        choices=sorted(mods),
        metavar="NAME",
        help="run only these figure modules (--list)",
    )
    p.add_argument("--out", type=Path, default=Path("figures"))
    p.add_argument("--list", action="store_true", help="list the figure modules and exit")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--pdf", action="store_true", help="also write every figure as PDF beside its PNG")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: skip the modules it finished, continue the others from their "
        "partial results (default: recompute everything)",
    )
    add_executor_arguments(p)
    args = p.parse_args(argv)
    if args.only and len(set(args.only)) != len(args.only):
        p.error(f"argument --only: a module is named more than once: {args.only}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"argument --out: {args.out} is a file; give a folder")
    return args


#: What to do with a timings file that cannot be read.
TIMINGS_REMEDY = "delete it: it only records how long each module took, and the next run writes it anew"


def read_timings(path: Path) -> dict:
    """The timings file of an earlier run (``{}`` if there is none), checked: a corrupt one is named."""
    if not path.exists():
        return {}
    data = read_json(path, remedy=TIMINGS_REMEDY)
    groups = ("seconds", "models")
    if not isinstance(data, dict) or not all(isinstance(data.get(g, {}), dict) for g in groups):
        raise CorruptFileError(path, f"{path} is not a timings file; {TIMINGS_REMEDY}")
    for g in groups:
        bad = [
            k for k, v in data.get(g, {}).items() if not isinstance(v, (int, float)) or isinstance(v, bool)
        ]
        if bad:
            raise CorruptFileError(path, f"{path}: {g} of {bad[:3]} are not numbers; {TIMINGS_REMEDY}")
    return data


def write_timings(out: Path, preset: str, report, workers: int | None, threads: int) -> dict:
    """Merge this run's seconds into ``<out>/timings_<preset>.json`` (the others' records stay): per figure
    module (``seconds``) and per model trained or loaded from the cache (``models``)."""
    path = out / f"timings_{preset}.json"
    previous = read_timings(path)
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
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        with OutputLock(args.out, directory=True):
            return run(args, mods)
    except SuiteError as exc:
        print(f"python -m paper_repro: error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, mods: dict) -> int:
    """The run of :func:`main`, with the lock of the output folder held."""
    for name in recover_moves(args.out):
        print(f"[paper_repro] {name}: completed the file moves an interrupted run left unfinished")
    names = args.only or list(mods)
    progress = not args.no_progress
    torch.set_num_threads(args.threads)
    spec = spec_from_args(args, staging_root(args.out, args.preset) / "submitit")
    recorded = read_timings(args.out / f"timings_{args.preset}.json")
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

    formats = ("pdf",) if args.pdf else ()
    items = figure_items(names, mods, args.preset, args.out, False, args.resume, formats=formats)
    try:
        executor = make_executor(spec, max_items=len(items))
    except ImportError as exc:  # an optional engine (--dask, --slurm) that is not installed
        raise InvalidArgumentError(str(exc)) from exc
    with executor:
        inline = isinstance(executor, InlineExecutor)
        if inline and progress:  # one process: the modules' own progress bars too
            items = figure_items(names, mods, args.preset, args.out, True, args.resume, formats=formats)
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
    summary = write_timings(args.out, args.preset, report, workers, args.threads)
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
