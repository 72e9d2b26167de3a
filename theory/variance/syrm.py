r"""SyRM (syntax-and-response mask): exact checks of Theorems 1, 3, 4, 5 and 6 as given in the extraction.

Source: Jia et al., arXiv 2511.18159, Sec. 4.3 and its appendix, as given by a third-party extraction
(research notes ``paper_statements.md`` J11; the theorem texts and assumptions A1-A5 are not readable):

* **Thm 1.** For :math:`L = \frac{1}{Pt}\sum_{i=1}^P M_i Y_i`,
  :math:`\mathrm{Var}[L\mid t] = \frac{1}{P^2 t}\sum_i\sigma_i^2 + \frac{1-t}{P^2 t}\sum_i\mu_i^2
  + \frac{2}{P^2}\sum_{i<j}\rho_{ij}`. Our reading: :math:`M_i \sim \mathrm{Bern}(t)` i.i.d. and independent
  of Y, :math:`\mu_i, \sigma_i^2` the mean and variance of :math:`Y_i` and :math:`\rho_{ij}` their
  *covariance* (with correlations the identity is false unless the variances are 1). Checked by
  enumeration (:func:`theorem1_formula`, :func:`theorem1_brute_force`). In an MDM the token loss depends
  on the mask (its context), so the theorem's independence assumption does not hold there.
* **Thm 3.** :math:`A(S_C) < A(S_R)` (masking-pattern noise of the eligible set response + syntax below
  that of the response only) under A1-A5 (homogeneous groups, stable syntax tokens, stronger coupling of
  responses). We compute both A exactly on a template language (:func:`template_log_joint`) whose syntax
  token is stable or not, and also A divided by the squared mean, because the two estimators have
  different means (per-token normalisation over more tokens shrinks both).
* **Thm 4.** :math:`L_{\rm SyRM} = \alpha L_{\rm resp} + (1-\alpha)L_{\rm coord}`: per sample, with
  :math:`\alpha = |R|/|R\cup C|` and the two parts of the SyRM loss (same masks), this is an identity
  (:func:`syrm_parts`); the response part is *not* the response-only objective, whose mean differs.
* **Thms 5-6.** With :math:`J_{\rm coord} := (J_{\rm SyRM} - \alpha J_{\rm resp})/(1-\alpha)`, the optimum
  moves unless :math:`\nabla J_{\rm coord}(\theta^*_{\rm resp}) = 0`, and
  :math:`\lVert\theta^*_{\rm SyRM}-\theta^*_{\rm resp}\rVert \le \frac{1-\alpha}{\lambda_{\min}(H_{\rm SyRM})}
  \lVert\nabla J_{\rm coord}(\theta^*_{\rm resp})\rVert`. Checked with the log-linear model of
  :mod:`theory.variance.parametric` (L2-regularised, so strongly convex) and exact objectives; the Hessian
  is taken at three places (at each optimum, and its smallest eigenvalue on the segment between them),
  since the extraction does not say where.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from sims.enumeration import all_sequences
from sims.estimators.loss_table import mask_matrix
from sims.estimators.position_table import PositionLossTable
from theory.elbo import exact_subset_log_conditionals
from theory.variance.parametric import log_linear_log_probs, num_parameters


def theorem1_formula(mu, var, cov, t: float) -> float:
    """The right-hand side of Thm 1 (``cov`` a ``(P, P)`` matrix; its diagonal is ignored)."""
    mu, var, cov = (np.asarray(a, dtype=np.float64) for a in (mu, var, cov))
    P = mu.size
    off = float(np.triu(cov, 1).sum())
    return float(var.sum() / (P**2 * t) + (1 - t) * (mu**2).sum() / (P**2 * t) + 2 * off / P**2)


def theorem1_brute_force(values, prob, t: float) -> float:
    """Var of :math:`\\frac{1}{Pt}\\sum_i M_i Y_i` by enumerating all masks and the law of Y (``values``
    ``(K, P)`` with probabilities ``prob``), M i.i.d. Bern(t) independent of Y."""
    y = np.asarray(values, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)
    P = y.shape[1]
    m1 = m2 = 0.0
    for bits in itertools.product((0, 1), repeat=P):
        b = np.asarray(bits, dtype=np.float64)
        pm = t ** b.sum() * (1 - t) ** (P - b.sum())
        val = y @ b / (P * t)
        m1 += pm * float(p @ val)
        m2 += pm * float(p @ val**2)
    return m2 - m1**2


def template_log_joint(vocab_size: int = 3, syntax_noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """``(V**5,)`` log-law of a prompt/response/syntax template: position 0 a uniform prompt p, positions
    1-3 a response chain started from p (seeded Dirichlet(0.7) transitions), position 4 a syntax token equal
    to p with probability ``1 - syntax_noise`` and uniform otherwise (a closing delimiter matching the
    opener: stable for small noise)."""
    V = int(vocab_size)
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(V, 0.7), size=V)
    s = (1 - syntax_noise) * np.eye(V) + syntax_noise / V
    x = all_sequences(V, 5).numpy()
    q = (1 / V) * T[x[:, 0], x[:, 1]] * T[x[:, 1], x[:, 2]] * T[x[:, 2], x[:, 3]] * s[x[:, 0], x[:, 4]]
    with np.errstate(divide="ignore"):
        return torch.as_tensor(np.log(q))


def exact_position_table(log_joint: torch.Tensor, vocab_size: int, length: int) -> PositionLossTable:
    """Oracle per-position losses of a law given as a joint table (support sequences only)."""
    G = exact_subset_log_conditionals(log_joint, vocab_size, length)
    support = torch.isfinite(log_joint)
    full = 2**length - 1
    masks = mask_matrix(length)
    revealed = full ^ torch.arange(2**length)
    loss = torch.where(masks.unsqueeze(0), -G[support][:, revealed, :], torch.zeros(1, dtype=torch.float64))
    lq = log_joint[support].to(torch.float64)
    tokens = all_sequences(vocab_size, length)[support]
    return PositionLossTable(tokens, lq, torch.exp(lq), loss, vocab_size, length, {"type": "exact joint"})


def nelbo(table: PositionLossTable, eligible: Sequence[int], count: Sequence[int] | None = None) -> float:
    r"""Exact (eps = 0) mean of the per-eligible-token estimator on eligible set E, counting the losses of
    ``count`` (default E): :math:`E_x\sum_{m\subseteq E} c_{\rm count}(x,m)/(|m|\binom{|E|}{|m|}|E|)`."""
    sub = table.restrict(eligible, count)
    P = sub.length
    k = mask_matrix(P).sum(1).double()
    comb = torch.tensor([math.comb(P, int(v)) for v in k], dtype=torch.float64)
    w = torch.where(k > 0, 1.0 / (k.clamp(min=1) * comb * P), torch.zeros_like(k))
    return float(sub.prob @ (sub.loss @ w))


@dataclass
class SyrmParts:
    """Thm 4 on one table: SyRM mean, its response and syntax parts, alpha, the response-only mean."""

    syrm: float
    response_part: float
    syntax_part: float
    alpha: float
    response_only: float

    @property
    def identity_gap(self) -> float:
        return self.syrm - (self.alpha * self.response_part + (1 - self.alpha) * self.syntax_part)


def syrm_parts(table: PositionLossTable, response: Sequence[int], syntax: Sequence[int]) -> SyrmParts:
    """The parts of the SyRM objective (parts normalised per token of their own group)."""
    R, C = list(response), list(syntax)
    E = R + C
    scale_r, scale_c = len(E) / len(R), len(E) / len(C)
    return SyrmParts(
        nelbo(table, E),
        scale_r * nelbo(table, E, R),
        scale_c * nelbo(table, E, C),
        len(R) / len(E),
        nelbo(table, R),
    )


def eligible_objective(theta, tokens, prob, vocab_size: int, length: int, eligible, l2: float):
    """Exact per-eligible-token NELBO (eps = 0) of the log-linear model on eligible set E, + l2/2 |theta|^2."""
    E = list(eligible)
    sub = mask_matrix(len(E)).long()
    full_index = (sub << torch.as_tensor(E)).sum(-1)
    masks = mask_matrix(length)[full_index]  # (M, L)
    N, M = tokens.shape[0], masks.shape[0]
    rows = tokens.repeat_interleave(M, 0)
    mk = masks.repeat(N, 1)
    lp = log_linear_log_probs(theta, torch.where(mk, torch.full_like(rows, vocab_size), rows), vocab_size)
    tok = lp.gather(-1, rows.unsqueeze(-1)).squeeze(-1)
    c = torch.where(mk, -tok, torch.zeros_like(tok)).sum(-1).reshape(N, M)
    k = sub.sum(1).double()
    comb = torch.tensor([math.comb(len(E), int(v)) for v in k], dtype=torch.float64)
    w = torch.where(k > 0, 1.0 / (k.clamp(min=1) * comb * len(E)), torch.zeros_like(k))
    return prob @ (c @ w) + 0.5 * l2 * (theta @ theta)


@dataclass
class OptimumShift:
    """Thms 5-6 for one template: the shift, the gradient at the response optimum and the bound's variants."""

    alpha: float
    shift: float
    grad_coord_norm: float
    lambda_min_at_syrm: float
    lambda_min_at_resp: float
    lambda_min_on_segment: float
    l2: float

    def bound(self, where: str) -> float:
        lam = {
            "syrm": self.lambda_min_at_syrm,
            "resp": self.lambda_min_at_resp,
            "segment": self.lambda_min_on_segment,
        }
        return (1 - self.alpha) / lam[where] * self.grad_coord_norm

    def to_dict(self) -> dict:
        return {
            **self.__dict__,
            "bound_hessian_at_syrm": self.bound("syrm"),
            "bound_hessian_at_resp": self.bound("resp"),
            "bound_segment_min": self.bound("segment"),
        }


