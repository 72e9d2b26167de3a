"""Both perplexity directions: the theory's KL(q || p) stays finite while generative perplexity E_p[-log q]
is infinite as soon as SER > 0 on a language with exact zeros.

* (a) dense bigram (registry ``ngram2_dense``, no zeros, SER = 0): exact data-direction excess
  E_M KL(q || p_M)/L and Monte Carlo generative-direction excess (E_p[-log q(x)] - H(q))/L with 95%
  intervals (it can be negative: a sampler may be more concentrated than q).
* (b) sparse bigram (registry ``ngram2``, 4 of 8 successors allowed): the data direction is finite and
  exact; the generative NLL is +inf at every N where some sample left the support (SER > 0, right axis,
  Wilson intervals); the in-support generative excess is drawn hollow for reference only.
* (c) everything exact on a tiny language (sparse chain, V = 3, two successors, L = 6) from the samplers'
  exact laws (sims.exact.exact_sampler_law): KL(q || p_bar) <= E_M KL(q || p_M), KL(p_bar || q) = inf
  iff SER > 0.

Samplers: fixed counts (LLaDA rule, random positions) and MDLM ancestral (Bernoulli, linear schedule),
oracle denoiser with the uniform fallback after impossible evidence (documented in the oracle).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.transforms import blended_transform_factory
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages.hard import sparse_successor_chain
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.factorization import expected_kl_for_sampler

DESCRIPTION = "both perplexity directions: KL(q||p) finite, generative perplexity infinite once SER > 0"

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
TINY_L = 6


def _sampler(rule, N):
    return FixedCountSampler(N, score="random") if rule == "fixed" else AncestralSampler(N)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    L = cfg["length"]
    stem = Path(out_dir) / ("feng_both_directions" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "data_direction": "E_M KL(q || p_M)/L exact (profile formula); upper-bounds KL(q || p_bar)/L",
            "generative_direction": "(E_{x~p}[-log q(x)] - H(q))/L by sampling; +inf if any sample has q(x) = 0",
            "samplers": {
                "fixed": FixedCountSampler(2).conventions(),
                "bernoulli": AncestralSampler(2).conventions(),
            },
            "denoiser": "oracle, uniform fallback after impossible evidence",
            "seed": cfg["seed"],
        },
    )
    cells = [
        (name, rule, N)
        for name in ("ngram2_dense", "ngram2")
        for rule in ("fixed", "bernoulli")
        for N in cfg["steps"]
        if N <= L
    ]
    todo = [c for c in cells if "mc|" + "|".join(map(str, c)) not in store]
    it = todo
    if progress:
        it = tqdm(todo, desc="direction cells", leave=False)
    langs, profs = {}, {}
    for name, rule, N in it:
        key = "mc|" + "|".join(map(str, (name, rule, N)))
        if name not in langs:
            langs[name] = make_language(name)
            profs[name] = ngram_profile(langs[name], L)
        lang, sampler = langs[name], _sampler(rule, N)
        g = make_generator(cell_seed(key, cfg["seed"]))
        res = sampler.sample(
            OracleDenoiser(lang, on_impossible="uniform"), cfg["samples"], L, g, batch_size=cfg["samples"]
        )
        h = lang.entropy(L) / L
        q = evaluate_samples(lang, res.tokens, nfe=res.nfe, optimal_nll_per_token=h)
        gen, gin = q.gen_nll_per_token, q.gen_nll_per_token_in_support
        store.put(
            key,
            {
                "language": name,
                "rule": rule,
                "length": L,
                "steps": N,
                "data_excess_exact": expected_kl_for_sampler(profs[name], sampler) / L,
                "gen_excess": gen.mean - h,
                "gen_excess_ci": [gen.ci_low - h, gen.ci_high - h],
                "gen_excess_in_support": (gin.mean - h) if gin else math.nan,
                "gen_excess_in_support_ci": [gin.ci_low - h, gin.ci_high - h] if gin else [math.nan] * 2,
                "ser": q.sequence_error.p,
                "ser_ci": [q.sequence_error.ci_low, q.sequence_error.ci_high],
                "entropy_per_token": h,
            },
        )
    tiny = sparse_successor_chain(3, offsets=(1, 2))
    lq = exact_log_joint(tiny, TINY_L)
    tprof = ngram_profile(tiny, TINY_L)
    for rule in ("fixed", "bernoulli"):
        for N in cfg["tiny_steps"]:
            key = f"tiny|{rule}|{N}"
            if key in store:
                continue
            s = _sampler(rule, N)
            law = exact_sampler_law(s, OracleDenoiser(tiny, on_impossible="uniform"), TINY_L)
            m = exact_law_metrics(lq, law, TINY_L)
            store.put(
                key,
                {
                    "rule": rule,
                    "steps": N,
                    **m.to_dict(),
                    "expected_kl_per_order": expected_kl_for_sampler(tprof, s),
                },
            )
    rows = list(store.values())

    with house_style():
        fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained")
        col = {"fixed": "C0", "bernoulli": "C1"}
        lsty = {"fixed": "-", "bernoulli": "--"}
        for ax, name in ((axes[0], "ngram2_dense"), (axes[1], "ngram2")):
            top = blended_transform_factory(ax.transData, ax.transAxes)
            for rule in ("fixed", "bernoulli"):
                sub = sorted(
                    (r for r in rows if r.get("language") == name and r["rule"] == rule),
                    key=lambda r: r["steps"],
                )
                x = [r["steps"] for r in sub]
                ax.plot(
                    x,
                    [r["data_excess_exact"] for r in sub],
                    color=col[rule],
                    ls=lsty[rule],
                    marker="o",
                    label=f"data direction E_M KL(q||p_M)/L, exact, {rule}",
                )
                fin = [r for r in sub if math.isfinite(r["gen_excess"])]
                if fin:
                    ax.errorbar(
                        [r["steps"] * 1.05 for r in fin],
                        [r["gen_excess"] for r in fin],
                        yerr=[
                            [r["gen_excess"] - r["gen_excess_ci"][0] for r in fin],
                            [r["gen_excess_ci"][1] - r["gen_excess"] for r in fin],
                        ],
                        color=col[rule],
                        ls=":",
                        marker="s",
                        capsize=2,
                        label=f"generative direction (E_p[-log q]-H)/L, MC, {rule}",
                    )
                inf = [r for r in sub if not math.isfinite(r["gen_excess"])]
                if inf:
                    off = 0.97 if rule == "fixed" else 0.91
                    ax.scatter(
                        [r["steps"] for r in inf],
                        [off] * len(inf),
                        transform=top,
                        marker="$\\infty$",
                        s=60,
                        color=col[rule],
                        clip_on=False,
                        label=f"generative direction = +inf (some sample has q(x)=0), {rule}",
                    )
                    ax.scatter(
                        [r["steps"] * 1.05 for r in inf],
                        [r["gen_excess_in_support"] for r in inf],
                        facecolors="white",
                        edgecolors=col[rule],
                        marker="s",
                        zorder=3,
                        s=14,
                        label=f"generative, in-support samples only (reference), {rule}",
                    )
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("number of steps N")
            ax.set_ylabel("excess nats per token")
        axes[0].set_title(f"(a) dense bigram ngram2_dense (no zeros, SER = 0), L={L}")
        axes[0].legend(fontsize=6, loc="upper right")
        axes[1].set_title(
            f"(b) sparse bigram ngram2 (zeros), L={L}: generative NLL = +inf (symbols at top)\n"
            "wherever SER > 0; triangles: SER on the right axis (Wilson 95%)",
            fontsize=8,
        )
        tw = axes[1].twinx()
        for rule in ("fixed", "bernoulli"):
            sub = sorted(
                (r for r in rows if r.get("language") == "ngram2" and r["rule"] == rule),
                key=lambda r: r["steps"],
            )
            tw.errorbar(
                [r["steps"] for r in sub],
                [r["ser"] for r in sub],
                yerr=[[r["ser"] - r["ser_ci"][0] for r in sub], [r["ser_ci"][1] - r["ser"] for r in sub]],
                color=col[rule],
                alpha=0.45,
                ls=lsty[rule],
                marker="^",
                capsize=2,
                lw=0.8,
                label=f"SER, {rule}",
            )
        tw.set_ylabel("sequence error rate (triangles)")
        tw.set_ylim(-0.02, 1.15)
        h1, l1 = axes[1].get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        axes[1].legend(h1 + h2, l1 + l2, fontsize=5.5, loc="center right")
        ax = axes[2]
        for rule in ("fixed", "bernoulli"):
            sub = sorted(
                (r for r in rows if str(r.get("rule")) == rule and "kl_data_to_sampler" in r),
                key=lambda r: r["steps"],
            )
            x = [r["steps"] for r in sub]
            ax.plot(
                x,
                [r["kl_data_to_sampler"] / TINY_L for r in sub],
                color=col[rule],
                ls=lsty[rule],
                marker="o",
                label=f"KL(q || p_bar)/L (mixture), {rule}",
            )
            ax.plot(
                x,
                [r["expected_kl_per_order"] / TINY_L for r in sub],
                color=col[rule],
                ls=lsty[rule],
                marker="x",
                alpha=0.6,
                label=f"E_M KL(q || p_M)/L (per order), {rule}",
            )
            ax.plot(
                x,
                [r["sequence_error"] for r in sub],
                color=col[rule],
                ls=lsty[rule],
                marker="^",
                alpha=0.5,
                label=f"SER, {rule}",
            )
            for r in sub:
                if not math.isfinite(r["kl_sampler_to_data"]):
                    ax.annotate(
                        "inf",
                        (r["steps"], r["kl_data_to_sampler"] / TINY_L),
                        fontsize=6,
                        color=col[rule],
                        xytext=(2, 4),
                        textcoords="offset points",
                    )
        ax.set_xlabel("number of steps N")
        ax.set_ylabel("nats per token  /  SER")
        ax.set_title(
            f"(c) exact laws, sparse chain V=3, L={TINY_L}\n('inf' = KL(p_bar || q), generative direction)"
        )
        ax.legend(fontsize=6)
        fig.suptitle(
            "Both perplexity directions (oracle sampler): the theory bounds data-under-sampler "
            "KL(q || p); generative perplexity E_p[-log q] diverges once SER > 0",
            fontsize=10,
        )
        png = save_figure(fig, stem.with_suffix(".png"))
    return [png, stem.with_suffix(".json")]
