"""Li & Cai (arXiv 2505.21400) Remark 1, revealing the lowest-conditional-entropy tokens first, as an exact
experiment against Theorem 1's random sets and its bound, with the exact oracle of small languages.

Thin module: the computation is :mod:`theory.li_cai_remark1` (:func:`remark1_for_language`).
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.languages.random import random_ngram
from sims.plot_style import STEPS_LABEL, house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import write_json
from theory.li_cai_remark1 import REMARK1_PROVENANCE, remark1_for_language

DESCRIPTION = "Li & Cai Remark 1: entropy-first order vs random order and Thm 1, exact, oracle"

FIGURE = FigureSpec(
    name="li_cai_remark1",
    title="Li & Cai Remark 1: lowest-entropy-first order against random sets and Theorem 1",
    caption="Exact KL(q || p) in nats of the oracle sampler with balanced (LLaDA-count) schedules of K steps. "
    "Entropy-first (Remark 1): at each step reveal the s_t masked positions whose oracle marginal has the "
    "lowest entropy, ties to the lowest index (black) or to a random priority permutation drawn once per "
    "run (orange: mean over the drawn permutations, bars 3 standard errors); its law by teacher-forced "
    "replay on every support sequence. Random order: Theorem 1's uniformly random sets, E_M KL by the "
    "area formula (grey). Theorem 1's bound (2^ceil(log2 s_max) - 1)/L sum_i I(X_i; X_-i) (dashed). "
    "Languages: 3x3 DFS mazes (12 edge bits, 88 mazes, exact law over DFS runs) and random bigrams "
    "(seed 0) with V = 3, Dirichlet(0.5) at L = 6 and V = 4, Dirichlet(0.5) at L = 5; the full preset adds "
    "a V = 3, Dirichlet(0.3) bigram at L = 6, two-sided Dyck-2 at L = 6 and 4x4 Sudoku (L = 16, uniform "
    "on 288 grids).",
    shows="Revealing the most certain tokens first is not uniformly better than random sets: it wins on "
    "some languages and schedules and loses on others, and with lowest-index ties its KL can exceed "
    "Theorem 1's bound, which is proved for random sets only.",
    claims=("li_cai.remark1_entropy_first_beats_random", "li_cai.remark1_within_theorem1"),
    caveats=(
        "Remark 1 is known only from two third-party notes (paper_statements.md §2 L9); the paper's exact "
        "wording, e.g. whether the entropies are recomputed every step, was not read.",
        "Exact oracle (eps_train = 0); the random-tie curve is a Monte Carlo mean over tie priorities, each "
        "term exact.",
    ),
    oracle_fallback="raise",
)

PRESETS = {
    "quick": {
        "languages": {"maze3": [2, 3, 4, 6, 8], "bigram_v3": [2, 3, 4, 5], "bigram_v4": [2, 3, 4]},
        "num_orders": 8,
        "seed": 0,
    },
    "full": {
        "languages": {
            "maze3": [2, 3, 4, 6, 8, 10],
            "bigram_v3": [2, 3, 4, 5],
            "bigram_v4": [2, 3, 4],
            "bigram_v3_sparse": [2, 3, 4, 5],
            "dyck2sided_k2": [2, 3, 4, 5],
            "sudoku4": [2, 4, 8, 12],
        },
        "num_orders": 16,
        "seed": 0,
    },
}

#: length of each language in the study (the explicit-support languages at their word length)
LENGTHS = {
    "maze3": 12,
    "bigram_v3": 6,
    "bigram_v4": 5,
    "bigram_v3_sparse": 6,
    "dyck2sided_k2": 6,
    "sudoku4": 16,
}
#: the random bigrams of the study: (V, Dirichlet concentration), seed 0
BIGRAMS = {"bigram_v3": (3, 0.5), "bigram_v4": (4, 0.5), "bigram_v3_sparse": (3, 0.3)}


def _language(key: str):
    if key in BIGRAMS:
        V, c = BIGRAMS[key]
        return random_ngram(2, V, concentration=c, seed=0)
    return make_language(key)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    data = {"provenance": REMARK1_PROVENANCE, "num_orders": cfg["num_orders"], "languages": {}}
    for key, steps in cfg["languages"].items():
        data["languages"][key] = remark1_for_language(
            _language(key), LENGTHS[key], steps, cfg["num_orders"], cfg["seed"]
        )
    stem = Path(out_dir) / ("li_cai_remark1" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    langs = data["languages"]
    with house_style():
        ncols = min(3, len(langs))
        nrows = -(-len(langs) // ncols)
        fig, axes = new_figure(nrows, ncols, width=min(9.6, 3.3 * ncols), height=3.3 * nrows)
        axes = list(axes.flat)
        for ax in axes[len(langs) :]:
            ax.set_visible(False)
        axes = axes[: len(langs)]
        for ax, (key, d) in zip(axes, langs.items()):
            rows = d["rows"]
            K = [r["steps"] for r in rows]
            ax.plot(
                K, [r["entropy_first"] for r in rows], "o-", color="k", label="entropy-first (index ties)"
            )
            ax.errorbar(
                K,
                [r["entropy_first_random_ties"] for r in rows],
                yerr=[3 * r["entropy_first_random_ties_se"] for r in rows],
                fmt="s:",
                color="#d95f02",
                capsize=2,
                label="entropy-first (random ties)",
            )
            ax.plot(K, [r["random_order"] for r in rows], "^-", color="0.55", label="random order (Thm 1)")
            ax.plot(K, [r["theorem1"] for r in rows], "--", color="0.3", label="Thm 1 bound")
            ax.set_xticks(K)
            ax.set_xlabel(STEPS_LABEL)
            ax.set_ylabel("KL (nats)")
            ax.set_title(f"{key}, $L$ = {d['length']}")
        axes[-1].legend(fontsize=8, loc="upper right")
        label_panels(axes)
        return save_figure(fig, path)
