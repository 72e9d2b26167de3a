"""Sweep cells as work items: ``run_sweep`` spread over any executor, with the same ``sweep.json`` bytes.

Each cell of a :class:`~sims.sweep.SweepConfig` becomes one :class:`WorkItem` (key ``cell_key``, the
sweep's own key) whose function runs a one-cell sweep with :func:`sims.sweep.run_sweep` -- the very code
of a sequential sweep, and each cell draws from its own generator seeded from its key, so a cell's record
does not depend on where or after what it ran. Finished cells land in ``<out>.cells/`` (one file each,
any worker may write them); :func:`run_sweep_items` merges them into the sweep's
:class:`~sims.results.ResultStore` at ``out``, skipping cells already there (resume), and records the
seconds of each cell in ``<out stem>_timings.json``. The merged file is byte-identical to the file a
sequential ``run_sweep`` writes, whatever the executor and the order of completion.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from sims.execution.executors import Executor
from sims.execution.items import WorkItem
from sims.execution.runner import RunReport, run_items
from sims.results import ResultStore, atomic_write_text
from sims.sweep import SweepConfig, cell_key, run_sweep


def sweep_cell(config: SweepConfig, cell: tuple) -> dict:
    """The record of one cell, computed by ``run_sweep`` on a one-cell copy of ``config``."""
    lang, length, sampler, steps = cell
    one = replace(config, languages=[lang], lengths=[length], samplers=[sampler], steps=[steps])
    with tempfile.TemporaryDirectory(prefix="mdm-cell-") as tmp:
        record = run_sweep(one, Path(tmp) / "cell.json", progress=False).get(cell_key(*cell))
    return json.loads(json.dumps(record))


def sweep_items(config: SweepConfig) -> list[WorkItem]:
    """One item per cell of ``config``, in the sweep's cell order."""
    return [
        WorkItem(cell_key(*c), sweep_cell, {"config": config, "cell": tuple(c)}, base_seed=config.seed)
        for c in config.cells()
    ]


def run_sweep_items(
    config: SweepConfig, out: str | Path, executor: Executor | None = None, progress: bool = True
) -> tuple[ResultStore, RunReport]:
    """Like :func:`sims.sweep.run_sweep` on ``executor``; returns the merged store and the run report
    (call ``report.raise_for_failures()`` to turn failed cells into an error after the others finished)."""
    out = Path(out)
    meta = {k: v for k, v in asdict(config).items() if k in ("num_samples", "seed", "batch_size")}
    store = ResultStore(out, meta={"sweep": meta})
    items = [it for it in sweep_items(config) if it.key not in store]
    cells = out.with_name(out.name + ".cells")
    report = run_items(items, executor, store=cells, progress=progress, desc="sweep cells")
    for key, record in report.values().items():
        store.records[key] = record
    store.flush()
    timings_path = out.with_name(out.stem + "_timings.json")
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    timings.update(report.timings())
    atomic_write_text(timings_path, json.dumps(dict(sorted(timings.items())), indent=1))
    if report.ok:
        shutil.rmtree(cells, ignore_errors=True)
    return store, report
