r"""From bench records to the leaderboard: curves, quality at matched NFE, verdicts against random order,
ranks and Pareto fronts. Pure functions of the records (plain JSON in, plain JSON out).

**Metric.** The exact tier scores a policy by :math:`KL(q \Vert p)/L` (nats per token, exact; the direction
the theory bounds); the Monte Carlo tiers by the sequence error rate (SER, Wilson 95% interval). Every run
is a point (mean NFE, metric) of its policy's curve in its (tier, language).

**Matched NFE.** A curve is read at NFE n by the nearest run within 5% of n, else by linear interpolation
in :math:`\log_2` NFE between the two runs that bracket n (value and interval bounds interpolated alike,
which is an approximation of the interval); outside the curve's NFE range it has no value (no
extrapolation). The leaderboard reads every curve at the tier's budgets.

**Against random order.** Each run of a policy is compared with the random-order baseline
(``fixed_random``) read at the run's own NFE: *better* when the policy's interval lies below the
baseline's (exact tier: its KL is lower by more than :data:`EXACT_TOL`), *worse* when above, else a *tie*.
Per (policy, language): ``beats`` (some better, none worse), ``loses`` (some worse, none better),
``mixed`` (both), ``no difference`` (only ties), ``not comparable`` (no run inside the baseline's range,
or no metric at all: no exact law, every run over budget).

**Ranks.** At every (tier, language, budget) the policies with a matched value are ranked (1 = best,
average ranks for equal values); a policy's score is its mean rank.

**Pareto front** of a (tier, language): the runs not dominated in (NFE, metric) by any other run (point
estimates).
"""

from __future__ import annotations

import math
from collections import defaultdict

#: Relative NFE distance within which a run counts as at a budget (no interpolation).
NEAR = 0.05
#: Exact-tier KL differences below this (nats per token) are ties (float64 rounding of exact laws).
EXACT_TOL = 1e-9
VERDICTS = ("beats", "loses", "mixed", "no difference", "not comparable")


def metric_point(record: dict) -> dict | None:
    """``{"nfe", "value", "lo", "hi"}`` of a record (module docstring), or ``None`` without a metric."""
    if record.get("status") != "ok":
        return None
    if record["tier"] == "exact":
        exact = record.get("exact")
        if not exact:
            return None
        v = max(exact["kl_data_to_sampler"] / record["length"], 0.0)  # KL >= 0; rounding gives -1e-17
        return {"nfe": record["nfe_mean"], "value": v, "lo": v, "hi": v}
    s = record["ser"]
    return {"nfe": record["nfe_mean"], "value": s["p"], "lo": s["ci_low"], "hi": s["ci_high"]}


def metric_name(tier: str) -> str:
    return "KL(q||p)/L (nats/token, exact)" if tier == "exact" else "SER (Monte Carlo, 95% Wilson)"


