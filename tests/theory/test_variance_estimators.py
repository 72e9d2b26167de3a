"""The paper's other estimators, exactly: ISAD, SyRM (Thms 1, 3-6), the bin-wise EMA control variate, StraTS.

References used:
* enumeration of every mask (the grouped formulas of sims/estimators for the standard estimator);
* Monte Carlo simulation of the estimators as the released code draws them (5 standard errors);
* enumeration of masks and of a discrete law of Y for SyRM Thm 1;
* chain-rule identities of the exact conditionals (SyRM parts);
* autograd on the released control variate's detached baseline (gradient unchanged, exactly 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.enumeration import all_sequences
from sims.estimators import (
    decompose_time_estimator,
    mask_loss_table,
    mask_size_moments,
    quadrature_nodes,
    rate_moments,
)
from sims.estimators.position_table import position_loss_table
from sims.exact import exact_log_joint
from sims.languages.random import random_ngram
from theory.information import conditional_entropy
from theory.variance.control_variate import ema_control_variate, released_bin_edges, released_ema_gradient_gap
from theory.variance.isad import isad_decomposition, rarest_token
from theory.variance.parametric import LogLinearDenoiser, log_linear_log_probs
from theory.variance.stratified import strats_mean_variance
from theory.variance.syrm import (
    exact_position_table,
    optimum_shift,
    syrm_parts,
    template_log_joint,
    theorem1_brute_force,
    theorem1_formula,
)

L = 5


@pytest.fixture(scope="module")
def toy():
    lang = random_ngram(2, 3, concentration=0.5, seed=1)
    lj = exact_log_joint(lang, L)
    sup = torch.isfinite(lj)
    den = PerturbedDenoiser(OracleDenoiser(lang), temperature=1.4, uniform_mix=0.05)
    table = position_loss_table(all_sequences(3, L)[sup], lj[sup], den)
    return lang, den, table


# ---------------------------------------------------------------------------------------------
# ISAD
# ---------------------------------------------------------------------------------------------
def test_position_table_sums_to_the_loss_table(toy):
    lang, den, table = toy
    assert torch.allclose(table.masked_loss().loss, mask_loss_table(lang, den, L).loss, rtol=1e-13, atol=0)


@pytest.mark.parametrize("eps", [1e-3, 0.2])
def test_enumerated_standard_estimator_equals_grouped_formulas(toy, eps):
    table = toy[2]
    a = isad_decomposition(table, eps, variant="standard")
    b = decompose_time_estimator(mask_size_moments(table.masked_loss()), eps)
    for k in ("A", "B", "C", "mean"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-11)


def test_isad_without_rare_tokens_is_the_standard_estimator(toy):
    table = toy[2]
    absent = [9]  # no such token: every q_j = pi
    for variant in ("isad", "lr"):
        a = isad_decomposition(table, 1e-3, absent, 0.3, variant)
        b = isad_decomposition(table, 1e-3, variant="standard")
        assert a.mean == pytest.approx(b.mean, rel=1e-12)
        assert a.total == pytest.approx(b.total, rel=1e-12)


def _simulate(table, eps, rare, delta, variant, n, seed):
    """The estimator drawn as the released code does (LLaDA-04 ``forward_process`` with ``--IS``)."""
    g = make_generator(seed)
    xi = torch.multinomial(table.prob, n, replacement=True, generator=g)
    u = torch.rand(n, dtype=torch.float64, generator=g)
    pi = (eps + (1 - eps) * u).numpy()
    is_rare = torch.as_tensor(np.isin(table.tokens[xi].numpy(), rare))
    q = torch.where(
        is_rare, torch.as_tensor(np.minimum(1.0, pi + delta))[:, None], torch.as_tensor(pi)[:, None]
    )
    m = torch.rand((n, L), dtype=torch.float64, generator=g) < q
    idx = (m.long() << torch.arange(L)).sum(-1)
    c = table.loss[xi, idx]  # (n, L)
    piv = torch.as_tensor(pi)[:, None]
    if variant == "isad":
        return (c / q).sum(1) / L
    w = torch.where(m, piv / q, (1 - piv) / (1 - q)).prod(1)
    return w * c.sum(1) / (L * piv[:, 0])


@pytest.mark.parametrize("variant", ["isad", "lr"])
def test_isad_exact_mean_and_variance_match_simulation(toy, variant):
    table = toy[2]
    rare, delta, eps = [rarest_token(table)], 0.2, 1e-3
    exact = isad_decomposition(table, eps, rare, delta, variant)
    vals = _simulate(table, eps, rare, delta, variant, 200_000, seed=5)
    se = float(vals.std()) / math.sqrt(vals.numel())
    assert abs(float(vals.mean()) - exact.mean) <= 5 * se
    if variant == "isad":  # the LR weights are heavy-tailed: their sample variance is not a test statistic
        sq = vals**2
        assert abs(float(sq.mean()) - (exact.total + exact.mean**2)) <= 5 * float(sq.std()) / math.sqrt(
            sq.numel()
        )


def test_isad_is_biased_and_lr_correction_loses_the_always_masked_mass(toy):
    """ISAD's mean differs from the standard mean; the likelihood-ratio version differs by exactly minus the
    standard estimator's mass on masks that leave a rare position unmasked where pi + delta >= 1."""
    table = toy[2]
    rare, delta, eps = [rarest_token(table)], 0.2, 1e-3
    std = isad_decomposition(table, eps, variant="standard")
    isad = isad_decomposition(table, eps, rare, delta, "isad")
    lr = isad_decomposition(table, eps, rare, delta, "lr")
    assert abs(isad.mean - std.mean) > 1e-4
    # lost mass: u >= (1 - delta - eps)/(1 - eps); masks with some rare position unmasked
    tokens = table.tokens.numpy()
    is_rare = np.isin(tokens, rare)
    from_u = (1 - delta - eps) / (1 - eps)
    uu, ww = np.polynomial.legendre.leggauss(64)
    u = from_u + (1 - from_u) * (uu + 1) / 2
    w = ww * (1 - from_u) / 2
    masks = np.array([[(m >> j) & 1 for j in range(L)] for m in range(2**L)], dtype=bool)
    lost = 0.0
    for ui, wi in zip(u, w):
        pi = eps + (1 - eps) * ui
        pm = pi ** masks.sum(1) * (1 - pi) ** (L - masks.sum(1))
        bad = (is_rare[:, None, :] & ~masks[None, :, :]).any(-1)  # (N, M)
        c = table.loss.sum(-1).numpy()
        lost += wi * float(table.prob.numpy() @ ((bad * c / (L * pi)) @ pm))
    assert lr.mean - std.mean == pytest.approx(-lost, rel=1e-9)


