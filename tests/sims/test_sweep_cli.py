"""``mdm-suite sweep`` / ``plot`` and :func:`sims.sweep.run_sweep` on bad input and on the silent-wrong and
crash classes of issue 13: every flag validated with a usage error, a second writer of the same output
refused, a resume with other settings (device included) or other definitions refused, failed cells
reported and retried, cells finished by a lost run merged, the same bytes whatever the number of workers.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import torch

import sims.sweep
from sims.cli import main
from sims.execution import run_items
from sims.locking import OutputLock
from sims.sweep import SweepConfig, cell_item, cell_key, run_sweep
from sims.validation import InvalidArgumentError, InvalidTypeError, SettingsMismatchError, SuiteError

TINY = ["--languages", "ngram2", "--lengths", "4", "--samplers", "fixed_random", "--steps", "1,4"]
FAST = ["--num-samples", "8", "--no-progress", "--device", "cpu", "--workers", "1"]


def sweep(out, *extra) -> int:
    return main(["sweep", *TINY, *FAST, "--out", str(out), *extra])


def records(out) -> dict:
    return json.loads((out / "sweep.json").read_text())["records"]


# ---- flags -------------------------------------------------------------------------------------------------
BAD_FLAGS = [
    (["--lengths", ""], "--lengths"),
    (["--lengths", "0"], "--lengths"),
    (["--lengths", "4,4"], "--lengths"),
    (["--lengths", "four"], "--lengths"),
    (["--steps", "1.5"], "--steps"),
    (["--steps", "-2"], "--steps"),
    (["--languages", ""], "--languages"),
    (["--languages", "ngram2,nope"], "--languages"),
    (["--samplers", "nope"], "--samplers"),
    (["--samplers", "ancestral,ancestral"], "--samplers"),
    (["--num-samples", "0"], "--num-samples"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--seed", "1.5"], "--seed"),
    (["--device", "gpu"], "--device"),
    (["--workers", "0"], "--workers"),
    (["--threads", "-1"], "--threads"),
    (["--slurm", "partition"], "--slurm"),
    (["--dask", ""], "--dask"),
]
if not torch.cuda.is_available():
    BAD_FLAGS.append((["--device", "cuda"], "--device"))


@pytest.mark.parametrize("flags, name", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_usage_errors(flags, name, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--out", str(tmp_path), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and f"argument {name}" in err
    assert not (tmp_path / "sweep.json").exists()


def test_out_that_is_a_file_and_cells_that_cannot_run_are_usage_errors(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["sweep", *TINY, "--out", str(tmp_path / "file")])
    assert exc.value.code == 2 and "is a file" in capsys.readouterr().err
    # every K above every length: no cells (was: an empty sweep.json and a failing plot)
    assert main(["sweep", *TINY[:6], "--steps", "8", *FAST, "--out", str(tmp_path / "o")]) == 2
    assert "no cells" in capsys.readouterr().err
    # a cell that cannot run (2 remasked positions of 1) is refused before anything runs
    bad = ["--lengths", "1", "--samplers", "fixed_random+remask2x4"]
    assert main(["sweep", *TINY[:2], *bad, *FAST, "--out", str(tmp_path / "o")]) == 2
    assert "remask_count 2 exceeds the length 1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "sweep.json").exists()


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"languages": "ngram2"}, InvalidTypeError, "languages must be a list"),
        ({"languages": []}, InvalidArgumentError, "languages must not be empty"),
        ({"languages": ["nope"]}, InvalidArgumentError, "unknown language"),
        ({"lengths": [0]}, InvalidArgumentError, r"lengths\[0\] must be >= 1"),
        ({"lengths": [8.0]}, InvalidTypeError, "must be an integer"),
        ({"steps": [2, 2]}, InvalidArgumentError, "more than once"),
        ({"samplers": ["nope"]}, InvalidArgumentError, "unknown sampler"),
        ({"num_samples": 0}, InvalidArgumentError, "num_samples"),
        ({"batch_size": None}, InvalidTypeError, "batch_size"),
        ({"device": "gpu"}, InvalidArgumentError, "not a device name"),
        ({"device": torch.device("cpu")}, InvalidTypeError, "device"),
        ({"data_direction": "yes"}, InvalidTypeError, "data_direction"),
    ],
)
def test_sweep_config_checks_every_field(kwargs, err, match):
    with pytest.raises(err, match=match):
        SweepConfig(**kwargs)


def test_run_sweep_checks_its_arguments(tmp_path):
    cfg = SweepConfig(languages=["ngram2"], lengths=[4], samplers=["fixed_random"], steps=[1], num_samples=4)
    for call in (
        lambda: run_sweep("config", tmp_path / "s.json"),
        lambda: run_sweep(cfg, None),
        lambda: run_sweep(cfg, tmp_path / "s.json", progress="no"),
        lambda: run_sweep(cfg, tmp_path / "s.json", executor="local"),
    ):
        with pytest.raises(SuiteError):
            call()
    cfg.lengths = [4, -1]  # mutated after construction: checked again when run
    with pytest.raises(InvalidArgumentError, match="lengths"):
        run_sweep(cfg, tmp_path / "s.json")


# ---- resume: other settings, other device, other definitions ----------------------------------------------
def test_resume_refuses_other_settings_device_and_definitions(tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(out) == 0
    before = (out / "sweep.json").read_bytes()
    assert (
        sweep(out) == 0 and (out / "sweep.json").read_bytes() == before
    )  # same settings: nothing recomputed
    capsys.readouterr()

    assert sweep(out, "--num-samples", "16") == 2  # FAST's 8 overridden
    err = capsys.readouterr().err
    assert "num_samples: 8 in the file, 16 requested" in err and "error" in err

    data = json.loads(before)
    data["meta"]["sweep"]["device"] = "cuda:0"  # as if written on a GPU
    (out / "sweep.json").write_text(json.dumps(data))
    assert sweep(out) == 2
    assert "device: 'cuda:0' in the file, 'cpu' requested" in capsys.readouterr().err

    data = json.loads(before)
    key = "ngram2|L=4|fixed_random|K=1"
    data["records"][key]["language_description"]["changed"] = True  # the registry entry changed since
    (out / "sweep.json").write_text(json.dumps(data))
    assert sweep(out) == 2
    assert "language description of 'ngram2' changed" in capsys.readouterr().err
    data["records"][key] = json.loads(before)["records"][key]
    data["records"][key]["conventions"]["step_rule"] = "something else"
    (out / "sweep.json").write_text(json.dumps(data))
    with pytest.raises(SettingsMismatchError, match="conventions of 'fixed_random' changed"):
        run_sweep(SweepConfig(["ngram2"], [4], ["fixed_random"], [1, 4], num_samples=8), out / "sweep.json")

    # adding cells to a sweep is allowed: only the new ones run
    (out / "sweep.json").write_bytes(before)
    assert sweep(out, "--samplers", "fixed_random,ancestral") == 0
    now = records(out)
    assert len(now) == 4 and all(now[k] == v for k, v in json.loads(before)["records"].items())


# ---- a second writer ------------------------------------------------------------------------------------
def test_a_second_process_writing_the_same_out_is_refused(tmp_path, capsys):
    out, ready = tmp_path / "out", tmp_path / "ready"
    pid = os.fork()
    if pid == 0:  # the child holds the output folder's lock, as a running sweep does, until killed
        try:
            OutputLock(out, directory=True).acquire()
            ready.touch()
            time.sleep(120)
        finally:
            os._exit(0)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert time.time() < deadline, "the lock-holding child did not start"
            time.sleep(0.05)
        assert sweep(out) == 2  # was: both sweeps ran, each rewriting sweep.json without the other's cells
        assert f"being written by pid {pid}" in capsys.readouterr().err
        assert not (out / "sweep.json").exists()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert sweep(out) == 0  # the killed holder's lock is stale: taken over


# ---- the executor: failures, lost runs, workers -----------------------------------------------------------
FAILING: set[str] = set()
CALLS: list[str] = []
ORIGINAL_RUN_CELL = sims.sweep.run_cell


def flaky_cell(config, cell):
    """``run_cell`` that fails for the keys in FAILING and records every call."""
    CALLS.append(cell_key(*cell))
    if cell_key(*cell) in FAILING:
        raise RuntimeError(f"cell {cell_key(*cell)} broke")
    return ORIGINAL_RUN_CELL(config, cell)


def test_failed_cells_are_reported_stored_cells_kept_and_retried(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sims.sweep, "run_cell", flaky_cell)
    FAILING.clear()
    CALLS.clear()
    FAILING.add("ngram2|L=4|fixed_random|K=1")
    out = tmp_path / "out"
    assert sweep(out) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: cell ngram2|L=4|fixed_random|K=1 broke" in err and "1 cell(s) failed" in err
    assert set(records(out)) == {"ngram2|L=4|fixed_random|K=4"}  # the other cell is stored
    FAILING.clear()
    CALLS.clear()
    assert sweep(out) == 0
    assert CALLS == ["ngram2|L=4|fixed_random|K=1"]  # only the failed cell ran again
    assert len(records(out)) == 2 and not (out / "sweep.json.cells").exists()


def test_cells_a_lost_run_finished_are_merged_without_running_them_again(tmp_path, monkeypatch):
    cfg = SweepConfig(["ngram2"], [4], ["fixed_random"], [1, 4], num_samples=8)
    reference = run_sweep(cfg, tmp_path / "ref.json", progress=False)
    out = tmp_path / "sweep.json"
    monkeypatch.setattr(sims.sweep, "run_cell", flaky_cell)
    # a worker finished this cell and wrote its file, then the submitting process died before merging it
    done = cell_item(cfg, ("ngram2", 4, "fixed_random", 1))
    run_items([done], store=tmp_path / "sweep.json.cells", progress=False).raise_for_failures()
    CALLS.clear()
    store = run_sweep(cfg, out, progress=False)
    assert CALLS == ["ngram2|L=4|fixed_random|K=4"]
    assert len(store) == len(reference) == 2
    assert out.read_bytes() == (tmp_path / "ref.json").read_bytes()  # (NaN fields: compare the bytes)


def test_the_number_of_workers_does_not_change_the_bytes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["sweep", *TINY, "--samplers", "fixed_random,first_hitting", "--num-samples", "8"]
    assert main([*args, "--device", "cpu", "--no-progress", "--workers", "1", "--out", str(one)]) == 0
    assert main([*args, "--device", "cpu", "--no-progress", "--workers", "2", "--out", str(two)]) == 0
    for name in ("sweep.json", "sweep.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert not (two / ".mdm-suite.lock").exists() and not (two / "sweep.json.lock").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sweeps_run_in_one_process_by_default(tmp_path, capsys):
    args = ["sweep", *TINY, "--num-samples", "8", "--no-progress", "--device", "cuda"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert "--workers 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "sweep.json").read_text())["meta"]["sweep"]["device"] == "cuda"


# ---- plot ---------------------------------------------------------------------------------------------------
def test_plot_names_missing_corrupt_and_foreign_files(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope.json")]) == 2
    assert "nope.json does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"meta": {}, "records": {')
    assert main(["plot", str(bad)]) == 2
    assert "bad.json is not a valid strict JSON file" in capsys.readouterr().err
    bad.write_text(json.dumps({"meta": {}, "records": {"a": {"x": 1}}}))
    assert main(["plot", str(bad)]) == 2
    assert "cell 'a' has no valid language" in capsys.readouterr().err
    bad.write_text(json.dumps({"meta": {}, "records": {}}))
    assert main(["plot", str(bad)]) == 2
    assert "no cells" in capsys.readouterr().err
    out = tmp_path / "out"
    assert sweep(out) == 0
    assert main(["plot", str(out / "sweep.json"), "--out", str(tmp_path / "fig.jpg")]) == 2
    assert "must end in one of" in capsys.readouterr().err
    with OutputLock(out, directory=True):  # reading is never locked out
        assert main(["plot", str(out / "sweep.json"), "--out", str(tmp_path / "fig.pdf")]) == 0
