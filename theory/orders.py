r"""Decoding orders of masked diffusion: per-position schedules as learned-order autoregression
(Garg, Kohli, Sarawagi, arXiv 2511.19152), and exact sampler laws as mixtures over ordered partitions.

**Convention: mdlm** (t = 1 masked). Position l is masked at time t with probability :math:`m_l(t)`; its
masking time :math:`\tau_l` has CDF :math:`m_l` (Garg et al. Prop. 3.2, Cor. 3.1: density :math:`-\alpha'_{t,l}`),
independently across positions. The reverse process reveals position l at :math:`t = \tau_l`, so the
**decoding order** :math:`\sigma` lists positions by *decreasing* :math:`\tau` and the context of
:math:`\sigma(i)` is :math:`\sigma(<i) = \{j: \tau_j > \tau_{\sigma(i)}\}`. Then (Garg et al. Prop. 3.1, Eq. 6-7,
time-independent denoiser)

.. math::
    \mathcal L_\infty(x) = \sum_\sigma P(\sigma)\sum_i -\log\mu(x^{\sigma(i)}\mid x^{\sigma(<i)}),\qquad
    P(\sigma) = P(\tau_{\sigma(1)} > \dots > \tau_{\sigma(L)}).

(The paper writes :math:`\Omega_\pi` with *ascending* times and the context :math:`\pi(<i)`; its own proof,
App. B, has the positions :math:`\pi(\le i)` masked at :math:`t^*_{\pi(i)}`, so the context is :math:`\pi(>i)`.
:func:`ascending_reading_elbo` evaluates the literal reading, which disagrees with the quadrature.)

For :math:`\alpha_{t,l} = 1 - t^{w_l}` (Garg et al. Sec. 4), :math:`-\log\tau_l \sim \mathrm{Exp}(w_l)` and the
decoding order is **Plackett-Luce(w)** (derived): :math:`P(\sigma) = \prod_i w_{\sigma(i)}/\sum_{j\ge i}
w_{\sigma(j)}`, pairwise :math:`P(i \text{ before } j) = w_i/(w_i+w_j)`; subset weights
:math:`W_l(S) = w_l\sum_{A\subseteq S}(-1)^{|A|}/(w_l + \sum_{j\notin S\cup l}w_j + \sum_{j\in A}w_j)`.

Sampler laws (exact, time-independent denoiser, temperature 1): a random-order sampler that reveals a
value-independent ordered partition :math:`(B_1, \dots, B_k)` of the positions and draws the tokens of
each block independently from the denoiser given the earlier blocks has law
:math:`p(x) = \sum_{\text{partitions}} P(B)\prod_i\prod_{l\in B_i}\mu(x^l\mid x^{B_{<i}})`. For the MDLM
ancestral sampler and the random-order fixed-count sampler :math:`P(B)` depends only on the block sizes
(the composition), so :math:`p = \sum_c P(c)A_c` with :math:`A_c` summed once over partitions
(:func:`composition_laws`), and changing the schedule only changes :math:`P(c)`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.integrate as spi
import scipy.special as sps
import sympy
import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.exact import all_sequences
from sims.schedules import PerPositionSchedule, get_schedule, time_grid
from sims.validation import ImpossibleEvidenceError, check_tokens
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
            raise ValueError(f"{order} is not an order of {L} positions")
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
        raise ValueError(f"{order} is not an order of {len(w)} positions")
    if any(v <= 0 for v in w):
        raise ValueError("Plackett-Luce weights must be > 0")
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


# =====================================================================================================
# An imperfect model with exactly known conditionals
# =====================================================================================================
class ContextRestrictedDenoiser(Denoiser):
    r"""Exact conditionals of a law q restricted to a visible context:
    :math:`\mu(x^l \mid x^S) = q(x^l \mid x^{S\cap \mathrm{vis}(l)})`, by explicit summation over the joint.

    ``visible[l]`` lists the positions the model may look at when predicting position l, e.g.
    ``range(l)`` (a left-to-right AR model used as a denoiser) or the positions preceding l in another
    order. Time-independent. Contexts of probability zero raise unless ``on_impossible="uniform"``.
    """

    time_conditioned = False

    def __init__(
        self,
        log_joint: torch.Tensor,
        vocab_size: int,
        length: int,
        visible: Sequence[Sequence[int]],
        on_impossible: str = "raise",
    ):
        self.vocab_size, self.length = int(vocab_size), int(length)
        lj = torch.as_tensor(log_joint, dtype=torch.float64)
        if lj.shape != (self.vocab_size**self.length,):
            raise ValueError(f"log_joint must have shape ({self.vocab_size**self.length},)")
        if len(visible) != self.length:
            raise ValueError(f"visible must list {self.length} position sets, got {len(visible)}")
        self.visible = [frozenset(int(j) for j in v) for v in visible]
        for l, v in enumerate(self.visible):
            if l in v or any(not 0 <= j < self.length for j in v):
                raise ValueError(
                    f"visible[{l}] = {sorted(v)} must list other positions in 0..{self.length - 1}"
                )
        if on_impossible not in ("raise", "uniform"):
            raise ValueError(f"on_impossible must be 'raise' or 'uniform', got {on_impossible!r}")
        self.on_impossible = on_impossible
        self.q = torch.exp(lj).numpy()
        self.seqs = all_sequences(self.vocab_size, self.length).numpy()
        self._cache: dict = {}

    def _law(self, l: int, evidence: tuple) -> np.ndarray | None:
        key = (l, evidence)
        if key not in self._cache:
            sel = np.ones(len(self.seqs), dtype=bool)
            for j, v in evidence:
                sel &= self.seqs[:, j] == v
            w = np.bincount(self.seqs[sel, l], weights=self.q[sel], minlength=self.vocab_size)
            self._cache[key] = None if w.sum() <= 0 else w / w.sum()
        return self._cache[key]

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True, length=self.length)
        B, L, V = tokens.shape[0], self.length, self.vocab_size
        out = np.full((B, L, V), -np.inf)
        impossible = torch.zeros(B, dtype=torch.bool)
        tok = tokens.cpu().numpy()
        for b in range(B):
            for l in range(L):
                if tok[b, l] < V:
                    continue
                ev = tuple((j, int(tok[b, j])) for j in sorted(self.visible[l]) if tok[b, j] < V)
                law = self._law(l, ev)
                if law is None:
                    if self.on_impossible == "raise":
                        raise ImpossibleEvidenceError(
                            f"row {b}: visible context of position {l} has probability 0"
                        )
                    impossible[b] = True
                    law = np.full(V, 1.0 / V)
                with np.errstate(divide="ignore"):
                    out[b, l] = np.log(law)
        lp = torch.as_tensor(out, dtype=torch.float64)
        return DenoiserOutput(carry_over(lp, tokens, V), impossible)

    def describe(self) -> dict:
        return {"type": "ContextRestrictedDenoiser", "visible": [sorted(v) for v in self.visible]}


def permuted_chain_log_joint(
    base_log_joint: torch.Tensor, vocab_size: int, length: int, order: Sequence[int]
) -> torch.Tensor:
    r"""``(V**L,)`` log-law of x with :math:`(x_{\pi(0)}, \dots, x_{\pi(L-1)})` distributed as the base law:
    a chain that runs along the hidden position order :math:`\pi` = ``order``."""
    V, L = vocab_size, length
    if sorted(order) != list(range(L)):
        raise ValueError(f"{order} is not an order of {L} positions")
    base = torch.as_tensor(base_log_joint, dtype=torch.float64).reshape((V,) * L)
    # y = x[order] ~ base  =>  q(x) = base(x[order]): axis i of base is position order[i] of x
    inv = [list(order).index(p) for p in range(L)]
    return base.permute(inv).reshape(-1)


# =====================================================================================================
# Learning per-position power weights (exact E_q ELBO, torch autograd)
# =====================================================================================================
@dataclass
class OrderLearningResult:
    """Trajectory and result of :func:`learn_power_weights` (natural-log nats, ELBO per sequence)."""

    log_weights: list
    history: list = field(default_factory=list)  # dicts: step, elbo, log_weights
    orders: list = field(default_factory=list)
    final_order_probs: list = field(default_factory=list)
    conventions: dict = field(default_factory=dict)

    def top_orders(self, k: int = 5) -> list[tuple[tuple, float]]:
        idx = np.argsort(self.final_order_probs)[::-1][:k]
        return [(tuple(self.orders[i]), float(self.final_order_probs[i])) for i in idx]


def expected_ar_losses(G_all: torch.Tensor, q: torch.Tensor, orders=None) -> torch.Tensor:
    r"""``(n_orders,)`` :math:`E_{x\sim q}\mathrm{AR}_\sigma(x)` from ``G_all`` ``(N, 2**L, L)`` over the rows with
    ``q > 0`` and their probabilities ``q`` ``(N,)`` (summing to 1)."""
    q = torch.as_tensor(q, dtype=torch.float64)
    A = ar_losses(G_all, orders)
    return (q.unsqueeze(-1) * A).sum(0)


def learn_power_weights(
    mean_ar_losses: torch.Tensor,
    L: int,
    *,
    steps: int = 400,
    lr: float = 0.05,
    init_log_weights: Sequence[float] | None = None,
    record_every: int = 10,
    orders=None,
) -> OrderLearningResult:
    r"""Minimize the exact expected NELBO :math:`\sum_\sigma PL(\sigma; w)\,E_q\mathrm{AR}_\sigma` over the log
    weights of :math:`\alpha_{t,l} = 1 - t^{w_l}` with Adam (deterministic: exact objective, no sampling;
    Garg et al. use RLOO on sampled masks instead). Only weight ratios matter, so the mean log weight is
    fixed at 0 (projected after every step)."""
    orders = all_orders(L) if orders is None else orders
    O = torch.as_tensor(orders, dtype=torch.long)
    m = torch.as_tensor(mean_ar_losses, dtype=torch.float64)
    if m.shape != (len(orders),):
        raise ValueError(f"mean_ar_losses must have shape ({len(orders)},), got {tuple(m.shape)}")
    init = (
        torch.zeros(L, dtype=torch.float64)
        if init_log_weights is None
        else torch.as_tensor(init_log_weights, dtype=torch.float64).clone()
    )
    lw = (init - init.mean()).requires_grad_(True)
    opt = torch.optim.Adam([lw], lr=lr)
    res = OrderLearningResult(
        log_weights=[],
        orders=[list(o) for o in orders],
        conventions={
            "schedule": "alpha_{t,l} = 1 - t^{w_l} (Garg et al. Sec. 4)",
            "order_law": "Plackett-Luce(w), larger w decoded earlier",
            "objective": "exact E_q NELBO (nats per sequence)",
            "optimizer": f"Adam(lr={lr}), {steps} steps, mean log w = 0",
        },
    )

    def objective():
        return (torch.exp(plackett_luce_log_probs(lw, O)) * m).sum()

    for step in range(steps + 1):
        loss = objective()
        if step % record_every == 0 or step == steps:
            res.history.append(
                {"step": step, "elbo": float(loss.detach()), "log_weights": lw.detach().tolist()}
            )
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            lw -= lw.mean()
    res.log_weights = lw.detach().tolist()
    res.final_order_probs = torch.exp(plackett_luce_log_probs(lw.detach(), O)).tolist()
    return res


# =====================================================================================================
# Exact sampler laws as mixtures over ordered partitions
# =====================================================================================================
def compositions(L: int) -> list[tuple[int, ...]]:
    """All compositions of L (ordered tuples of positive block sizes)."""
    out = []
    for cuts in itertools.product((0, 1), repeat=L - 1):
        sizes, run = [], 1
        for c in cuts:
            if c:
                sizes.append(run)
                run = 1
            else:
                run += 1
        sizes.append(run)
        out.append(tuple(sizes))
    return out


def composition_laws(G_all: torch.Tensor) -> dict[tuple, np.ndarray]:
    r""":math:`A_c(x) = \sum_{(B_1..B_k):\,|B_i| = c_i}\prod_i\prod_{l\in B_i}\mu(x^l|x^{B_{<i}})` for every
    composition c, from ``G_all`` ``(V**L, 2**L, L)`` (all sequences), by dynamic programming over the revealed
    set. :math:`\sum_x A_c(x)` = the number of ordered partitions with sizes c."""
    G = torch.as_tensor(G_all, dtype=torch.float64).numpy()
    N, nS, L = G.shape
    if nS != 2**L:
        raise ValueError("G_all must have shape (V**L, 2**L, L)")
    full = 2**L - 1
    P = np.ascontiguousarray(np.exp(G).transpose(1, 2, 0))  # (2^L, L, N): mu(x_l | x_S)
    block_cache: dict[int, dict[int, np.ndarray]] = {}

    def blocks(S: int) -> dict[int, np.ndarray]:
        """{B: prod_{l in B} mu(x_l | x_S)} for every non-empty B in the complement of S (bit DP)."""
        if S not in block_cache:
            prods: dict[int, np.ndarray] = {0: np.ones(N)}
            free = [l for l in range(L) if not S >> l & 1]
            for l in free:
                for B, v in list(prods.items()):
                    prods[B | (1 << l)] = v * P[S, l]
            del prods[0]
            block_cache[S] = prods
        return block_cache[S]

    layer: dict[tuple, np.ndarray] = {((), 0): np.ones(N)}
    result: dict[tuple, np.ndarray] = {}
    for _ in range(L):
        nxt: dict[tuple, np.ndarray] = {}
        for (comp, S), val in layer.items():
            for B, prod in blocks(S).items():
                key = (comp + (B.bit_count(),), S | B)
                if key in nxt:
                    nxt[key] += val * prod
                else:
                    nxt[key] = val * prod
        for (comp, S), val in nxt.items():
            if S == full:
                result[comp] = val
        layer = {k: v for k, v in nxt.items() if k[1] != full}
        if not layer:
            break
    return result


def ancestral_composition_probabilities(step_weights, L: int) -> dict[tuple, float]:
    r"""MDLM ancestral (Bernoulli) sampler: each position revealed at step k with probability ``w_k``
    independently; :math:`P(B_1..B_j) = \sum_{k_1<\dots<k_j}\prod_i w_{k_i}^{|B_i|}` (a function of the
    composition only). ``step_weights`` must sum to 1."""
    w = np.asarray(step_weights, dtype=np.float64)
    if abs(w.sum() - 1.0) > 1e-12 or np.any(w < -1e-15):
        raise ValueError(f"step weights must be >= 0 and sum to 1, got sum {w.sum()}")
    out = {}
    for comp in compositions(L):
        # dp[k] = sum over placements of the blocks so far with the last block at step < k
        dp = np.ones(len(w) + 1)  # empty prefix: 1 for every cut position
        for size in comp:
            term = w**size
            new = np.zeros(len(w) + 1)
            # new[k] = sum_{k' < k} dp[k'] * term[k'] with dp indexed by "next free step"
            new[1:] = np.cumsum(dp[:-1] * term)
            dp = new
        out[comp] = float(dp[-1])
    return out


def fixed_count_composition(counts: Sequence[int]) -> tuple[int, ...]:
    """Block sizes (the non-zero counts, in order) of a fixed-count plan."""
    return tuple(int(c) for c in counts if c > 0)


def exact_law_from_compositions(
    laws: dict[tuple, np.ndarray], probs: dict[tuple, float], uniform_over_partitions: bool = False
) -> np.ndarray:
    r""":math:`\sum_c P(c)A_c` (``uniform_over_partitions``: each partition of sizes c has probability
    :math:`P(c)/\#\{\text{partitions of sizes } c\}`, the random-order fixed-count rule)."""
    total = None
    for comp, p in probs.items():
        if p == 0:
            continue
        A = laws[comp]
        if uniform_over_partitions:
            A = A * (math.prod(math.factorial(c) for c in comp) / math.factorial(sum(comp)))
        total = p * A if total is None else total + p * A
    return total


def ancestral_exact_law(laws: dict[tuple, np.ndarray], schedule, steps: int, L: int) -> np.ndarray:
    """Exact output law of :class:`sims.sampling.ancestral.AncestralSampler` (``t_min = 0``, temperature 1,
    time-independent denoiser) for any univariate schedule."""
    w = get_schedule(schedule).step_weights(time_grid(steps)).numpy()
    return exact_law_from_compositions(laws, ancestral_composition_probabilities(w, L))


def fixed_count_exact_law(laws: dict[tuple, np.ndarray], counts: Sequence[int]) -> np.ndarray:
    """Exact output law of the random-order fixed-count sampler with per-step ``counts`` (one block)."""
    return exact_law_from_compositions(
        laws, {fixed_count_composition(counts): 1.0}, uniform_over_partitions=True
    )
