"""The claims ledger: every checked claim with its verdict computed from the figure data.

* :mod:`~paper_repro.ledger.model`: :class:`Claim`, :class:`Verdict`, :class:`FigureSpec`;
* :mod:`~paper_repro.ledger.registry`: :data:`CLAIMS` from the topic modules ``claims_<topic>.py``;
* :mod:`~paper_repro.ledger.gallery`: writes ``figures/README.md`` (summary table and one card per
  figure) from the figure modules' declarations, the claims and the data.
"""

from paper_repro.ledger.data import FigureDataFolder, MissingFigureData
from paper_repro.ledger.model import KINDS, PROVENANCES, VERDICTS, Claim, FigureSpec, Verdict
from paper_repro.ledger.registry import CLAIMS, compute_verdicts

__all__ = [
    "CLAIMS",
    "KINDS",
    "PROVENANCES",
    "VERDICTS",
    "Claim",
    "FigureDataFolder",
    "FigureSpec",
    "MissingFigureData",
    "Verdict",
    "compute_verdicts",
]
