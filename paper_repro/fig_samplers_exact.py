"""Exact quality versus calls on enumerable languages, and the margins of the EB / Fast-dLLM bounds.

Figure 1 (``samplers_exact.png``): for a dense HMM (V=3, L=5), a sparse bigram (V=3, L=5) and the parity
language (L=6), the exact output law of every sampler family (enumeration; ReMDM by its dense exact
propagation) gives KL(q || p) (data to sampler, the direction the theory bounds), KL(p || q) (infinite
once the sampler leaves the support, then not drawn) and the sequence error P_p(q(x)=0), against the
mean number of denoiser calls (Monte Carlo, 4000 runs per point).

Figure 2 (``samplers_bounds.png``): EB-sampler with the oracle and the deterministic entropy rule:
KL(q||p) = E_q sum TC (identity, checked), the paper's certificate E_q sum (sum H - max H) and the budget
gamma * E_q[steps], versus gamma; Fast-dLLM threshold: KL = E sum TC versus the Theorem-1 certificate
E_q sum (n-1)(H_b(eps)+eps ln(V-1)), versus tau. Expectations follow the data-induced path.
Data: JSON beside each PNG.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from paper_repro.samplers_common import DEFAULT_DENOISERS, family_styles
from sims.categorical import make_generator
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages.formal import parity_language
from sims.languages.random import random_hmm, random_ngram
from sims.metrics import exact_law_metrics
from sims.plotting import house_style, plt, save_figure
from sims.results import ResultStore, atomic_write_text
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.remdm_exact import exact_remdm_laws, final_sequence_law
from sims.sweep import cell_seed
from theory.parallel_bounds import replay_deterministic

DESCRIPTION = "exact KL/SER vs calls on tiny languages; EB and Fast-dLLM bound margins"

LANGUAGES = {
    "hmm_dense_V3_seed4": (
        lambda: random_hmm(3, 3, transition_concentration=0.5, emission_concentration=0.5, seed=4),
        5,
    ),
    # seed 0: 48 of 243 strings in the support (seeds 1, 3, 4 give a chain that never uses its zeros)
    "bigram_sparse_V3_seed0": (
        lambda: random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=0),
        5,
    ),
    "parity": (parity_language, 6),
}
PRESETS = {
    "quick": {"mc_runs": 4000, "languages": list(LANGUAGES)},
    "full": {"mc_runs": 20000, "languages": list(LANGUAGES)},
}


def exact_specs(L: int):
    out = []
    for k in sorted({1, 2, 3, L}):
        out.append(("ancestral (MDLM)", "K", k, lambda k=k: AncestralSampler(k)))
        out.append(("fixed-count random", "K", k, lambda k=k: FixedCountSampler(k, score="random")))
        out.append(("fixed-count max-prob", "K", k, lambda k=k: FixedCountSampler(k, score="max_prob")))
        out.append(
            ("fixed-count sampled-prob", "K", k, lambda k=k: FixedCountSampler(k, score="sampled_prob"))
        )
    for g in [0.0, 0.3, 0.7, 1.5, 3.0, math.inf]:
        out.append(("EB entropy", "gamma", g, lambda g=g: EBSampler(g)))
    for t in [0.3, 0.5, 0.7, 0.9]:
        out.append(("Fast-dLLM threshold", "tau", t, lambda t=t: FastDLLMSampler("threshold", t)))
    for k in [2, 4, 8, 16]:
        out.append(("ReMDM cap eta=0.04", "K", k, lambda k=k: ReMDMSampler(k, "cap", eta=0.04)))
        out.append(("ReMDM rescale eta=0.5", "K", k, lambda k=k: ReMDMSampler(k, "rescale", eta=0.5)))
    for n in [1, 2, 4]:
        out.append(
            (
                "random K=2 + remask-2 rounds",
                "rounds",
                n,
                lambda n=n: RemaskCorrector(FixedCountSampler(2), n, 2),
            )
        )
    return out


def _law(sampler, den, L, V):
    if isinstance(sampler, ReMDMSampler):
        return final_sequence_law(exact_remdm_laws(sampler, den, L)[-1], V, L)
    return exact_sampler_law(sampler, den, L)


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    denoisers = denoisers or DEFAULT_DENOISERS
    out_dir = Path(out_dir)
    suffix = "" if preset == "quick" else f"_{preset}"
    stem = out_dir / f"samplers_exact{suffix}"
    store = ResultStore(stem.with_suffix(".json"), meta={"preset": preset, "mc_runs": cfg["mc_runs"]})
    cells = [
        (d, lang, spec)
        for d in denoisers
        for lang in cfg["languages"]
        for spec in exact_specs(LANGUAGES[lang][1])
    ]
    it = cells
    if progress:
        it = tqdm(cells, desc="samplers exact")
    cache = {}
    for dname, lname, (fam, knob, val, make) in it:
        key = f"{dname}|{lname}|{fam}|{knob}={val:g}"
        if key in store:
            continue
        if (dname, lname) not in cache:
            lang = LANGUAGES[lname][0]()
            L = LANGUAGES[lname][1]
            cache[(dname, lname)] = (lang, L, denoisers[dname](lname, lang), exact_log_joint(lang, L))
        lang, L, den, lj = cache[(dname, lname)]
        sampler = make()
        law = _law(sampler, den, L, lang.vocab_size)
        m = exact_law_metrics(lj, law, L)
        res = sampler.sample(
            den, cfg["mc_runs"], L, make_generator(cell_seed(key, 0)), batch_size=cfg["mc_runs"]
        )
        store.put(
            key,
            {
                "denoiser": dname,
                "language": lname,
                "length": L,
                "family": fam,
                "knob": knob,
                "value": val,
                "metrics": m.to_dict(),
                "nfe_mean": res.mean_nfe,
                "nfe_stderr": float(res.nfe.double().std()) / math.sqrt(cfg["mc_runs"]),
            },
        )
    paths = [plot(list(store.values()), stem.with_suffix(".png")), stem.with_suffix(".json")]
    paths += bounds_figure(out_dir / f"samplers_bounds{suffix}", denoisers)
    return paths


def plot(rows, path: Path) -> Path:
    panels = sorted({(r["denoiser"], r["language"]) for r in rows})
    families = list(dict.fromkeys(r["family"] for r in rows))
    style = family_styles(families)
    with house_style():
        fig, axes = plt.subplots(3, len(panels), figsize=(4.3 * len(panels) + 2.0, 9.4), squeeze=False)
        fig.subplots_adjust(wspace=0.42, hspace=0.32)
        for j, (dname, lname) in enumerate(panels):
            sub = [r for r in rows if r["denoiser"] == dname and r["language"] == lname]
            for fam in families:
                pts = sorted((r for r in sub if r["family"] == fam), key=lambda r: r["nfe_mean"])
                x = [r["nfe_mean"] for r in pts]
                for i, metric in enumerate(["kl_data_to_sampler", "kl_sampler_to_data", "sequence_error"]):
                    y = [r["metrics"][metric] for r in pts]
                    ok = [(a, b) for a, b in zip(x, y) if math.isfinite(b)]
                    if ok:
                        axes[i, j].plot(*zip(*ok), label=fam, lw=1, ms=4, **style[fam])
            L = sub[0]["length"]
            axes[0, j].set_title(f"{lname} (L={L}), denoiser: {dname}")
            axes[0, j].set_ylabel("KL(q || p) nats  [data -> sampler]")
            axes[1, j].set_ylabel("KL(p || q) nats  [sampler -> data]\n(not drawn where infinite)")
            axes[2, j].set_ylabel("sequence error P_p(q(x) = 0)")
            for i, metric in enumerate(["kl_data_to_sampler", "kl_sampler_to_data", "sequence_error"]):
                finite = [r["metrics"][metric] for r in sub if math.isfinite(r["metrics"][metric])]
                axes[i, j].set_xlabel("mean denoiser calls (Monte Carlo)")
                axes[i, j].set_yscale("symlog", linthresh=1e-3)
                axes[i, j].set_ylim(-1e-4, max([1.0] + finite) * 2)
                xs = [r["nfe_mean"] for r in sub]
                axes[i, j].set_xlim(min(xs) - 0.3, max(xs) + 0.3)
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
        fig.suptitle("Exact output laws (enumeration) vs calls; zero = exact sampler")
        return save_figure(fig, path)


def bounds_figure(stem: Path, denoisers: dict) -> list[Path]:
    rows = []
    for dname, factory in denoisers.items():
        for lname in ["hmm_dense_V3_seed4", "parity"]:
            lang = LANGUAGES[lname][0]()
            L = LANGUAGES[lname][1]
            den = factory(lname, lang)
            lj = exact_log_joint(lang, L)
            for g in [0.0, 0.1, 0.3, 0.7, 1.0, 1.5, 2.0, 3.0]:
                dec = replay_deterministic(
                    EBSampler(g, tie_break="lowest_index").select_positions, lj, den, lang.vocab_size, L
                )
                rows.append(
                    {
                        "denoiser": dname,
                        "language": lname,
                        "sampler": "EB entropy",
                        "knob": g,
                        **dec.summary(),
                    }
                )
            for t in [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]:
                dec = replay_deterministic(
                    FastDLLMSampler("threshold", t, tie_break="lowest_index").select_positions,
                    lj,
                    den,
                    lang.vocab_size,
                    L,
                )
                rows.append(
                    {
                        "denoiser": dname,
                        "language": lname,
                        "sampler": "Fast-dLLM threshold",
                        "knob": t,
                        **dec.summary(),
                    }
                )
    atomic_write_text(stem.with_suffix(".json"), json.dumps(_jsonable(rows), indent=1))
    panels = sorted({(r["denoiser"], r["language"]) for r in rows})
    with house_style():
        fig, axes = plt.subplots(2, len(panels), figsize=(4.4 * len(panels), 7.6), squeeze=False)
        fig.subplots_adjust(hspace=0.35)
        for j, (dname, lname) in enumerate(panels):
            eb = [
                r
                for r in rows
                if r["denoiser"] == dname and r["language"] == lname and r["sampler"] == "EB entropy"
            ]
            g = [r["knob"] for r in eb]
            ax = axes[0, j]
            ax.plot(g, [r["kl"] for r in eb], "o-", label="KL(q || p_EB) (exact law)")
            ax.plot(
                g,
                [r["expected_tc"] + r["expected_model_error"] for r in eb],
                "x",
                ms=7,
                label="E_q sum TC + model error (identity)",
            )
            ax.plot(
                g,
                [r["expected_eb_certificate_data"] for r in eb],
                "s--",
                label="E_q sum (sum H - max H) (paper)",
            )
            ax.plot(g, [r["knob"] * r["expected_steps"] for r in eb], "^:", label="gamma * E_q[steps]")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_xlabel("gamma (nats)")
            ax.set_ylabel("nats")
            ax.set_title(f"EB entropy rule, {lname}, denoiser: {dname}")
            ax.legend(fontsize=6)
            fd = [
                r
                for r in rows
                if r["denoiser"] == dname and r["language"] == lname and r["sampler"] == "Fast-dLLM threshold"
            ]
            ax = axes[1, j]
            t = [r["knob"] for r in fd]
            ax.plot(t, [r["kl"] for r in fd], "o-", label="KL(q || p) (exact law)")
            ax.plot(
                t,
                [r["expected_tc"] + r["expected_model_error"] for r in fd],
                "x",
                ms=7,
                label="E_q sum TC + model error (identity)",
            )
            fdb = [r["expected_fast_dllm_bound"] for r in fd]
            ax.plot(
                [a for a, b in zip(t, fdb) if math.isfinite(b)],
                [b for b in fdb if math.isfinite(b)],
                "s--",
                label="E_q sum (n-1)(H_b(eps)+eps ln(V-1)) (Thm 1)",
            )
            ax.plot(t, [r["expected_eb_certificate_data"] for r in fd], "d:", label="E_q sum (sum H - max H)")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_xlabel("threshold tau")
            ax.set_ylabel("nats")
            ax.set_title(f"Fast-dLLM threshold, {lname}")
            ax.legend(fontsize=6)
        fig.suptitle("Exact bound margins (deterministic rules; expectations along the data-induced path)")
        png = save_figure(fig, stem.with_suffix(".png"))
    return [png, stem.with_suffix(".json")]


def _jsonable(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj
