"""Markdown tables for the docs' generated blocks: claims with their computed verdicts, and plain rows.

Every cell is computed from the figure data by the claims' verdict functions or by the generators of the
topic modules (:data:`paper_repro.ledger.registry.DOC_BLOCKS`); nothing here is typed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from paper_repro.ledger.data import MissingFigureData
from paper_repro.ledger.model import Claim, Verdict

#: Where the gallery lies relative to ``docs/``.
GALLERY = "../figures/README.md"


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_of(claim: Claim, data) -> Verdict:
    try:
        return claim.verdict(data)
    except MissingFigureData as exc:
        return Verdict("not covered", "—", f"figure data missing: {exc}")


def claims_table(claims: Sequence[Claim], data) -> str:
    """One row per claim: id, statement, source, provenance, check, verdict, key number, figure (gallery link)."""
    lines = [
        "| claim | statement | source | provenance | check | verdict | key number | figure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        v = verdict_of(c, data)
        fig = ", ".join(f"[{f}]({GALLERY}#{f})" for f in c.figures) or "—"
        source = c.paper + (f", {c.where}" if c.where else "")
        lines.append(
            f"| `{c.id}` | {cell(c.statement)} | {cell(source)} | {c.provenance} | {c.kind} | {v.status} | "
            f"{cell(v.key_number)} | {fig} |"
        )
    return "\n".join(lines)


def table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain markdown table (cells escaped)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
