"""Quality versus number of denoiser calls for every sampler family (Monte Carlo, L = 32).

Languages ``ngram2`` and ``hmm`` (sims.registry), the same length and the same denoisers for every
sampler: MDLM ancestral, fixed-count random / max-prob, EB-sampler (gamma sweep), Fast-dLLM threshold and
factor rules, ReMDM (cap, loop), and random-order decoding followed by remask-and-resample rounds. Each
point is one setting; x = mean number of denoiser calls per sequence (Monte Carlo), y = sequence error
rate (Wilson 95% interval) and generative perplexity of the in-support samples (t-interval). Denoisers:
the oracle and the suite's trained transformer MDM side by side (trained once with the matching
``sims.models`` preset and cached under results/models/); pass ``run(..., denoisers={...})`` to change.
Data: ``samplers_calls_quality.json`` / ``.csv`` beside the PNG; cells resume from the JSON.
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.samplers_common import family_styles, oracle_and_trained, sampler_families
from sims.categorical import make_generator
from sims.metrics import evaluate_samples
from sims.plotting import house_style, plt, save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sweep import cell_seed

DESCRIPTION = "SER and gen. perplexity vs denoiser calls: EB, Fast-dLLM, ReMDM, corrector, baselines"

PRESETS = {
    "quick": {"languages": ["ngram2", "hmm"], "length": 32, "num_samples": 256, "batch_size": 256},
    "full": {"languages": ["ngram2", "ngram3", "hmm"], "length": 64, "num_samples": 2048, "batch_size": 512},
}


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    denoisers = denoisers or oracle_and_trained(cfg["length"], preset)
    stem = Path(out_dir) / ("samplers_calls_quality" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={"preset": preset, "num_samples": cfg["num_samples"], "length": cfg["length"]},
    )
    L = cfg["length"]
    specs = sampler_families(L, preset)
    cells = [(d, lang, s) for d in denoisers for lang in cfg["languages"] for s in specs]
    it = cells
    if progress:
        it = tqdm(cells, desc="samplers calls/quality")
    langs, dens = {}, {}
    for dname, lname, spec in it:
        key = f"{dname}|{lname}|L={L}|{spec.label}"
        if key in store:
            continue
        if lname not in langs:
            langs[lname] = make_language(lname)
        if (dname, lname) not in dens:
            dens[(dname, lname)] = denoisers[dname](lname, langs[lname])
        lang = langs[lname]
        sampler = spec.make(L)
        res = sampler.sample(
            dens[(dname, lname)],
            cfg["num_samples"],
            L,
            make_generator(cell_seed(key, 0)),
            batch_size=cfg["batch_size"],
        )
        q = evaluate_samples(lang, res.tokens, nfe=res.nfe)
        store.put(
            key,
            {
                "denoiser": dname,
                "language": lname,
                "length": L,
                "family": spec.family,
                "knob": spec.knob,
                "value": spec.value,
                "quality": q.to_dict(),
                "nfe_mean": res.mean_nfe,
                "nfe_std": float(res.nfe.double().std()),
                "conventions": res.conventions,
            },
        )
    store.write_csv(
        stem.with_suffix(".csv"),
        columns=[
            "denoiser",
            "language",
            "length",
            "family",
            "knob",
            "value",
            "nfe_mean",
            "quality.sequence_error.p",
            "quality.gen_perplexity_in_support",
        ],
    )
    fig = plot(list(store.values()), stem.with_suffix(".png"), L)
    return [fig, stem.with_suffix(".json"), stem.with_suffix(".csv")]


def plot(rows: list[dict], path: Path, length: int) -> Path:
    panels = sorted({(r["denoiser"], r["language"]) for r in rows})
    families = list(dict.fromkeys(r["family"] for r in rows))
    style = family_styles(families)
    with house_style():
        fig, axes = plt.subplots(2, len(panels), figsize=(4.6 * len(panels) + 1.8, 7.0), squeeze=False)
        for j, (dname, lname) in enumerate(panels):
            sub = [r for r in rows if r["denoiser"] == dname and r["language"] == lname]
            for fam in families:
                pts = sorted((r for r in sub if r["family"] == fam), key=lambda r: r["nfe_mean"])
                if not pts:
                    continue
                x = [r["nfe_mean"] for r in pts]
                ser = [r["quality"]["sequence_error"] for r in pts]
                p = [s["p"] for s in ser]
                axes[0, j].errorbar(
                    x,
                    p,
                    yerr=[
                        [max(0.0, a - s["ci_low"]) for a, s in zip(p, ser)],
                        [max(0.0, s["ci_high"] - a) for a, s in zip(p, ser)],
                    ],
                    label=fam,
                    capsize=2,
                    lw=1,
                    ms=4,
                    **style[fam],
                )
                nll = [r["quality"]["gen_nll_per_token_in_support"] for r in pts]
                ok = [(xx, n) for xx, n in zip(x, nll) if n and math.isfinite(n.get("mean", math.nan))]
                if ok:
                    xs = [a for a, _ in ok]
                    ppl = [math.exp(n["mean"]) for _, n in ok]
                    lo = [
                        max(0.0, v - math.exp(n["ci_low"])) if math.isfinite(n["ci_low"]) else 0
                        for v, (_, n) in zip(ppl, ok)
                    ]
                    hi = [
                        max(0.0, math.exp(n["ci_high"]) - v) if math.isfinite(n["ci_high"]) else 0
                        for v, (_, n) in zip(ppl, ok)
                    ]
                    axes[1, j].errorbar(xs, ppl, yerr=[lo, hi], capsize=2, lw=1, ms=4, **style[fam])
            try:
                opt = math.exp(make_language(lname).entropy_per_token(length))
                axes[1, j].axhline(opt, color="0.3", ls="--", lw=0.8, label="optimal exp(H/L)")
                axes[1, j].legend(loc="upper right")
            except (NotImplementedError, ValueError):
                pass
            axes[0, j].set_title(f"{lname}, L={length}, denoiser: {dname}")
            for i in range(2):
                axes[i, j].set_xscale("log", base=2)
                axes[i, j].set_xlabel("mean denoiser calls per sequence (Monte Carlo)")
            axes[0, j].set_ylabel("sequence error rate P(q(x)=0)")
            axes[0, j].set_ylim(-0.03, 1.03)
            axes[1, j].set_ylabel("generative perplexity exp(E_p[-log q]/L)\n(in-support samples)")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
        fig.suptitle("Adaptive and self-correcting samplers: quality vs calls (95% intervals)")
        return save_figure(fig, path)
