"""Tang et al.'s headline finding reproduced with the exact sparse oracle on a corpus language: few-step
samplers are not distributionally correct, and the transition-level mismatch vanishes only as K -> L.

Thin module: the cells are :func:`theory.corpus_study.sampler_cell` (transition KL/TV rates with bootstrap
intervals, exact teacher-forced per-token KL where defined, SER on the exact-zeros variant), the floor
:func:`theory.corpus_study.data_floor`, the summary :func:`theory.corpus_study.mismatch_summary`. Data:
``corpus_tang.json`` (cells ``<sampler>|L|K``, each seeded from its key; floor and summary in ``meta``).
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.plot_style import house_style, label_panels, new_figure, note, style_for
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sweep import cell_seed
from theory.corpus_study import (
    ORACLE_FALLBACK,
    TANG_SAMPLERS,
    chain_transition_reference,
    data_floor,
    mismatch_summary,
    sampler_cell,
)

DESCRIPTION = (
    "Tang et al. on a corpus language: transition KL/TV, teacher-forced KL and SER vs steps, four samplers"
)

FIGURE = FigureSpec(
    name="corpus_tang",
    title="Few-step samplers are not correct even with the exact oracle (corpus language, Tang et al.)",
    caption="Four samplers driven by the exact sparse oracle (float64) of a character bigram fitted to the "
    "Python standard library (quick: stdlib_char2, V = 98, top-16 rows + Witten-Bell teleport; full: also the "
    "BPE-4096 bigram), sequences of length L, steps K from 1 to L. (a) Tang et al.'s transition KL rate of the "
    "generated sequences against the exact transition law (nats; error bars: normal bootstrap over "
    "sequences, 95%); grey band: the same plug-in rate of as many exact samples (the estimator's floor, their "
    "AR baseline). (b) transition TV rate. (c) exact per-token KL E_M KL(q || p_M)/L by teacher forcing "
    "(t-interval; defined for the value-independent orders only). (d) sequence error rate on the exact-zeros "
    "variant (stdlib_char2_zeros, top-8 rows; Wilson 95%).",
    shows="With few steps every sampler's transitions are far from the chain's. For the random-order "
    "samplers the mismatch falls to the data floor only as K approaches L (LLaDA random is exact at K = L: "
    "teacher-forced KL 0, SER 0); the low-confidence rule stays biased at K = L (it selects by the drawn "
    "token's probability).",
    claims=("corpus.tang_few_steps_incorrect", "corpus.tang_mismatch_vanishes_at_k_eq_l"),
    caveats=(
        "The languages are fitted to the Python standard library, not text8 or OpenWebText; the rates are "
        "against the exact pooled transition law (Tang et al. use their teleport-smoothed chain).",
        "ReMDM is the registered loop variant with the official defaults but without Tang et al.'s nucleus "
        "top-p 0.9, on a uniform time grid from 1 to 0 (theirs ends at 1e-5); K is not a multiple of 20, so "
        "the loop phases are rounded to the grid.",
        "Plug-in transition rates are biased upwards at a finite sample size: compare with the floor, not "
        "with zero. Quick preset: L = 32 and 128 sequences per cell.",
    ),
    oracle_fallback=ORACLE_FALLBACK,
)

PRESETS = {
    "quick": {
        "languages": [["stdlib_char2", "stdlib_char2_zeros"]],
        "lengths": [32],
        "steps_ratios": [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1],
        "num_samples": 128,
        "tf_samples": 128,
        "resamples": 100,
        "batch_size": 256,
        "seed": 0,
    },
    # Documented, not run in the development session. A run costs about sum(K) oracle calls of
    # num_samples x L tokens per sampler and part: at V = 98 the float64 sparse oracle computes roughly 5e4
    # tokens/s on one loaded CPU core, so the L = 1024 grid (sum K ~ 2L) is about 2 x 1024 x 128 x 1024 / 5e4
    # s ~ 1.5 h per sampler and part on one core (a cluster or GPU job: --slurm / --dask); the BPE-4096
    # language (about 3e3 tokens/s, docs/corpus_languages.md section 7) is run at L = 128 only.
    "full": {
        "languages": [["stdlib_char2", "stdlib_char2_zeros"]],
        "lengths": [128, 1024],
        "steps_ratios": [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1],
        "num_samples": 128,
        "tf_samples": 256,
        "resamples": 200,
        "batch_size": 64,
        "extra": [
            {"languages": ["stdlib_bpe4k2", "stdlib_bpe4k2_zeros"], "lengths": [128], "num_samples": 128}
        ],
        "seed": 0,
    },
}


def _steps(L: int, ratios) -> list[int]:
    return sorted({max(1, round(r * L)) for r in ratios})


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("corpus_tang" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "samplers": {k: {"registry": v[0], "description": v[1]} for k, v in TANG_SAMPLERS.items()},
            "denoiser": f"exact sparse oracle, float64, on_impossible={ORACLE_FALLBACK!r}",
            "transition_reference": "exact pooled transition law (theory.corpus_study.chain_transition_reference)",
            "intervals": "transition rates: normal bootstrap over sequences; teacher-forced KL: t; SER: Wilson; 95%",
            "seed": cfg["seed"],
            "preset": preset,
        },
    )
    floors = store.meta.setdefault("floors", {})
    groups = [(cfg["languages"], cfg["lengths"], cfg["num_samples"])]
    groups += [([e["languages"]], e["lengths"], e["num_samples"]) for e in cfg.get("extra", [])]
    for languages, lengths, num_samples in groups:
        _run_group(store, floors, cfg, languages, lengths, num_samples, progress)
    summary = {}
    for key in floors:
        name, L = key.split("|")
        cells = [r for r in store.values() if r["language"] == name and r["length"] == int(L)]
        summary[key] = mismatch_summary(cells, floors[key])
    store.meta["summary"] = summary
    store.flush()
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _run_group(store, floors, cfg, languages, lengths, num_samples, progress) -> None:
    for name, zeros in languages:
        lang, zlang = make_language(name), make_language(zeros)
        for L in lengths:
            ref = chain_transition_reference(lang, L)
            fkey = f"{name}|{L}"
            if fkey not in floors:
                g = make_generator(cell_seed(f"floor|{fkey}", cfg["seed"]))
                floors[fkey] = data_floor(lang, L, num_samples, g, ref, cfg["resamples"]).to_dict()
            todo = [
                (lab, K)
                for lab in TANG_SAMPLERS
                for K in _steps(L, cfg["steps_ratios"])
                if f"{name}|{lab}|{L}|{K}" not in store
            ]
            for lab, K in tqdm(todo, desc=f"tang {name} L={L}", leave=False, disable=not progress):
                key = f"{name}|{lab}|{L}|{K}"
                g = make_generator(cell_seed(key, cfg["seed"]))
                cell = sampler_cell(
                    lab,
                    L,
                    K,
                    g,
                    language=lang,
                    reference=ref,
                    zeros_language=zlang,
                    num_samples=num_samples,
                    tf_samples=cfg["tf_samples"],
                    resamples=cfg["resamples"],
                    batch_size=cfg["batch_size"],
                )
                store.put(key, {"language": name, "zeros_language": zeros, **cell.to_dict()})


def _errorbar(ax, rows, value, color, marker, label, ls="-"):
    rows = [r for r in rows if value(r) is not None and math.isfinite(value(r)[0])]
    if not rows:
        return
    x = [r["steps"] for r in rows]
    y = [value(r)[0] for r in rows]
    err = [
        [max(0.0, v[0] - v[1]) for v in map(value, rows)],
        [max(0.0, v[2] - v[0]) for v in map(value, rows)],
    ]
    ax.errorbar(x, y, yerr=err, color=color, marker=marker, ls=ls, capsize=2, lw=1.2, ms=4, label=label)


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    name = cfg["languages"][0][0]
    L = max(cfg["lengths"])
    rows = sorted(
        (r for r in store.values() if r["language"] == name and r["length"] == L), key=lambda r: r["steps"]
    )
    floor = store.meta["floors"][f"{name}|{L}"]
    panels = {
        "kl": lambda r: (r["transitions"]["kl_rate"], *r["transitions"]["kl_ci"]),
        "tv": lambda r: (r["transitions"]["tv_rate"], *r["transitions"]["tv_ci"]),
        "tf": lambda r: (
            None
            if r["teacher_forced_kl"] is None
            else (
                r["teacher_forced_kl"]["mean"],
                r["teacher_forced_kl"]["ci_low"],
                r["teacher_forced_kl"]["ci_high"],
            )
        ),
        "ser": lambda r: (r["ser"]["p"], r["ser"]["ci_low"], r["ser"]["ci_high"]),
    }
    with house_style():
        fig, axes = new_figure(2, 2, width=10.0, height=7.4)
        flat = [ax for row in axes for ax in row]
        for lab in TANG_SAMPLERS:
            st = style_for(TANG_SAMPLERS[lab][0])
            sub = [r for r in rows if r["sampler"] == lab]
            for ax, key in zip(flat, panels):
                _errorbar(ax, sub, panels[key], st["color"], st["marker"], lab)
        for ax, lo, hi in ((flat[0], *floor["kl_ci"]), (flat[1], *floor["tv_ci"])):
            ax.axhspan(lo, hi, color="0.5", alpha=0.25, lw=0)
        titles = (
            "transition KL rate (nats)",
            "transition TV rate",
            "exact per-token KL by teacher forcing (nats)",
            "sequence error rate (exact-zeros variant)",
        )
        for ax, title in zip(flat, titles):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("steps $K$")
            ax.set_title(title)
            ax.axvline(L, color="0.5", lw=0.8, ls=":")
        flat[0].set_yscale("log")
        flat[2].set_yscale("symlog", linthresh=1e-3)
        flat[2].set_ylim(bottom=0.0)
        flat[3].set_ylim(-0.03, 1.03)
        flat[0].legend(fontsize=8, loc="upper right")
        note(flat[1], f"{name}, $L$ = {L}; grey: exact samples (floor)", loc="upper right")
        label_panels(flat)
        return save_figure(fig, path)
