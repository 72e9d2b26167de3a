"""Garg et al. (arXiv 2511.19152): per-position schedules as a mixture of AR losses over decoding orders.
Quadrature of Eq. 8 vs enumeration over orders; Plackett-Luce for alpha = 1 - t^w (sympy, quadrature, Monte
Carlo of Algorithm 1); invariance and its breaking; the order-learning experiment; exact sampler laws as
mixtures over ordered partitions vs sims.exact.exact_sampler_law."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint, exact_sampler_law
from sims.languages import random_hmm, random_ngram
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, schedule_counts
from sims.schedules import (
    BetaCDFSchedule,
    ComposedSchedule,
    PerPositionSchedule,
    PolynomialSchedule,
    PowerPerPositionSchedule,
)
from theory.elbo import (
    continuous_elbo_quadrature,
    elbo_subset_form,
    subset_log_conditionals,
    subset_weights_quadrature,
    univariate_subset_weights,
)
from theory.orders import (
    ContextRestrictedDenoiser,
    all_orders,
    ancestral_exact_law,
    ar_losses,
    ascending_reading_elbo,
    composition_laws,
    compositions,
    expected_ar_losses,
    fixed_count_exact_law,
    learn_power_weights,
    order_index,
    order_mixture_elbo,
    order_probabilities,
    pairwise_before_probability,
    permuted_chain_log_joint,
    plackett_luce_law,
    plackett_luce_log_probs,
    plackett_luce_probability,
    power_subset_weights,
    sample_decoding_orders,
    subset_weights_from_order_law,
    sympy_power_order_probability,
)
from theory.orders.random_table import RandomTableDenoiser
from theory.orders.study import algorithm1_check, learn_hidden_order, quadrature_checks, tilt_curves

EXACT_RTOL = 1e-12
QUAD_RTOL = 1e-9
weights_st = st.lists(st.floats(0.2, 5.0), min_size=2, max_size=5)
rational_w = st.lists(
    st.fractions(min_value=Fraction(1, 4), max_value=4, max_denominator=6), min_size=2, max_size=4
)


# ---- Plackett-Luce -----------------------------------------------------------------------------------
@given(w=rational_w)
def test_plackett_luce_is_a_law_and_matches_power_subset_weights_exactly(w):
    """Exact rational arithmetic: sum_sigma PL = 1; the inclusion-exclusion W_l(S) of the power schedules equals
    the context law induced by PL; each row of W sums to 1."""
    L = len(w)
    probs = [plackett_luce_probability(o, w, exact=True) for o in all_orders(L)]
    assert sum(probs) == 1
    W = power_subset_weights(w, exact=True)
    from_pl = [[Fraction(0)] * 2**L for _ in range(L)]
    for p, order in zip(probs, all_orders(L)):
        S = 0
        for l in order:
            from_pl[l][S] += p
            S |= 1 << l
    assert W == from_pl
    assert all(sum(row) == 1 for row in W)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_plackett_luce_equals_sympy_integral_over_ordered_simplex(order):
    """P(tau_s1 > tau_s2 > tau_s3) with densities w t^(w-1): nested sympy integration (Eq. 7/25) = PL, exactly."""
    w = [sympy.Rational(1, 2), sympy.Rational(3, 2), sympy.Integer(3)]
    exact = sympy_power_order_probability(order, w)
    pl = plackett_luce_probability(order, [Fraction(1, 2), Fraction(3, 2), Fraction(3)], exact=True)
    assert sympy.simplify(exact - sympy.Rational(pl.numerator, pl.denominator)) == 0


@given(w=weights_st)
def test_pairwise_order_probability_by_quadrature(w):
    sched = PowerPerPositionSchedule(w)
    for i in range(len(w)):
        for j in range(len(w)):
            if i != j:
                val, err = pairwise_before_probability(sched, i, j)
                assert err < 1e-11
                assert val == pytest.approx(w[i] / (w[i] + w[j]), rel=QUAD_RTOL)


@settings(max_examples=8)
@given(w=st.lists(st.floats(0.2, 5.0), min_size=2, max_size=4))
def test_power_subset_weights_closed_form_vs_quadrature(w):
    L = len(w)
    sw = subset_weights_quadrature(PowerPerPositionSchedule(w), L)
    np.testing.assert_allclose(sw.weights, power_subset_weights(w), rtol=0, atol=1e-10)


def test_numeric_order_law_matches_plackett_luce_and_uniform():
    """The Stieltjes recursion (second order, 1e5 nodes): PL to 1e-8; a univariate Beta schedule: 1/L!."""
    w = [0.5, 1.0, 2.0, 3.5]
    np.testing.assert_allclose(
        order_probabilities(PowerPerPositionSchedule(w)), plackett_luce_law(w), rtol=0, atol=1e-8
    )
    uni = PerPositionSchedule.uniform(BetaCDFSchedule(0.9, 0.3), 4)
    np.testing.assert_allclose(order_probabilities(uni), 1 / 24, rtol=0, atol=1e-8)


def test_common_time_warp_leaves_the_order_law_unchanged():
    """m_l(t) = g(t)^(w_l) with one warp g (a Beta-CDF masked fraction): subset weights by quadrature equal the
    power closed form, which depends on w only."""
    w = [0.7, 1.5, 3.0]
    g = BetaCDFSchedule(0.6, 1.7)
    warped = PerPositionSchedule([ComposedSchedule(PolynomialSchedule(v), g) for v in w])
    sw = subset_weights_quadrature(warped, 3)
    np.testing.assert_allclose(sw.weights, power_subset_weights(w), rtol=0, atol=1e-10)
    scaled = [3 * v for v in w]  # only ratios matter (t -> t^3 is a common warp)
    np.testing.assert_allclose(power_subset_weights(scaled), power_subset_weights(w), rtol=1e-13)


# ---- ELBO = weighted AR losses --------------------------------------------------------------------------
@given(w=st.lists(st.floats(0.3, 4.0), min_size=3, max_size=4), seed=st.integers(0, 1000))
def test_eq8_quadrature_equals_plackett_luce_mixture_of_ar_losses(w, seed):
    """Garg Prop. 3.1: quadrature of Eq. 8 (whole integrand, one quad) = sum_sigma PL(sigma) AR_sigma = subset
    form, for an arbitrary inconsistent conditional table."""
    L = len(w)
    den = RandomTableDenoiser(2, seed)
    x = torch.as_tensor(np.random.default_rng(seed).integers(0, 2, size=(1, L)))
    G = subset_log_conditionals(den, x)
    mix = order_mixture_elbo(G, plackett_luce_law(w))
    np.testing.assert_allclose(mix, elbo_subset_form(G, power_subset_weights(w)), rtol=EXACT_RTOL)
    r = continuous_elbo_quadrature(den, x, PowerPerPositionSchedule(w))[0]
    assert r.value == pytest.approx(float(mix[0]), rel=QUAD_RTOL)


def test_general_per_position_schedule_decomposes_over_orders():
    """Mixed Beta/cosine/poly per-position schedule: quadrature subset form = numeric order law mixture (the
    order law's Stieltjes rule is second order: 1e-7 agreement)."""
    sched = PerPositionSchedule(["beta:0.9,0.3", "cosine", "beta:2,0.7"])
    den = RandomTableDenoiser(2, seed=3)
    x = torch.tensor([[0, 1, 1], [1, 1, 0]])
    G = subset_log_conditionals(den, x)
    W = subset_weights_quadrature(sched, 3)
    P = order_probabilities(sched)
    assert P.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(subset_weights_from_order_law(P, 3), W.weights, rtol=0, atol=1e-7)
    np.testing.assert_allclose(order_mixture_elbo(G, P), elbo_subset_form(G, W.weights), rtol=1e-7)


def test_invariance_holds_for_the_exact_model_and_breaks_for_imperfect_ones():
    """Schedules matter only for imperfect models: the oracle's NELBO is -log q(x) under uniform and power
    schedules alike; a perturbed oracle and a left-context model change by far more than rounding."""
    lang = random_ngram(2, 3, concentration=0.7, support_size=2, seed=11)
    lq = exact_log_joint(lang, 4)
    x = all_sequences(3, 4)[torch.isfinite(lq)]
    w = [4.0, 2.0, 1.0, 0.5]
    oracle = OracleDenoiser(lang)
    uni, power = univariate_subset_weights(4), power_subset_weights(w)
    Go = subset_log_conditionals(oracle, x)
    np.testing.assert_allclose(elbo_subset_form(Go, uni), elbo_subset_form(Go, power), rtol=EXACT_RTOL)
    q = torch.exp(lq[torch.isfinite(lq)])
    pert = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.5, uniform_mix=0.1)
    left = ContextRestrictedDenoiser(lq, 3, 4, [range(l) for l in range(4)])
    for den in (pert, left):
        G = subset_log_conditionals(den, x)
        d = float((q * (elbo_subset_form(G, uni) - elbo_subset_form(G, power))).sum())
        assert abs(d) > 1e-4  # 1e11 times the float64 rounding of these sums (the perturbed oracle: ~5e-4)
    # left-context model: decreasing w (left first) beats the uniform order law
    G = subset_log_conditionals(left, x)
    assert float((q * elbo_subset_form(G, power)).sum()) < float((q * elbo_subset_form(G, uni)).sum())


