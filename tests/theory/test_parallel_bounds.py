"""Exact checks of the EB-sampler and Fast-dLLM parallel-decoding bounds (theory/parallel_bounds.py).

References: brute-force enumeration of random small joints (hypothesis) and of tiny languages; the EB
identity is compared against the sampler's exact law from sims.exact.exact_sampler_law.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import BruteForceDenoiser, exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.formal import parity_language
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from tests.strategies import tiny_hmms, tiny_ngrams
from theory.parallel_bounds import (
    JointTable,
    binary_entropy,
    eb_certificate,
    entropy,
    fast_dllm_kl_bound,
    fast_dllm_kl_bound_applies,
    fast_dllm_kl_counterexample,
    fast_dllm_lp_bound,
    fast_dllm_tightness_joint,
    fast_dllm_tv_bound,
    marginals,
    product_of_marginals,
    replay_deterministic,
    theorem1_check,
    total_correlation,
)

TOL = 1e-10


def close(a, b, rel=TOL, abs_=1e-12):
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


@st.composite
def random_joints(draw, max_n=3, max_v=4):
    n = draw(st.integers(2, max_n))
    V = draw(st.integers(2, max_v))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    conc = draw(st.sampled_from([0.05, 0.3, 1.0]))
    j = rng.dirichlet(np.full(V**n, conc)).reshape((V,) * n)
    return j


@st.composite
def peaked_joints(draw, max_n=3, max_v=4):
    """Joints with a dominant sequence x* (mass w) plus Dirichlet noise: the regime of Theorem 1."""
    j = draw(random_joints(max_n, max_v))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x_star = tuple(int(v) for v in rng.integers(0, j.shape[0], size=j.ndim))
    w = draw(st.floats(0.3, 0.999))
    out = (1 - w) * j
    out[x_star] += w
    return out / out.sum()


# ---- elementary identities -----------------------------------------------------------------------
def test_total_correlation_known_values():
    assert total_correlation(np.full((2, 2), 0.25)) == 0.0
    assert close(total_correlation(fast_dllm_kl_counterexample()), math.log(2))
    assert close(binary_entropy(0.5), math.log(2))
    with pytest.raises(ValueError):
        total_correlation(np.array([0.5, 0.6]))
    with pytest.raises(ValueError):
        binary_entropy(1.5)


@given(random_joints())
def test_tc_is_sum_of_entropies_minus_joint_entropy_and_below_eb_certificate(j):
    h = [entropy(m) for m in marginals(j)]
    tc = total_correlation(j)
    assert close(tc, sum(h) - entropy(j), abs_=1e-11)
    assert tc >= -1e-15
    assert tc <= eb_certificate(h) + 1e-12  # H(joint) >= max marginal entropy
    assert close(product_of_marginals(j).sum(), 1.0)


# ---- Fast-dLLM Theorem 1 -------------------------------------------------------------------------
@settings(max_examples=200)
@given(peaked_joints())
def test_fast_dllm_theorem1_on_random_joints(j):
    c = theorem1_check(j)
    n, V = c.n, c.vocab_size
    # smallest eps with p_j(x*_j) > 1 - eps for every j
    eps = c.eps_min * (1 + 1e-9) + 1e-15
    if (n + 1) * eps <= 1:
        assert c.greedy_equal and c.joint_argmax_unique
    assert c.tv < fast_dllm_tv_bound(n, eps)
    assert c.l2 < fast_dllm_lp_bound(n, eps, 2)
    if fast_dllm_kl_bound_applies(eps, V):
        assert c.kl < fast_dllm_kl_bound(n, eps, V)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_fast_dllm_tightness_construction(n):
    for eps in [1 / (n + 1) + 1e-3, 1 / (n + 1) + 0.5 / (n * (n + 1))]:
        j = fast_dllm_tightness_joint(n, eps)
        assert close(j.sum(), 1.0)
        c = theorem1_check(j)
        assert all(m[0] > 1 - eps for m in marginals(j))  # the marginal assumption holds at x* = 0
        assert c.argmax_joint != (0,) * n  # ... but x* is not the joint's argmax
        if n >= 2:  # eps <= 1/2: x* is the argmax of the product, so greedy parallel != greedy joint
            assert c.x_star == (0,) * n and not c.greedy_equal
    with pytest.raises(ValueError):
        fast_dllm_tightness_joint(n, 1 / (n + 1))


def test_fast_dllm_kl_bound_fails_beyond_its_monotone_range():
    """Our finding: the KL bound needs eps <= (V-1)/V; two correlated fair bits violate it beyond."""
    j = fast_dllm_kl_counterexample()
    tc = total_correlation(j)
    for eps in [0.51, 0.7, 0.9, 0.99]:
        assert all(m.max() > 1 - eps for m in marginals(j))
        assert not fast_dllm_kl_bound_applies(eps, 2)
        assert tc > fast_dllm_kl_bound(2, eps, 2)
    assert fast_dllm_kl_bound_applies(0.5, 2)


def test_fast_dllm_bounds_reject_bad_input():
    with pytest.raises(ValueError):
        fast_dllm_kl_bound(0, 0.1, 4)
    with pytest.raises(ValueError):
        fast_dllm_lp_bound(2, 0.1, 0.5)


# ---- conditional joints ---------------------------------------------------------------------------
@given(tiny_ngrams(max_vocab=3, max_order=2))
def test_joint_table_conditionals_match_brute_force_marginals(lang):
    V, L = lang.vocab_size, 4
    lj = exact_log_joint(lang, L)
    table = JointTable(lj, V, L)
    bf = BruteForceDenoiser(lj, V, L)
    x = lang.sample(1, L, torch.Generator().manual_seed(0))[0].tolist()
    for revealed in itertools.combinations(range(L), 2):
        state = tuple(x[i] if i in revealed else V for i in range(L))
        lp = bf(torch.tensor([state])).log_probs[0]
        masked = [i for i in range(L) if i not in revealed]
        joint = table.conditional(state, tuple(masked))
        for axis, pos in enumerate(masked):
            m = marginals(joint)[axis]
            assert np.allclose(m, torch.exp(lp[pos]).numpy(), atol=1e-12)


# ---- the EB identity with the oracle ------------------------------------------------------------
def _check_identity(sampler, lang, L, denoiser=None):
    V = lang.vocab_size
    lj = exact_log_joint(lang, L)
    den = denoiser or OracleDenoiser(lang, on_impossible="uniform")
    dec = replay_deterministic(sampler.select_positions, lj, den, V, L)
    law = exact_sampler_law(sampler, den, L)
    assert torch.allclose(dec.law, law, atol=1e-13, rtol=0)
    kl = kl_divergence(torch.exp(lj), law)
    assert close(dec.kl, kl, abs_=1e-12)
    assert close(kl, dec.expected_tc + dec.expected_model_error, abs_=1e-12)
    return dec, kl


@settings(max_examples=12)
@given(
    st.one_of(tiny_ngrams(max_vocab=3, max_order=2), tiny_hmms(max_states=3, max_vocab=3)),
    st.sampled_from([0.0, 0.05, 0.3, 1.0, 3.0, math.inf]),
    st.sampled_from(["entropy", "max_prob", "margin"]),
)
def test_eb_kl_equals_expected_total_correlation_and_is_bounded(lang, gamma, score):
    L = 4
    dec, kl = _check_identity(EBSampler(gamma, score, tie_break="lowest_index"), lang, L)
    assert abs(dec.expected_model_error) < 1e-12  # oracle: no model error
    assert close(kl, dec.expected_tc, abs_=1e-12)
    # paper's bound (TC <= sum H - max H at every step), then the gamma budget
    assert dec.max_step_tc_minus_eb_data <= 1e-12
    assert kl <= dec.expected_eb_certificate_data + 1e-12
    assert close(dec.expected_eb_certificate, dec.expected_eb_certificate_data, abs_=1e-12)
    if math.isfinite(gamma):
        assert dec.max_step_eb_certificate <= gamma + 1e-12
        assert kl <= gamma * dec.expected_steps + 1e-12
    if gamma == 0.0:
        assert kl < 1e-12  # one token per step (zero-entropy ties are free): exact


def test_eb_identity_on_parity_reports_a_strict_inequality_chain():
    lang = parity_language()
    dec, kl = _check_identity(EBSampler(0.8, "entropy", tie_break="lowest_index"), lang, 4)
    # two free bits first (TC 0, certificate ln 2), then the last two together (TC = certificate = ln 2)
    assert close(kl, math.log(2))
    assert close(dec.expected_eb_certificate_data, 2 * math.log(2))
    assert close(dec.expected_steps, 2.0)
    assert kl < dec.expected_eb_certificate_data < 0.8 * dec.expected_steps


@settings(max_examples=8)
@given(tiny_ngrams(max_vocab=3, max_order=2), st.sampled_from([0.0, 0.2, 1.0]))
def test_eb_decomposition_with_model_error_is_an_identity(lang, gamma):
    """Deterministic rule + imperfect denoiser: KL(q||p) = E sum TC + E sum KL(q_l || p_l) exactly."""
    den = PerturbedDenoiser(OracleDenoiser(lang, on_impossible="uniform"), temperature=1.3, uniform_mix=0.1)
    dec, _kl = _check_identity(EBSampler(gamma, "entropy", tie_break="lowest_index"), lang, 4, den)
    assert dec.expected_model_error > 0


@settings(max_examples=10)
@given(
    st.one_of(tiny_ngrams(max_vocab=3, max_order=2), tiny_hmms(max_states=3, max_vocab=3)),
    st.sampled_from(["threshold", "factor"]),
    st.sampled_from([0.5, 0.7, 0.9]),
)
def test_fast_dllm_kl_identity_and_theorem1_certificate(lang, rule, level):
    s = FastDLLMSampler(rule, threshold=level, factor=2 * (1 - level) + 0.2, tie_break="lowest_index")
    dec, kl = _check_identity(s, lang, 4)
    assert close(kl, dec.expected_tc, abs_=1e-12)
    assert dec.max_step_tc_minus_fast_dllm <= 1e-12
    assert kl <= dec.expected_fast_dllm_bound + 1e-12
