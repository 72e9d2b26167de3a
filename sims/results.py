"""Incremental, resumable result storage; atomic writes and checked reads of every file the suite touches.

A :class:`ResultStore` is one JSON file holding ``{"meta": {...}, "records": {key: record}}``. Every
:meth:`ResultStore.put` rewrites the file through a temporary file and ``os.replace`` (atomic on POSIX),
so an interrupted sweep leaves a valid file, and re-running the sweep skips keys already present.

Writes: :func:`atomic_write_text`, :func:`atomic_write_bytes` and :func:`atomic_write_with` (for writers
that want a path: ``torch.save``, ``savefig``) write a temporary file in the target's directory, flush it
to disk and rename it over the target, so a reader or a crash sees the old file or the new one, never a
partial one. Reads: :func:`read_json` and :func:`load_checked` turn every failure into
:class:`~sims.validation.CorruptFileError` / :class:`~sims.validation.MissingFileError` naming the file and
what to do. Writers: a writable :class:`ResultStore` holds an :class:`~sims.locking.OutputLock` on its file,
so a second process writing the same file is refused instead of silently losing cells; resuming with
other settings raises :class:`~sims.validation.SettingsMismatchError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sims.locking import OutputLock
from sims.validation import (
    CorruptFileError,
    InvalidArgumentError,
    InvalidTypeError,
    MissingFileError,
    SettingsMismatchError,
    check_type,
)


def _atomic(path, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Run ``write(tmp_path)`` on a fresh temporary file beside ``path``, fsync it, rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    check_type(text, str, "text")

    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)

    _atomic(path, write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    check_type(data, (bytes, bytearray, memoryview), "data", "bytes")

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)

    return _atomic(path, write)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[str], None]) -> Path:
    """Atomically create ``path`` with a writer that needs a file name (``lambda p: torch.save(obj, p)``,
    ``lambda p: fig.savefig(p, format="png")``): it writes a temporary file with the same suffix beside
    ``path``, which is renamed over ``path`` only once the writer has returned. Returns the path."""
    if not callable(writer):
        raise InvalidTypeError(f"writer must be callable, got {type(writer).__name__}")
    return _atomic(path, writer, suffix=Path(path).suffix or ".tmp")


def load_checked(path: str | os.PathLike, loader: Callable[[Path], Any], remedy: str) -> Any:
    """``loader(path)`` with every failure turned into an error that names the file and says what to do.

    A missing file raises :class:`~sims.validation.MissingFileError`; any other failure of ``loader``
    (truncated, corrupt, wrong format) raises :class:`~sims.validation.CorruptFileError`. ``remedy`` is the
    advice appended to both (e.g. ``"delete it to retrain the model"``). Used for model caches, timings and
    any other file the suite reads back."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, f"{path} does not exist or is not a file; {remedy}")
    try:
        return loader(path)
    except Exception as exc:  # any failure of a loader means the file cannot be used
        raise CorruptFileError(
            path, f"{path} cannot be read ({type(exc).__name__}: {exc}); {remedy}"
        ) from exc


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
    raise InvalidArgumentError(f"bare {name} is not strict JSON")


