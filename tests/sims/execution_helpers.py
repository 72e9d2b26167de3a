"""Module-level item functions for the execution tests (workers in other processes import them)."""

from __future__ import annotations

import importlib
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from sims.categorical import make_generator
from sims.execution import key_seed


def draw(key: str, n: int = 4) -> dict:
    """A value from the item's own generator, the global RNGs and the torch thread count."""
    g = make_generator(key_seed(key))
    return {
        "own": torch.rand(n, generator=g, dtype=torch.float64).tolist(),
        "global_torch": torch.rand(n, dtype=torch.float64).tolist(),
        "global_numpy": np.random.random(n).tolist(),
        "global_random": [random.random() for _ in range(n)],
        "threads": torch.get_num_threads(),
    }


def append_log(log: str, key: str) -> str:
    """Record the start of ``key`` in ``log`` (one line per start; order of starts = order of lines)."""
    with open(log, "a") as fh:
        fh.write(key + "\n")
    return key


def fail(message: str) -> None:
    raise ValueError(message)


def die_once(marker: str) -> str:
    """Kill this worker process the first time (``marker`` does not exist yet), succeed the second."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(3)
    return f"survived in {os.getpid()}"


def not_json() -> object:
    return object()


def write_after(path: str, seconds: float) -> str:
    """Sleep, then create ``path`` (a dependency that finishes late)."""
    time.sleep(seconds)
    Path(path).write_text("done")
    return path


def require(path: str) -> str:
    """Fail unless ``path`` exists (a dependent that must start after its dependency finished)."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} missing: started before its dependency finished")
    return path


def module_file(name: str) -> str:
    """The file ``name`` was imported from in the process that runs the item."""
    return importlib.import_module(name).__file__
