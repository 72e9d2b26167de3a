r"""Tang et al.'s sampler-correctness study and Feng et al.'s step counts on corpus languages (issue 15.4).

Tang, Yu, Zhang & Ver Steeg (*Is Your Diffusion Sampler Actually Correct?*, arXiv 2602.19619; code
LuhanTang/dllm_sampler) drive samplers with the exact posterior of a first-order chain fitted to text and
compare the generated sequences with the chain through transition-level rates
(:mod:`sims.evaluation.transitions`): few-step samplers are not distributionally correct even with the
exact oracle, and the mismatch vanishes only as the number of steps K approaches the length L (abstract and
Figure-1 caption). Feng et al. (arXiv 2502.09622, abstracts) state that the per-token KL needs a number of
steps independent of L while the sequence error rate needs steps linear in L.

A cell here is one (sampler, L, K) run of the exact sparse oracle (:class:`~sims.denoisers.oracle.
OracleDenoiser`, float64) on a corpus language (:mod:`sims.languages.corpus`) and reports

* Tang's **transition KL and TV rates** of ``num_samples`` generated sequences against the exact pooled
  transition law, with normal-bootstrap intervals over sequences, and the same rates of as many exact
  samples of the language (the *data floor*, their AR baseline: both plug-in rates are biased upwards by
  about (occupied cells - occupied rows)/(2M) for M pairs, Tang's own estimator);
* the **exact per-token KL by teacher forcing** :math:`E_{x\sim q} E_M[\log q(x) - \log p_M(x)]/L =
  E_M KL(q \Vert p_M)/L` (:func:`sims.metrics.order_conditional_excess_nll`: exact log-probabilities,
  Monte Carlo over x and the reveal schedule M, t-interval), defined for samplers whose reveal schedule does
  not depend on the values (MDLM ancestral, LLaDA random); it upper-bounds :math:`KL(q \Vert \bar p)/L` of
  the sampler's law. For value-dependent selection (low confidence) and remasking (ReMDM) it is not defined
  and the cell says why;
* the **sequence error rate** SER = P(q(x) = 0) on the exact-zeros variant of the language (Wilson
  interval), where the support is sparse so SER means something (a teleport-smoothed chain has SER = 0).

Conventions (recorded in every result): oracle fallback ``"uniform"`` after impossible evidence (only the
zeros variant can reach it; SER does not depend on it), samplers from :mod:`sims.registry` with their
:class:`~sims.sampling.base.Conventions`, temperature 1, every random draw from the cell's generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

from sims.denoisers.oracle import OracleDenoiser
from sims.evaluation.transitions import (
    TransitionReference,
    reference_transitions,
    transition_rates,
)
from sims.languages.base import Language
from sims.languages.sparse_bigram import SparseBigramLanguage
from sims.metrics import order_conditional_excess_nll
from sims.registry import make_sampler
from sims.stats import check_level
from sims.validation import InvalidArgumentError, check_positive_int
from theory.feng import loglog_slope
from theory.sequence_error import monte_carlo_ser

#: The four samplers of the study: label -> (registry name, description with Tang et al.'s name).
TANG_SAMPLERS: dict[str, tuple[str, str]] = {
    "mdlm_ancestral": ("ancestral", "MDLM ancestral: Bernoulli reveals, linear schedule, uniform grid"),
    "llada_random": (
        "fixed_random",
        "LLaDA fixed counts, uniformly random positions (Tang et al. call it 'MDLM')",
    ),
    "low_confidence": (
        "fixed_sampled_prob",
        "LLaDA low_confidence: fixed counts, top-k by the drawn token's probability (Tang et al.'s 'LLaDA')",
    ),
    "remdm_loop": (
        "remdm_loop_eta0.02",
        "ReMDM loop, official defaults (eta 0.02, t_on 0.55, t_off 0.05, alpha_on 0.9), no nucleus",
    ),
}
#: Oracle fallback after impossible evidence (SER does not depend on it).
ORACLE_FALLBACK = "uniform"


def tang_sampler(label: str, steps: int):
    """The registered sampler of a study label (:data:`TANG_SAMPLERS`) with K = ``steps``."""
    if label not in TANG_SAMPLERS:
        raise InvalidArgumentError(f"sampler label must be one of {sorted(TANG_SAMPLERS)}, got {label!r}")
    return make_sampler(TANG_SAMPLERS[label][0], check_positive_int(steps, "steps"))


def chain_transition_reference(language: Language, length: int) -> TransitionReference:
    r"""Exact pooled transition law of ``language`` at ``length`` (:class:`TransitionReference`).

    For a first-order chain :math:`q(x) = \pi(x_1)\prod_t A(x_{t-1}, x_t)` the pooled pair law is
    :math:`\frac{1}{L-1}\sum_{t<L} \mu_t(i) A(i, j)` with :math:`\mu_t` the marginal of position t, so the
    pooled conditional is :math:`A(i, \cdot)` on every row of positive mass, in O(L V K + V^2) without the
    pair marginals (needed at V = 4096). Other languages: :func:`sims.evaluation.transitions.
    reference_transitions`.
    """
    length = check_positive_int(length, "length")
    if not isinstance(language, SparseBigramLanguage):
        return reference_transitions(language, length)
    if length < 2:
        raise InvalidArgumentError(f"transitions need sequences of length >= 2, got {length}")
    V = language.vocab_size
    A = language.transition_rows(torch.arange(V, device=language.device)).to(torch.float64)
    mu = language.token_marginals(length - 1).sum(0) / (length - 1)
    pair = mu[:, None] * A
    conditional = torch.where((mu > 0)[:, None], A, torch.full_like(A, math.nan))
    return TransitionReference(conditional, pair)


@dataclass
class TransitionEstimate:
    """Tang et al.'s transition rates (nats) with bootstrap intervals over sequences.

    The intervals are the point estimate plus or minus z times the bootstrap standard deviation (normal
    bootstrap): they measure the sampling variability of the plug-in rate at this sample size, not its
    upward bias, which the data floor at the same size shows (percentile intervals of a plug-in divergence
    sit above the point estimate, the resampled duplicates adding to the bias). ``kl_rate`` is infinite when
    an impossible transition was generated (``impossible_rate`` > 0)."""

    kl_rate: float
    kl_ci: tuple[float, float]
    tv_rate: float
    tv_ci: tuple[float, float]
    entropy_rate: float
    impossible_rate: float
    pairs: int
    resamples: int
    level: float

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_transition_rates(
    tokens: torch.Tensor,
    reference: TransitionReference,
    generator: torch.Generator,
    resamples: int = 200,
    level: float = 0.95,
) -> TransitionEstimate:
    """:func:`~sims.evaluation.transitions.transition_rates` of ``tokens`` ``(N, L)`` with normal bootstrap
    intervals (:class:`TransitionEstimate`) from ``resamples`` resamples of the N sequences (``generator``)."""
    check_level(level)
    resamples = check_positive_int(resamples, "resamples")
    point = transition_rates(tokens, reference)
    n = tokens.shape[0]
    kls, tvs = [], []
    for _ in range(resamples):
        idx = torch.randint(n, (n,), generator=generator, device=generator.device).to(tokens.device)
        r = transition_rates(tokens[idx], reference)
        kls.append(r.kl_rate)
        tvs.append(r.tv_rate)
    z = float(stats.norm.ppf((1 + level) / 2))

    def interval(point_value: float, values: list[float]) -> tuple[float, float]:
        if not math.isfinite(point_value):
            return (point_value, point_value)
        sd = float(np.std(np.asarray(values), ddof=1)) if resamples > 1 else math.nan
        return (max(0.0, point_value - z * sd), point_value + z * sd)

    kl_ci, tv_ci = interval(point.kl_rate, kls), interval(point.tv_rate, tvs)
    return TransitionEstimate(
        point.kl_rate,
        kl_ci,
        point.tv_rate,
        tv_ci,
        point.entropy_rate,
        point.impossible_rate,
        point.pairs,
        resamples,
        level,
    )


@dataclass
class CorpusCell:
    """One (sampler, L, K) cell of the study (module docstring); ``None`` where a metric is not defined.

    Attributes:
        teacher_forced_kl: :class:`~sims.stats.MeanEstimate` as a dict, nats per token.
        teacher_forced_note: why it is not defined, or ``""``.
        ser: :class:`~sims.stats.ProportionEstimate` as a dict, on the zeros variant.
        mean_nfe: mean denoiser calls per sequence of the transition run.
    """

    sampler: str
    registry_name: str
    length: int
    steps: int
    num_samples: int
    transitions: dict | None
    teacher_forced_kl: dict | None
    teacher_forced_note: str
    ser: dict | None
    mean_nfe: float | None
    conventions: dict

    def to_dict(self) -> dict:
        return asdict(self)


def sampler_cell(
    label: str,
    length: int,
    steps: int,
    generator: torch.Generator,
    *,
    language: Language | None = None,
    reference: TransitionReference | None = None,
    zeros_language: Language | None = None,
    num_samples: int = 128,
    tf_samples: int = 0,
    resamples: int = 200,
    batch_size: int = 256,
    transitions: bool = True,
) -> CorpusCell:
    """Run one cell: transition rates on ``language`` (with its ``reference``, computed when omitted),
    teacher-forced KL on ``language`` from ``tf_samples`` data sequences (0: skipped), SER on
    ``zeros_language`` from ``num_samples`` sampler runs. Any of the three parts is skipped when its
    language is ``None``; ``transitions=False`` skips the transition run alone."""
    length = check_positive_int(length, "length")
    num_samples = check_positive_int(num_samples, "num_samples")
    sampler = tang_sampler(label, steps)
    trans = tf = ser = nfe = None
    note = ""
    if language is not None:
        oracle = OracleDenoiser(language, on_impossible=ORACLE_FALLBACK)
        if transitions:
            ref = reference if reference is not None else chain_transition_reference(language, length)
            res = sampler.sample(oracle, num_samples, length, generator, batch_size=batch_size)
            trans = bootstrap_transition_rates(res.tokens, ref, generator, resamples).to_dict()
            nfe = None if res.nfe is None else float(res.nfe.double().mean())
        if not sampler.capabilities.value_independent_schedule:
            note = "not defined: which positions open when depends on the drawn values or on remasking"
        elif tf_samples > 0:
            tf = order_conditional_excess_nll(
                language, oracle, sampler, length, tf_samples, generator, batch_size=batch_size
            ).to_dict()
    if zeros_language is not None:
        oracle_z = OracleDenoiser(zeros_language, on_impossible=ORACLE_FALLBACK)
        est = monte_carlo_ser(
            zeros_language, sampler, length, num_samples, generator, oracle_z, batch_size=batch_size
        )
        ser = est.to_dict()
    return CorpusCell(
        label,
        TANG_SAMPLERS[label][0],
        length,
        int(steps),
        num_samples,
        trans,
        tf,
        note,
        ser,
        nfe,
        sampler.conventions().to_dict(),
    )


def data_floor(
    language: Language,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    reference: TransitionReference | None = None,
    resamples: int = 200,
) -> TransitionEstimate:
    """Transition rates of ``num_samples`` exact samples of ``language`` (Tang et al.'s AR baseline): the
    plug-in estimator's floor at this sample size."""
    ref = reference if reference is not None else chain_transition_reference(language, length)
    x = language.sample(check_positive_int(num_samples, "num_samples"), length, generator)
    return bootstrap_transition_rates(x, ref, generator, resamples)


# ---------------------------------------------------------------------------------------------------
# Summaries for the claims


def mismatch_summary(cells: Sequence[dict], floor: dict) -> dict:
    """Per sampler: transition KL and TV rates at the fewest and the most steps, and whether the interval at
    the most steps reaches the data floor's interval (overlap of the bootstrap intervals), from cell dicts
    of one length (:meth:`CorpusCell.to_dict`) and a floor (:meth:`TransitionEstimate.to_dict`)."""
    out = {}
    for label in sorted({c["sampler"] for c in cells}):
        sub = sorted(
            (c for c in cells if c["sampler"] == label and c["transitions"]), key=lambda c: c["steps"]
        )
        if not sub:
            continue
        lo, hi = sub[0], sub[-1]
        t_lo, t_hi = lo["transitions"], hi["transitions"]
        out[label] = {
            "length": hi["length"],
            "fewest_steps": lo["steps"],
            "most_steps": hi["steps"],
            "kl_fewest": t_lo["kl_rate"],
            "kl_most": t_hi["kl_rate"],
            "tv_fewest": t_lo["tv_rate"],
            "tv_most": t_hi["tv_rate"],
            "kl_most_ci": list(t_hi["kl_ci"]),
            "kl_floor": floor["kl_rate"],
            "kl_floor_ci": list(floor["kl_ci"]),
            "fewest_above_floor": t_lo["kl_ci"][0] > floor["kl_ci"][1],
            "most_reaches_floor": t_hi["kl_ci"][0] <= floor["kl_ci"][1],
            "tf_kl_most": None if hi["teacher_forced_kl"] is None else hi["teacher_forced_kl"]["mean"],
        }
    return out


def kl_flatness(rows: Sequence[dict], largest: int = 3, min_ratio: float = 2.0) -> dict:
    """Slope of log(per-token KL) against log L at each (sampler, K) over the ``largest`` lengths with
    L >= ``min_ratio`` K, from dicts with ``sampler``, ``length``, ``steps`` and ``teacher_forced_kl`` (flat in
    L: slope near 0; at L close to K the KL is still rising from 0 at K = L)."""
    out = {}
    for label, K in sorted({(r["sampler"], r["steps"]) for r in rows}):
        sub = sorted(
            (
                r
                for r in rows
                if r["sampler"] == label
                and r["steps"] == K
                and r["teacher_forced_kl"]
                and r["length"] >= min_ratio * K
            ),
            key=lambda r: r["length"],
        )[-largest:]
        if len(sub) >= 2 and all(r["teacher_forced_kl"]["mean"] > 0 for r in sub):
            out[f"{label}|K={K}"] = {
                "slope": loglog_slope(
                    [r["length"] for r in sub], [r["teacher_forced_kl"]["mean"] for r in sub]
                ),
                "lengths": [r["length"] for r in sub],
                "kl_per_token": [r["teacher_forced_kl"]["mean"] for r in sub],
                "stderr": [r["teacher_forced_kl"]["stderr"] for r in sub],
            }
    return out


def steps_needed(rows: Sequence[dict], delta: float) -> dict:
    """Steps K* at which the SER falls to ``delta`` per (sampler, L), and the slope of log K* against log L
    per sampler (linear in L: slope near 1), from dicts with ``sampler``, ``length``, ``steps``, ``ser``.

    K* is the first grid point with SER <= ``delta``, refined by linear interpolation of the SER in log K
    between it and the grid point before it (which has SER > ``delta``); ``None`` when no grid point reaches
    ``delta``; the first grid point itself when it already does (then K* is an upper bound, ``bounded``)."""
    if not 0 < delta < 1:
        raise InvalidArgumentError(f"delta must lie in (0, 1), got {delta}")
    needed: dict[str, dict[str, float | None]] = {}
    bounded: dict[str, list[int]] = {}
    for label, L in sorted({(r["sampler"], r["length"]) for r in rows if r["ser"]}):
        sub = sorted(
            (r for r in rows if r["sampler"] == label and r["length"] == L and r["ser"]),
            key=lambda r: r["steps"],
        )
        k_star = None
        for n, r in enumerate(sub):
            if r["ser"]["p"] <= delta:
                if n == 0:
                    k_star = float(r["steps"])
                    bounded.setdefault(label, []).append(L)
                else:
                    prev = sub[n - 1]
                    s0, s1 = prev["ser"]["p"], r["ser"]["p"]
                    frac = (s0 - delta) / (s0 - s1)
                    k_star = float(
                        math.exp(math.log(prev["steps"]) + frac * math.log(r["steps"] / prev["steps"]))
                    )
                break
        needed.setdefault(label, {})[str(L)] = k_star
    slopes = {}
    for label, per in needed.items():
        pts = sorted((int(L), k) for L, k in per.items() if k)
        slopes[label] = loglog_slope([p[0] for p in pts], [p[1] for p in pts]) if len(pts) >= 2 else None
    return {"delta": delta, "steps": needed, "slopes": slopes, "upper_bounds_at": bounded}
