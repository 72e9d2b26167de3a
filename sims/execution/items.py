"""Work items and their outcomes: the unit that any executor runs, keyed, seeded from the key.

A :class:`WorkItem` is one independent piece of work (a sweep cell, a figure module, a training run, a
benchmark cell): a key that names it uniquely, a module-level function and keyword arguments that pickle
(so that a process pool, a Dask worker or a Slurm job can run it), the keys of the items it needs
finished first, and an optional cost hint in seconds for longest-first scheduling.

Determinism: an item's result may depend only on its function and arguments, never on which worker ran
it or what ran before. :func:`key_seed` turns a key into a seed (the same formula as
``sims.sweep.cell_seed``, so a sweep that adopts it keeps its numbers); the worker-side wrapper also
seeds the global RNGs (``random``, numpy, torch) from :attr:`WorkItem.seed` before the call, so even code
that forgets its own generator is reproducible item by item.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sims.validation import InvalidArgumentError


def key_seed(key: str, seed: int = 0) -> int:
    """Seed of the item ``key`` (``crc32(key) + seed`` modulo 2**63, as ``sims.sweep.cell_seed``)."""
    return (zlib.crc32(key.encode()) + seed) % (2**63)


def function_name(fn: Callable) -> str:
    """``module:qualname`` of a module-level function (what pickling by reference needs)."""
    return f"{fn.__module__}:{fn.__qualname__}"


@dataclass(frozen=True, eq=False)
class WorkItem:
    """One independent piece of work: ``fn(**kwargs)``, identified by ``key``.

    ``fn`` must be a module-level function of an importable module and ``kwargs`` must pickle; the
    return value must be JSON-serialisable (it is stored in the item's result file). ``depends_on``
    names items that must have finished successfully first (keys not among the items of a run are
    taken as satisfied). ``cost`` is an estimate in seconds (longest first); ``base_seed`` is mixed into
    :attr:`seed`. ``identity`` names what the item computes, for resume (default: its function and
    arguments); give it when some arguments only say how to run (progress bars, resume flags).
    """

    key: str
    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    cost: float | None = None
    base_seed: int = 0
    identity: str | None = None

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key:
            raise InvalidArgumentError(f"an item key must be a non-empty string, got {self.key!r}")
        if "<locals>" in self.fn.__qualname__ or self.fn.__name__ == "<lambda>":
            raise InvalidArgumentError(
                f"item {self.key!r}: {function_name(self.fn)} is not a module-level function; workers in "
                "other processes could not import it"
            )
        object.__setattr__(self, "depends_on", tuple(self.depends_on))

    @property
    def seed(self) -> int:
        """The seed of this item, derived from its key only."""
        return key_seed(self.key, self.base_seed)

    def fingerprint(self) -> str:
        """Hash of what the item computes (function, arguments, seed): a stored result with another
        fingerprint belongs to a different computation and is not reused on resume."""
        what = self.identity if self.identity is not None else sorted(self.kwargs.items())
        text = repr((function_name(self.fn), what, self.seed))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ItemResult:
    """What running one item gave: its value, or the error with its traceback, and where and how long.

    ``seconds`` is the wall time of the call on the worker, ``cpu_seconds`` the process CPU time;
    ``worker`` is ``host:pid``; ``attempt`` counts runs of this item (more than 1 after a lost worker).
    """

    key: str
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker: str = ""
    attempt: int = 1
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "error": self.error,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "worker": self.worker,
            "attempt": self.attempt,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