def test_literal_ascending_reading_disagrees_with_quadrature():
    """Eq. 5-7 read literally (ascending times, context pi(<i)) differs from the quadrature of Eq. 8 for a
    non-uniform order law; for the uniform law both readings coincide."""
    w = [0.5, 1.0, 2.0, 4.0]
    den = RandomTableDenoiser(2, seed=7)
    x = torch.tensor([[0, 1, 1, 0]])
    G = subset_log_conditionals(den, x)
    quad = continuous_elbo_quadrature(den, x, PowerPerPositionSchedule(w))[0].value
    P = plackett_luce_law(w)
    assert float(order_mixture_elbo(G, P)[0]) == pytest.approx(quad, rel=QUAD_RTOL)
    assert abs(float(ascending_reading_elbo(G, P)[0]) - quad) > 1e-2
    U = np.full(24, 1 / 24)
    np.testing.assert_allclose(ascending_reading_elbo(G, U), order_mixture_elbo(G, U), rtol=EXACT_RTOL)


# ---- Algorithm 1 ----------------------------------------------------------------------------------------
def test_algorithm_1_samples_plackett_luce_orders():
    """40000 orders from Algorithm 1 (float64 uniforms, seed 0): chi-square goodness of fit against PL over all
    24 orders (p > 1e-3), and pairwise frequencies within 4 standard errors of w_i/(w_i+w_j)."""
    w = [0.5, 1.0, 2.0, 3.5]
    n = 40_000
    orders = sample_decoding_orders(PowerPerPositionSchedule(w), n, make_generator(0))
    counts = torch.bincount(order_index(orders, 4), minlength=24).numpy()
    expected = plackett_luce_law(w) * n
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    rank = torch.argsort(orders, dim=1)  # rank[b, l] = decoding step of position l
    for i, j in ((0, 3), (1, 2), (3, 0)):
        p = w[i] / (w[i] + w[j])
        freq = float((rank[:, i] < rank[:, j]).double().mean())
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_order_index_is_lexicographic_rank():
    orders = torch.tensor(all_orders(4))
    assert torch.equal(order_index(orders, 4), torch.arange(24))


