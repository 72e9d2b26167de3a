"""Energy paper (Chen et al. arXiv 2509.13866) Thm. 3.1-3.2 constants on exact n-token languages, by brute force
over all (d+1)^n states: E_k = C_k e, E_c = n 2^(n-1) e, E_g = n e. The paper states that C_1 = E_k/E_c depends
only on n and d; brute force gives C_k = sum of m(z) over the states z of positive probability, which equals
n (d+1)^(n-1) only for full support (App. D.1 sums over all states).

Thin module: the computation is :func:`theory.energy.study.support_rows`. Energy definitions are
reconstructions (:mod:`theory.energy`). Data: ``energy_support.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from paper_repro.ledger import FigureSpec
from sims.languages import NGramLanguage, random_hmm, random_ngram
from sims.plot_style import house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import write_json
from theory.energy.study import support_rows

DESCRIPTION = "energy constants E_k/E_c on exact n-token languages with and without zeros in their support"

FIGURE = FigureSpec(
    name="energy_support",
    title="Energy constants on exact n-token languages: C_1 depends on the support",
    caption="C_1 = E_k/E_c (brute force over all (d+1)^n states) for bigram, trigram and HMM languages with and "
    "without zeros in their support, n tokens, vocabulary d = 2 and 3; dashed: the full-support value "
    "((d+1)/2)^(n-1). Energies in EP time with the reconstructed definitions of theory/energy.",
    shows="With full support C_1 takes the value the paper's constants give; with zeros in the support C_1 is "
    "smaller as soon as some partially masked state has probability zero, because E_k counts only states of "
    "positive probability.",
    claims=(
        "energy.c1_depends_only_on_n_d",
        "energy.conditional_constant",
        "energy.kinetic_support_count",
        "energy.geodesic_constant",
        "energy.c2_depends_only_on_n",
    ),
    caveats=(
        "The paper's display equations are unreadable: the energies are reconstructions chosen to reproduce "
        "the constants its prose states (theory/energy).",
        "Ratios are evaluated at alpha in {0.15, 0.5, 0.85}; they are constant in alpha to rounding.",
    ),
)

PRESETS = {
    "quick": {"lengths": {2: [1, 2, 3, 4], 3: [1, 2, 3]}},
    "full": {"lengths": {2: [1, 2, 3, 4, 5], 3: [1, 2, 3, 4]}},
}


def _bigram(initial, transition):
    return NGramLanguage(
        2,
        len(initial),
        torch.tensor(initial, dtype=torch.float64),
        torch.tensor(transition, dtype=torch.float64),
    )


def languages():
    """name -> (language, vocabulary size); fixed tables and seeds."""
    return {
        "dense bigram (d=2)": (random_ngram(2, 2, concentration=1.0, seed=1), 2),
        "token 0 banned at position 0": (_bigram([0.0, 1.0], [[0.3, 0.7], [0.4, 0.6]]), 2),
        "transition 0->0 banned": (_bigram([0.5, 0.5], [[0.0, 1.0], [0.4, 0.6]]), 2),
        "sparse HMM (d=2)": (random_hmm(3, 2, transition_support=2, emission_support=1, seed=0), 2),
        "dense bigram (d=3)": (random_ngram(2, 3, concentration=1.0, seed=1), 3),
        "sparse bigram (d=3, 2 successors)": (
            random_ngram(2, 3, concentration=0.5, support_size=2, seed=0),
            3,
        ),
        "sparse trigram (d=3, 1 successor)": (
            random_ngram(3, 3, concentration=0.5, support_size=1, seed=0),
            3,
        ),
    }


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    langs = languages()
    data = {
        "rows": support_rows(langs, cfg["lengths"], alphas=(0.15, 0.5, 0.85)),
        "energy_definitions": "reconstructed (theory/energy)",
        "identity": "E_k/e = sum_{z: p(z)>0} m(z); E_c/e = n 2^(n-1); E_g/e = n",
    }
    stem = Path(out_dir) / ("energy_support" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    names = {d: [nm for nm, (_, dd) in langs.items() if dd == d] for d in (2, 3)}
    return [_plot(data["rows"], names, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(rows: list[dict], names: dict, cfg: dict, path: Path) -> Path:
    # one colour per language of this figure (they appear in no other figure)
    colors = {nm: f"C{i}" for i, nm in enumerate(names[2] + names[3])}
    with house_style():
        fig, axes = new_figure(1, 2, width=10.0, height=4.6)
        for ax, d in zip(axes[0], (2, 3)):
            ns = cfg["lengths"][d]
            width = 0.8 / len(names[d])
            for i, nm in enumerate(names[d]):
                vals = [
                    next((r["C_1_brute_force"] for r in rows if r["language"] == nm and r["n"] == n), np.nan)
                    for n in ns
                ]
                ax.bar(
                    np.arange(len(ns)) + (i - (len(names[d]) - 1) / 2) * width,
                    vals,
                    width,
                    color=colors[nm],
                    label=nm,
                )
            for k, n in enumerate(ns):
                ax.plot([k - 0.45, k + 0.45], [((d + 1) / 2) ** (n - 1)] * 2, color="k", ls="--", lw=1)
            ax.set_xticks(range(len(ns)), [f"$n$ = {n}" for n in ns])
            ax.set_ylabel("$C_1 = E_k/E_c$ (brute force)")
            ax.set_title(f"vocabulary $d$ = {d}; dashed: $((d+1)/2)^{{n-1}}$")
            ax.legend(loc="upper left", fontsize=9)
        label_panels(axes)
        return save_figure(fig, path)
