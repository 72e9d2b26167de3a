"""Wall time of the figure runs and of a sweep on 1 and 2 workers, and through a local Dask cluster.

    python benchmarks/bench_scale_out.py                 # both parts; writes benchmarks/results/bench_scale_out.json
    python benchmarks/bench_scale_out.py --part sweep    # the sweep part only (about a minute)
    python benchmarks/bench_scale_out.py --part figures  # the quick preset twice (several minutes)

Every run is a fresh process started the way a user starts it (``python -m paper_repro ...`` and
``mdm-suite sweep ...``), one after the other in this session, into temporary folders, so the two runs of
a pair see the same machine. Recorded per run: wall time, the sum of the work items' own times (from the
run's ``timings_quick.json`` for the figures), and the load average before and after, because on a shared
machine the kernel splits the CPU fairly between sessions and a speed-up measured under load says more
about the other sessions than about the executor. Outputs are compared byte for byte (figure data, PNGs,
``sweep.json``) with the 1-worker run: the executors must not change a result.

The figure part uses the model cache (``results/models``; a first ``python -m paper_repro`` fills it), so it
times the figure modules, not training. The JSON is read by ``paper_repro.ledger.blocks_scale_out``, which
writes the tables of ``docs/scale_out.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sims.results import read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUN_RECORDS = ("timings_", "provenance_", "README")
SWEEP = (
    "--languages ngram2,hmm --lengths 64,128 --samplers ancestral,fixed_random --steps 1,4,16,64 "
    "--num-samples 512 --batch-size 256 --seed 0 --no-progress"
).split()


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(cmd: list[str]) -> dict:
    before = _load()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return {
        "command": " ".join(cmd[1:]),
        "wall_s": round(wall, 2),
        "load_before": before,
        "load_after": _load(),
    }


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(RUN_RECORDS)
    }


def figures_part(tmp: Path) -> dict:
    """The quick preset on 1, then 2 local worker processes."""
    runs, reference = [], None
    for workers in (1, 2):
        out = tmp / f"figures_w{workers}"
        run = _timed(
            [
                sys.executable,
                "-m",
                "paper_repro",
                "--out",
                str(out),
                "--workers",
                str(workers),
                "--no-progress",
            ]
        )
        timings = read_json(out / "timings_quick.json")
        files = _outputs(out)
        reference = files if reference is None else reference
        run.update(
            workers=workers,
            item_seconds=timings["this_run_seconds"],
            files=len(files),
            identical_to_one_worker=files == reference,
        )
        runs.append(run)
        print(
            f"figures, {workers} worker(s): {run['wall_s']:.1f} s wall, {run['item_seconds']:.1f} s of work"
        )
    return {"runs": runs, "speedup": round(runs[0]["wall_s"] / runs[1]["wall_s"], 3)}


def sweep_part(tmp: Path) -> dict:
    """A small sweep sequentially, on a process pool of 2 and on a local Dask cluster of 2."""
    variants = [("one process", ["--workers", "1"]), ("process pool x 2", ["--workers", "2"])]
    try:
        import dask.distributed  # noqa: F401  (optional extra: the Dask row is skipped without it)

        variants.append(("Dask LocalCluster x 2", ["--dask", "local", "--workers", "2"]))
    except ImportError:
        print("dask.distributed is not installed: the Dask row is skipped")
    runs, reference = [], None
    for name, flags in variants:
        out = tmp / f"sweep_{len(runs)}"
        run = _timed([sys.executable, "-m", "sims.cli", "sweep", *SWEEP, "--out", str(out), *flags])
        data = (out / "sweep.json").read_bytes()
        reference = data if reference is None else reference
        run.update(executor=name, identical_to_one_process=data == reference)
        runs.append(run)
        print(f"sweep, {name}: {run['wall_s']:.1f} s wall, same bytes: {run['identical_to_one_process']}")
    return {"sweep_flags": " ".join(SWEEP), "runs": runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("all", "figures", "sweep"), default="all")
    p.add_argument("--json", type=Path, default=RESULTS / "bench_scale_out.json")
    args = p.parse_args(argv)
    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    record = {
        **previous,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="bench_scale_out_") as tmp:
        if args.part in ("all", "sweep"):
            record["sweep"] = sweep_part(Path(tmp))
        if args.part in ("all", "figures"):
            record["figures"] = figures_part(Path(tmp))
    write_json(args.json, record)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
