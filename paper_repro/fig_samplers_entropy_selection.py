"""Does denoising-entropy selection help? Exact E-BoN laws and Monte Carlo E-SMC on tiny languages.

For each base sampler (random-order one token per step, random-order two steps, EB gamma = 1; oracle and
a perturbed oracle), the exact output law of E-BoN with N runs (lowest path entropy; state entropy =
mean over masked positions, path = sum over steps, nats) is computed by enumeration
(sims.sampling.denoising_entropy.exact_best_of_n_law) for N = 1..32: KL(q||p_N), sequence error and the
generative NLL E_p[-log q]/L against the language's entropy H/L. E-SMC (K particles, weights
exp(-lambda h_DE), lambda in {1, 4}; our unverified reading of arXiv 2512.21336) is drawn at N = K from
Monte Carlo (4000 outputs, 95% intervals). Calls scale as N (or K) times the base sampler's calls.
Data: ``samplers_entropy_selection.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from paper_repro.samplers_common import DEFAULT_DENOISERS
from sims.categorical import make_generator
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_hmm, random_ngram
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.plotting import house_style, plt, save_figure
from sims.results import atomic_write_text
from sims.sampling.denoising_entropy import exact_best_of_n_law, exact_path_entropy_law
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sweep import cell_seed

DESCRIPTION = "exact E-BoN tilt and Monte Carlo E-SMC (denoising entropy) vs number of runs"

L = 5
LANGS = {
    "bigram_sparse_V3_seed0": lambda: random_ngram(
        2, 3, concentration=0.5, support_size=2, stationary=True, seed=0
    ),
    "hmm_dense_V3_seed4": lambda: random_hmm(
        3, 3, transition_concentration=0.5, emission_concentration=0.5, seed=4
    ),
}
PRESETS = {
    "quick": {
        "N": [1, 2, 4, 8, 16, 32],
        "smc_K": [2, 4, 8],
        "smc_lam": [1.0, 4.0],
        "mc": 4000,
        "languages": ["bigram_sparse_V3_seed0"],
    },
    "full": {
        "N": [1, 2, 4, 8, 16, 32, 64, 128],
        "smc_K": [2, 4, 8, 16],
        "smc_lam": [1.0, 4.0, 16.0],
        "mc": 20000,
        "languages": list(LANGS),
    },
}


def cases(denoisers: dict):
    """(case label, denoiser name, wrapper, base sampler factory)."""
    out = []
    for dname in denoisers:
        out.append((f"{dname}: random order, 1 token/step", dname, None, lambda: FixedCountSampler(L)))
        out.append((f"{dname}: random order, K=2 steps", dname, None, lambda: FixedCountSampler(2)))
        out.append((f"{dname}: EB gamma=1", dname, None, lambda: EBSampler(1.0)))
    out.append(
        (
            "perturbed oracle (T=1.5, mix 0.1): random order, 1 token/step",
            "oracle",
            lambda d: PerturbedDenoiser(d, temperature=1.5, uniform_mix=0.1),
            lambda: FixedCountSampler(L),
        )
    )
    return out


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    denoisers = denoisers or DEFAULT_DENOISERS
    stem = Path(out_dir) / ("samplers_entropy_selection" + ("" if preset == "quick" else f"_{preset}"))
    rows = []
    todo = [(lname, c) for lname in cfg["languages"] for c in cases(denoisers)]
    it = todo
    if progress:
        it = tqdm(todo, desc="entropy selection")
    for lname, (label, dname, wrap, make) in it:
        lang = LANGS[lname]()
        lj = exact_log_joint(lang, L)
        q = torch.exp(lj)
        den = denoisers[dname](lname, lang)
        if wrap is not None:
            den = wrap(den)
        base = make()
        joint = exact_path_entropy_law(base, den, L)
        base_nfe = base.sample(den, 2000, L, make_generator(0)).mean_nfe
        for n in cfg["N"]:
            law = exact_best_of_n_law(joint, n, lang.vocab_size, L)
            m = exact_law_metrics(lj, law, L)
            rows.append(
                {
                    "language": lname,
                    "case": label,
                    "method": "E-BoN (exact)",
                    "N": n,
                    "lam": None,
                    "calls": n * base_nfe,
                    "kl_data_to_sampler": m.kl_data_to_sampler,
                    "kl_sampler_to_data": m.kl_sampler_to_data,
                    "sequence_error": m.sequence_error,
                    "gen_nll_per_token": m.gen_nll_per_token,
                    "entropy_per_token": m.entropy_per_token,
                    "sampler_entropy_per_token": _entropy(law) / L,
                }
            )
        for k in cfg["smc_K"]:
            for lam in cfg["smc_lam"]:
                key = f"{lname}|{label}|smc|K={k}|lam={lam:g}"
                res = EntropySMCSampler(base, num_particles=k, lam=lam).sample(
                    den, cfg["mc"], L, make_generator(cell_seed(key, 0)), batch_size=cfg["mc"]
                )
                qual = evaluate_samples(lang, res.tokens, nfe=res.nfe)
                rows.append(
                    {
                        "language": lname,
                        "case": label,
                        "method": f"E-SMC lam={lam:g} (MC)",
                        "N": k,
                        "lam": lam,
                        "calls": res.mean_nfe,
                        "sequence_error": qual.sequence_error.to_dict(),
                        "gen_nll_per_token": qual.gen_nll_per_token.to_dict(),
                        "entropy_per_token": float(-(q[q > 0] * q[q > 0].log()).sum()) / L,
                    }
                )
    atomic_write_text(stem.with_suffix(".json"), json.dumps(_clean(rows), indent=1))
    return [plot(rows, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _entropy(p: torch.Tensor) -> float:
    nz = p[p > 0]
    return float(-(nz * nz.log()).sum())


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def plot(rows, path: Path) -> Path:
    panels = list(dict.fromkeys((r["language"], r["case"]) for r in rows))
    with house_style():
        fig, axes = plt.subplots(3, len(panels), figsize=(3.8 * len(panels), 9.0), squeeze=False)
        fig.subplots_adjust(hspace=0.45, wspace=0.35)
        for j, (lname, case) in enumerate(panels):
            sub = [r for r in rows if r["language"] == lname and r["case"] == case]
            bon = [r for r in sub if r["method"].startswith("E-BoN")]
            n = [r["N"] for r in bon]
            axes[0, j].plot(n, [r["kl_data_to_sampler"] for r in bon], "o-", label="E-BoN (exact)")
            axes[1, j].plot(n, [r["sequence_error"] for r in bon], "o-", label="E-BoN (exact)")
            axes[2, j].plot(
                n, [r["gen_nll_per_token"] for r in bon], "o-", label="E-BoN: E_p[-log q]/L (exact)"
            )
            axes[2, j].plot(
                n, [r["sampler_entropy_per_token"] for r in bon], "s--", ms=3, label="E-BoN: H(p_N)/L (exact)"
            )
            axes[2, j].axhline(bon[0]["entropy_per_token"], color="0.3", ls=":", lw=1, label="H(q)/L")
            for mi, method in enumerate(
                sorted({r["method"] for r in sub if r["method"].startswith("E-SMC")})
            ):
                smc = sorted((r for r in sub if r["method"] == method), key=lambda r: r["N"])
                k = [r["N"] * (1.06 + 0.06 * mi) for r in smc]  # small offsets to separate the markers
                ser = [r["sequence_error"] for r in smc]
                axes[1, j].errorbar(
                    k,
                    [s["p"] for s in ser],
                    yerr=[
                        [max(0, s["p"] - s["ci_low"]) for s in ser],
                        [max(0, s["ci_high"] - s["p"]) for s in ser],
                    ],
                    fmt="^",
                    color=f"C{2 + mi}",
                    capsize=2,
                    label=method,
                )
                nll = [r["gen_nll_per_token"] for r in smc]
                ok = [(a, b) for a, b in zip(k, nll) if math.isfinite(b["mean"])]
                if ok:
                    axes[2, j].errorbar(
                        [a for a, _ in ok],
                        [b["mean"] for _, b in ok],
                        yerr=[
                            [b["mean"] - b["ci_low"] for _, b in ok],
                            [b["ci_high"] - b["mean"] for _, b in ok],
                        ],
                        fmt="^",
                        color=f"C{2 + mi}",
                        capsize=2,
                        label=method,
                    )
            axes[0, j].set_title(f"{lname}\n{case}", fontsize=7)
            axes[0, j].set_ylabel("KL(q || p_N) nats [data -> sampler]")
            axes[1, j].set_ylabel("sequence error P_p(q(x)=0)")
            axes[2, j].set_ylabel("nats per token\n(E_p[-log q] = inf where SER > 0: not drawn)")
            for i in range(3):
                axes[i, j].set_xscale("log", base=2)
                axes[i, j].set_xlabel("N runs (E-BoN) / P particles (E-SMC)\n(calls = N x base calls)")
            top = max(
                [
                    r["sequence_error"]
                    if isinstance(r["sequence_error"], float)
                    else r["sequence_error"]["ci_high"]
                    for r in sub
                ]
                + [0.05]
            )
            axes[1, j].set_ylim(-0.02 * top, 1.1 * top)
        axes[1, 0].legend(fontsize=6)
        axes[2, 0].legend(fontsize=6)
        fig.suptitle(
            "Lowest-path-entropy selection: exact tilt of the output law (N = 1 is the base sampler)"
        )
        return save_figure(fig, path)
