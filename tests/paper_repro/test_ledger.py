"""The claims ledger is consistent: ids, node ids, figures and verdicts (on the committed figure data)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from paper_repro.ledger import CLAIMS, VERDICTS, FigureDataFolder, FigureSpec, compute_verdicts
from paper_repro.ledger.gallery import render_gallery
from paper_repro.scheduling import discover
from sims.results import read_json

ROOT = Path(__file__).resolve().parents[2]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_claim_node_ids_exist(cid):
    claim = CLAIMS[cid]
    assert claim.tests, f"claim {cid} names no test"
    for node in claim.tests:
        file, _, name = node.partition("::")
        path = ROOT / file
        assert path.exists(), f"claim {cid}: test file {file} does not exist"
        assert name.split("[")[0] in _test_functions(path), f"claim {cid}: {node} does not exist"


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_claim_figures_are_modules_that_declare_it(cid):
    for fig in CLAIMS[cid].figures:
        mod = importlib.import_module(f"paper_repro.fig_{fig}")
        spec = getattr(mod, "FIGURE", None)
        if spec is not None:
            assert isinstance(spec, FigureSpec) and spec.name == fig


def test_verdicts_compute_on_the_committed_data():
    verdicts = compute_verdicts(FigureDataFolder(ROOT / "figures"))
    assert set(verdicts) == set(CLAIMS)
    assert all(v.status in VERDICTS for v in verdicts.values())


def _figure_specs():
    return [m.FIGURE for m in discover().values()]


@pytest.mark.parametrize("path", sorted((ROOT / "figures").glob("*.json")), ids=lambda p: p.name)
def test_every_data_file_is_strict_json(path):
    read_json(path)  # raises, naming the file, on bare NaN/Infinity or truncation


def test_the_committed_gallery_matches_the_committed_data():
    gallery = ROOT / "figures" / "README.md"
    assert gallery.exists(), "figures/README.md is missing: run `python -m paper_repro`"
    assert render_gallery(_figure_specs(), ROOT / "figures", "quick") == gallery.read_text(), (
        "figures/README.md is out of date with the figure data or the declarations: run `python -m paper_repro`"
    )
