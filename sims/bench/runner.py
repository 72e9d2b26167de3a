"""Running a bench: cells as work items on any executor, resumable, then the leaderboard and figures.

:func:`bench_cells` lists the cells of a :class:`~sims.bench.config.BenchConfig` (every tier, language,
policy and setting; the random-order baseline is always included; a policy whose samplers declare
``capabilities.needs_eos`` runs on the EOS languages of the panel only). :func:`run_bench` validates the
plugins against the sampler contract, runs the cells with :func:`sims.execution.run_items` (one result
file per cell under ``<out>/cells/``, written atomically by the worker that finished it; a rerun skips
finished cells whose inputs are unchanged), and writes, from the merged records:

* ``bench.json``: the configuration, every cell's record, CPU and wall seconds;
* ``leaderboard.json`` (the analysis of :mod:`sims.bench.leaderboard`), ``leaderboard.csv``,
  ``runs.csv`` (every run, every metric), ``pareto.csv`` and ``leaderboard.md``;
* ``leaderboard.png`` and ``pareto_<tier>.png``.

Every cell draws from a generator seeded from its key and runs with one torch thread, so the files are
the same bytes whatever the executor, the number of workers and the order of completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sims.bench.cells import CellSpec, run_cell
from sims.bench.config import BASELINE, BenchConfig, exact_budgets, exact_length
from sims.bench.figures import write_figures
from sims.bench.leaderboard import build
from sims.bench.plugins import validate_plugin
from sims.bench.policies import policy_names, resolve
from sims.bench.report import write_csvs, write_markdown, write_runs_csv
from sims.execution import Executor, RunReport, WorkItem, run_items
from sims.registry import make_language
from sims.results import write_json

#: Samples of the Monte Carlo run of each exact-tier cell (its NFE and a sampled SER beside the exact one)
#: when the exact tier declares none (``Tier(0, (), 0)``).
EXACT_TIER_SAMPLES = 256


def bench_cells(config: BenchConfig) -> list[CellSpec]:
    """Every cell of ``config`` in a fixed order (module docstring)."""
    names = policy_names(config.policies, config.plugins)
    if BASELINE not in names:
        names.insert(0, BASELINE)
    policies = [resolve(n) for n in names]
    has_eos = {lang: make_language(lang).eos_token is not None for lang in config.languages}
    cells = []
    for tier in config.tiers:
        for lang in tier.panel(config.languages):
            L = exact_length(lang) if tier.exact else tier.length
            budgets = exact_budgets(L) if tier.exact else tier.budgets
            n = (tier.num_samples or EXACT_TIER_SAMPLES) if tier.exact else tier.num_samples
            cap = math.ceil(config.cap_factor * max(budgets))
            for policy in policies:
                if policy.needs_eos and not has_eos[lang]:  # a length policy: EOS languages only
                    continue
                for setting in policy.settings(budgets, config.knobs):
                    cells.append(
                        CellSpec(
                            tier.label,
                            lang,
                            L,
                            policy.name,
                            setting,
                            n,
                            tier.data_direction,
                            cap,
                            min(config.batch_size, n),
                            config.device,
                        )
                    )
    return cells


def tier_budgets(config: BenchConfig) -> dict[tuple[str, str], list[int]]:
    """``{(tier, language): budgets}`` at which the leaderboard reads every curve."""
    out = {}
    for tier in config.tiers:
        for lang in tier.panel(config.languages):
            out[(tier.label, lang)] = list(exact_budgets(exact_length(lang)) if tier.exact else tier.budgets)
    return out


def _cost(cell: CellSpec) -> float:
    """A rough cost hint (seconds) for longest-first scheduling: calls x length x samples."""
    calls = cell.budget or cell.cap_calls / 2
    return 1e-6 * calls * cell.length * max(cell.num_samples, 32)


@dataclass
class BenchResult:
    """What :func:`run_bench` wrote and how the cells ran."""

    records: list[dict]
    leaderboard: dict
    files: list[Path]
    report: RunReport
    cpu_seconds: float


def run_bench(
    config: BenchConfig,
    out: str | Path,
    executor: Executor | None = None,
    progress: bool = True,
    resume: bool = True,
    figures: bool = True,
) -> BenchResult:
    """Run the missing cells of ``config`` into ``out`` and write the leaderboard (module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plugins = [validate_plugin(spec) for spec in config.plugins]
    cells = bench_cells(config)
    items = [
        WorkItem(c.key, run_cell, {"cell": c, "seed": config.seed}, cost=_cost(c), base_seed=config.seed)
        for c in cells
    ]
    report = run_items(
        items, executor, store=out / "cells", resume=resume, progress=progress, desc="bench cells"
    )
    records = [report.results[c.key].value for c in cells if c.key in report.results]
    cpu = round(sum(r.cpu_seconds for r in report.results.values()), 2)
    tiers = [t.label for t in config.tiers]
    board = build(records, BASELINE, tier_budgets(config), tiers)
    meta = {
        "preset": config.preset,
        "languages": list(config.languages),
        "cells": len(records),
        "seed": config.seed,
    }
    files = [
        write_json(
            out / "bench.json",
            {
                "config": config.to_dict(),
                "plugins": plugins,
                "records": records,
                "timing": {
                    "cells": len(cells),
                    "finished": len(records),
                    "resumed": len(report.resumed),
                    "cpu_seconds": cpu,
                    "wall_seconds": report.wall_seconds,
                    "executor": report.executor,
                },
            },
        ),
        write_json(out / "leaderboard.json", {"meta": meta, **board}),
        *write_csvs(board, out),
        write_runs_csv(records, out),
        write_markdown(board, meta, out),
    ]
    if figures:
        files += write_figures(board, list(config.languages), out)
    return BenchResult(records, board, files, report, cpu)
