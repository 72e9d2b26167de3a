"""``mdm-suite bench``: every decoding policy on a standard panel of exact languages, over NFE budgets.

* :mod:`~sims.bench.config` -- the panel, tiers (exact and Monte Carlo lengths, budgets) and presets;
* :mod:`~sims.bench.policies` -- registered policies, knob grids of adaptive rules, plugins by name;
* :mod:`~sims.bench.plugins` -- loading ``file.py:Class`` / ``module:Class`` and the contract checks;
* :mod:`~sims.bench.cells` -- one cell (policy setting x language x tier) and its metrics;
* :mod:`~sims.bench.exact_laws` -- the exact tier's output laws, with a deterministic size cap;
* :mod:`~sims.bench.leaderboard` -- matched NFE, verdicts against random order, ranks, Pareto fronts;
* :mod:`~sims.bench.report`, :mod:`~sims.bench.figures` -- CSV, Markdown and figures;
* :mod:`~sims.bench.runner` -- cells as work items on any executor, resumable; :mod:`~sims.bench.cli`.

Guide: ``docs/bench.md``.
"""

from sims.bench.config import BASELINE, PANEL, PRESETS, BenchConfig, Tier, preset_config
from sims.bench.plugins import PluginError, validate_plugin
from sims.bench.runner import BenchResult, bench_cells, run_bench

__all__ = [
    "BASELINE",
    "PANEL",
    "PRESETS",
    "BenchConfig",
    "BenchResult",
    "PluginError",
    "Tier",
    "bench_cells",
    "preset_config",
    "run_bench",
    "validate_plugin",
]
