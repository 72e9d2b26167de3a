"""Generated blocks of ``docs/scale_out.md``: the measured wall times of the figure runs and of a sweep on
1 and 2 workers and through a local Dask cluster, from ``benchmarks/results/bench_scale_out.json``
(written by ``python benchmarks/bench_scale_out.py``; committed)."""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger.data import MissingFigureData
from paper_repro.ledger.doc_tables import table
from sims.results import read_json

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "bench_scale_out.json"


def _bench() -> dict:
    if not BENCH.exists():
        raise MissingFigureData(f"{BENCH} does not exist; run `python benchmarks/bench_scale_out.py`")
    return read_json(BENCH)


def _same(flag: bool) -> str:
    return "identical" if flag else "**differ**"


def _machine(b: dict) -> str:
    return f"{b['cpus']} CPUs, {b['machine']}, Python {b['python']}, torch {b['torch']}"


def _figures_block(data) -> str:
    b = _bench()
    f = b["figures"]
    rows = [
        (
            r["workers"],
            f"{r['wall_s']:.0f} s",
            f"{r['item_seconds']:.0f} s",
            f"{r['load_before']} / {r['load_after']}",
            r["files"],
            _same(r["identical_to_one_worker"]),
        )
        for r in f["runs"]
    ]
    head = ("workers", "wall", "sum of module times", "load average before / after", "files", "outputs")
    return "\n".join(
        [
            f"Quick preset, models cached, one run after the other ({_machine(b)}); speed-up of 2 workers "
            f"over 1: **{f['speedup']:.2f}x**.",
            "",
            table(head, rows),
        ]
    )


def _sweep_block(data) -> str:
    b = _bench()
    s = b["sweep"]
    one = s["runs"][0]["wall_s"]
    rows = [
        (
            r["executor"],
            f"{r['wall_s']:.1f} s",
            f"{one / r['wall_s']:.2f}x",
            f"{r['load_before']} / {r['load_after']}",
            _same(r["identical_to_one_process"]),
        )
        for r in s["runs"]
    ]
    head = (
        "executor",
        "wall (process start included)",
        "speed-up",
        "load average before / after",
        "sweep.json",
    )
    return "\n".join([f"`mdm-suite sweep {s['sweep_flags']}` ({_machine(b)}):", "", table(head, rows)])


DOC_BLOCKS = {
    "scale_out.figures": _figures_block,
    "scale_out.sweep": _sweep_block,
}
