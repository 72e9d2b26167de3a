"""Conventions that move results: the oracle's fallback, the tie-break rule, float32 Gumbel-max.

Thin module: the computation is :mod:`theory.sampler_studies.conventions` and
:func:`theory.sampler_studies.monte_carlo_cell`. Data: ``samplers_conventions.json`` (strict JSON).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.lines import Line2D
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from paper_repro.samplers_common import family_style
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_sampler_law
from sims.languages.random import random_ngram
from sims.plot_style import CALLS_LABEL, house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import write_json
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from theory.sampler_studies import (
    best_of_n_law,
    exact_fallback_ser,
    float32_race_table,
    monte_carlo_cell,
    monte_carlo_fallback_ser,
)

DESCRIPTION = "how much the oracle fallback, the tie-break rule and float32 Gumbel-max move the results"

FIGURE = FigureSpec(
    name="samplers_conventions",
    title="Conventions that move results: oracle fallback, tie-breaking, float32 Gumbel-max",
    caption="(a) Exact sequence error of each sampler's output law with the oracle's two fallbacks for "
    "impossible evidence (on_impossible = min_violation and uniform), sparse bigram (V = 3, 2 successors, "
    "seed 0) at L = 5: |SER(uniform) - SER(min_violation)| on a log scale, exact zeros (below 1e-12) on the "
    "lower edge; grouped into samplers that never revisit a token, samplers that remask, and E-BoN (which "
    "selects runs by path entropies computed from the fallback's output). (b) The same by paired Monte "
    "Carlo (one seed, both fallbacks; 256 sequences) at L = 32 on ngram2 and hmm, for the samplers of "
    "samplers_calls_quality: SER with each fallback and Wilson 95% intervals. (c) Tie-breaking of the "
    "confidence orders (fixed-count max-prob and entropy scores, K = 4..32 steps, oracle, ngram2 and hmm "
    "at L = 32, 256 sequences): SER with random ties (the default) and lowest-index ties. (d) float32 "
    "Gumbel-max as in MDLM/SEDD: the exact probability that a class of weight w beats a class of weight 1 "
    "(all 2^24 float32 uniforms enumerated), divided by the exact w/(1+w).",
    shows="A sampler that never revisits a token has the same SER under both fallbacks (it made its error "
    "when it first left the support); ReMDM, the remask corrector and E-BoN do not, so their SER is a "
    "property of the fallback as much as of the sampler. Lowest-index tie-breaking makes the confidence "
    "orders reveal adjacent dependent positions together and raises their SER at few steps. float32 "
    "Gumbel-max never lets a class below about 1e-8 relative weight win.",
    claims=(
        "samplers.fallback_never_revisiting_invariant",
        "samplers.fallback_revisiting_depends",
        "samplers.ebon_perturbed_oracle",
        "samplers.tie_break_artefact",
        "samplers.float32_gumbel_bias",
    ),
    caveats=(
        "Monte Carlo panels have 256 sequences per point; the exact panel is one tiny language.",
        "The fallback matters only after a trajectory left the support; per-token error rates of any sampler "
        "depend on it (recorded in the data, token_error_rate).",
    ),
    oracle_fallback="mixed",
)

PRESETS = {
    "quick": {"length": 32, "num_samples": 256, "languages": ["ngram2", "hmm"], "tie_steps": [4, 8, 16, 32]},
    "full": {
        "length": 64,
        "num_samples": 2048,
        "languages": ["ngram2", "hmm"],
        "tie_steps": [4, 8, 16, 32, 64],
    },
}
TINY_L = 5
#: weights w of the float32 race against weight 1
RACE_WEIGHTS = [1e-3, 1e-4, 1e-5, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 1e-9]
NEVER, REMASKS, SELECTS = "never revisits", "remasks", "selects runs (E-BoN)"


def tiny_language():
    return random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=0)


def exact_cases():
    """(label, kind, law_of(denoiser), wrapper) on the tiny bigram."""
    L = TINY_L

    def law(make):
        return lambda d: exact_sampler_law(make(), d, L)

    def perturbed(d):
        return PerturbedDenoiser(d, temperature=1.5, uniform_mix=0.1)

    return [
        ("ancestral K=2", NEVER, law(lambda: AncestralSampler(2)), None),
        ("fixed-count random K=2", NEVER, law(lambda: FixedCountSampler(2)), None),
        ("fixed-count max-prob K=2", NEVER, law(lambda: FixedCountSampler(2, score="max_prob")), None),
        ("EB entropy gamma=1", NEVER, law(lambda: EBSampler(1.0)), None),
        ("Fast-dLLM threshold tau=0.7", NEVER, law(lambda: FastDLLMSampler("threshold", 0.7)), None),
        ("ReMDM cap eta=0.04 K=8", REMASKS, law(lambda: ReMDMSampler(8, "cap", eta=0.04)), None),
        ("ReMDM rescale eta=0.5 K=8", REMASKS, law(lambda: ReMDMSampler(8, "rescale", eta=0.5)), None),
        ("random K=2 + remask-2 x 2 rounds", REMASKS, law(lambda: RemaskCorrector(FixedCountSampler(2), 2, 2)), None),
        ("E-BoN N=8, random K=2", SELECTS, lambda d: best_of_n_law(FixedCountSampler(2), d, L, 8), None),
        ("E-BoN N=8, perturbed oracle, 1 token/step", SELECTS, lambda d: best_of_n_law(FixedCountSampler(L), d, L, 8), perturbed),
    ]  # fmt: skip


def monte_carlo_cases(L: int):
    """(label, kind, sampler) at length L: controls that never revisit, and the revisiting samplers."""
    return [
        ("ancestral K=8", NEVER, AncestralSampler(8)),
        ("fixed-count random K=8", NEVER, FixedCountSampler(8)),
        ("fixed-count max-prob K=8", NEVER, FixedCountSampler(8, score="max_prob")),
        ("EB entropy gamma=1", NEVER, EBSampler(1.0)),
        ("Fast-dLLM threshold tau=0.9", NEVER, FastDLLMSampler("threshold", 0.9)),
        *[(f"ReMDM cap eta=0.04 K={k}", REMASKS, ReMDMSampler(k, "cap", eta=0.04)) for k in (8, 16, 32, 64)],
        *[(f"ReMDM loop K={k}", REMASKS, ReMDMSampler(k, "loop")) for k in (20, 40, 80)],
        *[
            (
                f"random K=8 + remask-2 x {n} rounds",
                REMASKS,
                RemaskCorrector(FixedCountSampler(min(8, L)), n, 2),
            )
            for n in (2, 4, 8)
        ],
    ]


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    L, n = cfg["length"], cfg["num_samples"]
    stem = Path(out_dir) / ("samplers_conventions" + ("" if preset == "quick" else f"_{preset}"))
    tiny = tiny_language()
    data = {
        "fallback_exact": {"language": "bigram_sparse_V3_seed0", "length": TINY_L, "rows": []},
        "fallback_monte_carlo": {"length": L, "num_samples": n, "rows": []},
        "tie_break": {"length": L, "num_samples": n, "rows": []},
        "float32_race": float32_race_table(RACE_WEIGHTS),
    }
    for label, kind, law_of, wrap in tqdm(exact_cases(), desc="fallback (exact)", disable=not progress):
        data["fallback_exact"]["rows"].append(
            {"case": label, "kind": kind, **exact_fallback_ser(law_of, tiny, TINY_L, wrap)}
        )
    langs = {name: make_language(name) for name in cfg["languages"]}
    todo = [(name, case) for name in langs for case in monte_carlo_cases(L)]
    for name, (label, kind, sampler) in tqdm(todo, desc="fallback (Monte Carlo)", disable=not progress):
        key = f"fallback|{name}|L={L}|{label}"
        row = monte_carlo_fallback_ser(sampler, langs[name], L, n, key)
        data["fallback_monte_carlo"]["rows"].append({"language": name, "case": label, "kind": kind, **row})
    todo = [
        (name, s, k, t)
        for name in langs
        for s in ("max_prob", "entropy")
        for k in cfg["tie_steps"]
        for t in ("random", "lowest_index")
    ]
    for name, score, k, tie in tqdm(todo, desc="tie-break", disable=not progress):
        den = OracleDenoiser(langs[name], on_impossible=sampling_fallback(langs[name]))
        key = f"tie_break|{name}|L={L}|{score}|K={k}|{tie}"
        cell = monte_carlo_cell(FixedCountSampler(k, score=score, tie_break=tie), den, langs[name], L, n, key)
        data["tie_break"]["rows"].append(
            {"language": name, "score": score, "steps": k, "tie_break": tie, **cell}
        )
    write_json(stem.with_suffix(".json"), data)
    return [plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


KIND_STYLE = {
    NEVER: {"color": "#4d4d4d", "marker": "o"},
    REMASKS: {"color": style_for("remdm")["color"], "marker": "D"},
    SELECTS: {"color": "#1f4e79", "marker": "s"},
}
FALLBACK_STYLE = {"min_violation": {"marker": "o", "mfc": None}, "uniform": {"marker": "s", "mfc": "white"}}
ZERO = 1e-12


def plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, axes = new_figure(2, 2, width=10.0, height=9.4)
        _panel_exact(axes[0, 0], data["fallback_exact"])
        _panel_monte_carlo(axes[0, 1], data["fallback_monte_carlo"])
        _panel_ties(axes[1, 0], data["tie_break"])
        _panel_race(axes[1, 1], data["float32_race"])
        label_panels(axes)
        return save_figure(fig, path)


def _panel_exact(ax, block):
    rows = block["rows"]
    floor = 1e-18
    for i, r in enumerate(rows):
        d = abs(r["difference"])
        st = KIND_STYLE[r["kind"]]
        zero = d <= ZERO
        ax.plot(
            d if not zero else floor,
            i,
            ls="none",
            marker=st["marker"],
            mec=st["color"],
            mfc="white" if zero else st["color"],
        )
    ax.set_yticks(range(len(rows)), [r["case"].replace(", 1 token/step", "") for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ticks = [1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 1.0]
    ax.set_xticks([floor, *ticks], ["0", *(f"$10^{{{round(math.log10(t))}}}$" for t in ticks)])
    ax.set_xlim(floor / 5, 2)
    ax.axvline(floor * 20, color="0.75", lw=0.6)
    ax.set_xlabel(r"$|\mathrm{SER}_{\mathrm{uniform}} - \mathrm{SER}_{\mathrm{min\,violation}}|$ (exact)")
    ax.set_title(f"fallback, exact (L = {block['length']})")
    for kind, st in KIND_STYLE.items():
        ax.plot([], [], ls="none", label=kind, **st)
    ax.legend(loc="upper right", fontsize=8)


def _short_case(case: str) -> str:
    return (
        case.replace(" eta=0.04", "")
        .replace("fixed-count ", "")
        .replace("threshold ", "")
        .replace("random K=8 + ", "")
    )


def _panel_monte_carlo(ax, block):
    rows = block["rows"]
    labels = list(dict.fromkeys(f"{r['language']}: {_short_case(r['case'])}" for r in rows))
    for r in rows:
        y = labels.index(f"{r['language']}: {_short_case(r['case'])}")
        st = KIND_STYLE[r["kind"]]
        for f, off in (("min_violation", -0.18), ("uniform", 0.18)):
            s = r["ser"][f]
            ax.errorbar(
                s["p"], y + off, xerr=[[max(0.0, s["p"] - s["ci_low"])], [max(0.0, s["ci_high"] - s["p"])]],
                ls="none", color=st["color"], marker=FALLBACK_STYLE[f]["marker"], ms=4, capsize=1.5,
                mfc=FALLBACK_STYLE[f]["mfc"] or st["color"],
            )  # fmt: skip
    langs = list(dict.fromkeys(lab.split(":")[0] for lab in labels))
    for lang in langs[1:]:
        ax.axhline(min(i for i, lab in enumerate(labels) if lab.startswith(lang)) - 0.5, color="0.6", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("sequence error rate (Wilson 95%)")
    ax.set_title(f"fallback, paired MC (L = {block['length']})")
    for f, st in FALLBACK_STYLE.items():
        ax.plot([], [], ls="none", color="0.3", marker=st["marker"], mfc=st["mfc"] or "0.3", label=f)
    ax.legend(loc="lower right", fontsize=8)


def _panel_ties(ax, block):
    rows = block["rows"]
    scores = {
        "max_prob": family_style("fixed-count max-prob"),
        "entropy": family_style("fixed-count entropy"),
    }
    lines = {"ngram2": "-", "hmm": "--"}
    for name, score in sorted({(r["language"], r["score"]) for r in rows}):
        st = scores[score]
        for tie, mfc in (("random", st["color"]), ("lowest_index", "white")):
            pts = sorted(
                (r for r in rows if r["language"] == name and r["score"] == score and r["tie_break"] == tie),
                key=lambda r: r["steps"],
            )
            ser = [r["quality"]["sequence_error"] for r in pts]
            ax.errorbar(
                [r["nfe_mean"] for r in pts], [s["p"] for s in ser],
                yerr=[[max(0.0, s["p"] - s["ci_low"]) for s in ser], [max(0.0, s["ci_high"] - s["p"]) for s in ser]],
                color=st["color"], marker=st["marker"], mfc=mfc, ls=lines.get(name, ":"), lw=1, capsize=1.5,
            )  # fmt: skip
    proxies = [
        Line2D(
            [],
            [],
            color=scores["max_prob"]["color"],
            marker=scores["max_prob"]["marker"],
            ls="none",
            label="max-prob",
        ),
        Line2D(
            [],
            [],
            color=scores["entropy"]["color"],
            marker=scores["entropy"]["marker"],
            ls="none",
            label="entropy",
        ),
        Line2D([], [], color="0.3", marker="o", ls="none", label="random ties"),
        Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", label="lowest-index ties"),
        *[Line2D([], [], color="0.3", ls=ls, label=lang) for lang, ls in lines.items()],
    ]
    ax.legend(handles=proxies, loc="center left", fontsize=8, ncol=2)
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(CALLS_LABEL)
    ax.set_ylabel("sequence error rate")
    ax.set_title(f"tie-breaking (L = {block['length']})")


def _panel_race(ax, rows):
    w = [r["weight"] for r in rows]
    ratio = [r["ratio"] for r in rows]
    floor = 1e-4
    ax.plot(w, [v if v > 0 else math.nan for v in ratio], "o-", color="k")
    zeros = [a for a, v in zip(w, ratio) if v <= 0]
    if zeros:
        ax.plot(zeros, [floor] * len(zeros), "o", mfc="white", mec="k")
    ax.axhline(1.0, color="0.5", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 2)
    ax.set_yticks([floor, 1e-3, 1e-2, 1e-1, 1.0], ["0", "$10^{-3}$", "$10^{-2}$", "$10^{-1}$", "$1$"])
    ax.axhline(floor * 3, color="0.75", lw=0.6)
    ax.set_xlabel("weight $w$ against weight 1")
    ax.set_ylabel(r"$P_{\mathrm{float32}}(\mathrm{win}) / (w/(1+w))$")
    ax.set_title("float32 Gumbel-max race (exact)")
