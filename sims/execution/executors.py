"""The executor interface and the two executors of one machine: in this process, and a process pool.

An :class:`Executor` runs :class:`~sims.execution.task.Task` objects through
:func:`~sims.execution.task.execute` somewhere and hands back their :class:`ItemResult`. The runner
(``sims.execution.runner``) needs only five operations of it -- ``capacity``, ``submit``, ``wait``,
``result`` and ``close`` -- so a new back end (Ray, MPI, a cloud batch service) is one small class.
``result`` raises :class:`WorkerLost` exactly when the worker died or could not run the task; an error
of the item itself comes back inside the :class:`ItemResult`.

Process start method of :class:`LocalExecutor`: ``forkserver`` where the platform has it (Linux, macOS),
else ``spawn``. Not ``fork``: forking a process whose torch/OpenMP thread pool is already running can
deadlock the child, and Python 3.12+ warns about it. ``forkserver`` is as safe as ``spawn`` (workers are
forked from a fresh single-threaded server process that never ran parallel work) but starts workers
faster, because the server has imported numpy and torch once (``set_forkserver_preload``); workers
inherit ``sys.path`` and the working directory and import the suite themselves. The suite is not preloaded:
the server does not get this process's ``sys.path``, so it could import another copy of the suite (an
installed one) and the workers would silently run that code.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures.process import BrokenProcessPool

from sims.execution.items import ItemResult
from sims.execution.task import Task, execute, set_threads


class WorkerLost(RuntimeError):
    """The worker that ran an item died, was killed or was lost (not an error of the item)."""


def default_workers() -> int:
    """Cores this process may use (CPU affinity where the platform reports it, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def main_importable() -> bool:
    """Whether worker processes can re-create ``__main__``. With ``spawn``/``forkserver`` every worker runs
    the main program's file again before it takes work; a program read from stdin (``python - < x.py``,
    ``__main__.__file__ == '<stdin>'``) has no such file, so every worker would die as it starts. Programs
    run by module name (``python -m``), by ``-c`` or interactively (no ``__file__``) are fine."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(os.path.join(multiprocessing.process.ORIGINAL_DIR or "", path))


def start_method() -> str:
    """``forkserver`` where available, else ``spawn`` (see the module docstring for why not ``fork``)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class Executor(ABC):
    """Runs tasks somewhere; subclasses say where. Use as a context manager (``close`` on exit)."""

    #: torch intra-op threads per worker
    threads: int = 1

    @abstractmethod
    def capacity(self) -> int | None:
        """How many tasks to keep in flight (the runner then picks the longest ready item for each free
        slot); ``None``: submit every ready task and let the cluster queue them by priority."""

    @abstractmethod
    def submit(self, task: Task, priority: int = 0):
        """Start ``task``; return a handle. Higher ``priority`` runs first where the back end queues."""

    @abstractmethod
    def wait(self, handles: Iterable, timeout: float | None) -> list:
        """The handles among ``handles`` that have finished (waits until one has, or ``timeout``)."""

    @abstractmethod
    def result(self, handle) -> ItemResult:
        """The :class:`ItemResult` of a finished handle; raises :class:`WorkerLost` if there is none."""

    def close(self) -> None:
        """Release the workers (idempotent); nothing to release by default."""
        return None

    def describe(self) -> str:
        return type(self).__name__

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _wait_futures(handles: Iterable, timeout: float | None) -> list:
    done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
    return list(done)


def _future_result(future: cf.Future) -> ItemResult:
    try:
        return future.result()
    except Exception as exc:  # BrokenProcessPool, unpicklable task, ...: the worker could not deliver
        raise WorkerLost("".join(traceback.format_exception(exc))) from exc


class InlineExecutor(Executor):
    """Runs each task in this process when it is submitted (``--workers 1``; the reference run)."""

    def __init__(self, threads: int = 1):
        self.threads = max(1, int(threads))

    def capacity(self) -> int | None:
        return 1

    def submit(self, task: Task, priority: int = 0) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(execute(task))
        return future

    def wait(self, handles, timeout):
        return _wait_futures(handles, timeout)

    def result(self, handle) -> ItemResult:
        return _future_result(handle)

    def describe(self) -> str:
        return "in this process"


class LocalExecutor(Executor):
    """``workers`` processes of this machine (``concurrent.futures.ProcessPoolExecutor``), each with
    ``threads`` torch threads. A pool broken by a killed worker is replaced at the next submission; the
    tasks it had in flight come back as :class:`WorkerLost` and the runner submits them again."""

    def __init__(self, workers: int | None = None, threads: int = 1, method: str | None = None):
        self.workers = max(1, int(workers or default_workers()))
        self.threads = max(1, int(threads))
        self.method = method or start_method()
        self._pool: cf.ProcessPoolExecutor | None = None

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        ctx = multiprocessing.get_context(self.method)
        if self.method == "forkserver":
            # third-party modules only: the server is started without this process's sys.path (Python
            # 3.11 ignores it), so a project module preloaded there could come from another copy (an
            # installed one, or the server's working directory) and every worker would run that code
            ctx.set_forkserver_preload(["numpy", "torch"])
        return cf.ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=set_threads, initargs=(self.threads,)
        )

    def capacity(self) -> int | None:
        return self.workers

    def submit(self, task: Task, priority: int = 0) -> cf.Future:
        if self._pool is None:
            self._pool = self._new_pool()
        try:
            return self._pool.submit(execute, task)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(execute, task)

    def wait(self, handles, timeout):
        return _wait_futures(handles, timeout)

    def result(self, handle) -> ItemResult:
        return _future_result(handle)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> str:
        return f"local ({self.workers} processes x {self.threads} thread(s), {self.method})"
