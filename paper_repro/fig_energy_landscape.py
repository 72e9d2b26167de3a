"""Energy paper (Chen et al. arXiv 2509.13866) Fig. 2 / Fig. 3 analogue: the one-token energy landscape
e(alpha, gamma) over Beta-parameterized mask schedules alpha = sin^2(pi/2 I(a', b')) for several weights
gamma = I(a, b), from the derived closed form pi^2 B(2a'-a, 2b'-b) B(a, b) / B(a', b')^2 (infinite unless 2a' > a
and 2b' > b), with quadrature spot checks; plus the optimal alpha* = sin^2(pi/2 gamma) of each weight and the
unweighted energies of common schedules (finite: sin^2 = pi^2, smoothstep = 9 ln 3; the others diverge
logarithmically, shown by their truncated energies on [eps, 1 - eps]).

Energy definitions of the paper are reconstructions (see theory/energy/); EP time (s = 0 all masked).
Data: energy_landscape.json beside the PNG.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sympy
from matplotlib.colors import LogNorm

from sims.plotting import house_style, save_figure
from sims.results import atomic_write_text
from sims.schedules import BetaCDFSchedule, SympySchedule
from theory import energy as E

DESCRIPTION = "one-token energy landscape over Beta(a',b') schedules for several weights gamma (EP Fig. 2/3)"

WEIGHTS = [(0.5, 0.5), (1.0, 1.0), (0.9, 0.3), (2.0, 2.0)]
PRESETS = {
    "quick": {"grid": 121, "spot_checks": 2, "eps": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]},
    "full": {"grid": 301, "spot_checks": 6, "eps": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]},
}


def _common_schedules():
    t = sympy.Symbol("t", real=True)
    smooth = SympySchedule(1 - (3 * (1 - t) ** 2 - 2 * (1 - t) ** 3), t, name="smoothstep 3s^2-2s^3")
    return {
        "sin^2(pi s/2) [sin2]": "sin2",
        "linear s": "linear",
        "sin(pi s/2) [cosine_mdlm]": "cosine_mdlm",
        "1-cos(pi s/2) [MD4 cosine]": "cosine",
        "1-(1-s)^2 [MD4 poly2]": "poly2",
        "smoothstep": smooth,
    }


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:

    cfg = PRESETS[preset]
    out_dir = Path(out_dir)
    suffix = "" if preset == "quick" else f"_{preset}"
    n = cfg["grid"]
    ap = np.linspace(0.05, 3.0, n)
    rng = np.random.default_rng(0)
    data = {
        "convention": "EP time s (0 = all masked); gamma = I_s(a,b); alpha = sin^2(pi/2 I_s(a',b'))",
        "closed_form": "pi^2 B(2a'-a, 2b'-b) B(a,b) / B(a',b')^2 (derived; verified by quadrature)",
        "grid": ap.tolist(),
        "weights": {},
        "spot_checks": [],
        "common_schedules": {},
    }
    with house_style():
        fig, axes = plt.subplots(
            2, len(WEIGHTS) + 1, figsize=(3.3 * (len(WEIGHTS) + 1), 6.4), layout="constrained"
        )
        for j, (a, b) in enumerate(WEIGHTS):
            Z = E.beta_energy_grid(a, b, ap, ap).T  # rows b', cols a'
            data["weights"][f"{a:g},{b:g}"] = {
                "energy_over_pi2": [[float(f"{v:.7g}") for v in row] for row in (Z / math.pi**2)]
            }
            ax = axes[0, j]
            ratio = np.where(np.isfinite(Z), Z / math.pi**2, np.nan)
            im = ax.pcolormesh(
                ap, ap, ratio, cmap="magma_r", norm=LogNorm(vmin=1.0, vmax=30.0), shading="auto"
            )
            ax.contourf(
                ap, ap, np.isfinite(Z).astype(float), levels=[-0.5, 0.5], colors=["0.85"], hatches=["//"]
            )
            ax.plot(
                [a], [b], marker="*", color="red", ms=11, mec="k", label=f"min at (a',b')=({a:g},{b:g}): pi^2"
            )
            ax.set_title(f"weight gamma = I(a={a:g}, b={b:g})")
            ax.set_xlabel("schedule parameter a'")
            ax.set_ylabel("schedule parameter b'")
            ax.legend(loc="upper right", fontsize=6)
            for _ in range(cfg["spot_checks"]):
                a2 = a / 2 + rng.uniform(0.2, 1.5)
                b2 = b / 2 + rng.uniform(0.2, 1.5)
                q = E.beta_energy_quadrature(a, b, a2, b2)
                c = E.beta_energy_closed_form(a, b, a2, b2)
                data["spot_checks"].append(
                    {
                        "a": a,
                        "b": b,
                        "a2": a2,
                        "b2": b2,
                        "closed_form": c,
                        "quadrature": q.value,
                        "quad_abserr": q.abserr,
                        "rel_diff": abs(q.value - c) / c,
                    }
                )
                ax.plot([a2], [b2], marker="+", color="cyan", ms=6)
            # optimal schedule for this weight (Fig. 3 analogue), EP time
            s = np.linspace(0, 1, 201)
            sched = BetaCDFSchedule(a, b)
            axes[1, j].plot(s, sched.gamma_ep(s), label="gamma_s = I_s(a,b)")
            axes[1, j].plot(s, sched.alpha_ep(s), label="alpha*_s = sin^2(pi/2 gamma_s)")
            axes[1, j].plot(s, s, color="0.6", ls=":", lw=0.8, label="s")
            axes[1, j].set_xlabel("EP time s (0 = all masked, 1 = data)")
            axes[1, j].set_ylabel("value")
            axes[1, j].set_title(f"Beta({a:g},{b:g}): weight and optimal mask schedule", fontsize=8)
            axes[1, j].legend(fontsize=6)
        cb = fig.colorbar(im, ax=axes[0, len(WEIGHTS) - 1], fraction=0.05)
        cb.set_label("e(alpha, gamma) / pi^2 (grey hatched: infinite)")
        # common schedules, unweighted energy
        ax = axes[0, -1]
        eps = cfg["eps"]
        for name, spec in _common_schedules().items():
            vals = [E.one_token_energy(spec, eps=e).value for e in eps]
            data["common_schedules"][name] = {"eps": eps, "truncated_energy": vals}
            mirror = "cosine_mdlm" in name  # sin(pi s/2) is the mirror image s -> 1-s of 1-cos(pi s/2)
            hollow = mirror or "sin2" in name  # drawn over by an (almost) equal curve
            ax.plot(
                eps,
                np.array(vals) / math.pi**2,
                marker="o",
                ls="--" if mirror else "-",
                ms=6 if hollow else 3,
                mfc="none" if hollow else None,
                label=name + (" (= MD4 cosine, mirrored)" if mirror else ""),
            )
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("truncation eps (energy on [eps, 1-eps])")
        ax.set_ylabel("unweighted energy / pi^2")
        ax.set_title("gamma = s: finite only for sin^2 and smoothstep\n(9 ln 3 / pi^2 = 1.0026)", fontsize=8)
        ax.legend(fontsize=5, loc="upper left")
        axes[1, -1].axis("off")
        axes[1, -1].text(
            0.0,
            0.95,
            "Checks (see JSON):\n- closed form vs quadrature\n  max rel. diff "
            f"{max(r['rel_diff'] for r in data['spot_checks']):.1e}\n- minimum pi^2 at (a',b')=(a,b)\n"
            "- linear = Beta(1/2,1/2), sin^2 = Beta(1,1)\n(EP Prop. 3.7)\n\nEnergy definitions are\n"
            "reconstructions (theory/energy.py)",
            va="top",
            fontsize=7,
            family="monospace",
        )
        fig.suptitle(
            "One-token energy e(alpha, gamma) = int alpha'^2 / (gamma' alpha (1 - alpha)) ds over "
            "Beta-CDF schedules"
        )
        png = save_figure(fig, out_dir / f"energy_landscape{suffix}.png")
    js = out_dir / f"energy_landscape{suffix}.json"
    atomic_write_text(js, json.dumps(data))
    return [png, js]
