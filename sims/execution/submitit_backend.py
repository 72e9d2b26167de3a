"""Slurm through submitit: one job per item, the same code as on a laptop.

``SubmititExecutor(folder, cluster="slurm", parameters={"slurm_partition": "cpu", "timeout_min": 60})``
submits each item as a Slurm job (``sbatch``) running :func:`~sims.execution.task.execute`; submitit
pickles the task into ``folder`` and the job's result back. ``cluster="local"`` runs the same jobs as
local subprocesses (how the tests exercise this path without Slurm), ``"debug"`` in this process.
Parameters are submitit's: the shared ``timeout_min``, ``mem_gb``, ``cpus_per_task``, ``gpus_per_node``,
``nodes``, ``tasks_per_node``, ``name``, and ``slurm_*`` for anything else (``slurm_partition``,
``slurm_account``, ``slurm_qos``, ``slurm_array_parallelism``, ...). A job that was killed, timed out or
preempted comes back as :class:`WorkerLost`, and the runner submits its item again.

``submitit`` is optional (``pip install 'mdm-suite[cluster]'``) and imported lazily.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from sims.execution.executors import Executor, WorkerLost, default_workers
from sims.execution.items import ItemResult
from sims.execution.task import Task, execute
from sims.validation import InvalidArgumentError

CLUSTERS = ("slurm", "local", "debug")


def _submitit():
    try:
        import submitit  # optional dependency, imported lazily (the core install does not need it)
    except ImportError as exc:
        raise ImportError(
            "the Slurm executor needs submitit: pip install 'mdm-suite[cluster]' (or pip install submitit)"
        ) from exc
    return submitit


class SubmititExecutor(Executor):
    """Items as submitit jobs on ``cluster``; at most ``workers`` in flight (Slurm default: no limit)."""

    def __init__(
        self,
        folder: str | Path,
        cluster: str = "slurm",
        workers: int | None = None,
        threads: int = 1,
        parameters: dict | None = None,
        poll_seconds: float | None = None,
    ):
        if cluster not in CLUSTERS:
            raise InvalidArgumentError(f"cluster must be one of {CLUSTERS}, got {cluster!r}")
        submitit = _submitit()
        self.cluster = cluster
        self.threads = max(1, int(threads))
        self.folder = Path(folder)
        self.workers = workers if workers else (None if cluster == "slurm" else default_workers())
        self.poll_seconds = poll_seconds or (2.0 if cluster == "slurm" else 0.1)
        self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        params = {"name": "mdm-suite", "timeout_min": 60}
        if cluster == "slurm":
            params["cpus_per_task"] = self.threads
        self._executor.update_parameters(**{**params, **(parameters or {})})
        self._pending: set = set()

    def capacity(self) -> int | None:
        return self.workers

    def submit(self, task: Task, priority: int = 0):
        job = self._executor.submit(execute, task)
        self._pending.add(job)
        return job

    def wait(self, handles, timeout):
        handles = list(handles)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = [job for job in handles if job.done()]
            if done or not handles or (deadline is not None and time.monotonic() >= deadline):
                return done
            time.sleep(self.poll_seconds)

    def result(self, handle) -> ItemResult:
        self._pending.discard(handle)
        try:
            return handle.result()
        except Exception as exc:  # killed, timed out, preempted, or the job could not start
            raise WorkerLost("".join(traceback.format_exception(exc))) from exc

    def close(self) -> None:
        for job in list(self._pending):
            if not job.done():
                job.cancel(check=False)
        self._pending.clear()

    def describe(self) -> str:
        limit = f"at most {self.workers} at once" if self.workers else "no limit"
        return f"submitit ({self.cluster} jobs, {limit}, {self.threads} torch thread(s) each)"
