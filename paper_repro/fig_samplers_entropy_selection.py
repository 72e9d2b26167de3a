"""Does denoising-entropy selection help? Exact E-BoN laws and Monte Carlo E-SMC on tiny languages.

Thin module: the computation is :mod:`theory.sampler_studies.entropy_selection`. Data:
``samplers_entropy_selection.json`` (strict JSON, one row per case, method and N) beside the PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

from paper_repro.ledger import FigureSpec
from paper_repro.samplers_common import DEFAULT_DENOISERS
from sims.denoisers.oracle import sampling_fallback
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_log_joint
from sims.languages.random import random_hmm, random_ngram
from sims.plot_style import CALLS_LABEL, house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import write_json
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from theory.sampler_studies import best_of_n_table, entropy_smc_row

DESCRIPTION = "exact E-BoN tilt and Monte Carlo E-SMC (denoising entropy) vs number of runs"

FIGURE = FigureSpec(
    name="samplers_entropy_selection",
    title="Lowest-path-entropy selection (E-BoN exact, E-SMC Monte Carlo) against model calls",
    caption="Sparse random bigram (V = 3, 2 successors, seed 0) at L = 5. Columns: base samplers with the "
    "oracle (random order one token per step, i.e. the exact sampler; random order in K = 2 steps; EB "
    "gamma = 1) and the perturbed oracle (temperature 1.5, 10% uniform mix; one token per step). E-BoN "
    "keeps the run of lowest path entropy among N runs (state entropy = mean over masked positions, path = "
    "sum over steps, nats); its output law is computed exactly for N = 1..32 (N = 1 is the base sampler). "
    "E-SMC (P particles, weights exp(-lambda h_DE), lambda = 1 and 4; our unverified reading of arXiv "
    "2512.21336) is Monte Carlo with 4000 outputs and 95% intervals, drawn slightly to the right of its "
    "calls. x: model calls (E-BoN: N times the base sampler's mean calls). Rows: KL(q || p) (data to "
    "sampler; log scale), sequence error P(q(x) = 0) (same scale in every column), and nats per token: "
    "E_p[-log q]/L where finite (only where SER = 0) and the output entropy H(p)/L against H(q)/L. Star: "
    "exact one-token-per-step decoding with the oracle (L calls, KL = 0, SER = 0).",
    shows="Under the exact oracle selection by low path entropy cannot help an exact base: it tilts the law "
    "towards low-entropy sequences and KL grows with N. With a parallel base it lowers the sequence error, "
    "but exact one-token-per-step decoding reaches zero error with fewer calls. With the perturbed oracle "
    "it does not lower the sequence error either.",
    claims=(
        "samplers.ebon_tilts_an_exact_base",
        "samplers.ebon_parallel_base_dominated",
        "samplers.ebon_perturbed_oracle",
        "samplers.entropy_selection_helps",
    ),
    caveats=(
        "The path aggregation (sum), N and every E-SMC detail are unconfirmed readings of the paper "
        "(paper_statements.md §8 D2-D4).",
        "After a trajectory left the support the oracle returns its min_violation posterior; E-BoN's path "
        "entropies, hence its SER, depend on that choice (samplers_conventions).",
        "One tiny language in the quick preset; under the oracle only (the paper's gains are on LLMs).",
    ),
    oracle_fallback="min_violation",
)

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
#: The perturbed oracle of the last column.
PERTURBATION = {"temperature": 1.5, "uniform_mix": 0.1}
PERTURBED = "perturbed oracle (T=1.5, mix 0.1): random order, 1 token/step"


def cases(denoisers: dict):
    """(case label, denoiser name, wrapper, base sampler factory)."""
    out = []
    for dname in denoisers:
        out.append((f"{dname}: random order, 1 token/step", dname, None, lambda: FixedCountSampler(L)))
        out.append((f"{dname}: random order, K=2 steps", dname, None, lambda: FixedCountSampler(2)))
        out.append((f"{dname}: EB gamma=1", dname, None, lambda: EBSampler(1.0)))
    out.append(
        (PERTURBED, "oracle", lambda d: PerturbedDenoiser(d, **PERTURBATION), lambda: FixedCountSampler(L))
    )
    return out


def run(preset: str, out_dir: Path, progress: bool = True, denoisers: dict | None = None) -> list[Path]:
    cfg = PRESETS[preset]
    denoisers = denoisers or DEFAULT_DENOISERS
    stem = Path(out_dir) / ("samplers_entropy_selection" + ("" if preset == "quick" else f"_{preset}"))
    rows = []
    todo = [(lname, c) for lname in cfg["languages"] for c in cases(denoisers)]
    for lname, (label, dname, wrap, make) in tqdm(todo, desc="entropy selection", disable=not progress):
        lang = LANGS[lname]()
        lj = exact_log_joint(lang, L)
        den = denoisers[dname](lname, lang)
        if wrap is not None:
            den = wrap(den)
        base = make()
        common = {"language": lname, "case": label, "oracle_fallback": sampling_fallback(lang)}
        bon = best_of_n_table(base, den, lj, L, cfg["N"])
        rows += [{**common, **r} for r in bon]
        for k in cfg["smc_K"]:
            for lam in cfg["smc_lam"]:
                key = f"{lname}|{label}|smc|K={k}|lam={lam:g}"
                smc = entropy_smc_row(base, den, lang, L, k, lam, cfg["mc"], key)
                rows.append({**common, **smc, "entropy_per_token": bon[0]["entropy_per_token"]})
    write_json(stem.with_suffix(".json"), rows)
    return [plot(rows, stem.with_suffix(".png")), stem.with_suffix(".json")]


#: Values below this are exact zeros up to float64 rounding; drawn on the lower edge of log axes.
ZERO = 1e-12
#: The selection methods appear only in this figure: fixed, distinct styles.
METHOD_STYLE = {
    "E-BoN": {"color": "#1f4e79", "marker": "o"},
    "E-SMC lam=1": {"color": "#e08214", "marker": "^"},
    "E-SMC lam=4": {"color": "#1b7837", "marker": "v"},
}
SMC_OFFSET = 1.06  # multiplicative x offset of the E-SMC markers (they share calls with E-BoN)


def plot(rows, path: Path) -> Path:
    panels = list(dict.fromkeys((r["language"], r["case"]) for r in rows))
    bon_st = METHOD_STYLE["E-BoN"]
    ser_top = max(
        [
            r["sequence_error"] if isinstance(r["sequence_error"], float) else r["sequence_error"]["ci_high"]
            for r in rows
        ]
        + [0.05]
    )
    positive = [r["kl_data_to_sampler"] for r in rows if r.get("kl_data_to_sampler", 0) > ZERO]
    floor = 10 ** math.floor(math.log10(min(positive))) / 10 if positive else 1e-6
    with house_style():
        fig, axes = new_figure(3, len(panels), width=10.0, height=8.0, sharex="col")
        for j, (lname, case) in enumerate(panels):
            sub = [r for r in rows if r["language"] == lname and r["case"] == case]
            bon = [r for r in sub if r["method"].startswith("E-BoN")]
            x = [r["calls"] for r in bon]
            kl = [r["kl_data_to_sampler"] for r in bon]
            axes[0, j].plot(x, [v if v > ZERO else floor for v in kl], label="E-BoN (exact)", **bon_st)
            axes[1, j].plot(x, [r["sequence_error"] for r in bon], label="E-BoN (exact)", **bon_st)
            gen = [
                (a, r["gen_nll_per_token"]) for a, r in zip(x, bon) if math.isfinite(r["gen_nll_per_token"])
            ]
            if gen:
                axes[2, j].plot(*zip(*gen), label=r"E-BoN: $E_p[-\log q]/L$", **bon_st)
            axes[2, j].plot(
                x, [r["sampler_entropy_per_token"] for r in bon], ls="--", color=bon_st["color"], marker="s", ms=3,
                label=r"E-BoN: $H(p)/L$",
            )  # fmt: skip
            axes[2, j].axhline(bon[0]["entropy_per_token"], color="0.3", ls=":", lw=1, label=r"$H(q)/L$")
            if case.startswith("oracle"):
                for i, y in ((0, floor), (1, 0.0)):
                    axes[i, j].plot(
                        L,
                        y,
                        "*",
                        color="k",
                        ms=10,
                        zorder=4,
                        label="exact decoding ($L$ calls; KL = SER = 0, on the lower edge)",
                    )
            methods = sorted({r["method"] for r in sub if r["method"].startswith("E-SMC")})
            for mi, method in enumerate(methods):
                smc = sorted((r for r in sub if r["method"] == method), key=lambda r: r["N"])
                st = METHOD_STYLE[method.split(" (")[0]]
                xs = [r["calls"] * SMC_OFFSET ** (mi + 1) for r in smc]
                ser = [r["sequence_error"] for r in smc]
                axes[1, j].errorbar(
                    xs, [s["p"] for s in ser],
                    yerr=[[max(0, s["p"] - s["ci_low"]) for s in ser], [max(0, s["ci_high"] - s["p"]) for s in ser]],
                    ls="none", capsize=2, label=method, **st,
                )  # fmt: skip
                nll = [
                    (a, r["gen_nll_per_token"])
                    for a, r in zip(xs, smc)
                    if math.isfinite(r["gen_nll_per_token"]["mean"])
                ]
                if nll:
                    axes[2, j].errorbar(
                        [a for a, _ in nll], [b["mean"] for _, b in nll],
                        yerr=[[b["mean"] - b["ci_low"] for _, b in nll], [b["ci_high"] - b["mean"] for _, b in nll]],
                        ls="none", capsize=2, label=method, **st,
                    )  # fmt: skip
            who, _, base_name = case.partition(": ")
            axes[0, j].set_title(f"{who.split(' (')[0]}:\n{base_name}", fontsize=9)
            axes[0, j].set_yscale("log")
            axes[0, j].set_ylim(floor / 2, None)
            axes[1, j].set_ylim(-0.02 * ser_top, 1.1 * ser_top)
            axes[2, j].set_xlabel(CALLS_LABEL)
            for i in range(3):
                axes[i, j].set_xscale("log", base=2)
        axes[0, 0].set_ylabel(r"KL$(q\,\Vert\,p)$ (nats)")
        axes[1, 0].set_ylabel("sequence error")
        axes[2, 0].set_ylabel("nats per token")
        handles = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=3)
        label_panels(axes)
        return save_figure(fig, path)
