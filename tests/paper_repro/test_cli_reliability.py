"""``python -m paper_repro`` on bad input: every flag validated with a usage error, a corrupt timings file
named, a second run on the same output folder refused, and a kill while moving a module's finished files
never leaving a new figure beside old data."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import paper_repro.scheduling as scheduling
from paper_repro.__main__ import main
from paper_repro.scheduling import moving_journal, recover_moves, run_figure
from sims.locking import OutputLock

CHEAP = "energy_support"
FILES = ("energy_support.json", "energy_support.png")


@pytest.mark.parametrize(
    "flags, name",
    [
        (["--only"], "--only"),  # was: an empty --only ran every module
        (["--only", "nope"], "--only"),
        (["--only", CHEAP, CHEAP], "--only"),
        (["--threads", "-1"], "--threads"),  # was: silently 1
        (["--threads", "0"], "--threads"),
        (["--workers", "0"], "--workers"),
        (["--workers", "two"], "--workers"),
        (["--preset", "medium"], "--preset"),
        (["--slurm", "timeout_min"], "--slurm"),
        (["--dask", " "], "--dask"),
    ],
)
def test_bad_flags_are_usage_errors(flags, name, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*flags, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and f"argument {name}" in err


def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["--only", CHEAP, "--out", str(tmp_path / "f")])
    assert exc.value.code == 2 and "is a file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is not a valid strict JSON file"),
        ('{"seconds": {"energy_support": "fast"}}', "are not numbers"),
        ('{"seconds": [1, 2]}', "is not a timings file"),
    ],
)
def test_a_corrupt_timings_file_is_named(text, match, tmp_path, capsys):
    (tmp_path / "timings_quick.json").write_text(text)
    assert main(["--only", CHEAP, "--out", str(tmp_path), "--workers", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "timings_quick.json" in err and match in err and "delete it" in err
    assert not (tmp_path / "energy_support.png").exists()


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path, capsys):
    ready = tmp_path / "ready"
    out = tmp_path / "figs"
    pid = os.fork()
    if pid == 0:  # the child holds the folder's lock as a running paper_repro does, until killed
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
        assert main(["--only", CHEAP, "--out", str(out), "--workers", "1", "--no-progress"]) == 2
        assert f"being written by pid {pid}" in capsys.readouterr().err
        assert not (out / "energy_support.png").exists()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_kill_while_moving_files_never_pairs_a_new_figure_with_old_data(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run_figure(CHEAP, "quick", str(reference))
    out = tmp_path / "figs"
    out.mkdir()
    for name in FILES:  # the files of an earlier run
        (out / name).write_bytes(b"old " + name.encode())

    real_replace, moved = os.replace, []

    def killed_after_one_move(src, dst):  # os.replace of the whole process; only figure moves count
        if Path(dst).parent == out and Path(dst).name in FILES:
            if moved:
                raise KeyboardInterrupt("killed between two renames")
            moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(scheduling.os, "replace", killed_after_one_move)
    with pytest.raises(KeyboardInterrupt):
        run_figure(CHEAP, "quick", str(out))
    monkeypatch.setattr(scheduling.os, "replace", real_replace)
    fresh = [n for n in FILES if (out / n).read_bytes() == (reference / n).read_bytes()]
    assert len(fresh) == 1 and moving_journal(out, "quick", CHEAP).exists()  # mismatched pair, for now

    # the next run, of any module, completes the moves before anything else
    assert main(["--only", "orders_invariance", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    for name in FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert not moving_journal(out, "quick", CHEAP).exists()
    assert recover_moves(out) == []
    assert not list(Path(out).glob(".partial/*/*.moving.json"))