# ---- the order-learning experiment ---------------------------------------------------------------------
def _chain(L=4, V=3, seed=5):
    lang = random_ngram(2, V, concentration=0.5, support_size=2, seed=seed)
    return lang, exact_log_joint(lang, L)


def test_left_to_right_ar_loss_of_left_context_model_is_entropy():
    """The left-context model decoded left to right uses q(x_l | x_<l): AR loss = -log q(x) exactly."""
    _lang, lq = _chain()
    ok = torch.isfinite(lq)
    x = all_sequences(3, 4)[ok]
    den = ContextRestrictedDenoiser(lq, 3, 4, [range(l) for l in range(4)])
    A = ar_losses(subset_log_conditionals(den, x))
    np.testing.assert_allclose(A[:, all_orders(4).index((0, 1, 2, 3))], -lq[ok], rtol=EXACT_RTOL)


@pytest.mark.parametrize("hidden", [(0, 1, 2, 3), (2, 0, 3, 1)])
def test_learned_weights_recover_the_preferred_order(hidden):
    """A model that only knows the conditionals of a chain along a hidden order (an AR model trained in that
    order): minimizing the exact E_q NELBO over PL weights puts the most mass on the hidden order, and the
    NELBO goes from the uniform-order value down towards H(q) (never below)."""
    L, V = 4, 3
    lang, base = _chain(L, V)
    lq = permuted_chain_log_joint(base, V, L, hidden)
    ok = torch.isfinite(lq)
    x = all_sequences(V, L)[ok]
    vis = [[hidden[j] for j in range(hidden.index(l))] for l in range(L)]
    den = ContextRestrictedDenoiser(lq, V, L, vis)
    m = expected_ar_losses(subset_log_conditionals(den, x), torch.exp(lq[ok]))
    H = lang.entropy(L)
    assert float(m.min()) == pytest.approx(H, rel=1e-12)
    assert all_orders(L)[int(m.argmin())] == hidden
    res = learn_power_weights(m, L, steps=150, lr=0.1)
    first, last = res.history[0]["elbo"], res.history[-1]["elbo"]
    assert first == pytest.approx(float(m.mean()), rel=1e-12)
    assert H - 1e-12 <= last < first - 0.2
    assert res.top_orders(1)[0][0] == hidden
    assert res.top_orders(1)[0][1] > 0.5