def curves(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """``{(tier, language, policy): points sorted by NFE}``; each point keeps its ``setting`` and ``key``."""
    out: dict = defaultdict(list)
    for r in records:
        p = metric_point(r)
        if p is not None and math.isfinite(p["value"]):
            out[(r["tier"], r["language"], r["policy"])].append(
                {**p, "setting": r["setting"], "key": r["key"]}
            )
    return {k: sorted(v, key=lambda p: (p["nfe"], p["value"])) for k, v in out.items()}


def read_at(curve: list[dict], nfe: float) -> dict | None:
    """The curve's ``{"value", "lo", "hi"}`` at ``nfe`` (module docstring), or ``None`` outside its range."""
    if not curve or nfe <= 0:
        return None
    near = min(curve, key=lambda p: abs(p["nfe"] - nfe))
    if abs(near["nfe"] - nfe) <= NEAR * nfe:
        return {k: near[k] for k in ("value", "lo", "hi")}
    below = [p for p in curve if p["nfe"] < nfe]
    above = [p for p in curve if p["nfe"] > nfe]
    if not below or not above:
        return None
    a, b = below[-1], above[0]
    w = (math.log2(nfe) - math.log2(a["nfe"])) / (math.log2(b["nfe"]) - math.log2(a["nfe"]))
    return {k: (1 - w) * a[k] + w * b[k] for k in ("value", "lo", "hi")}


def compare(point: dict, base: dict, exact: bool) -> str:
    """``"better"``, ``"worse"`` or ``"tie"`` of a policy point against the baseline read at its NFE."""
    if exact:
        diff = point["value"] - base["value"]
        return "better" if diff < -EXACT_TOL else "worse" if diff > EXACT_TOL else "tie"
    if point["hi"] < base["lo"]:
        return "better"
    if point["lo"] > base["hi"]:
        return "worse"
    return "tie"


def combine(counts: dict) -> str:
    """A verdict from ``{"better", "worse", "tie"}`` counts (module docstring)."""
    b, w, t = counts.get("better", 0), counts.get("worse", 0), counts.get("tie", 0)
    if b and w:
        return "mixed"
    if b:
        return "beats"
    if w:
        return "loses"
    return "no difference" if t else "not comparable"


def against_baseline(cv: dict, baseline: str) -> list[dict]:
    """One row per (tier, language, policy): counts of better / worse / tie runs and the verdict."""
    rows = []
    for (tier, lang, policy), pts in sorted(cv.items()):
        if policy == baseline:
            continue
        base_curve = cv.get((tier, lang, baseline), [])
        counts: dict = defaultdict(int)
        for p in pts:
            base = read_at(base_curve, p["nfe"])
            if base is not None:
                counts[compare(p, base, tier == "exact")] += 1
        rows.append(
            {"tier": tier, "language": lang, "policy": policy, **dict(counts), "verdict": combine(counts)}
        )
    return rows


def verdicts_by_language(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """``{policy: {language: {"verdict", "better", "worse", "tie", "tiers": {tier: verdict}}}}`` over tiers."""
    out: dict = defaultdict(dict)
    grouped: dict = defaultdict(list)
    for r in rows:
        grouped[(r["policy"], r["language"])].append(r)
    for (policy, lang), rs in grouped.items():
        counts = {k: sum(r.get(k, 0) for r in rs) for k in ("better", "worse", "tie")}
        out[policy][lang] = {
            **counts,
            "verdict": combine(counts),
            "tiers": {r["tier"]: r["verdict"] for r in rs},
        }
    return dict(out)


def _ranks(values: dict[str, float], tol: float = 0.0) -> dict[str, float]:
    """Average ranks (1 = lowest value); values within ``tol`` of the first of a group share its rank."""
    order = sorted(values.items(), key=lambda kv: kv[1])
    ranks, i = {}, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and order[j + 1][1] - order[i][1] <= tol:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k][0]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def matched_table(cv: dict, budgets: dict[tuple[str, str], list[int]]) -> list[dict]:
    """One row per (tier, language, budget, policy) with a matched value: value, interval, rank."""
    rows = []
    policies = sorted({k[2] for k in cv})
    for (tier, lang), bs in sorted(budgets.items()):
        for b in bs:
            vals = {}
            for policy in policies:
                v = read_at(cv.get((tier, lang, policy), []), b)
                if v is not None:
                    vals[policy] = v
            ranks = _ranks({p: v["value"] for p, v in vals.items()}, EXACT_TOL if tier == "exact" else 0.0)
            for policy, v in vals.items():
                rows.append(
                    {
                        "tier": tier,
                        "language": lang,
                        "budget": b,
                        "policy": policy,
                        **v,
                        "rank": ranks[policy],
                    }
                )
    return rows


def ranking(matched: list[dict], rows_vs_base: list[dict], tiers: list[str]) -> list[dict]:
    """Policies by mean rank over every matched (tier, language, budget), with per-tier mean ranks and
    the better / tie / worse counts against the baseline."""
    by_policy: dict = defaultdict(list)
    for r in matched:
        by_policy[r["policy"]].append(r)
    vs: dict = defaultdict(lambda: defaultdict(int))
    for r in rows_vs_base:
        for k in ("better", "worse", "tie"):
            vs[r["policy"]][k] += r.get(k, 0)
    out = []
    for policy, rs in by_policy.items():
        per_tier = {}
        for t in tiers:
            tr = [r["rank"] for r in rs if r["tier"] == t]
            per_tier[t] = sum(tr) / len(tr) if tr else None
        out.append(
            {
                "policy": policy,
                "mean_rank": sum(r["rank"] for r in rs) / len(rs),
                "cells": len(rs),
                "tiers": per_tier,
                **{k: vs[policy][k] for k in ("better", "tie", "worse")},
            }
        )
    return sorted(out, key=lambda r: (r["mean_rank"], r["policy"]))


def pareto_front(points: list[dict]) -> list[dict]:
    """The points not dominated in (NFE, value) (lower is better in both), sorted by NFE."""
    front = []
    for p in points:
        dominated = any(
            q["nfe"] <= p["nfe"]
            and q["value"] <= p["value"]
            and (q["nfe"] < p["nfe"] or q["value"] < p["value"])
            for q in points
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p["nfe"])


def pareto(cv: dict) -> dict[tuple[str, str], list[dict]]:
    """``{(tier, language): front}``; each front point names its policy and setting."""
    grouped: dict = defaultdict(list)
    for (tier, lang, policy), pts in cv.items():
        grouped[(tier, lang)] += [{**p, "policy": policy} for p in pts]
    return {k: pareto_front(v) for k, v in sorted(grouped.items())}


def build(
    records: list[dict], baseline: str, budgets: dict[tuple[str, str], list[int]], tiers: list[str]
) -> dict:
    """The whole leaderboard as plain data (the input of the CSV / Markdown writers and the figures)."""
    cv = curves(records)
    vs = against_baseline(cv, baseline)
    matched = matched_table(cv, budgets)
    fronts = pareto(cv)
    verdicts = verdicts_by_language(vs)
    for r in records:  # policies run on a language without any metric there (no exact law, over budget)
        if r["policy"] != baseline and r["language"] not in verdicts.get(r["policy"], {}):
            counts = {"better": 0, "worse": 0, "tie": 0}
            verdicts.setdefault(r["policy"], {})[r["language"]] = {
                **counts,
                "verdict": "not comparable",
                "tiers": {},
            }
    return {
        "baseline": baseline,
        "tiers": tiers,
        "metrics": {t: metric_name(t) for t in tiers},
        "ranking": ranking(matched, vs, tiers),
        "matched": matched,
        "vs_baseline": vs,
        "verdicts": verdicts,
        "pareto": [{"tier": t, "language": lang, "front": f} for (t, lang), f in fronts.items()],
        "curves": [
            {"tier": t, "language": lang, "policy": p, "points": pts}
            for (t, lang, p), pts in sorted(cv.items())
        ],
        "over_budget": sorted(r["key"] for r in records if r.get("status") == "over budget"),
        "no_exact_law": sorted(
            r["key"]
            for r in records
            if r.get("tier") == "exact" and r.get("status") == "ok" and not r.get("exact")
        ),
    }
