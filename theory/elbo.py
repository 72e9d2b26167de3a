r"""The masked-diffusion ELBO: continuous time by quadrature, its discrete-time forms, and its exact
subset / any-order forms, for any (univariate or per-position) schedule and any denoiser.

**Convention: mdlm** (t = 1 all masked, t = 0 clean; :math:`m_l(t) = 1 - \alpha_{t,l}` masked fraction).
Position l is masked at time t independently with probability :math:`m_l(t)`.

Continuous-time NELBO (MDLM Eq. 10-11; MD4; Garg et al. arXiv 2511.19152 Eq. 4 and Eq. 8 for per-position
schedules; the masked indicator is explicit because a general denoiser need not carry over):

.. math::
    \mathcal L_\infty(x) = \int_0^1 \sum_l \frac{m_l'(t)}{m_l(t)}
        E_{z\sim q_t(\cdot|x)}\big[1(z^l = M)\,(-\log\mu_l(x^l \mid z, t))\big]\,dt .

Writing the expectation over the revealed set S of z gives the *subset form* (derived, exact, no integral):
:math:`\mathcal L_\infty(x) = \sum_l\sum_{S\subseteq[L]\setminus l} W_l(S)\,(-\log\mu(x^l\mid x^S))` with
:math:`W_l(S) = \int_0^1 m_l'(t)\prod_{j\in S}(1-m_j(t))\prod_{j\notin S\cup l} m_j(t)\,dt` (the factor
:math:`m_l` of the masked probability cancels the weight's denominator; the quadrature integrand is written
this way so that it stays finite at t = 0). For a univariate schedule :math:`W(S) = B(|S|+1, L-|S|) =
|S|!(L-1-|S|)!/L!` for **every** schedule (schedule invariance), which also equals the uniform any-order
autoregressive loss (RADD Thm. 2; Hoogeboom et al. ARDM) and the ":math:`1/k`" form
:math:`\sum_k \tfrac1k E_{|M|=k}[\sum_{l\in M}-\log\mu(x^l|x^{[L]\setminus M})]`.

Discrete time (T steps on a grid :math:`1 = t_0 > \dots > t_T = 0`; MDLM Eq. 8 / Garg et al. Eq. 3, with
zero-masking and carry-over, so the prior and reconstruction terms vanish):

* KL form: :math:`\mathcal L_T = \sum_k E_{z\sim q_{t_k}}\sum_{l:\,z^l=M} r_{k,l}\,(-\log\mu_l(x^l|z))` with
  :math:`r_{k,l} = (m_l(t_k)-m_l(t_{k+1}))/m_l(t_k)` the reveal probability of the step;
* reveal-step form: each position is revealed at step k with probability
  :math:`m_l(t_k)-m_l(t_{k+1})` independently, and :math:`\mathcal L_T = E[\sum_l -\log\mu(x^l\mid
  x^{\{j:\,k_j<k_l\}})]` (the per-trajectory log-ratio telescopes to the log-probability at the reveal
  step; Garg et al. App. B, Eq. 22-23). Positions revealed in the same step do not see each other.

Both discrete forms are equal (checked by enumeration). Time-conditioned denoisers (``time_conditioned =
True``) are evaluated at the integration time in :func:`continuous_elbo_quadrature` and at :math:`t_k` in
:func:`discrete_elbo_kl`; the subset / order forms need a time-independent denoiser (RADD).

Everything is exact enumeration over the :math:`2^L` reveal patterns (keep :math:`L \le 10`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.integrate as spi
import torch

from sims.denoisers.base import Denoiser
from sims.exact import all_sequences
from sims.schedules import PerPositionSchedule, get_schedule, time_grid
from sims.validation import InvalidArgumentError

MAX_LENGTH = 10


def _check_length(L: int) -> int:
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or not 1 <= L <= MAX_LENGTH:
        raise InvalidArgumentError(f"length must be an integer in [1, {MAX_LENGTH}] (enumeration), got {L!r}")
    return int(L)


def revealed_patterns(L: int) -> np.ndarray:
    """``(2**L, L)`` bool: row S (a bitmask, bit l = position l) marks the revealed positions."""
    L = _check_length(L)
    S = np.arange(2**L)
    return ((S[:, None] >> np.arange(L)[None, :]) & 1).astype(bool)


def as_per_position(schedule, L: int) -> PerPositionSchedule:
    """A :class:`PerPositionSchedule` of length L from a univariate spec or a per-position schedule."""
    if isinstance(schedule, PerPositionSchedule):
        if schedule.length != L:
            raise InvalidArgumentError(f"schedule has {schedule.length} positions, sequences have {L}")
        return schedule
    return PerPositionSchedule.uniform(get_schedule(schedule), L)


# =====================================================================================================
# Conditionals of a denoiser for every reveal pattern
# =====================================================================================================
def subset_log_conditionals(
    denoiser: Denoiser, tokens: torch.Tensor, t: float | None = None, batch_rows: int = 65536
) -> torch.Tensor:
    r"""``(B, 2**L, L)`` float64 :math:`G[b, S, l] = \log\mu(x^l_b \mid x_b^S)`: the denoiser's log-probability
    of the true token at position l when exactly the positions in S (bitmask) are revealed. Entries with
    :math:`l\in S` are the carry-over value (0 for a one-hot denoiser) and are never used.

    ``t`` (mdlm time) is passed to the denoiser as a ``(rows,)`` tensor when given.
    """
    tokens = torch.as_tensor(tokens).long()
    if tokens.ndim != 2:
        raise InvalidArgumentError(f"tokens must have shape (B, L), got {tuple(tokens.shape)}")
    B, L = tokens.shape
    _check_length(L)
    V = denoiser.vocab_size
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= V):
        raise InvalidArgumentError(f"tokens must be real token ids in 0..{V - 1} (no masks)")
    pat = torch.as_tensor(revealed_patterns(L))
    inp = torch.where(pat.unsqueeze(0), tokens.unsqueeze(1), torch.full((1, 1, 1), V)).reshape(-1, L)
    outs = []
    for chunk_start in range(0, inp.shape[0], batch_rows):
        chunk = inp[chunk_start : chunk_start + batch_rows]
        tt = None if t is None else torch.full((chunk.shape[0],), float(t), dtype=torch.float64)
        outs.append(denoiser(chunk, tt).log_probs.to("cpu", torch.float64))
    lp = torch.cat(outs).reshape(B, 2**L, L, V)
    idx = tokens.reshape(B, 1, L, 1).expand(B, 2**L, L, 1)
    return lp.gather(-1, idx).squeeze(-1)


def exact_subset_log_conditionals(
    log_joint: torch.Tensor, vocab_size: int, length: int, impossible: str = "uniform"
) -> torch.Tensor:
    r"""``(V**L, 2**L, L)`` exact :math:`\log q(x^l \mid x^S)` for every sequence x (order of
    :func:`sims.exact.all_sequences`) and reveal pattern S, by marginalizing the joint table (no
    forward-backward): :math:`q(x^l|x^S) = q(x^{S\cup l})/q(x^S)`. Contexts of probability 0 get the uniform law
    (``impossible="uniform"``, the fallback of ``OracleDenoiser(on_impossible="uniform")``) or -inf/NaN-free
    ``-inf`` (``impossible="-inf"``). Entries with :math:`l\in S` are 0 (carry-over)."""
    V, L = int(vocab_size), _check_length(length)
    if impossible not in ("uniform", "-inf"):
        raise InvalidArgumentError(f"impossible must be 'uniform' or '-inf', got {impossible!r}")
    P = torch.exp(torch.as_tensor(log_joint, dtype=torch.float64)).reshape((V,) * L)
    out = torch.zeros((V**L, 2**L, L), dtype=torch.float64)
    pat = revealed_patterns(L)
    marg = {}
    for S in range(2**L):
        axes = tuple(j for j in range(L) if not pat[S, j])
        marg[S] = (P.sum(dim=axes, keepdim=True) if axes else P).expand((V,) * L).reshape(-1)
    fill = -math.log(V) if impossible == "uniform" else -math.inf
    for S in range(2**L):
        den = marg[S]
        for l in range(L):
            if pat[S, l]:
                continue
            num = marg[S | (1 << l)]
            with np.errstate(divide="ignore", invalid="ignore"):
                val = torch.where(den > 0, torch.log(num) - torch.log(den), torch.full_like(den, fill))
            out[:, S, l] = val
    return out


# =====================================================================================================
# Exact weights
# =====================================================================================================
def univariate_subset_weights(L: int, exact: bool = False):
    r"""``(L, 2**L)`` weights :math:`W(S) = |S|!(L-1-|S|)!/L!` for :math:`l\notin S` (0 otherwise); the same for
    every univariate schedule. ``exact=True`` returns nested lists of :class:`fractions.Fraction`."""
    L = _check_length(L)
    pat = revealed_patterns(L)
    sizes = pat.sum(1)
    frac = [Fraction(math.factorial(k) * math.factorial(L - 1 - k), math.factorial(L)) for k in range(L)]
    if exact:
        return [[Fraction(0) if pat[S, l] else frac[sizes[S]] for S in range(2**L)] for l in range(L)]
    W = np.zeros((L, 2**L))
    for l in range(L):
        for S in range(2**L):
            if not pat[S, l]:
                W[l, S] = float(frac[sizes[S]])
    return W


def _coefficients(
    sched: PerPositionSchedule, t: float, pat: np.ndarray, cache: dict | None = None
) -> np.ndarray:
    """``(L, 2**L)`` integrand coefficients :math:`m_l'(t)\\prod_{j\\in S}(1-m_j)\\prod_{j\\notin S\\cup l}m_j`
    (``cache``: optional dict t -> schedule values, shared by quadratures that visit the same nodes)."""
    L = sched.length
    if cache is not None and t in cache:
        m, a, dm = cache[t]
    else:
        m = sched.masked_fraction(np.array(t))
        a = sched.alpha(np.array(t))
        dm = sched.masked_fraction_derivative(np.array(t))
        if cache is not None:
            cache[t] = (m, a, dm)
    factors = np.where(pat, a[None, :], m[None, :])  # (2^L, L)
    out = np.empty((L, pat.shape[0]))
    for l in range(L):
        others = np.delete(factors, l, axis=1).prod(1)
        out[l] = np.where(pat[:, l], 0.0, dm[l] * others)
    return out


@dataclass
class SubsetWeights:
    """Quadrature subset weights with scipy's absolute error estimate for each entry."""

    weights: np.ndarray  # (L, 2**L)
    abserr: np.ndarray  # (L, 2**L)
    method: str = "scipy.integrate.quad (QAGS) per (l, S) in mdlm time t"