def test_permuted_chain_log_joint():
    _lang, base = _chain(3, 2)
    order = (2, 0, 1)
    lq = permuted_chain_log_joint(base, 2, 3, order)
    seqs = all_sequences(2, 3)
    assert float(torch.logsumexp(lq, 0)) == pytest.approx(0.0, abs=1e-14)
    for k, x in enumerate(seqs):
        y = x[list(order)]
        assert float(lq[k]) == float(base[int((y * torch.tensor([4, 2, 1])).sum())])


def test_plackett_luce_log_probs_autograd_matches_float():
    w = torch.tensor([0.3, -0.2, 1.1], dtype=torch.float64)
    O = torch.tensor(all_orders(3))
    np.testing.assert_allclose(
        torch.exp(plackett_luce_log_probs(w, O)).numpy(), plackett_luce_law(torch.exp(w).tolist()), rtol=1e-14
    )


# ---- context-restricted denoiser --------------------------------------------------------------------------
def test_context_restricted_with_full_view_is_the_oracle():
    lang = random_hmm(2, 2, seed=3)
    lq = exact_log_joint(lang, 3)
    full = ContextRestrictedDenoiser(lq, 2, 3, [[j for j in range(3) if j != l] for l in range(3)])
    ref = BruteForceDenoiser(lq, 2, 3)
    x = torch.tensor([[2, 2, 2], [0, 2, 1], [2, 1, 2], [1, 0, 2]])
    np.testing.assert_allclose(full(x).log_probs, ref(x).log_probs, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError):
        ContextRestrictedDenoiser(lq, 2, 3, [[0], [], []])  # position 0 cannot see itself
    with pytest.raises(ValueError):
        ContextRestrictedDenoiser(lq, 2, 3, [[], []])


# ---- exact sampler laws via ordered partitions ------------------------------------------------------------
def test_composition_law_masses_count_ordered_partitions():
    den = RandomTableDenoiser(2, seed=1)
    G = subset_log_conditionals(den, all_sequences(2, 4))
    laws = composition_laws(G)
    assert set(laws) == set(compositions(4)) and len(laws) == 8
    for comp, A in laws.items():
        count = math.factorial(4) / math.prod(math.factorial(c) for c in comp)
        assert float(A.sum()) == pytest.approx(count, rel=1e-12)


