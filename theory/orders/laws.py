r"""Decoding-order laws: orders and AR losses, order-mixture ELBOs, Plackett-Luce laws of power schedules
(Garg et al., arXiv 2511.19152), pairwise and schedule-induced order probabilities. Conventions and
derivations: :mod:`theory.orders`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import scipy.integrate as spi
import scipy.special as sps
import sympy
import torch

from sims.schedules import PerPositionSchedule
from sims.validation import InvalidArgumentError
from theory.elbo import _check_length, revealed_patterns


# =====================================================================================================
# Orders and AR losses
# =====================================================================================================
def all_orders(L: int) -> list[tuple[int, ...]]:
    """All decoding orders of L positions (first decoded first), in lexicographic order."""
    return list(itertools.permutations(range(_check_length(L))))


def ar_losses(G: torch.Tensor, orders: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
    r"""``(..., n_orders)`` AR negative log-likelihoods :math:`\sum_i -G[\sigma(<i), \sigma(i)]` for ``G`` of shape
    ``(..., 2**L, L)`` (see :func:`theory.elbo.subset_log_conditionals`)."""
    G = torch.as_tensor(G, dtype=torch.float64)
    L = G.shape[-1]
    orders = all_orders(L) if orders is None else [tuple(o) for o in orders]
    out = torch.zeros(G.shape[:-2] + (len(orders),), dtype=torch.float64)
    for k, order in enumerate(orders):
        if sorted(order) != list(range(L)):
            raise InvalidArgumentError(f"{order} is not an order of {L} positions")
        S, acc = 0, torch.zeros(G.shape[:-2], dtype=torch.float64)
        for l in order:
            acc = acc - G[..., S, l]
            S |= 1 << l
        out[..., k] = acc
    return out


def order_mixture_elbo(G: torch.Tensor, order_probs, orders=None) -> torch.Tensor:
    r""":math:`\sum_\sigma P(\sigma)\,\mathrm{AR}_\sigma` (Garg et al. Eq. 6)."""
    P = torch.as_tensor(np.asarray(order_probs, dtype=np.float64))
    A = ar_losses(G, orders)
    return torch.where(P > 0, A * P, torch.zeros_like(A)).sum(-1)


def ascending_reading_elbo(G: torch.Tensor, order_probs, orders=None) -> torch.Tensor:
    r"""The literal reading of Garg et al. Eq. 5-7: probabilities of *ascending* transition times
    :math:`P(t_{\pi(1)} < \dots < t_{\pi(L)})` paired with the context :math:`\pi(<i)`. With ``order_probs`` the
    law of decreasing times (this module's convention), the ascending law of :math:`\pi` is that of
    reversed :math:`\pi`; this evaluates :math:`\sum_\sigma P(\sigma)\sum_i -\log\mu(x^{\sigma(i)}|x^{\sigma(>i)})`."""
    G = torch.as_tensor(G, dtype=torch.float64)
    L = G.shape[-1]
    orders = all_orders(L) if orders is None else [tuple(o) for o in orders]
    reversed_orders = [tuple(reversed(o)) for o in orders]
    return order_mixture_elbo(G, order_probs, reversed_orders)


def subset_weights_from_order_law(order_probs, L: int, orders=None) -> np.ndarray:
    r"""``(L, 2**L)``: :math:`W_l(S) = P(\text{the context of } l \text{ is exactly } S)` from an order law."""
    orders = all_orders(L) if orders is None else [tuple(o) for o in orders]
    W = np.zeros((L, 2**L))
    for p, order in zip(np.asarray(order_probs, dtype=np.float64), orders):
        S = 0
        for l in order:
            W[l, S] += p
            S |= 1 << l
    return W


# =====================================================================================================
# Order laws of per-position schedules
# =====================================================================================================
def plackett_luce_probability(order: Sequence[int], weights: Sequence, exact: bool = False):
    r""":math:`\prod_i w_{\sigma(i)}/\sum_{j\ge i}w_{\sigma(j)}` (``exact=True``: Fractions of rational weights)."""
    w = [Fraction(v) if exact else float(v) for v in weights]
    if sorted(order) != list(range(len(w))):
        raise InvalidArgumentError(f"{order} is not an order of {len(w)} positions")
    if any(v <= 0 for v in w):
        raise InvalidArgumentError("Plackett-Luce weights must be > 0")
    p = Fraction(1) if exact else 1.0
    for i in range(len(order)):
        rest = sum(w[j] for j in order[i:])
        p *= w[order[i]] / rest
    return p


def plackett_luce_law(weights: Sequence[float], orders=None) -> np.ndarray:
    """``(L!,)`` Plackett-Luce probabilities of every decoding order (float64)."""
    orders = all_orders(len(weights)) if orders is None else orders
    return np.array([plackett_luce_probability(o, weights) for o in orders])


def plackett_luce_log_probs(log_weights: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    r"""Differentiable :math:`\log P_{PL}(\sigma)` for ``orders`` ``(N, L)`` and ``log_weights`` ``(L,)``."""
    lw = log_weights[orders]  # (N, L) in decoding order
    tail = torch.logcumsumexp(lw.flip(-1), dim=-1).flip(-1)
    return (lw - tail).sum(-1)


def power_subset_weights(weights: Sequence, exact: bool = False):
    r"""Closed-form :math:`W_l(S)` of the power schedules :math:`\alpha_{t,l} = 1 - t^{w_l}` (inclusion-exclusion;
    ``exact=True`` gives Fractions for rational weights, else a float64 ``(L, 2**L)`` array)."""
    L = len(weights)
    w = [Fraction(v) if exact else float(v) for v in weights]
    pat = revealed_patterns(L)
    out = [[Fraction(0) if exact else 0.0 for _ in range(2**L)] for _ in range(L)]
    for l in range(L):
        for S in range(2**L):
            if pat[S, l]:
                continue
            inS = [j for j in range(L) if pat[S, j]]
            rest = sum((w[j] for j in range(L) if j != l and not pat[S, j]), Fraction(0) if exact else 0.0)
            acc = Fraction(0) if exact else 0.0
            for r in range(len(inS) + 1):
                for A in itertools.combinations(inS, r):
                    acc += (-1) ** r / (w[l] + rest + sum((w[j] for j in A), Fraction(0) if exact else 0.0))
            out[l][S] = w[l] * acc
    return out if exact else np.array(out)


def sympy_power_order_probability(order: Sequence[int], weights: Sequence) -> sympy.Expr:
    r""":math:`P(\tau_{\sigma(1)} > \dots > \tau_{\sigma(L)})` for :math:`\tau_l` with density :math:`w_l t^{w_l-1}` on
    (0, 1), by nested sympy integration over the ordered simplex (Garg et al. Eq. 7 / 25)."""
    w = [sympy.nsimplify(v, rational=True) for v in weights]
    ts = sympy.symbols(f"t0:{len(order)}", positive=True)
    # innermost: the last decoded position has the smallest time; integrate from the inside out
    expr = sympy.Integer(1)
    for i in reversed(range(len(order))):
        l = order[i]
        dens = w[l] * ts[i] ** (w[l] - 1)
        upper = ts[i - 1] if i > 0 else 1
        expr = sympy.integrate(sympy.expand(dens * expr), (ts[i], 0, upper))
    return sympy.simplify(expr)


def pairwise_before_probability(
    schedule: PerPositionSchedule, i: int, j: int, **quad_kw
) -> tuple[float, float]:
    r""":math:`P(i \text{ decoded before } j) = P(\tau_i > \tau_j) = \int_0^1 m_i'(t)m_j(t)\,dt` by quadrature
    (value, error estimate)."""
    si, sj = schedule.schedules[i], schedule.schedules[j]

    def f(t):
        return float(si.masked_fraction_derivative(t) * sj.masked_fraction(t))

    kw = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 500, **quad_kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spi.IntegrationWarning)
        return spi.quad(f, 0.0, 1.0, **kw)


def order_probabilities(schedule: PerPositionSchedule, grid_size: int = 100_001, orders=None) -> np.ndarray:
    r"""``(L!,)`` :math:`P(\sigma)` for any per-position schedule, numerically: the recursion
    :math:`h_L = m_{\sigma(L)}`, :math:`h_i(t) = \int_0^t h_{i+1}\,dm_{\sigma(i)}`, :math:`P = h_1(1)`, by a
    Stieltjes trapezoid rule on a grid clustered at both ends (:math:`t = I_u(4,4)`, u uniform). Second order
    in the grid; exact Plackett-Luce for power schedules is :func:`plackett_luce_law`."""
    L = schedule.length
    orders = all_orders(L) if orders is None else orders
    u = np.linspace(0.0, 1.0, grid_size)
    t = sps.betainc(4.0, 4.0, u)
    F = schedule.masked_fraction(t)  # (N, L) CDFs of the masking times
    F[0], F[-1] = 0.0, 1.0
    dF = np.diff(F, axis=0)
    out = np.empty(len(orders))
    for k, order in enumerate(orders):
        h = F[:, order[-1]].copy()
        for l in reversed(order[:-1]):
            inc = 0.5 * (h[:-1] + h[1:]) * dF[:, l]
            h = np.concatenate([[0.0], np.cumsum(inc)])
        out[k] = h[-1]
    return out


def sample_decoding_orders(
    schedule: PerPositionSchedule, num_samples: int, generator: torch.Generator
) -> torch.Tensor:
    r"""Garg et al. Algorithm 1: draw :math:`u_l \sim U(0,1)` (float64), :math:`\tau_l = m_l^{-1}(u_l)`, and
    return ``(num_samples, L)`` positions sorted by decreasing :math:`\tau` (the decoding order)."""
    u = torch.rand(
        (num_samples, schedule.length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    tau = schedule.time_of_masked_fraction(u)
    return torch.argsort(tau, dim=1, descending=True, stable=True)


def order_index(orders_tensor: torch.Tensor, L: int) -> torch.Tensor:
    """Index of each row of ``orders_tensor`` in :func:`all_orders` (lexicographic rank)."""
    idx = torch.zeros(orders_tensor.shape[0], dtype=torch.long)
    remaining = [list(range(L)) for _ in range(orders_tensor.shape[0])]
    for i in range(L):
        for b in range(orders_tensor.shape[0]):
            pos = remaining[b].index(int(orders_tensor[b, i]))
            idx[b] += pos * math.factorial(L - 1 - i)
            remaining[b].pop(pos)
    return idx
