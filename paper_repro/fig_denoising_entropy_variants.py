"""Denoising-entropy E-BoN (Chen et al., arXiv 2512.21336) with three path statistics: the sum of state
entropies (suite default), their mean over steps, and the trapezoid time integral of a public
reimplementation; exact output laws for the oracle and tempered oracles.

Thin module: the computation is :mod:`theory.path_entropy_variants`.
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_ngram
from sims.plot_style import house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.results import write_json
from sims.sampling.fixed_count import FixedCountSampler
from theory.path_entropy_variants import PATH_VARIANTS, ebon_variant_rows

DESCRIPTION = "denoising-entropy E-BoN: sum / mean / time-integral path entropy, exact, oracle and tempered"

FIGURE = FigureSpec(
    name="denoising_entropy_variants",
    title="Denoising-entropy E-BoN: does the path statistic matter?",
    caption="Sparse random bigram (V = 3, 2 successors per token, Dirichlet(0.3), seed 0) at L = 5; base "
    "sampler: random-order fixed-count, K = 3 steps (LLaDA counts, linear schedule); E-BoN keeps the lowest "
    "path statistic of N runs (exact law). Statistics: sum of the state entropies (solid), their mean over "
    "the evaluated steps (dashed), trapezoid integral over the uniform time grid t_k = 1 - k/K (dotted). "
    "(a) KL(q || p_N) in nats and (b) sequence error against N, for the oracle and the oracle at "
    "temperature 1.5 (the full preset adds 0.5, 0.8 and 1.25, and L = 6).",
    shows="On a fixed number of steps with a uniform time grid the three statistics order the runs "
    "identically, so E-BoN's law does not depend on the choice; whether E-BoN helps at all is the separate "
    "question of samplers_entropy_selection.",
    claims=("denoising_entropy.path_variants_same_selection",),
    caveats=(
        "The public reimplementation's softmax-of-exponent resampling weights concern E-SMC and are not "
        "covered; the paper's own path statistic was not read (paper_statements.md §8 D5).",
        "No trained model here.",
    ),
    oracle_fallback="uniform",
)

PRESETS = {
    "quick": {"length": 5, "steps": 3, "ns": [1, 2, 4, 8], "temperatures": [1.5]},
    "full": {"length": 6, "steps": 3, "ns": [1, 2, 4, 8, 16], "temperatures": [0.5, 0.8, 1.25, 1.5]},
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    L = cfg["length"]
    lang = random_ngram(2, 3, concentration=0.3, support_size=2, seed=0)
    lj = exact_log_joint(lang, L)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    models = {"oracle": oracle}
    models |= {f"oracle at T={t:g}": PerturbedDenoiser(oracle, temperature=t) for t in cfg["temperatures"]}
    base = FixedCountSampler(cfg["steps"], score="random")
    data = {
        "language": "sparse random bigram V=3 seed=0",
        "length": L,
        "steps": cfg["steps"],
        "variants": list(PATH_VARIANTS),
        "models": {name: ebon_variant_rows(base, m, lj, L, cfg["ns"]) for name, m in models.items()},
    }
    stem = Path(out_dir) / ("denoising_entropy_variants" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


LINES = {"sum": "-", "mean": "--", "time_integral": ":"}


def _plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, axes = new_figure(1, 2, width=7.6, height=3.4)
        axes = list(axes[0])
        for name, rows in data["models"].items():
            st = style_for(name if name == "oracle" else f"tempered {name}")
            for v in data["variants"]:
                rr = [r for r in rows if r["variant"] == v]
                label = name if v == "sum" else None
                for ax, key in zip(axes, ("kl_data_to_sampler", "sequence_error")):
                    ax.plot(
                        [r["N"] for r in rr],
                        [r[key] for r in rr],
                        LINES[v],
                        marker=st["marker"],
                        color=st["color"],
                        label=label,
                    )
        for v in data["variants"]:
            axes[1].plot([], [], LINES[v], color="0.4", label=v.replace("_", " "))
        axes[0].set_ylabel(r"KL$(q\,\Vert\,p_N)$ (nats)")
        axes[1].set_ylabel("sequence error")
        axes[1].set_yscale("log")
        for ax in axes:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("runs $N$")
        axes[1].legend(fontsize=8)
        label_panels(axes)
        return save_figure(fig, path)
