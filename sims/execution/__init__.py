"""Independent work items on any executor: local processes, Dask distributed, Slurm through submitit.

* :mod:`sims.execution.items` -- :class:`WorkItem` (key, module-level function + arguments, declared
  dependencies, cost hint; seed from the key) and :class:`ItemResult`.
* :mod:`sims.execution.task` -- what runs on a worker: threads, seeds, timing, caught traceback.
* :mod:`sims.execution.store` -- one result file per item, atomic, merged in key order.
* :mod:`sims.execution.executors` -- the interface; in-process and process-pool executors.
* :mod:`sims.execution.dask_backend`, :mod:`sims.execution.submitit_backend` -- Dask and Slurm
  (optional extras, imported lazily).
* :mod:`sims.execution.runner` -- :func:`run_items`: dependencies, longest first, resume, reruns after a
  lost worker, failures reported with their traceback, one progress bar.
* :mod:`sims.execution.options` -- the shared command-line flags (``--workers``, ``--dask``, ``--slurm``).
* :mod:`sims.execution.training_items` -- training runs as items; imported from there, not re-exported
  here, so that the executor core does not import ``sims.models`` (which imports ``sims.sweep``, which
  runs its cells on the executor). Sweep cells are the items of :func:`sims.sweep.run_sweep` itself.

Design and guarantees: ``docs/scale_out.md``.
"""

from sims.execution.dask_backend import DaskExecutor
from sims.execution.executors import (
    Executor,
    InlineExecutor,
    LocalExecutor,
    WorkerLost,
    default_workers,
    start_method,
)
from sims.execution.items import ItemResult, WorkItem, key_seed
from sims.execution.options import (
    ExecutorSpec,
    add_executor_arguments,
    make_executor,
    spec_from_args,
)
from sims.execution.runner import ItemsFailed, RunReport, run_items
from sims.execution.store import ItemStore
from sims.execution.submitit_backend import SubmititExecutor

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorSpec",
    "InlineExecutor",
    "ItemResult",
    "ItemStore",
    "ItemsFailed",
    "LocalExecutor",
    "RunReport",
    "SubmititExecutor",
    "WorkItem",
    "WorkerLost",
    "add_executor_arguments",
    "default_workers",
    "key_seed",
    "make_executor",
    "run_items",
    "spec_from_args",
    "start_method",
]
