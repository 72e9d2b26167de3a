"""Every executor against the single-process run, bit for bit: a small sweep and a figure module through
a pool of 2 local processes, a real Dask ``LocalCluster`` of 2 worker processes and submitit's local
executor (each job a subprocess); a killed worker's item run again; dependencies across processes.

Each backend is one test (one pool or cluster start each, also under pytest-xdist)."""

from __future__ import annotations

import importlib
import os
import socket
from pathlib import Path

import pytest
import torch

from paper_repro.scheduling import figure_items, run_figure
from sims.execution import (
    DaskExecutor,
    LocalExecutor,
    SubmititExecutor,
    WorkItem,
    run_items,
)
from sims.execution.training_items import training_items
from sims.models.cache import load_trained, make_config
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
    store = run_sweep(SWEEP, out / "sweep.json", progress=False, executor=executor)
    assert len(store) == 2
    assert (out / "sweep.json").read_bytes() == reference["sweep"]
    assert not (out / "sweep.json.cells").exists()  # merged, then removed
    mods = {FIGURE: importlib.import_module(f"paper_repro.fig_{FIGURE}")}
    fig = run_items(figure_items([FIGURE], mods, "quick", out / "fig"), executor, progress=False)
    assert fig.ok, fig.failure_report()
    produced = files(out / "fig")
    assert set(produced) == {"energy_support.json", "energy_support.png"}
    assert produced == reference["figure"]


def untimed(obj):
    """``obj`` without its wall-clock entries (keys ending in ``seconds``)."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if not str(k).endswith("seconds")}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def same_models(a: Path, b: Path) -> None:
    """The cached models in ``a`` and ``b``: same files, same weights and histories bit for bit."""
    names = sorted(p.name for p in a.glob("*.pt"))
    assert names and names == sorted(p.name for p in b.glob("*.pt"))
    for name in names:
        x, y = load_trained(a / name, "cpu"), load_trained(b / name, "cpu")
        sx, sy = x.net.state_dict(), y.net.state_dict()
        assert all(torch.equal(sx[k], sy[k]) for k in sx)
        assert untimed(x.history) == untimed(y.history) and x.config == y.config


def test_local_processes(reference, tmp_path):
    configs = [make_config("ngram2", 4, "test", seed=s, steps=10, eval_every=5) for s in (0, 1)]
    run_items(training_items(configs, str(tmp_path / "models_inline")), progress=False).raise_for_failures()
    with LocalExecutor(2) as ex:
        check_bit_identical(ex, reference, tmp_path)
        # training seeds as items: the same weights trained on either worker as in this process
        report = run_items(training_items(configs, str(tmp_path / "models_pool")), ex, progress=False)
        report.raise_for_failures()
        assert {r.worker for r in report.results.values()} != {f"{socket.gethostname()}:{os.getpid()}"}
        same_models(tmp_path / "models_inline", tmp_path / "models_pool")
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
