"""Small trained models: a bidirectional time-independent transformer MDM (a Denoiser), an autoregressive
transformer baseline with exact likelihood, training loops (standard / P-POTS / MIRROR / both), variance
measurements and a train-once cache (``get_trained_denoiser``)."""

from sims.models.cache import (
    PRESETS,
    get_trained,
    get_trained_ar,
    get_trained_denoiser,
    load_trained,
    make_config,
)
from sims.models.denoiser import ARModel, ModelDenoiser
from sims.models.objectives import METHODS
from sims.models.training import TrainConfig, TrainedModel, train
from sims.models.transformer import TransformerConfig, TransformerNet

__all__ = [
    "METHODS",
    "PRESETS",
    "ARModel",
    "ModelDenoiser",
    "TrainConfig",
    "TrainedModel",
    "TransformerConfig",
    "TransformerNet",
    "get_trained",
    "get_trained_ar",
    "get_trained_denoiser",
    "load_trained",
    "make_config",
    "train",
]
