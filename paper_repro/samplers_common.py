"""Shared pieces of the ``fig_samplers_*`` modules: the sampler families, denoiser factories, cell runner.

Denoisers are passed as a dict ``{name: factory(language_name, language) -> Denoiser}`` so that a trained
model can be added next to the oracle without touching the figure code (see :data:`DEFAULT_DENOISERS`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.languages.base import Language
from sims.models.cache import get_trained_denoiser
from sims.plot_style import style_for
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


#: House-style entity (:func:`sims.plot_style.style_for`) of every sampler family drawn by the
#: ``samplers_*`` figures: one fixed colour and marker per sampler across all figures.
FAMILY_STYLE = {
    "ancestral (MDLM)": "ancestral",
    "fixed-count random": "fixed_random",
    "fixed-count max-prob": "fixed_max_prob",
    "fixed-count sampled-prob": "fixed_sampled_prob",
    "fixed-count entropy": "fixed_entropy",
    "EB entropy": "eb",
    "Fast-dLLM threshold": "fast_dllm_threshold",
    "Fast-dLLM factor": "fast_dllm_factor",
    "ReMDM cap eta=0.04": "remdm_cap",
    "ReMDM rescale eta=0.5": "remdm_rescale",
    "ReMDM loop (defaults)": "remdm_loop",
    "random K=8 + remask-2 rounds": "remask",
    "random K=2 + remask-2 rounds": "remask",
}


def family_order(family: str) -> int:
    """Position of a family in legends (the order of :data:`FAMILY_STYLE`; unknown families last)."""
    order = list(FAMILY_STYLE)
    return order.index(family) if family in order else len(order)


def family_style(family: str) -> dict:
    """``{"color", "marker"}`` of a sampler family (house style; unknown families by name)."""
    return style_for(FAMILY_STYLE.get(family, family))


#: Legend text of each family, with mathtext for its knob.
KNOB_LABEL = {"K": "$K$", "gamma": r"$\gamma$", "tau": r"$\tau$", "f": "$f$", "rounds": "rounds"}


def knob_ordered(points: list[dict], x: str = "nfe_mean") -> tuple[list[dict], bool]:
    """``points`` of one family sorted by their knob ``value``, and whether ``x`` is monotone along them.

    A family is drawn as a line only when the x value (calls) is monotone in its knob; otherwise a line
    through the points would zig-zag back and forth, so only markers are drawn.
    """
    pts = sorted(points, key=lambda r: r["value"])
    xs = [r[x] for r in pts]
    pairs = list(itertools.pairwise(xs))
    monotone = all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs)
    return pts, monotone


def family_label(family: str, points: list[dict]) -> str:
    """Legend label: the family and the range of its knob."""
    knob = points[0]["knob"]
    vals = sorted(r["value"] for r in points)
    rng = f"{vals[0]:g}" if len(vals) == 1 else f"{vals[0]:g}..{vals[-1]:g}"
    return f"{family} ({KNOB_LABEL.get(knob, knob)} {rng})"


def draw_missing(ax, missing: list[tuple[float, int, dict]]) -> None:
    """Hollow markers on the lower edge for perplexity points with too few in-support samples, each with
    its count; a label goes on the lowest level whose previous label lies at least an octave to its left."""
    last: list[float] = []  # x of the last label on each level
    tr = ax.get_xaxis_transform()
    for x, n, st in sorted(missing, key=lambda m: m[0]):
        level = next((i for i, p in enumerate(last) if math.log2(x / p) >= 1.0), len(last))
        if level == len(last):
            last.append(x)
        last[level] = x
        y = 0.04 + 0.08 * level
        ax.plot(
            x, y, marker=st["marker"], mfc="none", mec=st["color"], ls="none", transform=tr, clip_on=False
        )
        ax.annotate(
            f"n={n}", (x, y), xycoords=tr, xytext=(4, 0), textcoords="offset points", va="center",
            fontsize=8, color=st["color"],
        )  # fmt: skip


#: |value| below this is an exact zero up to float64 rounding (sums of at most a few hundred terms).
ZERO = 1e-12


def draw_log(ax, x, y, floor, ls, st, label=None):
    """Values above :data:`ZERO` as a line; exact zeros as hollow markers on the lower edge ``floor``
    (the line breaks there: a zero has no place on a log axis)."""
    ax.plot(x, [v if v > ZERO else math.nan for v in y], ls=ls, lw=1, ms=4, label=label, **st)
    zeros = [a for a, v in zip(x, y) if v <= ZERO]
    if zeros:
        ax.plot(
            zeros, [floor] * len(zeros), ls="none", marker=st["marker"], mfc="white", mec=st["color"], ms=5
        )


def mark_floor(ax, floor) -> None:
    """Label the lower edge where exact zeros are drawn."""
    ax.axhline(floor * 1.6, color="0.75", lw=0.6, ls="-")
    ax.text(
        0.99,
        floor * 1.15,
        "0 (exact)",
        transform=ax.get_yaxis_transform(),
        ha="right",
        va="bottom",
        fontsize=8,
    )


def log_floor(values) -> float:
    positive = [v for v in values if ZERO < v < math.inf]
    return 10 ** math.floor(math.log10(min(positive))) / 10 if positive else 1e-6
