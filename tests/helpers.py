"""Shared test helpers: chi-square goodness of fit against an exact law (with its power), test denoisers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize, stats

from sims.categorical import make_generator, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.denoisers.point_mass import PointMassDenoiser  # noqa: F401 (re-exported for the tests)
from sims.enumeration import sequence_index

#: Monte Carlo agreement is rejected below this p-value (fixed seeds, so a test is deterministic).
P_MIN = 1e-3


def chi_square_pvalue(
    tokens: torch.Tensor, law: torch.Tensor, vocab_size: int, min_expected: float = 5.0
) -> float:
    """p-value of Pearson's chi-square test of sampled sequences against the exact law over V**L.

    Bins with expected count below ``min_expected`` are pooled into one bin. A sample landing on a
    sequence of exact probability zero returns 0.0 (an impossible outcome is a hard failure).
    """
    n = tokens.shape[0]
    counts = torch.bincount(sequence_index(tokens.cpu(), vocab_size), minlength=law.numel()).double()
    law = law.double().cpu()
    if bool((counts[law == 0] > 0).any()):
        return 0.0
    expected = law * n
    big = expected >= min_expected
    obs = counts[big].tolist()
    exp = expected[big].tolist()
    rest_obs, rest_exp = float(counts[~big].sum()), float(expected[~big].sum())
    if rest_exp > 0:
        obs.append(rest_obs)
        exp.append(rest_exp)
    if len(obs) < 2:
        return 1.0
    obs, exp = np.array(obs), np.array(exp)
    exp = exp * obs.sum() / exp.sum()
    return float(stats.chisquare(obs, exp).pvalue)


@dataclass
class ChiSquare:
    """A grouped Pearson chi-square test: its p-value and number of cells (df = cells - 1)."""

    pvalue: float
    cells: int


def grouped_chi_square(
    tokens: torch.Tensor, law: torch.Tensor, vocab_size: int, min_expected: float = 5.0
) -> ChiSquare:
    """Pearson chi-square of sampled sequences against an exact law; cells are accumulated in order of
    increasing expected count until each has at least ``min_expected``.

    Returns p-value 0 if any sample falls where the law is exactly zero.
    """
    n = tokens.shape[0]
    idx = sequence_index(tokens.cpu(), vocab_size)
    counts = torch.bincount(idx, minlength=law.numel()).double().numpy()
    p = law.double().cpu().numpy()
    if counts[p <= 0].sum() > 0:
        return ChiSquare(0.0, 0)
    exp = p * n
    order = np.argsort(exp)
    obs_b, exp_b, acc_o, acc_e = [], [], 0.0, 0.0
    for i in order:
        if p[i] <= 0:
            continue
        acc_o += counts[i]
        acc_e += exp[i]
        if acc_e >= min_expected:
            obs_b.append(acc_o)
            exp_b.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        if exp_b:
            obs_b[-1] += acc_o
            exp_b[-1] += acc_e
        else:
            obs_b.append(acc_o)
            exp_b.append(acc_e)
    if len(exp_b) < 2:
        return ChiSquare(1.0, len(exp_b))
    exp_b = np.array(exp_b)
    obs_b = np.array(obs_b)
    exp_b *= obs_b.sum() / exp_b.sum()
    return ChiSquare(float(stats.chisquare(obs_b, exp_b).pvalue), len(exp_b))


def grouped_chi_square_pvalue(
    tokens: torch.Tensor, law: torch.Tensor, vocab_size: int, min_expected: float = 5.0
) -> float:
    """p-value of :func:`grouped_chi_square`."""
    return grouped_chi_square(tokens, law, vocab_size, min_expected).pvalue


def detectable_total_variation(n: int, cells: int, p_min: float = P_MIN, power: float = 0.99) -> float:
    r"""Smallest total variation (on the pooled cells) that the test rejects with probability >= ``power``.

    Under an alternative q the Pearson statistic is asymptotically non-central chi-square with ``cells - 1``
    degrees of freedom and non-centrality :math:`\lambda = n \sum (q - p)^2 / p \ge 4 n\, TV(p, q)^2`
    (Cauchy-Schwarz), so every alternative with :math:`TV \ge \sqrt{\lambda^*/(4n)}` is detected with at
    least that power, :math:`\lambda^*` being the non-centrality at which the power reaches ``power``.
    """
    df = max(cells - 1, 1)
    crit = stats.chi2.isf(p_min, df)
    lam = optimize.brentq(lambda v: stats.ncx2.sf(crit, df, v) - power, 1e-9, 1e7)
    return math.sqrt(lam / (4 * n))


#: Total variation every Monte Carlo law check must detect with power 0.99 at level :data:`P_MIN`.
DETECTABLE_TV = 0.05


def assert_samples_follow(tokens: torch.Tensor, law: torch.Tensor, vocab_size: int) -> None:
    """``law`` is a law, and the sampled rows ``tokens`` pass the grouped chi-square against it at a sample
    size that detects :data:`DETECTABLE_TV` (the suite's Monte Carlo check of an exact law)."""
    assert abs(float(law.sum()) - 1) < 1e-12 and float(law.min()) >= 0
    test = grouped_chi_square(tokens, law, vocab_size)
    assert test.pvalue > P_MIN
    assert detectable_total_variation(tokens.shape[0], test.cells) <= DETECTABLE_TV


def oracle_fallback(oracle: Denoiser):
    """The ``fallback(tokens) -> (log_probs, impossible)`` a tree or walk session is built with."""

    def fallback(tokens):
        out = oracle.predict(tokens)
        return out.log_probs, out.impossible

    return fallback


def session_error(
    sess, oracle: Denoiser, shape, steps: int, seed: int, pick=None, check_called=False
) -> float:
    """Drive an incremental oracle session beside the full oracle: at every step the queried positions
    are revealed (values drawn from the session's laws, or ``pick(k, log_probs)`` when it returns a
    tensor), the impossibility flags must equal the full pass's (and, with ``check_called``, the called
    rows the queried ones); returns the largest absolute difference of the marginals."""
    g = make_generator(seed)
    x = torch.full(tuple(shape), oracle.vocab_size, dtype=torch.long)
    err = 0.0
    for k in range(steps):
        q = sess.query(k)
        if q.rows.numel():
            full = oracle(x)
            ref = full.log_probs[q.rows, q.positions]
            err = max(err, float((q.log_probs.exp() - ref.exp()).abs().max()))
            assert torch.equal(q.impossible[q.rows], full.impossible[q.rows])
            if check_called:
                assert torch.equal(q.called, torch.zeros_like(q.called).index_fill_(0, q.rows, True))
        values = sample_from_log_probs(q.log_probs, g)
        chosen = None if pick is None else pick(k, q.log_probs)
        values = values if chosen is None else chosen
        sess.reveal(values)
        x[q.rows, q.positions] = values
    return err


class CountingDenoiser(Denoiser):
    """Wraps a denoiser and counts the rows it is called on (``rows``) and the calls (``calls``); the passes
    beyond the marginals that the inner denoiser offers are forwarded and counted apart (``pass_rows``,
    ``pass_calls``: one call per row, :data:`sims.denoisers.passes.PASS_CONVENTIONS`)."""

    def __init__(self, inner: Denoiser):
        self.inner = inner
        self.vocab_size = inner.vocab_size
        self.time_conditioned = inner.time_conditioned
        self.rows = 0
        self.calls = 0
        self.pass_rows = 0
        self.pass_calls = 0

    def predict(self, tokens, t=None):
        self.rows += tokens.shape[0]
        self.calls += 1
        return self.inner(tokens, t)

    def passes(self):
        return self.inner.passes()

    def _count_pass(self, tokens):
        self.pass_rows += tokens.shape[0]
        self.pass_calls += 1

    def leave_one_out(self, tokens):
        self._count_pass(tokens)
        return self.inner.leave_one_out(tokens)

    def draft_log_prob(self, tokens, draft, chain_rule=False, laws=False):
        self._count_pass(tokens)
        return self.inner.draft_log_prob(tokens, draft, chain_rule=chain_rule, laws=laws)

    def lookahead(self, states):
        self._count_pass(states)
        return self.inner.lookahead(states)

    def eos_token(self):
        return self.inner.eos_token()
