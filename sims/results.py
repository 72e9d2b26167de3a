"""Incremental, resumable result storage with atomic writes.

A :class:`ResultStore` is one JSON file holding ``{"meta": {...}, "records": {key: record}}``. Every
:meth:`ResultStore.put` rewrites the file through a temporary file and ``os.replace`` (atomic on POSIX),
so an interrupted sweep leaves a valid file, and re-running the sweep skips keys already present.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


#: The suite's one encoding of non-finite floats in JSON files (strict JSON has no inf or nan).
NONFINITE_STRINGS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _jsonable(obj: Any) -> Any:
    """Make floats JSON-safe (inf/nan as the strings ``"inf"``, ``"-inf"``, ``"nan"``) and convert tuples,
    ``to_dict()`` records and numpy/torch scalars recursively."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if callable(getattr(obj, "to_dict", None)):  # records such as sampler conventions
        return _jsonable(obj.to_dict())
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _jsonable(obj.item())
    return obj


def _restore(obj: Any) -> Any:
    if obj in ("nan", "inf", "-inf"):
        return float(obj)
    if isinstance(obj, dict):
        return {k: _restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore(v) for v in obj]
    return obj


def encode_json(obj: Any, **dumps_kwargs) -> str:
    """Strict JSON text of ``obj`` with non-finite floats encoded as :data:`NONFINITE_STRINGS`."""
    return json.dumps(_jsonable(obj), allow_nan=False, **dumps_kwargs)


def write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs) -> Path:
    """Write ``obj`` as strict JSON (see :func:`encode_json`), atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, encode_json(obj, **{"indent": 1, **dumps_kwargs}))
    return path


def _reject_constant(name: str):
    raise ValueError(f"bare {name} is not strict JSON")


def read_json(path: str | os.PathLike) -> Any:
    """Read a strict JSON file written by the suite, decoding ``"inf"``/``"-inf"``/``"nan"`` to floats.

    A missing, truncated or non-strict file raises ``ValueError`` naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    try:
        return _restore(json.loads(text, parse_constant=_reject_constant))
    except ValueError as exc:
        raise ValueError(
            f"{path} is not a valid strict JSON file ({exc}); delete it or regenerate it"
        ) from exc


class ResultStore:
    """Keyed records in one JSON file, written atomically after every :meth:`put`."""

    def __init__(self, path: str | os.PathLike, meta: dict | None = None):
        self.path = Path(path)
        self.meta: dict = {}
        self.records: dict[str, dict] = {}
        if self.path.exists():
            data = _restore(json.loads(self.path.read_text()))
            self.meta, self.records = data.get("meta", {}), data.get("records", {})
        if meta:
            old = {k: self.meta.get(k) for k in meta if k in self.meta}
            clash = {k: (v, meta[k]) for k, v in old.items() if v != _restore(_jsonable(meta[k]))}
            if clash:
                raise ValueError(
                    f"{self.path} was written with different settings {clash}; use another "
                    "output path or delete the file to start over"
                )
            self.meta.update(_restore(_jsonable(meta)))

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put(self, key: str, record: dict) -> None:
        self.records[key] = _restore(_jsonable(record))
        self.flush()

    def flush(self) -> None:
        payload = {"meta": self.meta, "records": self.records}
        atomic_write_text(self.path, json.dumps(_jsonable(payload), indent=1, sort_keys=True))

    def values(self) -> Iterable[dict]:
        return self.records.values()

    def write_csv(self, path: str | os.PathLike, columns: list[str] | None = None) -> None:
        """Flatten the records (nested keys joined by '.') into a CSV, written atomically."""
        rows = [_flatten(r) for r in self.records.values()]
        cols = columns or sorted({k for r in rows for k in r})

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})
        atomic_write_text(Path(path), buf.getvalue())


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(_jsonable(v))
        else:
            out[key] = v
    return out
