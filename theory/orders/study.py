r"""The computations behind the decoding-order figures (Garg, Kohli, Sarawagi, arXiv 2511.19152): the expected
NELBO against an order tilt for exact and imperfect denoisers, the quadrature of Eq. 8 against the order
mixture and the literal ascending reading, Algorithm 1 against Plackett-Luce, and learning the per-position
weights of :math:`\alpha_{t,l} = 1 - t^{w_l}` on a language with a hidden preferred order.
Conventions: :mod:`theory.orders`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import stats

from sims.exact import all_sequences, exact_log_joint
from sims.schedules import PowerPerPositionSchedule
from theory.elbo import continuous_elbo_quadrature, subset_log_conditionals
from theory.orders.laws import (
    all_orders,
    ar_losses,
    ascending_reading_elbo,
    order_index,
    order_mixture_elbo,
    plackett_luce_law,
    sample_decoding_orders,
)
from theory.orders.learning import (
    ContextRestrictedDenoiser,
    expected_ar_losses,
    learn_power_weights,
    permuted_chain_log_joint,
)
from theory.orders.random_table import RandomTableDenoiser


def tilt_curves(language, length: int, models: Mapping, rhos: Sequence[float]) -> dict:
    r""":math:`E_q` NELBO (nats per sequence) of each denoiser in ``models`` under the Plackett-Luce order law
    of :math:`w_l = e^{-\rho l}` for each tilt :math:`\rho` (rho = 0: the univariate schedule; rho > 0: left
    positions first), exactly (all in-support sequences, all L! orders)."""
    V = language.vocab_size
    lq = exact_log_joint(language, length)
    ok = torch.isfinite(lq)
    x, q = all_sequences(V, length)[ok], torch.exp(lq[ok])
    orders = all_orders(length)
    out = {}
    for name, den in models.items():
        mean_ar = (q.unsqueeze(-1) * ar_losses(subset_log_conditionals(den, x), orders)).sum(0).numpy()
        out[name] = [float(plackett_luce_law(np.exp(-r * np.arange(length)), orders) @ mean_ar) for r in rhos]
    return out


def quadrature_checks(cases: int, seed: int = 0, length: int = 4) -> list[dict]:
    """For ``cases`` random (w ~ U(0.3, 4)^L, random binary x, :class:`RandomTableDenoiser` with seed k): Eq. 8 by
    one quadrature in t, the Plackett-Luce mixture of AR losses (Prop. 3.1) and the literal ascending reading
    of Eq. 5-7."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(cases):
        w = rng.uniform(0.3, 4.0, size=length)
        den = RandomTableDenoiser(2, seed=k)
        x = torch.as_tensor(rng.integers(0, 2, size=(1, length)))
        G = subset_log_conditionals(den, x)
        P = plackett_luce_law(w)
        quad = continuous_elbo_quadrature(den, x, PowerPerPositionSchedule(w))[0]
        out.append(
            {
                "w": w.tolist(),
                "quadrature": quad.value,
                "quad_abserr": quad.abserr,
                "pl_mixture": float(order_mixture_elbo(G, P)[0]),
                "literal_ascending_reading": float(ascending_reading_elbo(G, P)[0]),
            }
        )
    return out


def algorithm1_check(weights: Sequence[float], samples: int, generator: torch.Generator) -> dict:
    """Algorithm 1 (one uniform per position, inverted masking times, sorted): counts of the L! orders against
    Plackett-Luce(w), with the chi-square goodness-of-fit p-value and the pairwise frequencies
    P(i decoded before j) against w_i / (w_i + w_j)."""
    L = len(weights)
    orders = sample_decoding_orders(PowerPerPositionSchedule(list(weights)), samples, generator)
    counts = torch.bincount(order_index(orders, L), minlength=len(all_orders(L))).tolist()
    pl = plackett_luce_law(list(weights))
    rank = torch.argsort(orders, dim=1)  # rank[b, l] = decoding step of position l
    pairs = {
        f"{i}<{j}": {
            "frequency": float((rank[:, i] < rank[:, j]).double().mean()),
            "plackett_luce": weights[i] / (weights[i] + weights[j]),
        }
        for i in range(L)
        for j in range(L)
        if i < j
    }
    return {
        "weights": list(weights),
        "num_samples": samples,
        "counts": counts,
        "plackett_luce": pl.tolist(),
        "orders": [list(o) for o in all_orders(L)],
        "chi_square_p_value": float(stats.chisquare(np.array(counts), pl * samples).pvalue),
        "pairwise": pairs,
    }


def learn_hidden_order(language, length: int, hidden: Sequence[int], steps: int, lr: float) -> dict:
    """A chain law permuted along a hidden order pi*, a denoiser that knows only the conditionals along pi*
    (an AR model in that order), and Adam on the exact E_q NELBO over the log-weights of
    :math:`\\alpha_{t,l} = 1 - t^{w_l}`. Returns the training history, the learned log-weights, the top orders,
    P(pi*) and the pairwise P(i decoded before j), with the uniform-order NELBO, the best single order and
    H(q) for reference."""
    V, L = language.vocab_size, length
    orders = all_orders(L)
    lq = permuted_chain_log_joint(exact_log_joint(language, L), V, L, list(hidden))
    ok = torch.isfinite(lq)
    x, q = all_sequences(V, L)[ok], torch.exp(lq[ok])
    vis = [[hidden[j] for j in range(list(hidden).index(l))] for l in range(L)]
    den = ContextRestrictedDenoiser(lq, V, L, vis)
    mean_ar = expected_ar_losses(subset_log_conditionals(den, x), q, orders)
    res = learn_power_weights(mean_ar, L, steps=steps, lr=lr, orders=orders)
    P = np.array(res.final_order_probs)
    before = np.zeros((L, L))
    for p, o in zip(P, orders):
        rank = {pos: i for i, pos in enumerate(o)}
        for i in range(L):
            for j in range(L):
                if i != j and rank[i] < rank[j]:
                    before[i, j] += p
    return {
        "hidden_order": list(hidden),
        "entropy": language.entropy(L),
        "uniform_order_elbo": float(mean_ar.mean()),
        "best_single_order": list(orders[int(mean_ar.argmin())]),
        "best_single_order_loss": float(mean_ar.min()),
        "history": res.history,
        "learned_log_weights": res.log_weights,
        "top_orders": [[list(o), p] for o, p in res.top_orders(5)],
        "prob_hidden_order": float(P[orders.index(tuple(hidden))]),
        "pairwise_before": before.tolist(),
        "conventions": res.conventions,
    }