def subset_weights_quadrature(
    schedule, L: int, *, epsabs: float = 1e-13, epsrel: float = 1e-12, limit: int = 500
) -> SubsetWeights:
    r""":math:`W_l(S) = \int_0^1 m_l'(t)\prod_{j\in S}(1-m_j)\prod_{j\notin S\cup l}m_j\,dt` by adaptive
    quadrature in t, for any (per-position) schedule."""
    L = _check_length(L)
    sched = as_per_position(schedule, L)
    pat = revealed_patterns(L)
    W = np.zeros((L, 2**L))
    E = np.zeros((L, 2**L))
    if sched.is_univariate:  # W depends on |S| only: L integrals of m'(t) (1-m)^k m^(L-1-k)
        one = sched.schedules[0]
        sizes = pat.sum(1)
        for k in range(L):

            def f(t, k=k):
                return float(
                    one.masked_fraction_derivative(t)
                    * one.alpha(t) ** k
                    * one.masked_fraction(t) ** (L - 1 - k)
                )

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", spi.IntegrationWarning)
                wk, ek = spi.quad(f, 0.0, 1.0, epsabs=epsabs, epsrel=epsrel, limit=limit)
            sel = (sizes == k)[None, :] & ~pat.T
            W[sel], E[sel] = wk, ek
        return SubsetWeights(W, E, "scipy.integrate.quad (QAGS) per |S| (univariate) in mdlm time t")
    cache: dict = {}
    for l in range(L):
        for S in range(2**L):
            if pat[S, l]:
                continue
            others = np.arange(L) != l
            row = pat[S]

            def f(t, l=l, row=row, others=others):
                if t not in cache:
                    cache[t] = (
                        sched.masked_fraction(np.array(t)),
                        sched.alpha(np.array(t)),
                        sched.masked_fraction_derivative(np.array(t)),
                    )
                m, a, dm = cache[t]
                return float(dm[l] * np.where(row, a, m)[others].prod())

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", spi.IntegrationWarning)
                W[l, S], E[l, S] = spi.quad(f, 0.0, 1.0, epsabs=epsabs, epsrel=epsrel, limit=limit)
    return SubsetWeights(W, E)


