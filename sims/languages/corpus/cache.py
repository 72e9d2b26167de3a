"""On-disk cache of fitted corpus languages and tokenizers, with provenance and checksums.

Every fitted object is one ``.pt`` file (``torch.save`` of plain tensors, lists and strings; loaded with
``weights_only=True``) under ``results/languages/`` (gitignored; override with the environment variable
``MDM_SUITE_LANGUAGE_DIR``), plus a human-readable ``.json`` sidecar with the same provenance. The file
name holds the object's name and a hash of everything that determines it (the fitting recipe and the
library's :data:`FIT_VERSION`), so a changed recipe fits a new file instead of silently reusing a stale
one. Each file stores a sha256 checksum over its tensors, tokenizer merges and provenance; reading
recomputes it. Files are written atomically (temporary file in the same directory + ``os.replace``).

A file that fails to load, has the wrong format, a wrong checksum, or was fitted on a corpus other than
the local one raises :class:`LanguageCacheError` naming the file and what to do (delete it to refit, or
accept the foreign corpus explicitly).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from sims.languages.base import Language
from sims.languages.hmm import HMMLanguage
from sims.languages.ngram import NGramLanguage
from sims.languages.sparse_bigram import SparseBigramLanguage
from sims.results import atomic_write_text

#: Bumped whenever fitting code changes what a recipe produces (part of every file name).
FIT_VERSION = 1
CACHE_FORMAT = 1


class LanguageCacheError(ValueError):
    """A cached language or tokenizer file is unreadable, corrupt or mismatched (message says what to do)."""


def default_cache_dir() -> Path:
    """``<repository root>/results/languages`` (override with ``MDM_SUITE_LANGUAGE_DIR``)."""
    env = os.environ.get("MDM_SUITE_LANGUAGE_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "results" / "languages"


def recipe_hash(recipe: dict) -> str:
    """12-hex-digit hash of a JSON-serialisable recipe plus :data:`FIT_VERSION`."""
    text = json.dumps({"fit_version": FIT_VERSION, **recipe}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def language_tensors(lang: Language) -> tuple[str, dict[str, torch.Tensor]]:
    """``(kind, tensors)`` that determine ``lang`` exactly."""
    if isinstance(lang, SparseBigramLanguage):
        tr = lang.tr
        return "sparse_bigram", {
            "initial": tr.initial,
            "indices": tr.indices,
            "values": tr.values,
            "teleport_weight": tr.teleport_weight,
            "teleport": tr.teleport,
        }
    if isinstance(lang, NGramLanguage):
        return "ngram", {
            "order": torch.tensor(lang.order),
            "initial": lang.initial,
            "transition": lang.transition,
        }
    if isinstance(lang, HMMLanguage):
        return "hmm", {"initial": lang.initial, "transition": lang.transition, "emission": lang.emission}
    raise TypeError(f"cannot cache a {type(lang).__name__}")


def language_from_tensors(kind: str, t: dict[str, torch.Tensor]) -> Language:
    if kind == "sparse_bigram":
        return SparseBigramLanguage(
            t["initial"], t["indices"], t["values"], t["teleport_weight"], t["teleport"]
        )
    if kind == "ngram":
        order = int(t["order"])
        V = t["transition"].shape[1]
        return NGramLanguage(order, V, t["initial"] if order > 1 else None, t["transition"])
    if kind == "hmm":
        return HMMLanguage(t["initial"], t["transition"], t["emission"])
    raise LanguageCacheError(f"unknown language kind {kind!r}")


def checksum(tensors: dict[str, torch.Tensor], merges: list, provenance: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{a.dtype}|{tuple(a.shape)}|".encode())
        h.update(a.numpy().tobytes())
    h.update(json.dumps([list(m) for m in merges]).encode())
    h.update(json.dumps(provenance, sort_keys=True).encode())
    return h.hexdigest()


def save_entry(path: Path, kind: str, tensors: dict, merges: list, provenance: dict) -> None:
    """Write ``path`` (``.pt``) and its ``.json`` sidecar atomically."""
    tensors = {k: v.detach().cpu().clone() for k, v in tensors.items()}  # compact storages only
    merges = [[int(a), int(b)] for a, b in merges]
    digest = checksum(tensors, merges, provenance)
    payload = {
        "format": CACHE_FORMAT,
        "kind": kind,
        "tensors": tensors,
        "merges": merges,
        "provenance_json": json.dumps(provenance, sort_keys=True),
        "checksum": digest,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    sidecar = {"kind": kind, "checksum": digest, "provenance": provenance}
    atomic_write_text(path.with_suffix(".json"), json.dumps(jsonable(sidecar), indent=1, sort_keys=True))


def load_entry(path: Path, expected_kind: str | None = None) -> tuple[str, dict, list, dict]:
    """``(kind, tensors, merges, provenance)`` of a cache file, validated (module docstring)."""
    what = f"cached language file {path}"
    fix = "delete it to refit"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file gets the same actionable message
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise LanguageCacheError(f"{what} cannot be read ({type(exc).__name__}: {first}); {fix}") from exc
    keys = {"format", "kind", "tensors", "merges", "provenance_json", "checksum"}
    if not isinstance(payload, dict) or not keys <= set(payload):
        raise LanguageCacheError(f"{what} is not a language cache file (missing fields); {fix}")
    if payload["format"] != CACHE_FORMAT:
        raise LanguageCacheError(f"{what} has format {payload['format']}, expected {CACHE_FORMAT}; {fix}")
    if expected_kind is not None and payload["kind"] != expected_kind:
        raise LanguageCacheError(f"{what} holds a {payload['kind']!r}, expected {expected_kind!r}; {fix}")
    provenance = json.loads(payload["provenance_json"])
    if checksum(payload["tensors"], payload["merges"], provenance) != payload["checksum"]:
        raise LanguageCacheError(f"{what} fails its checksum (corrupt or edited); {fix}")
    return payload["kind"], payload["tensors"], payload["merges"], provenance


def check_corpus(path: Path, provenance: dict, local_hash: str, allow_mismatch: bool) -> None:
    """Refuse a file fitted on another corpus unless ``allow_mismatch`` (then it is used as it is)."""
    fitted = provenance.get("corpus", {}).get("corpus_hash")
    if fitted != local_hash and not allow_mismatch:
        raise LanguageCacheError(
            f"cached language file {path} was fitted on corpus {str(fitted)[:16]}... but the local standard "
            f"library gives {local_hash[:16]}...; delete the file to refit on this machine, or pass "
            "allow_corpus_mismatch=True to use the cached language as it is"
        )


def jsonable(obj):
    if isinstance(obj, float) and not np.isfinite(obj):
        return "inf" if obj > 0 else ("-inf" if obj < 0 else "nan")
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj
