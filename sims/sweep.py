"""Sweeps of sample quality versus number of steps, written incrementally and resumable.

Each cell (language, length, sampler, K) is sampled with its own generator seeded from
``crc32(cell key) + seed``, so a cell's result does not depend on which other cells ran or in what
order, and an interrupted sweep resumes where it stopped with identical numbers.

A sampler whose registry entry does not use K (adaptive rules, first hitting) is run once per (language,
length), not once per K: its cell key ends in ``K=ignored`` and its record has ``"steps": None``.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.metrics import evaluate_samples, order_conditional_excess_nll
from sims.registry import SAMPLERS, make_language, make_sampler
from sims.results import ResultStore


@dataclass
class SweepConfig:
    languages: list[str] = field(default_factory=lambda: ["ngram2", "hmm"])
    lengths: list[int] = field(default_factory=lambda: [64, 256])
    samplers: list[str] = field(default_factory=lambda: ["ancestral", "fixed_random"])
    steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128, 256])
    num_samples: int = 256
    batch_size: int = 256
    seed: int = 0
    device: str = "cpu"
    #: also estimate the data-direction excess E_M KL(q || p_M)/L by teacher forcing (random orders only)
    data_direction: bool = True

    def cells(self):
        """``(language, length, sampler, K)``; K is None (one cell) for samplers that ignore it."""
        for lang in self.languages:
            for L in self.lengths:
                for s in self.samplers:
                    if s not in SAMPLERS:
                        raise ValueError(f"unknown sampler {s!r}; choose from {sorted(SAMPLERS)}")
                    if not SAMPLERS[s].uses_steps:
                        yield lang, L, s, None
                        continue
                    for k in self.steps:
                        if k <= L:
                            yield lang, L, s, k


def cell_key(lang: str, length: int, sampler: str, steps: int | None) -> str:
    return f"{lang}|L={length}|{sampler}|K={'ignored' if steps is None else steps}"


def cell_seed(key: str, seed: int) -> int:
    return (zlib.crc32(key.encode()) + seed) % (2**63)


def run_sweep(config: SweepConfig, out: str | Path, progress: bool = True) -> ResultStore:
    """Run every missing cell of ``config`` and store it in ``out`` (a JSON file) as it finishes."""
    meta = {k: v for k, v in asdict(config).items() if k in ("num_samples", "seed", "batch_size")}
    store = ResultStore(out, meta={"sweep": meta})
    todo = [c for c in config.cells() if cell_key(*c) not in store]
    it = todo
    if progress:
        it = tqdm(todo, desc="sweep cells")
    languages, oracles = {}, {}
    for lang_name, L, sampler_name, k in it:
        if lang_name not in languages:
            languages[lang_name] = make_language(lang_name, config.device)
            oracles[lang_name] = OracleDenoiser(
                languages[lang_name], on_impossible=sampling_fallback(languages[lang_name])
            )
        lang = languages[lang_name]
        key = cell_key(lang_name, L, sampler_name, k)
        g = make_generator(cell_seed(key, config.seed), config.device)
        sampler = make_sampler(sampler_name, k)
        res = sampler.sample(oracles[lang_name], config.num_samples, L, g, batch_size=config.batch_size)
        try:
            opt = lang.entropy_per_token(L)
        except NotImplementedError:
            opt = None
        q = evaluate_samples(lang, res.tokens, nfe=res.nfe, optimal_nll_per_token=opt)
        excess = None
        if config.data_direction and sampler.capabilities.value_independent_schedule:
            excess = order_conditional_excess_nll(
                lang, oracles[lang_name], sampler, L, config.num_samples, g, batch_size=config.batch_size
            ).to_dict()
        store.put(
            key,
            {
                "language": lang_name,
                "length": L,
                "sampler": sampler_name,
                "steps": k,
                "quality": q.to_dict(),
                "conventions": res.conventions,
                "order_conditional_excess_nll_per_token": excess,
                "denoiser": oracles[lang_name].describe(),
                "left_support_fraction": float(res.left_support.double().mean()),
                "language_description": lang.describe(),
            },
        )
    return store


def load_rows(store: ResultStore) -> list[dict]:
    return sorted(
        store.values(),
        key=lambda r: (r["language"], r["length"], r["sampler"], -1 if r["steps"] is None else r["steps"]),
    )


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
