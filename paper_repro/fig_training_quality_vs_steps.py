"""Trained small MDMs beside the oracle: sample quality versus the number of sampling steps.

Figure ``training_quality_vs_steps.png`` (data ``.json`` with every cell, resumable, and ``.csv``), suite
:data:`sims.models.experiments.QUALITY_SUITES` (quick: ``ngram2`` at L = 16, MDMs trained with the
standard estimator and with P-POTS + MIRROR, seed 0; full: L = 32, four methods x three seeds).

Rows: (1) generative perplexity exp(E_{x~sampler}[-log q(x)]/L) over in-support samples (hollow markers
where some samples left the support; cells with fewer than 20 in-support samples omitted), (2) the data-direction bound exp(E_{x~q} E_M[-log p_M(x)]/L) by
teacher forcing along the sampler's own random unmasking orders (only for value-independent orders:
ancestral and fixed_random; :func:`sims.metrics.order_conditional_data_nll`), (3) sequence error rate
(Wilson 95% interval), (4) n-gram token error rate (t-interval). Caveat for row 4: the oracle falls back
to uniform laws once a trajectory has left the support, which inflates its token error rate at few
steps; the trained networks have no such fallback. Columns: samplers. Lines: oracle and trained MDMs; the horizontal black line is
the AR baseline of the same preset (L steps, exact likelihood for row 2), the dashed grey line the
optimal value exp(H/L). Error bars: 95% t-intervals of the mean NLL mapped through exp.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.metrics import evaluate_samples, mean_estimate, order_conditional_data_nll
from sims.models.experiments import QUALITY_SUITES, run_configs
from sims.plotting import house_style, save_figure
from sims.registry import make_language, make_sampler
from sims.results import ResultStore
from sims.sweep import cell_seed

DESCRIPTION = "trained MDMs vs oracle (+AR): gen. perplexity, data-direction bound, SER vs sampling steps"

RANDOM_ORDER = ("ancestral", "fixed_random", "first_hitting")
#: generative perplexity over in-support samples is shown only for cells with at least this many of them
MIN_IN_SUPPORT = 20


def _cell_record(lang, den, sampler_name, steps, L, n, seed_key):
    g = make_generator(cell_seed(seed_key, 0))
    sampler = make_sampler(sampler_name, steps)
    res = sampler.sample(den, n, L, g, batch_size=n)
    q = evaluate_samples(lang, res.tokens, nfe=res.nfe, optimal_nll_per_token=lang.entropy_per_token(L))
    rec = {"quality": q.to_dict(), "conventions": res.conventions}
    if sampler_name in RANDOM_ORDER:
        rec["data_nll"] = order_conditional_data_nll(lang, den, sampler, L, n, g).to_dict()
    return rec


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    suite = QUALITY_SUITES[preset]
    lang = make_language(suite.language)
    L = suite.length
    mdms = run_configs(suite.configs(), progress=progress)
    ars = run_configs(suite.ar_configs(), progress=progress)
    denoisers = {"oracle": OracleDenoiser(lang, on_impossible=sampling_fallback(lang))}
    for m in mdms:
        denoisers[f"MDM {m.config.method} s{m.config.seed}"] = m.denoiser()
    stem = Path(out_dir) / ("training_quality_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "suite": {
                "language": suite.language,
                "length": L,
                "preset": suite.preset,
                "num_samples": suite.num_samples,
                "model_configs": [m.config.digest() for m in mdms + ars],
            }
        },
    )
    cells = [(d, s, k) for d in denoisers for s in suite.samplers for k in suite.steps if k <= L]
    todo = [c for c in cells if f"{c[0]}|{c[1]}|K={c[2]}" not in store]
    if progress:
        todo = tqdm(todo, desc="quality cells")
    for name, sampler_name, k in todo:
        key = f"{name}|{sampler_name}|K={k}"
        rec = _cell_record(lang, denoisers[name], sampler_name, k, L, suite.num_samples, f"{preset}|{key}")
        store.put(key, {"denoiser": name, "sampler": sampler_name, "steps": k, **rec})
    for ar in ars:
        key = f"AR s{ar.config.seed}"
        if key in store:
            continue
        model = ar.ar()
        g = make_generator(cell_seed(f"{preset}|{key}", 0))
        x = model.sample(suite.num_samples, L, g)
        q = evaluate_samples(lang, x, optimal_nll_per_token=lang.entropy_per_token(L))
        data = mean_estimate(-model.log_prob(lang.sample(suite.num_samples, L, g)) / L)
        store.put(
            key,
            {
                "denoiser": key,
                "sampler": "autoregressive",
                "steps": L,
                "quality": q.to_dict(),
                "data_nll": data.to_dict(),
                "train_seconds": ar.train_seconds,
            },
        )
    store.write_csv(stem.with_suffix(".csv"))
    fig = _plot(list(store.values()), suite, lang.entropy_per_token(L), stem.with_suffix(".png"))
    return [fig, stem.with_suffix(".json"), stem.with_suffix(".csv")]


def _exp(v):
    return math.exp(v) if v is not None and math.isfinite(v) else math.nan


def _plot(rows, suite, h, path):

    samplers = list(suite.samplers)
    names = list(dict.fromkeys(r["denoiser"] for r in rows if r["sampler"] != "autoregressive"))
    ar_rows = [r for r in rows if r["sampler"] == "autoregressive"]
    with house_style():
        fig, axes = plt.subplots(4, len(samplers), figsize=(3.8 * len(samplers), 10.5), squeeze=False)
        for j, s in enumerate(samplers):
            for i, name in enumerate(names):
                pts = sorted(
                    (r for r in rows if r["denoiser"] == name and r["sampler"] == s), key=lambda r: r["steps"]
                )
                if not pts:
                    continue
                ks = [r["steps"] for r in pts]
                color = "0.35" if name == "oracle" else f"C{i}"
                ls = "--" if name == "oracle" else "-"
                # in-support perplexity only where at least MIN_IN_SUPPORT samples stayed in the support
                gen = [
                    (r["quality"]["gen_nll_per_token_in_support"] or {})
                    if (r["quality"]["gen_nll_per_token_in_support"] or {}).get("n", 0) >= MIN_IN_SUPPORT
                    else {}
                    for r in pts
                ]
                y = [_exp(x.get("mean")) for x in gen]
                err = [
                    [max(0, a - _exp(x.get("ci_low"))) for a, x in zip(y, gen)],
                    [max(0, _exp(x.get("ci_high")) - a) for a, x in zip(y, gen)],
                ]
                axes[0, j].errorbar(ks, y, yerr=err, color=color, ls=ls, marker="o", capsize=2, label=name)
                bad = [r["quality"]["sequence_error"]["p"] > 0 for r in pts]
                axes[0, j].scatter(
                    [k for k, b in zip(ks, bad) if b],
                    [v for v, b in zip(y, bad) if b],
                    facecolors="white",
                    edgecolors=color,
                    zorder=3,
                    s=14,
                )
                if "data_nll" in pts[0]:
                    dn = [r["data_nll"] for r in pts]
                    yd = [_exp(x["mean"]) for x in dn]
                    errd = [
                        [max(0, a - _exp(x["ci_low"])) for a, x in zip(yd, dn)],
                        [max(0, _exp(x["ci_high"]) - a) for a, x in zip(yd, dn)],
                    ]
                    axes[1, j].errorbar(
                        ks, yd, yerr=errd, color=color, ls=ls, marker="o", capsize=2, label=name
                    )
                ser = [r["quality"]["sequence_error"] for r in pts]
                p = [x["p"] for x in ser]
                axes[2, j].errorbar(
                    ks,
                    p,
                    yerr=[
                        [max(0.0, a - x["ci_low"]) for a, x in zip(p, ser)],
                        [max(0.0, x["ci_high"] - a) for a, x in zip(p, ser)],
                    ],
                    color=color,
                    ls=ls,
                    marker="o",
                    capsize=2,
                    label=name,
                )
                ter = [r["quality"]["token_error_rate"] for r in pts]
                if all(t is not None for t in ter):
                    pt = [t["mean"] for t in ter]
                    axes[3, j].errorbar(
                        ks,
                        pt,
                        yerr=[
                            [max(0.0, a - t["ci_low"]) for a, t in zip(pt, ter)],
                            [max(0.0, t["ci_high"] - a) for a, t in zip(pt, ter)],
                        ],
                        color=color,
                        ls=ls,
                        marker="o",
                        capsize=2,
                        label=name,
                    )
            has_data = "data_nll" in next((r for r in rows if r["sampler"] == s), {})
            for ar in ar_rows:
                q = ar["quality"]
                axes[0, j].axhline(
                    _exp((q["gen_nll_per_token_in_support"] or {}).get("mean")),
                    color="k",
                    lw=1,
                    label=f"{ar['denoiser']} (AR, L steps)",
                )
                if has_data:
                    axes[1, j].axhline(
                        _exp(ar["data_nll"]["mean"]),
                        color="k",
                        lw=1,
                        label=f"{ar['denoiser']} (exact log-lik.)",
                    )
                axes[2, j].axhline(q["sequence_error"]["p"], color="k", lw=1, label=f"{ar['denoiser']}")
                if q.get("token_error_rate"):
                    axes[3, j].axhline(
                        q["token_error_rate"]["mean"], color="k", lw=1, label=f"{ar['denoiser']}"
                    )
            for r in range(2 if has_data else 1):
                axes[r, j].axhline(math.exp(h), color="0.6", ls=":", lw=1, label="optimal exp(H/L)")
            axes[0, j].set_title(s)
            if not has_data:
                axes[1, j].text(
                    0.5,
                    0.5,
                    "value-dependent order:\nno teacher-forced bound",
                    ha="center",
                    va="center",
                    transform=axes[1, j].transAxes,
                    fontsize=8,
                )
                axes[1, j].set_yticks([])
            for r in range(4):
                axes[r, j].set_xscale("log", base=2)
            axes[3, j].set_xlabel("number of sampling steps K")
            axes[2, j].set_ylim(-0.03, 1.03)
        axes[0, 0].set_ylabel("generative perplexity\nexp(E_sampler[-log q]/L), in-support")
        axes[1, 0].set_ylabel("data-direction bound\nexp(E_q E_M[-log p_M]/L)")
        axes[2, 0].set_ylabel("sequence error rate")
        axes[3, 0].set_ylabel("token error rate\n(positions breaking the n-gram support)")
        axes[0, 0].legend(fontsize=6)
        axes[1, 0].legend(fontsize=6)
        fig.suptitle(
            f"Trained MDMs vs oracle on {suite.language}, L={suite.length} ({suite.preset} preset, "
            f"{suite.num_samples} samples per cell)"
        )
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.text(
            0.01,
            0.005,
            "Oracle: once a trajectory has left the support it continues with the exact "
            "posterior of the closest valid language (sims.denoisers.oracle, on_impossible='min_violation'), "
            "so its token error rate counts only the violations the sampler itself made.",
            fontsize=7,
        )
        return save_figure(fig, path)
