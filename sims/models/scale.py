r"""Multi-seed training at the scale where the variance paper's claims could show, measured exactly.

A :class:`ScalePreset` is a language short enough for exact enumeration, the MDM training methods
(standard, P-POTS, MIRROR, both, two independent masks), at least five seeds each (ten on a GPU), a matched AR model
per seed (same network size, rows per step, schedule and seeds), and the sampler step counts at which
each model's exact sample quality is measured. Presets (:data:`SCALE_PRESETS`):

========= ============================================= =====================================
preset    what                                          time
========= ============================================= =====================================
quick     the quick network, 500 steps of 64 rows       minutes on 2 CPU cores
cpu       the quick network, 8000 steps of 64 rows      about an hour on 2 CPU cores
gpu       d_model 128, 3 layers, 20 000 steps of 256    chosen by ``"auto"`` when CUDA is present
========= ============================================= =====================================

For every model one JSON file (atomic, :func:`result_path`) holds its configuration, the checksum of its
cached weights, and the exact measurements beside the oracle (:func:`measure_model`):

* the exact NELBO gap (MDM) or NLL gap (AR) against training steps (enumeration, no Monte Carlo);
* at the end: the exact A/B/C decomposition of every estimator on the model's own conditionals
  (:func:`sims.models.measure.exact_nelbo`) next to its measured per-example gradient variance (nested
  Monte Carlo) at several steps;
* exact SER, per-token KL and TV of the model's sampler law against sampling steps
  (:mod:`sims.models.quality`); the oracle's are in ``oracle.json`` beside them.

Runs resume: a model whose result file exists (and holds the same configuration) is not measured again,
and trained networks come from the model cache. Every run is seeded by its configuration alone, so the
results do not depend on the order, on sharding (``shard=(i, n)`` runs every n-th model) or on how many
processes share the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.models.cache import default_cache_dir, get_trained, make_config
from sims.models.config import TrainConfig
from sims.models.objectives import METHODS
from sims.models.quality import LAW_SAMPLER, ar_quality, denoiser_quality
from sims.models.store import state_checksum
from sims.models.training import TrainedModel
from sims.registry import make_language
from sims.results import read_json, write_json
from sims.validation import InvalidArgumentError

SCALE_METHODS = METHODS  # standard, ppots, mirror, ppots_mirror, pair


@dataclass(frozen=True)
class ScalePreset:
    """One multi-seed training study (see the module docstring)."""

    name: str
    language: str
    length: int
    seeds: tuple[int, ...]
    sampler_steps: tuple[int, ...]
    base: str = "quick"
    overrides: dict = field(default_factory=dict)
    methods: tuple[str, ...] = SCALE_METHODS
    ar: bool = True

    def configs(self) -> list[TrainConfig]:
        """Every model of the study: MDM methods x seeds, then the AR model of every seed."""
        out = [
            make_config(self.language, self.length, self.base, s, m, "mdm", **self.overrides)
            for m in self.methods
            for s in self.seeds
        ]
        if self.ar:
            ar_over = {k: v for k, v in self.overrides.items() if not k.startswith("ppots")}
            out += [
                make_config(self.language, self.length, self.base, s, "standard", "ar", **ar_over)
                for s in self.seeds
            ]
        return out

    def describe(self) -> dict:
        return {
            "name": self.name,
            "language": self.language,
            "length": self.length,
            "seeds": list(self.seeds),
            "methods": list(self.methods),
            "ar": self.ar,
            "sampler_steps": list(self.sampler_steps),
            "base": self.base,
            "overrides": dict(self.overrides),
            "law_sampler": LAW_SAMPLER,
        }


_COMMON = {"exact_eval": True, "num_val": 512}
#: hmm (16 hidden states, 8 tokens, sparse) at L = 4: 3705 support sequences, exact sampler laws over
#: 9^4 partial states; the standard MDM's gap stays several times the AR model's (prototype at 4000 steps:
#: 0.045 vs 0.006 nats/token) while both converge smoothly.
_LANGUAGE, _LENGTH, _STEPS_K = "hmm", 4, (1, 2, 4)
SCALE_PRESETS: dict[str, ScalePreset] = {
    "quick": ScalePreset(
        "quick",
        _LANGUAGE,
        _LENGTH,
        (0, 1, 2, 3, 4),
        _STEPS_K,
        "quick",
        {
            **_COMMON,
            "steps": 500,
            "eval_every": 125,
            "exact_every": 125,
            "measure_every": 500,
            "measure_examples": 32,
        },
    ),
    "cpu": ScalePreset(
        "cpu",
        _LANGUAGE,
        _LENGTH,
        (0, 1, 2, 3, 4),
        _STEPS_K,
        "quick",
        {
            **_COMMON,
            "steps": 8000,
            "lr": 1e-3,
            "eval_every": 1000,
            "exact_every": 500,
            "measure_every": 4000,
            "measure_examples": 128,
        },
    ),
    "gpu": ScalePreset(
        "gpu",
        _LANGUAGE,
        _LENGTH,
        tuple(range(10)),
        _STEPS_K,
        "full",
        {
            **_COMMON,
            "steps": 20000,
            "batch_rows": 256,
            "lr": 1e-3,
            "eval_every": 2000,
            "exact_every": 1000,
            "measure_every": 5000,
            "measure_examples": 256,
        },
    ),
}


def resolve_preset(name: str) -> ScalePreset:
    """A preset by name; ``"auto"`` is ``gpu`` when CUDA is available, else ``cpu``."""
    if name == "auto":
        name = "gpu" if torch.cuda.is_available() else "cpu"
    if name not in SCALE_PRESETS:
        raise InvalidArgumentError(
            f"unknown scale preset {name!r}; choose from {sorted(SCALE_PRESETS)} or 'auto'"
        )
    return SCALE_PRESETS[name]


def default_results_dir(preset: str) -> Path:
    """``<model cache>/../training_scale/<preset>`` (``results/training_scale/<preset>`` by default)."""
    return default_cache_dir().parent / "training_scale" / preset


def result_path(out_dir: str | Path, config: TrainConfig) -> Path:
    return Path(out_dir) / "models" / f"{config.kind}_{config.name()}.json"


def measure_model(model: TrainedModel, preset: ScalePreset) -> dict:
    """The per-model record (see the module docstring); exact measurements on CPU."""
    cfg, h = model.config, model.history
    lang = make_language(cfg.language)
    final = h["final"]
    rec = {
        "config": cfg.to_dict(),
        "name": cfg.name(),
        "kind": cfg.kind,
        "method": "ar" if cfg.kind == "ar" else cfg.method,
        "seed": cfg.seed,
        "weights_checksum": state_checksum(model.net.state_dict()),
        "num_parameters": model.net.num_parameters(),
        "train_seconds": model.train_seconds,
        "train_cpu_seconds": model.train_cpu_seconds,
        "device": model.device,
        "exact_curve": h.get("exact_curve", []),
        "eval": h["eval"],
        "measure": h["measure"],
        "final_exact": final.get("exact"),
        "entropy_per_token": final.get("entropy_per_token"),
    }
    t0 = time.process_time()
    model.net.to("cpu")
    if cfg.kind == "ar":
        rec["quality"] = [ar_quality(lang, model.ar(), cfg.length)]
    else:
        rec["quality"] = denoiser_quality(lang, model.denoiser(), cfg.length, preset.sampler_steps)
    rec["quality_cpu_seconds"] = time.process_time() - t0
    return rec


def oracle_record(preset: ScalePreset) -> dict:
    """The oracle's exact sample quality at the preset's step counts (its fallback after leaving the
    support is irrelevant here: SER and KL(q||p) only involve trajectories inside the support)."""
    lang = make_language(preset.language)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    return {
        "preset": preset.describe(),
        "entropy_per_token": lang.entropy(preset.length) / preset.length,
        "quality": denoiser_quality(lang, oracle, preset.length, preset.sampler_steps),
    }


def _checked(path: Path, config: dict | None) -> dict:
    rec = read_json(path)  # names the file when it is not valid strict JSON
    if config is not None and rec.get("config") != config:
        raise InvalidArgumentError(
            f"{path} holds the results of another configuration; delete it (it is recomputed from the "
            "cached model)"
        )
    return rec


def run_scale(
    preset: ScalePreset,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    shard: tuple[int, int] = (0, 1),
    log: Callable[[str], None] | None = print,
    methods: tuple[str, ...] | None = None,
) -> tuple[list[dict], dict]:
    """Train (or load) and measure every model of ``preset``; returns (per-model records, oracle record).

    With ``shard=(i, n)`` only every n-th model from the i-th is computed, and with ``methods`` only the
    models of those methods (``"ar"`` for the AR models); the records of the others are read if present.
    Results are identical whichever process computes a model, in whichever order.
    """
    out = Path(out_dir) if out_dir is not None else default_results_dir(preset.name)
    i_shard, n_shard = shard
    if not 0 <= i_shard < n_shard:
        raise InvalidArgumentError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    configs = preset.configs()
    records, t_start, done = [], time.perf_counter(), 0

    def mine(j: int, c: TrainConfig) -> bool:
        what = "ar" if c.kind == "ar" else c.method
        return j % n_shard == i_shard and (methods is None or what in methods)

    todo = [c for j, c in enumerate(configs) if mine(j, c) and not result_path(out, c).exists()]
    for j, cfg in enumerate(configs):
        path = result_path(out, cfg)
        if path.exists():
            records.append(_checked(path, cfg.to_dict()))
            continue
        if not mine(j, cfg):
            continue
        t0 = time.perf_counter()
        rec = measure_model(get_trained(cfg, cache_dir, device), preset)
        write_json(path, rec)
        records.append(rec)
        done += 1
        if log:
            el = time.perf_counter() - t_start
            eta = el / done * (len(todo) - done)
            gap = rec["final_exact"]["gap"]
            log(
                f"[{preset.name}] {done}/{len(todo)} {cfg.name()}: exact gap {gap:.5f}, "
                f"{time.perf_counter() - t0:.0f} s (train cpu {rec['train_cpu_seconds']:.0f} s); "
                f"elapsed {el / 60:.1f} min, eta {eta / 60:.1f} min"
            )
    opath = out / "oracle.json"
    if opath.exists():
        oracle = _checked(opath, None)
        if oracle.get("preset") != preset.describe():
            raise InvalidArgumentError(
                f"{opath} was computed for another preset; delete it (it is recomputed)"
            )
    else:
        oracle = oracle_record(preset)
        write_json(opath, oracle)
    return records, oracle
