r"""A small parametric denoiser whose per-(x, mask) gradients can be enumerated exactly.

The log-linear pairwise model (our choice; any differentiable denoiser would do):

.. math::
    p_\theta(x_i = v \mid x_{\setminus m}) \propto
    \exp\Big(b_{i v} + \sum_{j \notin m,\ j \ne i} W_{i j x_j v}\Big),\qquad
    \theta = (b, W) \in \mathbb R^{LV + L^2V^2}.

It is a :class:`~sims.denoisers.base.Denoiser` (so :func:`sims.estimators.mask_loss_table` gives its raw
loss table), and :func:`gradient_table` gives :math:`G(x,m) = \nabla_\theta c_\theta(x, m)` for every
support sequence and every mask, with :math:`c_\theta(x,m) = \sum_{i\in m} -\log p_\theta(x_i\mid
x_{\setminus m})` (:mod:`sims.estimators.loss_table`). :func:`fit_log_linear` minimises the exact NELBO
:math:`E_x\sum_{m\ne\emptyset} c_\theta(x,m)/(|m|\binom{L}{|m|})/L` plus an L2 penalty (strictly convex:
the NLL of a softmax linear in :math:`\theta` is convex) by L-BFGS on exact gradients.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.estimators.loss_table import MaskLossTable, mask_matrix
from sims.validation import InvalidArgumentError, check_positive_int


def num_parameters(vocab_size: int, length: int) -> int:
    return length * vocab_size + length * length * vocab_size * vocab_size


def log_linear_log_probs(theta: torch.Tensor, tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``(B, L, V)`` log-probabilities of the model (differentiable in ``theta``; mask id = V)."""
    L = tokens.shape[1]
    V = vocab_size
    b = theta[: L * V].reshape(L, V)
    W = theta[L * V :].reshape(L, L, V, V) * (1 - torch.eye(L, dtype=theta.dtype)).reshape(L, L, 1, 1)
    visible = tokens < V
    onehot = torch.nn.functional.one_hot(tokens.clamp(max=V - 1), V).to(theta.dtype) * visible.unsqueeze(-1)
    logits = b.unsqueeze(0) + torch.einsum("bjw,ijwv->biv", onehot, W)
    return torch.log_softmax(logits, dim=-1)


class LogLinearDenoiser(Denoiser):
    """The log-linear pairwise model at parameters ``theta`` (float64, length ``num_parameters(V, L)``)."""

    def __init__(self, vocab_size: int, length: int, theta: torch.Tensor | np.ndarray):
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.length = check_positive_int(length, "length")
        self.theta = torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone()
        if self.theta.shape != (num_parameters(vocab_size, length),):
            raise InvalidArgumentError(f"theta must have {num_parameters(vocab_size, length)} entries")

    @classmethod
    def random(cls, vocab_size: int, length: int, scale: float, seed: int) -> LogLinearDenoiser:
        rng = np.random.default_rng(seed)
        return cls(vocab_size, length, scale * rng.standard_normal(num_parameters(vocab_size, length)))

    def predict(self, tokens, t=None):
        tokens = torch.as_tensor(tokens).long()
        if tokens.shape[-1] != self.length:
            raise InvalidArgumentError(f"this model has length {self.length}, got {tokens.shape[-1]}")
        with torch.no_grad():
            lp = log_linear_log_probs(self.theta, tokens, self.vocab_size)
        return DenoiserOutput(
            carry_over(lp, tokens, self.vocab_size), torch.zeros(len(tokens), dtype=torch.bool)
        )

    def describe(self):
        return {"type": "LogLinearDenoiser", "num_parameters": int(self.theta.numel())}


def _masked_loss_fn(tokens: torch.Tensor, vocab_size: int):
    """``theta -> (N, 2**L)`` table of c_theta(x, m) for the support ``tokens`` (N, L)."""
    N, L = tokens.shape
    masks = mask_matrix(L)
    rows = tokens.repeat_interleave(2**L, 0)
    mk = masks.repeat(N, 1)
    noisy = torch.where(mk, torch.full_like(rows, vocab_size), rows)

    def fn(theta):
        lp = log_linear_log_probs(theta, noisy, vocab_size)
        tok = lp.gather(-1, rows.unsqueeze(-1)).squeeze(-1)
        return torch.where(mk, -tok, torch.zeros_like(tok)).sum(-1).reshape(N, 2**L)

    return fn


def gradient_table(model: LogLinearDenoiser, table: MaskLossTable) -> torch.Tensor:
    """``(N, 2**L, P)`` float64 :math:`\\nabla_\\theta c_\\theta(x, m)` for the support of ``table``."""
    fn = _masked_loss_fn(table.tokens, model.vocab_size)
    jac = torch.func.jacrev(fn)(model.theta)
    return jac.detach()


def nelbo_mask_weights(length: int) -> torch.Tensor:
    r"""``(2**L,)`` weights :math:`1/(|m|\binom{L}{|m|} L)` (0 for the empty mask): the per-token NELBO is
    :math:`E_x \sum_m w_m c(x, m)`."""
    L = check_positive_int(length, "length")
    k = mask_matrix(L).sum(1).double()
    comb = torch.tensor([math.comb(L, int(v)) for v in k], dtype=torch.float64)
    return torch.where(k > 0, 1.0 / (k.clamp(min=1) * comb * L), torch.zeros_like(k))


def exact_objective(model_theta: torch.Tensor, table: MaskLossTable, vocab_size: int, l2: float = 0.0):
    """Per-token NELBO of the model on the law of ``table`` plus ``l2/2 * |theta|^2`` (differentiable)."""
    fn = _masked_loss_fn(table.tokens, vocab_size)
    w = nelbo_mask_weights(table.length)
    return table.prob @ (fn(model_theta) @ w) + 0.5 * l2 * (model_theta @ model_theta)


def fit_log_linear(
    table: MaskLossTable, l2: float = 1e-2, theta0: np.ndarray | None = None, max_iter: int = 500
) -> LogLinearDenoiser:
    """Minimise :func:`exact_objective` by L-BFGS with exact gradients (strictly convex for l2 > 0)."""
    V, L = table.vocab_size, table.length
    x0 = np.zeros(num_parameters(V, L)) if theta0 is None else np.asarray(theta0, dtype=np.float64)

    def fg(z):
        th = torch.as_tensor(z).requires_grad_(True)
        val = exact_objective(th, table, V, l2)
        (grad,) = torch.autograd.grad(val, th)
        return float(val.detach()), grad.numpy()

    res = minimize(fg, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-12})
    return LogLinearDenoiser(V, L, res.x)
