"""The runner in this process: keys and seeds, the per-item store, dependencies, longest first, failures,
resume, command-line options. (Other processes, Dask and submitit: test_execution_backends.py.)"""

from __future__ import annotations

import argparse
import json
import random
import sys
import types
from multiprocessing import forkserver

import numpy as np
import pytest
import torch

import sims.sweep
from sims.execution import (
    InlineExecutor,
    ItemResult,
    ItemsFailed,
    ItemStore,
    LocalExecutor,
    WorkItem,
    add_executor_arguments,
    key_seed,
    make_executor,
    run_items,
    spec_from_args,
)
from sims.execution.options import ExecutorSpec, parse_parameters
from sims.execution.store import item_filename
from sims.sweep import cell_seed
from tests.sims import execution_helpers as h


def draws(keys):
    return [WorkItem(k, h.draw, {"key": k}) for k in keys]


def test_key_seed_is_the_sweep_cell_seed():
    for key in ("ngram2|L=64|ancestral|K=4", "x", "train|mdm|abc"):
        for seed in (0, 1, 12345):
            assert key_seed(key, seed) == cell_seed(key, seed)
    assert WorkItem("a", h.draw, {"key": "a"}, base_seed=3).seed == key_seed("a", 3)


def test_items_must_be_module_level_functions():
    with pytest.raises(ValueError, match="module-level"):
        WorkItem("a", lambda: 1)
    with pytest.raises(ValueError, match="non-empty"):
        WorkItem("", h.draw)


def test_fingerprint_follows_arguments_or_identity():
    a, b = WorkItem("a", h.draw, {"key": "a"}), WorkItem("a", h.draw, {"key": "a", "n": 5})
    assert a.fingerprint() == WorkItem("a", h.draw, {"key": "a"}).fingerprint() != b.fingerprint()
    c = WorkItem("a", h.draw, {"key": "a"}, identity="same")
    assert c.fingerprint() == WorkItem("a", h.draw, {"key": "a", "n": 9}, identity="same").fingerprint()


def test_values_depend_on_the_key_only_and_global_state_is_restored():
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    threads = torch.get_num_threads()
    forward = run_items(draws(["a", "b", "c"]), progress=False).values()
    backward = run_items(draws(["c", "b", "a"]), progress=False).values()
    assert forward == backward  # order of execution does not matter
    assert forward["a"]["own"] == forward["a"]["global_torch"]  # global torch RNG seeded from the key
    assert forward["a"] != forward["b"]
    assert forward["a"]["threads"] == 1
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    assert torch.get_num_threads() == threads


def test_threads_per_item():
    report = run_items(draws(["a"]), InlineExecutor(threads=2), progress=False)
    assert report.values()["a"]["threads"] == 2


def test_store_files_are_atomic_and_merge_in_key_order(tmp_path):
    store = ItemStore(tmp_path / "items")
    for key in ("b", "a|L=3", "c"):
        store.write(ItemResult(key, value={"v": key, "x": float("nan")}, fingerprint="f"))
    assert store.keys() == ["a|L=3", "b", "c"]
    assert list(store.merge()) == ["a|L=3", "b", "c"]
    assert not list((tmp_path / "items").glob("*.tmp"))
    assert item_filename("a|L=3") != item_filename("a_L=3")  # slugs collide, hashes do not
    merged = store.write_merged(tmp_path / "merged.json")
    assert json.loads(merged.read_text())["b"]["v"] == "b"
    with pytest.raises(ValueError, match="failed"):
        store.write(ItemResult("d", error="boom"))


def test_dependencies_and_longest_first(tmp_path):
    log = tmp_path / "log"
    items = [
        WorkItem("short", h.append_log, {"log": str(log), "key": "short"}, cost=1.0),
        WorkItem("child", h.append_log, {"log": str(log), "key": "child"}, depends_on=("long",), cost=50),
        WorkItem("long", h.append_log, {"log": str(log), "key": "long"}, cost=10.0),
        WorkItem("unknown", h.append_log, {"log": str(log), "key": "unknown"}),
        WorkItem("outside", h.append_log, {"log": str(log), "key": "outside"}, depends_on=("absent",)),
    ]
    report = run_items(items, progress=False, costs={"short": 5.0})
    assert report.ok
    # unknown cost first (given order among them), then by cost; the child waits for "long"
    assert log.read_text().split() == ["unknown", "outside", "long", "child", "short"]
    assert list(report.values()) == [it.key for it in items]  # report in the given order


def test_cycles_and_duplicates_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        run_items(
            [WorkItem("a", h.draw, {"key": "a"}, ("b",)), WorkItem("b", h.draw, {"key": "b"}, ("a",))],
            progress=False,
        )
    with pytest.raises(ValueError, match="duplicate"):
        run_items(draws(["a", "a"]), progress=False)


