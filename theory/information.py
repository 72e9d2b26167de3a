r"""Information quantities of a sequence law: entropies, total correlation, dual total correlation and
:math:`\sum_i I(X_i; X_{-i})`.

Notation (natural logarithms, nats): :math:`X = (X_1..X_L)` with law q.

* total correlation :math:`TC(X) = \sum_i H(X_i) - H(X)`;
* dual total correlation :math:`DTC(X) = H(X) - \sum_i H(X_i \mid X_{-i})`;
* leave-one-out information :math:`I_i = I(X_i; X_{-i}) = H(X_i) - H(X_i \mid X_{-i})`, so
  :math:`\sum_i I_i = TC + DTC` (the quantity in Li & Cai, arXiv 2505.21400, Theorem 1);
* conditional total correlation :math:`TC(X_A \mid X_C) = \sum_{i \in A} H(X_i \mid X_C) - H(X_A \mid X_C)`
  (the per-step factorization error of a product sampler, see :mod:`theory.factorization`).

Three ways to compute them:

1. :func:`information_by_enumeration` / the ``joint`` helpers: exact, from the full joint table
   (shape ``(V,)*L``), for tiny V**L. This is the reference every other path is tested against.
2. :func:`ngram_information`: exact closed form for an n-gram language at any L in
   :math:`O(L\,V^{2n-1})`. An n-gram is Markov of order k = n-1, so
   :math:`H(X_t \mid X_{-t}) = H(X_t \mid X_{t-k..t-1}, X_{t+1..t+k})`, a function of the law of one window of
   at most 2k+1 consecutive tokens, which is the context law times k+1 transitions. For first-order chains
   :math:`TC = \sum_t I(X_t; X_{t+1})`.
3. :func:`hmm_information_estimate`: Monte Carlo for HMMs (no closed form for the observation entropy).
   :math:`\sum_i H(X_i)` is exact (token marginals); :math:`H(X)` and :math:`\sum_i H(X_i \mid X_{-i})` are
   sample means of exact per-sample log-probabilities (forward algorithm and the leave-one-out
   forward-backward of :func:`hmm_leave_one_out_log_probs`), reported with t-intervals.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sims.exact import exact_log_joint
from sims.languages.hmm import HMMLanguage
from sims.languages.ngram import NGramLanguage
from sims.stats import mean_estimate
from sims.validation import InvalidArgumentError

# ---------------------------------------------------------------------------------------------------
# plain entropies


def entropy(p, axis=None) -> np.ndarray | float:
    """Shannon entropy in nats with 0 log 0 = 0 (along ``axis``; all entries if None)."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise InvalidArgumentError("entropy: probabilities must be finite and non-negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = terms.sum(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r""":math:`KL(p \Vert q)` along the last axis (``inf`` where p has mass that q lacks)."""
    p, q = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(q, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(-1)


# ---------------------------------------------------------------------------------------------------
# exact quantities from a joint table


def check_joint(joint) -> np.ndarray:
    """Validate a joint law of shape ``(V,)*L`` (non-negative, sums to 1) and return it as float64."""
    j = np.asarray(joint, dtype=np.float64)
    if j.ndim < 1 or len(set(j.shape)) != 1:
        raise InvalidArgumentError(f"joint must have shape (V,)*L, got {j.shape}")
    if np.any(j < 0) or not np.all(np.isfinite(j)):
        raise InvalidArgumentError("joint must be finite and non-negative")
    if abs(j.sum() - 1.0) > 1e-9:
        raise InvalidArgumentError(f"joint must sum to 1, sums to {j.sum()!r}")
    return j


def joint_from_language(language, length: int) -> np.ndarray:
    """The exact joint table ``(V,)*L`` of a language (enumeration, tiny V**L only)."""

    lj = exact_log_joint(language, length).cpu().numpy()
    return np.exp(lj).reshape((language.vocab_size,) * length)


def marginal(joint: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Marginal law of the positions ``keep`` (in increasing order)."""
    keep = sorted({int(i) for i in keep})
    drop = tuple(i for i in range(joint.ndim) if i not in keep)
    return joint.sum(axis=drop) if drop else joint


def joint_entropy(joint: np.ndarray, subset: Sequence[int]) -> float:
    """:math:`H(X_S)` (0 for the empty set)."""
    if len(subset) == 0:
        return 0.0
    return entropy(marginal(joint, subset))


def conditional_entropy(joint: np.ndarray, target: Sequence[int], given: Sequence[int]) -> float:
    r""":math:`H(X_A \mid X_C) = H(X_{A \cup C}) - H(X_C)`."""
    both = sorted(set(target) | set(given))
    return joint_entropy(joint, both) - joint_entropy(joint, list(given))


def conditional_total_correlation(joint: np.ndarray, block: Sequence[int], given: Sequence[int]) -> float:
    r""":math:`TC(X_A \mid X_C) = \sum_{i \in A} H(X_i \mid X_C) - H(X_A \mid X_C) \ge 0`."""
    block = list(block)
    if set(block) & set(given):
        raise InvalidArgumentError("block and conditioning set must be disjoint")
    return sum(conditional_entropy(joint, [i], given) for i in block) - conditional_entropy(
        joint, block, given
    )


def total_correlation(joint: np.ndarray) -> float:
    j = check_joint(joint)
    return sum(joint_entropy(j, [i]) for i in range(j.ndim)) - entropy(j)


def dual_total_correlation(joint: np.ndarray) -> float:
    j = check_joint(joint)
    L = j.ndim
    return entropy(j) - sum(conditional_entropy(j, [i], [r for r in range(L) if r != i]) for i in range(L))


def leave_one_out_informations(joint: np.ndarray) -> np.ndarray:
    r""":math:`I(X_i; X_{-i})` for every position i."""
    j = check_joint(joint)
    L = j.ndim
    h = entropy(j)
    return np.array(
        [joint_entropy(j, [i]) + joint_entropy(j, [r for r in range(L) if r != i]) - h for i in range(L)]
    )


def sum_mutual_information(joint: np.ndarray) -> float:
    r""":math:`\sum_i I(X_i; X_{-i})` (Li & Cai's dependence measure)."""
    return float(leave_one_out_informations(joint).sum())


def subset_entropies(joint: np.ndarray) -> dict[tuple, float]:
    """:math:`H(X_S)` for every subset S (2**L entries; tiny L only)."""
    j = check_joint(joint)
    L = j.ndim
    out = {}
    for k in range(L + 1):
        for s in itertools.combinations(range(L), k):
            out[s] = joint_entropy(j, s)
    return out


# ---------------------------------------------------------------------------------------------------
# summaries


@dataclass
class InformationSummary:
    """Exact information quantities of a length-L law (nats).

    ``sum_marginal_entropy`` is :math:`\\sum_i H(X_i)`, ``sum_leave_one_out_entropy`` is
    :math:`\\sum_i H(X_i \\mid X_{-i})`; the rest follow from these and ``entropy`` = H(X).
    """

    length: int
    entropy: float
    sum_marginal_entropy: float
    sum_leave_one_out_entropy: float
    method: str

    @property
    def total_correlation(self) -> float:
        return self.sum_marginal_entropy - self.entropy

    @property
    def dual_total_correlation(self) -> float:
        return self.entropy - self.sum_leave_one_out_entropy

    @property
    def sum_mutual_information(self) -> float:
        return self.sum_marginal_entropy - self.sum_leave_one_out_entropy

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            total_correlation=self.total_correlation,
            dual_total_correlation=self.dual_total_correlation,
            sum_mutual_information=self.sum_mutual_information,
        )
        return d


def information_by_enumeration(joint: np.ndarray) -> InformationSummary:
    """All quantities from the full joint table (the reference)."""
    j = check_joint(joint)
    L = j.ndim
    h = entropy(j)
    marg = sum(joint_entropy(j, [i]) for i in range(L))
    loo = sum(conditional_entropy(j, [i], [r for r in range(L) if r != i]) for i in range(L))
    return InformationSummary(L, h, marg, loo, "enumeration")


# ---------------------------------------------------------------------------------------------------
# n-gram closed forms


def _ngram_tables(lang) -> tuple[int, int, np.ndarray, np.ndarray]:

    if not isinstance(lang, NGramLanguage):
        raise TypeError(f"expected an NGramLanguage, got {type(lang).__name__}")
    V, k = lang.vocab_size, lang.order - 1
    P = lang.transition.detach().cpu().numpy().astype(np.float64)
    return V, k, P, lang.initial.detach().cpu().numpy().astype(np.float64)


def ngram_window_law(lang, start: int, width: int, context_law: np.ndarray | None = None) -> np.ndarray:
    """Exact law of the tokens at positions ``start .. start+width-1`` (0-based), shape ``(V,)*width``.

    ``context_law`` is the law of the k = n-1 tokens starting at ``start`` (row ``start`` of
    ``lang.context_marginals``); it is computed if not given.
    """
    V, k, P, _ = _ngram_tables(lang)
    if k == 0:
        out = np.ones(())
        for _ in range(width):
            out = np.multiply.outer(out, P[0])
        return out
    if context_law is None:
        mus = lang.context_marginals(start + k).cpu().numpy()
        context_law = mus[start]
    ctx = np.asarray(context_law, np.float64).reshape((V,) * k)
    if width <= k:
        return ctx.sum(axis=tuple(range(width, k))) if width < k else ctx
    law = ctx
    Pk = P.reshape((V,) * (k + 1))
    for _ in range(width - k):
        # law(..., c_1..c_k) * P(x | c_1..c_k): broadcast over the leading, already fixed tokens
        lead = law.ndim - k
        law = law[..., None] * Pk.reshape((1,) * lead + Pk.shape)
    return law


def is_stationary_context_law(lang, context_law: np.ndarray, atol: float = 1e-15) -> bool:
    """True if one transition step maps the law of k consecutive tokens to itself (strict stationarity)."""
    V, k, P, _ = _ngram_tables(lang)
    if k == 0:
        return True
    mu = np.asarray(context_law, np.float64).reshape(V, V ** (k - 1))
    nxt = (mu.reshape(-1, 1) * P).reshape(V, V ** (k - 1), V).sum(0).reshape(-1)
    return bool(np.max(np.abs(nxt - mu.reshape(-1))) <= atol)


def ngram_information(lang, length: int) -> InformationSummary:
    r"""Exact :math:`H(X)`, :math:`\sum_t H(X_t)` and :math:`\sum_t H(X_t \mid X_{-t})` of an n-gram language.

    Cost :math:`O(L\,V^{2n-1})`, or :math:`O(n\,V^{2n-1} + L)` when the context law is stationary (every
    interior window then has the same law, so it is computed once).
    """
    V, k, P, _ = _ngram_tables(lang)
    L = lang.check_length(length)
    H = lang.entropy(L)
    if k == 0:
        h1 = entropy(P[0])
        return InformationSummary(L, H, L * h1, L * h1, "ngram closed form (iid)")
    mus = lang.context_marginals(L).cpu().numpy()  # (L-k+1, V**k): law of tokens a..a+k-1
    stationary = is_stationary_context_law(lang, mus[0])

    def token_law(t):
        a = min(t, L - k)
        return marginal(mus[a].reshape((V,) * k), [t - a])

    marg = sum(entropy(token_law(t)) for t in range(L)) if not stationary else None
    if stationary:
        m0 = entropy(token_law(0))
        marg = L * m0

    cache: dict[tuple, float] = {}

    def loo(t):
        a, b = max(0, t - k), min(L, t + k + 1)
        w = b - a
        key = (t - a, w) if stationary else None
        if key is not None and key in cache:
            return cache[key]
        start_ctx = min(a, L - k)
        law = ngram_window_law(lang, start_ctx, b - start_ctx, mus[start_ctx])
        if start_ctx < a:  # near the right end the last context starts before a: drop leading tokens
            law = law.sum(axis=tuple(range(a - start_ctx)))
        others = [r for r in range(w) if r != t - a]
        val = entropy(law) - (entropy(law.sum(axis=t - a)) if others else 0.0)
        if key is not None:
            cache[key] = val
        return val

    loo_sum = float(sum(loo(t) for t in range(L)))
    return InformationSummary(
        L, H, float(marg), loo_sum, "ngram closed form" + (" (stationary)" if stationary else "")
    )


# ---------------------------------------------------------------------------------------------------
# HMM: exact per-sample quantities + Monte Carlo


def hmm_leave_one_out_log_probs(lang, tokens: torch.Tensor) -> torch.Tensor:
    r"""``(B, L, V)`` exact :math:`\log q(X_t = v \mid x_{-t})` for fully revealed HMM sequences.

    One forward-backward pass: with the predictive forward message :math:`\tilde\alpha_t(s) = p(z_t = s,
    x_{<t})` and the backward message :math:`\beta_t(s) = p(x_{>t} \mid z_t = s)`,
    :math:`q(X_t = v \mid x_{-t}) \propto \sum_s \tilde\alpha_t(s) B(s, v) \beta_t(s)` (log space, float64).
    Rows whose sequence has probability zero get NaN (their leave-one-out law is undefined).
    """

    if not isinstance(lang, HMMLanguage):
        raise TypeError(f"expected an HMMLanguage, got {type(lang).__name__}")
    x = tokens.to(lang.device).long()
    if x.ndim != 2 or int(x.min()) < 0 or int(x.max()) >= lang.vocab_size:
        raise InvalidArgumentError("tokens must be a (B, L) tensor of real tokens 0..V-1 (no masks)")
    B, L = x.shape
    logA = torch.log(lang.transition)
    logE = torch.log(lang.emission)  # (S, V)
    ev = logE.T[x]  # (B, L, S): log B(s, x_t)

    def lse_mv(msg, logM):  # log sum_s exp(msg[b, s]) M[s, s']
        return torch.logsumexp(msg.unsqueeze(-1) + logM.unsqueeze(0), dim=1)

    pred = torch.empty((B, L, lang.num_states), dtype=torch.float64, device=x.device)
    msg = torch.log(lang.initial).expand(B, -1).clone()
    for t in range(L):
        pred[:, t] = msg
        post = msg + ev[:, t]
        post = post - torch.logsumexp(post, -1, keepdim=True).nan_to_num(neginf=0.0)
        msg = lse_mv(post, logA)
    beta = torch.zeros((B, L, lang.num_states), dtype=torch.float64, device=x.device)
    b = torch.zeros((B, lang.num_states), dtype=torch.float64, device=x.device)
    for t in range(L - 1, -1, -1):
        beta[:, t] = b
        nxt = b + ev[:, t]
        nxt = nxt - torch.logsumexp(nxt, -1, keepdim=True).nan_to_num(neginf=0.0)
        b = lse_mv(nxt, logA.T)
    w = pred + beta  # (B, L, S), unnormalised
    out = torch.logsumexp(w.unsqueeze(-1) + logE.view(1, 1, *logE.shape), dim=2)  # (B, L, V)
    return out - torch.logsumexp(out, -1, keepdim=True)


@dataclass
class InformationEstimate:
    """Monte Carlo information quantities of an HMM language (nats; see :func:`hmm_information_estimate`)."""

    length: int
    num_samples: int
    sum_marginal_entropy: float  # exact
    entropy: object  # MeanEstimate of H(X)
    sum_leave_one_out_entropy: object  # MeanEstimate
    sum_mutual_information: object  # MeanEstimate (paired per-sample difference)
    total_correlation: object  # MeanEstimate
    dual_total_correlation: object  # MeanEstimate (paired)

    def to_dict(self) -> dict:
        return {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in self.__dict__.items()}


def hmm_information_estimate(
    lang, length: int, num_samples: int, generator: torch.Generator, batch_size: int = 256
) -> InformationEstimate:
    r"""Monte Carlo :math:`H(X)`, :math:`\sum_t H(X_t \mid X_{-t})`, TC, DTC and :math:`\sum_t I_t` for an HMM.

    Per sample x ~ q: :math:`-\log q(x)` (forward algorithm), :math:`\sum_t -\log q(x_t \mid x_{-t})`
    (:func:`hmm_leave_one_out_log_probs`) and :math:`\sum_t \log q(x_t)` (exact token marginals). Each
    reported quantity is the mean of its *paired* per-sample value, with a t-interval.
    """

    L = lang.check_length(length)
    marg = lang.token_marginals(L)  # (L, V)
    log_marg = torch.log(marg)
    sum_marg_h = float(entropy(marg.cpu().numpy(), axis=-1).sum())
    nll, loo, mi, dtc = [], [], [], []
    remaining = num_samples
    while remaining > 0:
        b = min(batch_size, remaining)
        x = lang.sample(b, L, generator)
        lq = lang.log_prob(x)
        lp = hmm_leave_one_out_log_probs(lang, x).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)
        lm = log_marg.gather(1, x.T).T.sum(1)  # sum_t log q(x_t)
        nll.append(-lq)
        loo.append(-lp)
        mi.append(lp - lm)
        dtc.append(-lq + lp)
        remaining -= b
    nll, loo, mi, dtc = (torch.cat(v) for v in (nll, loo, mi, dtc))
    return InformationEstimate(
        L,
        num_samples,
        sum_marg_h,
        mean_estimate(nll),
        mean_estimate(loo),
        mean_estimate(mi),
        mean_estimate(sum_marg_h - nll),
        mean_estimate(dtc),
    )


def binary_entropy(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log1p(-p))


def even_parity_joint(length: int) -> np.ndarray:
    """Uniform law on the binary strings of even parity, shape ``(2,)*L``: every L - 1 tokens determine
    the last, so TC = log 2 while sum_i I(X_i; X_-i) = L log 2 (the extreme case of dependence)."""
    L = int(length)
    if L < 1:
        raise InvalidArgumentError("length must be >= 1")
    seqs = np.array(list(itertools.product((0, 1), repeat=L)))
    q = (seqs.sum(1) % 2 == 0).astype(np.float64)
    return (q / q.sum()).reshape((2,) * L)