def test_independent_pair_is_never_better_at_equal_compute(toy):
    """Two independent masks (the released HEAD's "MIRROR") halve A exactly and keep B and C, so per row
    their variance is A + 2B + 2C >= A + B + C: never better than one mask at equal compute. The
    antithetic MIRROR halves A at least (E Cov <= 0) on this toy."""
    mom = mask_size_moments(toy[2].masked_loss())
    single = decompose_time_estimator(mom, 1e-3)
    pair = decompose_time_estimator(mom, 1e-3, masks="pair")
    mirror = decompose_time_estimator(mom, 1e-3, masks="mirror")
    assert pair.total_per_row == pytest.approx(single.A + 2 * single.B + 2 * single.C, rel=1e-12)
    assert pair.total_per_row >= single.total
    assert mirror.A <= single.A / 2


# ---------------------------------------------------------------------------------------------
# SyRM
# ---------------------------------------------------------------------------------------------
@given(st.integers(2, 4), st.integers(2, 5), st.floats(0.05, 0.95), st.integers(0, 10**6))
def test_syrm_theorem1_with_covariances(P, K, t, seed):
    """Thm 1 holds exactly when rho_ij is the covariance of Y_i, Y_j (M i.i.d. Bern(t), independent of Y)."""
    rng = np.random.default_rng(seed)
    y, p = rng.normal(size=(K, P)), rng.dirichlet(np.ones(K))
    mu = p @ y
    cov = (y - mu).T @ np.diag(p) @ (y - mu)
    assert theorem1_formula(mu, np.diag(cov), cov, t) == pytest.approx(
        theorem1_brute_force(y, p, t), rel=1e-10
    )


