r"""Feng, Geng, Guan, Wu, Wang & He, "Theoretical Benefit and Limitation of Diffusion Language Model"
(arXiv 2502.09622; NeurIPS 2025): what this suite can state about it, with every uncertain item labelled.

The number of sampling steps is K throughout the suite (N in Feng et al., T in Li & Cai).

Confirmed from the abstracts (v1, v2) [SRC]: with perplexity as the metric, MDMs reach near-optimal
perplexity in a number of steps independent of L ("constant" in v2); with the sequence error rate (SER) as
the metric, the number of steps must scale linearly with L ("in the worst case", v2). The analysis uses
n-gram and HMM languages (review / secondary summaries) [SRC]. Li & Cai (2505.21400) paraphrase Feng's
TER guarantee as decaying like :math:`((n-1)/K)^{1/n}\log|\mathcal V|` and call it vacuous unless
:math:`K \ge (n-1)4^n` [SRC via two secondary paper notes; ``paper_statements.md`` F5].

The theorem statements themselves could NOT be read (no readable public copy; ``paper_statements.md`` §1),
so every constant below is [REC] = recalled in ``/work/shared/research/feng_ppl_ser.md`` §2.3, unverified,
and is used only to draw *shapes* in figures, never as an asserted value. The one indirect support
(F6): Li & Cai's vacuity threshold :math:`(n-1)4^n` is what :math:`K = (n-1)/\varepsilon^n` with the
prefactor 4 gives at :math:`\varepsilon = 1/4`. The hard SER language of the paper could not be read
either; the suite's stand-ins are in :mod:`sims.languages.hard`.

What the suite checks exactly instead (see ``docs/feng_li_cai.md``): the per-token excess cross-entropy
:math:`E_M KL(q \Vert p_M)/L` of the oracle sampler (an upper bound on the mixture's
:math:`KL(q \Vert \bar p)/L`, the TER of the perplexity reading that Li & Cai's comparison assumes) is flat in
L at fixed K and decays like 1/K; SER at fixed K/L is a function of K/L only (closed forms in
:mod:`theory.sequence_error`).

**Steps and model calls.** The fixed-count sampler with LLaDA's counts makes one denoiser call per step
(K <= L). The MDLM ancestral (Bernoulli) sampler assigns each token to step k independently with
probability :math:`w_k` and makes no call on an empty step, so its expected number of calls is
:math:`\sum_k 1 - (1 - w_k)^L` (:func:`expected_calls`), below K, and at most L.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sims.sampling.fixed_count import llada_counts
from sims.validation import InvalidArgumentError
from theory.entropy_profile import EntropyProfile
from theory.factorization import expected_kl_bernoulli, expected_kl_fixed_counts


@dataclass(frozen=True)
class UncertainConstant:
    value: float
    meaning: str
    provenance: str = "REC (recalled in research notes §2.3; paper text not read): UNVERIFIED"


#: Every Feng et al. constant the suite mentions. None is asserted by a test.
FENG_CONSTANTS = {
    "ter_prefactor": UncertainConstant(4.0, "factor in front of eps*log|V| in the TER theorem"),
    "ser_hard_hmm_vocab": UncertainConstant(16.0, "vocabulary size of the hard HMM (low confidence)"),
    "ser_eps_learning": UncertainConstant(
        1 / 128, "learning-error level under which SER >= 1/2 (low confidence)"
    ),
    "ser_threshold": UncertainConstant(0.5, "SER lower bound when K <= C L"),
}


def ter_rate_shape(steps, order: int, vocab_size: int):
    r"""The *shape* :math:`((n-1)/K)^{1/n} \log V` of Feng's TER rate (Li & Cai's paraphrase) [SRC shape,
    constant unknown: the returned value has prefactor 1]."""
    n = int(order)
    if n < 2:
        raise InvalidArgumentError("the rate is stated for n-grams with n >= 2")
    return ((n - 1) / steps) ** (1.0 / n) * math.log(vocab_size)


def ter_steps_for_epsilon(eps: float, order: int) -> float:
    r""":math:`K = (n-1)/\varepsilon^n` steps for excess log-perplexity :math:`O(\varepsilon \log V)` [REC]."""
    if not eps > 0:
        raise InvalidArgumentError("eps must be > 0")
    return (order - 1) / eps**order


def ter_min_length(eps: float, order: int) -> float:
    r"""Length condition :math:`L \ge (n-1)/\varepsilon^{n+1/2}` of the TER theorem [REC, UNVERIFIED]."""
    if not eps > 0:
        raise InvalidArgumentError("eps must be > 0")
    return (order - 1) / eps ** (order + 0.5)


def li_cai_vacuity_steps(order: int) -> float:
    """Steps below which Feng's bound is vacuous according to Li & Cai: (n-1) 4^n [SRC via notes]."""
    return (order - 1) * 4.0**order


