"""Files: atomic writes (JSON, CSV, bytes, figures, anything written through a path), strict reads that name
the file and say what to do, the output lock against a second writer, and resume refusals."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

from sims.locking import DIRECTORY_LOCK_NAME, OutputLock, lock_path_for
from sims.plotting import also_save, save_figure
from sims.results import (
    ResultStore,
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_with,
    load_checked,
    read_json,
    write_json,
)
from sims.validation import (
    CorruptFileError,
    InvalidArgumentError,
    InvalidTypeError,
    MissingFileError,
    OutputLockedError,
    SettingsMismatchError,
)

ROOT = Path(__file__).resolve().parents[2]


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if ".tmp" in p.name or p.name.startswith("."))


# ---- atomic writes --------------------------------------------------------------------------------------
def test_atomic_writes_replace_and_leave_nothing_behind(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert oct(p.stat().st_mode & 0o777) == "0o644"
    assert leftovers(tmp_path) == []


def test_a_writer_that_dies_leaves_the_old_file(tmp_path):
    p = tmp_path / "model.pt"
    atomic_write_with(p, lambda tmp: torch.save({"w": 1}, tmp))

    def dies(tmp):
        Path(tmp).write_bytes(b"partial")
        raise SystemExit(1)  # a kill in the middle of the write (not an Exception)

    with pytest.raises(SystemExit):
        atomic_write_with(p, dies)
    assert torch.load(p) == {"w": 1}
    assert leftovers(tmp_path) == []


def test_save_figure_is_atomic_and_byte_identical(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "direct.png")
    save_figure(fig, tmp_path / "atomic.png")
    assert (tmp_path / "direct.png").read_bytes() == (tmp_path / "atomic.png").read_bytes()

    fig, _ = plt.subplots()

    def broken(*args, **kwargs):
        Path(args[0]).write_bytes(b"")  # the 0-byte file an in-place write leaves when killed
        raise RuntimeError("killed")

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="killed"):
        save_figure(fig, tmp_path / "atomic.png")
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "direct.png").read_bytes()
    assert [p for p in leftovers(tmp_path) if p != "direct.png"] == []
    with pytest.raises(InvalidArgumentError, match=r"must end in one of \['.png', '.pdf', '.svg'\]"):
        save_figure(plt.figure(), tmp_path / "figure.jpeg")


def test_also_save_writes_extra_formats_only_inside_its_block(tmp_path):
    def draw():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return fig

    save_figure(draw(), tmp_path / "plain.png")
    with also_save(("pdf", "svg")) as formats:
        assert formats == ("pdf", "svg")
        save_figure(draw(), tmp_path / "copy.png")
    save_figure(draw(), tmp_path / "after.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "after.png",
        "copy.pdf",
        "copy.png",
        "copy.svg",
        "plain.png",
    ]
    assert (tmp_path / "copy.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "plain.png").read_bytes() == (tmp_path / "copy.png").read_bytes()  # PNG unchanged
    with pytest.raises(InvalidArgumentError, match=r"unknown figure formats \['eps'\]"):
        with also_save(("pdf", "eps")):
            pass
    with pytest.raises(InvalidTypeError, match="sequence of format names"):
        with also_save("pdf"):
            pass


# ---- strict reads -----------------------------------------------------------------------------------------
def test_read_json_names_the_file_and_the_remedy(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist") as e:
        read_json(tmp_path / "none.json")
    assert isinstance(e.value, FileNotFoundError) and e.value.path == tmp_path / "none.json"
    for text in ("", '{"a": 1', '{"a": NaN}', "\x00\x01"):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(CorruptFileError, match=r"bad.json .*; delete it or regenerate it"):
            read_json(tmp_path / "bad.json")
    write_json(tmp_path / "ok.json", {"x": math.inf})
    assert read_json(tmp_path / "ok.json") == {"x": math.inf}


def test_load_checked_wraps_any_loader_failure(tmp_path):
    cache = tmp_path / "net.pt"
    cache.write_bytes(b"not a torch file")
    with pytest.raises(CorruptFileError, match=r"(?s)net.pt cannot be read .*; delete it to retrain"):
        load_checked(cache, torch.load, "delete it to retrain")
    with pytest.raises(MissingFileError, match="delete it to retrain"):
        load_checked(tmp_path / "absent.pt", torch.load, "delete it to retrain")


# ---- the result store ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, match",
    [
        ('{"meta": {}, "records": {"a": ', "not a valid strict JSON file"),
        ("[1, 2]", "top level is not an object"),
        ('{"meta": [], "records": {}}', "must be objects"),
        ('{"meta": {}, "records": {"a": 3}}', r"records \['a'\] are not objects"),
    ],
)
def test_store_refuses_corrupt_files_by_name(tmp_path, text, match):
    p = tmp_path / "sweep.json"
    p.write_text(text)
    with pytest.raises(CorruptFileError, match=match) as e:
        ResultStore(p)
    assert "sweep.json" in str(e.value) and "delete it" in str(e.value)
    assert not lock_path_for(p).exists()  # the refused store released its lock


def test_store_refuses_other_settings_including_device(tmp_path):
    p = tmp_path / "sweep.json"
    with ResultStore(p, meta={"sweep": {"seed": 0, "device": "cpu"}}) as s:
        s.put("cell", {"x": 1.0})
    with pytest.raises(SettingsMismatchError, match=r"different settings: sweep.device: 'cpu' in the file"):
        ResultStore(p, meta={"sweep": {"seed": 0, "device": "cuda"}})
    with pytest.raises(SettingsMismatchError, match=r"sweep.device: 'cpu' in the file, not given now"):
        ResultStore(p, meta={"sweep": {"seed": 0}})
    with pytest.raises(SettingsMismatchError, match="precision is not recorded in the file"):
        ResultStore(p, meta={"precision": "float32"})
    ResultStore(p, meta={"sweep": {"seed": 0, "device": "cpu"}}).close()  # same settings resume


def test_new_settings_are_recorded_while_the_store_is_empty(tmp_path):
    p = tmp_path / "s.json"
    with ResultStore(p, meta={"a": 1}) as s:
        s.flush()
    with ResultStore(p, meta={"a": 1, "b": 2}) as s:
        assert s.meta == {"a": 1, "b": 2}


def test_store_handles_and_readonly(tmp_path):
    p = tmp_path / "r.json"
    s = ResultStore(p)
    assert lock_path_for(p).exists()
    s2 = ResultStore(p)  # a second handle in the same process shares the lock
    s.put("a", {"v": math.nan})
    ro = ResultStore(p, readonly=True)
    assert math.isnan(ro.get("a")["v"])
    with pytest.raises(InvalidArgumentError, match="read-only"):
        ro.put("b", {})
    with pytest.raises(InvalidArgumentError, match="key must be str"):
        s2.put(1, {})
    s.close()
    assert not lock_path_for(p).exists()
    with pytest.raises(InvalidArgumentError, match="read-only"):
        s.put("c", {})
    assert json.loads(p.read_text())["records"]["a"]["v"] == "nan"  # strict JSON on disk


# ---- the lock against a second writer -------------------------------------------------------------------
def hold_store_in_child(path: Path, ready: Path) -> int:
    """Fork a process that opens ``path`` for writing, puts one record and waits to be killed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            store = ResultStore(path, meta={"seed": 1})
            store.put("from-child", {"x": 1})
            ready.touch()
            time.sleep(120)
        finally:
            os._exit(0)
    return pid


