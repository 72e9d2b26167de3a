"""``python -m paper_repro [--preset quick|full] [--only NAME ...] [--out figures]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

import paper_repro
from sims.results import atomic_write_text

PRESETS = ("quick", "full")


def discover() -> dict[str, object]:
    """All ``paper_repro.fig_*`` modules, by short name (without the ``fig_`` prefix)."""
    mods = {}
    for info in pkgutil.iter_modules(paper_repro.__path__):
        if info.name.startswith("fig_"):
            mods[info.name[4:]] = importlib.import_module(f"paper_repro.{info.name}")
    return dict(sorted(mods.items()))


def run_module(mod, name: str, preset: str, out: Path, progress: bool, resume: bool) -> list[Path]:
    """Run one module in a staging folder ``<out>/.partial/<preset>/<name>`` and move its files into ``out``.

    The modules store results incrementally and skip cells already present. Staging keeps that from
    silently reusing the committed data files: by default the staging folder starts empty (everything
    is recomputed); ``--resume`` keeps what an interrupted run left there. Files are moved only after
    the module finished, each with an atomic rename.
    """
    staging = out / ".partial" / preset / name
    if not resume:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    produced = mod.run(preset, staging, progress)
    moved = []
    for path in map(Path, produced):
        target = out / path.name
        os.replace(path, target)
        moved.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return moved


def main(argv=None) -> int:
    mods = discover()
    p = argparse.ArgumentParser(prog="python -m paper_repro", description=paper_repro.__doc__)
    p.add_argument("--preset", choices=PRESETS, default="quick")
    p.add_argument("--only", nargs="*", choices=sorted(mods), help="run only these figure modules")
    p.add_argument("--out", type=Path, default=Path("figures"))
    p.add_argument("--list", action="store_true", help="list the figure modules and exit")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue interrupted modules from their partial results (default: recompute)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the figure workloads are many small tensor ops, "
        "for which extra threads cost more than they give)",
    )
    args = p.parse_args(argv)
    if args.list:
        for name, mod in mods.items():
            print(f"{name:28s} {getattr(mod, 'DESCRIPTION', '')}")
        return 0
    torch.set_num_threads(max(1, args.threads))
    timings = {}
    for name in args.only or mods:
        t0 = time.perf_counter()
        print(f"[paper_repro] {name} ({args.preset}) ...", flush=True)
        paths = run_module(mods[name], name, args.preset, args.out, not args.no_progress, args.resume)
        timings[name] = round(time.perf_counter() - t0, 2)
        for path in paths:
            print(f"    wrote {path}")
        print(f"    {timings[name]:.1f} s", flush=True)
    # Merge with the timings of modules not run this time (a partial run keeps the others' records).
    path = args.out / f"timings_{args.preset}.json"
    previous = json.loads(path.read_text()).get("seconds", {}) if path.exists() else {}
    seconds = {**previous, **timings}
    summary = {
        "preset": args.preset,
        "seconds": dict(sorted(seconds.items())),
        "total_seconds": round(sum(seconds.values()), 2),
        "this_run_seconds": round(sum(timings.values()), 2),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    atomic_write_text(path, json.dumps(summary, indent=1))
    print(f"[paper_repro] done in {summary['this_run_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
