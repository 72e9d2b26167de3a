"""Sweeps of sample quality versus number of steps, written incrementally and resumable, on any executor.

Each cell (language, length, sampler, K) is one work item (:mod:`sims.execution`): :func:`run_cell`
builds the language and its oracle, samples with its own generator seeded from ``crc32(cell key) + seed``
and returns the record. A cell's record therefore depends only on the cell and the settings, never on
which worker ran it, what ran before or how many workers there were; :func:`run_sweep` merges the records
into one :class:`~sims.results.ResultStore` (written after every cell, keys sorted, so the file is the same
bytes whatever the order of completion) and resumes where an interrupted sweep stopped.

A sampler whose registry entry does not use K (adaptive rules, first hitting) is run once per (language,
length), not once per K: its cell key ends in ``K=ignored`` and its record has ``"steps": None``.

Resuming refuses what would mix results (:class:`~sims.validation.SettingsMismatchError`): other settings
(:func:`sweep_settings`: sample count, batch size, seed, device, data direction), and a language, oracle or
sampler whose definition changed since its cells were written (the records carry the language's and the
oracle's description and the sampler's conventions; a resumed sweep compares them). Adding languages,
lengths, samplers or step counts to a sweep is allowed: each cell key names its own.
"""

from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.execution import Executor, WorkItem, run_items
from sims.languages.base import Language
from sims.metrics import evaluate_samples, order_conditional_excess_nll
from sims.registry import SAMPLERS, check_language_name, check_sampler_name, make_language, make_sampler
from sims.results import ResultStore, encode_json
from sims.validation import (
    CorruptFileError,
    InvalidArgumentError,
    InvalidTypeError,
    SettingsMismatchError,
    check_bool,
    check_device,
    check_int,
    check_type,
)


def _check_list(values, name: str, check) -> None:
    """A non-empty list (or tuple) of distinct values, each passing ``check(value, f"{name}[i]")``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise InvalidTypeError(f"{name} must be a list, got {type(values).__name__} {values!r:.80}")
    if not values:
        raise InvalidArgumentError(f"{name} must not be empty")
    for i, v in enumerate(values):
        check(v, f"{name}[{i}]")
    twice = sorted({repr(v) for v in values if list(values).count(v) > 1})
    if twice:
        raise InvalidArgumentError(f"{name} lists {', '.join(twice)} more than once")


@dataclass
class SweepConfig:
    """What a sweep computes. Every field is checked when the config is made (and again by
    :func:`run_sweep`): registered names, positive counts, distinct values, a usable device."""

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

    def __post_init__(self):
        self.validate()

    def validate(self) -> SweepConfig:
        """Check every field (see the class docstring); returns the config."""
        _check_list(self.languages, "languages", lambda v, n: check_language_name(v))
        _check_list(self.lengths, "lengths", lambda v, n: check_int(v, n, minimum=1))
        _check_list(self.samplers, "samplers", lambda v, n: check_sampler_name(v))
        _check_list(self.steps, "steps", lambda v, n: check_int(v, n, minimum=1))
        check_int(self.num_samples, "num_samples", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.seed, "seed", minimum=-(2**63), maximum=2**63 - 1)
        check_type(self.device, str, "device", "a device name (str) such as 'cpu' or 'cuda'")
        check_device(self.device)
        check_bool(self.data_direction, "data_direction")
        return self

    def cells(self):
        """``(language, length, sampler, K)``; K is None (one cell) for samplers that ignore it; cells with
        K > L, and length policies (``capabilities.needs_eos``) on languages without EOS padding, are left
        out."""
        eos: dict[str, bool] = {}
        for lang in self.languages:
            for L in self.lengths:
                for s in self.samplers:
                    entry = SAMPLERS[check_sampler_name(s)]
                    if entry.make(entry.test_steps).capabilities.needs_eos:
                        if lang not in eos:
                            eos[lang] = make_language(lang).eos_token is not None
                        if not eos[lang]:
                            continue
                    if not entry.uses_steps:
                        yield lang, L, s, None
                        continue
                    for k in self.steps:
                        if k <= L:
                            yield lang, L, s, k


def cell_key(lang: str, length: int, sampler: str, steps: int | None) -> str:
    return f"{lang}|L={length}|{sampler}|K={'ignored' if steps is None else steps}"


def cell_seed(key: str, seed: int) -> int:
    return (zlib.crc32(key.encode()) + seed) % (2**63)


def sweep_settings(config: SweepConfig) -> dict:
    """The settings every record of a sweep depends on, recorded in the store's meta and compared on
    resume (device included: the same seed gives other numbers on another device)."""
    return {
        "num_samples": config.num_samples,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "device": config.device,
        "data_direction": config.data_direction,
    }


def make_oracle(language: Language) -> OracleDenoiser:
    """The sweep's oracle: exact posteriors with the sampling fallback of the language."""
    return OracleDenoiser(language, on_impossible=sampling_fallback(language))


