"""Numbers in the docs come from data: generated blocks are up to date, and prose quotes no results.

See :mod:`paper_repro.ledger.docs_check`. ``PENDING`` lists docs not yet converted; it must end empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paper_repro.ledger import FigureDataFolder
from paper_repro.ledger.docs_check import render_blocks, unsupported_numbers
from paper_repro.ledger.registry import DOC_BLOCKS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Docs still being converted to generated blocks (transitional; must be empty when issue 12 closes).
PENDING: set[str] = set()


def _generators():
    data = FigureDataFolder(ROOT / "figures")
    return {name: (lambda fn=fn: fn(data)) for name, fn in DOC_BLOCKS.items()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_generated_blocks_match_the_data(doc):
    text = doc.read_text()
    assert render_blocks(text, _generators()) == text, (
        f"{doc.name}: a generated block is out of date with the figure data; run `python -m paper_repro`"
    )


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name not in PENDING], ids=lambda p: p.name)
def test_prose_quotes_no_results(doc):
    bad = unsupported_numbers(doc.read_text())
    assert not bad, (
        f"{doc.name} quotes numbers in prose that are not declared constants: {bad[:20]}. Put results in a "
        "generated block (paper_repro/ledger) or declare parameters with <!-- constants: ... -->"
    )
