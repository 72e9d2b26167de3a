"""Dask distributed as an executor: a running scheduler anywhere, or a local cluster started here.

``DaskExecutor("tcp://host:8786")`` connects to a running scheduler (local, SSH, Kubernetes, or Slurm/PBS
through dask-jobqueue; see ``docs/scale_out.md``), ``DaskExecutor("scheduler.json")`` to the one
described by a scheduler file (``dask scheduler --scheduler-file``, dask-mpi), and
``DaskExecutor("local", workers=N)`` starts a ``LocalCluster`` of N worker processes with one thread
each; any cluster object (``dask_jobqueue.SLURMCluster``, ``PBSCluster``, ...) is accepted as well. Every ready item is submitted at once with its priority (longest first); the scheduler hands them
to free workers and retries a task whose worker died (``distributed.scheduler.allowed-failures``) before
reporting ``KilledWorker``, which comes back here as :class:`WorkerLost`.

``dask`` and ``distributed`` are optional (``pip install 'mdm-suite[cluster]'``): they are imported
lazily, when a Dask executor is created, so the core install does not need them.
"""

from __future__ import annotations

import asyncio
import traceback

from sims.execution.executors import Executor, WorkerLost, default_workers
from sims.execution.items import ItemResult
from sims.execution.task import Task, execute


def _distributed():
    """The ``distributed`` module, or a clear error naming the extra to install."""
    try:
        import distributed  # optional dependency, imported lazily (the core install does not need it)
    except ImportError as exc:
        raise ImportError(
            "the Dask executor needs dask.distributed: pip install 'mdm-suite[cluster]' "
            "(or pip install 'dask[distributed]')"
        ) from exc
    return distributed


class DaskExecutor(Executor):
    """Items as Dask tasks (``client.submit(execute, task, priority=...)``, impure: never cached)."""

    def __init__(self, address="local", workers: int | None = None, threads: int = 1):
        distributed = _distributed()
        self._distributed = distributed
        self.threads = max(1, int(threads))
        self.address = address
        self._cluster = None
        self.workers = None
        if address == "local":
            self.workers = max(1, int(workers or default_workers()))
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = distributed.Client(self._cluster)
        elif not isinstance(address, str):  # a cluster object (dask-jobqueue, dask-kubernetes, ...)
            self.client = distributed.Client(address)
            self.address = getattr(address, "scheduler_address", type(address).__name__)
        elif address.endswith(".json"):
            self.client = distributed.Client(scheduler_file=address)
        else:
            self.client = distributed.Client(address)

    def capacity(self) -> int | None:
        return None

    def submit(self, task: Task, priority: int = 0):
        return self.client.submit(execute, task, pure=False, priority=priority)

    def wait(self, handles, timeout):
        handles = list(handles)
        try:
            self._distributed.wait(handles, timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, asyncio.TimeoutError):
            pass
        return [h for h in handles if h.done()]

    def result(self, handle) -> ItemResult:
        try:
            return handle.result()
        except Exception as exc:  # KilledWorker, lost connection, cancelled: the worker could not deliver
            raise WorkerLost("".join(traceback.format_exception(exc))) from exc
        finally:
            handle.release()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> str:
        n = len(self.client.scheduler_info().get("workers", {})) if self.client is not None else 0
        where = "local cluster" if self._cluster is not None else self.address
        return f"dask ({where}, {n} workers x {self.threads} torch thread(s))"
