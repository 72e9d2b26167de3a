"""What a bench run covers: the panel of languages, the tiers (lengths, NFE budgets, samples) and presets.

A *tier* is one sequence length with its NFE budgets and Monte Carlo sample count. The *exact tier* runs
every language at a length where all :math:`V^L` sequences can be enumerated, so the policy's output law
is exact (its kernel, or its replay for deterministic selection) and KL both ways and SER are exact; the
other tiers are Monte Carlo with confidence intervals. Budgets are mean model calls (NFE) per sequence;
policies with a step count K are run at K chosen to hit each budget, adaptive policies at their knob grid
(placed at their measured NFE).

Presets (``mdm-suite bench --preset``): ``quick`` (every policy on the whole panel at the exact tier and
L = 32, and on part of it (:data:`QUICK_LONG_PANEL`) at L = 256 and 1024, with few samples at the long
lengths: the oracle's cost grows with rows x L per call), ``full`` (the documented
larger run) and ``smoke`` (seconds; tests and the plugin example). Every cell is seeded from its key, so results do not depend on the executor or order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sims.bench.plugins import plugin_spec
from sims.registry import LANGUAGES, make_language
from sims.validation import InvalidArgumentError

#: The standard panel: n-gram, HMM, parity, Dyck, pair copy and variable-length (EOS) languages.
PANEL = ("ngram2", "hmm", "parity", "dyck4", "pair_copy", "ngram2_eos", "dyck4_eos")
#: The random-order baseline every policy is compared with at equal NFE.
BASELINE = "fixed_random"


@dataclass(frozen=True)
class Tier:
    """One length of the bench: ``length`` L (``0`` = the exact tier: each language's enumerable length,
    budgets 1, 2, 4, ..., L), NFE ``budgets``, ``num_samples`` per cell (exact tier: ``0`` = the runner's
    default), whether the data-direction excess is estimated, and ``languages``: the panel languages this
    tier runs (``None``: all of them; a preset may run its long tiers on part of the panel)."""

    length: int
    budgets: tuple[int, ...]
    num_samples: int
    data_direction: bool = True
    languages: tuple[str, ...] | None = None

    def panel(self, languages) -> tuple[str, ...]:
        """The languages of ``languages`` this tier runs, in their order."""
        return tuple(x for x in languages if self.languages is None or x in self.languages)

    @property
    def exact(self) -> bool:
        return self.length == 0

    @property
    def label(self) -> str:
        return "exact" if self.exact else f"L={self.length}"


@dataclass
class BenchConfig:
    """A bench run (see the module docstring).

    Attributes:
        languages: registry keys of the panel.
        tiers: the tiers, exact tier first when present.
        policies: registry keys of the policies (``None``: every registered sampler).
        plugins: researcher samplers, ``path/to/file.py:Class``, ``module:Class`` or the name of an installed
            entry point (:mod:`sims.bench.plugins`; names are replaced by their ``module:Class`` spec).
        seed: base seed mixed into every cell's key seed.
        batch_size: rows per sampler batch.
        cap_factor: an adaptive run is stopped once a batch needs more than ``cap_factor`` times the tier's
            largest budget in calls (recorded as over budget).
        knobs: ``"full"`` knob grids of adaptive policies, or ``"quick"`` (a few settings each).
        device: torch device of the oracle and the samplers.
    """

    languages: tuple[str, ...] = PANEL
    tiers: tuple[Tier, ...] = ()
    policies: tuple[str, ...] | None = None
    plugins: tuple[str, ...] = ()
    seed: int = 0
    batch_size: int = 256
    cap_factor: float = 2.0
    knobs: str = "full"
    device: str = "cpu"
    preset: str = "custom"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = [name for name in self.languages if name not in LANGUAGES]
        if unknown:
            raise InvalidArgumentError(f"unknown languages {unknown}; choose from {sorted(LANGUAGES)}")
        if not self.tiers:
            raise InvalidArgumentError("a bench needs at least one tier")
        self.plugins = tuple(dict.fromkeys(plugin_spec(p) for p in self.plugins))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["tiers"] = [asdict(t) | {"label": t.label} for t in self.tiers]
        return out


#: Lengths of the exact tier: small enough that every policy's exact law (its kernel over all partial
#: sequences, including the tie orders of confidence rules on symmetric languages) takes seconds.
EXACT_LENGTHS = {
    "ngram2": 4,
    "hmm": 4,
    "parity": 6,
    "dyck4": 6,
    "pair_copy": 3,
    "ngram2_eos": 3,
    "hmm_eos": 3,
    "dyck4_eos": 6,
}
#: Other languages: the largest L <= 6 with (V+1)**L partial sequences at most this many.
EXACT_MAX_PARTIAL = 1000


def exact_length(language: str) -> int:
    """The exact tier's length of a language (:data:`EXACT_LENGTHS`, else the rule of
    :data:`EXACT_MAX_PARTIAL`, reduced until the language has sequences of positive probability)."""
    if language in EXACT_LENGTHS:
        return EXACT_LENGTHS[language]
    lang = make_language(language)
    V = lang.vocab_size
    L = 2
    while L < 6 and (V + 1) ** (L + 1) <= EXACT_MAX_PARTIAL:
        L += 1
    while L > 2:
        try:
            lang.check_length(L)
            break
        except InvalidArgumentError:
            L -= 1
    return L


def exact_budgets(length: int) -> tuple[int, ...]:
    """Budgets of the exact tier: 1, 2, 4, ... up to L, and L."""
    out, k = [], 1
    while k < length:
        out.append(k)
        k *= 2
    return (*out, length)


#: The languages of the quick preset's L = 256 tier (its L = 1024 tier runs the first two): a Markov
#: chain, an HMM, a formal language and a variable-length one.
QUICK_LONG_PANEL = ("ngram2", "hmm", "parity", "dyck4_eos")

PRESETS: dict[str, dict] = {
    "quick": {
        "tiers": (
            Tier(0, (), 0),
            Tier(32, (8, 32), 64),
            # the long tiers on part of the panel keep the preset under 10 minutes on 2 cores
            Tier(256, (32,), 8, data_direction=False, languages=QUICK_LONG_PANEL),
            Tier(1024, (32,), 4, data_direction=False, languages=QUICK_LONG_PANEL[:2]),
        ),
        "batch_size": 64,
        "knobs": "quick",
    },
    "full": {
        "tiers": (
            Tier(0, (), 0),
            Tier(32, (2, 4, 8, 16, 32), 2048),
            Tier(256, (8, 16, 32, 64, 128, 256), 1024),
            Tier(1024, (16, 32, 64, 128, 256, 512, 1024), 512),
        ),
        "batch_size": 512,
    },
    "smoke": {
        "tiers": (Tier(0, (), 0), Tier(16, (4, 16), 32)),
        "batch_size": 64,
        "knobs": "quick",
    },
}


def preset_config(preset: str, **overrides) -> BenchConfig:
    """The :class:`BenchConfig` of a preset, with ``overrides`` (e.g. ``languages=...``)."""
    if preset not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return BenchConfig(**{**PRESETS[preset], "preset": preset, **overrides})
