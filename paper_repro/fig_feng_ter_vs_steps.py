"""Excess per-token cross-entropy against the number of model calls: perplexity needs O(1) steps (Feng et
al. arXiv 2502.09622; Li & Cai arXiv 2505.21400).

Thin module: the computation is :mod:`theory.feng_study` (cells, fitted rates) on the closed forms of
:mod:`theory.entropy_profile` / :mod:`theory.factorization`. Data: ``feng_ter_vs_steps.json`` (a resumable
``ResultStore``: exact cells ``exact|ngram2|<rule>|L=..|K=..``, Monte Carlo cells ``mc|<language>|<rule>|L|K``
seeded from their key, information sums ``info|<language>|L=..``; fitted rates in ``meta``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.plot_style import (
    CALLS_LABEL,
    house_style,
    label_panels,
    length_linestyles,
    new_figure,
    note,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sampling.fixed_count import llada_counts
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.feng import ter_rate_shape
from theory.feng_study import information_record, rule_sampler, ter_exact_records, ter_mc_record, ter_summary
from theory.li_cai import theorem1_bound

DESCRIPTION = (
    "excess per-token cross-entropy E_M KL(q||p_M)/L vs model calls (exact bigram to L=4096; MC ngram3/HMM)"
)

FIGURE = FigureSpec(
    name="feng_ter_vs_steps",
    title="Perplexity side: the per-token excess cross-entropy decays like 1/K and does not grow with L",
    caption="E_M KL(q || p_M)/L in nats per token (data under the sampler: the excess cross-entropy, an upper "
    "bound on the log-perplexity gap of the sampler's law) of the oracle sampler against the expected number "
    "of model calls. Colours: fixed counts (LLaDA rule, random positions; calls = K) and MDLM ancestral "
    "(Bernoulli, linear schedule, uniform grid, t_min = 0; empty steps make no call, so calls < K); line "
    "styles: sequence lengths. (a) registry bigram ngram2 (V = 8), exact (area formula) for L = 64 ... 4096, "
    "Monte Carlo checks at L = 64 (crosses), Li & Cai's Theorem 1 per token at the largest L and the shape "
    "((n-1)/K)^(1/n) log V of Feng et al.'s rate with prefactor 1; (b) calls x per-token KL (flat = 1/K); "
    "(c) trigram ngram3 and (d) HMM (16 states), paired Monte Carlo with 95% t-intervals (teacher forcing "
    "with the exact oracle; the oracle path that ran, full pass or incremental evidence tree, annotated per "
    "length; the HMM also at a longer L for a few K) and Theorem 1 (HMM: with the Monte Carlo estimate of "
    "sum_i I, not at the longer L).",
    shows="The per-token KL at fixed K converges as L grows and decays like 1/K (fitted slopes about -1, "
    "annotated), so the number of steps for a per-token target does not grow with L; Feng's rate shape "
    "(slope -1/2) lies far above the exact curve.",
    claims=(
        "feng.ter_steps_independent_of_length",
        "feng.rate_shape_above_exact",
        "li_cai.ter_rate_one_over_k",
        "li_cai.theorem1",
        "feng.mc_matches_exact",
        "feng.ter_hmm_flat_in_length",
    ),
    caveats=(
        "Feng et al.'s constants are recalled only (UNVERIFIED): their rate is drawn as a shape with prefactor 1.",
        "Exact curves exist only for first-order chains; trigram and HMM are Monte Carlo (128 samples per cell "
        "in the quick preset, 16 at the HMM's L = 1024 and 4096, where K = 4 and 16 only); fixed counts at K = L "
        "are exactly 0 and not drawn on the log axis.",
        "Oracle denoiser (eps_train = 0).",
    ),
    oracle_fallback="raise",
)

PRESETS = {
    "quick": {
        "exact_lengths": [64, 256, 1024, 4096],
        "mc": {"ngram2": [64], "ngram3": [64], "hmm": [64, 256]},
        "mc_steps": [1, 4, 16, 64],
        "mc_samples": 128,
        # longer HMM cells at a few K (teacher forcing on the incremental oracle path: evidence tree)
        "mc_extra": {"hmm": [1024, 4096]},
        "mc_extra_steps": [4, 16],
        "mc_extra_samples": 16,
        "info_samples": 256,
        "seed": 0,
    },
    "full": {
        "exact_lengths": [64, 128, 256, 512, 1024, 2048, 4096],
        "mc": {"ngram2": [64, 256], "ngram3": [64, 256], "hmm": [64, 256, 1024]},
        "mc_steps": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "mc_samples": 512,
        "mc_extra": {"hmm": [4096]},
        "mc_extra_steps": [4, 16, 64],
        "mc_extra_samples": 128,
        "info_samples": 2048,
        "seed": 0,
    },
}
ORDERS = {"ngram2": 2, "ngram3": 3}
RULES = ("fixed", "bernoulli")


def _exact(store: ResultStore, lengths) -> None:
    lang = make_language("ngram2")
    for L in lengths:
        steps = [2**e for e in range(int(math.log2(L)) + 1)]
        keys = [f"exact|ngram2|{r}|L={L}|K={K}" for r in RULES for K in steps]
        if all(k in store for k in keys):
            continue
        for rec in ter_exact_records(ngram_profile(lang, L), "ngram2", steps):
            store.records[f"exact|ngram2|{rec['rule']}|L={L}|K={rec['steps']}"] = rec
        store.flush()


def mc_lengths(cfg: dict, name: str) -> list[int]:
    """Monte Carlo lengths of a language: every K of ``mc_steps``, then ``mc_extra`` at ``mc_extra_steps``."""
    return cfg["mc"].get(name, []) + cfg["mc_extra"].get(name, [])


def _mc(store: ResultStore, cfg: dict, progress: bool) -> None:
    cells = [
        (name, rule, L, K, cfg["mc_samples"])
        for name, Ls in cfg["mc"].items()
        for L in Ls
        for rule in RULES
        for K in cfg["mc_steps"]
        if K <= L and not (rule == "fixed" and K == L)
    ]
    cells += [
        (name, rule, L, K, cfg["mc_extra_samples"])
        for name, Ls in cfg["mc_extra"].items()
        for L in Ls
        for rule in RULES
        for K in cfg["mc_extra_steps"]
    ]
    todo = [c for c in cells if "mc|" + "|".join(map(str, c[:4])) not in store]
    langs = {name: make_language(name) for name in {*cfg["mc"], *cfg["mc_extra"]}}
    for name, rule, L, K, n in tqdm(todo, desc="ter mc cells", leave=False, disable=not progress):
        key = "mc|" + "|".join(map(str, (name, rule, L, K)))
        g = make_generator(cell_seed(key, cfg["seed"]))
        store.put(key, ter_mc_record(langs[name], name, rule, L, K, n, g))
    for name, Ls in cfg["mc"].items():
        for L in Ls:
            key = f"info|{name}|L={L}"
            if key not in store:
                g = make_generator(cell_seed(key, 0))
                store.put(key, information_record(langs[name], name, L, cfg["info_samples"], g))


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_ter_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "quantity": "E_M KL(q || p_M)/L in nats/token (data under sampler; upper-bounds KL(q || p_bar)/L)",
            "samplers": {r: rule_sampler(r, 2).conventions() for r in RULES},
            "denoiser": "oracle",
            "mc_estimator": "paired log q(x) - log p_M(x), x ~ q, M ~ sampler, teacher forcing (exact oracle; "
            "the oracle path of the teacher forcing is recorded per cell as oracle_path)",
            "calls": "expected number of denoiser calls (theory.feng.expected_calls)",
            "seed": cfg["seed"],
            "feng_rate": "shape ((n-1)/K)^(1/n) log V only; prefactor unknown (REC)",
        },
    )
    _exact(store, cfg["exact_lengths"])
    _mc(store, cfg, progress)
    store.meta.update(ter_summary(list(store.values()), cfg["exact_lengths"]))
    store.flush()
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _curve(rows, kind, name, rule, L):
    return sorted(
        (
            r
            for r in rows
            if r["kind"] == kind and r["language"] == name and r["rule"] == rule and r["length"] == L
        ),
        key=lambda r: r["steps"],
    )


def _mc_errorbar(ax, sub, style, ls, marker):
    if not sub:
        return
    y = [r["kl_per_token"] for r in sub]
    err = [
        [max(0.0, v - r["ci_low"]) for v, r in zip(y, sub)],
        [max(0.0, r["ci_high"] - v) for v, r in zip(y, sub)],
    ]
    ax.errorbar(
        [r["calls"] for r in sub], y, yerr=err, color=style["color"], ls=ls, marker=marker, capsize=2, lw=1
    )


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    rows = list(store.values())
    fits = store.meta["fits"]
    exact_L = cfg["exact_lengths"]
    lstyle = length_linestyles(sorted({r["length"] for r in rows if r["kind"] in ("exact", "mc")}))
    with house_style():
        fig, axes = new_figure(2, 2, width=10.0, height=7.6)
        (ax_a, ax_b), (ax_c, ax_d) = axes
        Lmax = max(exact_L)
        for L in exact_L:
            for rule in RULES:
                st = style_for(rule)
                sub = [r for r in _curve(rows, "exact", "ngram2", rule, L) if r["kl_per_token"] > 0]
                x = [r["calls"] for r in sub]
                ax_a.plot(x, [r["kl_per_token"] for r in sub], color=st["color"], ls=lstyle[L])
                ax_b.plot(x, [r["calls"] * r["kl_per_token"] for r in sub], color=st["color"], ls=lstyle[L])
        for L in cfg["mc"].get("ngram2", []):
            for rule in RULES:
                _mc_errorbar(ax_a, _curve(rows, "mc", "ngram2", rule, L), style_for(rule), "none", "x")
        sub = [r for r in _curve(rows, "exact", "ngram2", "fixed", Lmax) if r["kl_per_token"] > 0]
        th = style_for("theorem1")
        ax_a.plot([r["calls"] for r in sub], [r["theorem1_per_token"] for r in sub], color=th["color"], lw=1)
        ks = np.array([2.0**e for e in range(13)])
        shape = style_for("feng_rate_shape")
        ax_a.plot(ks, ter_rate_shape(ks, 2, 8), color=shape["color"], ls=":", lw=1.3)
        ax_a.set_title("bigram ngram2 ($V$ = 8): exact; crosses: Monte Carlo")
        note(
            ax_a,
            f"slope at $L$ = {Lmax} ($K\\in[4, L/8]$):\nfixed {fits[f'slope|fixed|L={Lmax}']:.2f}, "
            f"Bernoulli {fits[f'slope|bernoulli|L={Lmax}']:.2f}\nFeng shape $-1/2$",
        )
        ax_b.set_title("calls $\\times$ per-token KL (flat: $1/K$ decay)")
        ax_b.set_ylabel("calls $\\times$ $E_M\\,KL(q\\Vert p_M)/L$ (nats)")
        for ax, name in ((ax_c, "ngram3"), (ax_d, "hmm")):
            paths = sorted(
                {
                    (r["length"], r["oracle_path"])
                    for r in rows
                    if r.get("language") == name and "oracle_path" in r
                }
            )
            if paths:
                note(
                    ax,
                    "teacher forcing:\n" + "\n".join(f"$L$ = {L}: {p}" for L, p in paths),
                    loc="lower left",
                )
            for L in mc_lengths(cfg, name):
                for rule in RULES:
                    _mc_errorbar(
                        ax,
                        _curve(rows, "mc", name, rule, L),
                        style_for(rule),
                        lstyle[L],
                        style_for(rule)["marker"],
                    )
                info = store.get(f"info|{name}|L={L}")
                if info:
                    ks_l = [k for k in cfg["mc_steps"] if k < L]
                    ax.plot(
                        ks_l,
                        [theorem1_bound(llada_counts(L, k), info["sum_mi"]) / L for k in ks_l],
                        color=th["color"],
                        ls=lstyle[L],
                        lw=1,
                    )
            if name in ORDERS:
                ks_mc = np.array(cfg["mc_steps"], dtype=float)
                ax.plot(ks_mc, ter_rate_shape(ks_mc, ORDERS[name], 8), color=shape["color"], ls=":", lw=1.3)
        ax_c.set_title("trigram ngram3 (V = 8): Monte Carlo")
        ax_d.set_title("HMM (16 states, V = 8): Monte Carlo")
        for ax in (ax_a, ax_b, ax_c, ax_d):
            ax.set_xscale("log", base=2)
            ax.set_xlabel(CALLS_LABEL)
            if ax is not ax_b:
                ax.set_yscale("log")
                ax.set_ylabel("$E_M\\,KL(q\\Vert p_M)/L$ (nats/token)")
        lengths = sorted(lstyle)
        proxy_legend(
            fig,
            [
                ("fixed counts", {"color": style_for("fixed")["color"]}),
                ("Bernoulli", {"color": style_for("bernoulli")["color"]}),
            ]
            + [(f"$L$ = {L}", {"ls": lstyle[L]}) for L in lengths]
            + [
                ("Li & Cai Thm 1", {"color": th["color"], "lw": 1}),
                ("Feng shape (prefactor 1)", {"color": shape["color"], "ls": ":"}),
            ],
            loc="outside lower center",
            ncol=4,
        )
        label_panels(axes)
        return save_figure(fig, path)
