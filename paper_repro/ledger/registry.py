"""The claims registry: every claim of every topic module, by id.

Topic modules (``paper_repro/ledger/claims_<topic>.py``) each define ``CLAIMS: list[Claim]`` and may
define ``DOC_BLOCKS: dict[str, Callable[[FigureDataFolder], str]]`` (generated blocks of the docs,
:mod:`paper_repro.ledger.docs_check`); add a new topic by importing it in :data:`TOPICS`. Verdicts are computed from figure data by
:func:`compute_verdicts`; a claim whose figure data is missing gets ``not covered`` with the reason.
"""

from __future__ import annotations

from paper_repro.ledger import (
    blocks_energy,
    blocks_scale_out,
    claims_any_process,
    claims_bench,
    claims_core,
    claims_corpus,
    claims_denoising_entropy,
    claims_eb_grid,
    claims_energy,
    claims_energy_grid,
    claims_energy_identities,
    claims_feng,
    claims_feng_ser,
    claims_li_cai,
    claims_li_cai_theory,
    claims_oracle,
    claims_orders,
    claims_sampler_speed,
    claims_samplers,
    claims_samplers_conventions,
    claims_training,
    claims_training_quick,
    claims_variance,
    claims_variance_estimators,
)
from paper_repro.ledger.data import FigureDataFolder, MissingFigureData
from paper_repro.ledger.model import Claim, Verdict

#: Topic modules, in gallery order.
TOPICS = (
    claims_core,
    claims_feng,
    claims_feng_ser,
    claims_li_cai,
    claims_energy,
    claims_energy_identities,
    claims_energy_grid,
    claims_orders,
    claims_variance,
    claims_variance_estimators,
    claims_li_cai_theory,
    claims_denoising_entropy,
    claims_any_process,
    claims_eb_grid,
    claims_training,
    claims_samplers,
    claims_samplers_conventions,
    claims_training_quick,
    claims_oracle,
    claims_sampler_speed,
    claims_corpus,
    claims_bench,
)


def _collect() -> dict[str, Claim]:
    out: dict[str, Claim] = {}
    for topic in TOPICS:
        for claim in topic.CLAIMS:
            if claim.id in out:
                raise ValueError(f"duplicate claim id {claim.id!r} in {topic.__name__}")
            out[claim.id] = claim
    return out


#: Every registered claim, by id.
CLAIMS: dict[str, Claim] = _collect()


#: Modules holding only generated doc blocks (a topic module may hold its own ``DOC_BLOCKS`` too).
BLOCK_MODULES = (blocks_energy, blocks_scale_out)


def _collect_blocks() -> dict:
    out = {}
    for topic in (*TOPICS, *BLOCK_MODULES):
        for name, fn in getattr(topic, "DOC_BLOCKS", {}).items():
            if name in out:
                raise ValueError(f"duplicate generated doc block {name!r} in {topic.__name__}")
            out[name] = fn
    return out


#: Generators of the docs' generated blocks, by name: ``fn(FigureDataFolder) -> markdown``.
DOC_BLOCKS = _collect_blocks()


def compute_verdicts(data: FigureDataFolder, claims: dict[str, Claim] | None = None) -> dict[str, Verdict]:
    """The verdict of every claim from the data in ``data`` (missing data -> ``not covered``)."""
    out = {}
    for cid, claim in (claims or CLAIMS).items():
        try:
            out[cid] = claim.verdict(data)
        except MissingFigureData as exc:
            out[cid] = Verdict("not covered", "—", f"figure data missing: {exc}")
    return out
