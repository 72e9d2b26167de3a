"""Quality versus model calls for every sampler family (Monte Carlo, L = 32), oracle and trained MDM.

Thin module: each cell is :func:`theory.sampler_studies.monte_carlo_cell`; the sampler families are
:func:`paper_repro.samplers_common.sampler_families`. Data: ``samplers_calls_quality.json`` (every cell,
resumable) and ``.csv`` beside the PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.lines import Line2D
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from paper_repro.samplers_common import (
    draw_missing,
    family_label,
    family_order,
    family_style,
    knob_ordered,
    oracle_and_trained,
    sampler_families,
)
from sims.denoisers.oracle import sampling_fallback
from sims.plot_style import CALLS_LABEL, MIN_PERPLEXITY_SAMPLES, house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from theory.sampler_studies import monte_carlo_cell

DESCRIPTION = "SER and gen. perplexity vs denoiser calls: EB, Fast-dLLM, ReMDM, corrector, baselines"

FIGURE = FigureSpec(
    name="samplers_calls_quality",
    title="Sequence error and generative perplexity against model calls, for every sampler family",
    caption="Languages ngram2 and hmm of the registry at L = 32; 256 sequences per point (Monte Carlo, seed "
    "from the cell key). Each point is one setting of a family: MDLM ancestral, fixed-count random and "
    "max-prob orders (K), EB-sampler with the entropy proxy (gamma, nats), Fast-dLLM threshold (tau) and "
    "factor (f) rules, ReMDM cap (eta = 0.04) and loop (official defaults) with K steps, and random-order "
    "decoding in K = 8 steps followed by remask-and-resample rounds of 2 positions. x: mean model calls per "
    "sequence (a call only when the state changed). Top row: sequence error rate P(q(x) = 0) with Wilson "
    "95% intervals. Bottom row: generative perplexity exp(E_p[-log q]/L) of the in-support samples (log "
    "scale, t-intervals mapped through exp); a point resting on fewer than 20 in-support samples is not "
    "drawn: a hollow marker on the lower edge gives its position and the count. Dashed: the optimal "
    "exp(H/L). Columns: oracle and the suite's trained transformer MDM (quick model preset, 2000 steps). "
    "Lines join a family's points in knob order where the calls are monotone in the knob.",
    shows="With the exact oracle, random-order decoding has the lowest sequence error at every call budget; "
    "the confidence-ordered rules (max-prob, EB, Fast-dLLM) and ReMDM's remasking do not beat it at equal "
    "calls. The trained transformer keeps a floor of sequence errors that more calls do not remove.",
    claims=(
        "samplers.random_order_dominates",
        "samplers.remdm_vs_random_order",
        "samplers.trained_model_error_floor",
    ),
    caveats=(
        "Monte Carlo with 256 sequences per point; SER intervals are about +-0.06 at SER 0.5.",
        "Revisiting samplers (ReMDM, remask rounds) depend on the oracle's fallback after a trajectory left "
        "the support; this figure uses min_violation (see samplers_conventions for the uniform fallback).",
        "Two stationary languages and one length; the trained model is small (quick preset).",
    ),
    oracle_fallback="min_violation",
    depends_on=("training_curves",),
)

PRESETS = {
    "quick": {"languages": ["ngram2", "hmm"], "length": 32, "num_samples": 256, "batch_size": 256},
    "full": {"languages": ["ngram2", "ngram3", "hmm"], "length": 64, "num_samples": 2048, "batch_size": 512},
}

CSV_COLUMNS = [
    "denoiser",
    "language",
    "length",
    "family",
    "knob",
    "value",
    "nfe_mean",
    "quality.sequence_error.p",
    "quality.gen_perplexity_in_support",
]


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    L = cfg["length"]
    denoisers = denoisers or oracle_and_trained(L, preset)
    stem = Path(out_dir) / ("samplers_calls_quality" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={"preset": preset, "num_samples": cfg["num_samples"], "length": L},
    )
    specs = sampler_families(L, preset)
    cells = [(d, lang, s) for d in denoisers for lang in cfg["languages"] for s in specs]
    langs, dens = {}, {}
    for dname, lname, spec in tqdm(cells, desc="samplers calls/quality", disable=not progress):
        key = f"{dname}|{lname}|L={L}|{spec.label}"
        if key in store:
            continue
        if lname not in langs:
            langs[lname] = make_language(lname)
        if (dname, lname) not in dens:
            dens[(dname, lname)] = denoisers[dname](lname, langs[lname])
        cell = monte_carlo_cell(
            spec.make(L), dens[(dname, lname)], langs[lname], L, cfg["num_samples"], key, cfg["batch_size"]
        )
        store.put(
            key,
            {
                "denoiser": dname,
                "language": lname,
                "length": L,
                "family": spec.family,
                "knob": spec.knob,
                "value": spec.value,
                **cell,
            },
        )
    store.meta["oracle_fallback"] = {
        lname: sampling_fallback(make_language(lname)) for lname in cfg["languages"]
    }
    store.flush()
    store.write_csv(stem.with_suffix(".csv"), columns=CSV_COLUMNS)
    optimal = {lname: exact_optimal_perplexity(make_language(lname), L) for lname in cfg["languages"]}
    fig = plot(list(store.values()), stem.with_suffix(".png"), L, optimal)
    return [fig, stem.with_suffix(".json"), stem.with_suffix(".csv")]


def exact_optimal_perplexity(language, length: int) -> float | None:
    """exp(H/L) where the language's entropy is exact (None for an HMM beyond enumeration)."""
    try:
        return language.optimal_perplexity(length)
    except NotImplementedError:
        return None


