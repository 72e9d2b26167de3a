"""Sequence error rate against model calls on hard languages: SER needs steps proportional to L (Feng et al.
arXiv 2502.09622), shown on the suite's stand-ins for the paper's hard HMM (which could not be read).

Thin module: the cells are :func:`theory.feng_study.ser_record` (closed form, exact pair DP or
Rao-Blackwellised Monte Carlo: :func:`theory.sequence_error.block_language_ser`; oracle sampling for the sparse
chain), the fitted rates :func:`theory.feng_study.ser_summary`. Exact-law checks: cells ``oracle|...`` run the
oracle sampler on the pair-copy bigram and the parity HMM (incremental oracle paths: nearest neighbour,
evidence tree) and are compared with the reference values (:func:`oracle_checks`). Data:
``feng_ser_vs_steps.json`` (cells ``<language>|<rule>|L|K`` and ``oracle|<language>|<rule>|L|K``, seeded
from their key; fits, checks and the oracle paths that ran in ``meta``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.languages.hard import block_parity_hmm, pair_copy_language, sparse_successor_chain
from sims.plot_style import (
    house_style,
    label_panels,
    length_linestyles,
    new_figure,
    note,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.results import ResultStore
from sims.sweep import cell_seed
from theory.feng_study import rule_sampler, ser_record, ser_summary

DESCRIPTION = (
    "SER vs model calls and vs calls/L on hard languages to L = 16384 (pair copy exact, parity HMM, sparse chain "
    "MC; exact-law oracle-sampling checks)"
)

PAIR_V = 16
PARITY_BLOCK, PARITY_V = 4, 2
SPARSE_V = 8
BLOCKS = {"pair": (PAIR_V, 2), "parity": (PARITY_V, PARITY_BLOCK)}

FIGURE = FigureSpec(
    name="feng_ser_vs_steps",
    title="Sequence error needs steps linear in L (stand-in hard languages, oracle denoiser)",
    caption=f"Sequence error rate SER = P(sample outside the support) of the oracle sampler. Colours: fixed "
    "counts (LLaDA rule, random positions; calls = K) and MDLM ancestral (Bernoulli, linear schedule, uniform "
    "grid, t_min = 0; calls = expected number of non-empty steps < K); line styles: lengths. (a) pair copy "
    f"(V = {PAIR_V}, exact: closed form and pair DP; Rao-Blackwellised Monte Carlo where the DP is too "
    "costly) against calls for L = 64 ... 16384; (b) the same against calls/L, where the curves collapse; grey: "
    "the Bernoulli limit 1 - exp(-(1 - 1/V)L/(2K)) drawn at its expected calls; diamonds: exact-law Monte "
    "Carlo checks, the oracle sampler itself run (incremental oracle path where it applies, the path that ran "
    "annotated; Wilson 95%); (c) binary block-parity HMM "
    f"(blocks of {PARITY_BLOCK}; Bernoulli exact, fixed counts Rao-Blackwellised MC; diamonds as in (b)) and "
    f"sparse-successor chain (V = {SPARSE_V}, successors v+1, v+2; oracle sampling, Wilson 95%) against "
    "calls/L; (d) "
    "-log(1 - SER) against L/K with the fitted slopes (K >= L/4) and the Bernoulli theory lines.",
    shows="At a fixed ratio of calls to L the SER does not depend on L, so a fixed SER needs a number of steps "
    "proportional to L. For the Bernoulli rule -log(1 - SER) is linear in L/K (slopes as predicted); fixed "
    "counts are not: they reach SER = 0 exactly at K = L, while the Bernoulli rule keeps SER near 1 - "
    "exp(-(1 - 1/V)/2) there and needs K >> L (but fewer than L calls).",
    claims=(
        "feng.ser_steps_linear_in_length",
        "feng.ser_bernoulli_rate",
        "feng.bernoulli_vs_fixed_at_k_eq_l",
        "feng.ser_exact_law_checks",
        "feng.ser_constant_steps_fail_with_length",
    ),
    caveats=(
        "Feng et al.'s hard HMM could not be read: the languages are the suite's stand-ins (a local hard "
        "constraint on marginally uncertain tokens), not the paper's construction or constants.",
        "Fixed counts cannot exceed K = L; the sparse chain is Monte Carlo at L = 64 only (quick preset); the "
        "exact-law checks are few cells with 64 samples each in the quick preset (128 in the full preset).",
    ),
    oracle_fallback="uniform",
)

PRESETS = {
    "quick": {
        "lengths": [64, 256, 1024, 4096, 16384],
        "rb_lengths": [64, 256, 1024, 16384],
        "rb_samples": 1000,
        "rb_samples_large": 200,
        "mc_lengths": [64],
        "mc_ratios": [1 / 4, 1 / 2, 1, 2],
        "mc_samples": 128,
        # exact-law checks of the reference values: (language, rule, L, K/L), oracle sampling
        "oracle_cells": [
            ("pair", "fixed", 16384, 1 / 4),
            ("pair", "fixed", 16384, 1 / 2),
            ("parity", "fixed", 1024, 1 / 4),
            ("parity", "bernoulli", 256, 1 / 4),
        ],
        "oracle_samples": 64,
        "seed": 0,
    },
    "full": {
        "lengths": [64, 256, 1024, 2048, 4096, 8192, 16384],
        "rb_lengths": [64, 256, 1024, 4096, 16384],
        "rb_samples": 20000,
        "rb_samples_large": 2000,
        "mc_lengths": [64, 256],
        "mc_ratios": [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4],
        "mc_samples": 2048,
        "oracle_cells": [
            *[("pair", "fixed", 16384, r) for r in (1 / 8, 1 / 4, 1 / 2)],
            ("pair", "bernoulli", 16384, 1 / 4),
            ("parity", "fixed", 1024, 1 / 4),
            ("parity", "fixed", 1024, 1 / 2),
            ("parity", "fixed", 4096, 1 / 4),
            ("parity", "bernoulli", 1024, 1 / 4),
        ],
        "oracle_samples": 128,
        "seed": 0,
    },
}
#: Lengths above which the Rao-Blackwellised cells use ``rb_samples_large`` draws (each costs O(L)).
RB_LARGE_LENGTH = 4096


def _grid(L: int, hi_ratio: float, lo_ratio: float = 1 / 64) -> list[int]:
    """Powers of two from max(1, L * lo_ratio) to L * hi_ratio."""
    lo = max(0, int(math.log2(max(1.0, L * lo_ratio))))
    return [2**e for e in range(lo, int(math.log2(L * hi_ratio)) + 1)]


def _cells(cfg) -> list[tuple]:
    """Reference cells ``(language, rule, L, K)`` and the sampled ones (sparse chain; oracle checks ``oracle``)."""
    cells = []
    for L in cfg["lengths"]:
        cells += [("pair", "bernoulli", L, K) for K in _grid(L, 8)]
        cells += [("pair", "fixed", L, K) for K in _grid(L, 1)]
        if L % PARITY_BLOCK == 0:
            cells += [("parity", "bernoulli", L, K) for K in _grid(L, 8)]
    for L in cfg["rb_lengths"]:
        cells += [("parity", "fixed", L, K) for K in _grid(L, 1)]
    for L in cfg["mc_lengths"]:
        for ratio in cfg["mc_ratios"]:
            K = int(ratio * L)
            cells += [("sparse", "bernoulli", L, K)] + ([("sparse", "fixed", L, K)] if K <= L else [])
    cells += [("oracle", lang, rule, L, int(r * L)) for lang, rule, L, r in cfg["oracle_cells"]]
    return cells


def _record(cell, cfg, languages) -> dict:
    g = make_generator(cell_seed("|".join(map(str, cell)), cfg["seed"]))
    if cell[0] == "oracle":  # exact-law MC on a block language (checks its reference value)
        _, lang, rule, L, K = cell
        return ser_record(lang, rule, L, K, g, BLOCKS, 0, languages[lang], cfg["oracle_samples"])
    lang, rule, L, K = cell
    if lang == "sparse":
        return ser_record(lang, rule, L, K, g, BLOCKS, 0, languages[lang], cfg["mc_samples"])
    rb = cfg["rb_samples_large"] if L > RB_LARGE_LENGTH else cfg["rb_samples"]
    return ser_record(lang, rule, L, K, g, BLOCKS, rb)


def oracle_checks(records: dict) -> dict:
    """Each oracle-sampled check cell against the reference value of the same (language, rule, L, K): exact
    values must lie inside the check's Wilson 95% interval, Rao-Blackwellised ones must overlap it (both are
    Monte Carlo then); with the oracle path that ran."""
    out = {}
    for key, r in records.items():
        if not key.startswith("oracle|"):
            continue
        ref = records.get(key.removeprefix("oracle|"))
        if ref is None:
            continue
        lo, hi = ref.get("ci_low", ref["ser"]), ref.get("ci_high", ref["ser"])
        out[key.removeprefix("oracle|")] = {
            "sampled": r["ser"],
            "sampled_ci": [r["ci_low"], r["ci_high"]],
            "n": r["n"],
            "oracle_path": r["oracle_path"],
            "reference": ref["ser"],
            "reference_ci": [lo, hi],
            "reference_method": ref["method"],
            "agrees": bool(lo <= r["ci_high"] and r["ci_low"] <= hi),
        }
    return out


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_ser_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "sampler_conventions": {r: rule_sampler(r, 2).conventions() for r in ("bernoulli", "fixed")},
            "denoiser": "oracle (uniform fallback after impossible evidence; SER does not depend on it)",
            "pair_copy_symbols": PAIR_V,
            "parity": {"block": PARITY_BLOCK, "V": PARITY_V},
            "sparse_chain": {"V": SPARSE_V, "offsets": [1, 2]},
            "calls": "expected number of denoiser calls (theory.feng.expected_calls)",
            "seed": cfg["seed"],
            "provenance": "stand-in hard languages; Feng et al.'s own construction could not be read",
            "oracle_path": "sampled cells record the path that ran (full pass or incremental:<engine>)",
        },
    )
    languages = {
        "sparse": sparse_successor_chain(SPARSE_V),
        "pair": pair_copy_language(PAIR_V),
        "parity": block_parity_hmm(PARITY_BLOCK, PARITY_V),
    }
    todo = [c for c in _cells(cfg) if "|".join(map(str, c)) not in store]
    for cell in tqdm(todo, desc="ser cells", leave=False, disable=not progress):
        store.put("|".join(map(str, cell)), _record(cell, cfg, languages))
    curves = [r for k, r in store.records.items() if not k.startswith("oracle|")]
    store.meta.update(ser_summary(curves, cfg["lengths"], PAIR_V))
    store.meta["oracle_checks"] = oracle_checks(store.records)
    store.meta["oracle_paths"] = sorted({r["oracle_path"] for r in store.values() if "oracle_path" in r})
    store.flush()
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _curve(ax, sub, x_of, color, ls, marker):
    sub = sorted(sub, key=lambda r: r["steps"])
    x, y = [x_of(r) for r in sub], [r["ser"] for r in sub]
    if any("ci_low" in r for r in sub):
        err = [
            [max(0.0, r["ser"] - r.get("ci_low", r["ser"])) for r in sub],
            [max(0.0, r.get("ci_high", r["ser"]) - r["ser"]) for r in sub],
        ]
        ax.errorbar(x, y, yerr=err, color=color, ls=ls, marker=marker, capsize=2, lw=1, ms=3.5)
    else:
        ax.plot(x, y, color=color, ls=ls, marker=marker, lw=1.2, ms=3.5)


def _per_length(r):
    return r["calls"] / r["length"]


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    rows = sorted(
        (r for k, r in store.records.items() if not k.startswith("oracle|")),
        key=lambda r: (r["language"], r["rule"], r["length"], r["steps"]),
    )
    checks = [r for k, r in store.records.items() if k.startswith("oracle|")]
    fits = store.meta["fits"]
    lstyle = length_linestyles(sorted({r["length"] for r in rows}))
    marker = {"pair": "o", "parity": "s", "sparse": "^"}
    with house_style():
        fig, axes = new_figure(2, 2, width=10.0, height=7.6)
        (ax_a, ax_b), (ax_c, ax_d) = axes
        for L in cfg["lengths"]:
            for rule in ("fixed", "bernoulli"):
                sub = [r for r in rows if r["language"] == "pair" and r["rule"] == rule and r["length"] == L]
                c = style_for(rule)["color"]
                _curve(ax_a, sub, lambda r: r["calls"], c, lstyle[L], None)
                _curve(ax_b, sub, _per_length, c, lstyle[L], None)
        # Bernoulli limit at K steps, drawn at its expected calls K(1 - exp(-L/K)) per L (L -> infinity)
        ratio = np.logspace(-6, 3, 300, base=2)  # K/L
        ax_b.plot(
            ratio * -np.expm1(-1 / ratio),
            -np.expm1(-(1 - 1 / PAIR_V) / (2 * ratio)),
            color="k",
            lw=3,
            alpha=0.25,
        )
        ax_b.axvline(1.0, color="0.5", lw=0.8, ls=":")
        ax_a.set_title(f"pair copy, $V$ = {PAIR_V}: exact SER")
        ax_b.set_title("same against calls/$L$: the curves collapse")
        for lang in ("parity", "sparse"):
            shown = sorted({r["length"] for r in rows if r["language"] == lang})
            if lang == "parity":  # Bernoulli curves coincide across L (exact): two lengths with both rules
                both = sorted({r["length"] for r in rows if r["language"] == lang and r["rule"] == "fixed"})
                shown = sorted({both[0], both[-1]})
            for L in shown:
                for rule in ("fixed", "bernoulli"):
                    sub = [
                        r for r in rows if r["language"] == lang and r["rule"] == rule and r["length"] == L
                    ]
                    if sub:
                        _curve(ax_c, sub, _per_length, style_for(rule)["color"], lstyle[L], marker[lang])
        for r in checks:  # exact-law MC by oracle sampling on top of the reference values
            ax = ax_b if r["language"] == "pair" else ax_c
            err = [[max(0.0, r["ser"] - r["ci_low"])], [max(0.0, r["ci_high"] - r["ser"])]]
            ax.errorbar(
                [_per_length(r)],
                [r["ser"]],
                yerr=err,
                color=style_for(r["rule"])["color"],
                marker="D",
                mec="k",
                ms=5,
                ls="none",
                capsize=3,
                zorder=5,
            )
        if checks:
            note(
                ax_b,
                "diamonds: oracle sampling (Wilson 95%)\n"
                + "\n".join(
                    f"{lang} L={L}: {path}"
                    for lang, L, path in sorted(
                        {(r["language"], r["length"], r["oracle_path"]) for r in checks}
                    )
                ),
                loc="center left",
            )
        ax_c.set_title(f"parity HMM (b = {PARITY_BLOCK}; squares), sparse chain (MC; triangles)")
        for ax in (ax_a, ax_b, ax_c):
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("sequence error rate")
        ax_a.set_xlabel("model calls (NFE)")
        ax_b.set_xlabel("calls / $L$")
        ax_c.set_xlabel("calls / $L$")
        for lang, rule in (
            ("pair", "bernoulli"),
            ("pair", "fixed"),
            ("parity", "bernoulli"),
            ("sparse", "bernoulli"),
            ("sparse", "fixed"),
        ):
            sub = [
                r
                for r in rows
                if r["language"] == lang
                and r["rule"] == rule
                and 0 < r["ser"] < 0.999
                and r["steps"] >= r["length"] / 8
            ]
            if sub:
                st = style_for(rule)
                ax_d.scatter(
                    [r["length"] / r["steps"] for r in sub],
                    [-math.log1p(-r["ser"]) for r in sub],
                    color=st["color"],
                    marker=marker[lang],
                    s=14,
                    facecolors="none" if rule == "fixed" else st["color"],
                )
        xs = np.linspace(0, 8, 50)
        ax_d.plot(xs, (1 - 1 / PAIR_V) / 2 * xs, color="k", lw=1, ls="--")
        ax_d.plot(xs, xs / 4, color="0.5", lw=1, ls=":")
        ax_d.set_xlabel("$L/K$")
        ax_d.set_ylabel("$-\\log(1 - \\mathrm{SER})$")
        ax_d.set_title("linear in $L/K$ for Bernoulli only (hollow: fixed counts)")
        lines = [
            f"{lang} {rule}: slope {fits[f'{lang}|{rule}']['slope_vs_L_over_K']:.3f}"
            for lang, rule in (("pair", "bernoulli"), ("parity", "bernoulli"), ("sparse", "bernoulli"))
            if f"{lang}|{rule}" in fits
        ]
        lines += [
            f"theory: pair $(1-1/V)/2$ = {fits['pair|bernoulli|theory_slope_large_K']:.3f} (dashed),",
            "parity 1/4 (dotted)",
        ]
        note(ax_d, "\n".join(lines), loc="upper left")
        proxy_legend(
            ax_a,
            [
                ("fixed counts", {"color": style_for("fixed")["color"]}),
                ("Bernoulli", {"color": style_for("bernoulli")["color"]}),
            ]
            + [(f"$L$ = {L}", {"ls": lstyle[L]}) for L in sorted(lstyle)],
            loc="lower left",
            fontsize=9,
        )
        proxy_legend(
            ax_b,
            [("Bernoulli limit", {"color": "k", "lw": 3, "alpha": 0.25})],
            loc="lower left",
            fontsize=9,
        )
        label_panels(axes)
        return save_figure(fig, path)