# =====================================================================================================
# ELBO forms
# =====================================================================================================
def elbo_subset_form(G: torch.Tensor, W) -> torch.Tensor:
    r""":math:`\sum_l\sum_{S\not\ni l} W_l(S)(-G[S,l])` for ``G`` of shape ``(..., 2**L, L)``."""
    G = torch.as_tensor(G, dtype=torch.float64)
    W = torch.as_tensor(np.asarray(W, dtype=np.float64))
    if W.shape != (G.shape[-1], G.shape[-2]):
        raise InvalidArgumentError(
            f"weights must have shape (L, 2**L) = {(G.shape[-1], G.shape[-2])}, got {tuple(W.shape)}"
        )
    terms = torch.where(W.T > 0, -G * W.T, torch.zeros_like(G))  # 0 * inf = 0 where the weight is 0
    return terms.sum((-1, -2))


def any_order_elbo(G: torch.Tensor) -> torch.Tensor:
    r"""Uniform any-order AR loss :math:`\frac{1}{L!}\sum_\sigma\sum_i -\log\mu(x^{\sigma(i)}|x^{\sigma(<i)})` by
    enumerating all :math:`L!` orders (RADD Thm. 2)."""
    G = torch.as_tensor(G, dtype=torch.float64)
    L = G.shape[-1]
    total = torch.zeros(G.shape[:-2], dtype=torch.float64)
    count = 0
    for order in itertools.permutations(range(L)):
        S = 0
        for l in order:
            total = total - G[..., S, l]
            S |= 1 << l
        count += 1
    return total / count


