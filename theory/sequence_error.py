r"""Sequence error rate (SER) of the oracle random-order samplers on the hard languages, in closed form.

SER(p) = P_{x ~ p}(q(x) = 0), the probability that the sample leaves the support (Feng et al.'s
"sequence error rate" in the support reading; research notes §2.2 [REC]).

**Block-sum languages** (:func:`sims.languages.hard.block_parity_hmm`; blocks of b tokens in Z_V summing
to 0; the pair-copy language is the case b = 2): blocks are independent, each token is uniform given any
proper subset of the others in its block, so with an oracle a block is wrong iff its *last* reveal step
contains at least two of its tokens (they are then drawn independently and satisfy the constraint with
probability 1/V). Writing F for that event and m = L/b,

.. math:: 1 - SER = E_M\big[V^{-C}\big], \qquad C = \#\{\text{blocks with } F\},\qquad
          E_M KL(q \Vert p_M) = m\,P(F)\,\log V.

* Bernoulli (i.i.d. step assignment, weights w, :math:`W_{k-1} = \sum_{r<k} w_r`): blocks are independent,
  :math:`P(F) = 1 - b\sum_k w_k W_{k-1}^{b-1}` and :math:`SER = 1 - (1 - (1 - 1/V)P(F))^m`. For pairs
  :math:`P(F) = \sum_k w_k^2`; with K equal steps :math:`SER = 1 - (1 - (1-1/V)/K)^{L/2} \approx
  1 - e^{-(1-1/V)L/(2K)}`, a function of K/L (the collapse), while the per-token KL
  :math:`\log V/(2K)` does not depend on L.
* Fixed counts :math:`s_t` (uniform random sets): :math:`P(F) = 1 - b\sum_t \frac{s_t}{L}
  \frac{(k_{t-1})_{b-1}}{(L-1)_{b-1}}` (falling factorials) exactly; the blocks are dependent (the sizes are
  fixed), so :math:`E[V^{-C}]` is computed exactly for pairs by :func:`pair_fixed_count_error_probability`
  (a dynamic programme over the number of half-revealed pairs) and by Rao-Blackwellised Monte Carlo
  (:func:`block_fixed_count_ser_monte_carlo`) for any b. SER = 0 exactly when every :math:`s_t = 1`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammaln

from sims.denoisers.oracle import OracleDenoiser
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.stats import mean_estimate, proportion_estimate
from sims.validation import InvalidArgumentError, check_positive_int
from theory.factorization import check_counts


def _check_weights(weights) -> np.ndarray:
    w = np.asarray(list(weights), np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or abs(w.sum() - 1) > 1e-9:
        raise InvalidArgumentError("weights must be non-negative and sum to 1")
    return w


def _check_blocks(length: int, block: int) -> int:
    if block < 2 or length % block:
        raise InvalidArgumentError(
            f"length {length} must be a positive multiple of block {block} (block >= 2)"
        )
    return length // block


def block_failure_probability_bernoulli(weights: Sequence[float], block: int = 2) -> float:
    """P(the last step of a block holds >= 2 of its tokens) under i.i.d. step assignment."""
    w = _check_weights(weights)
    W_prev = np.concatenate([[0.0], np.cumsum(w)[:-1]])
    return float(max(0.0, 1.0 - block * np.sum(w * W_prev ** (block - 1))))


def block_failure_probability_fixed(counts: Sequence[int], block: int = 2) -> float:
    """Same event for fixed counts and uniformly random sets (exact, falling factorials)."""
    c = check_counts(counts, int(sum(counts)))
    L = int(c.sum())
    if L < block:
        raise InvalidArgumentError("length must be at least the block size")
    k_prev = np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.float64)
    num = np.ones_like(k_prev)
    den = 1.0
    for r in range(1, block):
        num = num * np.clip(k_prev - r + 1, 0, None)
        den *= L - r
    return float(max(0.0, 1.0 - block * np.sum(c / L * num / den)))


def block_ser_bernoulli(weights: Sequence[float], length: int, symbols: int, block: int = 2) -> float:
    """Exact SER of the Bernoulli (MDLM) oracle sampler on a block-sum language (pair copy: block = 2)."""
    m = _check_blocks(length, block)
    pf = block_failure_probability_bernoulli(weights, block)
    return float(-np.expm1(m * np.log1p(-(1 - 1 / symbols) * pf)))


def block_expected_kl_bernoulli(weights, length: int, symbols: int, block: int = 2) -> float:
    """:math:`E_M KL(q\\Vert p_M) = (L/b) P(F) \\log V` (Bernoulli)."""
    return (
        _check_blocks(length, block) * block_failure_probability_bernoulli(weights, block) * math.log(symbols)
    )


def block_expected_kl_fixed(counts, symbols: int, block: int = 2) -> float:
    """:math:`E_M KL(q\\Vert p_M) = (L/b) P(F) \\log V` (fixed counts)."""
    L = int(sum(counts))
    return _check_blocks(L, block) * block_failure_probability_fixed(counts, block) * math.log(symbols)


#: Largest :func:`pair_dp_cost` the exact pair DP is run at by default (about a second of numpy work).
PAIR_DP_MAX_COST = 3e7


def pair_dp_cost(counts: Sequence[int]) -> float:
    r"""Operation count ~ :math:`\sum_t s_t^2 (L/2 + 1)/4` of :func:`pair_fixed_count_error_probability`."""
    c = np.asarray(list(counts), np.float64)
    return float(np.sum(c**2)) * (int(c.sum()) // 2 + 1) / 4


def pair_fixed_count_error_probability(
    counts: Sequence[int], symbols: int, max_cost: float = PAIR_DP_MAX_COST
) -> float:
    r"""Exact SER :math:`= 1 - E[V^{-C}]` for pairs (b = 2) under fixed counts and uniformly random sets.

    Dynamic programme over steps; the state is the number u of pairs with exactly one revealed token (the
    number of untouched pairs is then n = (R - u)/2 with R the masked count). A step revealing s of the R
    masked positions picks c untouched pairs whole, o untouched pairs by one token (2 ways each) and closes
    e half-revealed pairs, 2c + o + e = s, with probability
    :math:`\binom{n}{c}\binom{n-c}{o}2^o\binom{u}{e}/\binom{R}{s}`. Two non-negative arrays are carried:
    p(u) = P(U = u) and f(u) = E[(1 - V^{-C}) 1{U = u}], updated by
    :math:`f' \mathrel{+}= w\,(f V^{-c} + p (1 - V^{-c}))`, so SER = sum f is a sum of non-negative terms
    (exactly 0 when every step reveals one token); g(u) = E[V^{-C} 1{U = u}] is carried too and
    1 - sum g is returned when SER > 1/2 (accurate near 1). Cost ~ :math:`\sum_t s_t^2 \cdot L/4`; raises above
    ``max_cost`` (use :func:`block_fixed_count_ser_monte_carlo` then).
    """
    c_arr = check_counts(counts, int(sum(counts)))
    L = int(c_arr.sum())
    m = _check_blocks(L, 2)
    cost = pair_dp_cost(c_arr)
    if cost > max_cost:
        raise InvalidArgumentError(
            f"exact pair DP would cost ~{cost:.2g} operations (> max_cost={max_cost:.2g})"
        )

    lf = gammaln(np.arange(L + 2, dtype=np.float64) + 1)  # log k!

    def lbin(n, k):
        ok = (k >= 0) & (k <= n) & (n >= 0)
        ns, ks = np.where(ok, n, 0), np.where(ok, k, 0)
        return np.where(ok, lf[ns] - lf[ks] - lf[ns - ks], -np.inf)

    z = 1.0 / symbols
    p = np.zeros(m + 1)
    p[0] = 1.0
    f = np.zeros(m + 1)
    g = np.zeros(m + 1)  # E[V^{-C} 1{U = u}]: the accurate side when SER is close to 1
    g[0] = 1.0
    R = L
    for s in c_arr:
        s = int(s)
        if s == 0:
            continue
        u = np.nonzero(p > 0)[0]
        n = (R - u) // 2
        pu, fu, gu = p[u], f[u], g[u]
        new_p, new_f, new_g = np.zeros(m + 1), np.zeros(m + 1), np.zeros(m + 1)
        total = lf[R] - lf[s] - lf[R - s]
        for cc in range(s // 2 + 1):
            e = np.arange(s - 2 * cc + 1)
            o = s - 2 * cc - e
            lw = (
                lbin(n[:, None], cc)
                + lbin(n[:, None] - cc, o[None, :])
                + o[None, :] * math.log(2.0)
                + lbin(u[:, None], e[None, :])
                - total
            )
            w = np.exp(lw)
            dest = (u[:, None] - e[None, :] + o[None, :]).ravel()
            keep = (dest >= 0) & (dest <= m)
            wp = (w * pu[:, None]).ravel()
            zc = z**cc
            wf = (w * (fu[:, None] * zc + pu[:, None] * (1.0 - zc))).ravel()
            new_p += np.bincount(dest[keep], weights=wp[keep], minlength=m + 1)
            new_f += np.bincount(dest[keep], weights=wf[keep], minlength=m + 1)
            new_g += np.bincount(dest[keep], weights=(w * gu[:, None] * zc).ravel()[keep], minlength=m + 1)
        p, f, g = new_p, new_f, new_g
        R -= s
    ser = float(f.sum())
    return float(min(1.0, ser)) if ser < 0.5 else float(max(0.0, 1.0 - g.sum()))


def pair_ser_fixed(counts: Sequence[int], symbols: int, max_cost: float = PAIR_DP_MAX_COST) -> float:
    """Exact SER of the fixed-count random-order oracle sampler on the pair-copy language."""
    return pair_fixed_count_error_probability(counts, symbols, max_cost)


def block_failures_given_schedule(reveal_step: torch.Tensor, block: int) -> torch.Tensor:
    """``(B,)`` number of blocks whose last reveal step holds >= 2 of their tokens (blocks are consecutive
    runs of ``block`` positions)."""
    B, L = reveal_step.shape
    _check_blocks(L, block)
    r = reveal_step.reshape(B, L // block, block)
    last = r.max(-1, keepdim=True).values
    return ((r == last).sum(-1) >= 2).sum(-1)


def block_fixed_count_ser_monte_carlo(
    sampler,
    length: int,
    symbols: int,
    block: int,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int = 4096,
):
    r"""Rao-Blackwellised Monte Carlo SER for any random-order sampler with ``reveal_schedule``:
    draws M only and averages the exact :math:`1 - V^{-C(M)}` (a :class:`~sims.metrics.MeanEstimate`)."""

    vals = []
    remaining = num_samples
    while remaining > 0:
        b = min(batch_size, remaining)
        C = block_failures_given_schedule(sampler.reveal_schedule(b, length, generator), block)
        vals.append(-torch.expm1(-C.double() * math.log(symbols)))
        remaining -= b
    return mean_estimate(torch.cat(vals))


def steps_for_pair_ser_bernoulli(delta: float, length: int, symbols: int) -> float:
    r"""Smallest (real) K with Bernoulli SER <= delta on the pair-copy language, equal steps:
    :math:`K = (1 - 1/V)/(1 - (1-\delta)^{2/L})`, which grows linearly in L."""
    if not 0 < delta < 1:
        raise InvalidArgumentError("delta must lie in (0, 1)")
    m = _check_blocks(length, 2)
    return (1 - 1 / symbols) / (-math.expm1(math.log1p(-delta) / m))


def monte_carlo_ser(
    language,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    denoiser=None,
    batch_size: int = 512,
):
    """SER of ``sampler`` driven by ``denoiser`` (oracle with uniform fallback by default), by sampling:
    a :class:`~sims.metrics.ProportionEstimate` (Wilson interval)."""

    den = denoiser or OracleDenoiser(language, on_impossible="uniform")
    res = sampler.sample(den, num_samples, length, generator, batch_size=batch_size)
    bad = ~language.in_support(res.tokens)
    return proportion_estimate(int(bad.sum()), num_samples)


def oracle_sampled_ser(
    language, sampler, length: int, num_samples: int, generator: torch.Generator, batch_size: int = 512
) -> SERValue:
    """Exact-law Monte Carlo SER: ``num_samples`` runs of ``sampler`` driven by the exact oracle (uniform
    fallback once the evidence is impossible), Wilson 95% interval, with the oracle path that ran (the
    sampler's ``conventions["extras"]["oracle_path"]``: ``"full"`` or ``"incremental:<engine>"``; both paths
    draw from the same law, :mod:`sims.sampling.scheduled`)."""
    den = OracleDenoiser(language, on_impossible="uniform")
    paths, bad = set(), 0
    remaining = check_positive_int(num_samples, "num_samples")
    while remaining > 0:  # one batch per call, so every batch's path is recorded
        b = min(batch_size, remaining)
        res = sampler.sample(den, b, length, generator, batch_size=b)
        paths.add(str(res.conventions.get("extras", {}).get("oracle_path", "full")))
        bad += int((~language.in_support(res.tokens)).sum())
        remaining -= b
    est = proportion_estimate(bad, num_samples)
    path = "+".join(sorted(paths))
    return SERValue(
        est.p,
        f"exact-law MC: oracle sampling (n={est.n}, Wilson 95%, oracle path {path})",
        est.ci_low,
        est.ci_high,
        est.n,
        path,
    )


def steps_for_pair_ser_fixed(delta: float, length: int, symbols: int) -> int:
    """Smallest K <= L with exact fixed-count SER <= ``delta`` on the pair-copy language (LLaDA counts,
    uniformly random positions; :func:`pair_ser_fixed`), by bisection on K in [L/8, L].

    SER is non-increasing in K on this range in every case computed; the bisection's answer is a verified
    crossing (SER(K) <= delta < SER(K - 1) is re-checked). Raises if the target is met already at L/8."""
    if not 0 < delta < 1:
        raise InvalidArgumentError("delta must lie in (0, 1)")
    L = int(length)

    def ser(k):
        return pair_ser_fixed(llada_counts(L, k), symbols)

    lo, hi = max(1, L // 8), L
    if ser(lo) <= delta:
        raise InvalidArgumentError("target reached below L/8; widen the bracket")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ser(mid) <= delta else (mid, hi)
    if not ser(hi) <= delta < ser(hi - 1):
        raise AssertionError("fixed-count SER is not monotone around the crossing")
    return hi


@dataclass(frozen=True)
class SERValue:
    """A sequence error rate and how it was obtained: exactly (``ci_low = ci_high = ser``) or by Monte Carlo
    (95% interval, ``n`` draws; ``oracle_path``: which oracle path ran when the sampler itself was run)."""

    ser: float
    method: str
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    oracle_path: str | None = None

    def to_dict(self) -> dict:
        out = {"ser": self.ser, "method": self.method}
        if self.ci_low is not None:
            out.update(ci_low=self.ci_low, ci_high=self.ci_high)
        if self.oracle_path is not None:
            out.update(n=self.n, oracle_path=self.oracle_path)
        return out


def block_language_ser(
    rule: str,
    length: int,
    steps: int,
    symbols: int,
    block: int,
    generator: torch.Generator,
    mc_samples: int,
    max_cost: float = PAIR_DP_MAX_COST,
) -> SERValue:
    """SER of the oracle sampler on a block-sum language by the best available method:

    * ``rule="bernoulli"`` (MDLM ancestral, linear schedule, K equal steps): closed form
      (:func:`block_ser_bernoulli`);
    * ``rule="fixed"`` (LLaDA counts, random positions), pairs with :func:`pair_dp_cost` <= ``max_cost``: the
      exact pair DP (:func:`pair_ser_fixed`);
    * otherwise Rao-Blackwellised Monte Carlo over the reveal sets
      (:func:`block_fixed_count_ser_monte_carlo`, ``mc_samples`` draws from ``generator``).
    """
    L, K = int(length), int(steps)
    if rule == "bernoulli":
        return SERValue(block_ser_bernoulli([1.0 / K] * K, L, symbols, block), "exact closed form")
    if rule != "fixed":
        raise InvalidArgumentError(f"rule must be 'fixed' or 'bernoulli', got {rule!r}")
    counts = llada_counts(L, K)
    if block == 2 and pair_dp_cost(counts) <= max_cost:
        return SERValue(pair_ser_fixed(counts, symbols, max_cost), "exact DP")
    est = block_fixed_count_ser_monte_carlo(FixedCountSampler(K), L, symbols, block, mc_samples, generator)
    return SERValue(
        est.mean,
        f"Rao-Blackwellised MC over reveal sets (n={est.n})",
        est.ci_low,
        est.ci_high,
        est.n,
    )
