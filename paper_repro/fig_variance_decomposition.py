"""Exact A/B/C decomposition of MDM training-loss variance (Jia et al., arXiv 2511.18159, Sec. 3-4).

Figure ``variance_decomposition.png`` (data ``.json`` / ``.csv``):

* left three panels: stacked exact A (masking pattern), B (masking rate), C (data) for every estimator,
  scaled by rows per example (equal compute), for the oracle, a perturbed oracle and a trained quick MDM,
  on ``ngram2`` at L = 5 (all 2048 support sequences x 32 masks enumerated). The dashed line is the
  variance of the autoregressive loss of the true model, Var_x(-log q(x)/L), which equals the oracle's C
  exactly (at eps -> 0; the eps floor moves it by O(eps)). Biased estimators carry their exact bias.
* right panel: A, B, C and the total of the uniform-rate estimator versus log10(1/eps), the predicted
  asymptotic slope E_x s_1(x)/L of A, and the totals of P-POTS (optimal density, re-derived at each eps),
  the EPR fit (fitted once at eps = 1e-3, then kept) and the exact-k estimator (no eps).

Every number is exact (enumeration + closed forms / quadrature); nothing is Monte Carlo here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.models.cache import get_trained
from sims.models.experiments import TRAINING_SUITES
from sims.plotting import house_style, save_figure
from sims.registry import make_language
from sims.results import atomic_write_text
from theory import variance as tv

DESCRIPTION = "exact A/B/C training-variance decomposition per estimator and denoiser; log(1/eps) growth"
#: loads the model that ``training_curves`` trains into the shared cache (standard, seed 0)
DEPENDS_ON = ("training_curves",)

PRESETS = {
    "quick": {
        "language": "ngram2",
        "length": 5,
        "eps": 1e-3,
        "strata": 16,
        "eps_grid": [1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12],
        "epr_starts": 8,
    },
    "full": {
        "language": "ngram2",
        "length": 6,
        "eps": 1e-3,
        "strata": 32,
        "eps_grid": [10.0**-k for k in range(1, 15)],
        "epr_starts": 20,
    },
}


def estimator_table(mom: tv.MaskSizeMoments, eps: float, strata: int, epr_starts: int) -> list[dict]:
    """Exact decomposition of every estimator for one denoiser's moments."""
    grid = tv.paper_grid(70)
    epr = tv.fit_epr(grid, tv.proposal_curve(mom, eps, grid, "paper"), n_starts=epr_starts, seed=0)
    specs = [
        ("standard (uniform t)", tv.UniformTime(), "single"),
        ("P-POTS optimal p*", tv.optimal_time_sampler(mom, eps), "single"),
        ("P-POTS paper curve", tv.optimal_time_sampler(mom, eps, "paper"), "single"),
        ("EPR fit on [0,1]", epr.full_support_sampler(), "single"),
        ("EPR fit, released grid", epr.released_sampler(), "single"),
        ("MIRROR", tv.UniformTime(), "mirror"),
        ("two indep. masks", tv.UniformTime(), "pair"),
        ("P-POTS* + MIRROR", tv.optimal_time_sampler(mom, eps, masks="mirror"), "mirror"),
    ]
    rows = []
    for name, sampler, masks in specs:
        d = tv.decompose_time_estimator(mom, eps, sampler, masks, name=name)
        rows.append(_row(name, d.A, d.B, d.C, d.total, d.rows_per_example, d.bias))
    st = tv.stratified_time_variance(mom, eps, strata, "independent")
    rows.append(_row(f"stratified t (n={strata})", st.A, st.B, st.C, st.total, 1, rows[0]["bias"]))
    k = tv.decompose_k_estimator(mom)
    rows.append(_row("exact-k (L/k weight)", k.A, k.B, k.C, k.total, 1, k.bias))
    ko = tv.decompose_k_estimator(mom, tv.optimal_k_proposal(mom))
    rows.append(_row("exact-k, optimal r_k", ko.A, ko.B, ko.C, ko.total, 1, ko.bias))
    return rows


def _row(name, A, B, C, total, rows, bias):
    return {
        "estimator": name,
        "A": A,
        "B": B,
        "C": C,
        "total": total,
        "rows_per_example": rows,
        "total_per_row": total * rows,
        "bias": bias,
    }


