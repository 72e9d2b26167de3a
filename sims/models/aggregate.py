r"""Run-to-run statistics over seeds, with intervals: means, spreads, paired differences, spread ratios.

Every quantity is a function of one number per trained model (e.g. its final exact NELBO gap), grouped
by method:

* :func:`mean_with_interval`: mean and Student-t interval (:func:`sims.stats.mean_estimate`);
* :func:`spread_with_interval`: the sample standard deviation s over seeds with the chi-square interval
  :math:`\big[s\sqrt{(n-1)/\chi^2_{1-\alpha/2,n-1}},\ s\sqrt{(n-1)/\chi^2_{\alpha/2,n-1}}\big]`
  (exact for normal values; with 5 seeds the interval spans a factor of about 4.6);
* :func:`paired_difference`: mean of per-seed differences (method minus reference, same seed: same
  initial network and data stream) with its t-interval;
* :func:`spread_ratio`: :math:`s_a / s_b` with the F interval
  :math:`\big[(s_a/s_b)/\sqrt{F_{1-\alpha/2}},\ (s_a/s_b)/\sqrt{F_{\alpha/2}}\big]`, F with
  (n_a - 1, n_b - 1) degrees of freedom. The F interval assumes independent samples; runs of two
  methods with the same seed share their initial network and data, so where their errors are
  positively correlated the interval is conservative (wider than needed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from scipy import stats

from sims.stats import mean_estimate
from sims.validation import InvalidArgumentError


@dataclass
class Interval:
    """A point value with a two-sided interval at ``level`` and the number of values behind it."""

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)

    def excludes(self, x: float) -> bool:
        return self.low > x or self.high < x


def _values(values) -> torch.Tensor:
    v = torch.as_tensor(list(values), dtype=torch.float64)
    if v.numel() and not bool(torch.isfinite(v).all()):
        raise InvalidArgumentError(f"run-to-run statistics need finite values, got {v.tolist()}")
    return v


def mean_with_interval(values, level: float = 0.95) -> Interval:
    est = mean_estimate(_values(values), level)
    return Interval(est.mean, est.ci_low, est.ci_high, est.n, level)


def spread_with_interval(values, level: float = 0.95) -> Interval:
    """Sample s.d. (n - 1 denominator) with its chi-square interval; needs two values or more."""
    v = _values(values)
    n = v.numel()
    if n < 2:
        raise InvalidArgumentError("a spread needs at least two runs")
    s = float(v.std(unbiased=True))
    a = 1 - level
    lo = s * math.sqrt((n - 1) / stats.chi2.ppf(1 - a / 2, n - 1))
    hi = s * math.sqrt((n - 1) / stats.chi2.ppf(a / 2, n - 1))
    return Interval(s, lo, hi, n, level)


def paired_difference(values, reference, level: float = 0.95) -> Interval:
    """Mean of ``values[i] - reference[i]`` (paired by seed) with its t-interval."""
    a, b = _values(values), _values(reference)
    if a.shape != b.shape:
        raise InvalidArgumentError(f"paired values need equal counts, got {a.numel()} and {b.numel()}")
    return mean_with_interval(a - b, level)


def spread_ratio(values, reference, level: float = 0.95) -> Interval:
    """``s(values) / s(reference)`` with the F interval (see the module docstring)."""
    a, b = _values(values), _values(reference)
    na, nb = a.numel(), b.numel()
    if na < 2 or nb < 2:
        raise InvalidArgumentError("a spread ratio needs at least two runs on each side")
    sa, sb = float(a.std(unbiased=True)), float(b.std(unbiased=True))
    if sb == 0:
        return Interval(math.inf, math.inf, math.inf, min(na, nb), level)
    r = sa / sb
    alpha = 1 - level
    lo = r / math.sqrt(stats.f.ppf(1 - alpha / 2, na - 1, nb - 1))
    hi = r / math.sqrt(stats.f.ppf(alpha / 2, na - 1, nb - 1))
    return Interval(r, lo, hi, min(na, nb), level)


def summarise(
    values: dict[str, list[float]], reference: str | None, ar: str | None, level: float = 0.95
) -> dict:
    """Per group: mean, spread (s.d.), paired difference to ``reference`` and spread ratios to ``reference``
    and ``ar`` (each with its interval; ``None`` where it does not apply)."""
    out = {}
    for name, vals in values.items():
        row = {"n": len(vals), "values": list(vals), "mean": mean_with_interval(vals, level).to_dict()}
        row["sd"] = spread_with_interval(vals, level).to_dict() if len(vals) > 1 else None
        ref = values.get(reference) if reference else None
        same = ref is not None and len(ref) == len(vals) and name != reference
        row["diff_vs_reference"] = (
            paired_difference(vals, ref, level).to_dict() if same and len(vals) > 1 else None
        )
        row["sd_ratio_vs_reference"] = (
            spread_ratio(vals, ref, level).to_dict() if same and len(vals) > 1 else None
        )
        ar_vals = values.get(ar) if ar else None
        row["sd_ratio_vs_ar"] = (
            spread_ratio(vals, ar_vals, level).to_dict()
            if ar_vals is not None and name != ar and len(vals) > 1 and len(ar_vals) > 1
            else None
        )
        out[name] = row
    return out


ORDER = ("standard", "ppots", "mirror", "ppots_mirror", "pair", "ar")


def _by_method(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        groups.setdefault(r["method"], []).append(r)
    return {m: groups[m] for m in sorted(groups, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))}


def _own_variance(r: dict) -> tuple[float, float] | None:
    dec = (r.get("final_exact") or {}).get("decomposition")
    if not dec:
        return None
    return dec["own"]["total_per_row"], dec["standard"]["total_per_row"] / dec["own"]["total_per_row"]


def scale_summary(records: list[dict], oracle: dict, level: float = 0.95) -> dict:
    """Run-to-run summary of a multi-seed study (records of :func:`sims.models.scale.measure_model`).

    Final exact gap (NELBO - H/L; AR: NLL - H/L) per method: mean, s.d., paired difference to the standard
    estimator and spread ratios to standard and AR, each with its interval; the exact per-row variance of
    the estimator each model trained with and its reduction factor against the standard estimator on the
    same network; the last measured gradient variance per row; exact SER and per-token KL per sampling
    step count beside the oracle's; the exact gap curve (mean and interval per training step).
    """
    groups = _by_method(records)
    gaps = {m: [r["final_exact"]["gap"] for r in rs] for m, rs in groups.items()}
    out = {
        "level": level,
        "methods": list(groups),
        "seeds": {m: [r["seed"] for r in rs] for m, rs in groups.items()},
        "final_gap": summarise(gaps, "standard", "ar", level),
        "oracle": oracle,
    }
    own, meas, curves, quality = {}, {}, {}, {}
    for m, rs in groups.items():
        ov = [v for v in map(_own_variance, rs) if v is not None]
        if ov:
            own[m] = {
                "variance_per_row": mean_with_interval([v[0] for v in ov], level).to_dict(),
                "reduction_vs_standard": mean_with_interval([v[1] for v in ov], level).to_dict(),
            }
        last = [r["measure"][-1]["grad_total_per_row"] for r in rs if r.get("measure")]
        if len(last) > 1:
            meas[m] = mean_with_interval(last, level).to_dict()
        steps = [p["step"] for p in rs[0].get("exact_curve", [])]
        if steps and len(rs) > 1 and all([p["step"] for p in r["exact_curve"]] == steps for r in rs):
            curves[m] = {
                "step": steps,
                "gap": [
                    mean_with_interval([r["exact_curve"][i]["gap"] for r in rs], level).to_dict()
                    for i in range(len(steps))
                ],
            }
        rows = {}
        for r in rs:
            for q in r["quality"]:
                rows.setdefault(q["steps"], []).append(q)
        quality[m] = [
            {
                "steps": k,
                "sequence_error": mean_with_interval([q["sequence_error"] for q in qs], level).to_dict(),
                "kl_per_token": mean_with_interval([q["kl_per_token"] for q in qs], level).to_dict(),
            }
            for k, qs in rows.items()
            if len(qs) > 1
        ]
    out.update(
        {
            "own_estimator": own,
            "measured_grad_variance_per_row": meas,
            "gap_curve": curves,
            "quality": quality,
        }
    )
    return out
