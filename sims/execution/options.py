"""Choosing an executor from the command line: the same flags for every command that runs items.

``add_executor_arguments(parser)`` adds::

    --workers N        local worker processes (default: every core; 1 = in this process)
    --threads T        torch threads per worker (default 1)
    --dask ADDRESS     run on Dask: 'local' (a local cluster of --workers processes), tcp://host:port,
                       or a scheduler file (*.json)
    --slurm [K=V ...]  one Slurm job per item through submitit; K=V are submitit parameters
                       (timeout_min=120 mem_gb=8 slurm_partition=cpu slurm_account=...)
    --submitit-folder  where submitit keeps job files (default: chosen by the command)
    --submitit-cluster slurm | local | debug (local: the same jobs as local subprocesses)

and :func:`make_executor` turns the parsed arguments into an executor (close it after use, or use it as
a context manager).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sims.execution.dask_backend import DaskExecutor
from sims.execution.executors import (
    Executor,
    InlineExecutor,
    LocalExecutor,
    default_workers,
    main_importable,
)
from sims.execution.submitit_backend import CLUSTERS, SubmititExecutor
from sims.validation import InvalidArgumentError, check_int


@dataclass
class ExecutorSpec:
    """Where items run: ``kind`` is ``local``, ``dask`` or ``submitit``."""

    kind: str = "local"
    workers: int | None = None
    threads: int = 1
    address: str = "local"
    cluster: str = "slurm"
    folder: str = "submitit"
    parameters: dict = field(default_factory=dict)


def parse_value(text: str):
    """``'8'`` -> 8, ``'0.5'`` -> 0.5, ``'true'`` -> True, anything else stays a string."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_parameters(pairs: list[str] | None) -> dict:
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"--slurm: expected KEY=VALUE (e.g. timeout_min=120), got {pair!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error otherwise, naming the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def dask_address(text: str) -> str:
    """argparse type of ``--dask``: 'local', an address or a scheduler file; never empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected 'local', tcp://host:port or a scheduler file (*.json)")
    return text.strip()


def key_value(text: str) -> str:
    """argparse type of ``--slurm``: one ``KEY=VALUE`` pair."""
    try:
        parse_parameters([text])
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_executor_arguments(parser: argparse.ArgumentParser, workers: int | None = None) -> None:
    """Add the executor flags to ``parser``; ``workers`` is the default of ``--workers`` (None: every
    core; a benchmark passes 1 so that its timings stay clean)."""
    g = parser.add_argument_group("where the work items run (docs/scale_out.md)")
    default = f"every core, here {default_workers()}" if workers is None else str(workers)
    g.add_argument(
        "--workers",
        type=positive_int,
        default=workers,
        help=f"local worker processes (default: {default}; 1 = in this process); "
        "with --dask local: its worker processes; with --slurm: jobs in flight (default: no limit)",
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch intra-op threads per worker (default 1, so that workers do not oversubscribe the cores)",
    )
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        metavar="ADDRESS",
        type=dask_address,
        help="run on Dask distributed: 'local' starts a local cluster, else tcp://host:port or a scheduler "
        "file (*.json); needs the 'cluster' extra",
    )
    where.add_argument(
        "--slurm",
        nargs="*",
        type=key_value,
        metavar="KEY=VALUE",
        help="one Slurm job per item through submitit, with these submitit parameters (e.g. timeout_min=120 "
        "mem_gb=8 slurm_partition=cpu); needs the 'cluster' extra",
    )
    g.add_argument("--submitit-folder", type=Path, help="where submitit keeps its job files")
    g.add_argument("--submitit-cluster", choices=CLUSTERS, default="slurm", help=argparse.SUPPRESS)


def spec_from_args(args: argparse.Namespace, submitit_folder: str | Path = "submitit") -> ExecutorSpec:
    """The :class:`ExecutorSpec` of parsed arguments (``submitit_folder``: default job folder)."""
    threads = check_int(args.threads, "--threads", minimum=1)
    if args.workers is not None:
        check_int(args.workers, "--workers", minimum=1)
    if getattr(args, "dask", None):
        return ExecutorSpec("dask", args.workers, threads, address=args.dask)
    if getattr(args, "slurm", None) is not None:
        return ExecutorSpec(
            "submitit",
            args.workers,
            threads,
            cluster=args.submitit_cluster,
            folder=str(args.submitit_folder or submitit_folder),
            parameters=parse_parameters(args.slurm),
        )
    return ExecutorSpec("local", args.workers, threads)


def make_executor(spec: ExecutorSpec, max_items: int | None = None) -> Executor:
    """The executor of ``spec``; a local one never starts more processes than ``max_items``."""
    if spec.kind == "dask":
        return DaskExecutor(spec.address, spec.workers, spec.threads)
    if spec.kind == "submitit":
        return SubmititExecutor(Path(spec.folder), spec.cluster, spec.workers, spec.threads, spec.parameters)
    if spec.kind != "local":
        raise InvalidArgumentError(f"unknown executor kind {spec.kind!r}; choose from local, dask, submitit")
    workers = spec.workers or default_workers()
    if max_items is not None:
        workers = min(workers, max(1, max_items))
    if workers > 1 and not main_importable():
        print(
            f"note: the main program has no file worker processes could import ({sys.modules['__main__'].__file__}"
            f"); running the {workers} requested workers' items in this process (same results)",
            file=sys.stderr,
        )
        workers = 1
    if workers == 1:
        return InlineExecutor(spec.threads)
    return LocalExecutor(workers, spec.threads)
