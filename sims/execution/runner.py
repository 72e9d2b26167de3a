"""Run work items on any executor: declared dependencies, longest first, resume, one progress bar.

:func:`run_items` schedules as items complete (not in waves): an item is submitted as soon as every item
it depends on has finished, the longest ready item first (cost from recorded timings, else the item's
hint; unknown costs go first, then the given order). With a store folder, each finished item is written
to its own file at once (by the worker, or here when the worker cannot reach the folder); on resume,
items whose file is there with the same fingerprint are skipped. An item whose worker died is submitted
again (up to ``max_attempts`` runs); an item that raised is reported with its key and traceback, the
items that depend on it are skipped, and every other item still runs. The report lists values and
timings in the order of the items given, so nothing in it depends on the order of completion.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from sims.execution.executors import Executor, InlineExecutor, WorkerLost
from sims.execution.items import ItemResult, WorkItem
from sims.execution.store import ItemStore
from sims.execution.task import Task
from sims.validation import InvalidArgumentError


class ItemsFailed(RuntimeError):
    """Some items failed; ``report`` holds every result, failure and skipped item."""

    def __init__(self, report: RunReport):
        super().__init__(report.failure_report())
        self.report = report


@dataclass
class RunReport:
    """Outcome of :func:`run_items`: finished items (run now or resumed), failures, skipped items."""

    results: dict[str, ItemResult] = field(default_factory=dict)
    failures: dict[str, ItemResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    executor: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.skipped

    def values(self) -> dict:
        """``{key: value}`` of the finished items, in the order the items were given."""
        return {k: r.value for k, r in self.results.items()}

    def timings(self) -> dict[str, float]:
        """Wall seconds of each finished item on its worker (resumed items: from the earlier run)."""
        return {k: r.seconds for k, r in self.results.items()}

    def failure_report(self) -> str:
        lines = []
        for key, r in self.failures.items():
            lines += [
                f"=== item {key!r} failed (attempt {r.attempt}, worker {r.worker or '?'}):",
                r.error or "",
            ]
        for key, why in self.skipped.items():
            lines.append(f"=== item {key!r} skipped: {why}")
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        if not self.ok:
            raise ItemsFailed(self)


def _check_graph(items: list[WorkItem]) -> dict[str, tuple[str, ...]]:
    """Dependencies restricted to the given items; raises on duplicate keys and on cycles."""
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise InvalidArgumentError(f"duplicate item keys: {dup}")
    present = set(keys)
    deps = {it.key: tuple(d for d in it.depends_on if d in present) for it in items}
    indegree = {k: len(v) for k, v in deps.items()}
    users: dict[str, list[str]] = {k: [] for k in keys}
    for k, ds in deps.items():
        for d in ds:
            users[d].append(k)
    frontier = [k for k, n in indegree.items() if n == 0]
    seen = 0
    while frontier:
        k = frontier.pop()
        seen += 1
        for u in users[k]:
            indegree[u] -= 1
            if indegree[u] == 0:
                frontier.append(u)
    if seen != len(keys):
        raise InvalidArgumentError(
            f"dependency cycle among {sorted(k for k, n in indegree.items() if n > 0)}"
        )
    return deps


def run_items(
    items: Iterable[WorkItem],
    executor: Executor | None = None,
    *,
    store: ItemStore | str | os.PathLike | None = None,
    resume: bool = True,
    costs: Mapping[str, float] | None = None,
    max_attempts: int = 3,
    progress: bool = True,
    desc: str = "items",
    on_result: Callable[[ItemResult], None] | None = None,
) -> RunReport:
    """Run ``items`` on ``executor`` (default: in this process) and return a :class:`RunReport`.

    ``store``: folder of per-item result files (resume skips finished items; without ``resume`` their
    files are deleted first). ``costs``: expected seconds by key (e.g. the timings of an earlier run).
    ``on_result`` is called here, in the submitting process, for every finished or failed item.
    """
    items = list(items)
    executor = executor or InlineExecutor()
    deps = _check_graph(items)
    by_key = {it.key: it for it in items}
    order = {it.key: i for i, it in enumerate(items)}
    costs = costs or {}

    def cost(it: WorkItem) -> float:
        c = costs.get(it.key, it.cost)
        return math.inf if c is None else float(c)

    rank = sorted(by_key, key=lambda k: (-cost(by_key[k]), order[k]))
    priority = {k: len(rank) - i for i, k in enumerate(rank)}
    store = ItemStore(store) if store is not None and not isinstance(store, ItemStore) else store
    report = RunReport(executor=executor.describe())
    done: dict[str, ItemResult] = {}
    if store is not None:
        if resume:
            done = store.finished(by_key, {k: it.fingerprint() for k, it in by_key.items()})
            report.resumed = [k for k in by_key if k in done]
        else:
            store.discard(by_key)
    users: dict[str, list[str]] = {k: [] for k in by_key}
    for k, ds in deps.items():
        for d in ds:
            users[d].append(k)
    waiting = {k for k in by_key if k not in done}
    ready = [k for k in waiting if all(d in done for d in deps[k])]
    waiting -= set(ready)
    attempts = dict.fromkeys(by_key, 0)
    in_flight: dict = {}
    t0 = time.perf_counter()
    bar = tqdm(total=len(items), initial=len(done), desc=desc, disable=not progress, file=sys.stderr)

    def skip_users(key: str, why: str) -> None:
        for u in users[key]:
            if u in waiting:
                waiting.discard(u)
                report.skipped[u] = why
                bar.update(1)
                skip_users(u, f"dependency {u!r} was skipped")

    def finish(item: WorkItem, result: ItemResult) -> None:
        if result.ok:
            done[item.key] = result
            if store is not None:  # unless the worker wrote it (shared file system)
                stored = store.read(item.key)
                if stored is None or stored.fingerprint != result.fingerprint:
                    store.write(result)
            for u in users[item.key]:
                if u in waiting and all(d in done for d in deps[u]):
                    waiting.discard(u)
                    ready.append(u)
        else:
            report.failures[item.key] = result
            skip_users(item.key, f"dependency {item.key!r} failed")
        bar.update(1)
        if on_result is not None:
            on_result(result)

    try:
        while ready or in_flight:
            capacity = executor.capacity()
            ready.sort(key=lambda k: (-cost(by_key[k]), order[k]))
            while ready and (capacity is None or len(in_flight) < capacity):
                key = ready.pop(0)
                attempts[key] += 1
                folder = None if store is None else str(store.folder)
                task = Task(by_key[key], executor.threads, attempts[key], folder)
                in_flight[executor.submit(task, priority[key])] = by_key[key]
            failed = f", {len(report.failures)} failed" if report.failures else ""
            bar.set_postfix_str(f"{len(in_flight)} running{failed}", refresh=False)
            for handle in executor.wait(list(in_flight), timeout=1.0):
                item = in_flight.pop(handle)
                try:
                    result = executor.result(handle)
                except WorkerLost as lost:
                    if attempts[item.key] < max_attempts:
                        bar.write(f"worker lost while running {item.key!r}; running it again")
                        ready.append(item.key)
                        continue
                    result = ItemResult(item.key, error=f"worker lost {attempts[item.key]} times:\n{lost}")
                    result.attempt = attempts[item.key]
                finish(item, result)
    finally:
        bar.close()
    report.results = {k: done[k] for k in by_key if k in done}
    report.wall_seconds = round(time.perf_counter() - t0, 3)
    return report
