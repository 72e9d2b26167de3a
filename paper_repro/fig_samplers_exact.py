"""Exact quality versus calls on enumerable languages (oracle; every sampler family).

Thin module: the computation is :mod:`theory.sampler_studies.exact_quality` (exact output laws chosen by
the sampler contract; the bound decomposition of :func:`theory.parallel_bounds.replay_deterministic`).
Data: ``samplers_exact.json`` (every cell, resumable). The bound margins are the figure
``samplers_bounds`` (:mod:`paper_repro.fig_samplers_bounds`).
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from paper_repro.samplers_common import (
    DEFAULT_DENOISERS,
    draw_log,
    family_label,
    family_order,
    family_style,
    knob_ordered,
    log_floor,
    mark_floor,
)
from sims.denoisers.oracle import sampling_fallback
from sims.exact import exact_log_joint
from sims.languages.formal import parity_language
from sims.languages.random import random_hmm, random_ngram
from sims.plot_style import CALLS_LABEL, house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import ResultStore
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from theory.sampler_studies import exact_quality_cell

DESCRIPTION = "exact KL/SER vs calls on tiny languages; EB and Fast-dLLM bound margins"

FIGURE = FigureSpec(
    name="samplers_exact",
    title="Exact output laws of every sampler family on enumerable languages, against model calls",
    caption="Dense HMM (3 states, V = 3, seed 4; L = 5), sparse bigram (V = 3, 2 successors, seed 0; L = 5) "
    "and the parity language (L = 6), oracle denoiser. For every sampler setting the exact output law p is "
    "computed by enumeration (the sampler's exact kernel, chosen by its declared capabilities); rows: "
    "KL(q || p) (data to sampler, the direction the theory bounds), KL(p || q) (infinite once the sampler "
    "leaves the support: not drawn) and the sequence error P_p(q(x) = 0). Log scale: values below 1e-12 "
    "are exact zeros up to float64 rounding and are drawn as hollow markers on the lower edge. x: mean "
    "model calls per sequence (Monte Carlo, 4000 runs per point; calls are random for adaptive rules). "
    "Lines join a family's settings in knob order where the calls are monotone in the knob; otherwise "
    "only markers are drawn.",
    shows="Context-only orders at one token per step are exact; LLaDA's sampled-token confidence is not. "
    "Adaptive rules trade calls for error at rates that depend on the language: on parity, EB pays "
    "KL = ln 2 for intermediate gamma but is exact again when it reveals all independent bits at once.",
    claims=(
        "samplers.eb_gamma_extremes",
        "samplers.eb_parity_not_monotone",
        "samplers.sampled_confidence_bias",
        "samplers.context_only_orders_exact",
    ),
    caveats=(
        "Tiny languages (V = 3, L <= 6) with the oracle only; parity uses the uniform fallback, the other "
        "two min_violation.",
        "Calls are Monte Carlo means; every metric on the y axis is exact.",
    ),
    oracle_fallback="mixed",
)

LANGUAGES = {
    "hmm_dense_V3_seed4": (
        lambda: random_hmm(3, 3, transition_concentration=0.5, emission_concentration=0.5, seed=4),
        5,
    ),
    # seed 0: 48 of 243 strings in the support (seeds 1, 3, 4 give a chain that never uses its zeros)
    "bigram_sparse_V3_seed0": (
        lambda: random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=0),
        5,
    ),
    "parity": (parity_language, 6),
}
PRESETS = {
    "quick": {"mc_runs": 4000, "languages": list(LANGUAGES)},
    "full": {"mc_runs": 20000, "languages": list(LANGUAGES)},
}


def exact_specs(L: int):
    out = []
    for k in sorted({1, 2, 3, L}):
        out.append(("ancestral (MDLM)", "K", k, lambda k=k: AncestralSampler(k)))
        out.append(("fixed-count random", "K", k, lambda k=k: FixedCountSampler(k, score="random")))
        out.append(("fixed-count max-prob", "K", k, lambda k=k: FixedCountSampler(k, score="max_prob")))
        out.append(
            ("fixed-count sampled-prob", "K", k, lambda k=k: FixedCountSampler(k, score="sampled_prob"))
        )
    for g in [0.0, 0.3, 0.7, 1.5, 3.0, math.inf]:
        out.append(("EB entropy", "gamma", g, lambda g=g: EBSampler(g)))
    for t in [0.3, 0.5, 0.7, 0.9]:
        out.append(("Fast-dLLM threshold", "tau", t, lambda t=t: FastDLLMSampler("threshold", t)))
    for k in [2, 4, 8, 16]:
        out.append(("ReMDM cap eta=0.04", "K", k, lambda k=k: ReMDMSampler(k, "cap", eta=0.04)))
        out.append(("ReMDM rescale eta=0.5", "K", k, lambda k=k: ReMDMSampler(k, "rescale", eta=0.5)))
    for n in [1, 2, 4]:
        out.append(
            (
                "random K=2 + remask-2 rounds",
                "rounds",
                n,
                lambda n=n: RemaskCorrector(FixedCountSampler(2), n, 2),
            )
        )
    return out


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    denoisers = denoisers or DEFAULT_DENOISERS
    out_dir = Path(out_dir)
    suffix = "" if preset == "quick" else f"_{preset}"
    stem = out_dir / f"samplers_exact{suffix}"
    store = ResultStore(stem.with_suffix(".json"), meta={"preset": preset, "mc_runs": cfg["mc_runs"]})
    cells = [
        (d, lang, spec)
        for d in denoisers
        for lang in cfg["languages"]
        for spec in exact_specs(LANGUAGES[lang][1])
    ]
    cache = {}
    for dname, lname, (fam, knob, val, make) in tqdm(cells, desc="samplers exact", disable=not progress):
        key = f"{dname}|{lname}|{fam}|{knob}={val:g}"
        if key in store:
            continue
        if (dname, lname) not in cache:
            lang = LANGUAGES[lname][0]()
            L = LANGUAGES[lname][1]
            cache[(dname, lname)] = (L, denoisers[dname](lname, lang), exact_log_joint(lang, L))
        L, den, lj = cache[(dname, lname)]
        cell = exact_quality_cell(make(), den, lj, L, cfg["mc_runs"], key)
        store.put(
            key,
            {
                "denoiser": dname,
                "language": lname,
                "length": L,
                "family": fam,
                "knob": knob,
                "value": val,
                **cell,
            },
        )
    store.meta["oracle_fallback"] = {n: sampling_fallback(LANGUAGES[n][0]()) for n in cfg["languages"]}
    store.flush()
    return [plot(list(store.values()), stem.with_suffix(".png")), stem.with_suffix(".json")]


METRICS = {
    "kl_data_to_sampler": r"KL$(q\,\Vert\,p)$ (nats)",
    "kl_sampler_to_data": r"KL$(p\,\Vert\,q)$ (nats)",
    "sequence_error": "sequence error",
}


def plot(rows, path: Path) -> Path:
    panels = sorted({(r["denoiser"], r["language"]) for r in rows})
    families = sorted({r["family"] for r in rows}, key=family_order)
    with house_style():
        fig, axes = new_figure(3, len(panels), width=10.0, height=8.4)
        for j, (dname, lname) in enumerate(panels):
            sub = [r for r in rows if r["denoiser"] == dname and r["language"] == lname]
            for i, metric in enumerate(METRICS):
                ax = axes[i, j]
                floor = log_floor([r["metrics"][metric] for r in sub])
                for fam in families:
                    pts, monotone = knob_ordered([r for r in sub if r["family"] == fam])
                    fin = [r for r in pts if math.isfinite(r["metrics"][metric])]
                    if not fin:
                        continue
                    st = family_style(fam)
                    draw_log(
                        ax, [r["nfe_mean"] for r in fin], [r["metrics"][metric] for r in fin], floor,
                        "-" if monotone else "none", st, family_label(fam, pts),
                    )  # fmt: skip
                ax.set_yscale("log")
                ax.set_ylim(floor / 1.5, None)
                mark_floor(ax, floor)
                if j == 0:
                    ax.set_ylabel(METRICS[metric])
            axes[0, j].set_title(
                f"{lname.replace('_seed', ' seed').replace('_', ' ')} (L={sub[0]['length']})"
            )
            axes[2, j].set_xlabel(CALLS_LABEL)
        leg = {}
        for ax in axes[0]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                leg.setdefault(lab.split(" (")[0], (h, lab))
        order = sorted(leg.values(), key=lambda hl: family_order(hl[1].rsplit(" (", 1)[0]))
        fig.legend([h for h, _ in order], [lab for _, lab in order], loc="outside lower center", ncol=3)
        label_panels(axes)
        return save_figure(fig, path)
