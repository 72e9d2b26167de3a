"""``benchmarks/bench_oracle.py``: each grid point (B, L, S) is a work item of its own, merged back in grid
order from its result file, on the default executor (one point at a time in this process)."""

from __future__ import annotations

import pytest

from benchmarks.bench_oracle import bench_point, grid_items, main, run_grid
from sims.execution import InlineExecutor

GRID = [(2, 64, 4), (1, 32, 2)]
SKIP = {"hmmlearn_log", "hmmlearn_scaling"}


def test_grid_points_are_items_merged_in_grid_order(capsys):
    items = grid_items(GRID, 1, 1e9, SKIP, 1e9)
    assert [it.key for it in items] == ["grid|B=2|L=64|S=4", "grid|B=1|L=32|S=2"]
    assert all(it.fn is bench_point for it in items)
    rows = run_grid(GRID, 1, 1e9, SKIP, 1e9, InlineExecutor())
    assert [(r["batch"], r["length"], r["states"]) for r in rows] == GRID
    for r in rows:
        assert {"numpy_ref", "torch_scaled", "torch_auto"} <= set(r["methods"])
        assert r["methods"]["torch_auto"]["max_prob_diff_vs_numpy"] < 1e-10
    assert "(B, L, S) = (1, 32, 2)" in capsys.readouterr().out


def test_the_benchmark_validates_the_executor_flags(capsys):

    with pytest.raises(SystemExit) as exc:
        main(["--workers", "0"])
    assert exc.value.code == 2 and "argument --workers" in capsys.readouterr().err
