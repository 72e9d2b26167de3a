"""The configuration of one training run (:class:`TrainConfig`): everything that determines it, validated.

A config is hashed into the model cache's file name (:meth:`TrainConfig.digest`) and stored in every cache
file, so a file can be checked against the run it claims to hold. Settings that cannot train are refused
here, before any work: zero steps, a zero, negative or non-finite learning rate, ``grad_clip <= 0`` (set
``None`` to disable clipping), a negative or non-finite weight decay, schedule fractions outside [0, 1).

Fields added after cache version 2 (:data:`ADDED_FIELDS`) appear in :meth:`TrainConfig.to_dict` only when
they differ from their default, so the records and hashes of the older configs stay unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from sims.models.objectives import ROWS_PER_EXAMPLE, check_method
from sims.validation import check_positive_int

KINDS = ("mdm", "ar")
#: Fields added after cache version 2, with their defaults (omitted from records while at the default).
ADDED_FIELDS = {"exact_every": 0}


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (hashed into the cache key).

    ``exact_every``: every that many steps (and at the end) record the exact NELBO (MDM) or NLL (AR) gap
    by enumeration in ``history["exact_curve"]`` (0: off; small enumerable lengths only).
    """

    language: str
    length: int
    kind: str = "mdm"
    method: str = "standard"
    seed: int = 0
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    steps: int = 400
    batch_rows: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1
    grad_clip: float | None = 1.0
    eps: float = 1e-3
    ppots_grid: int = 32
    ppots_num_x: int = 16
    ppots_num_masks: int = 8
    ppots_uniform_mix: float = 0.05
    ppots_loss_max: float | None = 10.0
    ppots_refit_every: int = 0
    eval_every: int = 50
    num_val: int = 256
    measure_every: int = 0
    measure_examples: int = 32
    exact_eval: bool = False
    exact_every: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        check_method(self.method)
        if self.kind == "ar" and self.method != "standard":
            raise ValueError("the AR baseline has no MDM estimator: use method='standard'")
        for name in (
            "length",
            "steps",
            "batch_rows",
            "eval_every",
            "num_val",
            "ppots_grid",
            "ppots_num_x",
            "ppots_num_masks",
            "measure_examples",
        ):
            check_positive_int(getattr(self, name), name)
        for name in ("seed", "ppots_refit_every", "measure_every", "exact_every"):
            check_positive_int(getattr(self, name), name, minimum=0)
        if self.batch_rows % ROWS_PER_EXAMPLE[self.method]:
            raise ValueError(
                f"batch_rows {self.batch_rows} must be divisible by the rows per example of {self.method!r}"
            )
        if not (0 < _finite(self.eps, "eps") < 1):
            raise ValueError(f"eps must lie in (0, 1), got {self.eps}")
        if not _finite(self.lr, "lr") > 0:
            raise ValueError(
                f"lr must be > 0 (a zero learning rate leaves the network untrained), got {self.lr}"
            )
        if self.grad_clip is not None and not _finite(self.grad_clip, "grad_clip") > 0:
            raise ValueError(
                f"grad_clip must be > 0 or None (no clipping), got {self.grad_clip}: clipping the gradient "
                "norm to 0 leaves the network untrained"
            )
        if _finite(self.weight_decay, "weight_decay") < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= _finite(self.warmup_frac, "warmup_frac") < 1:
            raise ValueError(f"warmup_frac must lie in [0, 1), got {self.warmup_frac}")
        if not 0 <= _finite(self.min_lr_frac, "min_lr_frac") <= 1:
            raise ValueError(f"min_lr_frac must lie in [0, 1], got {self.min_lr_frac}")
        if not 0 <= _finite(self.ppots_uniform_mix, "ppots_uniform_mix") <= 1:
            raise ValueError(f"ppots_uniform_mix must lie in [0, 1], got {self.ppots_uniform_mix}")

    def to_dict(self) -> dict:
        out = asdict(self)
        for name, default in ADDED_FIELDS.items():
            if out[name] == default:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, record: dict) -> TrainConfig:
        return cls(**record)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def name(self) -> str:
        what = "ar" if self.kind == "ar" else self.method
        return f"{self.language}_L{self.length}_{what}_s{self.seed}_{self.digest()}"
