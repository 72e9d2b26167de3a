"""Named training experiments shared by ``benchmarks/train_models.py`` and the ``paper_repro`` training
figures, so that every consumer refers to the same (cached) models.

* :data:`TRAINING_SUITES`: methods x seeds (+ the AR baseline) on a language short enough for exact
  enumeration (exact final NELBO and exact A/B/C on each model's own conditionals).
* :data:`QUALITY_SUITES`: longer sequences for perplexity / sequence error versus sampling steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from sims.estimators import mask_loss_table, sample_variance_law
from sims.models.cache import get_trained, make_config
from sims.models.objectives import histogram_from_curve, mask_scheme, uses_proposal
from sims.models.training import TrainedModel
from sims.registry import make_language
from sims.validation import InvalidArgumentError


@dataclass(frozen=True)
class TrainingSuite:
    language: str
    length: int
    preset: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    ar: bool = True
    overrides: dict = field(default_factory=dict)

    def configs(self):
        for method in self.methods:
            for seed in self.seeds:
                yield make_config(
                    self.language, self.length, self.preset, seed, method, "mdm", **self.overrides
                )
        if self.ar:
            for seed in self.seeds:
                ar_over = {k: v for k, v in self.overrides.items() if not k.startswith("ppots")}
                yield make_config(self.language, self.length, self.preset, seed, "standard", "ar", **ar_over)


CORE_METHODS = ("standard", "ppots", "mirror", "ppots_mirror")

TRAINING_SUITES: dict[str, TrainingSuite] = {
    "quick": TrainingSuite("ngram2", 5, "quick", CORE_METHODS, (0, 1, 2), True, {"exact_eval": True}),
    "full": TrainingSuite(
        "ngram2", 6, "full", (*CORE_METHODS, "pair"), (0, 1, 2, 3, 4), True, {"exact_eval": True}
    ),
}


@dataclass(frozen=True)
class QualitySuite:
    language: str
    length: int
    preset: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    samplers: tuple[str, ...]
    steps: tuple[int, ...]
    num_samples: int
    overrides: dict = field(default_factory=dict)

    def configs(self):
        for method in self.methods:
            for seed in self.seeds:
                yield make_config(
                    self.language, self.length, self.preset, seed, method, "mdm", **self.overrides
                )

    def ar_configs(self):
        for seed in self.seeds:
            yield make_config(
                self.language, self.length, self.preset, seed, "standard", "ar", **self.overrides
            )


QUALITY_SUITES: dict[str, QualitySuite] = {
    "quick": QualitySuite(
        "ngram2",
        16,
        "quick",
        ("standard", "ppots_mirror"),
        (0,),
        ("ancestral", "fixed_random", "fixed_max_prob"),
        (1, 2, 4, 8, 16),
        256,
        {"measure_every": 0},
    ),
    "full": QualitySuite(
        "ngram2",
        32,
        "full",
        CORE_METHODS,
        (0, 1, 2),
        ("ancestral", "fixed_random", "fixed_max_prob", "fixed_entropy"),
        (1, 2, 4, 8, 16, 32),
        2048,
        {"measure_every": 0},
    ),
}


def run_configs(configs, device: str | None = "auto", progress: bool = False) -> list[TrainedModel]:
    """Load (or train once and cache) every config, in order."""
    configs = list(configs)
    it = configs
    if progress:
        it = tqdm(configs, desc="models")
    return [get_trained(c, device=device, progress=False) for c in it]


def summary_row(model: TrainedModel) -> dict:
    """One flat record per trained model (final metrics, timing, last variance measurement)."""
    cfg, h = model.config, model.history
    final = h.get("final", {})
    row = {
        "kind": cfg.kind,
        "method": "ar" if cfg.kind == "ar" else cfg.method,
        "seed": cfg.seed,
        "language": cfg.language,
        "length": cfg.length,
        "steps": cfg.steps,
        "train_seconds": model.train_seconds,
        "train_cpu_seconds": model.train_cpu_seconds,
        "total_seconds": model.total_seconds,
        "device": model.device,
        "val_value": final.get("value"),
        "val_se": final.get("se"),
        "val_gap": final.get("gap"),
        "val_gap_se": final.get("gap_se"),
        "entropy_per_token": final.get("entropy_per_token"),
        "num_parameters": model.net.num_parameters(),
    }
    ex = final.get("exact")
    if ex:
        row["exact_value"] = ex.get("nelbo", ex.get("nll"))
        row["exact_gap"] = ex["gap"]
    if h.get("measure"):
        last = h["measure"][-1]
        row.update(
            {
                f"measured_{k}": last[k]
                for k in (
                    "loss_total",
                    "loss_A",
                    "loss_B",
                    "loss_C",
                    "grad_total",
                    "grad_A",
                    "grad_B",
                    "grad_C",
                    "grad_total_per_row",
                )
            }
        )
    return row


def own_measurement_law(model: TrainedModel) -> dict | None:
    r"""Exact law of the model's last loss-variance measurement (:mod:`sims.estimators.sample_variance`).

    Same estimator as training and as the exact "own" A + B + C: the method's mask scheme (MIRROR: the
    pair averaged, one example) and rate law (P-POTS: the histogram proposal rebuilt from the recorded
    pre-estimate curve, weight 1/p(u)); ``num_examples`` of the last nested measurement. Returns
    ``{"variance", "se", "fourth_central", "kurtosis", ...}`` (``se``: exact s.d. of the n-example sample
    variance), or None for AR models and runs without a measurement. Raises if the rebuilt estimator's
    variance differs from the recorded exact A + B + C (a stale or foreign model file).
    """
    cfg, h = model.config, model.history
    exact = (h.get("final", {}).get("exact") or {}).get("decomposition")
    if cfg.kind == "ar" or not h.get("measure") or not exact:
        return None
    sampler = None
    if uses_proposal(cfg.method):
        p = h["proposal"][-1]
        sampler = histogram_from_curve(np.asarray(p["grid"]), np.asarray(p["w"]), cfg.ppots_uniform_mix)
    table = mask_loss_table(make_language(cfg.language), model.denoiser(), cfg.length)
    law = sample_variance_law(
        table, cfg.eps, sampler, mask_scheme(cfg.method), h["measure"][-1]["num_examples"]
    )
    own = exact["own"]
    if abs(law.variance - own["total"]) > 1e-8 * own["total"]:
        raise InvalidArgumentError(
            f"{cfg.name()}: rebuilt estimator variance {law.variance} differs from the recorded exact "
            f"A + B + C {own['total']}; delete the model file to retrain"
        )
    return law.to_dict()
