"""Every command of README.md runs, as a user would run it, at small sizes.

The commands are extracted from the README itself -- its indented code blocks, its fenced ``python``
blocks and every table with a ``command`` column (``/``-separated alternatives like ``--list`` completed
with the program before them) -- and each must have an entry in :data:`CASES`, so a command added to the
README fails this test until it is covered. Each case runs the command in a fresh folder (relative
output paths land there). The default run calls the entry points in this process (``sims.cli.main`` for
``mdm-suite``, ``paper_repro.__main__.main`` for ``python -m paper_repro``, ``exec`` for ``python -c``), so
that it takes seconds, not minutes (one extra torch import per command), with sweeps on ``--workers 1``
unless the command sets the workers (the slow ``--workers`` cases start the processes); the console script
itself runs once (``mdm-suite list``). The slow run runs every command again as a subprocess -- through the
installed console script ``mdm-suite`` or ``python -m ...``, with this checkout first on ``PYTHONPATH`` --
as a user would. The substitutions that keep the commands small are listed with the case:

* ``python3 -m venv .venv && . .venv/bin/activate && pip install -e ...`` steps are not run: the tests run
  in the installed environment, and installing needs the network. What follows them is run.
* ``python -m pytest ...`` (the test suite itself) is not run from inside the tests; the case checks what
  the command relies on instead (the ``test`` extra, the ``slow`` marker, the ``thorough`` profile).
* ``python -m paper_repro`` runs one cheap module (``--only energy_support``; the figure run of every
  module is what ``python -m paper_repro`` does by definition and takes minutes).
* ``mdm-suite sweep ... --lengths 64,256`` runs with ``--lengths 8`` (cells with K > L are left out, so
  K = 1, 4 remain) and ``--num-samples 64``; ``--workers 4`` becomes ``--workers 2`` (2 cores here).
* ``--dask tcp://host:8786`` gets the address of a Dask scheduler the test starts; ``--slurm`` runs the
  same submitit jobs on submitit's local cluster (``--submitit-cluster local``) where Slurm is absent.
* The API tour runs with smaller sizes (``512`` -> ``64`` samples, ``128`` -> ``32`` positions; verbatim in
  the slow run); the Dask-on-Slurm example needs a Slurm cluster and is compiled and its names resolved.

``mdm-suite plot`` also redraws the edge cases of issue 13: a sweep with SER exactly 0 and exactly 1, and a
sweep where every sample leaves the support (nothing finite on the log axes).
"""

from __future__ import annotations

import ast
import contextvars
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from paper_repro.__main__ import main as paper_repro_main
from sims.cli import main as mdm_suite

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


# ---- extraction -----------------------------------------------------------------------------------------
def _table_commands(lines: list[str]) -> list[str]:
    out, col = [], None
    for line in lines:
        if not line.startswith("|"):
            col = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if col is None:
            col = cells.index("command") if "command" in cells else -1
            continue
        if col < 0 or set(cells[0]) <= {"-"}:
            continue
        previous = None
        for cmd in re.findall(r"`([^`]+)`", cells[col]):
            if cmd.startswith("-") and previous is not None:  # `--list` after `python -m paper_repro ...`
                words = shlex.split(previous)
                prog = words[: next(i for i, w in enumerate(words) if w.startswith("--"))]
                cmd = " ".join([*prog, cmd])
            out.append(cmd)
            previous = cmd
    return out


def readme_commands() -> list[str]:
    """Every command in README.md: indented code blocks, fenced python blocks (as ``python: <first
    line>``) and the command columns of tables."""
    text = README.read_text()
    lines = text.splitlines()
    out, fenced, prev_blank = [], False, True
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("    ") and line.strip() and prev_blank:
            out.append(line.strip())
        prev_blank = not line.strip()
    out += [f"python: {b.strip().splitlines()[0]}" for b in re.findall(r"```python\n(.*?)```", text, re.S)]
    return out + _table_commands(lines)