def read_json(path: str | os.PathLike, remedy: str = "delete it or regenerate it") -> Any:
    """Read a strict JSON file written by the suite, decoding ``"inf"``/``"-inf"``/``"nan"`` to floats.

    A missing file raises :class:`~sims.validation.MissingFileError`; an unreadable, truncated, empty or
    non-strict one :class:`~sims.validation.CorruptFileError`; both name the file and add ``remedy``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise MissingFileError(path, f"cannot read {path}: it does not exist; {remedy}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"cannot read {path}: {exc}; {remedy}") from exc
    try:
        return _restore(json.loads(text, parse_constant=_reject_constant))
    except ValueError as exc:
        raise CorruptFileError(path, f"{path} is not a valid strict JSON file ({exc}); {remedy}") from exc


#: What to do with a result file that cannot be resumed.
STORE_REMEDY = "delete it (or write to another output path) to start over"


class ResultStore:
    """Keyed records in one JSON file, written atomically after every :meth:`put`.

    Args:
        path: the JSON file (created on the first :meth:`put`).
        meta: settings the records depend on. Resuming a file written with different settings, or with
            settings it did not record, raises :class:`~sims.validation.SettingsMismatchError` naming each.
        readonly: open for reading only (no lock; :meth:`put` refuses). A writable store holds the
            file's :class:`~sims.locking.OutputLock` until :meth:`close` (or until it is garbage
            collected, or the process ends), so a second *process* writing the same file is refused with
            :class:`~sims.validation.OutputLockedError`.
    """

    def __init__(self, path: str | os.PathLike, meta: dict | None = None, *, readonly: bool = False):
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidTypeError(f"path must be a file path, got {type(path).__name__}")
        if meta is not None:
            check_type(meta, dict, "meta")
        self.path = Path(path)
        self.readonly = bool(readonly)
        self.meta: dict = {}
        self.records: dict[str, dict] = {}
        self._lock: OutputLock | None = None
        if not self.readonly:
            self._lock = OutputLock(self.path, directory=False).acquire()
            weakref.finalize(self, self._lock.release)
        try:
            if self.path.exists():
                self.meta, self.records = _load_store(self.path)
            if meta:
                new = _restore(_jsonable(meta))
                clash = _settings_clash(self.meta, new, has_records=bool(self.records))
                if clash:
                    raise SettingsMismatchError(
                        f"{self.path} was written with different settings: {'; '.join(clash)}. Resume it "
                        f"with the same settings, or {STORE_REMEDY}"
                    )
                self.meta.update(new)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the output lock (records already written stay); further :meth:`put` calls refuse."""
        if self._lock is not None:
            self._lock.release()
        self.readonly = True

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put(self, key: str, record: dict) -> None:
        check_type(key, str, "key")
        check_type(record, dict, "record")
        if self.readonly:
            raise InvalidArgumentError(f"{self.path} is open read-only (or closed); open it writable to put")
        self.records[key] = _restore(_jsonable(record))
        self.flush()

    def flush(self) -> None:
        if self.readonly:
            raise InvalidArgumentError(f"{self.path} is open read-only (or closed); nothing may be written")
        payload = {"meta": self.meta, "records": self.records}
        atomic_write_text(self.path, encode_json(payload, indent=1, sort_keys=True))

    def values(self) -> Iterable[dict]:
        return self.records.values()

    def write_csv(
        self, path: str | os.PathLike, columns: list[str] | None = None, sort_keys: bool = False
    ) -> None:
        """Flatten the records (nested keys joined by '.') into a CSV, written atomically: in the order they
        were put, or sorted by key when ``sort_keys`` (then the same bytes whatever order cells finished)."""
        keys = sorted(self.records) if sort_keys else list(self.records)
        rows = [_flatten(self.records[k]) for k in keys]
        cols = columns or sorted({k for r in rows for k in r})

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})
        atomic_write_text(Path(path), buf.getvalue())


def _load_store(path: Path) -> tuple[dict, dict]:
    """``(meta, records)`` of a store file, every structural problem named with the file."""
    data = read_json(path, remedy=STORE_REMEDY)
    if not isinstance(data, dict):
        raise CorruptFileError(
            path, f"{path} is not a result store (top level is not an object); {STORE_REMEDY}"
        )
    meta, records = data.get("meta", {}), data.get("records", {})
    if not isinstance(meta, dict) or not isinstance(records, dict):
        raise CorruptFileError(path, f"{path}: 'meta' and 'records' must be objects; {STORE_REMEDY}")
    bad = [k for k, v in records.items() if not isinstance(v, dict)]
    if bad:
        raise CorruptFileError(path, f"{path}: records {bad[:5]} are not objects; {STORE_REMEDY}")
    return meta, records


def _settings_clash(old: dict, new: dict, has_records: bool, prefix: str = "") -> list[str]:
    """Human-readable differences between stored and requested settings (nested dicts by dotted key).

    A setting the file does not record counts as different when the file already holds records (they
    were computed under an unknown value); with no records the new setting is simply added."""
    out = []
    for k, v in new.items():
        name = f"{prefix}{k}"
        if k not in old:
            if has_records:
                out.append(f"{name} is not recorded in the file (requested {v!r})")
        elif isinstance(v, dict) and isinstance(old[k], dict):
            out.extend(_settings_clash(old[k], v, has_records, name + "."))
        elif old[k] != v:
            out.append(f"{name}: {old[k]!r} in the file, {v!r} requested")
    if prefix:  # inside a settings group, a setting the file has but the request lacks differs too
        out.extend(f"{prefix}{k}: {old[k]!r} in the file, not given now" for k in old if k not in new)
    return out


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
