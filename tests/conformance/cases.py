"""The cases of the conformance suite, read from the registries (:mod:`sims.registry`).

Every registered sampler contributes one case for its entry (K = ``test_steps``) and one per
``variants`` item; every registered language contributes one case at its ``test_length``. A new registry
entry is therefore tested without touching the tests.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from sims.languages import Language, NGramLanguage, random_hmm
from sims.languages.eos import EOSLanguage
from sims.registry import LANGUAGES, SAMPLERS, SamplerEntry
from sims.sampling.base import Sampler
from sims.sampling.result import SampleResult


@dataclass(frozen=True)
class SamplerCase:
    """One sampler configuration: ``make()`` builds it; ``key`` is its registry entry."""

    id: str
    key: str
    entry: SamplerEntry
    make: Callable[[], Sampler]

    @property
    def length(self) -> int:
        return self.entry.test_length

    @property
    def seed(self) -> int:
        return zlib.crc32(self.id.encode())


def _cases() -> list[SamplerCase]:
    out = []
    for key, entry in SAMPLERS.items():
        out.append(SamplerCase(key, key, entry, lambda e=entry: e.make(e.test_steps)))
        for name, make in entry.variants.items():
            out.append(SamplerCase(f"{key}[{name}]", key, entry, make))
    return out


SAMPLER_CASES = _cases()
ENTRY_KEYS = sorted(SAMPLERS)
LANGUAGE_KEYS = sorted(LANGUAGES)


def sampler_cases(ids=None):
    """``pytest.param`` per sampler case (all by default)."""
    return [pytest.param(c, id=c.id) for c in SAMPLER_CASES if ids is None or c.id in ids]


#: near-deterministic 3-cycle: parallel reveals matter a lot, which gives the chi-square tests power
CYCLE = NGramLanguage(2, 3, [1 / 3] * 3, [[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.0, 0.1]])
#: a sparse random HMM over 3 tokens (2 successors per state, 2 tokens per state: 21 of the 81 sequences of
#: length 4 are impossible, none has probability above 0.25)
HMM = random_hmm(
    3,
    3,
    transition_concentration=1.0,
    emission_concentration=1.0,
    transition_support=2,
    emission_support=2,
    seed=3,
)
#: languages of the Monte Carlo tests and their sample sizes
MC_LANGUAGES = {"cycle": (CYCLE, 30000), "hmm": (HMM, 20000)}
#: their EOS-padded versions (content of random length, then EOS to the end; sims.languages.eos), on which
#: the samplers that declare ``capabilities.needs_eos`` (length policies) are tested instead
EOS_MC_LANGUAGES = {
    "cycle": (EOSLanguage(CYCLE, 1 / 4, name="cycle_eos"), 30000),
    "hmm": (EOSLanguage(HMM, 1 / 4, name="hmm_eos"), 20000),
}


def case_languages(sampler: Sampler) -> dict[str, tuple[Language, int]]:
    """The Monte Carlo languages of ``sampler``: :data:`EOS_MC_LANGUAGES` if it declares
    ``capabilities.needs_eos``, else :data:`MC_LANGUAGES` (the same keys)."""
    return EOS_MC_LANGUAGES if sampler.capabilities.needs_eos else MC_LANGUAGES


def case_language(sampler: Sampler, name: str = "cycle") -> Language:
    """The conformance language ``name`` (``"cycle"`` or ``"hmm"``) in the version ``sampler`` runs on."""
    return case_languages(sampler)[name][0]


RESULT_FIELDS = (
    "tokens",
    "nfe",
    "reveal_step",
    "token_entropy",
    "token_logprob",
    "step_entropy_sum",
    "step_num_masked",
    "left_support",
    "reveal_time",
)


def same_result(a: SampleResult, b: SampleResult) -> bool:
    """Every field equal (NaN equal to NaN)."""
    for name in RESULT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            if x is not y:
                return False
            continue
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.is_floating_point():
            if not torch.equal(torch.isnan(x), torch.isnan(y)) or not torch.equal(
                torch.nan_to_num(x, nan=0.0), torch.nan_to_num(y, nan=0.0)
            ):
                return False
        elif not torch.equal(x, y):
            return False
    return a.conventions == b.conventions