def run_cell(config: SweepConfig, cell: tuple) -> dict:
    """The record of one cell: quality of ``num_samples`` sequences drawn with the cell's own generator."""
    lang_name, L, sampler_name, k = cell
    lang = make_language(lang_name, config.device)
    oracle = make_oracle(lang)
    g = make_generator(cell_seed(cell_key(*cell), config.seed), config.device)
    sampler = make_sampler(sampler_name, k)
    res = sampler.sample(oracle, config.num_samples, L, g, batch_size=config.batch_size)
    try:
        opt = lang.entropy_per_token(L)
    except NotImplementedError:
        opt = None
    q = evaluate_samples(lang, res.tokens, nfe=res.nfe, optimal_nll_per_token=opt)
    excess = None
    if config.data_direction and sampler.capabilities.value_independent_schedule:
        excess = order_conditional_excess_nll(
            lang, oracle, sampler, L, config.num_samples, g, batch_size=config.batch_size
        ).to_dict()
    return {
        "language": lang_name,
        "length": L,
        "sampler": sampler_name,
        "steps": k,
        "quality": q.to_dict(),
        "conventions": res.conventions,
        "order_conditional_excess_nll_per_token": excess,
        "denoiser": oracle.describe(),
        "left_support_fraction": float(res.left_support.double().mean()),
        "language_description": lang.describe(),
    }


def cell_item(config: SweepConfig, cell: tuple) -> WorkItem:
    """The work item of one cell (key :func:`cell_key`; identified for resume by the cell and
    :func:`sweep_settings`, so a sweep extended by more cells reuses the finished ones)."""
    return WorkItem(
        cell_key(*cell),
        run_cell,
        {"config": config, "cell": tuple(cell)},
        base_seed=config.seed,
        identity=_canonical({"cell": list(cell), "settings": sweep_settings(config)}),
    )


def check_cells(config: SweepConfig) -> list[tuple]:
    """Every cell of ``config``, each checked before anything runs (language length, sampler steps), so
    that a bad combination is refused at once instead of failing on a worker; at least one cell."""
    cells = list(config.cells())
    if not cells:
        raise InvalidArgumentError(
            f"the sweep has no cells: every step count {list(config.steps)} exceeds every length "
            f"{list(config.lengths)} (cells with K > L are left out)"
        )
    for lang_name in config.languages:
        shortest = make_language(lang_name).min_length()
        short = [L for L in config.lengths if L < shortest]
        if short:
            raise InvalidArgumentError(f"lengths {short} are shorter than {lang_name}'s minimum {shortest}")
    for _, L, sampler_name, k in cells:
        make_sampler(sampler_name, k).num_steps(L)  # e.g. block lengths that do not divide L
    return cells


def _canonical(obj) -> str:
    return encode_json(obj, sort_keys=True)


#: Fields of a run's conventions that record how it was computed, not what it computes: the oracle path
#: that ran (``"full"`` or ``"incremental:<engine>"``; the same law either way, tested in
#: ``tests/sims/test_incremental.py``) against the sampler's setting (``"auto"``).
RUNTIME_EXTRAS = ("oracle_path",)


def _definition(conventions) -> str:
    """The canonical form of a conventions record without its :data:`RUNTIME_EXTRAS`."""
    if not isinstance(conventions, dict):
        return _canonical(conventions)
    extras = {k: v for k, v in (conventions.get("extras") or {}).items() if k not in RUNTIME_EXTRAS}
    return _canonical({**conventions, "extras": extras})