def test_syrm_theorem1_with_correlations_is_false():
    y = np.array([[0.0, 0.0], [3.0, 2.0]])
    p = np.array([0.5, 0.5])
    mu, cov = p @ y, (y - p @ y).T @ np.diag(p) @ (y - p @ y)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert abs(theorem1_formula(mu, np.diag(cov), corr, 0.5) - theorem1_brute_force(y, p, 0.5)) > 0.1


@pytest.mark.parametrize("noise", [0.0, 0.4, 1.0])
def test_syrm_parts_and_chain_rule(noise):
    """Thm 4 per sample: SyRM = alpha resp part + (1 - alpha) syntax part (identity). Exact conditionals:
    |R| * response-only objective = H(X_R | X_C, X_0), (|R|+|C|) * SyRM objective = H(X_R, X_C | X_0)."""
    lj = template_log_joint(3, noise, seed=2)
    table = exact_position_table(lj, 3, L)
    parts = syrm_parts(table, [1, 2, 3], [4])
    assert abs(parts.identity_gap) <= 1e-13
    joint = torch.exp(lj).reshape((3,) * L).numpy()
    assert 3 * parts.response_only == pytest.approx(conditional_entropy(joint, [1, 2, 3], [0, 4]), rel=1e-11)
    assert 4 * parts.syrm == pytest.approx(conditional_entropy(joint, [1, 2, 3, 4], [0]), rel=1e-11)


def test_syrm_a_with_a_deterministic_syntax_token_is_a_pure_rescaling():
    """Exact conditionals, syntax token a function of the prompt: adding it to the eligible set multiplies
    the estimator by |R|/|R u C| in law, so A shrinks by (3/4)^2 while A / mean^2 is unchanged."""
    table = exact_position_table(template_log_joint(3, 0.0, seed=2), 3, L)
    a = decompose_time_estimator(mask_size_moments(table.restrict([1, 2, 3])), 1e-3)
    b = decompose_time_estimator(mask_size_moments(table.restrict([1, 2, 3, 4])), 1e-3)
    assert b.A == pytest.approx(a.A * (3 / 4) ** 2, rel=1e-10)
    assert b.A / b.mean**2 == pytest.approx(a.A / a.mean**2, rel=1e-10)


def test_syrm_optimum_shift_bound():
    """Thms 5-6 with the L2-regularised log-linear model (strong convexity modulus l2): the shift is
    positive where grad J_coord(theta*_resp) != 0 and below the bound with the Hessian's smallest eigenvalue."""
    table = exact_position_table(template_log_joint(2, 0.0, seed=2), 2, L)
    res = optimum_shift(table, [1, 2, 3], [4], l2=1e-2, segment_points=3)
    assert res.grad_coord_norm > 1e-3 and res.shift > 1e-3
    for where in ("syrm", "resp", "segment"):
        assert res.shift <= res.bound(where) * (1 + 1e-8)
    assert res.lambda_min_on_segment >= res.l2 * (1 - 1e-8)


# ---------------------------------------------------------------------------------------------
# EMA control variate and StraTS
# ---------------------------------------------------------------------------------------------
def test_released_bins_and_ema_identities(toy):
    edges = released_bin_edges(10)
    t = np.linspace(0, 1, 10001)
    counts = np.bincount(np.round(t * 9).astype(int), minlength=10) / t.size
    np.testing.assert_allclose(counts, np.diff(edges), atol=2e-4)
    mom = mask_size_moments(toy[2].masked_loss())
    cv = ema_control_variate(mom, 1e-3, 10, 0.01)
    assert 0 < cv.between_bins <= cv.B  # removes part of B, at most B
    assert cv.stationary_ema > cv.ideal


