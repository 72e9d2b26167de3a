r"""The energy paper's Beta-CDF schedule search (Chen et al., arXiv 2509.13866, Sec. 3.3 / App. E.1) with the
exact oracle denoiser: :math:`\gamma_s = I_s(a, b)`, :math:`\alpha^{EP}_s = \sin^2(\tfrac{\pi}{2}\gamma_s)` over
the paper's tuning grid a, b in {0.1, ..., 1.0}, against named baselines.

* Exact cells (:func:`exact_grid_records`): the output law of the MDLM ancestral sampler and of the
  random-order fixed-count sampler with ``count_rule="schedule"`` (counts floor(M alpha + 1/2), cumulative)
  as a mixture over ordered partitions (:mod:`theory.orders.compositions`, tested against
  :func:`sims.exact.exact_sampler_law`), with exact metrics (both KL directions, sequence error).
* Monte Carlo cells (:func:`mc_grid_record`): sampled SER (Wilson) and in-support generative NLL.
* :func:`grid_summary`: per (language, sampler, K) the best grid cell and the baselines, and per (sampler, K)
  the Monte Carlo SER of the baselines and the paper's recommended schedules with their intervals.

For the fixed-count sampler only the integer count plan matters, so its results are piecewise constant over
the grid. Ties of the count rule at an exact half (e.g. L = 7, K = 2: 7 alpha(1/2) = 3.5) are rounded half
up with a 1e-9 tolerance (:func:`sims.sampling.fixed_count.schedule_counts`), so that float noise in alpha
(sin^2(pi/4) = 0.4999999999999999) cannot give mathematically equal schedules different plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from sims.metrics import evaluate_samples, exact_law_metrics
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, schedule_counts
from sims.schedules import BetaCDFSchedule, get_schedule
from sims.validation import InvalidArgumentError
from theory.factorization import sampler_weights
from theory.orders.compositions import ancestral_exact_law, fixed_count_exact_law

#: Samplers of the search: MDLM ancestral (Bernoulli reveals) and fixed counts following the schedule.
GRID_SAMPLERS = ("ancestral", "fixed_count_schedule")
#: Baselines: linear (= Beta(1/2, 1/2)), MD4 cosine, MDLM cosine (EP "sine"), sin^2 (= Beta(1, 1)).
BASELINES = ("linear", "cosine", "cosine_mdlm", "sin2")
#: The paper's recommended schedules for few steps (Tables 1-7).
PAPER_PICKS = ("beta(0.9,0.3)", "beta(1,0.2)", "beta(0.3,0.9)")
#: Exact KL below this (nats) is float64 rounding of an exact sampler (one token per step).
KL_FLOOR = 1e-8


def grid_schedules(grid: Sequence[float], baselines: Sequence[str] = BASELINES, extra=()) -> dict:
    """``name -> schedule`` for every (a, b) of ``grid`` x ``grid`` (``beta(a,b)``), the baselines and the
    ``extra`` (a, b) pairs."""
    out = {f"beta({a:g},{b:g})": BetaCDFSchedule(a, b) for a in grid for b in grid}
    out.update({name: get_schedule(name) for name in baselines})
    out.update({f"beta({a:g},{b:g})": BetaCDFSchedule(a, b) for a, b in extra})
    return out


def grid_sampler(name: str, steps: int, schedule):
    if name == "ancestral":
        return AncestralSampler(steps, schedule=schedule)
    if name == "fixed_count_schedule":
        return FixedCountSampler(steps, score="random", count_rule="schedule", schedule=schedule)
    raise InvalidArgumentError(f"sampler must be one of {GRID_SAMPLERS}, got {name!r}")


def expected_calls(sampler: str, steps: int, schedule, length: int) -> float:
    r"""Expected number of denoiser calls: the number of non-zero counts for fixed counts (a zero-count step
    makes no call), :math:`\sum_k 1 - (1 - w_k)^L` for the ancestral sampler with step weights :math:`w_k`
    (each token's reveal step is drawn independently; an empty step makes no call)."""
    if sampler == "fixed_count_schedule":
        return float(sum(c > 0 for c in schedule_counts(length, steps, schedule)))
    w = sampler_weights(grid_sampler(sampler, steps, schedule))
    return float(np.sum(1.0 - (1.0 - w) ** length))


def exact_grid_records(
    language: str, log_q: torch.Tensor, laws: dict, schedules: Mapping, sampler: str, steps: int, length: int
) -> dict:
    """``key -> record`` (``<language>|<sampler>|K=<K>|<schedule>``) with the exact metrics of each schedule;
    ``laws`` are the composition laws of the exact conditionals (:func:`theory.orders.composition_laws`)."""
    out = {}
    for name, sched in schedules.items():
        counts = None
        if sampler == "ancestral":
            law = ancestral_exact_law(laws, sched, steps, length)
        else:
            counts = schedule_counts(length, steps, sched)
            law = fixed_count_exact_law(laws, counts)
        rec = {
            "language": language,
            "sampler": sampler,
            "steps": steps,
            "schedule": name,
            "length": length,
            "metrics": exact_law_metrics(log_q, torch.as_tensor(law), length).to_dict(),
            "counts": counts,
            "calls": expected_calls(sampler, steps, sched, length),
        }
        if isinstance(sched, BetaCDFSchedule):
            rec.update({"a": sched.a, "b": sched.b})
        out[f"{language}|{sampler}|K={steps}|{name}"] = rec
    return out


def mc_grid_record(
    language, oracle, sampler: str, steps: int, name: str, schedule, length: int, samples: int, generator
) -> dict:
    """Sampled quality (SER with Wilson interval, in-support generative NLL) of one (sampler, K, schedule)."""
    res = grid_sampler(sampler, steps, schedule).sample(oracle, samples, length, generator, batch_size=256)
    q = evaluate_samples(
        language, res.tokens, nfe=res.nfe, optimal_nll_per_token=language.entropy_per_token(length)
    )
    return {
        "sampler": sampler,
        "steps": steps,
        "schedule": name,
        "length": length,
        "counts": schedule_counts(length, steps, schedule) if sampler != "ancestral" else None,
        "quality": q.to_dict(),
        "conventions": res.conventions,
    }


def _kl(rec) -> float:
    return rec["metrics"]["kl_data_to_sampler"]


def grid_summary(exact: Mapping[str, dict], mc: Mapping[str, dict]) -> dict:
    """What the figures and the claims read: per ``<language>|<sampler>|K=<K>`` the best grid cell (KL, all
    cells within 1e-12 relative of it, its counts) and each baseline's KL, SER and counts; per
    ``<sampler>|K=<K>`` the Monte Carlo SER and interval of the baselines and the paper's picks."""
    out = {"exact": {}, "mc": {}}
    groups = sorted({(r["language"], r["sampler"], r["steps"]) for r in exact.values()})
    for lang, smp, K in groups:
        sub = {
            r["schedule"]: r
            for r in exact.values()
            if (r["language"], r["sampler"], r["steps"]) == (lang, smp, K)
        }
        betas = [r for r in sub.values() if "a" in r]
        best = min(betas, key=_kl)
        tol = 1e-12 * max(_kl(best), KL_FLOOR)
        out["exact"][f"{lang}|{smp}|K={K}"] = {
            "best": best["schedule"],
            "best_kl": _kl(best),
            "best_counts": best["counts"],
            "best_cells": sorted(r["schedule"] for r in betas if _kl(r) <= _kl(best) + tol),
            "baselines": {
                name: {
                    "kl": _kl(sub[name]),
                    "ser": sub[name]["metrics"]["sequence_error"],
                    "counts": sub[name]["counts"],
                }
                for name in BASELINES
                if name in sub
            },
        }
    for smp, K in sorted({(r["sampler"], r["steps"]) for r in mc.values()}):
        cell = {}
        for r in mc.values():
            if (r["sampler"], r["steps"]) == (smp, K) and (
                r["schedule"] in BASELINES or r["schedule"] in PAPER_PICKS
            ):
                ser = r["quality"]["sequence_error"]
                cell[r["schedule"]] = {"ser": ser["p"], "ci": [ser["ci_low"], ser["ci_high"]], "n": ser["n"]}
        out["mc"][f"{smp}|K={K}"] = cell
    return out
