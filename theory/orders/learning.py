r"""Learned-order autoregression (Garg et al., arXiv 2511.19152, Sec. 4): denoisers restricted to a context,
permuted chains, and learning power-schedule weights by exact gradient descent on the order-mixture
ELBO. Conventions: :mod:`theory.orders`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.exact import all_sequences
from sims.validation import ImpossibleEvidenceError, InvalidArgumentError, check_tokens
from theory.orders.laws import all_orders, ar_losses, plackett_luce_log_probs


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
            raise InvalidArgumentError(f"log_joint must have shape ({self.vocab_size**self.length},)")
        if len(visible) != self.length:
            raise InvalidArgumentError(f"visible must list {self.length} position sets, got {len(visible)}")
        self.visible = [frozenset(int(j) for j in v) for v in visible]
        for l, v in enumerate(self.visible):
            if l in v or any(not 0 <= j < self.length for j in v):
                raise InvalidArgumentError(
                    f"visible[{l}] = {sorted(v)} must list other positions in 0..{self.length - 1}"
                )
        if on_impossible not in ("raise", "uniform"):
            raise InvalidArgumentError(f"on_impossible must be 'raise' or 'uniform', got {on_impossible!r}")
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
        raise InvalidArgumentError(f"{order} is not an order of {L} positions")
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
        raise InvalidArgumentError(f"mean_ar_losses must have shape ({len(orders)},), got {tuple(m.shape)}")
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