def python_block(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return next(b for b in blocks if b.strip().splitlines()[0] == first_line)


# ---- running ----------------------------------------------------------------------------------------------
def env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


#: "in_process" (the default run) or "subprocess" (the slow run: every command as a user runs it)
MODE = contextvars.ContextVar("readme_mode", default="in_process")


@dataclass
class Ran:
    """What a command printed (stdout and stderr, as text)."""

    stdout: str
    stderr: str


def run(cmd: str, cwd: Path, timeout: float = 900) -> Ran:
    """``cmd`` run in ``cwd`` (see the module docstring for the two modes); it must exit 0."""
    words = shlex.split(cmd)
    if MODE.get() == "in_process":
        rc, out, err = in_process(words, cwd)
    else:
        rc, out, err = as_subprocess(words, cwd, timeout)
    assert rc == 0, f"{cmd!r} exited {rc}:\n{out[-3000:]}\n{err[-5000:]}"
    return Ran(out, err)


def as_subprocess(words: list[str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """As a shell user runs it (``python`` = this interpreter, ``mdm-suite`` = the console script)."""
    if words[0] in ("python", "python3"):
        words = [sys.executable, *words[1:]]
    elif words[0] == "mdm-suite":
        script = shutil.which("mdm-suite", path=str(Path(sys.executable).parent))
        words = [*([script] if script else [sys.executable, "-m", "sims.cli"]), *words[1:]]
    r = subprocess.run(words, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def in_process(words: list[str], cwd: Path) -> tuple[int, str, str]:
    """The command's entry point called here, in ``cwd``, its output captured; torch's thread count (which
    ``paper_repro`` sets) restored after."""
    if words[0] == "mdm-suite":
        if words[1] == "sweep" and "--workers" not in words:
            words = [*words, "--workers", "1"]
        call = lambda: mdm_suite(words[1:])  # noqa: E731
    elif words[:3] == ["python", "-m", "paper_repro"]:
        call = lambda: paper_repro_main(words[3:])  # noqa: E731
    elif words[:2] == ["python", "-c"]:
        call = lambda: exec(compile(words[2], "README.md", "exec"), {"__name__": "__main__"})  # noqa: E731
    else:
        raise AssertionError(f"no entry point for {words[:3]}")
    out, err, here, threads = io.StringIO(), io.StringIO(), Path.cwd(), torch.get_num_threads()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = call() or 0
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return rc, out.getvalue(), err.getvalue()


def after_install(cmd: str) -> str:
    """What follows the venv and pip steps of a ``... && pip install ... && X`` line."""
    steps = [s.strip() for s in cmd.split("&&")]
    assert steps[0].startswith("python3 -m venv") and any(s.startswith("pip install -e") for s in steps)
    return steps[-1]


SWEEP = "mdm-suite sweep --languages ngram2,hmm --lengths 64,256 --samplers ancestral,fixed_random --steps 1,4,16,64"


def small_sweep(cmd: str) -> str:
    """The README sweep at small size (see the module docstring)."""
    cmd = cmd.replace("--lengths 64,256", "--lengths 8").replace("--workers 4", "--workers 2")
    return cmd + " --num-samples 64 --no-progress"


def paper_repro(cmd: str, only=("energy_support",)) -> str:
    return f"{cmd} --only {' '.join(only)} --out figures --no-progress"


def figures_written(cwd: Path, names=("energy_support.json", "energy_support.png")) -> None:
    for name in names:
        assert (cwd / "figures" / name).stat().st_size > 0, name
    assert not (cwd / "figures" / ".mdm-suite.lock").exists()


# ---- the cases -------------------------------------------------------------------------------------------
@dataclass
class Case:
    """How one README command is run (``runner(cmd, cwd)``) and whether it is slow."""

    runner: object
    slow: bool = False
    marks: list = field(default_factory=list)


def figures(cmd, cwd):
    run(paper_repro(after_install(cmd)), cwd)
    figures_written(cwd)


def test_suite(cmd, cwd):
    assert after_install(cmd) == "python -m pytest -n 2 -q"
    assert '"pytest-xdist' in (ROOT / "pyproject.toml").read_text()  # the test extra has what -n 2 needs
    pytest.importorskip("xdist")


test_suite.__test__ = False  # a runner, not a test


def slow_suite(cmd, cwd):
    assert cmd == "python -m pytest -m slow -n 2 -q"
    assert '"slow: ' in (ROOT / "pyproject.toml").read_text()  # the marker is registered


def thorough(cmd, cwd):
    assert cmd.startswith("HYPOTHESIS_PROFILE=thorough ")
    assert settings.get_profile("thorough").max_examples > settings.get_profile("ci").max_examples


def paper_repro_run(cmd, cwd):
    run(paper_repro(cmd), cwd)
    suffix = "_full" if "--preset full" in cmd else ""
    figures_written(cwd, (f"energy_support{suffix}.json", f"energy_support{suffix}.png"))


def listing(cmd, cwd):
    out = run(cmd, cwd).stdout
    assert "core_quality_vs_steps" in out and "[after training_curves]" in out


def pdf_copies(cmd, cwd):
    run(paper_repro(cmd), cwd)
    figures_written(cwd, ("energy_support.png", "energy_support.pdf"))
    assert (cwd / "figures" / "energy_support.pdf").read_bytes().startswith(b"%PDF")


def bench(cmd, cwd):
    """``--quick`` runs the smoke preset on two policies and two languages (the quick panel takes minutes)."""
    small = cmd.replace("--quick", "--preset smoke --policies fixed_max_prob --languages ngram2,parity")
    small = small.replace("docs/examples/", str(ROOT / "docs" / "examples") + "/")
    run(small + " --workers 1 --no-progress", cwd)
    board = cwd / "results" / "bench"
    assert any(board.rglob("leaderboard*.md")), sorted(p.name for p in board.rglob("*"))


def resume(cmd, cwd):
    run(paper_repro(cmd), cwd)
    run(paper_repro(cmd), cwd)  # a finished run leaves nothing to resume: everything again, same bytes
    figures_written(cwd)


def workers_n(cmd, cwd):
    run(paper_repro(cmd.replace("--workers N", "--workers 2"), ("energy_support", "orders_invariance")), cwd)
    figures_written(cwd, ("energy_support.png", "orders_invariance.json"))
    assert json.loads((cwd / "figures" / "timings_quick.json").read_text())["workers"] == 2


def dask_address(cmd, cwd):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        run(paper_repro(cmd.replace("tcp://host:8786", cluster.scheduler_address)), cwd)
    figures_written(cwd)


def dask_local(cmd, cwd):
    pytest.importorskip("distributed")
    run(paper_repro(cmd.replace("--workers 4", "--workers 2")), cwd)
    figures_written(cwd)


def slurm(cmd, cwd):
    pytest.importorskip("submitit")
    local = "" if shutil.which("sbatch") else " --submitit-cluster local"
    run(paper_repro(cmd) + local, cwd)
    figures_written(cwd)


def sweep(cmd, cwd):
    r = run(small_sweep(cmd), cwd)
    out = cwd / Path(shlex.split(cmd)[shlex.split(cmd).index("--out") + 1])
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["records"]) == 2 * 2 * 2 and data["meta"]["sweep"]["device"] in ("cpu", "cuda")
    assert (out / "sweep.png").stat().st_size > 1000 and (out / "sweep.csv").exists()
    assert "8 cells" in r.stdout and not (out / ".mdm-suite.lock").exists()


def sweep_and_plot(cmd, cwd):
    run(small_sweep(f"{SWEEP} --out results/my_sweep"), cwd)
    r = run(cmd, cwd)
    assert (cwd / "results/my_sweep/sweep.png").stat().st_size > 1000 and "sweep.png" in r.stdout


def listing_names(cmd, cwd):
    out = run(cmd, cwd).stdout
    assert "language ngram2" in out and "sampler  first_hitting" in out and "ignores K" in out


def api_tour(cmd, cwd, verbatim=False):
    code = python_block(cmd.removeprefix("python: "))
    if not verbatim:
        code = code.replace("512", "64").replace("128", "32").replace("sample(256,", "sample(32,")
    r = run(f"python -c {shlex.quote(code)}", cwd)
    assert "ExactLawMetrics(" in r.stdout and "SampleQuality(" in r.stdout


def dask_on_slurm(cmd, cwd):
    code = python_block(cmd.removeprefix("python: "))
    compile(code, "README.md", "exec")
    imported = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)]
    assert {(i.module, a.name) for i in imported for a in i.names} == {
        ("dask_jobqueue", "SLURMCluster"),
        ("paper_repro.__main__", "main"),
    }
    assert paper_repro_main(["--dask", "tcp://127.0.0.1:1", "--list"]) == 0  # the flag it passes is taken


CASES = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && python -m paper_repro": Case(
        figures
    ),
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest -n 2 -q": Case(
        test_suite
    ),
    "python -m pytest -m slow -n 2 -q": Case(slow_suite),
    "HYPOTHESIS_PROFILE=thorough python -m pytest -n 2 -q": Case(thorough),
    "python -m paper_repro --preset full": Case(paper_repro_run),
    "python -m paper_repro --only core_quality_vs_steps": Case(
        lambda cmd, cwd: paper_repro_run(cmd.replace(" --only core_quality_vs_steps", ""), cwd)
    ),
    "python -m paper_repro --list": Case(listing),
    "python -m paper_repro --pdf": Case(pdf_copies),
    "python -m paper_repro --resume": Case(resume),
    "python -m paper_repro --workers N": Case(workers_n, slow=True),
    "python -m paper_repro --workers 1": Case(paper_repro_run),
    "python -m paper_repro --dask local --workers 4": Case(dask_local, slow=True),
    "python -m paper_repro --dask tcp://host:8786": Case(dask_address, slow=True),
    "python -m paper_repro --slurm timeout_min=120 slurm_partition=cpu": Case(slurm, slow=True),
    f"{SWEEP} --out results/my_sweep": Case(sweep),
    f"{SWEEP} --out results/my_sweep4 --workers 4": Case(sweep, slow=True),
    "mdm-suite plot results/my_sweep/sweep.json": Case(sweep_and_plot),
    "mdm-suite list": Case(listing_names),
    "mdm-suite bench --quick --out results/bench": Case(bench),
    "mdm-suite bench --quick --out results/bench --plugin docs/examples/bench_plugin.py:LeftToRightSampler": Case(
        bench
    ),
    "python: from dask_jobqueue import SLURMCluster": Case(dask_on_slurm),
    "python: import torch": Case(api_tour),
}


