"""Core figure: generative perplexity and sequence error rate versus steps with the oracle denoiser.

n-gram (``ngram2``) and HMM (``hmm``) languages at two lengths, MDLM ancestral (Bernoulli) and fixed-count
random-order samplers. Data: ``core_quality_vs_steps.json`` / ``.csv`` beside the PNG.
"""

from __future__ import annotations

from pathlib import Path

from sims.plotting import plot_quality_vs_steps
from sims.sweep import SweepConfig, load_rows, run_sweep

DESCRIPTION = "gen. perplexity and SER vs steps (oracle; ngram2 + hmm; two lengths)"

PRESETS = {
    "quick": SweepConfig(
        languages=["ngram2", "hmm"],
        lengths=[32, 128],
        samplers=["ancestral", "fixed_random"],
        steps=[1, 2, 4, 8, 16, 32, 64, 128],
        num_samples=128,
        batch_size=128,
    ),
    "full": SweepConfig(
        languages=["ngram2", "ngram3", "hmm"],
        lengths=[64, 256],
        samplers=["ancestral", "fixed_random", "fixed_max_prob"],
        steps=[1, 2, 4, 8, 16, 32, 64, 128, 256],
        num_samples=1024,
        batch_size=256,
    ),
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("core_quality_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = run_sweep(cfg, stem.with_suffix(".json"), progress=progress)
    store.write_csv(stem.with_suffix(".csv"))
    fig = plot_quality_vs_steps(
        load_rows(store),
        stem.with_suffix(".png"),
        title="Oracle denoiser: quality vs number of steps (top: exact zeros at one token per step omitted)",
    )
    return [fig, stem.with_suffix(".json"), stem.with_suffix(".csv")]
