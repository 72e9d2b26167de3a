"""Both perplexity directions: the theory's KL(q || p) stays finite while the generative direction
E_p[-log q] is infinite as soon as SER > 0 on a language with exact zeros (Feng et al. arXiv 2502.09622,
Li & Cai arXiv 2505.21400: which direction their metrics use).

Thin module: the cells are :func:`theory.feng_study.direction_record` (sampled) and
:func:`theory.feng_study.tiny_direction_record` (exact laws). Data: ``feng_both_directions.json`` (cells
``mc|<language>|<rule>|K`` seeded from their key, ``tiny|<rule>|K``).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.transforms import blended_transform_factory
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.exact import exact_log_joint
from sims.languages.hard import sparse_successor_chain
from sims.plot_style import (
    CALLS_LABEL,
    MIN_PERPLEXITY_SAMPLES,
    house_style,
    label_panels,
    new_figure,
    note,
    perplexity_or_missing,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.feng_study import direction_record, rule_sampler, tiny_direction_record

DESCRIPTION = "both perplexity directions: KL(q||p) finite, generative perplexity infinite once SER > 0"

TINY_L = 6
RULES = ("fixed", "bernoulli")
#: Heights (axes fraction) of the rows of infinity signs in panel (b), above the curves.
ROW_Y = {"fixed": 0.95, "bernoulli": 0.82}

FIGURE = FigureSpec(
    name="feng_both_directions",
    title="Both perplexity directions: KL(q || p) stays finite, generative perplexity diverges once SER > 0",
    caption="Oracle sampler with fixed counts (LLaDA rule, random positions) and MDLM ancestral (Bernoulli, "
    "linear schedule) against the expected number of model calls. Solid: the data direction E_M KL(q || p_M)/L "
    "(exact, area formula); dotted squares: the generative direction (E_p[-log q] - H(q))/L by sampling (95% "
    "t-intervals; it can be negative). (a) dense bigram ngram2_dense (no zeros); (b) sparse bigram ngram2 (4 "
    "of 8 successors): where some sample left the support the generative NLL is +inf (infinity signs at the "
    "top; under them the number of in-support samples when it is below "
    f"{MIN_PERPLEXITY_SAMPLES}), the in-support generative excess is drawn hollow for reference when at least "
    f"{MIN_PERPLEXITY_SAMPLES} samples are in the support; (c) SER of (b) with Wilson 95% intervals; (d) exact "
    f"laws on a tiny sparse chain (V = 3, two successors, L = {TINY_L}): the mixture's KL(q || p_bar)/L, the "
    "per-order E_M KL/L and SER; the note counts the laws with KL(p_bar || q) = +inf.",
    shows="The direction the theory bounds (data under the sampler) is finite at every K; generative "
    "perplexity is infinite at every K with SER > 0, so it cannot be the metric of a bound that holds at "
    "finitely many steps on languages with zeros. The mixture's KL is below the per-order average, as "
    "convexity requires.",
    claims=(
        "feng.generative_direction_diverges",
        "li_cai.kl_direction_data_first",
        "feng.mixture_below_per_order",
    ),
    caveats=(
        "Which direction Feng et al.'s TER uses could not be read (paper_statements.md F3); Li & Cai's data-first "
        "direction is stated in two secondary notes.",
        "128 samples per cell in the quick preset: SER = 0 in a cell means no failure among them.",
    ),
    oracle_fallback="uniform",
)

PRESETS = {
    "quick": {
        "length": 64,
        "steps": [1, 2, 4, 8, 16, 32, 64],
        "samples": 128,
        "tiny_steps": [1, 2, 3, 4, 6],
        "seed": 0,
    },
    "full": {
        "length": 256,
        "steps": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "samples": 1024,
        "tiny_steps": [1, 2, 3, 4, 5, 6],
        "seed": 0,
    },
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    L = cfg["length"]
    stem = Path(out_dir) / ("feng_both_directions" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "data_direction": "E_M KL(q || p_M)/L exact (profile formula); upper-bounds KL(q || p_bar)/L",
            "generative_direction": "(E_{x~p}[-log q(x)] - H(q))/L by sampling; +inf if any sample has q(x) = 0",
            "samplers": {r: rule_sampler(r, 2).conventions() for r in RULES},
            "denoiser": "oracle, uniform fallback after impossible evidence",
            "calls": "expected number of denoiser calls (theory.feng.expected_calls); mean_nfe: measured",
            "seed": cfg["seed"],
        },
    )
    cells = [
        (name, rule, K)
        for name in ("ngram2_dense", "ngram2")
        for rule in RULES
        for K in cfg["steps"]
        if K <= L
    ]
    todo = [c for c in cells if "mc|" + "|".join(map(str, c)) not in store]
    langs, profs = {}, {}
    for name, rule, K in tqdm(todo, desc="direction cells", leave=False, disable=not progress):
        key = "mc|" + "|".join(map(str, (name, rule, K)))
        if name not in langs:
            langs[name] = make_language(name)
            profs[name] = ngram_profile(langs[name], L)
        g = make_generator(cell_seed(key, cfg["seed"]))
        store.put(
            key, {"language": name, **direction_record(langs[name], profs[name], rule, K, cfg["samples"], g)}
        )
    tiny = sparse_successor_chain(3, offsets=(1, 2))
    log_q, tprof = exact_log_joint(tiny, TINY_L), ngram_profile(tiny, TINY_L)
    for rule in RULES:
        for K in cfg["tiny_steps"]:
            if f"tiny|{rule}|{K}" not in store:
                store.put(f"tiny|{rule}|{K}", tiny_direction_record(tiny, log_q, tprof, rule, K))
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _rows(store, name, rule):
    return sorted(
        (r for r in store.values() if r.get("language") == name and r["rule"] == rule),
        key=lambda r: r["steps"],
    )


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    L = cfg["length"]
    with house_style():
        fig, axes = new_figure(2, 2, width=10.0, height=7.6)
        (ax_a, ax_b), (ax_c, ax_d) = axes
        for ax, name in ((ax_a, "ngram2_dense"), (ax_b, "ngram2")):
            top = blended_transform_factory(ax.transData, ax.transAxes)
            for rule in RULES:
                c = style_for(rule)["color"]
                sub = _rows(store, name, rule)
                ax.plot([r["calls"] for r in sub], [r["data_excess_exact"] for r in sub], color=c, marker="o")
                fin = [r for r in sub if math.isfinite(r["gen_excess"])]
                if fin:
                    ax.errorbar(
                        [r["calls"] for r in fin],
                        [r["gen_excess"] for r in fin],
                        yerr=[
                            [r["gen_excess"] - r["gen_excess_ci"][0] for r in fin],
                            [r["gen_excess_ci"][1] - r["gen_excess"] for r in fin],
                        ],
                        color=c,
                        ls=":",
                        marker="s",
                        capsize=2,
                    )
                inf = [r for r in sub if not math.isfinite(r["gen_excess"])]
                if inf:
                    ax.scatter(
                        [r["calls"] for r in inf],
                        [ROW_Y[rule]] * len(inf),
                        transform=top,
                        marker="$\\infty$",
                        s=70,
                        color=c,
                        clip_on=False,
                    )
                    ref = [
                        (
                            r["calls"],
                            perplexity_or_missing(r["gen_excess_in_support"], r["in_support_samples"]),
                        )
                        for r in inf
                    ]
                    ax.scatter(
                        [x for x, _ in ref],
                        [y for _, y in ref],
                        facecolors="white",
                        edgecolors=c,
                        marker="s",
                        s=16,
                        zorder=3,
                    )
                    for r in inf:  # in-support count under each infinity sign where it is too small to plot
                        if r["in_support_samples"] < MIN_PERPLEXITY_SAMPLES:
                            ax.text(
                                r["calls"],
                                ROW_Y[rule] - 0.04,
                                str(r["in_support_samples"]),
                                transform=top,
                                ha="center",
                                va="top",
                                fontsize=9,
                                color=c,
                            )
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_xlabel(CALLS_LABEL)
            ax.set_ylabel("excess nats per token")
        ax_a.set_title(f"dense bigram, $L$ = {L}")
        ax_b.set_title(f"sparse bigram, $L$ = {L}")
        ax_b.set_ylim(
            top=1.45 * max(r["data_excess_exact"] for r in store.values() if r.get("language") == "ngram2")
        )
        for rule in RULES:
            c = style_for(rule)["color"]
            sub = _rows(store, "ngram2", rule)
            ax_c.errorbar(
                [r["calls"] for r in sub],
                [r["ser"] for r in sub],
                yerr=[[r["ser"] - r["ser_ci"][0] for r in sub], [r["ser_ci"][1] - r["ser"] for r in sub]],
                color=c,
                marker="^",
                capsize=2,
            )
        ax_c.set_xscale("log", base=2)
        ax_c.set_ylim(-0.03, 1.03)
        ax_c.set_xlabel(CALLS_LABEL)
        ax_c.set_ylabel("sequence error rate")
        ax_c.set_title("SER of (b) (Wilson 95%)")
        for rule in RULES:
            c = style_for(rule)["color"]
            sub = sorted(
                (r for r in store.values() if "kl_data_to_sampler" in r and r["rule"] == rule),
                key=lambda r: r["steps"],
            )
            x = [r["calls"] for r in sub]
            ax_d.plot(x, [r["kl_data_to_sampler"] / TINY_L for r in sub], color=c, marker="o")
            ax_d.plot(x, [r["expected_kl_per_order"] / TINY_L for r in sub], color=c, marker="x", ls="--")
            ax_d.plot(x, [r["sequence_error"] for r in sub], color=c, marker="^", ls=":")
        ax_d.set_xlabel(CALLS_LABEL)
        ax_d.set_ylabel("nats per token / SER")
        ax_d.set_title(f"exact laws, sparse chain, $L$ = {TINY_L}")
        tiny = [r for r in store.values() if "kl_data_to_sampler" in r]
        bad = [r for r in tiny if r["sequence_error"] > 0]
        inf_rev = [r for r in bad if not math.isfinite(r["kl_sampler_to_data"])]
        fin_ok = [r for r in tiny if r["sequence_error"] == 0 and math.isfinite(r["kl_sampler_to_data"])]
        note(
            ax_d,
            f"$KL(\\bar p\\Vert q) = \\infty$ at {len(inf_rev)} of\nthe {len(bad)} laws with SER > 0;\n"
            f"finite at {len(fin_ok)} of {len(tiny) - len(bad)} with SER = 0",
            loc="upper right",
        )
        proxy_legend(
            fig,
            [
                ("fixed counts", {"color": style_for("fixed")["color"]}),
                ("Bernoulli", {"color": style_for("bernoulli")["color"]}),
                ("data direction $E_M\\,KL(q\\Vert p_M)/L$ (exact)", {"marker": "o"}),
                ("generative $(E_p[-\\log q] - H)/L$ (MC)", {"marker": "s", "ls": ":"}),
                ("(d) mixture $KL(q\\Vert\\bar p)/L$", {"marker": "o"}),
                ("(d) per-order $E_M\\,KL/L$", {"marker": "x", "ls": "--"}),
                ("(c, d) SER", {"marker": "^", "ls": ":"}),
            ],
            loc="outside lower center",
            ncol=3,
        )
        label_panels(axes)
        return save_figure(fig, path)
