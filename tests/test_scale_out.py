"""Every executor against the single-process run, bit for bit: a small sweep and a figure module through
a pool of 2 local processes, a real Dask ``LocalCluster`` of 2 worker processes and submitit's local
executor (each job a subprocess); a killed worker's item run again; dependencies across processes.

Each backend is one test (one pool or cluster start each, also under pytest-xdist)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from paper_repro.scheduling import figure_items, run_figure
from sims.execution import (
    DaskExecutor,
    LocalExecutor,
    SubmititExecutor,
    WorkItem,
    run_items,
    run_sweep_items,
)
from sims.sweep import SweepConfig, run_sweep
from tests.sims import execution_helpers as h

ROOT = Path(__file__).resolve().parents[1]
SWEEP = SweepConfig(
    languages=["ngram2", "hmm"],
    lengths=[8],
    samplers=["fixed_random"],
    steps=[4],
    num_samples=16,
    batch_size=16,
)
FIGURE = "energy_support"


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The sequential results: ``run_sweep`` and the figure module run in this process."""
    d = tmp_path_factory.mktemp("reference")
    run_sweep(SWEEP, d / "sweep.json", progress=False)
    run_figure(FIGURE, "quick", str(d / "fig"))
    return {"sweep": (d / "sweep.json").read_bytes(), "figure": files(d / "fig")}


def check_bit_identical(executor, reference: dict, out: Path) -> None:
    store, report = run_sweep_items(SWEEP, out / "sweep.json", executor, progress=False)
    assert report.ok, report.failure_report()
    assert len(store) == 2
    assert (out / "sweep.json").read_bytes() == reference["sweep"]
    mods = {FIGURE: importlib.import_module(f"paper_repro.fig_{FIGURE}")}
    fig = run_items(figure_items([FIGURE], mods, "quick", out / "fig"), executor, progress=False)
    assert fig.ok, fig.failure_report()
    produced = files(out / "fig")
    assert set(produced) == {"energy_support.json", "energy_support.png"}
    assert produced == reference["figure"]


def test_local_processes(reference, tmp_path):
    with LocalExecutor(2) as ex:
        check_bit_identical(ex, reference, tmp_path)
        # a dependent starts only after its dependency finished, although a worker is free earlier
        marker = tmp_path / "marker"
        items = [
            WorkItem("late", h.write_after, {"path": str(marker), "seconds": 1.0}),
            WorkItem("needs-late", h.require, {"path": str(marker)}, depends_on=("late",)),
            WorkItem("bad", h.fail, {"message": "failed on a worker"}),
            *[WorkItem(k, h.draw, {"key": k}) for k in ("a", "b")],
        ]
        report = run_items(items, ex, progress=False)
        assert set(report.values()) == {"late", "needs-late", "a", "b"}
        assert "ValueError: failed on a worker" in report.failures["bad"].error
        assert report.values()["a"] == run_items(items[3:4], progress=False).values()["a"]
        # a killed worker breaks the pool: the pool is replaced and the item runs again
        dying = [WorkItem("dies", h.die_once, {"marker": str(tmp_path / "died")}), *items[3:]]
        report = run_items(dying, ex, progress=False)
        assert report.ok, report.failure_report()
        assert report.values()["dies"].startswith("survived")
        assert report.results["dies"].attempt == 2


def test_dask_local_cluster(reference, tmp_path):
    pytest.importorskip("distributed")
    with DaskExecutor("local", workers=2) as ex:
        assert len(ex.client.scheduler_info()["workers"]) == 2
        check_bit_identical(ex, reference, tmp_path)
        report = run_items([WorkItem("bad", h.fail, {"message": "failed on dask"})], ex, progress=False)
        assert "ValueError: failed on dask" in report.failures["bad"].error


def test_submitit_local(reference, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the jobs are new interpreters: find this checkout
    with SubmititExecutor(tmp_path / "jobs", cluster="local", workers=2) as ex:
        check_bit_identical(ex, reference, tmp_path)


@pytest.mark.slow
def test_dask_reruns_the_item_of_a_killed_worker(tmp_path):
    pytest.importorskip("distributed")
    with DaskExecutor("local", workers=2) as ex:
        items = [
            WorkItem("dies", h.die_once, {"marker": str(tmp_path / "died")}),
            WorkItem("a", h.draw, {"key": "a"}),
        ]
        report = run_items(items, ex, progress=False)
        assert report.ok, report.failure_report()
        assert report.values()["dies"].startswith("survived")


@pytest.mark.slow
def test_submitit_reports_failures_and_reruns_killed_jobs(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    with SubmititExecutor(tmp_path / "jobs", cluster="local", workers=2) as ex:
        items = [
            WorkItem("bad", h.fail, {"message": "failed in a job"}),
            WorkItem("dies", h.die_once, {"marker": str(tmp_path / "died")}),
        ]
        report = run_items(items, ex, progress=False)
    assert "ValueError: failed in a job" in report.failures["bad"].error
    assert report.values()["dies"].startswith("survived") and report.results["dies"].attempt == 2