def test_every_readme_command_has_a_case():
    found = readme_commands()
    assert len(found) == len(set(found))
    assert set(found) == set(CASES), (
        f"README commands without a case: {sorted(set(found) - set(CASES))}; "
        f"cases no longer in the README: {sorted(set(CASES) - set(found))}"
    )


PARAMS = [pytest.param(c, marks=[pytest.mark.slow] if CASES[c].slow else [], id=c[:60]) for c in CASES]


@pytest.mark.parametrize("cmd", PARAMS)
def test_readme_command_runs(cmd, tmp_path):
    CASES[cmd].runner(cmd, tmp_path)


@pytest.fixture()
def as_a_user():
    token = MODE.set("subprocess")
    yield
    MODE.reset(token)


@pytest.mark.slow
@pytest.mark.parametrize("cmd", list(CASES), ids=[c[:60] for c in CASES])
def test_readme_command_runs_as_a_subprocess(cmd, tmp_path, as_a_user):
    CASES[cmd].runner(cmd, tmp_path)


def test_the_console_script_runs(tmp_path, as_a_user):
    """``mdm-suite`` as installed (the default run calls its entry point in this process)."""
    listing_names("mdm-suite list", tmp_path)


@pytest.mark.slow
def test_the_api_tour_verbatim(tmp_path, as_a_user):
    api_tour("python: import torch", tmp_path, verbatim=True)


