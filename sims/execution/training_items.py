"""Training runs as work items, keyed by their full config (seeds included), trained once into the cache.

``run_items(training_items(configs), executor)`` trains every missing model of ``configs`` in parallel
into the shared cache of ``sims.models.cache`` (``results/models/`` or ``MDM_SUITE_MODEL_DIR``); whatever
then calls ``get_trained`` with one of these configs loads it instead of training it. A run is fully
determined by its :class:`~sims.models.training.TrainConfig`: its network initialisation, data and masks
come from generators seeded by ``config.seed``, which is part of the key (``kind|name``, the name holding
the seed and a hash of the whole config), so a model is the same bytes on any worker. The cache file is
written atomically, so two workers training the same config at once cannot corrupt it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sims.execution.items import WorkItem
from sims.models.cache import get_trained, model_path
from sims.models.training import TrainConfig


def train_model(
    config: TrainConfig, cache_dir: str | None = None, device: str = "auto", retrain: bool = False
) -> dict:
    """Train ``config`` into the cache unless it is there (or ``retrain``); return where it is and how
    long its training took."""
    model = get_trained(config, cache_dir, device, retrain=retrain)
    return {
        "path": str(model_path(config, cache_dir)),
        "name": config.name(),
        "train_seconds": model.train_seconds,
    }


def training_key(config: TrainConfig) -> str:
    return f"train|{config.kind}|{config.name()}"


def training_items(
    configs: Iterable[TrainConfig], cache_dir: str | None = None, device: str = "auto", retrain: bool = False
) -> list[WorkItem]:
    """One item per distinct config (duplicates dropped), in the given order."""
    items: dict[str, WorkItem] = {}
    for cfg in configs:
        key = training_key(cfg)
        items.setdefault(
            key,
            WorkItem(
                key,
                train_model,
                {"config": cfg, "cache_dir": cache_dir, "device": device, "retrain": retrain},
                identity=f"{key}|cache={cache_dir}|retrain={retrain}",
            ),
        )
    return list(items.values())
