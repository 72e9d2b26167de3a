"""The text corpus every machine has without downloads: the Python standard library's own source files.

Selection rule (version :data:`SELECTION_RULE`), applied to the directory
``sysconfig.get_paths()["stdlib"]`` of the running interpreter:

1. every file whose name ends in ``.py``, by its path relative to that directory (POSIX separators);
2. excluded: any path with a directory component in :data:`EXCLUDED_DIRS` (third-party packages,
   the test suites, GUI/demo code, generated tables such as ``encodings`` and ``pydoc_data``, and
   legacy copies such as ``lib2to3``/``distutils``), files whose name starts with one of
   :data:`EXCLUDED_PREFIXES` (machine-generated build configuration), and files larger than
   :data:`MAX_FILE_BYTES`;
3. sorted by relative path;
4. held out (never used for fitting; held-out perplexities are measured on them) when the first byte of
   ``sha256(relative path)`` is below :data:`HELD_OUT_BYTE` (about 10% of the files, decided by the path
   alone, so adding or changing other files never moves a file between the splits);
5. training caps take the training files in the order of ``sha256(relative path)`` (a fixed
   pseudo-random order, so a capped corpus samples the whole library instead of its first letters).

The corpus hash is ``sha256`` over ``"<relative path>\\0<sha256 of the file bytes>\\n"`` for every
selected file in sorted order, prefixed by the rule version. Two machines build the same languages iff
their hashes agree. :data:`REFERENCE_HASHES` records the hash of the interpreters the documented
numbers were produced with; :func:`stdlib_corpus` compares against it and, when the local standard
library differs, emits a :class:`CorpusMismatchWarning` and flags the corpus (``matches_reference =
False``), which every fitted language carries into its provenance. It does not refuse to build: the
language is still an exact language, only not the documented one (choice documented in
docs/corpus_languages.md). Files are read as bytes (no decoding).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sysconfig
import warnings
from dataclasses import dataclass, field
from pathlib import Path

#: Version of the selection rule (part of the corpus hash).
SELECTION_RULE = "stdlib-py-v1"
EXCLUDED_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "distutils",
        "ensurepip",
        "encodings",
        "pydoc_data",
        "__pycache__",
        "__phello__",
    }
)
EXCLUDED_PREFIXES = ("_sysconfigdata", "__hello__", "config-")
MAX_FILE_BYTES = 200_000
HELD_OUT_BYTE = 26  # of 256: ~10.2% of the files

#: Corpus hashes of the interpreters the documented languages were fitted with (python version -> hash).
REFERENCE_HASHES: dict[str, str] = {
    "3.11.7": "cbaef0e70f656d14ab0390dba7f85af6f9557455fa0d99fc27f21dd19f88c551",  # CPython, development machine
}


class CorpusMismatchWarning(UserWarning):
    """The local standard library differs from the reference corpus of the documented languages."""


class CorpusError(ValueError):
    """The corpus cannot be built (missing directory, no files, unreadable file)."""


@dataclass(frozen=True)
class CorpusFile:
    """One selected file: relative path, size in bytes and sha256 of its bytes."""

    path: str
    size: int
    sha256: str

    @property
    def path_hash(self) -> str:
        return hashlib.sha256(self.path.encode()).hexdigest()

    @property
    def held_out(self) -> bool:
        return int(self.path_hash[:2], 16) < HELD_OUT_BYTE


@dataclass
class StdlibCorpus:
    """The selected files of one standard library (module docstring).

    Attributes:
        root: the standard-library directory.
        files: all selected files, sorted by path.
        corpus_hash: hash of the selection (module docstring).
        python_version: ``platform.python_version()`` of the interpreter that owns ``root``.
        matches_reference: whether ``corpus_hash`` equals a :data:`REFERENCE_HASHES` entry.
    """

    root: Path
    files: list[CorpusFile]
    corpus_hash: str
    python_version: str
    matches_reference: bool
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def train_files(self) -> list[CorpusFile]:
        """Training files in the fixed pseudo-random order of their path hashes (module docstring)."""
        return sorted((f for f in self.files if not f.held_out), key=lambda f: f.path_hash)

    @property
    def held_out_files(self) -> list[CorpusFile]:
        return sorted((f for f in self.files if f.held_out), key=lambda f: f.path_hash)

    def read(self, f: CorpusFile) -> bytes:
        """The bytes of ``f``, checked against the recorded hash (error names the file)."""
        data = (self.root / f.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise CorpusError(f"{self.root / f.path} changed since the corpus was listed; list it again")
        return data

    def take(self, files: list[CorpusFile], max_bytes: int | None = None) -> list[bytes]:
        """Contents of ``files`` in order, stopping before the cumulative size would exceed ``max_bytes``
        (the first file is always taken)."""
        out, total = [], 0
        for f in files:
            if max_bytes is not None and out and total + f.size > max_bytes:
                break
            out.append(self.read(f))
            total += f.size
        return out

    def provenance(self) -> dict:
        return {
            "selection_rule": SELECTION_RULE,
            "corpus_hash": self.corpus_hash,
            "python_version": self.python_version,
            "python_implementation": platform.python_implementation(),
            "num_files": len(self.files),
            "num_held_out_files": len(self.held_out_files),
            "total_bytes": sum(f.size for f in self.files),
            "matches_reference": self.matches_reference,
        }


def _walk(root: Path) -> list[Path]:
    """Relative paths of the candidate files (rule steps 1-3), pruning excluded directories while walking."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS and not d.startswith(EXCLUDED_PREFIXES)]
        for name in filenames:
            if name.endswith(".py") and not name.startswith(EXCLUDED_PREFIXES):
                p = Path(dirpath) / name
                if p.is_file():
                    out.append(p.relative_to(root))
    return sorted(out, key=lambda q: q.as_posix())


def corpus_hash(files: list[CorpusFile]) -> str:
    h = hashlib.sha256(SELECTION_RULE.encode() + b"\n")
    for f in files:
        h.update(f"{f.path}\0{f.sha256}\n".encode())
    return h.hexdigest()


def stdlib_corpus(root: str | Path | None = None, warn: bool = True) -> StdlibCorpus:
    """List the corpus of the running interpreter's standard library (or of ``root``).

    Warns with :class:`CorpusMismatchWarning` (unless ``warn=False``) when the hash is not a reference
    hash; the flag ``matches_reference`` is set either way.
    """
    root = Path(root) if root is not None else Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise CorpusError(f"standard-library directory {root} does not exist")
    files = []
    for rel in _walk(root):
        p = root / rel
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            continue
        files.append(CorpusFile(rel.as_posix(), size, hashlib.sha256(p.read_bytes()).hexdigest()))
    if not files:
        raise CorpusError(f"no .py files selected under {root}")
    digest = corpus_hash(files)
    matches = digest in REFERENCE_HASHES.values()
    version = platform.python_version()
    if warn and not matches:
        warnings.warn(
            f"the standard library at {root} (Python {version}) gives corpus hash {digest[:16]}..., which "
            f"is not the reference corpus of the documented languages ({_describe_reference()}); the "
            "fitted languages are exact but differ from the documented ones (flagged in their provenance)",
            CorpusMismatchWarning,
            stacklevel=2,
        )
    return StdlibCorpus(root, files, digest, version, matches)


def _describe_reference() -> str:
    return ", ".join(f"Python {v}: {h[:16]}..." for v, h in REFERENCE_HASHES.items())