def optimum_shift(
    table: PositionLossTable,
    response: Sequence[int],
    syntax: Sequence[int],
    l2: float = 1e-2,
    segment_points: int = 9,
) -> OptimumShift:
    """Exact optima of J_resp and J_SyRM for the log-linear model (L-BFGS on exact gradients), the norm of
    :math:`\\nabla J_{\\rm coord}(\\theta^*_{\\rm resp})` and :math:`\\lambda_{\\min}` of the SyRM Hessian."""
    V, L = table.vocab_size, table.length
    R, E = list(response), list(response) + list(syntax)
    alpha = len(R) / len(E)

    def objective(eligible):
        return lambda th: eligible_objective(th, table.tokens, table.prob, V, L, eligible, l2)

    def argmin(fn):
        def fg(z):
            th = torch.as_tensor(z).requires_grad_(True)
            val = fn(th)
            (g,) = torch.autograd.grad(val, th)
            return float(val.detach()), g.numpy()

        res = minimize(
            fg,
            np.zeros(num_parameters(V, L)),
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-13, "maxiter": 2000},
        )
        return torch.as_tensor(res.x)

    j_resp, j_syrm = objective(R), objective(E)
    th_r, th_s = argmin(j_resp), argmin(j_syrm)
    th = th_r.clone().requires_grad_(True)
    (g_syrm,) = torch.autograd.grad(j_syrm(th), th)
    (g_resp,) = torch.autograd.grad(j_resp(th), th)  # ~0 at the response optimum
    grad_coord = float((g_syrm - alpha * g_resp).norm()) / (1 - alpha)

    def lam_min(point):
        H = torch.autograd.functional.hessian(j_syrm, point, vectorize=True)
        return float(torch.linalg.eigvalsh(H)[0])

    seg = [lam_min(th_r + s * (th_s - th_r)) for s in np.linspace(0, 1, segment_points)]
    return OptimumShift(
        alpha, float((th_s - th_r).norm()), grad_coord, lam_min(th_s), lam_min(th_r), min(seg), l2
    )