# ---- plotting the edge cases of issue 13 -------------------------------------------------------------------
EDGE = ["--languages", "pair_copy", "--lengths", "8", "--samplers", "fixed_random", "--num-samples", "16"]
QUIET = ["--device", "cpu", "--workers", "1", "--no-progress"]


def test_plot_redraws_ser_zero_and_one_and_sweeps_entirely_out_of_support(tmp_path):
    """One token per step with the oracle is exact (SER 0); one step for all 8 positions of pair copy
    leaves the support with every sample (SER 1, no finite in-support perplexity); a sweep of only such
    cells has nothing finite on its log axes. Each is drawn by ``mdm-suite plot`` (was: ``yerr`` must not
    contain negative values, Data cannot be log-scaled)."""
    both, out_only = tmp_path / "both", tmp_path / "out_only"
    assert mdm_suite(["sweep", *EDGE, "--steps", "1,8", *QUIET, "--out", str(both)]) == 0
    assert mdm_suite(["sweep", *EDGE, "--steps", "1", *QUIET, "--out", str(out_only)]) == 0
    rec = json.loads((both / "sweep.json").read_text())["records"]
    assert rec["pair_copy|L=8|fixed_random|K=8"]["quality"]["sequence_error"]["p"] == 0.0
    one = rec["pair_copy|L=8|fixed_random|K=1"]["quality"]
    assert one["sequence_error"]["p"] == 1.0 and one["gen_nll_per_token_in_support"] is None
    for folder in (both, out_only):
        (folder / "sweep.png").unlink()
        r = run(f"mdm-suite plot {folder / 'sweep.json'}", tmp_path)
        assert (folder / "sweep.png").stat().st_size > 1000 and "sweep.png" in r.stdout
