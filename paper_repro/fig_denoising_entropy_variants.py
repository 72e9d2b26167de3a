"""Denoising-entropy E-BoN (Chen et al., arXiv 2512.21336) with three path statistics: the sum of state
entropies (suite default), their mean over steps, and the trapezoid time integral of a public
reimplementation; exact output laws for the oracle, tempered oracles and a trained MDM of the shared
training suite (evaluated at a shorter length through :class:`sims.denoisers.prefix.PrefixDenoiser`).

Thin module: the computation is :mod:`theory.path_entropy_variants`.
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.denoisers.prefix import PrefixDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_ngram
from sims.models.cache import get_trained
from sims.models.experiments import TRAINING_SUITES
from sims.plot_style import house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.registry import make_language
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
    "temperature 1.5 (the full preset adds 0.5, 0.8 and 1.25, and L = 6). (c, d) the same with the trained "
    "MDM of the training suite (ngram2, standard estimator, seed 0; trained at its suite length and "
    "evaluated at L = 3 by padding with masks, i.e. its own prefix marginal) beside the oracle of ngram2 at "
    "L = 3; KL against the exact law of ngram2 at L = 3. K = 3 steps at L = 3 reveal one token per step, so "
    "the oracle's sequence error is 0 there (off the log axis of d).",
    shows="On a fixed number of steps with a uniform time grid the three statistics order the runs "
    "identically, so E-BoN's law does not depend on the choice, for the trained model too; whether E-BoN "
    "helps at all (lower sequence error, KL that can rise again at large N) is read in the same panels.",
    claims=("denoising_entropy.path_variants_same_selection", "denoising_entropy.variants_trained_model"),
    caveats=(
        "The public reimplementation's softmax-of-exponent resampling weights concern E-SMC and are not "
        "covered; the paper's own path statistic was not read (paper_statements.md §8 D5).",
        "One small trained model (the quick training suite's), evaluated at a shorter length than it was "
        "trained at (its prefix marginal); exact given the model, no Monte Carlo.",
    ),
    oracle_fallback="uniform",
    depends_on=("training_curves",),
)

#: The trained model is loaded from the cache that training_curves fills.
DEPENDS_ON = ("training_curves",)

PRESETS = {
    "quick": {"length": 5, "steps": 3, "ns": [1, 2, 4, 8], "temperatures": [1.5], "trained_length": 3},
    "full": {
        "length": 6,
        "steps": 3,
        "ns": [1, 2, 4, 8, 16],
        "temperatures": [0.5, 0.8, 1.25, 1.5],
        "trained_length": 3,
    },
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
        "trained": _trained(preset, cfg, base, progress),
    }
    stem = Path(out_dir) / ("denoising_entropy_variants" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _trained(preset: str, cfg: dict, base, progress: bool) -> dict:
    """E-BoN rows of the oracle and the trained MDM (standard, seed 0) of the training suite, at a short
    length through the prefix denoiser."""
    suite = TRAINING_SUITES[preset]
    trained_cfg = next(
        c for c in suite.configs() if c.kind == "mdm" and c.method == "standard" and c.seed == 0
    )
    lang = make_language(suite.language)
    L = cfg["trained_length"]
    lj = exact_log_joint(lang, L)
    models = {
        "oracle": OracleDenoiser(lang, on_impossible="uniform"),
        "trained MDM (standard, seed 0)": PrefixDenoiser(
            get_trained(trained_cfg, progress=progress).denoiser(), suite.length
        ),
    }
    return {
        "language": suite.language,
        "length": L,
        "trained_length": suite.length,
        "steps": cfg["steps"],
        "models": {name: ebon_variant_rows(base, m, lj, L, cfg["ns"]) for name, m in models.items()},
    }


LINES = {"sum": "-", "mean": "--", "time_integral": ":"}
STYLE_KEYS = {"trained MDM (standard, seed 0)": "MDM standard"}


def _plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, grid = new_figure(2, 2, width=7.6, height=6.4)
        for axes, block in ((list(grid[0]), data), (list(grid[1]), data["trained"])):
            for name, rows in block["models"].items():
                st = style_for(STYLE_KEYS.get(name, name if name == "oracle" else f"tempered {name}"))
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
            axes[1].legend(fontsize=7)
        grid[1][0].set_title(f"{data['trained']['language']}, L = {data['trained']['length']}", fontsize=9)
        label_panels([*grid[0], *grid[1]])
        return save_figure(fig, path)
