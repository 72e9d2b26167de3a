"""docs/variance_and_training.md quotes numbers only inside a block generated from the committed data."""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureDataFolder
from paper_repro.ledger.claims_variance import DOCS_BEGIN, DOCS_END, docs_block

ROOT = Path(__file__).resolve().parents[2]


def test_generated_block_matches_the_committed_data():
    text = (ROOT / "docs" / "variance_and_training.md").read_text()
    start, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
    assert text[start:end] == docs_block(FigureDataFolder(ROOT / "figures")), (
        "regenerate the block: python -c 'from paper_repro.ledger import FigureDataFolder; "
        'from paper_repro.ledger.claims_variance import docs_block; print(docs_block(FigureDataFolder("figures")))\''
    )
