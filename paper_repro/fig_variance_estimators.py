"""ISAD, SyRM, the bin-wise EMA control variate and StraTS, exactly (Jia et al., arXiv 2511.18159,
Sec. 4.3-4.6, as given by a third-party extraction; released code StableDLLM ``LLaDA-04``).

Thin module: the computation is :mod:`theory.variance.estimator_study`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from paper_repro.ledger import FigureSpec
from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import all_sequences
from sims.estimators import mask_size_moments
from sims.estimators.position_table import position_loss_table
from sims.exact import exact_log_joint
from sims.plot_style import house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.registry import make_language
from sims.results import write_json
from theory.variance.estimator_study import control_variate_study, isad_study, strats_study, syrm_study

DESCRIPTION = "ISAD bias, SyRM theorems, bin-wise EMA control variate and StraTS, exactly"

FIGURE = FigureSpec(
    name="variance_estimators",
    title="ISAD, SyRM, the EMA control variate and StraTS, exactly",
    caption="(a, b) ISAD on ngram2 (V = 8) at L = 5 with the oracle, eps = 1e-3, the rarest token as the "
    "'answer delimiter' id, masking probability min(1, pi + Delta) for it and 1/q_j weights: exact mean minus "
    "the standard estimator's mean (a) and exact variance (b) against Delta, for ISAD and for the full "
    "likelihood-ratio correction. (c, d) SyRM on a prompt/response/syntax template (V = 3, L = 5: prompt, "
    "3 response tokens, a syntax token equal to the prompt token with probability 1 - noise), exact "
    "conditionals: A divided by the squared mean of the response-only and the response + syntax estimators "
    "(c), and the optimum shift of an L2-regularised log-linear model (V = 2) against the bound of Thm 6 (d). "
    "(e) the released bin-wise EMA control variate (10 bins round(t (m-1)), eta = 0.01, c = 1): variance of "
    "the loss value without it, with the ideal bin means and with the stationary EMA. (f) StraTS: exact "
    "variance of the batch mean (k strata, r rates each) against the extraction's formula.",
    shows="ISAD is biased (its weights fix each token's inclusion probability but not its context), and "
    "its likelihood-ratio fix loses the mass where pi + Delta >= 1 and explodes in variance; SyRM's lower A "
    "with a stable syntax token is a pure rescaling (A / mean^2 unchanged), while its optimum shift obeys "
    "Thm 6; the released EMA control variate never changes the gradient and reduces only the loss-value "
    "variance (by the between-bin part of B at best, less with the EMA's own noise); the StraTS formula is "
    "exact only with one rate per stratum, which the released code does not use.",
    claims=(
        "variance.isad_unbiased",
        "variance.syrm_theorem1",
        "variance.syrm_theorem3",
        "variance.syrm_theorem4",
        "variance.syrm_theorem5",
        "variance.syrm_theorem6",
        "variance.ema_gradient_unchanged",
        "variance.ema_reduces_b",
        "variance.strats_formula",
    ),
    caveats=(
        "The theorem texts and assumptions (A1-A5) of SyRM are known only from a third-party extraction; "
        "Thm 1's rho_ij is read as a covariance.",
        "The 'rare id' and the template language are our stand-ins for answer delimiters and table syntax.",
    ),
)

PRESETS = {
    "quick": {
        "language": "ngram2",
        "length": 5,
        "eps": 1e-3,
        "deltas": [0.05, 0.1, 0.2, 0.3, 0.5],
        "noises": [0.0, 0.5, 1.0],
        "ema": {"num_bins": 10, "eta": 0.01},
        "strats": [[16, 1], [32, 1], [5, 6], [4, 8]],
    },
    "full": {
        "language": "ngram2",
        "length": 5,
        "eps": 1e-3,
        "deltas": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7],
        "noises": [0.0, 0.1, 0.25, 0.5, 0.75, 1.0],
        "ema": {"num_bins": 10, "eta": 0.01},
        "strats": [[16, 1], [32, 1], [5, 6], [4, 8], [8, 8]],
    },
}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    cfg = PRESETS[preset]
    lang = make_language(cfg["language"])
    L, eps = cfg["length"], cfg["eps"]
    lj = exact_log_joint(lang, L)
    sup = torch.isfinite(lj)
    table = position_loss_table(all_sequences(lang.vocab_size, L)[sup], lj[sup], OracleDenoiser(lang))
    mom = mask_size_moments(table.masked_loss())
    data = {
        "language": cfg["language"],
        "length": L,
        "eps": eps,
        "isad": isad_study(table, eps, cfg["deltas"]),
        "syrm": syrm_study(cfg["noises"], 3, 2, eps, seed=2),
        "ema": control_variate_study(mom, eps, cfg["ema"]["num_bins"], cfg["ema"]["eta"]),
        "strats": strats_study(mom, eps, [tuple(c) for c in cfg["strats"]]),
        "conventions": {
            "rate": "pi(u) = eps + (1-eps) u",
            "isad": "q_j = min(1, pi + Delta) for rare ids, pi otherwise; loss weight 1/q_j",
            "syrm_alpha": "|R| / |R u C|",
            "strats": "per x: Var(mean of k r rates, r per stratum), averaged over x",
        },
    }
    stem = Path(out_dir) / ("variance_estimators" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


def _plot(data: dict, path: Path) -> Path:
    isad_c, lr_c = style_for("isad")["color"], style_for("likelihood ratio")["color"]
    with house_style():
        fig, axes = new_figure(2, 3, width=9.5, height=6.6)
        ax = axes[0, 0]
        rows = data["isad"]["rows"]
        d = [r["delta"] for r in rows]
        ax.plot(d, [r["isad_minus_standard_mean"] for r in rows], "o-", color=isad_c, label="ISAD")
        ax.plot(d, [r["lr_minus_standard_mean"] for r in rows], "s-", color=lr_c, label="ISAD + LR weight")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(r"$\Delta$")
        ax.set_ylabel("mean - standard mean (nats/token)")
        ax.legend()
        ax = axes[0, 1]
        ax.plot(d, [r["isad"]["total"] for r in rows], "o-", color=isad_c, label="ISAD")
        ax.plot(d, [r["lr"]["total"] for r in rows], "s-", color=lr_c, label="ISAD + LR weight")
        ax.axhline(
            data["isad"]["standard"]["total"], color=style_for("standard")["color"], lw=1, label="standard"
        )
        ax.set_yscale("log")
        ax.set_xlabel(r"$\Delta$")
        ax.set_ylabel(r"variance (nats/token)$^2$")
        ax.legend()
        ax = axes[0, 2]
        srows = data["syrm"]["rows"]
        noise = [r["syntax_noise"] for r in srows]
        for key, marker in (("response", "o"), ("response+syntax", "s")):
            st = style_for(f"eligible {key}")
            ax.plot(
                noise,
                [r["eligible"][key]["A_over_mean2"] for r in srows],
                marker + "-",
                color=st["color"],
                label=key,
            )
        ax.set_xlabel("syntax-token noise")
        ax.set_ylabel(r"$A\,/\,\mathrm{mean}^2$")
        ax.legend()
        ax = axes[1, 0]
        shifts = [r["optimum_shift"] for r in srows]
        ax.plot(
            noise,
            [s["shift"] for s in shifts],
            "o-",
            color="k",
            label=r"$\|\theta^*_{\rm SyRM}-\theta^*_{\rm resp}\|$",
        )
        ax.plot(noise, [s["bound_hessian_at_syrm"] for s in shifts], "s--", color=lr_c, label="Thm 6 bound")
        ax.set_yscale("log")
        ax.set_xlabel("syntax-token noise")
        ax.set_ylabel("parameter distance")
        ax.legend()
        ax = axes[1, 1]
        e = data["ema"]
        names = ["none", "ideal bin means", "stationary EMA"]
        vals = [e["total"], e["ideal"], e["stationary_ema"]]
        ax.bar(names, vals, color=[style_for("standard")["color"], isad_c, lr_c])
        for i, v in enumerate(vals):
            ax.text(i, v, f"{vals[0] / v:.3f}x", ha="center", va="bottom")
        ax.set_ylabel(r"loss variance (nats/token)$^2$")
        ax.tick_params(axis="x", labelrotation=15)
        ax = axes[1, 2]
        cases = data["strats"]
        labels = [f"k={c['strata']}, r={c['per_stratum']}" for c in cases]
        x = np.arange(len(cases))
        ax.bar(x - 0.2, [c["exact"] for c in cases], 0.4, color="k", label="exact")
        ax.bar(x + 0.2, [c["extraction"] for c in cases], 0.4, color=isad_c, label="extraction formula")
        ax.set_xticks(x, labels, rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel(r"$E_x\,\mathrm{Var}(\hat\mu\mid x)$")
        ax.legend()
        label_panels(axes)
        return save_figure(fig, path)
