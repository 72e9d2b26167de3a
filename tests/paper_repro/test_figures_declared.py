"""Every figure module declares its figure: ``FIGURE = FigureSpec(...)`` with a caption and at least one claim
of the ledger, named after its module."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from paper_repro.ledger import CLAIMS, FigureSpec

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem[4:] for p in (ROOT / "paper_repro").glob("fig_*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_figure_module_declares_its_figure(name):
    spec = getattr(importlib.import_module(f"paper_repro.fig_{name}"), "FIGURE", None)
    assert isinstance(spec, FigureSpec), f"paper_repro/fig_{name}.py declares no FIGURE = FigureSpec(...)"
    assert spec.name == name
    assert spec.caption.strip() and spec.claims, f"fig_{name}: empty caption or no claims"
    unknown = [c for c in spec.claims if c not in CLAIMS]
    assert not unknown, f"fig_{name} declares claims missing from the ledger: {unknown}"


def test_every_claim_is_declared_by_the_figures_it_names():
    missing = []
    for cid, claim in CLAIMS.items():
        for fig in claim.figures:
            spec = getattr(importlib.import_module(f"paper_repro.fig_{fig}"), "FIGURE", None)
            if spec is not None and cid not in spec.claims:
                missing.append((cid, fig))
    assert not missing, f"claims naming a figure that does not declare them: {missing}"