def wait_until(cond, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


def check_refused_then_stale(p: Path, pid: int) -> None:
    with pytest.raises(OutputLockedError, match=rf"sweep.json is being written by pid {pid} on host"):
        ResultStore(p, meta={"seed": 1})
    with pytest.raises(OutputLockedError):
        OutputLock(p).acquire()
    assert ResultStore(p, readonly=True).get("from-child") == {"x": 1}  # readers are not locked out


def check_taken_over(p: Path, pid: int) -> None:
    # the killed writer left its lock file behind; the kernel dropped its lock, so it is stale: taken over
    assert lock_path_for(p).exists()
    s = ResultStore(p, meta={"seed": 1})
    assert s._lock.stale_from["pid"] == pid
    s.put("from-parent", {"x": 2})
    s.close()
    assert set(ResultStore(p, readonly=True).records) == {"from-child", "from-parent"}


def test_a_second_process_writing_the_same_store_is_refused(tmp_path):
    p, ready = tmp_path / "sweep.json", tmp_path / "ready"
    pid = hold_store_in_child(p, ready)
    try:
        wait_until(ready.exists, "the lock-holding child did not start")
        check_refused_then_stale(p, pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    check_taken_over(p, pid)


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from sims.results import ResultStore
store = ResultStore({path!r}, meta={{"seed": 1}})
store.put("from-child", {{"x": 1}})
open({ready!r}, "w").close()
time.sleep(120)
"""


@pytest.mark.slow
def test_a_separate_interpreter_writing_the_same_store_is_refused(tmp_path):
    p, ready = tmp_path / "sweep.json", tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), path=str(p), ready=str(ready))]
    )
    try:
        wait_until(lambda: ready.exists() or child.poll() is not None, "the child did not start")
        assert child.poll() is None, "the lock-holding child died"
        check_refused_then_stale(p, child.pid)
    finally:
        child.kill()
        child.wait()
    check_taken_over(p, child.pid)


def test_directory_locks_and_context_manager(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out, directory=True) as lock:
        assert lock.path == out / DIRECTORY_LOCK_NAME and lock.held and lock.owner
        info = json.loads(lock.path.read_text())
        assert info["pid"] == os.getpid() and "host" in info and "started" in info
        with OutputLock(out) as again:  # same process: shared, not refused
            assert again.held and not again.owner
    assert not (out / DIRECTORY_LOCK_NAME).exists()