def eps_sweep(mom: tv.MaskSizeMoments, eps_grid, epr_starts: int) -> dict:
    grid = tv.paper_grid(70)
    epr = tv.fit_epr(grid, tv.proposal_curve(mom, 1e-3, grid, "paper"), n_starts=epr_starts, seed=0)
    out = {
        "eps": list(eps_grid),
        "A": [],
        "B": [],
        "C": [],
        "total": [],
        "ppots_opt": [],
        "epr_fixed": [],
        "slope": tv.a_term_log_slope(mom),
        "k_form": tv.decompose_k_estimator(mom).total,
    }
    epr_sampler = epr.full_support_sampler()
    for e in eps_grid:
        d = tv.uniform_time_closed_form(mom, e)
        for key in ("A", "B", "C", "total"):
            out[key].append(getattr(d, key))
        out["ppots_opt"].append(tv.optimal_time_variance(mom, e))
        out["epr_fixed"].append(tv.decompose_time_estimator(mom, e, epr_sampler).total)
    out["eps0"] = tv.uniform_time_closed_form(mom, 0.0).to_dict()
    return out


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    cfg = PRESETS[preset]
    lang = make_language(cfg["language"])
    L, eps = cfg["length"], cfg["eps"]
    suite = TRAINING_SUITES[preset]
    model_cfg = next(c for c in suite.configs() if c.kind == "mdm" and c.method == "standard" and c.seed == 0)
    if model_cfg.length != L or model_cfg.language != cfg["language"]:
        raise RuntimeError("the training suite and this figure must use the same language and length")
    trained = get_trained(model_cfg, progress=progress)
    denoisers = {
        "oracle": OracleDenoiser(lang),
        "perturbed oracle (T=1.5, mix 0.05)": PerturbedDenoiser(OracleDenoiser(lang), 1.5, 0.05),
        f"trained MDM ({preset}, standard, seed 0)": trained.denoiser(),
    }
    data = {
        "language": cfg["language"],
        "length": L,
        "eps": eps,
        "conventions": {
            "rate": "pi(u) = eps + (1-eps) u",
            "loss": "w(u) c(x,m) / (L pi(u)), per token",
            "decomposition": "law of total variance, x -> rate -> mask",
            "scaling": "total_per_row = total x rows",
        },
        "denoisers": {},
    }
    moments = {}
    for name, den in denoisers.items():
        mom = tv.mask_size_moments(tv.mask_loss_table(lang, den, L))
        moments[name] = mom
        data["denoisers"][name] = {
            "estimators": estimator_table(mom, eps, cfg["strata"], cfg["epr_starts"]),
            "ar_loss_variance_true_model": mom.ar_loss_variance(),
            "nelbo_per_token": mom.nelbo_per_token(),
            "entropy_per_token": float(-(mom.prob @ mom.log_q)) / L,
            "a_slope": tv.a_term_log_slope(mom),
        }
    data["eps_sweep_oracle"] = eps_sweep(moments["oracle"], cfg["eps_grid"], cfg["epr_starts"])
    stem = Path(out_dir) / ("variance_decomposition" + ("" if preset == "quick" else f"_{preset}"))
    atomic_write_text(stem.with_suffix(".json"), json.dumps(data, indent=1))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["denoiser", "estimator", "A", "B", "C", "total", "rows_per_example", "total_per_row", "bias"])
    for dn, dd in data["denoisers"].items():
        for r in dd["estimators"]:
            w.writerow(
                [
                    dn,
                    r["estimator"],
                    r["A"],
                    r["B"],
                    r["C"],
                    r["total"],
                    r["rows_per_example"],
                    r["total_per_row"],
                    r["bias"],
                ]
            )
    atomic_write_text(stem.with_suffix(".csv"), buf.getvalue())
    fig_path = _plot(data, stem.with_suffix(".png"))
    return [fig_path, stem.with_suffix(".json"), stem.with_suffix(".csv")]


def _plot(data: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with house_style():
        fig, axes = plt.subplots(1, 4, figsize=(17, 5.6), gridspec_kw={"width_ratios": [1, 1, 1, 1.1]})
        colors = {"A": "C0", "B": "C1", "C": "C2"}
        for ax, (dn, dd) in zip(axes[:3], data["denoisers"].items()):
            rows = dd["estimators"]
            y = np.arange(len(rows))[::-1]
            left = np.zeros(len(rows))
            for part in ("A", "B", "C"):
                vals = np.array([r[part] * r["rows_per_example"] for r in rows])
                ax.barh(
                    y, vals, left=left, color=colors[part], label=f"{part} x rows" if ax is axes[0] else None
                )
                left += vals
            for yi, r in zip(y, rows):
                txt = f"{r['total_per_row']:.3g}"
                if abs(r["bias"]) > 1e-3 * max(1.0, abs(dd["nelbo_per_token"])):
                    txt += f"  (bias {r['bias']:+.3g})"
                ax.text(r["total_per_row"], yi, " " + txt, va="center", fontsize=6.5)
            ax.axvline(
                dd["ar_loss_variance_true_model"],
                color="k",
                ls="--",
                lw=0.8,
                label="Var of AR loss, true model" if ax is axes[0] else None,
            )
            ax.set_yticks(y)
            ax.set_yticklabels([r["estimator"] for r in rows] if ax is axes[0] else [])
            ax.set_xlim(0, 1.35 * max(r["total_per_row"] for r in rows))
            ax.set_xlabel("exact variance x rows per example (nats/token)^2")
            ax.set_title(
                f"{dn}\nNELBO {dd['nelbo_per_token']:.4f}, H/L {dd['entropy_per_token']:.4f} nats/token"
            )
        axes[0].legend(loc="lower right")
        ax = axes[3]
        sw = data["eps_sweep_oracle"]
        x = [math.log10(1 / e) for e in sw["eps"]]
        for key, st in (("total", "-"), ("A", "-"), ("B", "--"), ("C", ":")):
            ax.plot(x, sw[key], st, marker="o", label=f"uniform t: {key}")
        a0 = sw["A"][-1] - sw["slope"] * math.log(10) * x[-1]
        ax.plot(
            x,
            [a0 + sw["slope"] * math.log(10) * xi for xi in x],
            color="0.5",
            lw=0.8,
            label=f"slope E s1/L = {sw['slope']:.3f} per ln(1/eps)",
        )
        ax.plot(x, sw["ppots_opt"], marker="s", label="P-POTS optimal p* (total)")
        ax.plot(x, sw["epr_fixed"], marker="^", label="EPR fit at eps=1e-3, kept (total)")
        ax.axhline(sw["k_form"], color="k", ls="-.", lw=0.8, label="exact-k estimator (total)")
        ax.set_yscale("log")
        ax.set_xlabel("log10(1/eps)   (mask rate pi = eps + (1-eps) u)")
        ax.set_ylabel("exact variance (nats/token)^2")
        ax.set_title("oracle: growth of A with the rate floor eps")
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
        fig.suptitle(
            f"Exact training-loss variance decomposition, {data['language']} L={data['length']}, "
            f"eps={data['eps']:g} (A masking pattern, B masking rate, C data)"
        )
        fig.tight_layout()
        return save_figure(fig, path)
