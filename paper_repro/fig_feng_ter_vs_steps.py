"""Excess per-token cross-entropy vs number of steps: perplexity needs O(1) steps (Feng et al.; Li & Cai).

Quantity: E_M KL(q || p_M) / L = E_{x~q, M}[log q(x) - log p_M(x)] / L (nats/token), the excess cross-entropy
of *data under the sampler* averaged over unmasking orders M. It upper-bounds the mixture's
KL(q || p_bar)/L (the log-perplexity gap of the sampler's actual law) by convexity. It is NOT generative
perplexity (see fig_feng_both_directions).

* bigram (registry ``ngram2``): exact closed form (entropy profile, theory/entropy_profile.py) for
  L = 64..4096, plus Monte Carlo points at the smallest L as a check of the closed form;
* trigram (``ngram3``) and HMM (``hmm``): Monte Carlo with paired differences (x ~ q and M drawn by the
  sampler; log q exact, log p_M by teacher forcing with the oracle), 95% t-intervals.

Samplers: fixed counts (LLaDA rule, uniformly random positions; solid) and MDLM ancestral (Bernoulli rule,
linear schedule, uniform grid, t_min = 0; dashed); oracle denoiser. Reference shapes: Li & Cai's
Theorem 1 (constant unverified) with the exact sum_i I(X_i; X_-i) (n-grams) or its Monte Carlo estimate
(HMM), and the *shape* ((n-1)/N)^(1/n) log V of Feng et al.'s rate (prefactor unknown, drawn with 1).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.factorization import expected_kl_bernoulli, expected_kl_fixed_counts, monte_carlo_expected_kl
from theory.feng import ter_rate_shape
from theory.information import hmm_information_estimate, ngram_information
from theory.li_cai import theorem1_bound

DESCRIPTION = (
    "excess per-token cross-entropy E_M KL(q||p_M)/L vs steps (exact bigram to L=4096; MC ngram3/HMM)"
)

PRESETS = {
    "quick": {
        "exact_lengths": [64, 256, 1024, 4096],
        "mc": {"ngram2": [64], "ngram3": [64], "hmm": [64, 256]},
        "mc_steps": [1, 4, 16, 64],
        "mc_samples": 128,
        "info_samples": 256,
        "seed": 0,
    },
    "full": {
        "exact_lengths": [64, 128, 256, 512, 1024, 2048, 4096],
        "mc": {"ngram2": [64, 256], "ngram3": [64, 256], "hmm": [64, 256, 1024]},
        "mc_steps": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "mc_samples": 512,
        "info_samples": 2048,
        "seed": 0,
    },
}
ORDERS = {"ngram2": 2, "ngram3": 3}


def _sampler(rule: str, N: int):
    return FixedCountSampler(N, score="random") if rule == "fixed" else AncestralSampler(N)


def exact_rows(store: ResultStore, lengths, progress: bool) -> None:
    lang = make_language("ngram2")
    for L in lengths:
        Ns = [2**e for e in range(int(math.log2(L)) + 1)]
        if all(f"exact|ngram2|{r}|L={L}|N={N}" in store for r in ("fixed", "bernoulli") for N in Ns):
            continue
        prof = ngram_profile(lang, L)
        D = prof.dependence_curve()
        si = prof.sum_mutual_information
        for N in Ns:
            counts = llada_counts(L, N)
            store.put(
                f"exact|ngram2|fixed|L={L}|N={N}",
                {
                    "kind": "exact",
                    "language": "ngram2",
                    "rule": "fixed",
                    "length": L,
                    "steps": N,
                    "kl_per_token": expected_kl_fixed_counts(prof, counts) / L,
                    "theorem1_per_token": theorem1_bound(counts, si) / L,
                    "sum_mi": si,
                },
            )
            store.put(
                f"exact|ngram2|bernoulli|L={L}|N={N}",
                {
                    "kind": "exact",
                    "language": "ngram2",
                    "rule": "bernoulli",
                    "length": L,
                    "steps": N,
                    "kl_per_token": expected_kl_bernoulli(prof, [1.0 / N] * N, D) / L,
                    "sum_mi": si,
                },
            )


def mc_rows(store: ResultStore, cfg: dict, progress: bool) -> None:
    cells = [
        (name, rule, L, N)
        for name, Ls in cfg["mc"].items()
        for L in Ls
        for rule in ("fixed", "bernoulli")
        for N in cfg["mc_steps"]
        if N <= L and not (rule == "fixed" and N == L)
    ]
    todo = [c for c in cells if "mc|" + "|".join(map(str, c)) not in store]
    it = todo
    if progress:
        it = tqdm(todo, desc="ter mc cells", leave=False)
    langs = {}
    for name, rule, L, N in it:
        key = "mc|" + "|".join(map(str, (name, rule, L, N)))
        langs.setdefault(name, make_language(name))
        g = make_generator(cell_seed(key, cfg["seed"]))
        est = monte_carlo_expected_kl(
            langs[name], _sampler(rule, N), L, cfg["mc_samples"], g, batch_size=cfg["mc_samples"]
        )
        store.put(
            key,
            {
                "kind": "mc",
                "language": name,
                "rule": rule,
                "length": L,
                "steps": N,
                "kl_per_token": est.total.mean / L,
                "ci_low": est.total.ci_low / L,
                "ci_high": est.total.ci_high / L,
                "n": est.total.n,
                "conventions": _sampler(rule, N).conventions(),
            },
        )
    for name, Ls in cfg["mc"].items():
        for L in Ls:
            key = f"info|{name}|L={L}"
            if key in store:
                continue
            lang = langs.setdefault(name, make_language(name))
            if name in ORDERS:
                info = ngram_information(lang, L)
                store.put(
                    key,
                    {
                        "kind": "info",
                        "language": name,
                        "length": L,
                        "sum_mi": info.sum_mutual_information,
                        "method": info.method,
                    },
                )
            else:
                est = hmm_information_estimate(
                    lang, L, cfg["info_samples"], make_generator(cell_seed(key, 0))
                )
                s = est.sum_mutual_information
                store.put(
                    key,
                    {
                        "kind": "info",
                        "language": name,
                        "length": L,
                        "sum_mi": s.mean,
                        "sum_mi_ci": [s.ci_low, s.ci_high],
                        "method": "Monte Carlo (paired)",
                    },
                )


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_ter_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "quantity": "E_M KL(q || p_M)/L in nats/token (data under sampler; upper-bounds KL(q || p_bar)/L)",
            "samplers": {
                "fixed": FixedCountSampler(2).conventions(),
                "bernoulli": AncestralSampler(2).conventions(),
            },
            "denoiser": "oracle",
            "mc_estimator": "paired log q(x) - log p_M(x), x ~ q, M ~ sampler, teacher forcing",
            "seed": cfg["seed"],
            "feng_rate": "shape ((n-1)/N)^(1/n) log V only; prefactor unknown (REC)",
        },
    )
    exact_rows(store, cfg["exact_lengths"], progress)
    mc_rows(store, cfg, progress)
    rows = list(store.values())

    # fitted slopes of log KL vs log N (exact bigram, N in [4, L/8]) and flatness in L at fixed N
    fits = {}
    for rule in ("fixed", "bernoulli"):
        for L in cfg["exact_lengths"]:
            sub = sorted(
                (
                    r
                    for r in rows
                    if r["kind"] == "exact"
                    and r["rule"] == rule
                    and r["length"] == L
                    and 4 <= r["steps"] <= L / 8
                ),
                key=lambda r: r["steps"],
            )
            if len(sub) >= 3:
                x, y = np.log([r["steps"] for r in sub]), np.log([r["kl_per_token"] for r in sub])
                fits[f"slope|{rule}|L={L}"] = float(np.polyfit(x, y, 1)[0])
        for N in (4, 16, 64):
            vals = {
                r["length"]: r["kl_per_token"]
                for r in rows
                if r["kind"] == "exact" and r["rule"] == rule and r["steps"] == N
            }
            fits[f"kl_per_token_at_N={N}|{rule}"] = dict(sorted(vals.items()))
    mc_check = {}
    for r in rows:
        if r["kind"] == "mc" and r["language"] == "ngram2":
            ex = store.get(f"exact|ngram2|{r['rule']}|L={r['length']}|N={r['steps']}")
            if ex:
                mc_check[f"{r['rule']}|L={r['length']}|N={r['steps']}"] = {
                    "exact": ex["kl_per_token"],
                    "mc": r["kl_per_token"],
                    "ci": [r["ci_low"], r["ci_high"]],
                    "inside_ci": r["ci_low"] <= ex["kl_per_token"] <= r["ci_high"],
                }
    store.meta["fits"] = fits
    store.meta["mc_vs_exact_bigram"] = mc_check
    store.flush()

    with house_style():
        fig, axes = plt.subplots(1, 4, figsize=(18, 4.8), layout="constrained")
        lengths = sorted({r["length"] for r in rows if r["kind"] in ("exact", "mc")})
        colors = {L: f"C{i}" for i, L in enumerate(lengths)}
        ls = {"fixed": "-", "bernoulli": "--"}

        def plot_exact(ax, L, rule, scale_n=False):
            sub = sorted(
                (
                    r
                    for r in rows
                    if r["kind"] == "exact"
                    and r["rule"] == rule
                    and r["length"] == L
                    and r["kl_per_token"] > 0
                ),
                key=lambda r: r["steps"],
            )
            x = [r["steps"] for r in sub]
            y = [r["kl_per_token"] * (r["steps"] if scale_n else 1) for r in sub]
            ax.plot(x, y, color=colors[L], ls=ls[rule], lw=1.3, label=f"exact, L={L}, {rule}")

        def plot_mc(ax, name, L, rule, marker="o"):
            sub = sorted(
                (
                    r
                    for r in rows
                    if r["kind"] == "mc" and r["language"] == name and r["rule"] == rule and r["length"] == L
                ),
                key=lambda r: r["steps"],
            )
            if not sub:
                return
            x = [r["steps"] * (1.06 if rule == "bernoulli" else 1.0) for r in sub]
            y = [r["kl_per_token"] for r in sub]
            err = [
                [max(0.0, r["kl_per_token"] - r["ci_low"]) for r in sub],
                [max(0.0, r["ci_high"] - r["kl_per_token"]) for r in sub],
            ]
            ax.errorbar(
                x,
                y,
                yerr=err,
                color=colors[L],
                ls=ls[rule],
                marker=marker,
                capsize=2,
                lw=1,
                mfc="white" if rule == "bernoulli" else colors[L],
                label=f"MC, L={L}, {rule}",
            )

        ax = axes[0]
        for L in cfg["exact_lengths"]:
            for rule in ("fixed", "bernoulli"):
                plot_exact(ax, L, rule)
        for L in cfg["mc"].get("ngram2", []):
            for rule in ("fixed", "bernoulli"):
                plot_mc(ax, "ngram2", L, rule, marker="x")
        Lmax = max(cfg["exact_lengths"])
        sub = sorted(
            (
                r
                for r in rows
                if r["kind"] == "exact"
                and r["rule"] == "fixed"
                and r["length"] == Lmax
                and r["kl_per_token"] > 0
            ),
            key=lambda r: r["steps"],
        )
        ax.plot(
            [r["steps"] for r in sub],
            [r["theorem1_per_token"] for r in sub],
            color="k",
            ls="-.",
            lw=1,
            label=f"Li&Cai Thm 1 / L, L={Lmax}",
        )
        Ns = np.array([2**e for e in range(13)])
        ax.plot(
            Ns,
            ter_rate_shape(Ns, 2, 8),
            color="0.5",
            ls=":",
            lw=1.2,
            label="Feng rate shape ((n-1)/N)^(1/n) log V\n(prefactor unknown, drawn as 1)",
        )
        ax.set_title("(a) bigram ngram2 (V=8): exact; x = MC check")
        ax = axes[1]
        for L in cfg["exact_lengths"]:
            for rule in ("fixed", "bernoulli"):
                plot_exact(ax, L, rule, scale_n=True)
        ax.set_title("(b) N x per-token KL (bigram, exact):\nflat = 1/N decay, independent of L for N << L")
        ax.set_ylabel("N * E_M KL(q || p_M) / L  [nats]")
        for ax, name in ((axes[2], "ngram3"), (axes[3], "hmm")):
            for L in cfg["mc"].get(name, []):
                for rule in ("fixed", "bernoulli"):
                    plot_mc(ax, name, L, rule)
                info = store.get(f"info|{name}|L={L}")
                if info:
                    x = np.array([N for N in cfg["mc_steps"] if N < L])
                    y = [theorem1_bound(llada_counts(L, int(N)), info["sum_mi"]) / L for N in x]
                    ax.plot(x, y, color=colors[L], ls="-.", lw=0.9, label=f"Li&Cai Thm 1 / L, L={L}")
            if name in ORDERS:
                Ns = np.array(cfg["mc_steps"], dtype=float)
                ax.plot(
                    Ns,
                    ter_rate_shape(Ns, ORDERS[name], 8),
                    color="0.5",
                    ls=":",
                    lw=1.2,
                    label="Feng rate shape (prefactor 1)",
                )
        axes[2].set_title("(c) trigram ngram3 (V=8): Monte Carlo\n(fixed N = L is exactly 0, not drawn)")
        axes[3].set_title("(d) HMM (16 states, V=8): Monte Carlo\n(bound uses MC estimate of sum I)")
        for i, ax in enumerate(axes):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log" if i != 1 else "linear")
            ax.set_xlabel("number of steps N")
            if i != 1:
                ax.set_ylabel(
                    "E_M KL(q || p_M) / L  [nats/token]\n(data under sampler: excess cross-entropy)"
                )
            ax.legend(fontsize=5.5, ncol=1 if i else 2, loc="upper right" if i == 0 else "lower left")
        fig.suptitle(
            "Perplexity side: per-token excess cross-entropy of the oracle sampler decays like 1/N and "
            "does not grow with L (solid: fixed counts, dashed: Bernoulli/MDLM)",
            fontsize=10,
        )
        png = save_figure(fig, stem.with_suffix(".png"))
    return [png, stem.with_suffix(".json")]
