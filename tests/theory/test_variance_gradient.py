"""Exact gradient-variance decomposition (theory/variance/gradient.py) and its parametric model.

References used:
* the scalar decomposition of sims/estimators (the gradient code with P = 1 must reproduce it);
* brute-force enumeration of every mask (and every MIRROR joint state) at fixed rates, with the explicit
  per-position Bernoulli law, for the conditional mean vector and trace of covariance;
* autograd one example at a time for the per-(x, mask) gradient table;
* Monte Carlo with nested draws (paired masks for A, paired rates for C), 5 standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.estimators import (
    UniformTime,
    decompose_k_estimator,
    decompose_time_estimator,
    mask_loss_table,
    mask_matrix,
    mask_size_moments,
    mirror_joint_states,
    optimal_time_sampler,
)
from sims.languages.random import random_ngram
from theory.variance.closed_forms import optimal_k_proposal
from theory.variance.gradient import (
    _conditional,
    decompose_k_gradient,
    decompose_time_gradient,
    gradient_moments,
    gradient_optimal_time_sampler,
)
from theory.variance.parametric import (
    LogLinearDenoiser,
    exact_objective,
    fit_log_linear,
    gradient_table,
    log_linear_log_probs,
)

V, L = 2, 4


@pytest.fixture(scope="module")
def setup():
    lang = random_ngram(2, V, concentration=0.7, seed=3)
    table = mask_loss_table(lang, OracleDenoiser(lang), L)
    model = LogLinearDenoiser.random(V, L, 0.5, seed=0)
    mtable = mask_loss_table(lang, model, L)
    grads = gradient_table(model, mtable)
    return lang, table, model, mtable, grads, gradient_moments(grads, mtable.prob.numpy())


@pytest.mark.parametrize("masks", ["single", "pair", "mirror"])
def test_scalar_case_reproduces_the_loss_decomposition(setup, masks):
    """With P = 1 and G = c the gradient path is the loss path: equal A, B, C (1e-12 relative)."""
    table = setup[1]
    mom = mask_size_moments(table)
    gm = gradient_moments(table.loss.unsqueeze(-1), table.prob.numpy())
    for sampler in (UniformTime(), optimal_time_sampler(mom, 1e-3)):
        a = decompose_time_estimator(mom, 1e-3, sampler, masks)
        b = decompose_time_gradient(gm, 1e-3, sampler, masks)
        for k in ("A", "B", "C", "total"):
            assert getattr(b, k) == pytest.approx(getattr(a, k), rel=1e-12, abs=1e-14)
    for proposal in (None, optimal_k_proposal(mom)):
        a, b = decompose_k_estimator(mom, proposal), decompose_k_gradient(gm, proposal)
        for k in ("A", "B", "C"):
            assert getattr(b, k) == pytest.approx(getattr(a, k), rel=1e-12, abs=1e-14)


def test_gradient_table_matches_autograd_one_by_one(setup):
    _, _, model, mtable, grads, _ = setup
    masks = mask_matrix(L)
    for n in (0, mtable.tokens.shape[0] - 1):
        for m in (1, 6, 2**L - 1):
            th = model.theta.clone().requires_grad_(True)
            x = mtable.tokens[n : n + 1]
            noisy = torch.where(masks[m : m + 1], torch.full_like(x, V), x)
            lp = log_linear_log_probs(th, noisy, V)
            c = -(lp.gather(-1, x.unsqueeze(-1)).squeeze(-1) * masks[m]).sum()
            (g,) = torch.autograd.grad(c, th)
            assert torch.allclose(grads[n, m], g, rtol=1e-12, atol=1e-14)
            assert float(c.detach()) == pytest.approx(float(mtable.loss[n, m]), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("masks", ["single", "pair", "mirror"])
def test_conditional_moments_match_mask_enumeration(setup, masks):
    """|E[grad | x, u]|^2 and tr Var(grad | x, u) from the grouped Gram path = explicit enumeration of all
    masks (pairs of masks, MIRROR joint states) with their probabilities."""
    _, _, _, _, grads, gm = setup
    G = grads.numpy()
    eps = 1e-3
    u = np.array([0.03, 0.4, 0.5, 0.77])
    _, gg, v = _conditional(gm, eps, u, masks)
    M = mask_matrix(L).double().numpy()
    for qi, uu in enumerate(u):
        pi = eps + (1 - eps) * uu
        pm = pi ** M.sum(1) * (1 - pi) ** (L - M.sum(1))
        vec = G / (L * pi)  # (N, M, P)
        mean = np.einsum("m,nmp->np", pm, vec)
        second = np.einsum("m,nmp,nmp->n", pm, vec, vec)
        if masks == "single":
            tr_var = second - (mean**2).sum(1)
        elif masks == "pair":
            tr_var = (second - (mean**2).sum(1)) / 2
        else:
            st = mirror_joint_states(L)
            if pi <= 0.5:
                i1, i2 = st["low1"], st["low2"]
                p = pi ** (L - st["n0"]) * (1 - 2 * pi) ** st["n0"]
            else:
                i1, i2 = st["high1"], st["high2"]
                p = (2 * pi - 1) ** st["n0"] * (1 - pi) ** (L - st["n0"])
            avg = (vec[:, i1] + vec[:, i2]) / 2
            tr_var = np.einsum("s,nsp,nsp->n", p, avg, avg) - (mean**2).sum(1)
        np.testing.assert_allclose(gg[:, qi], (mean**2).sum(1), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(v[:, qi], tr_var, rtol=1e-10, atol=1e-12)


def test_gradient_decomposition_matches_monte_carlo(setup):
    """Nested draws (x; u with two independent masks; a second u): mean of |g1 - g2|^2/2 = A, mean of
    g1 . g3 - |mean|^2 = C, second moment - |mean|^2 = total (5 standard errors)."""
    _, _, _, mtable, grads, gm = setup
    eps = 0.05
    exact = decompose_time_gradient(gm, eps)
    g = make_generator(7)
    n = 60_000
    xi = torch.multinomial(mtable.prob, n, replacement=True, generator=g)
    G = grads

    def draw(u):
        pi = eps + (1 - eps) * u
        m = torch.rand((n, L), dtype=torch.float64, generator=g) < pi[:, None]
        idx = (m.long() << torch.arange(L)).sum(-1)
        return G[xi, idx] / (L * pi[:, None])

    u1 = torch.rand(n, dtype=torch.float64, generator=g)
    u2 = torch.rand(n, dtype=torch.float64, generator=g)
    a, a2, b = draw(u1), draw(u1), draw(u2)
    checks = [
        (((a - a2) ** 2).sum(1) / 2, exact.A),
        ((a * b).sum(1), exact.C + exact.mean**2),
        ((a * a).sum(1), exact.total + exact.mean**2),
    ]
    for vals, ex in checks:
        se = float(vals.std()) / math.sqrt(n)
        assert abs(float(vals.mean()) - ex) <= 5 * se, (float(vals.mean()), ex, se)


def test_gradient_optimal_sampler_beats_the_others(setup):
    gm = setup[5]
    mom = mask_size_moments(setup[3])
    eps = 1e-3
    best = decompose_time_gradient(gm, eps, gradient_optimal_time_sampler(gm, eps)).total
    for sampler in (UniformTime(), optimal_time_sampler(mom, eps)):
        assert best <= decompose_time_gradient(gm, eps, sampler).total * (1 + 1e-9)


def test_fit_reaches_a_stationary_point_of_the_exact_objective(setup):
    """L-BFGS result: the exact gradient of the regularised objective vanishes (strict convexity gives the
    unique optimum), and the exact NELBO lies above the entropy rate of the language."""
    table = setup[1]
    fit = fit_log_linear(table, l2=1e-2)
    th = fit.theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(exact_objective(th, table, V, 1e-2), th)
    assert float(g.abs().max()) < 1e-6
    assert float(exact_objective(fit.theta, table, V)) >= mask_size_moments(table).nelbo_per_token() - 1e-12
