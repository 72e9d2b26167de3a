"""Trained small MDMs beside the oracle: sample quality versus model calls.

Thin module: the models come from the shared cache (:data:`sims.models.experiments.QUALITY_SUITES`), each
cell is :func:`theory.sampler_studies.monte_carlo_cell` (AR baseline:
:func:`theory.sampler_studies.autoregressive_cell`). Data: ``training_quality_vs_steps.json`` (every
cell, resumable) and ``.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from paper_repro.samplers_common import draw_missing
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.models.experiments import QUALITY_SUITES, run_configs
from sims.plot_style import (
    CALLS_LABEL,
    MIN_PERPLEXITY_SAMPLES,
    house_style,
    label_panels,
    new_figure,
    style_for,
)
from sims.plotting import save_figure
from sims.registry import make_language, make_sampler
from sims.results import ResultStore
from theory.sampler_studies import autoregressive_cell, monte_carlo_cell

DESCRIPTION = "trained MDMs vs oracle (+AR): gen. perplexity, data-direction bound, SER vs sampling steps"

FIGURE = FigureSpec(
    name="training_quality_vs_steps",
    title="Trained small MDMs beside the oracle: sample quality against model calls",
    caption="ngram2 at L = 16 (quick preset: MDMs trained with the standard estimator and with P-POTS + "
    "MIRROR, seed 0; 256 samples per cell). Columns: samplers (MDLM ancestral, fixed-count random and "
    "max-prob orders) at K = 1, 2, 4, 8, 16 steps; x: mean model calls (ancestral steps can be empty). "
    "Rows: (1) generative perplexity exp(E_p[-log q]/L) of the in-support samples (t-intervals mapped "
    "through exp); a cell with fewer than 20 in-support samples is not drawn: a hollow marker on the lower "
    "edge gives its position and count; (2) the data-direction bound exp(E_q E_M[-log p_M]/L) by teacher "
    "forcing along the sampler's own random orders (value-independent orders only); (3) sequence error "
    "rate (Wilson 95%); (4) n-gram token error rate (t-interval). Black: the AR baseline of the same "
    "preset (L calls; exact likelihood in row 2); dotted: the optimal exp(H/L). The oracle uses the "
    "min_violation fallback once a trajectory has left the support, so its token error rate counts only "
    "the violations the sampler itself made.",
    shows="The trained MDMs approach the oracle's perplexity with few calls but keep a sequence-error floor "
    "from their learning error even at one token per step, where the oracle is exact; the AR baseline "
    "has lower error at L calls.",
    claims=("training.quick_model_error_floor",),
    caveats=(
        "One small model per estimator (seed 0) at toy scale; differences between the two estimators are "
        "within the Monte Carlo intervals.",
    ),
    oracle_fallback="min_violation",
    depends_on=("training_curves",),
)

#: Rows of the figure: (record field, label).
ROWS = ("perplexity", "data bound", "sequence error", "token error")


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    suite = QUALITY_SUITES[preset]
    lang = make_language(suite.language)
    L = suite.length
    h = lang.entropy_per_token(L)
    mdms = run_configs(suite.configs(), progress=progress)
    ars = run_configs(suite.ar_configs(), progress=progress)
    denoisers = {"oracle": OracleDenoiser(lang, on_impossible=sampling_fallback(lang))}
    for m in mdms:
        denoisers[f"MDM {m.config.method} s{m.config.seed}"] = m.denoiser()
    stem = out_dir / ("training_quality_vs_steps" + ("" if preset == "quick" else f"_{preset}"))
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
    for name, sampler_name, k in tqdm(todo, desc="quality cells", disable=not progress):
        key = f"{name}|{sampler_name}|K={k}"
        cell = monte_carlo_cell(
            make_sampler(sampler_name, k), denoisers[name], lang, L, suite.num_samples, f"{preset}|{key}",
            optimal_nll_per_token=h, data_nll=True,
        )  # fmt: skip
        store.put(key, {"denoiser": name, "sampler": sampler_name, "steps": k, **cell})
    for ar in ars:
        key = f"AR s{ar.config.seed}"
        if key in store:
            continue
        cell = autoregressive_cell(ar.ar(), lang, L, suite.num_samples, f"{preset}|{key}")
        store.put(
            key,
            {
                "denoiser": key,
                "sampler": "autoregressive",
                "steps": L,
                **cell,
                "train_seconds": ar.train_seconds,
            },
        )
    store.meta["oracle_fallback"] = sampling_fallback(lang)
    store.flush()
    store.write_csv(stem.with_suffix(".csv"))
    fig = _plot(list(store.values()), suite, h, stem.with_suffix(".png"))
    return [fig, stem.with_suffix(".json"), stem.with_suffix(".csv")]


def _exp(v):
    return math.exp(v) if v is not None and math.isfinite(v) else math.nan


def _calls(r: dict) -> float:
    return r["nfe_mean"] if "nfe_mean" in r else r["quality"]["mean_nfe"] or r["steps"]


def _interval(est: dict | None, transform=float) -> tuple[float, float, float]:
    if not est:
        return math.nan, 0.0, 0.0
    m, lo, hi = transform(est["mean"]), transform(est["ci_low"]), transform(est["ci_high"])
    return m, max(0.0, m - lo), max(0.0, hi - m)


def _series(pts: list[dict], row: str):
    """(y, lower error, upper error, missing [(x, count)]) of one row of the figure."""
    out, missing = [], []
    for r in pts:
        q = r["quality"]
        if row == "perplexity":
            gen = q["gen_nll_per_token_in_support"] or {}
            if gen.get("n", 0) < MIN_PERPLEXITY_SAMPLES:
                missing.append((_calls(r), gen.get("n", 0)))
                gen = None
            out.append(_interval(gen, _exp))
        elif row == "data bound":
            out.append(_interval(r.get("data_nll"), _exp))
        elif row == "sequence error":
            s = q["sequence_error"]
            out.append((s["p"], max(0.0, s["p"] - s["ci_low"]), max(0.0, s["ci_high"] - s["p"])))
        else:
            out.append(_interval(q.get("token_error_rate")))
    y, lo, hi = zip(*out) if out else ((), (), ())
    return list(y), list(lo), list(hi), missing


def _plot(rows, suite, h, path):
    samplers = list(suite.samplers)
    names = list(dict.fromkeys(r["denoiser"] for r in rows if r["sampler"] != "autoregressive"))
    ar_rows = [r for r in rows if r["sampler"] == "autoregressive"]
    with house_style():
        fig, axes = new_figure(4, len(samplers), width=10.0, height=10.0, sharex="col")
        for j, s in enumerate(samplers):
            panel_missing: dict[int, list] = {}
            for name in names:
                pts = sorted(
                    (r for r in rows if r["denoiser"] == name and r["sampler"] == s), key=lambda r: r["steps"]
                )
                if not pts:
                    continue
                st = style_for(
                    "oracle"
                    if name == "oracle"
                    else ("ppots_mirror" if "ppots_mirror" in name else "standard")
                )
                ls = "--" if name == "oracle" else "-"
                x = [_calls(r) for r in pts]
                for i, row in enumerate(ROWS):
                    y, lo, hi, missing = _series(pts, row)
                    if all(math.isnan(v) for v in y) and not missing:
                        continue
                    axes[i, j].errorbar(x, y, yerr=[lo, hi], ls=ls, capsize=2, label=name, **st)
                    panel_missing.setdefault(i, []).extend((xm, n, st) for xm, n in missing)
            for i, missing in panel_missing.items():
                draw_missing(axes[i, j], missing)
            has_bound = any("data_nll" in r for r in rows if r["sampler"] == s)
            for ar in ar_rows:
                q = ar["quality"]
                kw = {"color": "k", "lw": 1}
                axes[0, j].axhline(
                    _exp((q["gen_nll_per_token_in_support"] or {}).get("mean")),
                    label=f"{ar['denoiser']} (AR, $L$ calls)",
                    **kw,
                )
                if has_bound:
                    axes[1, j].axhline(_exp(ar["data_nll"]["mean"]), **kw)
                axes[2, j].axhline(q["sequence_error"]["p"], **kw)
                if q.get("token_error_rate"):
                    axes[3, j].axhline(q["token_error_rate"]["mean"], **kw)
            for i in range(2 if has_bound else 1):
                axes[i, j].axhline(
                    math.exp(h), color="0.6", ls=":", lw=1, label=r"optimal $\exp(H/L)$" if i == 0 else None
                )
            if not has_bound:
                axes[1, j].text(0.5, 0.5, "value-dependent order:\nno teacher-forced bound", ha="center", va="center", transform=axes[1, j].transAxes, fontsize=9)  # fmt: skip
                axes[1, j].set_yticks([])
            axes[0, j].set_title(s.replace("_", " "))
            axes[2, j].set_ylim(-0.03, 1.03)
            axes[3, j].set_xlabel(CALLS_LABEL)
            for i in range(4):
                axes[i, j].set_xscale("log", base=2)
        axes[0, 0].set_ylabel("gen. perplexity\n(in support)")
        axes[1, 0].set_ylabel("data-direction bound\n" + r"$\exp(E_q E_M[-\log p_M]/L)$")
        axes[2, 0].set_ylabel("sequence error")
        axes[3, 0].set_ylabel("token error rate")
        handles = {}
        for ax in axes.flat:
            for hd, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, hd)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=3)
        label_panels(axes)
        return save_figure(fig, path)