def test_failure_reported_with_key_and_traceback_others_finish():
    items = [
        *draws(["a"]),
        WorkItem("bad", h.fail, {"message": "boom-123"}),
        WorkItem("child", h.draw, {"key": "child"}, depends_on=("bad",)),
        WorkItem("grandchild", h.draw, {"key": "gc"}, depends_on=("child",)),
        WorkItem("odd", h.not_json),
        *draws(["z"]),
    ]
    seen = []
    report = run_items(items, progress=False, on_result=lambda r: seen.append(r.key))
    assert not report.ok and set(report.values()) == {"a", "z"}
    assert set(report.failures) == {"bad", "odd"}
    assert "ValueError: boom-123" in report.failures["bad"].error
    assert "execution_helpers.py" in report.failures["bad"].error
    assert "JSON" in report.failures["odd"].error
    assert report.skipped == {
        "child": "dependency 'bad' failed",
        "grandchild": "dependency 'child' was skipped",
    }
    assert set(seen) == {"a", "bad", "odd", "z"}
    with pytest.raises(ItemsFailed, match="boom-123") as info:
        report.raise_for_failures()
    assert info.value.report is report


def test_resume_skips_finished_items_and_reruns_changed_ones(tmp_path):
    log, store = tmp_path / "log", tmp_path / "items"

    def items(n=4):
        return [WorkItem(k, h.append_log, {"log": str(log), "key": k}) for k in "abcd"[:n]]

    first = run_items(items(2), store=store, progress=False)
    assert first.ok and log.read_text().split() == ["a", "b"]
    again = run_items(items(), store=store, progress=False)
    assert again.resumed == ["a", "b"] and log.read_text().split() == ["a", "b", "c", "d"]
    assert again.values() == {k: k for k in "abcd"}
    changed = [WorkItem("a", h.append_log, {"log": str(log), "key": "a"}, identity="v2")]
    assert run_items(changed, store=store, progress=False).resumed == []  # other fingerprint: rerun
    fresh = run_items(items(1), store=store, resume=False, progress=False)
    assert fresh.resumed == [] and log.read_text().split()[-1] == "a"


def test_parse_options_and_make_executor(tmp_path):
    p = argparse.ArgumentParser()
    add_executor_arguments(p)
    assert isinstance(make_executor(spec_from_args(p.parse_args(["--workers", "1"]))), InlineExecutor)
    local = make_executor(spec_from_args(p.parse_args(["--workers", "4", "--threads", "2"])), max_items=3)
    assert isinstance(local, LocalExecutor) and (local.workers, local.threads) == (3, 2)
    spec = spec_from_args(p.parse_args(["--dask", "tcp://h:8786", "--workers", "8"]))
    assert (spec.kind, spec.address, spec.workers) == ("dask", "tcp://h:8786", 8)
    spec = spec_from_args(
        p.parse_args(["--slurm", "timeout_min=120", "slurm_partition=cpu", "mem_gb=1.5"]), tmp_path / "jobs"
    )
    assert spec.kind == "submitit" and spec.folder == str(tmp_path / "jobs")
    assert spec.parameters == {"timeout_min": 120, "slurm_partition": "cpu", "mem_gb": 1.5}
    assert spec_from_args(p.parse_args(["--slurm"])).parameters == {}
    assert parse_parameters(["x=true", "y=a=b"]) == {"x": True, "y": "a=b"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_parameters(["nokey"])
    with pytest.raises(SystemExit):
        p.parse_args(["--dask", "local", "--slurm"])


def test_a_main_program_read_from_stdin_runs_its_items_in_this_process(monkeypatch, capsys, tmp_path):
    """Workers re-run the main program's file as they start; ``python - < script.py`` has none
    (``__file__ == '<stdin>'``), so every worker died and every item failed as 'worker lost'. Now the items
    run in this process, with a note; a main program that is a file still gets worker processes."""
    stdin_main = types.ModuleType("__main__")
    stdin_main.__file__ = "<stdin>"
    monkeypatch.setitem(sys.modules, "__main__", stdin_main)
    assert isinstance(make_executor(ExecutorSpec("local", 2)), InlineExecutor)
    assert "<stdin>" in capsys.readouterr().err
    script = tmp_path / "script.py"
    script.write_text("")
    stdin_main.__file__ = str(script)
    executor = make_executor(ExecutorSpec("local", 2))  # no process starts before the first submit
    assert isinstance(executor, LocalExecutor) and executor.workers == 2


def test_workers_run_this_copy_of_the_suite_whatever_the_working_directory(tmp_path, monkeypatch):
    """The forkserver is started without this process's ``sys.path`` (Python 3.11), so a preloaded
    ``sims`` came from wherever the server found one -- an installed copy, when the server started in
    another directory -- and every worker silently ran that code. Workers now import the suite
    themselves, from this process's ``sys.path``."""
    monkeypatch.chdir(tmp_path)  # no copy of the suite importable from here
    forkserver._forkserver._stop()  # a fresh server, started here (another test may have started one)
    items = [WorkItem(f"m{i}", h.module_file, {"name": "sims.sweep"}) for i in range(2)]
    with LocalExecutor(2) as executor:
        report = run_items(items, executor, progress=False)
    assert set(report.values().values()) == {sims.sweep.__file__}
