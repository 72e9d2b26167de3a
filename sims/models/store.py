"""The model file format: a trained network with its configuration, provenance and checksum, checked on read.

A model file (``torch.save`` of plain containers and tensors, read with ``weights_only=True``) holds

* ``format`` (:data:`FORMAT`) and ``format_version`` (:data:`FORMAT_VERSION`);
* ``config``: the :class:`~sims.models.config.TrainConfig` record the network was trained with, and
  ``architecture``;
* ``state_dict`` and ``checksum``: SHA-256 of every tensor's name, dtype, shape and bytes
  (:func:`state_checksum`);
* ``history``, timings, ``device`` and ``provenance`` (torch and Python versions, platform, time).

:func:`read_model_file` names the file in every error and says what to do: a file that cannot be parsed
(truncated, not a model file), a checksum that does not match its weights, a file written for another
configuration than the one asked for (a renamed or copied file), a file without a finished, finite
training record. Writes are atomic (temporary file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

FORMAT = "mdm-suite trained model"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "config", "architecture", "state_dict", "checksum", "history")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and what to do."""


def state_checksum(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of the tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def provenance() -> dict:
    return {
        "torch": str(torch.__version__),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "written_unix_time": round(time.time(), 3),
    }


def write_model_file(path: str | Path, payload: dict) -> Path:
    """Add format, checksum and provenance to ``payload`` (which has ``state_dict``, ``config``, ...) and
    write it atomically to ``path``."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in payload["state_dict"].items()}
    full = {
        **payload,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": state,
        "checksum": state_checksum(state),
        "provenance": {**provenance(), **payload.get("provenance", {})},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(full, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _bad(
    path: Path, what: str, todo: str = "delete it and the model is retrained on next use"
) -> ModelFileError:
    return ModelFileError(f"model file {path}: {what}; {todo}")


def _finite_final(history: dict) -> bool:
    evals = history.get("eval") or []
    if not evals:
        return False
    return all(isinstance(evals[-1].get(k), float) and math.isfinite(evals[-1][k]) for k in ("value", "gap"))


def read_model_file(path: str | Path, expected_config: dict | None = None) -> dict:
    """The checked payload of a model file (see the module docstring for the checks).

    ``expected_config``: the config record the caller asked for; a file holding another one raises.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise _bad(path, "does not exist", "train the model first") from None
    except Exception as exc:  # truncated, corrupt or foreign file: torch/pickle raise many types
        raise _bad(path, f"cannot be read as a model file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _bad(path, f"is not a {FORMAT!r} file (older cache format or another file)")
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise _bad(path, f"lacks the fields {missing}")
    if payload["format_version"] != FORMAT_VERSION:
        raise _bad(path, f"has format version {payload['format_version']}, this code reads {FORMAT_VERSION}")
    if state_checksum(payload["state_dict"]) != payload["checksum"]:
        raise _bad(path, "its weights do not match their stored checksum (corrupted)")
    if expected_config is not None and payload["config"] != expected_config:
        diff = {
            k: (payload["config"].get(k), expected_config.get(k))
            for k in sorted(set(payload["config"]) | set(expected_config))
            if payload["config"].get(k) != expected_config.get(k)
        }
        raise _bad(
            path,
            f"holds a model trained with a different configuration (file value, requested value): {diff}",
            "delete it (or retrain with retrain=True)",
        )
    if not _finite_final(payload["history"]):
        raise _bad(path, "has no finished, finite training record")
    return payload
