"""Reading figure data for verdicts: strict JSON only, every file named when it is missing or bad."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sims.results import read_json


class MissingFigureData(LookupError):
    """A claim's figure has no data file yet (its module has not been run in this output folder)."""


def preset_suffix(preset: str) -> str:
    """File-name suffix of a preset's outputs: none for ``quick``, ``_<preset>`` otherwise."""
    return "" if preset == "quick" else f"_{preset}"


class FigureDataFolder:
    """``data(name)`` -> parsed JSON of ``<folder>/<name><suffix>.json`` (cached); ``data.file(filename)``
    for any other file of the folder. ``suffix`` is the preset's file suffix (:func:`preset_suffix`)."""

    def __init__(self, folder: str | Path, suffix: str = ""):
        self.folder = Path(folder)
        self.suffix = suffix
        self._cache: dict[str, Any] = {}

    def file(self, filename: str) -> Any:
        if filename not in self._cache:
            path = self.folder / filename
            if not path.exists():
                raise MissingFigureData(f"{path} does not exist; run `python -m paper_repro` to produce it")
            self._cache[filename] = read_json(path)
        return self._cache[filename]

    def __call__(self, name: str) -> Any:
        return self.file(f"{name}{self.suffix}.json")
