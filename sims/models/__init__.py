"""Small trained models: a bidirectional time-independent transformer MDM (a Denoiser), an autoregressive
transformer baseline with exact likelihood, training loops (standard / P-POTS / MIRROR / both), variance
measurements, a train-once cache of checked model files (``get_trained_denoiser``), multi-seed studies
measured exactly beside the oracle (``run_scale``), and an adapter that makes any Hugging Face masked or
diffusion LM a Denoiser (``HFDenoiser``; ``transformers`` is needed only to load a checkpoint)."""

from sims.models.cache import (
    PRESETS,
    get_trained,
    get_trained_ar,
    get_trained_denoiser,
    load_trained,
    make_config,
)
from sims.models.config import TrainConfig
from sims.models.denoiser import ARModel, ModelDenoiser
from sims.models.hf import HFDenoiser
from sims.models.objectives import METHODS
from sims.models.scale import SCALE_PRESETS, ScalePreset, resolve_preset, run_scale
from sims.models.store import ModelFileError
from sims.models.training import TrainedModel, TrainingDiverged, train
from sims.models.transformer import TransformerConfig, TransformerNet

__all__ = [
    "METHODS",
    "PRESETS",
    "SCALE_PRESETS",
    "ARModel",
    "HFDenoiser",
    "ModelDenoiser",
    "ModelFileError",
    "ScalePreset",
    "TrainConfig",
    "TrainedModel",
    "TrainingDiverged",
    "TransformerConfig",
    "TransformerNet",
    "get_trained",
    "get_trained_ar",
    "get_trained_denoiser",
    "load_trained",
    "make_config",
    "resolve_preset",
    "run_scale",
    "train",
]
