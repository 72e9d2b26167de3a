"""Controlled learning error: a perturbed oracle adds its learning term to the factorization error exactly
(Li & Cai arXiv 2505.21400: "+ eps_train"; Feng et al. arXiv 2502.09622: eps_learning).

Thin module: the cells are :func:`theory.feng_study.learning_record` (paired Monte Carlo over shared
(x ~ q, M) for several ``PerturbedDenoiser`` models; the identity itself is tested exactly by enumeration in
``tests/theory/test_factorization.py``) and :func:`theory.feng_study.perturbed_ser_record`. Data:
``feng_learning_error.json`` (cells ``kl|L=..|K=..`` and ``ser|<perturbation>=<value>``).
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.plot_style import (
    STEPS_LABEL,
    house_style,
    label_panels,
    length_linestyles,
    new_figure,
    proxy_legend,
    style_for,
)
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import ResultStore
from sims.sweep import cell_seed
from theory.entropy_profile import ngram_profile
from theory.feng_study import learning_record, perturbed_ser_record, rule_sampler

DESCRIPTION = (
    "perturbed oracle: learning error adds to the factorization error; SER at K = L needs zeros kept"
)

MODELS = {
    "temperature 0.8": {"temperature": 0.8},
    "temperature 1.25": {"temperature": 1.25},
    "uniform mix 0.02": {"uniform_mix": 0.02},
}
#: One fixed colour per model of this figure (the house table has one per perturbation kind).
MODEL_COLORS = {"temperature 0.8": "#1b9e77", "temperature 1.25": "#66a61e", "uniform mix 0.02": "#d95f02"}

FIGURE = FigureSpec(
    name="feng_learning_error",
    title="Learning error adds to the factorization error and does not shrink with more steps",
    caption="Registry bigram ngram2 (V = 8, exact zeros), fixed counts (LLaDA rule, random positions; calls = "
    "K). Models: the oracle and PerturbedDenoiser(oracle) at temperature 0.8 / 1.25 or uniform mixing 0.02. "
    "(a) total per-token excess cross-entropy E_M KL(q || p^model_M)/L (paired Monte Carlo, 95% t-intervals; "
    "black: the oracle's exact factorization part, 0 at K = L and not drawn); (b) the learning part "
    "E[log p^oracle_M - log p^model_M]/L alone (at K = L it is sum_k l(k), eps_train under the uniform "
    "mask-count convention); (c) SER with one token per step (K = L = 64) against the perturbation strength "
    "(Wilson 95%).",
    shows="Total = factorization + learning, and the learning part does not vanish as K grows: at K = L, "
    "where the oracle is exact, the whole error is the learning term. With one token per step temperature "
    "keeps the zeros of the oracle, so SER = 0, while uniform mixing puts mass outside the support.",
    claims=("feng.learning_error_adds", "feng.zeros_kept_by_temperature", "li_cai.eps_train_law"),
    caveats=(
        "The additive identity is exact (tests); the figure estimates its parts by Monte Carlo (128 samples per "
        "cell in the quick preset).",
        "Feng et al.'s eps_learning and Li & Cai's weighting of eps_train over mask levels could not be read; "
        "eps_train here is the uniform mask-count version.",
    ),
    oracle_fallback="uniform",
)

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


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    stem = Path(out_dir) / ("feng_learning_error" + ("" if preset == "quick" else f"_{preset}"))
    store = ResultStore(
        stem.with_suffix(".json"),
        meta={
            "language": "ngram2 (registry)",
            "sampler": rule_sampler("fixed", 2).conventions(),
            "models": MODELS,
            "estimator": "paired Monte Carlo over shared (x ~ q, M); teacher forcing",
            "quantity": "nats per token, data-under-sampler direction",
            "seed": cfg["seed"],
        },
    )
    lang = make_language("ngram2")
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    todo = [(L, K) for L in cfg["lengths"] for K in cfg["steps"] if K <= L and f"kl|L={L}|K={K}" not in store]
    profs = {}
    for L, K in tqdm(todo, desc="learning cells", leave=False, disable=not progress):
        profs.setdefault(L, ngram_profile(lang, L))
        # seeded from the cell's original key spelling (N for the steps), so the numbers are unchanged
        g = make_generator(cell_seed(f"kl|L={L}|N={K}", cfg["seed"]))
        store.put(f"kl|L={L}|K={K}", learning_record(lang, profs[L], K, cfg["samples"], g, MODELS, oracle))
    pert = [("temperature", t) for t in cfg["temperatures"]] + [("uniform_mix", m) for m in cfg["mixes"]]
    for kind, val in pert:
        key = f"ser|{kind}={val}"
        if key not in store:
            g = make_generator(cell_seed(key, cfg["seed"]))
            store.put(
                key, perturbed_ser_record(lang, oracle, kind, val, cfg["ser_length"], cfg["ser_samples"], g)
            )
    kl_rows = sorted(
        (r for r in store.values() if r["kind"] == "kl"), key=lambda r: (r["length"], r["steps"])
    )
    store.meta["learning_term_per_token_at_K_eq_L"] = {
        f"{name}|L={r['length']}": r[name]["learning"]["mean"]
        for r in kl_rows
        if r["steps"] == r["length"]
        for name in MODELS
    }
    store.flush()
    return [_plot(store, cfg, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(store: ResultStore, cfg: dict, path: Path) -> Path:
    rows = list(store.values())
    kl_rows = sorted((r for r in rows if r["kind"] == "kl"), key=lambda r: (r["length"], r["steps"]))
    lstyle = length_linestyles(cfg["lengths"])
    with house_style():
        fig, axes = new_figure(1, 3, width=10.0, height=3.9)
        ax_a, ax_b, ax_c = axes[0]
        for L in cfg["lengths"]:
            sub = [r for r in kl_rows if r["length"] == L]
            x = [r["steps"] for r in sub]
            ex = [(r["steps"], r["factorization_exact"]) for r in sub if r["factorization_exact"] > 0]
            ax_a.plot([a for a, _ in ex], [b for _, b in ex], color="k", ls=lstyle[L], lw=1.4)
            for name in MODELS:
                for ax, part in ((ax_a, "total"), (ax_b, "learning")):
                    m = [r[name][part]["mean"] for r in sub]
                    lo = [r[name][part]["mean"] - r[name][part]["ci"][0] for r in sub]
                    hi = [r[name][part]["ci"][1] - r[name][part]["mean"] for r in sub]
                    ax.errorbar(
                        x,
                        m,
                        yerr=[lo, hi],
                        color=MODEL_COLORS[name],
                        ls=lstyle[L],
                        marker="o",
                        capsize=2,
                        lw=1,
                    )
        for ax in (ax_a, ax_b):
            ax.set_xscale("log", base=2)
            ax.set_xlabel(STEPS_LABEL)
        ax_a.set_yscale("log")
        ax_b.axhline(0.0, color="0.5", lw=0.8)
        ax_a.set_ylabel("$E_M\\,KL(q\\Vert p^{model}_M)/L$ (nats/token)")
        ax_a.set_title("total = factorization + learning")
        ax_b.set_ylabel("learning part (nats/token)")
        ax_b.set_title("learning part alone")
        for kind in ("temperature", "uniform_mix"):
            st = style_for(kind)
            sub = sorted(
                (r for r in rows if r["kind"] == "ser" and r["perturbation"] == kind),
                key=lambda r: r["value"],
            )
            ax_c.errorbar(
                [r["value"] for r in sub],
                [r["ser"] for r in sub],
                yerr=[[r["ser"] - r["ci"][0] for r in sub], [r["ci"][1] - r["ser"] for r in sub]],
                color=st["color"],
                marker=st["marker"],
                capsize=2,
                label=kind.replace("_", " "),
            )
        ax_c.set_xscale("log")
        ax_c.set_xlabel("temperature / mixing weight")
        ax_c.set_ylabel(f"SER at $K = L$ = {cfg['ser_length']}")
        ax_c.set_ylim(-0.03, 1.03)
        ax_c.set_title("one token per step")
        ax_c.legend(loc="center left")
        proxy_legend(
            fig,
            [("oracle (exact)", {"color": "k"})]
            + [(name, {"color": MODEL_COLORS[name], "marker": "o"}) for name in MODELS]
            + [(f"$L$ = {L}", {"ls": lstyle[L]}) for L in cfg["lengths"]],
            loc="outside lower center",
            ncol=6,
        )
        label_panels(axes)
        return save_figure(fig, path)
