r"""Feng, Geng, Guan, Wu, Wang & He, "Theoretical Benefit and Limitation of Diffusion Language Model"
(arXiv 2502.09622; NeurIPS 2025): what this suite can state about it, with every uncertain item labelled.

Confirmed from the abstracts (v1, v2) [SRC]: with perplexity as the metric, MDMs reach near-optimal
perplexity in a number of steps independent of L ("constant" in v2); with the sequence error rate (SER) as
the metric, the number of steps must scale linearly with L ("in the worst case", v2). The analysis uses
n-gram and HMM languages (review / secondary summaries) [SRC]. Li & Cai (2505.21400) paraphrase Feng's
TER guarantee as decaying like :math:`((n-1)/T)^{1/n}\log|\mathcal V|` and call it vacuous unless
:math:`T \ge (n-1)4^n` [SRC via the research notes' secondary note].

The theorem statements themselves could NOT be read here (only openings of the paper are stored), so every
constant below is [REC] = recalled in /work/shared/research/feng_ppl_ser.md §2.3, unverified, and is used
only to draw *shapes* in figures, never as an asserted value. The hard SER language of the paper could
not be read either; the suite's stand-ins are in :mod:`sims.languages.hard`.

What the suite checks exactly instead (see docs/feng_li_cai.md): the per-token excess cross-entropy
:math:`E_M KL(q \Vert p_M)/L` of the oracle sampler (an upper bound on the mixture's
:math:`KL(q \Vert \bar p)/L`, the TER of the perplexity reading that Li & Cai's comparison assumes) is flat in
L at fixed N and decays like 1/N; SER at fixed N/L is a function of N/L only (closed forms in
:mod:`theory.sequence_error`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sims.sampling.fixed_count import llada_counts
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
    "ser_threshold": UncertainConstant(0.5, "SER lower bound when N <= C L"),
}


def ter_rate_shape(steps, order: int, vocab_size: int):
    r"""The *shape* :math:`((n-1)/N)^{1/n} \log V` of Feng's TER rate (Li & Cai's paraphrase) [SRC shape,
    constant unknown: the returned value has prefactor 1]."""
    n = int(order)
    if n < 2:
        raise ValueError("the rate is stated for n-grams with n >= 2")
    return ((n - 1) / steps) ** (1.0 / n) * math.log(vocab_size)


def ter_steps_for_epsilon(eps: float, order: int) -> float:
    r""":math:`N = (n-1)/\varepsilon^n` steps for excess log-perplexity :math:`O(\varepsilon \log V)` [REC]."""
    if not eps > 0:
        raise ValueError("eps must be > 0")
    return (order - 1) / eps**order


def ter_min_length(eps: float, order: int) -> float:
    r"""Length condition :math:`L \ge (n-1)/\varepsilon^{n+1/2}` of the TER theorem [REC, UNVERIFIED]."""
    if not eps > 0:
        raise ValueError("eps must be > 0")
    return (order - 1) / eps ** (order + 0.5)


def li_cai_vacuity_steps(order: int) -> float:
    """Steps below which Feng's bound is vacuous according to Li & Cai: (n-1) 4^n [SRC via notes]."""
    return (order - 1) * 4.0**order


def steps_for_per_token_kl(
    profile: EntropyProfile, eps: float, rule: str = "fixed", max_steps: int | None = None
) -> int:
    r"""Smallest N with exact :math:`E_M KL(q\Vert p_M)/L \le \varepsilon` (oracle; ``rule`` "fixed" = LLaDA
    counts, "bernoulli" = linear schedule, uniform grid).

    Doubling search from N = 1, then bisection inside the last doubling interval. This assumes the KL is
    non-increasing in N (true for both rules on every case computed in the tests and figures; the result
    is a verified crossing: KL(N) <= eps < KL(N-1) is re-checked). Raises if N > ``max_steps`` (default L
    for fixed counts, where the KL is 0, and 64 L for Bernoulli).
    """

    if rule not in ("fixed", "bernoulli"):
        raise ValueError(f"rule must be 'fixed' or 'bernoulli', got {rule!r}")
    L = profile.length
    cap = max_steps or (L if rule == "fixed" else 64 * L)
    D = profile.dependence_curve() if rule == "bernoulli" else None

    def kl(n):
        if rule == "fixed":
            return expected_kl_fixed_counts(profile, llada_counts(L, min(n, L))) / L
        return expected_kl_bernoulli(profile, [1.0 / n] * n, D) / L

    hi = 1
    while kl(hi) > eps:
        if hi >= cap:
            raise ValueError(f"per-token KL at N={cap} still exceeds {eps}")
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