def perplexity_point(quality: dict) -> tuple[float, float, float, int]:
    """(perplexity, lower, upper, in-support count) of a cell; NaNs below the minimum count."""
    nll = quality["gen_nll_per_token_in_support"] or {}
    n = int(nll.get("n", 0))
    if n < MIN_PERPLEXITY_SAMPLES or not math.isfinite(nll.get("mean", math.nan)):
        return math.nan, math.nan, math.nan, n
    return math.exp(nll["mean"]), math.exp(nll["ci_low"]), math.exp(nll["ci_high"]), n


def plot(rows: list[dict], path: Path, length: int, optimal: dict) -> Path:
    panels = sorted({(r["denoiser"], r["language"]) for r in rows}, key=lambda p: (p[0] != "oracle", p))
    families = sorted({r["family"] for r in rows}, key=family_order)
    handles = {}
    with house_style():
        fig, axes = new_figure(2, len(panels), width=10.0, height=6.6, sharex=True)
        for j, (dname, lname) in enumerate(panels):
            ax_ser, ax_ppl = axes[0, j], axes[1, j]
            sub = [r for r in rows if r["denoiser"] == dname and r["language"] == lname]
            missing = []
            for fam in families:
                pts, monotone = knob_ordered([r for r in sub if r["family"] == fam])
                if not pts:
                    continue
                st = family_style(fam)
                ls = "-" if monotone else "none"
                x = [r["nfe_mean"] for r in pts]
                ser = [r["quality"]["sequence_error"] for r in pts]
                p = [s["p"] for s in ser]
                yerr = [
                    [max(0.0, a - s["ci_low"]) for a, s in zip(p, ser)],
                    [max(0.0, s["ci_high"] - a) for a, s in zip(p, ser)],
                ]
                h = ax_ser.errorbar(x, p, yerr=yerr, ls=ls, capsize=2, lw=1, ms=4, **st)
                handles.setdefault(fam, (h, family_label(fam, pts)))
                ppl = [perplexity_point(r["quality"]) for r in pts]
                ys = [v[0] for v in ppl]
                err = [
                    [max(0.0, a - v[1]) for a, v in zip(ys, ppl)],
                    [max(0.0, v[2] - a) for a, v in zip(ys, ppl)],
                ]
                ax_ppl.errorbar(x, ys, yerr=err, ls=ls, capsize=2, lw=1, ms=4, **st)
                missing += [(xi, n, st) for xi, (v, _, _, n) in zip(x, ppl) if math.isnan(v)]
            draw_missing(ax_ppl, missing)
            if optimal.get(lname) is not None:
                ax_ppl.axhline(optimal[lname], color="0.3", ls="--", lw=0.8)
            ax_ser.set_title(f"{lname}, {dname.split(' (')[0]}")
            ax_ser.set_ylim(-0.03, 1.03)
            for ax in (ax_ser, ax_ppl):
                ax.set_xscale("log", base=2)
            ax_ppl.set_xlabel(CALLS_LABEL)
        axes[0, 0].set_ylabel("sequence error rate")
        axes[1, 0].set_ylabel("gen. perplexity (in support)")
        extra = [plt_line("0.3", "--", "optimal $\\exp(H/L)$")]
        fig.legend(
            [h for h, _ in handles.values()] + [e[0] for e in extra],
            [lab for _, lab in handles.values()] + [e[1] for e in extra],
            loc="outside lower center",
            ncol=3,
        )
        label_panels(axes)
        return save_figure(fig, path)


def plt_line(color: str, ls: str, label: str):
    """A legend-only line handle."""
    return Line2D([], [], color=color, ls=ls, lw=0.8), label
