"""What ``python -m paper_repro`` writes after the figure modules: provenance, the gallery, the docs' blocks.

* ``<out>/provenance_<preset>.json``: the commit (and whether the tree was dirty), preset, threads,
  workers, Python and torch versions of the run;
* ``<out>/README.md`` (``README_<preset>.md`` for other presets): the gallery and claims ledger
  (:func:`paper_repro.ledger.gallery.render_gallery`), a pure function of the files in ``<out>``;
* when ``<out>`` is the repository's ``figures/`` folder, the generated blocks of ``README.md`` and
  ``docs/*.md`` are rewritten from the new data (:mod:`paper_repro.ledger.docs_check`).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import torch

from paper_repro.ledger.data import FigureDataFolder, preset_suffix
from paper_repro.ledger.docs_check import render_blocks
from paper_repro.ledger.gallery import render_gallery
from paper_repro.ledger.model import FigureSpec
from paper_repro.ledger.registry import DOC_BLOCKS
from sims.results import atomic_write_text, write_json

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def write_provenance(out: Path, preset: str, threads: int, workers: int | None, executor: str) -> Path:
    """``provenance_<preset>.json`` of this run (commit, dirty flag, settings, versions)."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    record = {
        "commit": commit + ("+dirty" if dirty else ""),
        "preset": preset,
        "threads": threads,
        "workers": workers,
        "executor": executor,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    return write_json(Path(out) / f"provenance_{preset}.json", record)


def gallery_path(out: Path, preset: str) -> Path:
    return Path(out) / f"README{preset_suffix(preset)}.md"


def write_gallery(out: Path, preset: str, specs: Iterable[FigureSpec]) -> Path:
    """Render the gallery of ``specs`` from the files in ``out`` and write it atomically."""
    path = gallery_path(out, preset)
    atomic_write_text(path, render_gallery(list(specs), out, preset))
    return path


def refresh_docs(out: Path) -> list[Path]:
    """Rewrite the generated blocks of ``README.md`` and ``docs/*.md`` from ``out`` when it is the
    repository's ``figures/`` folder (other output folders leave the docs alone). Returns changed files."""
    if Path(out).resolve() != (ROOT / "figures").resolve():
        return []
    data = FigureDataFolder(out)
    generators = {name: (lambda fn=fn: fn(data)) for name, fn in DOC_BLOCKS.items()}
    changed = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        new = render_blocks(text, generators)
        if new != text:
            atomic_write_text(doc, new)
            changed.append(doc)
    return changed
