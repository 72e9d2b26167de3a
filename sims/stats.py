"""Confidence intervals of the suite: Student-t intervals of means and Wilson intervals of proportions.

Every Monte Carlo number the suite reports carries one of these (dataclass results with the level).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from scipy import stats

from sims.validation import InvalidArgumentError, InvalidTypeError, check_int, check_real


def check_level(level) -> float:
    """A confidence level: a finite number strictly between 0 and 1."""
    return check_real(level, "level", minimum=0.0, maximum=1.0, open_min=True, open_max=True)


@dataclass
class MeanEstimate:
    """Sample mean with standard error and a two-sided confidence interval (Student t)."""

    mean: float
    stderr: float
    n: int
    ci_low: float
    ci_high: float
    level: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)


def mean_estimate(values: torch.Tensor, level: float = 0.95) -> MeanEstimate:
    """Mean, standard error and t-interval of ``values``; infinite values give an infinite mean."""
    check_level(level)
    if isinstance(values, (str, bytes, dict, set)) or values is None:
        raise InvalidTypeError(f"values must be numbers (a tensor or array), got {type(values).__name__}")
    try:
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidTypeError(f"values: cannot read as float64 numbers ({exc})") from exc
    n = v.numel()
    if n == 0:
        raise InvalidArgumentError("mean_estimate needs at least one value")
    if bool(torch.isnan(v).any()):
        raise InvalidArgumentError("mean_estimate got NaN values")
    if not bool(torch.isfinite(v).all()):
        m = float(v.mean())  # +inf (or -inf / nan if mixed signs, which we reject)
        if math.isnan(m):
            raise InvalidArgumentError("values contain both +inf and -inf")
        return MeanEstimate(m, math.nan, n, m, m, level)
    mean = float(v.mean())
    if n == 1:
        return MeanEstimate(mean, math.nan, 1, -math.inf, math.inf, level)
    se = float(v.std(unbiased=True)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * se
    return MeanEstimate(mean, se, n, mean - half, mean + half, level)


@dataclass
class ProportionEstimate:
    """A binomial proportion with its Wilson score interval."""

    successes: int
    n: int
    p: float
    ci_low: float
    ci_high: float
    level: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)


def proportion_estimate(successes: int, n: int, level: float = 0.95) -> ProportionEstimate:
    """Wilson score interval (good coverage near 0 and 1, where SER often lives).

    At ``successes`` = 0 or n the computed bound can miss p by one rounding (e.g. ``ci_high`` =
    0.9999999999999999 at p = 1); the values are kept bit-identical to earlier results, so consumers that
    draw error bars clamp them (:func:`sims.plotting.plot_quality_vs_steps` does).
    """
    check_level(level)
    n = check_int(n, "n", minimum=1)
    successes = check_int(successes, "successes", minimum=0)
    if successes > n:
        raise InvalidArgumentError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return ProportionEstimate(successes, n, p, max(0.0, centre - half), min(1.0, centre + half), level)


def coverage_pvalue(misses: int, n: int, level: float = 0.95) -> float:
    r"""Probability that at least ``misses`` of ``n`` independent ``level`` intervals miss their true values.

    :math:`P(X \ge \text{misses})` for :math:`X \sim \mathrm{Binomial}(n, 1 - \text{level})`: the chance of so
    many misses when every interval has its nominal coverage. A check of many Monte Carlo intervals
    against exact values is consistent with exact coverage when this is not small (at 95% about one
    interval in twenty misses; 3 of 30 has probability 0.19), rather than only when every interval
    covers.
    """
    check_level(level)
    n = check_int(n, "n", minimum=1)
    misses = check_int(misses, "misses", minimum=0, maximum=n)
    return float(stats.binom.sf(misses - 1, n, 1.0 - level)) if misses > 0 else 1.0
