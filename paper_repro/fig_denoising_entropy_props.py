"""Denoising entropy (Chen et al., arXiv 2512.21336), Propositions 1-2 as exact identities on every
partial state of a small language, for the oracle and for tempered oracles.

Thin module: the computation is :mod:`theory.denoising_entropy`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.ledger import FigureSpec
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_ngram
from sims.plot_style import house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.results import write_json
from theory.denoising_entropy import by_mask_size, state_entropy_table

DESCRIPTION = (
    "denoising-entropy Props 1-2: |M| h_DE vs joint masked entropy (gap = TC) and vs the training loss"
)

FIGURE = FigureSpec(
    name="denoising_entropy_props",
    title="Denoising entropy: Propositions 1-2 exactly, for the oracle and tempered oracles",
    caption="Sparse random bigram (V = 3, 2 successors per token, Dirichlet(0.3), seed 0) at L = 5; every "
    "partial state z of positive probability (all (V+1)^L patterns) enumerated; entropies in nats (the "
    "official code uses bits). (a) per state: the oracle's |M| h_DE(z) = sum of the masked positions' "
    "entropies against the joint entropy H(x^M | z) of the masked tokens (Prop. 1; the gap is the "
    "conditional total correlation). (b) averages over data and a uniformly random mask of k tokens: "
    "E|M| h_DE, E H(x^M | z) and their gap E TC. (c) Prop. 2 for models: expected masked loss under the "
    "data law (the training loss at level k) and the model's own |M| h_DE, for the oracle and the oracle "
    "at temperatures 0.5 and 1.5.",
    shows="For the oracle both propositions are exact identities (Prop. 1 as subadditivity with gap TC, "
    "Prop. 2 as equality with the training loss); for a model neither holds: its state entropy is not "
    "its loss, and an over-confident model's state entropy drops below the joint entropy of the masked "
    "tokens.",
    claims=(
        "denoising_entropy.prop1_subadditivity",
        "denoising_entropy.prop2_oracle_loss",
        "denoising_entropy.prop2_needs_oracle",
        "denoising_entropy.prop1_needs_oracle",
    ),
    caveats=(
        "The propositions' texts were not readable; these are our exact forms of what the reviews describe "
        "(paper_statements.md §8 D5).",
        "Samplers built on denoising entropy (path entropy, E-BoN, E-SMC) are not part of this figure.",
    ),
    oracle_fallback="uniform",
)

PRESETS = {
    "quick": {"vocab": 3, "length": 5, "seed": 0, "temperatures": [0.5, 1.5]},
    "full": {"vocab": 3, "length": 6, "seed": 0, "temperatures": [0.5, 0.8, 1.25, 1.5]},
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    V, L = cfg["vocab"], cfg["length"]
    lang = random_ngram(2, V, concentration=0.3, support_size=2, seed=cfg["seed"])
    lj = exact_log_joint(lang, L)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    models = {"oracle": oracle}
    models |= {f"oracle at T={t:g}": PerturbedDenoiser(oracle, temperature=t) for t in cfg["temperatures"]}
    data = {"language": f"sparse random bigram V={V} seed={cfg['seed']}", "length": L, "models": {}}
    for name, model in models.items():
        tab = state_entropy_table(lj, V, L, model)
        masked = tab.num_masked > 0
        entry = {
            "by_mask_size": by_mask_size(tab),
            "num_states": int(tab.prob.size),
            "max_abs_gap_minus_tc": float(
                np.abs(tab.sum_entropy - tab.joint_entropy - tab.total_correlation).max()
            ),
            "min_gap": float((tab.sum_entropy - tab.joint_entropy).min()),
            "max_abs_oracle_loss_minus_sum_entropy": float(np.abs(tab.oracle_loss - tab.sum_entropy).max()),
            "max_abs_model_loss_minus_model_sum_entropy": float(
                np.abs(tab.model_loss - tab.model_sum_entropy)[masked].max()
            ),
            "fraction_states_model_entropy_below_joint": float(
                (tab.model_sum_entropy < tab.joint_entropy - 1e-9)[masked].mean()
            ),
            "min_model_loss_minus_oracle_entropy": float((tab.model_loss - tab.sum_entropy)[masked].min()),
        }
        if name == "oracle":
            entry["states"] = {
                "num_masked": tab.num_masked.tolist(),
                "joint_entropy": tab.joint_entropy.tolist(),
                "sum_entropy": tab.sum_entropy.tolist(),
            }
        data["models"][name] = entry
    stem = Path(out_dir) / ("denoising_entropy_props" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, axes = new_figure(1, 3, width=9.6, height=3.6)
        axes = axes[0]
        ax = axes[0]
        st = data["models"]["oracle"]["states"]
        m = np.array(st["num_masked"])
        sc = ax.scatter(st["joint_entropy"], st["sum_entropy"], c=m, s=8, cmap="viridis")
        top = max(st["sum_entropy"])
        ax.plot([0, top], [0, top], color="k", lw=0.8)
        ax.set_xlabel(r"$H(x^M\mid z)$ (nats)")
        ax.set_ylabel(r"$|M|\,h_{DE}(z)$ (nats)")
        fig.colorbar(sc, ax=ax, label="$|M|$")
        ax = axes[1]
        bk = data["models"]["oracle"]["by_mask_size"]
        ax.plot(bk["k"], bk["sum_entropy"], "o-", color="k", label=r"$E\,|M|h_{DE}$")
        ax.plot(bk["k"], bk["joint_entropy"], "s--", color="0.5", label=r"$E\,H(x^M\mid z)$")
        ax.plot(bk["k"], bk["total_correlation"], "^:", color="#c44e52", label="gap = $E\\,TC$")
        ax.set_xlabel("masked tokens $k$")
        ax.set_ylabel("nats")
        ax.legend(loc="upper left")
        ax = axes[2]
        for name, md in data["models"].items():
            s = style_for(name if name == "oracle" else f"tempered {name}")
            b = md["by_mask_size"]
            ax.plot(b["k"], b["model_loss"], "-", marker=s["marker"], color=s["color"], label=name)
            ax.plot(b["k"], b["model_sum_entropy"], ":", marker=s["marker"], color=s["color"])
        ax.set_xlabel("masked tokens $k$")
        ax.set_ylabel(r"loss (solid), $|M|h_{DE}$ (dotted)")
        ax.legend(loc="upper left", fontsize=9)
        label_panels(axes)
        return save_figure(fig, path)