RULES = ("fixed", "bernoulli")


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise InvalidArgumentError(f"rule must be one of {RULES}, got {rule!r}")
    return rule


def expected_kl(profile: EntropyProfile, steps: int, rule: str = "fixed", dependence_curve=None) -> float:
    r"""Exact :math:`E_M KL(q\Vert p_M)` (nats per sequence) of the oracle sampler with K = ``steps``:
    ``rule="fixed"`` = LLaDA counts (K capped at L), random positions (area formula); ``"bernoulli"`` = MDLM
    ancestral, linear schedule, uniform grid, t_min = 0, i.e. i.i.d. step weights 1/K."""
    L, K = profile.length, int(steps)
    if _check_rule(rule) == "fixed":
        return expected_kl_fixed_counts(profile, llada_counts(L, min(K, L)))
    D = profile.dependence_curve() if dependence_curve is None else dependence_curve
    return expected_kl_bernoulli(profile, [1.0 / K] * K, D)


def expected_calls(rule: str, length: int, steps: int) -> float:
    r"""Expected number of denoiser calls (NFE) of the oracle sampler with K = ``steps`` on L = ``length``
    positions: K for fixed counts (every step reveals at least one token when K <= L); for the Bernoulli
    rule with equal weights the expected number of non-empty steps :math:`K(1 - (1 - 1/K)^L)`."""
    L, K = int(length), int(steps)
    if _check_rule(rule) == "fixed":
        if K > L:
            raise InvalidArgumentError("fixed counts need K <= L")
        return float(K)
    return float(-K * math.expm1(L * math.log1p(-1.0 / K))) if K > 1 else 1.0


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ~ x^slope)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise InvalidArgumentError("need at least two points with positive coordinates")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def steps_for_per_token_kl(
    profile: EntropyProfile, eps: float, rule: str = "fixed", max_steps: int | None = None
) -> int:
    r"""Smallest K with exact :math:`E_M KL(q\Vert p_M)/L \le \varepsilon` (oracle; ``rule`` as in
    :func:`expected_kl`).

    Doubling search from K = 1, then bisection inside the last doubling interval. This assumes the KL is
    non-increasing in K (true for both rules on every case computed in the tests and figures; the result
    is a verified crossing: KL(K) <= eps < KL(K-1) is re-checked). Raises if K > ``max_steps`` (default L
    for fixed counts, where the KL is 0, and 64 L for Bernoulli).
    """
    _check_rule(rule)
    L = profile.length
    cap = max_steps or (L if rule == "fixed" else 64 * L)
    D = profile.dependence_curve() if rule == "bernoulli" else None

    def kl(k):
        return expected_kl(profile, k, rule, D) / L

    hi = 1
    while kl(hi) > eps:
        if hi >= cap:
            raise InvalidArgumentError(f"per-token KL at K={cap} still exceeds {eps}")
        hi = min(2 * hi, cap)
    if hi == 1:
        return 1
    lo = hi // 2  # kl(lo) > eps
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if kl(mid) <= eps else (mid, hi)
    if not (kl(hi) <= eps < kl(hi - 1)):
        raise AssertionError("per-token KL is not monotone around the crossing")
    return hi
