"""The decoding-policy bench's leaderboard: every registered policy against random order at equal NFE.

Thin module: the computation is :func:`sims.bench.run_bench` (cells on the exact oracle, the leaderboard
of :mod:`sims.bench.leaderboard`) and the drawing :func:`sims.bench.figures.leaderboard_figure`. Data:
``bench_leaderboard.json`` (strict JSON): the configuration, the leaderboard (curves, matched-NFE table,
ranking, verdicts against random order, Pareto fronts) and one row per run with every metric
(:func:`sims.bench.report.run_row`). The bench's cell files live in a temporary folder: the figure is
recomputed whole (``mdm-suite bench`` is the resumable route).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.bench import BASELINE, PANEL, BenchConfig, Tier, run_bench
from sims.bench.figures import leaderboard_figure
from sims.bench.report import run_row
from sims.execution import InlineExecutor
from sims.results import write_json

DESCRIPTION = "every registered decoding policy against random order at equal NFE, exactly (bench exact tier)"

FIGURE = FigureSpec(
    name="bench_leaderboard",
    title="Decoding-policy bench: which policies beat random order at equal model calls",
    caption="Exact tier of mdm-suite bench: every registered sampler on the exact oracle (on_impossible = "
    "min_violation, or uniform where that is undefined) at each language's enumerable length, run at NFE "
    "budgets 1, 2, 4, ..., L (step-count policies at K adjusted to the budget; adaptive policies at their "
    "quick knob grid, placed at their measured NFE). Quality is the exact KL(q||p)/L of the policy's exact "
    "output law (its transition kernel, or the replay likelihood for deterministic selection). (a) The "
    "verdict of every policy against fixed-count random order read at the policy's own NFE (interpolated "
    "in log2 NFE, never extrapolated): + beats, - loses, ± mixed over budgets, = no difference (KL within "
    "1e-9), blank not comparable (no exact law, or no run inside the baseline's NFE range). (b) Mean rank "
    "at the matched budgets (1 = lowest KL).",
    shows="Under the exact oracle the loss of a parallel decoding policy is its own, so whether it beats "
    "random order at equal model calls is decided exactly. At the exact tier's few tokens many policies "
    "coincide with random order, schedules that reveal few tokens first (Halton's arccos counts) lose at few "
    "calls, and one token per call is exact for every order.",
    claims=(
        "bench.one_token_per_call_exact",
        "bench.dilated_orders_beat_random_markov",
        "bench.confidence_orders_vs_random",
        "bench.ssd_lossless",
        "bench.p2_beats_random",
        "bench.informed_corrector_beats_random",
    ),
    caveats=(
        "The quick preset runs the sparse bigram ngram2 only; the full preset runs the whole panel.",
        "Exact tier only: L is a few tokens, so the budgets are few and matched NFE interpolates between "
        "them; the Monte Carlo tiers (L = 32, 256, 1024) are in mdm-suite bench, not in this figure.",
        "Policies whose exact law is too large to enumerate (remasking, particles) or randomised without a "
        "kernel have no exact verdict (blank cells; listed in the data, no_exact_law).",
        "Adaptive policies without a knob grid are one point each, at their registered setting.",
    ),
    oracle_fallback="mixed",
)

PRESETS = {
    # quick: one language, so that the module stays under a minute (its exact kernels dominate: about 40 s)
    "quick": {"languages": ("ngram2",), "samples": 32},
    "full": {"languages": PANEL, "samples": 256},
}


def config(preset: str) -> BenchConfig:
    cfg = PRESETS[preset]
    tier = Tier(0, (), cfg["samples"], data_direction=False)
    return BenchConfig(languages=tuple(cfg["languages"]), tiers=(tier,), knobs="quick", preset=preset)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = config(preset)
    stem = Path(out_dir) / ("bench_leaderboard" + ("" if preset == "quick" else f"_{preset}"))
    with tempfile.TemporaryDirectory() as work:
        result = run_bench(cfg, work, InlineExecutor(), progress=progress, resume=False, figures=False)
    board = result.leaderboard
    data = {
        "preset": preset,
        "baseline": BASELINE,
        "languages": list(cfg.languages),
        "config": cfg.to_dict(),
        "leaderboard": board,
        "runs": [run_row(r) for r in result.records],
    }
    write_json(stem.with_suffix(".json"), data)
    return [
        leaderboard_figure(board, list(cfg.languages), stem.with_suffix(".png")),
        stem.with_suffix(".json"),
    ]
