r"""The toy experiment of the energy paper's Fig. 4 (Chen et al., arXiv 2509.13866, App. E.6), exactly.

What the paper states (full text without display equations; research notes ``paper_statements.md`` §4
P15): n = 5 tokens over d = 2 symbols {a, b} (32 sentences); left target: only ``aaaaa`` and ``bbbbb``,
uniform; right target: all sentences with two or three a's, uniform; "step = 3 without any training", i.e.
sampling with the exact conditionals; the figure's histograms claim that different targets prefer
different Beta-CDF schedules (a, b). The (a, b) values shown and the rule that turns a schedule into
per-step counts appear only in the image. So we evaluate the paper's own tuning grid
a, b in {0.1, ..., 1.0} (App. E.1) plus the named schedules, for two samplers: the random-order fixed-count
sampler with counts floor(n alpha + 1/2) (:func:`sims.sampling.fixed_count.schedule_counts`) and the
MDLM ancestral (Bernoulli) sampler, both with exact output laws from ordered partitions
(:mod:`theory.orders.compositions`).

Support. Both targets have zeros in their support (2 and 20 of 32 sentences). The energy constants of
Thm. 3.1 therefore differ from the full-support values the paper's App. D.1 uses
(:class:`theory.energy.masked_flow.MaskedFlow`: :math:`C_k = \sum_{z: p(z) > 0} m(z)`), while the
minimiser (Condition 3.4) is unaffected since every energy is proportional to the one-token energy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sims.enumeration import all_sequences
from sims.sampling.fixed_count import schedule_counts
from theory.elbo import exact_subset_log_conditionals
from theory.energy.masked_flow import MaskedFlow
from theory.orders.compositions import ancestral_exact_law, composition_laws, fixed_count_exact_law

#: The paper's tuning grid (App. E.1): a, b in {0.1, 0.2, ..., 1.0}.
PAPER_GRID = tuple(round(0.1 * k, 1) for k in range(1, 11))
#: Named schedules of the paper's tables (EP Beta-CDF parameters; linear = Beta(1/2, 1/2), sin^2 = Beta(1, 1)).
NAMED = {
    "linear": (0.5, 0.5),
    "sin2": (1.0, 1.0),
    "Beta(0.9,0.3)": (0.9, 0.3),
    "Beta(0.3,0.9)": (0.3, 0.9),
    "Beta(1,0.2)": (1.0, 0.2),
}
SAMPLERS = ("fixed_count", "ancestral")


def fig4_targets(n: int = 5) -> dict[str, torch.Tensor]:
    """The two targets as log-laws over :math:`\\{a=0, b=1\\}^n` (order of :func:`sims.exact.all_sequences`)."""
    seqs = all_sequences(2, n)
    n_a = (seqs == 0).sum(1)
    supports = {"extremes": (n_a == 0) | (n_a == n), "two_or_three_a": (n_a == 2) | (n_a == 3)}
    out = {}
    for name, sup in supports.items():
        with np.errstate(divide="ignore"):
            out[name] = torch.log(sup.double() / sup.sum())
    return out


def schedule_spec(a: float, b: float) -> str:
    return f"beta:{a:g},{b:g}"


def toy_laws(
    log_q: torch.Tensor, n: int, steps: int, specs: Sequence[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Exact output laws ``{sampler: {spec: (2**n,)}}`` with the exact conditionals of ``log_q``."""
    laws = composition_laws(exact_subset_log_conditionals(log_q, 2, n))
    return {
        "fixed_count": {s: fixed_count_exact_law(laws, schedule_counts(n, steps, s)) for s in specs},
        "ancestral": {s: ancestral_exact_law(laws, s, steps, n) for s in specs},
    }


def law_metrics(log_q: torch.Tensor, law: np.ndarray) -> dict:
    """P(sample in the support), KL(q || p) and total variation of the output law p."""
    q = torch.exp(log_q).numpy()
    p = np.asarray(law, dtype=np.float64)
    sup = q > 0
    kl = float(np.sum(q[sup] * (np.log(q[sup]) - np.log(p[sup])))) if np.all(p[sup] > 0) else float("inf")
    return {"p_legal": float(p[sup].sum()), "kl_data_to_sampler": kl, "tv": float(0.5 * np.abs(p - q).sum())}


def toy_grid(n: int = 5, steps: int = 3, grid: Sequence[float] = PAPER_GRID) -> dict:
    """Every (target, sampler, schedule) of the grid and the named schedules: metrics and count plans."""
    cells = [(a, b) for a in grid for b in grid]
    named = {k: v for k, v in NAMED.items() if v not in cells}
    specs = {schedule_spec(a, b): (a, b) for a, b in [*cells, *named.values()]}
    out = {
        "grid": list(grid),
        "steps": steps,
        "n": n,
        "named": {k: schedule_spec(*v) for k, v in NAMED.items()},
    }
    out["count_plans"] = {s: schedule_counts(n, steps, s) for s in specs}
    out["targets"] = {}
    for name, lq in fig4_targets(n).items():
        laws = toy_laws(lq, n, steps, list(specs))
        out["targets"][name] = {smp: {s: law_metrics(lq, laws[smp][s]) for s in specs} for smp in SAMPLERS}
    return out


def best_cells(results: dict, metric: str = "p_legal", tol: float = 1e-12) -> set[str]:
    """Grid cells (specs) attaining the best value of ``metric`` (max for p_legal, min otherwise)."""
    vals = {s: r[metric] for s, r in results.items()}
    best = max(vals.values()) if metric == "p_legal" else min(vals.values())
    return {s for s, v in vals.items() if abs(v - best) <= tol * max(1.0, abs(best))}


def support_constants(n: int = 5) -> dict:
    """Thm. 3.1's kinetic constant for each target: C_k over the support versus the full-support value
    n (d+1)^(n-1) of App. D.1, and C_1 = C_k / C_c with C_c = n 2^(n-1)."""
    out = {}
    for name, lq in fig4_targets(n).items():
        flow = MaskedFlow(lq, 2, n)
        ck, full = flow.support_size_weight(), flow.full_support_weight()
        cc = n * 2 ** (n - 1)
        out[name] = {
            "C_k_support": ck,
            "C_k_full_support": full,
            "C_1": ck / cc,
            "C_1_full_support": full / cc,
        }
    return out
