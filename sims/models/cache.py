"""Presets and a train-once cache of trained models under ``results/models/`` (gitignored).

``get_trained_denoiser("ngram2", 16, "quick", seed=0)`` trains the model the first time (minutes on
CPU for ``quick``) and saves ``<name>.pt`` (state dict, config, history, timings, checksum, provenance:
:mod:`sims.models.store`); later calls, from any part of the suite, load it. The file name contains a
hash of the full :class:`TrainConfig`, so changing any setting trains a new model instead of silently
reusing a stale one; on load the configuration stored in the file must equal the one asked for and the
weights must match their checksum, else the error names the file (delete it to retrain). Writes are
atomic (temporary file + ``os.replace``). A run that diverges or leaves the weights untouched raises
and caches nothing.

Presets (model size and schedule; override any field with keyword arguments):

========= ======================================== ====== ========== =========================
preset    network (d_model, layers, heads, d_ff)   steps  batch rows  use
========= ======================================== ====== ========== =========================
test      16, 1, 2, 32                             30     32         unit tests (seconds)
quick     64, 2, 4, 128                            300    64         paper_repro quick (CPU)
full      128, 3, 4, 256                           3000   128        paper_repro full (GPU ok)
========= ======================================== ====== ========== =========================
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import torch

from sims.models.config import TrainConfig
from sims.models.denoiser import ARModel, ModelDenoiser
from sims.models.store import ModelFileError, read_model_file, write_model_file
from sims.models.training import TrainedModel, resolve_device, train
from sims.models.transformer import TransformerConfig, TransformerNet
from sims.registry import make_language

#: Bumped whenever training code changes what a run computes or records, or the file format (part of the
#: file name). 3: files carry a checksum, their configuration and provenance (sims/models/store.py); the
#: networks are bit-identical to version 2.
CACHE_VERSION = 3

PRESETS: dict[str, dict] = {
    "test": {
        "d_model": 16,
        "n_layers": 1,
        "n_heads": 2,
        "d_ff": 32,
        "steps": 30,
        "batch_rows": 32,
        "lr": 3e-3,
        "eval_every": 15,
        "num_val": 64,
        "ppots_grid": 8,
        "ppots_num_x": 4,
        "ppots_num_masks": 4,
    },
    "quick": {
        "d_model": 64,
        "n_layers": 2,
        "n_heads": 4,
        "d_ff": 128,
        "steps": 300,
        "batch_rows": 64,
        "lr": 3e-3,
        "eval_every": 100,
        "num_val": 1024,
        "measure_every": 150,
        "measure_examples": 128,
    },
    "full": {
        "d_model": 128,
        "n_layers": 3,
        "n_heads": 4,
        "d_ff": 256,
        "steps": 3000,
        "batch_rows": 128,
        "lr": 1e-3,
        "eval_every": 100,
        "num_val": 2048,
        "measure_every": 250,
        "measure_examples": 128,
        "ppots_grid": 70,
        "ppots_num_x": 15,
        "ppots_num_masks": 15,
    },
}


def default_cache_dir() -> Path:
    """``<repository root>/results/models`` (override with the environment variable MDM_SUITE_MODEL_DIR)."""
    env = os.environ.get("MDM_SUITE_MODEL_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "results" / "models"


def make_config(
    language_name: str,
    length: int,
    preset: str = "quick",
    seed: int = 0,
    method: str = "standard",
    kind: str = "mdm",
    **overrides,
) -> TrainConfig:
    """A :class:`TrainConfig` from a preset plus overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    bad = set(overrides) - known
    if bad:
        raise ValueError(f"unknown training settings {sorted(bad)}")
    return TrainConfig(
        language=language_name,
        length=length,
        kind=kind,
        method=method,
        seed=seed,
        **{**PRESETS[preset], **overrides},
    )


def _save(model: TrainedModel, path: Path) -> None:
    write_model_file(
        path,
        {
            "state_dict": model.net.state_dict(),
            "config": model.config.to_dict(),
            "architecture": model.net.cfg.to_dict(),
            "history": model.history,
            "train_seconds": model.train_seconds,
            "total_seconds": model.total_seconds,
            "device": model.device,
            "train_cpu_seconds": model.train_cpu_seconds,
            "provenance": {"cache_version": CACHE_VERSION, "config_digest": model.config.digest()},
        },
    )


def load_trained(
    path: str | Path, device: str | torch.device | None = "auto", expected: TrainConfig | None = None
) -> TrainedModel:
    """Load a model file, checked (:func:`sims.models.store.read_model_file`); ``expected``: the config the
    caller asked for (a file holding another model raises, naming the file)."""
    payload = read_model_file(path, None if expected is None else expected.to_dict())
    try:
        arch = TransformerConfig(**payload["architecture"])
        net = TransformerNet(arch)
        net.load_state_dict(payload["state_dict"])
        config = TrainConfig.from_dict(payload["config"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"model file {path}: its architecture, weights or configuration do not fit this code ({exc}); "
            "delete it and the model is retrained on next use"
        ) from exc
    net.to(resolve_device(device)).eval()
    return TrainedModel(
        net,
        config,
        payload["history"],
        payload.get("train_seconds", 0.0),
        payload.get("total_seconds", 0.0),
        payload.get("device", "cpu"),
        payload.get("train_cpu_seconds"),
    )


def model_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Cache file of ``config``: kind, readable name, config hash and :data:`CACHE_VERSION`."""
    return Path(cache_dir or default_cache_dir()) / f"{config.kind}_{config.name()}_v{CACHE_VERSION}.pt"


def get_trained(
    config: TrainConfig,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    progress: bool = False,
    retrain: bool = False,
) -> TrainedModel:
    """Load the model for ``config`` from the cache, training and saving it first if needed."""
    path = model_path(config, cache_dir)
    if path.exists() and not retrain:
        return load_trained(path, device, expected=config)
    make_language(config.language).check_length(config.length)
    model = train(config, device=device, progress=progress)
    _save(model, path)
    return model


def get_trained_denoiser(
    language_name: str,
    length: int,
    preset: str = "quick",
    seed: int = 0,
    method: str = "standard",
    *,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    progress: bool = False,
    **overrides,
) -> ModelDenoiser:
    """A trained bidirectional MDM as a :class:`~sims.denoisers.base.Denoiser` (trained once, then cached)."""
    cfg = make_config(language_name, length, preset, seed, method, "mdm", **overrides)
    return get_trained(cfg, cache_dir, device, progress).denoiser()


def get_trained_ar(
    language_name: str,
    length: int,
    preset: str = "quick",
    seed: int = 0,
    *,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    progress: bool = False,
    **overrides,
) -> ARModel:
    """The autoregressive baseline of the same preset (trained once, then cached)."""
    cfg = make_config(language_name, length, preset, seed, "standard", "ar", **overrides)
    return get_trained(cfg, cache_dir, device, progress).ar()
