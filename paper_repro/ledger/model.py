"""The claims ledger's records: what a claim is, what a verdict is, what a figure declares.

A :class:`Claim` is one checkable statement: a paper's theorem or finding (or a finding of the suite
itself), in our own words, with the provenance of our reading of it, the kind of check, the pytest node
ids that check it, the figures that show it, and a function that computes its :class:`Verdict` from the
figure data (never a hand-copied number). A :class:`FigureSpec` is what every ``paper_repro/fig_*.py``
module declares about its figure: caption, what it shows, its claims and caveats, the oracle fallback it
used and the modules it depends on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: How we know what the paper says (see ``../shared/research/paper_statements.md``).
PROVENANCES = (
    "primary text",  # the paper's own text (full text or theorem statement read)
    "official code",  # the authors' released code
    "secondary note",  # a third-party summary or paper note
    "recalled",  # not confirmed in any readable source
    "suite finding",  # a result of this suite, beyond the papers
)
#: How the claim is checked.
KINDS = ("symbolic", "exact", "bound", "monte carlo")
#: Verdicts, computed from data.
VERDICTS = ("holds", "contradicted", "qualified", "unverifiable", "not covered")


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


@dataclass(frozen=True)
class Verdict:
    """The computed outcome of a claim: a status, the key number (formatted from data) and a detail."""

    status: str
    key_number: str
    detail: str = ""

    def __post_init__(self):
        _check_choice(self.status, VERDICTS, "status")


#: Figure data by figure module name: ``data("energy_support")`` is the parsed JSON of that module's
#: main data file (strict JSON; ``"inf"``, ``"-inf"``, ``"nan"`` strings decoded to floats).
FigureData = Callable[[str], Any]


@dataclass(frozen=True)
class Claim:
    """One checkable statement and how its verdict is computed.

    Attributes:
        id: stable identifier, ``<topic>.<short_name>``.
        paper: the source, e.g. ``"Feng et al., arXiv 2502.09622"``, or ``"suite"`` for our own findings.
        where: theorem, equation or section (``""`` for suite findings).
        statement: the statement in our own words.
        provenance: one of :data:`PROVENANCES` (how we know the paper says it).
        kind: one of :data:`KINDS`.
        tests: pytest node ids that check it (``"tests/theory/test_feng.py::test_name"``).
        figures: figure module names that show it.
        verdict: computes the :class:`Verdict` from figure data.
        notes: caveats of the check itself (e.g. "our reading of Eq. 7").
    """

    id: str
    paper: str
    where: str
    statement: str
    provenance: str
    kind: str
    tests: tuple[str, ...]
    figures: tuple[str, ...]
    verdict: Callable[[FigureData], Verdict]
    notes: str = ""

    def __post_init__(self):
        if "." not in self.id or " " in self.id:
            raise ValueError(f"claim id must look like 'topic.name', got {self.id!r}")
        _check_choice(self.provenance, PROVENANCES, "provenance")
        _check_choice(self.kind, KINDS, "kind")
        if not self.statement.strip():
            raise ValueError(f"claim {self.id}: statement is empty")

    @property
    def exact(self) -> bool:
        """Whether the check is exact (symbolic, exact or bound) rather than Monte Carlo."""
        return self.kind != "monte carlo"


@dataclass(frozen=True)
class FigureSpec:
    """What a figure module declares (``FIGURE = FigureSpec(...)`` at module level).

    Attributes:
        name: the module's short name (``fig_<name>.py``), also the stem of its PNG and data file.
        title: a short title for the gallery.
        caption: the caption (what is plotted, in which units, with which conventions).
        shows: what the figure shows, in a sentence or two (the finding, not numbers).
        claims: ids of the claims it shows (in :data:`paper_repro.ledger.CLAIMS`).
        caveats: what the figure does not show or where its reading is limited.
        oracle_fallback: the oracle's ``on_impossible`` setting used, or ``None`` when no oracle samples.
        depends_on: figure modules whose outputs or cached models this one reuses.
        data_file: the main data file (default ``<name>.json``).
    """

    name: str
    title: str
    caption: str
    shows: str
    claims: tuple[str, ...]
    caveats: tuple[str, ...] = ()
    oracle_fallback: str | None = None
    depends_on: tuple[str, ...] = ()
    data_file: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("title", "caption", "shows"):
            if not getattr(self, name).strip():
                raise ValueError(f"figure {self.name}: {name} is empty")
        if self.oracle_fallback not in (None, "raise", "uniform", "min_violation", "mixed"):
            raise ValueError(f"figure {self.name}: unknown oracle_fallback {self.oracle_fallback!r}")

    @property
    def main_data_file(self) -> str:
        return self.data_file or f"{self.name}.json"
