"""Controlled learning error: a perturbed oracle adds its learning term to the factorization error exactly.

Language: registry ``ngram2`` (V = 8, exact zeros). Models: the oracle and PerturbedDenoiser(oracle) with
temperature 0.8 / 1.25 or uniform mixing 0.02 (sims/denoisers/perturbed.py). For a fixed order,
KL(q || p^r_M) = KL(q || p^oracle_M) + sum_t sum_{i in B_t} E_q KL(oracle_i || r_i) (theory/factorization.py,
tested exactly by enumeration); here the three terms are estimated with *shared* (x ~ q, M) pairs (paired
Monte Carlo, 95% t-intervals) and the factorization part is also drawn exactly (closed form).

Panels: (a) total per-token excess cross-entropy E_M KL(q || p^r_M)/L vs N (fixed counts); (b) the learning
part alone vs N: flat in N, it does not shrink with more steps (Li & Cai's "+ eps_train"; at N = L it is
exactly sum_k l(k), the uniform-mask-count version of eps_train); (c) SER at N = L (one token per step)
vs perturbation strength: temperature keeps the zeros (SER = 0 exactly), uniform mixing does not.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sampling.fixed_count import FixedCountSampler
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.factorization import expected_kl_for_sampler, monte_carlo_learning_sweep
from theory.sequence_error import monte_carlo_ser

DESCRIPTION = (
    "perturbed oracle: learning error adds to the factorization error; SER at N = L needs zeros kept"
)

MODELS = {
    "temperature 0.8": {"temperature": 0.8},
    "temperature 1.25": {"temperature": 1.25},
    "uniform mix 0.02": {"uniform_mix": 0.02},
}
PRESETS = {
    "quick": {
        "lengths": [64, 256],
        "steps": [1, 4, 16, 64],
        "samples": 128,
        "ser_length": 64,
        "ser_samples": 128,
        "temperatures": [0.5, 1.0, 2.0],
        "mixes": [0.003, 0.01, 0.03],
        "seed": 0,
    },
    "full": {
        "lengths": [64, 256, 1024],
        "steps": [1, 2, 4, 8, 16, 32, 64, 128, 256],
        "samples": 512,
        "ser_length": 256,
        "ser_samples": 1024,
        "temperatures": [0.5, 0.8, 1.0, 1.25, 2.0],
        "mixes": [0.001, 0.003, 0.01, 0.03, 0.1],
        "seed": 0,
    },
}


def _wrap(params):
    return lambda d: PerturbedDenoiser(d, **params)


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_learning_error" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "language": "ngram2 (registry)",
            "sampler": FixedCountSampler(2).conventions(),
            "models": MODELS,
            "estimator": "paired Monte Carlo over shared (x ~ q, M); teacher forcing",
            "quantity": "nats per token, data-under-sampler direction",
            "seed": cfg["seed"],
        },
    )
    lang = make_language("ngram2")
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    cells = [(L, N) for L in cfg["lengths"] for N in cfg["steps"] if N <= L]
    todo = [c for c in cells if f"kl|L={c[0]}|N={c[1]}" not in store]
    it = todo
    if progress:
        it = tqdm(todo, desc="learning cells", leave=False)
    profs = {}
    for L, N in it:
        key = f"kl|L={L}|N={N}"
        profs.setdefault(L, ngram_profile(lang, L))
        s = FixedCountSampler(N, score="random")
        res = monte_carlo_learning_sweep(
            lang,
            s,
            L,
            cfg["samples"],
            make_generator(cell_seed(key, cfg["seed"])),
            {n: _wrap(p) for n, p in MODELS.items()},
            oracle=oracle,
            batch_size=cfg["samples"],
        )
        rec = {
            "kind": "kl",
            "length": L,
            "steps": N,
            "factorization_exact": expected_kl_for_sampler(profs[L], s) / L,
        }
        for name, est in res.items():
            rec[name] = {
                part: (
                    None
                    if getattr(est, part) is None
                    else {
                        "mean": getattr(est, part).mean / L,
                        "ci": [getattr(est, part).ci_low / L, getattr(est, part).ci_high / L],
                    }
                )
                for part in ("total", "factorization", "learning")
            }
            rec[name]["infinite_fraction"] = est.infinite_fraction
        store.put(key, rec)
    Ls = cfg["ser_length"]
    pert = [("temperature", t) for t in cfg["temperatures"]] + [("uniform_mix", m) for m in cfg["mixes"]]
    for kind, val in pert:
        key = f"ser|{kind}={val}"
        if key in store:
            continue
        den = PerturbedDenoiser(oracle, **{kind: val})
        est = monte_carlo_ser(
            lang,
            FixedCountSampler(Ls, score="random"),
            Ls,
            cfg["ser_samples"],
            make_generator(cell_seed(key, cfg["seed"])),
            denoiser=den,
            batch_size=cfg["ser_samples"],
        )
        store.put(
            key,
            {
                "kind": "ser",
                "perturbation": kind,
                "value": val,
                "length": Ls,
                "steps": Ls,
                "ser": est.p,
                "ci": [est.ci_low, est.ci_high],
                "n": est.n,
            },
        )
    rows = list(store.values())
    kl_rows = sorted((r for r in rows if r["kind"] == "kl"), key=lambda r: (r["length"], r["steps"]))
    store.meta["learning_term_per_token_at_N_eq_L"] = {
        f"{name}|L={r['length']}": r[name]["learning"]["mean"]
        for r in kl_rows
        if r["steps"] == r["length"]
        for name in MODELS
    }
    store.flush()

    with house_style():
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
        colors = {"oracle": "k", **{n: f"C{i}" for i, n in enumerate(MODELS)}}
        styles = dict(zip(cfg["lengths"], ["-", "--", ":"]))
        for L in cfg["lengths"]:
            sub = [r for r in kl_rows if r["length"] == L]
            x = [r["steps"] for r in sub]
            ex = [(r["steps"], r["factorization_exact"]) for r in sub if r["factorization_exact"] > 0]
            axes[0].plot(
                [a for a, _ in ex],
                [b for _, b in ex],
                color="k",
                ls=styles[L],
                lw=1.4,
                label=f"oracle (exact), L={L}",
            )
            for name in MODELS:
                for ax, part in ((axes[0], "total"), (axes[1], "learning")):
                    m = [r[name][part]["mean"] for r in sub]
                    lo = [r[name][part]["mean"] - r[name][part]["ci"][0] for r in sub]
                    hi = [r[name][part]["ci"][1] - r[name][part]["mean"] for r in sub]
                    ax.errorbar(
                        x,
                        m,
                        yerr=[lo, hi],
                        color=colors[name],
                        ls=styles[L],
                        marker="o",
                        capsize=2,
                        lw=1,
                        label=f"{name}, L={L}",
                    )
        for ax in axes[:2]:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("number of steps N (fixed counts, random positions)")
        axes[0].set_yscale("log")
        axes[1].axhline(0.0, color="0.5", lw=0.8)
        axes[0].set_ylabel("E_M KL(q || p^model_M) / L  [nats/token]")
        axes[0].set_title(
            "(a) total excess cross-entropy = factorization + learning\n"
            "(oracle line is exactly 0 at N = L, not drawn)"
        )
        axes[1].set_ylabel("learning part E[log p^oracle_M - log p^model_M] / L")
        axes[1].set_title(
            "(b) learning part alone: does not vanish as N grows;\n"
            "at N = L it equals sum_k l(k) (eps_train, uniform mask-count convention)"
        )
        axes[0].legend(fontsize=5.5, ncol=2, loc="lower left")
        axes[1].legend(fontsize=5.5, ncol=2, loc="lower right")
        ax = axes[2]
        for kind, marker, col in (("temperature", "s", "C0"), ("uniform_mix", "o", "C3")):
            sub = sorted(
                (r for r in rows if r["kind"] == "ser" and r["perturbation"] == kind),
                key=lambda r: r["value"],
            )
            ax.errorbar(
                [r["value"] for r in sub],
                [r["ser"] for r in sub],
                yerr=[[r["ser"] - r["ci"][0] for r in sub], [r["ci"][1] - r["ser"] for r in sub]],
                color=col,
                marker=marker,
                capsize=2,
                label=f"{kind} (value on x axis)",
            )
        ax.set_xscale("log")
        ax.set_xlabel("temperature (squares) / uniform-mix weight (circles)")
        ax.set_ylabel("SER at N = L (one token per step)")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(
            f"(c) SER with one token per step, L={Ls} (Wilson 95%):\n"
            "temperature keeps zeros -> SER = 0; mixing does not"
        )
        ax.legend(fontsize=7)
        fig.suptitle(
            "Learning error (perturbed oracle, bigram ngram2): adds exactly to the factorization error",
            fontsize=10,
        )
        png = save_figure(fig, stem.with_suffix(".png"))
    return [png, stem.with_suffix(".json")]
