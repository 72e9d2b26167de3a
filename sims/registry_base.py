"""The record types of the sampler registry (:mod:`sims.registry`), shared by its entry modules.

:mod:`sims.registry` holds the languages and the core samplers; :mod:`sims.registry_policies` the decoding
policies of ``docs/decoding_policies.md``. Both build their entries from these records, and
``sims.registry.SAMPLERS`` merges them (the conformance suite reads that dict).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sims.sampling.base import Sampler


@dataclass(frozen=True)
class BadArgument:
    """A construction that must fail with a ValueError naming ``argument``."""

    argument: str
    make: Callable[[], object]


@dataclass(frozen=True)
class SamplerEntry:
    """A standard sampler (see the module docstring).

    Attributes:
        make: ``K -> Sampler``; the registry key equals ``make(K).name``.
        uses_steps: False if the sampler ignores K (adaptive rules, first hitting): sweeps then run it
            once per (language, length), not once per K. Must equal ``capabilities.uses_steps``.
        description: one line for ``mdm-suite list``.
        test_steps: K of the conformance suite's tiny case (sequences of ``test_length``).
        variants: further configurations of the family that the conformance suite checks too.
        bad_arguments: constructions that must be rejected (beyond the generic ones the suite derives).
    """

    make: Callable[[int | None], Sampler]
    uses_steps: bool
    description: str
    test_steps: int = 2
    test_length: int = 4
    variants: Mapping[str, Callable[[], Sampler]] = field(default_factory=dict)
    bad_arguments: tuple[BadArgument, ...] = ()


def common_bad(make: Callable[..., Sampler]) -> tuple[BadArgument, ...]:
    """Temperature and categorical precision, rejected by every sampler class."""
    return (
        BadArgument("temperature", lambda: make(temperature=-1.0)),
        BadArgument("categorical_precision", lambda: make(categorical_precision="float16")),
    )
