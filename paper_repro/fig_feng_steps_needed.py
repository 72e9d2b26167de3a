"""Steps and model calls needed against sequence length: O(1) for perplexity, linear in L for sequence error
(Feng et al. arXiv 2502.09622), all exact.

Thin module: the cells are :func:`theory.feng_study.steps_needed_record` (the exact per-token KL of
:mod:`theory.feng`; the pair-copy SER of :mod:`theory.sequence_error`), the fitted slopes
:func:`theory.feng_study.steps_needed_slopes`. Data: ``feng_steps_needed.json`` (cells
``<side>|<rule>|<target>|L=..``; slopes in ``meta``).
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.plot_style import (
    LENGTH_LABEL,
    fmt_slope,
    house_style,
    label_panels,
    new_figure,
    note,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from theory.entropy_profile import ngram_profile
from theory.feng import ter_steps_for_epsilon
from theory.feng_study import steps_needed_record, steps_needed_slopes

DESCRIPTION = "steps and calls needed vs L: constant for per-token KL, linear for SER (exact)"

PAIR_V = 16

FIGURE = FigureSpec(
    name="feng_steps_needed",
    title="Steps needed: constant in L for per-token KL, linear in L for sequence error",
    caption="Smallest K (open markers, dotted) and its expected number of model calls (filled, solid) reaching "
    "a target, against L, for the oracle sampler with fixed counts (LLaDA rule, random positions; calls = K) "
    "and the MDLM ancestral rule (Bernoulli, linear schedule, uniform grid, t_min = 0; empty steps make no "
    "call). (a) exact per-token E_M KL(q || p_M)/L <= eps on the registry bigram ngram2 (V = 8); grey: the K "
    "at which the shape ((n-1)/K)^(1/n) log V of Feng et al.'s rate (prefactor 1) reaches the smallest eps; "
    f"(b) exact SER <= delta on the pair-copy language (V = {PAIR_V}; Bernoulli closed form, fixed counts by "
    "the exact pair DP). Fitted slopes of log K against log L over the three largest lengths are annotated.",
    shows="The steps needed for a per-token KL target do not grow with L (slope near 0); for an SER target "
    "they grow linearly (slope near 1), both in steps and in calls. The Bernoulli rule needs far more steps "
    "than fixed counts for an SER target, but most of its steps are empty: in model calls it needs about as "
    "many as fixed counts.",
    claims=(
        "feng.ter_steps_independent_of_length",
        "feng.ser_steps_linear_in_length",
        "feng.rate_shape_above_exact",
        "feng.bernoulli_calls_near_fixed_for_ser",
    ),
    caveats=(
        "Feng et al.'s constants are recalled only (UNVERIFIED): the grey line is their rate's shape with "
        "prefactor 1, not their bound.",
        "Pair copy is the suite's stand-in for the paper's hard language; fixed-count SER is computed up to "
        "the preset's largest DP length.",
    ),
)

PRESETS = {
    "quick": {
        "lengths": [64, 128, 256, 512, 1024, 2048, 4096],
        "fixed_ser_max_length": 1024,
        "eps": [0.05, 0.01],
        "delta": [0.5, 0.1],
    },
    "full": {
        "lengths": [64, 128, 256, 512, 1024, 2048, 4096],
        "fixed_ser_max_length": 4096,
        "eps": [0.1, 0.05, 0.01],
        "delta": [0.5, 0.1, 0.01],
    },
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_steps_needed" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "ter_language": "ngram2 (registry)",
            "ser_language": f"pair copy, V={PAIR_V}",
            "calls": "expected number of denoiser calls at the smallest K (theory.feng.expected_calls)",
            "feng_reference": "K = (n-1)(log V/eps)^n: Feng rate shape inverted with prefactor 1 (REC shape)",
        },
    )
    lang = make_language("ngram2")
    for L in tqdm(cfg["lengths"], desc="steps needed", leave=False, disable=not progress):
        prof = None
        for eps in cfg["eps"]:
            for rule in ("fixed", "bernoulli"):
                key = f"ter|{rule}|eps={eps}|L={L}"
                if key not in store:
                    prof = prof or ngram_profile(lang, L)
                    store.put(key, steps_needed_record("ter", rule, eps, L, profile=prof))
        for delta in cfg["delta"]:
            for rule in ("bernoulli", "fixed"):
                key = f"ser|{rule}|delta={delta}|L={L}"
                if key not in store and (rule == "bernoulli" or L <= cfg["fixed_ser_max_length"]):
                    store.put(key, steps_needed_record("ser", rule, delta, L, symbols=PAIR_V))
    store.meta["slope_log_steps_vs_log_L"] = steps_needed_slopes(list(store.values()))
    store.flush()
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


TARGET_MARKERS = ("o", "s", "D")


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    rows = [r for r in store.values() if r["steps"] is not None]
    slopes = store.meta["slope_log_steps_vs_log_L"]
    with house_style():
        fig, axes = new_figure(1, 2, width=10.0, height=4.4)
        for ax, side, targets, sym in (
            (axes[0, 0], "ter", cfg["eps"], "\\varepsilon"),
            (axes[0, 1], "ser", cfg["delta"], "\\delta"),
        ):
            lines = []
            for t, mk in zip(targets, TARGET_MARKERS):
                for rule in ("fixed", "bernoulli"):
                    sub = sorted(
                        (r for r in rows if r["side"] == side and r["rule"] == rule and r["target"] == t),
                        key=lambda r: r["length"],
                    )
                    if not sub:
                        continue
                    c = style_for(rule)["color"]
                    x = [r["length"] for r in sub]
                    z, ms = (3, 4) if rule == "fixed" else (2, 6)  # fixed on top: the calls nearly coincide
                    ax.plot(x, [r["calls"] for r in sub], color=c, marker=mk, ls="-", zorder=z, ms=ms)
                    if rule == "bernoulli":
                        ax.plot(x, [r["steps"] for r in sub], color=c, marker=mk, ls=":", mfc="none")
                    s_k = slopes.get(f"{side}|{rule}|{t}|largest3")
                    if s_k is not None:
                        lines.append(f"${sym}$ = {t:g}, {rule}: {fmt_slope(s_k)}")
            note(
                ax,
                "slope of log K vs log L\n(three largest L):\n" + "\n".join(lines),
                loc="upper left" if side == "ser" else "center right",
            )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
            ax.set_xlabel(LENGTH_LABEL)
        ax = axes[0, 0]
        eps = min(cfg["eps"])
        k_feng = ter_steps_for_epsilon(eps / math.log(8), 2)
        ax.axhline(k_feng, color=style_for("feng_rate_shape")["color"], ls="--", lw=1)
        ax.text(
            max(cfg["lengths"]),
            k_feng / 1.6,
            f"Feng shape at $\\varepsilon$ = {eps:g} (prefactor 1)",
            fontsize=9,
            color="0.3",
            ha="right",
        )
        ax.set_ylabel("steps or calls needed")
        ax.set_title("per-token $E_M\\,KL(q\\Vert p_M)/L \\leq \\varepsilon$ (bigram)")
        ax = axes[0, 1]
        L = [min(cfg["lengths"]), max(cfg["lengths"])]
        ax.plot(L, L, color="0.6", lw=0.8)
        ax.set_title(f"SER $\\leq \\delta$ (pair copy, $V$ = {PAIR_V}); grey: $K = L$")
        proxy_legend(
            axes[0, 0],
            [
                ("fixed counts", {"color": style_for("fixed")["color"]}),
                ("Bernoulli", {"color": style_for("bernoulli")["color"]}),
            ]
            + [("calls (NFE)", {"ls": "-"}), ("steps K (Bernoulli)", {"ls": ":"})]
            + [
                (f"$\\varepsilon$ = {e:g} / $\\delta$ = {d:g}", {"marker": mk, "ls": "none"})
                for e, d, mk in zip(cfg["eps"], cfg["delta"], TARGET_MARKERS)
            ],
            loc="center left",
            fontsize=9,
        )
        label_panels(axes)
        return save_figure(fig, path)