def inverse_k_elbo(G: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_{k=1}^L \tfrac1k E_{M:\,|M|=k}[\sum_{l\in M}-\log\mu(x^l|x^{[L]\setminus M})]` (MDLM/LLaDA form,
    M uniform among masks of size k)."""
    G = torch.as_tensor(G, dtype=torch.float64)
    L = G.shape[-1]
    pat = revealed_patterns(L)
    total = torch.zeros(G.shape[:-2], dtype=torch.float64)
    for k in range(1, L + 1):
        masks = [S for S in range(2**L) if (~pat[S]).sum() == k]
        acc = torch.zeros_like(total)
        for S in masks:
            for l in np.nonzero(~pat[S])[0]:
                acc = acc - G[..., S, int(l)]
        total = total + acc / (k * len(masks))
    return total


@dataclass
class ELBOValue:
    """An ELBO value for one sequence, with the quadrature error estimate and the conventions used."""

    value: float
    abserr: float
    conventions: dict


def continuous_elbo_quadrature(
    denoiser: Denoiser,
    tokens: torch.Tensor,
    schedule,
    *,
    epsabs: float = 1e-12,
    epsrel: float = 1e-11,
    limit: int = 500,
) -> list[ELBOValue]:
    r"""Continuous-time NELBO of each row of ``tokens`` by one adaptive quadrature over t of the full
    integrand (exact expectation over the :math:`2^L` reveal patterns at every t). Time-conditioned
    denoisers are called at each quadrature node."""
    tokens = torch.as_tensor(tokens).long()
    L = tokens.shape[1]
    sched = as_per_position(schedule, L)
    pat = revealed_patterns(L)
    timed = bool(getattr(denoiser, "time_conditioned", False))
    G0 = None if timed else subset_log_conditionals(denoiser, tokens).numpy()
    conv = {
        "time": "mdlm (t=1 masked -> t=0 clean)",
        "schedule": sched.describe(),
        "integrand": "sum_l m_l'(t) prod_{j in S}(1-m_j) prod_{j not in S+l} m_j (-log mu_l(x_l|x_S))",
        "time_conditioned_denoiser": timed,
        "method": "scipy.integrate.quad (QAGS)",
    }
    out = []
    for b in range(tokens.shape[0]):

        def f(t, b=b):
            G = subset_log_conditionals(denoiser, tokens[b : b + 1], t=t).numpy()[0] if timed else G0[b]
            c = _coefficients(sched, t, pat)
            return float(np.where(c > 0, -c * G.T, 0.0).sum())

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", spi.IntegrationWarning)
            val, err = spi.quad(f, 0.0, 1.0, epsabs=epsabs, epsrel=epsrel, limit=limit)
        out.append(ELBOValue(float(val), float(err), conv))
    return out


def continuous_elbo(denoiser: Denoiser, tokens: torch.Tensor, schedule=None) -> torch.Tensor:
    r"""``(B,)`` continuous-time NELBO of a time-independent denoiser through the subset form: exact weights
    for univariate schedules (the value does not depend on the schedule), quadrature weights
    (:func:`subset_weights_quadrature`) for per-position ones."""
    if getattr(denoiser, "time_conditioned", False):
        raise InvalidArgumentError(
            "the subset form needs a time-independent denoiser; use continuous_elbo_quadrature"
        )
    tokens = torch.as_tensor(tokens).long()
    L = tokens.shape[1]
    G = subset_log_conditionals(denoiser, tokens)
    if schedule is None or not isinstance(schedule, PerPositionSchedule) or schedule.is_univariate:
        return elbo_subset_form(G, univariate_subset_weights(L))
    return elbo_subset_form(G, subset_weights_quadrature(schedule, L).weights)


def _grid_masked(sched: PerPositionSchedule, steps: int) -> np.ndarray:
    grid = time_grid(steps).numpy()
    m = sched.masked_fraction(grid)  # (K+1, L)
    m[0], m[-1] = 1.0, 0.0  # exact endpoints (alpha(1)=0, alpha(0)=1 by construction of every schedule)
    return m


def discrete_elbo_kl(denoiser: Denoiser, tokens: torch.Tensor, schedule, steps: int) -> torch.Tensor:
    r"""``(B,)`` T-step NELBO, KL form: :math:`\sum_k\sum_S P_{t_k}(S)\sum_{l\notin S} r_{k,l}(-\log\mu_l(x^l|x^S, t_k))`
    on the grid ``linspace(1, 0, T+1)`` (exact enumeration over reveal patterns)."""
    tokens = torch.as_tensor(tokens).long()
    L = tokens.shape[1]
    sched = as_per_position(schedule, L)
    pat = revealed_patterns(L)
    m = _grid_masked(sched, steps)
    grid = time_grid(steps).numpy()
    timed = bool(getattr(denoiser, "time_conditioned", False))
    G = None if timed else subset_log_conditionals(denoiser, tokens)
    total = torch.zeros(tokens.shape[0], dtype=torch.float64)
    for k in range(steps):
        Gk = subset_log_conditionals(denoiser, tokens, t=float(grid[k])) if timed else G
        mk, mn = m[k], m[k + 1]
        probs = np.where(pat, 1.0 - mk[None, :], mk[None, :]).prod(1)  # P_{t_k}(S)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(mk > 0, (mk - mn) / np.where(mk > 0, mk, 1.0), 0.0)
        coef = np.where(pat, 0.0, probs[:, None] * r[None, :])  # (2^L, L)
        c = torch.as_tensor(coef)
        total = total + torch.where(c > 0, -Gk * c, torch.zeros_like(Gk)).sum((-1, -2))
    return total


def discrete_elbo_reveal_steps(G: torch.Tensor, schedule, steps: int) -> torch.Tensor:
    r"""``(...,)`` T-step NELBO, reveal-step form, by enumerating all :math:`T^L` step assignments (tiny cases
    only): :math:`E[\sum_l -\log\mu(x^l|x^{\{j:\,k_j<k_l\}})]`, :math:`P(k_l = k) = m_l(t_k) - m_l(t_{k+1})`."""
    G = torch.as_tensor(G, dtype=torch.float64)
    L = G.shape[-1]
    if steps**L > 200_000:
        raise InvalidArgumentError(f"steps**L = {steps**L} assignments is too many to enumerate")
    sched = as_per_position(schedule, L)
    m = _grid_masked(sched, steps)
    w = m[:-1] - m[1:]  # (K, L)
    total = torch.zeros(G.shape[:-2], dtype=torch.float64)
    for assign in itertools.product(range(steps), repeat=L):
        p = float(np.prod([w[k, l] for l, k in enumerate(assign)]))
        if p == 0.0:
            continue
        loss = torch.zeros_like(total)
        for l, k in enumerate(assign):
            S = sum(1 << j for j, kj in enumerate(assign) if kj < k)
            loss = loss - G[..., S, l]
        total = total + p * loss
    return total


def sequence_elbos(denoiser: Denoiser, vocab_size: int, length: int, schedule=None) -> torch.Tensor:
    """``(V**L,)`` continuous NELBO of every sequence (order of :func:`sims.exact.all_sequences`)."""

    return continuous_elbo(denoiser, all_sequences(vocab_size, length), schedule)
