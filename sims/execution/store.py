"""One result file per item, written atomically by whoever finished it, merged in key order.

An :class:`ItemStore` is a folder of ``<slug>-<hash>.json`` files, one per finished item (key, value,
timing, worker, fingerprint). Any number of workers on any number of machines sharing the folder can
write it at the same time: each file is written through a temporary file and ``os.replace`` (atomic on
POSIX and on the network file systems of clusters), two writers of the same item write the same value,
and nothing is ever appended to a shared file. Resuming reads the folder back; :meth:`merge` returns the
values sorted by key, so a merged result does not depend on the order in which items finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sims.execution.items import ItemResult
from sims.results import atomic_write_text, load_checked
from sims.validation import CorruptFileError, InvalidArgumentError

#: What to do with an item file that cannot be read.
ITEM_REMEDY = "delete it: the item is then run again"


def _load_item(path: Path) -> ItemResult:
    """The :class:`ItemResult` in ``path``; a truncated or foreign file raises
    :class:`~sims.validation.CorruptFileError` naming it."""
    data = load_checked(path, lambda p: json.loads(p.read_text()), ITEM_REMEDY)
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        raise CorruptFileError(path, f"{path} is not an item result (no key); {ITEM_REMEDY}")
    return ItemResult.from_dict(data)


def item_filename(key: str) -> str:
    """A readable, collision-free file name for ``key`` (slug of the key + 12 hex digits of its hash)."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", key).strip("._")[:80] or "item"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


class ItemStore:
    """Finished items of one run, one JSON file each, in ``folder``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / item_filename(key)

    def write(self, result: ItemResult) -> Path:
        """Store a successful result (atomic; failures are never stored, so they run again)."""
        if not result.ok:
            raise InvalidArgumentError(f"item {result.key!r} failed; only finished items are stored")
        path = self.path(result.key)
        atomic_write_text(path, json.dumps(result.to_dict(), indent=1, sort_keys=True))
        return path

    def read(self, key: str) -> ItemResult | None:
        path = self.path(key)
        if not path.exists():
            return None
        result = _load_item(path)
        return result if result.key == key else None

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def finished(self, keys: Iterable[str], fingerprints: dict[str, str] | None = None) -> dict:
        """``{key: ItemResult}`` of the ``keys`` already stored (with a matching fingerprint if given)."""
        out = {}
        for key in keys:
            result = self.read(key)
            if result is None:
                continue
            if fingerprints is not None and result.fingerprint != fingerprints.get(key, result.fingerprint):
                continue
            out[key] = result
        return out

    def discard(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        """Keys of every stored item (reads every file), sorted."""
        if not self.folder.exists():
            return []
        return sorted(_load_item(p).key for p in self.folder.glob("*.json"))

    def merge(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """``{key: value}`` of the stored items (all, or ``keys``), sorted by key."""
        keys = self.keys() if keys is None else sorted(keys)
        out = {}
        for key in keys:
            result = self.read(key)
            if result is None:
                raise KeyError(f"item {key!r} is not in {self.folder}")
            out[key] = result.value
        return out

    def write_merged(self, path: str | os.PathLike, keys: Iterable[str] | None = None) -> Path:
        """Write :meth:`merge` to one JSON file (sorted keys, atomic): the same bytes for the same items."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.merge(keys), indent=1, sort_keys=True))
        return path
