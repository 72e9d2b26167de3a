r"""The computations behind the energy figures (Chen et al., arXiv 2509.13866): the one-token Beta landscape
with quadrature spot checks, the unweighted energies of common schedules, and the n-token energy constants
by brute force. Conventions and provenance: :mod:`theory.energy`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import sympy
import torch

from sims.exact import exact_log_joint
from sims.schedules import SympySchedule
from theory.energy.functional import (
    beta_energy_closed_form,
    beta_energy_grid,
    beta_energy_quadrature,
    one_token_energy,
)
from theory.energy.masked_flow import MaskedFlow, energy_ratios


def beta_landscape(
    weights: Sequence[tuple[float, float]], grid: np.ndarray, spot_checks: int, seed: int = 0
) -> dict:
    r"""For each weight :math:`\gamma = I(a, b)`: the closed-form energy :math:`e/\pi^2` of
    :math:`\alpha = \sin^2(\tfrac{\pi}{2}I(a', b'))` on ``grid`` x ``grid`` (rows b', columns a'; 7 significant
    digits; inf where :math:`2a' \le a` or :math:`2b' \le b`), and ``spot_checks`` random (a', b') per weight
    where the closed form is compared with quadrature (``seed`` draws them, in order)."""
    rng = np.random.default_rng(seed)
    out = {"weights": {}, "spot_checks": []}
    for a, b in weights:
        Z = beta_energy_grid(a, b, grid, grid).T
        out["weights"][f"{a:g},{b:g}"] = {
            "energy_over_pi2": [[float(f"{v:.7g}") for v in row] for row in (Z / math.pi**2)]
        }
        for _ in range(spot_checks):
            a2 = a / 2 + rng.uniform(0.2, 1.5)
            b2 = b / 2 + rng.uniform(0.2, 1.5)
            q = beta_energy_quadrature(a, b, a2, b2)
            c = beta_energy_closed_form(a, b, a2, b2)
            out["spot_checks"].append(
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
    return out


def common_schedules() -> dict:
    """The common schedules of the unweighted-energy comparison, by label (EP names with suite names)."""
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


def common_schedule_energies(eps: Sequence[float]) -> dict:
    """Unweighted one-token energies of :func:`common_schedules` truncated to [eps, 1 - eps] (quadrature)."""
    return {
        name: {"eps": list(eps), "truncated_energy": [one_token_energy(spec, eps=e).value for e in eps]}
        for name, spec in common_schedules().items()
    }


def support_rows(
    languages: Mapping[str, tuple], lengths: Mapping[int, Sequence[int]], alphas=(0.15, 0.5, 0.85)
) -> list[dict]:
    r"""Brute-force energy constants (over all :math:`(d+1)^n` states) of each ``name -> (language, d)`` at each
    n in ``lengths[d]`` (skipping n below the language's minimum length): the integrand ratios
    :math:`E_k/e, E_c/e, E_g/e` at ``alphas``, :math:`C_k` by support count and for full support, :math:`C_c`,
    :math:`C_1` both ways and the support fraction of q."""
    rows = []
    for name, (lang, d) in languages.items():
        for n in lengths[d]:
            if n < lang.min_length():
                continue
            log_q = exact_log_joint(lang, n)
            r = energy_ratios(MaskedFlow(log_q, d, n), alphas=alphas)
            rows.append(
                {
                    "language": name,
                    "d": d,
                    "n": n,
                    "kinetic_over_e": r.kinetic,
                    "conditional_over_e": r.conditional,
                    "geodesic_over_e": r.geodesic,
                    "C_k_support_count": r.support_weight,
                    "C_k_full_support": r.full_support_weight,
                    "C_c": r.conditional_constant,
                    "C_1_brute_force": float(np.mean(r.kinetic) / np.mean(r.conditional)),
                    "C_1_full_support": r.full_support_weight / r.conditional_constant,
                    "max_rel_spread_over_alpha": float(np.ptp(r.kinetic) / np.mean(r.kinetic)),
                    "support_fraction": float(torch.isfinite(log_q).double().mean()),
                }
            )
    return rows
