"""Shared pieces of the ``fig_samplers_*`` modules: the sampler families, denoiser factories, cell runner.

Denoisers are passed as a dict ``{name: factory(language_name, language) -> Denoiser}`` so that a trained
model can be added next to the oracle without touching the figure code (see :data:`DEFAULT_DENOISERS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.languages.base import Language
from sims.models.cache import get_trained_denoiser
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.base import Sampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler

DenoiserFactory = Callable[[str, Language], Denoiser]

#: The oracle (exact posterior marginals). A trained model is added as another entry, e.g.
#: ``{"oracle": ..., "transformer": lambda name, lang: load_model(name)}``.
DEFAULT_DENOISERS: dict[str, DenoiserFactory] = {
    "oracle": lambda name, lang: OracleDenoiser(lang, on_impossible=sampling_fallback(lang)),
}


#: Training settings of the transformer shown beside the oracle, per figure preset: the ``quick`` model
#: preset's network trained for 2000 steps (about a minute per language on 2 CPU cores; validation only
#: every 1000 steps), and the ``full`` model preset as it is.
TRAINED_MODEL = {
    "quick": ("quick", {"steps": 2000, "eval_every": 1000, "measure_every": 0}),
    "full": ("full", {}),
}


def oracle_and_trained(length: int, preset: str) -> dict[str, DenoiserFactory]:
    """The oracle beside the suite's trained transformer MDM (``sims.models``; trained once, then cached)."""

    model_preset, overrides = TRAINED_MODEL[preset]
    steps = overrides.get("steps", "preset")
    return {
        **DEFAULT_DENOISERS,
        f"transformer ({steps} steps)": lambda name, lang: get_trained_denoiser(
            name, length, model_preset, **overrides
        ),
    }


@dataclass(frozen=True)
class SamplerSpec:
    """One point of a sampler family: a label, the family, its knob value and a constructor."""

    family: str
    knob: str
    value: float
    make: Callable[[int], Sampler]  # length -> sampler

    @property
    def label(self) -> str:
        return f"{self.family}[{self.knob}={self.value:g}]"


def sampler_families(length: int, preset: str) -> list[SamplerSpec]:
    """The samplers of the calls-vs-quality figures (same list for every language and denoiser)."""
    quick = preset == "quick"
    steps = [k for k in ([4, 8, 16, 32] if quick else [2, 4, 8, 16, 32, 64, 128]) if k <= length]
    specs: list[SamplerSpec] = []
    for k in steps:
        specs.append(SamplerSpec("ancestral (MDLM)", "K", k, lambda L, k=k: AncestralSampler(k)))
        specs.append(
            SamplerSpec("fixed-count random", "K", k, lambda L, k=k: FixedCountSampler(k, score="random"))
        )
        specs.append(
            SamplerSpec("fixed-count max-prob", "K", k, lambda L, k=k: FixedCountSampler(k, score="max_prob"))
        )
    for g in [0.0, 0.3, 1.0, 3.0, 10.0] if quick else [0.0, 0.01, 0.1, 0.3, 0.5, 1.0, 2.0, 4.0, 10.0]:
        specs.append(SamplerSpec("EB entropy", "gamma", g, lambda L, g=g: EBSampler(g, "entropy")))
    for tau in [0.5, 0.7, 0.9, 0.99] if quick else [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]:
        specs.append(
            SamplerSpec("Fast-dLLM threshold", "tau", tau, lambda L, t=tau: FastDLLMSampler("threshold", t))
        )
    for f in [0.5, 2.0, 8.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]:
        specs.append(
            SamplerSpec("Fast-dLLM factor", "f", f, lambda L, f=f: FastDLLMSampler("factor", factor=f))
        )
    for k in [8, 16, 32, 64] if quick else [4, 8, 16, 32, 64, 128, 256]:
        specs.append(
            SamplerSpec("ReMDM cap eta=0.04", "K", k, lambda L, k=k: ReMDMSampler(k, "cap", eta=0.04))
        )
    for k in [20, 40, 80] if quick else [20, 40, 80, 160, 320]:
        specs.append(SamplerSpec("ReMDM loop (defaults)", "K", k, lambda L, k=k: ReMDMSampler(k, "loop")))
    for rounds in [2, 4, 8] if quick else [1, 2, 4, 8, 16]:
        specs.append(
            SamplerSpec(
                "random K=8 + remask-2 rounds",
                "rounds",
                rounds,
                lambda L, n=rounds: RemaskCorrector(FixedCountSampler(min(8, L)), n, 2),
            )
        )
    return specs


def finite_or_none(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def family_styles(families: list[str]) -> dict[str, dict]:
    markers = "osD^v<>ph*X"
    return {f: {"color": f"C{i % 10}", "marker": markers[i % len(markers)]} for i, f in enumerate(families)}