def check_definitions(store: ResultStore, config: SweepConfig) -> None:
    """Refuse to resume when a language, its oracle or a sampler of ``config`` now means something else
    than in the records already stored (a changed registry entry or code: mixing would be silently wrong)."""
    clashes = []
    current: dict = {}
    for key, rec in sorted(store.records.items()):
        lang_name, sampler_name = rec.get("language"), rec.get("sampler")
        if lang_name in config.languages:
            if lang_name not in current:
                lang = make_language(lang_name, config.device)
                current[lang_name] = {
                    "language_description": lang.describe(),
                    "denoiser": make_oracle(lang).describe(),
                }
            for what, now in current[lang_name].items():
                if _canonical(rec.get(what)) != _canonical(now):
                    clashes.append(f"{key}: the {what.replace('_', ' ')} of {lang_name!r} changed")
        if sampler_name in config.samplers and sampler_name in SAMPLERS:
            steps = rec.get("steps") if SAMPLERS[sampler_name].uses_steps else None
            if SAMPLERS[sampler_name].uses_steps and not isinstance(steps, int):
                clashes.append(f"{key}: recorded without a step count, but {sampler_name!r} uses one")
                continue
            sid = (sampler_name, steps)
            if sid not in current:
                current[sid] = make_sampler(sampler_name, steps).conventions().to_dict()
            if _definition(rec.get("conventions")) != _definition(current[sid]):
                clashes.append(f"{key}: the conventions of {sampler_name!r} changed")
    if clashes:
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise SettingsMismatchError(
            f"{store.path} holds cells computed with other definitions: {'; '.join(clashes[:5])}{more}. "
            "Mixing them with new cells would be wrong: delete the file (or write to another output) to "
            "start over"
        )


def run_sweep(
    config: SweepConfig, out: str | Path, progress: bool = True, executor: Executor | None = None
) -> ResultStore:
    """Run every missing cell of ``config`` on ``executor`` (default: in this process) and store it in
    ``out`` (a JSON file) as it finishes.

    Cells also land in ``<out>.cells/`` (one file each, written by the worker), so work that finished on
    a worker survives the death of this process; the folder is removed once every cell is in ``out``.
    Raises :class:`~sims.execution.ItemsFailed` (after the other cells finished and were stored) when a
    cell failed. Returns the store, closed for writing (its lock released)."""
    check_type(config, SweepConfig, "config")
    config.validate()
    check_type(out, (str, os.PathLike), "out", "a file path")
    check_bool(progress, "progress")
    if executor is not None:
        check_type(executor, Executor, "executor", "a sims.execution Executor")
    out = Path(out)
    cells = check_cells(config)
    store = ResultStore(out, meta={"sweep": sweep_settings(config)})
    try:
        check_definitions(store, config)
        items = [cell_item(config, c) for c in cells if cell_key(*c) not in store]
        folder = out.with_name(out.name + ".cells")

        def keep(result) -> None:
            if result.ok:
                store.put(result.key, result.value)

        report = run_items(
            items, executor, store=folder, progress=progress, desc="sweep cells", on_result=keep
        )
        for key, result in report.results.items():  # cells finished by workers of an earlier, killed run
            if key not in store:
                store.put(key, result.value)
        report.raise_for_failures()
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        store.close()
    return store


#: Fields every sweep record has, with their types (``steps`` is None for samplers that ignore K).
ROW_FIELDS = {"language": (str,), "length": (int,), "sampler": (str,), "steps": (int, type(None))}


def load_rows(store: ResultStore) -> list[dict]:
    """The records of a sweep store, sorted by (language, length, sampler, K); a record that is not a
    sweep cell raises :class:`~sims.validation.CorruptFileError` naming the file and the cell."""
    for key, r in store.records.items():
        bad = [
            k
            for k, types in ROW_FIELDS.items()
            if not isinstance(r.get(k, ...), types) or isinstance(r.get(k), bool)
        ]
        if bad:
            raise CorruptFileError(
                store.path,
                f"{store.path}: cell {key!r} has no valid {', '.join(bad)}; it is not a record of "
                "mdm-suite sweep (delete the file or regenerate it)",
            )
    return sorted(
        store.values(),
        key=lambda r: (r["language"], r["length"], r["sampler"], -1 if r["steps"] is None else r["steps"]),
    )


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
