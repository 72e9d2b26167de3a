"""Metrics: estimators vs scipy, exact-law identities, teacher forcing = chain rule."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages import NGramLanguage, random_hmm
from sims.metrics import (
    evaluate_samples,
    exact_law_metrics,
    mean_estimate,
    order_conditional_data_nll,
    order_conditional_excess_nll,
    position_kl,
    proportion_estimate,
    teacher_forced_log_likelihood,
)
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.stats import coverage_pvalue
from sims.validation import InvalidArgumentError, InvalidTypeError, NumericalError, SizeLimitError
from tests.strategies import tiny_languages


def test_mean_estimate_matches_scipy():
    x = torch.tensor(np.random.default_rng(0).normal(size=50))
    est = mean_estimate(x, level=0.9)
    lo, hi = stats.t.interval(0.9, 49, loc=float(x.mean()), scale=stats.sem(x.numpy()))
    assert est.ci_low == pytest.approx(lo) and est.ci_high == pytest.approx(hi)
    assert math.isinf(mean_estimate(torch.tensor([1.0, math.inf])).mean)
    with pytest.raises(ValueError, match="NaN"):
        mean_estimate(torch.tensor([1.0, math.nan]))


@pytest.mark.parametrize("k, n", [(0, 20), (3, 20), (20, 20), (37, 1000)])
def test_wilson_interval_matches_scipy(k, n):
    est = proportion_estimate(k, n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert est.ci_low == pytest.approx(ci.low, abs=1e-12) and est.ci_high == pytest.approx(ci.high, abs=1e-12)
    with pytest.raises(ValueError):
        proportion_estimate(5, 3)


@pytest.mark.parametrize("misses, n, level", [(0, 7, 0.95), (3, 30, 0.95), (5, 10, 0.9), (30, 30, 0.95)])
def test_coverage_pvalue_is_the_binomial_tail_by_enumeration(misses, n, level):
    """P(at least `misses` of n independent intervals miss), summed over the binomial law term by term."""
    q = 1 - level
    tail = sum(math.comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(misses, n + 1))
    assert coverage_pvalue(misses, n, level) == pytest.approx(tail, rel=1e-12)
    with pytest.raises(ValueError, match="misses"):
        coverage_pvalue(n + 1, n)


def test_evaluate_samples_counts_errors_and_nll():
    lang = NGramLanguage(2, 2, [0.5, 0.5], [[0.2, 0.8], [1.0, 0.0]])
    x = torch.tensor([[0, 1, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0]])
    q = evaluate_samples(lang, x)
    assert q.sequence_error.successes == 1
    assert math.isinf(q.gen_perplexity)
    lp = lang.log_prob(x[[0, 2]])
    assert q.gen_nll_per_token_in_support.mean == pytest.approx(float((-lp / 4).mean()))
    assert q.token_error_rate.mean == pytest.approx((0 + 1 / 4 + 0) / 3)


@given(tiny_languages(), st.integers(0, 2), st.integers(1, 3))
def test_exact_law_metric_identities(lang, extra, K):
    L = lang.min_length() + extra
    log_q = exact_log_joint(lang, L)
    law = exact_sampler_law(AncestralSampler(K), OracleDenoiser(lang, on_impossible="uniform"), L)
    m = exact_law_metrics(log_q, law, L)
    assert m.kl_data_to_sampler >= -1e-12 and m.kl_sampler_to_data >= -1e-12
    if math.isfinite(m.data_nll_per_token):
        assert m.data_nll_per_token - m.entropy_per_token == pytest.approx(
            m.kl_data_to_sampler / L, abs=1e-10
        )
    if m.sequence_error > 0:
        assert math.isinf(m.gen_nll_per_token) and math.isinf(m.kl_sampler_to_data)
    else:
        p = law[law > 0]
        h_p = float(-(p * p.log()).sum())
        assert m.gen_nll_per_token == pytest.approx((h_p + m.kl_sampler_to_data) / L, abs=1e-10)


@given(tiny_languages(), st.integers(0, 3), st.integers(0, 10**6))
def test_teacher_forcing_with_one_token_per_step_is_the_chain_rule(lang, extra, seed):
    """sum_k log q(x_{pi_k} | x_{pi_<k}) = log q(x) for every order pi."""
    L = lang.min_length() + extra
    g = make_generator(seed)
    x = lang.sample(16, L, g)
    order = torch.argsort(torch.rand(16, L, generator=g), dim=1)
    steps = torch.argsort(order, dim=1)
    tf = teacher_forced_log_likelihood(OracleDenoiser(lang), x, steps)
    assert torch.allclose(tf, lang.log_prob(x), rtol=1e-10, atol=1e-10)


def test_order_conditional_data_nll_is_entropy_at_one_token_per_step_and_larger_otherwise():
    lang = random_hmm(3, 3, transition_concentration=0.4, seed=5)
    L = 6
    o = OracleDenoiser(lang, on_impossible="uniform")
    h = lang.entropy(L) / L
    one = order_conditional_data_nll(lang, o, FixedCountSampler(L), L, 4000, make_generator(0))
    # same x and orders: the estimate is E[-log q(x)]/L, unbiased for H/L
    assert abs(one.mean - h) < 5 * one.stderr
    two = order_conditional_data_nll(lang, o, FixedCountSampler(2), L, 4000, make_generator(0))
    assert two.mean > one.mean


def test_position_kl():
    lp = torch.log(torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64))
    lr = torch.log(torch.tensor([[0.25, 0.5, 0.25]], dtype=torch.float64))
    assert float(position_kl(lp, lr)) == pytest.approx(0.5 * math.log(2))


def _raises(err, match, fn):
    with pytest.raises(err, match=match):
        fn()


def test_metrics_check_their_arguments():
    """Junk to the metrics raises the suite's errors naming the argument (was: AttributeError deep inside),
    and a NaN law is refused (was: NaN or finite-looking metrics)."""
    lang = NGramLanguage(2, 2, [0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]])
    x, g = lang.sample(4, 3, make_generator(0)), make_generator(0)
    oracle, log_q = OracleDenoiser(lang), exact_log_joint(lang, 3)
    law = exact_sampler_law(FixedCountSampler(3), oracle, 3)
    _raises(InvalidTypeError, "language", lambda: evaluate_samples("ngram2", x))
    _raises(InvalidTypeError, "tokens", lambda: evaluate_samples(lang, "x"))
    _raises(InvalidTypeError, "nfe", lambda: evaluate_samples(lang, x, nfe="a"))
    _raises(InvalidArgumentError, "nfe", lambda: evaluate_samples(lang, x, nfe=torch.ones(3)))
    _raises(
        InvalidArgumentError,
        "optimal_nll_per_token",
        lambda: evaluate_samples(lang, x, optimal_nll_per_token=math.nan),
    )
    _raises(InvalidTypeError, "language", lambda: exact_log_joint("ngram2", 3))
    _raises(SizeLimitError, "exact_log_joint", lambda: exact_log_joint(lang, 23))
    for bad in (torch.full_like(law, math.nan), law * 2, -law):
        _raises(NumericalError, "law", lambda: exact_law_metrics(log_q, bad, 3))  # noqa: B023
    _raises(NumericalError, "log_q", lambda: exact_law_metrics(log_q + 1.0, law, 3))
    _raises(InvalidArgumentError, "same", lambda: exact_law_metrics(log_q[:4], law, 3))
    _raises(InvalidTypeError, "log_q", lambda: exact_law_metrics("q", law, 3))
    assert exact_law_metrics(log_q, law, 3).kl_data_to_sampler >= 0
    args = (lang, oracle, AncestralSampler(3), 3, 8, g)
    for i, name, junk in [
        (1, "denoiser", "oracle"),
        (2, "sampler", None),
        (3, "length", 0),
        (4, "num_samples", -1),
    ]:
        bad_args = (*args[:i], junk, *args[i + 1 :])
        with pytest.raises((InvalidTypeError, InvalidArgumentError), match=name):
            order_conditional_excess_nll(*bad_args)
    _raises(InvalidTypeError, "generator", lambda: order_conditional_data_nll(*args[:5], 0))
    _raises(
        InvalidArgumentError,
        "value-independent",
        lambda: order_conditional_data_nll(lang, oracle, FixedCountSampler(3, score="max_prob"), 3, 8, g),
    )
