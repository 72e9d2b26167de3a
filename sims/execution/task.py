"""What runs on a worker: one item, with its threads and seeds set, timed, its error caught.

:func:`execute` is the only function any executor ships to a worker. It sets the torch intra-op threads
(one by default: several workers on one machine would otherwise oversubscribe the cores), seeds the
global RNGs from the item's key, calls the item, and returns an :class:`ItemResult` -- with the
traceback instead of raising when the item fails, so that an exception coming back from an executor
always means that the worker itself was lost. When a store folder is given, the worker writes the result
file itself (atomically), so finished work survives the death of the process that submitted it.
Thread count and RNG states are restored afterwards (the in-process executor runs items in the caller).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch

from sims.execution.items import ItemResult, WorkItem
from sims.execution.store import ItemStore


@dataclass(frozen=True)
class Task:
    """An item as shipped to a worker: the item, torch threads, attempt number and store folder."""

    item: WorkItem
    threads: int = 1
    attempt: int = 1
    store: str | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def set_threads(threads: int) -> None:
    """Worker-process initializer: ``threads`` torch intra-op threads (and the matching env variables
    for libraries that read them when they start)."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


def execute(task: Task) -> ItemResult:
    """Run ``task.item`` here and return its result (never raises for an error of the item itself)."""
    item = task.item
    old_threads = torch.get_num_threads()
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    torch.set_num_threads(max(1, task.threads))
    random.seed(item.seed)
    np.random.seed(item.seed % 2**32)
    torch.manual_seed(item.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    value, error = None, None
    try:
        value = item.fn(**item.kwargs)
    except BaseException as exc:  # a failing item is reported, with its traceback, not raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = "".join(traceback.format_exception(exc))
    finally:
        torch.set_num_threads(old_threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    result = ItemResult(
        key=item.key,
        value=value,
        error=error,
        seconds=round(time.perf_counter() - t0, 3),
        cpu_seconds=round(time.process_time() - c0, 3),
        worker=worker_name(),
        attempt=task.attempt,
        fingerprint=item.fingerprint(),
    )
    if result.ok:
        try:
            json.dumps(result.value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            result.value, result.error = None, f"item value is not JSON-serialisable: {exc!r}"
    if task.store is not None and result.ok:
        try:
            ItemStore(task.store).write(result)
        except OSError:
            pass  # e.g. no shared file system: the submitting process writes it when the result arrives
    return result