def test_ema_ideal_baseline_matches_simulation(toy):
    table = toy[2].masked_loss()
    mom = mask_size_moments(table)
    cv = ema_control_variate(mom, 1e-3, 10, 0.01)
    g = make_generator(9)
    n = 200_000
    xi = torch.multinomial(table.prob, n, replacement=True, generator=g)
    u = torch.rand(n, dtype=torch.float64, generator=g)
    pi = 1e-3 + (1 - 1e-3) * u
    m = torch.rand((n, L), dtype=torch.float64, generator=g) < pi[:, None]
    ell = table.loss[xi, (m.long() << torch.arange(L)).sum(-1)] / (L * pi)
    bins = torch.round(u * 9).long()
    adj = ell - torch.as_tensor(cv.bin_means)[bins]  # exact bin means: E[adj] = 0
    sq = adj**2
    assert abs(float(sq.mean()) - cv.ideal) <= 5 * float(sq.std()) / math.sqrt(n)


def test_released_control_variate_leaves_the_gradient_unchanged():
    model = LogLinearDenoiser.random(3, 4, 0.3, seed=1)
    x = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2]])
    noisy = torch.where(torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]]).bool(), 3, x)

    def losses(theta):
        lp = log_linear_log_probs(theta, noisy, 3)
        return -(lp.gather(-1, x.unsqueeze(-1)).squeeze(-1) * (noisy == 3)).sum(1)

    gap = released_ema_gradient_gap(
        losses, model.theta, torch.tensor([0, 4, 9]), torch.rand(10), torch.rand(10)
    )
    assert gap == 0.0


@pytest.mark.parametrize("k,r", [(4, 1), (16, 1), (4, 3), (5, 6)])
def test_strats_extraction_formula_holds_only_with_one_rate_per_stratum(toy, k, r):
    mom = mask_size_moments(toy[2].masked_loss())
    res = strats_mean_variance(mom, 1e-3, k, r)
    assert res.exact == pytest.approx((res.sigma_t2 - res.sigma_b2) / (k * r), rel=1e-12)
    if r == 1:
        assert res.extraction == pytest.approx(res.exact, rel=1e-12)
    else:
        assert res.extraction < res.exact * (1 - 1e-3)


def test_strats_exact_variance_matches_simulation(toy):
    table = toy[2].masked_loss()
    mom = mask_size_moments(table)
    k, r, n_rep = 4, 3, 40_000
    res = strats_mean_variance(mom, 1e-3, k, r)
    g = make_generator(13)
    # one x per replicate, k*r rates stratified, one mask per rate; variance of the mean given x
    xi = torch.multinomial(table.prob, n_rep, replacement=True, generator=g)
    j = torch.arange(k).repeat_interleave(r)
    u = (j + torch.rand((n_rep, k * r), dtype=torch.float64, generator=g)) / k
    pi = 1e-3 + (1 - 1e-3) * u
    m = torch.rand((n_rep, k * r, L), dtype=torch.float64, generator=g) < pi[..., None]
    ell = table.loss[xi[:, None], (m.long() << torch.arange(L)).sum(-1)] / (L * pi)
    # E[(batch mean - g(x))^2] with g(x) the exact per-x mean (quadrature) is E_x Var(batch mean | x)
    uq, wq = quadrature_nodes(1e-3, 0.0, 1.0)
    gx = torch.as_tensor(rate_moments(mom, 1e-3, uq).g @ wq)
    err = (ell.mean(1) - gx[xi]) ** 2
    assert abs(float(err.mean()) - res.exact) <= 5 * float(err.std()) / math.sqrt(n_rep)