@pytest.mark.parametrize("V,L", [(2, 4), (3, 3)])
@pytest.mark.parametrize("spec", ["linear", "cosine", "beta:0.9,0.3", "beta:0.3,0.9"])
def test_partition_laws_equal_exact_sampler_law(V, L, spec):
    """Mixture over ordered partitions = sims.exact.exact_sampler_law (plain enumeration of the sampler kernels)
    for the MDLM ancestral sampler and the random-order fixed-count sampler with schedule counts."""
    lang = random_ngram(2, V, concentration=0.7, support_size=V - 1, seed=4)
    den = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.3, uniform_mix=0.05)
    laws = composition_laws(subset_log_conditionals(den, all_sequences(V, L)))
    for K in (1, 2, 3):
        ours = ancestral_exact_law(laws, spec, K, L)
        ref = exact_sampler_law(AncestralSampler(K, schedule=spec), den, L).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-15)
        ours = fixed_count_exact_law(laws, schedule_counts(L, K, spec))
        ref = exact_sampler_law(FixedCountSampler(K, count_rule="schedule", schedule=spec), den, L).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-15)


def test_energy_paper_toy_experiment_regression():
    """EP Fig. 4 / App. E.6 toy (n = 5, d = 2, 3 steps, exact conditionals): P(legal sample) for the two targets.
    The expected numbers are the exact values in the project's research notes (energy_and_order.md, Sec. 1.6),
    computed there by an independent script; the paper itself only shows histograms."""
    seqs = all_sequences(2, 5)
    n_a = (seqs == 0).sum(1)
    targets = {"extremes": (n_a == 0) | (n_a == 5), "two_or_three": (n_a == 2) | (n_a == 3)}
    expected_count = {"extremes": [0.500, 1.000, 1.000, 1.000], "two_or_three": [0.903, 0.936, 0.691, 0.936]}
    expected_bernoulli_extremes = [0.595, 0.612, 0.613]
    specs = ["linear", "sin2", "beta:0.9,0.3", "beta:2,2"]
    from theory.elbo import exact_subset_log_conditionals

    for name, sup in targets.items():
        lq = torch.log(sup.double() / sup.sum())
        laws = composition_laws(exact_subset_log_conditionals(lq, 2, 5))
        legal = sup.numpy()
        for spec, want in zip(specs, expected_count[name]):
            got = float(fixed_count_exact_law(laws, schedule_counts(5, 3, spec))[legal].sum())
            assert round(got, 3) == want
        if name == "extremes":
            for spec, want in zip(specs[:3], expected_bernoulli_extremes):
                assert round(float(ancestral_exact_law(laws, spec, 3, 5)[legal].sum()), 3) == want


# ---- the figure computations (theory.orders.study) ---------------------------------------------------------
def test_study_functions_on_small_cases():
    lang, lq = _chain()
    x = all_sequences(3, 4)[torch.isfinite(lq)]
    curves = tilt_curves(lang, 4, {"oracle": OracleDenoiser(lang)}, [-1.0, 0.0, 1.0])
    assert np.ptp(curves["oracle"]) < 1e-12 and curves["oracle"][1] == pytest.approx(
        lang.entropy(4), rel=1e-12
    )
    assert x.shape[0] > 0
    (case,) = quadrature_checks(1, seed=3)
    assert case["quadrature"] == pytest.approx(case["pl_mixture"], rel=QUAD_RTOL)
    assert abs(case["quadrature"] - case["literal_ascending_reading"]) > 1e-3
    alg = algorithm1_check([0.5, 1.0, 2.0], 4000, make_generator(1))
    assert sum(alg["counts"]) == 4000 and alg["chi_square_p_value"] > 1e-3
    assert alg["pairwise"]["0<2"]["plackett_luce"] == pytest.approx(0.2)
    res = learn_hidden_order(lang, 4, (2, 0, 3, 1), steps=60, lr=0.1)
    assert res["history"][-1]["elbo"] < res["uniform_order_elbo"]
    assert res["best_single_order"] == [2, 0, 3, 1]
    np.testing.assert_allclose(
        np.array(res["pairwise_before"]) + np.array(res["pairwise_before"]).T, 1 - np.eye(4), atol=1e-12
    )
