"""The sparse token-chain engine against brute-force enumeration and the dense engines.

References: posteriors by explicit summation over all V**L sequences of the joint computed by direct
table look-ups (no chain code), and, for larger cases, the dense reference log engine on the same
language written as a dense order-2 n-gram. Tolerances: every engine is exact to rounding with a relative
error growing at most linearly in the number of chain steps (``tolerance_log`` of test_chain.py); float32
is compared with 1e-4 (float32 relative rounding 6e-8 times at most a few hundred steps, far below).
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
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.inference import (
    forward_backward,
    forward_backward_log,
    forward_log_evidence,
    resolve_method,
    token_posteriors,
)
from sims.inference.sparse_ops import dense_columns, dense_transition, entries, log_backward, log_forward
from sims.inference.sparse_ops import sparse_operator as sparse_op
from sims.languages import SparseBigramLanguage, random_hmm, random_sparse_bigram
from sims.validation import InvalidDistributionError
from tests.sims.test_chain import tolerance_log


@st.composite
def sparse_bigrams(draw, max_vocab: int = 4):
    """Random top-K + teleport bigrams with exact zeros anywhere: in S, in the teleport weights, in the
    teleport law and in the initial law."""
    V = draw(st.integers(2, max_vocab))
    K = draw(st.integers(1, V))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    idx = np.stack([rng.choice(V, size=K, replace=False) for _ in range(V)])
    vals = rng.dirichlet(np.full(K, draw(st.sampled_from([0.3, 1.0, 3.0]))), size=V)
    vals[rng.random((V, K)) < draw(st.sampled_from([0.0, 0.3]))] = 0.0  # padding / zeros inside top-K
    lam = rng.random(V) * draw(st.sampled_from([0.0, 0.05, 0.5]))
    lam[rng.random(V) < 0.3] = 0.0
    nu = rng.dirichlet(np.ones(V))
    nu[rng.random(V) < 0.3] = 0.0
    if nu.sum() == 0:
        nu[0] = 1.0
    nu /= nu.sum()
    dead = vals.sum(1) == 0  # a row with no stored mass lives on the teleport alone
    lam[dead] = 1.0
    vals = (1 - lam)[:, None] * vals / np.where(dead, 1.0, vals.sum(1))[:, None]
    pi = rng.dirichlet(np.ones(V))
    pi[rng.random(V) < 0.3] = 0.0
    if pi.sum() == 0:
        pi[-1] = 1.0
    return SparseBigramLanguage(pi / pi.sum(), idx, vals, lam, nu)


def _partial(lang, L, n, seed, p_mask=None):
    """Samples with random masks (per-row mask rates unless given) plus some uniformly random rows."""
    g = make_generator(seed)
    V = lang.vocab_size
    x = lang.sample(n, L, g)
    noise = torch.randint(0, V, (n, L), generator=g)
    x = torch.where(torch.rand(n, 1, generator=g) < 0.3, noise, x)
    rate = torch.rand(n, 1, generator=g) if p_mask is None else torch.full((n, 1), p_mask)
    return torch.where(torch.rand(n, L, generator=g) < rate, V, x)


def _assert_log_close(a, b, tol):
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    assert torch.equal(fa, fb), "structural zeros differ"
    assert torch.allclose(a[fa], b[fb], rtol=0, atol=tol)


@given(sparse_bigrams(), st.integers(1, 5), st.integers(0, 10**6))
def test_sparse_oracle_equals_enumeration(lang, L, seed):
    x = _partial(lang, L, 16, seed)
    brute = BruteForceDenoiser(exact_log_joint(lang, L), lang.vocab_size, L, on_impossible="uniform")
    a, b = OracleDenoiser(lang, on_impossible="uniform")(x), brute(x)
    assert torch.equal(a.impossible, b.impossible)
    ok = ~a.impossible
    _assert_log_close(a.log_probs[ok], b.log_probs[ok], 1e-10)
    post = token_posteriors(lang.chain(), x)
    # evidence: log of the sum of the joint over consistent sequences
    lj, seqs = brute.log_joint, brute.seqs
    for r in range(x.shape[0]):
        rev = x[r] < lang.vocab_size
        cons = (seqs[:, rev] == x[r, rev]).all(-1)
        z = torch.logsumexp(torch.where(cons, lj, torch.full_like(lj, -math.inf)), 0)
        assert math.isinf(float(post.log_evidence[r])) == math.isinf(float(z))
        if math.isfinite(float(z)):
            assert float(post.log_evidence[r]) == pytest.approx(float(z), abs=1e-10)


@given(sparse_bigrams(max_vocab=7), st.integers(1, 40), st.integers(0, 10**6))
def test_sparse_engine_equals_dense_log_engine(lang, L, seed):
    dense = lang.to_dense()
    x = _partial(lang, L, 24, seed)
    ref = forward_backward_log(dense.chain(), x)
    post = token_posteriors(lang.chain(), x)  # auto -> sparse
    assert torch.equal(post.impossible, ref.impossible)
    ok = ~post.impossible
    tol = tolerance_log(L, lang.vocab_size)
    _assert_log_close(post.log_probs[ok], ref.log_gamma[ok], tol)
    assert torch.allclose(post.log_evidence[ok], ref.log_evidence[ok], rtol=0, atol=tol)
    assert torch.isinf(post.log_evidence[~ok]).all()
    le = forward_log_evidence(lang.chain(), x)
    assert torch.equal(torch.isfinite(le), ok)
    assert torch.allclose(le[ok], ref.log_evidence[ok], rtol=0, atol=tol)
    # float32: same zero pattern, close values
    p32 = token_posteriors(lang.chain(), x, precision="float32")
    assert torch.equal(p32.impossible, ref.impossible)
    _assert_log_close(torch.exp(p32.log_probs[ok]), torch.exp(ref.log_gamma[ok]), 1e-4)


@given(sparse_bigrams(max_vocab=6), st.integers(2, 30), st.integers(0, 10**6))
def test_reference_log_engine_on_the_sparse_chain(lang, L, seed):
    """The sparse chain's own log-space products (segment log-sum-exp) give the dense posterior."""
    x = _partial(lang, L, 12, seed)
    a = forward_backward_log(lang.chain(), x)
    b = forward_backward_log(lang.to_dense().chain(), x)
    assert torch.equal(a.impossible, b.impossible)
    ok = ~a.impossible
    _assert_log_close(a.log_gamma[ok], b.log_gamma[ok], tolerance_log(L, lang.vocab_size))


@given(sparse_bigrams(max_vocab=5), st.integers(0, 10**6))
def test_log_space_products_equal_dense(lang, seed):
    V = lang.vocab_size
    g = torch.Generator().manual_seed(seed)
    msg = torch.randn((6, V), generator=g, dtype=torch.float64) * 30
    msg[torch.rand((6, V), generator=g) < 0.3] = -math.inf
    msg[0] = -math.inf
    log_a = torch.log(dense_transition(lang.tr))
    want_f = torch.logsumexp(msg.unsqueeze(-1) + log_a, 1)
    want_b = torch.logsumexp(log_a.unsqueeze(0) + msg.unsqueeze(1), 2)
    _assert_log_close(log_forward(lang.tr, msg), want_f, 1e-12)
    _assert_log_close(log_backward(lang.tr, msg), want_b, 1e-12)


@given(sparse_bigrams(max_vocab=6))
def test_entries_rows_and_columns(lang):
    V = lang.vocab_size
    a = dense_transition(lang.tr)
    assert torch.allclose(a.sum(1), torch.ones(V, dtype=torch.float64), atol=1e-14)
    u, w = torch.meshgrid(torch.arange(V), torch.arange(V), indexing="ij")
    assert torch.equal(entries(lang.tr, u.reshape(-1), w.reshape(-1)).reshape(V, V), a)
    cols = dense_columns(sparse_op(lang.chain()), torch.arange(V))
    assert torch.allclose(cols, a.T, rtol=0, atol=1e-15)
    assert torch.equal(cols > 0, a.T > 0)


def test_fallback_for_underflowing_products_stays_exact():
    """Probabilities of 1e-200 make the certificate fail; those rows go to the log engine, exactly."""
    d = 1e-200
    lang = SparseBigramLanguage(
        [1.0, 0.0, 0.0], [[0, 1], [1, 2], [2, 0]], [[1 - d, d], [1 - d, d], [0.5, 0.5]]
    )
    x = torch.tensor([[3, 3, 3, 3, 3, 2], [0, 3, 3, 3, 3, 3], [3, 3, 3, 2, 3, 0]])
    post = token_posteriors(lang.chain(), x)
    assert post.fallback_rows > 0
    ref = forward_backward_log(lang.to_dense().chain(), x)
    assert torch.equal(post.impossible, ref.impossible)
    assert not bool(post.impossible.any())
    _assert_log_close(post.log_probs, ref.log_gamma, 1e-10)
    assert torch.allclose(post.log_evidence, ref.log_evidence, rtol=1e-12, atol=0)
    assert float(post.log_evidence[0]) < -800  # two factors of 1e-200, kept in log space


def test_extreme_rows_all_masked_all_revealed_and_length_one():
    lang = random_sparse_bigram(9, 3, teleport=0.0, seed=3)
    dense = lang.to_dense()
    x = lang.sample(3, 12, make_generator(0))
    cases = [torch.full((2, 12), 9), x, torch.full((2, 1), 9), x[:, :1]]
    for t in cases:
        a = token_posteriors(lang.chain(), t)
        b = forward_backward_log(dense.chain(), t)
        _assert_log_close(a.log_probs, b.log_gamma, 1e-12)
        assert torch.allclose(a.log_evidence, b.log_evidence, atol=1e-12)
    # fully revealed rows: the evidence is the log-probability
    assert torch.allclose(forward_log_evidence(lang.chain(), x), lang.log_prob(x), atol=1e-12)


def test_auto_picks_the_sparse_engine_and_explicit_dense_engines_agree():
    lang = random_sparse_bigram(20, 4, teleport=0.01, seed=0)
    x = _partial(lang, 64, 8, 1)
    assert resolve_method(lang.chain(), x, "auto", "float64") == "sparse"
    assert resolve_method(lang.chain(), x, "auto", "tf32") == "sparse"
    sp = forward_backward(lang.chain(), x)
    for method in ("scaled", "scan", "log"):
        other = forward_backward(lang.chain(), x, method=method)
        _assert_log_close(sp.log_gamma, other.log_gamma, tolerance_log(64, 20))
    hmm = random_hmm(3, 4, seed=0)
    with pytest.raises(ValueError, match="sparse token transition"):
        forward_backward(hmm.chain(), torch.zeros((1, 5), dtype=torch.long), method="sparse")


def test_large_chain_block_transition_path():
    """V > 256: the dense engines see the matrix as one block; the sparse engine agrees with them."""
    lang = random_sparse_bigram(300, 5, teleport=1e-3, seed=2)
    x = _partial(lang, 16, 4, 0)
    a = token_posteriors(lang.chain(), x)
    b = token_posteriors(lang.chain(), x, method="scaled")
    _assert_log_close(a.log_probs, b.log_probs, tolerance_log(16, 300))


@given(sparse_bigrams(max_vocab=4), st.integers(0, 10**6))
def test_min_violation_fallback_matches_the_dense_language(lang, seed):
    x = _partial(lang, 6, 10, seed)
    a = OracleDenoiser(lang, on_impossible="min_violation")(x)
    b = OracleDenoiser(lang.to_dense(), on_impossible="min_violation")(x)
    assert torch.equal(a.impossible, b.impossible)
    _assert_log_close(a.log_probs, b.log_probs, 1e-10)


# ---- the language's direct paths ---------------------------------------------------------------------
@given(sparse_bigrams(max_vocab=5), st.integers(1, 6))
def test_direct_paths_equal_the_dense_language(lang, L):
    dense = lang.to_dense()
    seqs = torch.cartesian_prod(*[torch.arange(lang.vocab_size)] * L).reshape(-1, L)
    _assert_log_close(lang.log_prob(seqs), dense.log_prob(seqs), 1e-12)
    assert torch.equal(lang.token_violations(seqs), dense.token_violations(seqs))
    assert torch.equal(lang.in_support(seqs), torch.isfinite(dense.log_prob(seqs)))
    assert lang.entropy(L) == pytest.approx(dense.entropy(L), abs=1e-12)
    assert torch.equal(lang.sample(50, L, make_generator(5)), dense.sample(50, L, make_generator(5)))


def test_entropy_rate_and_stationary_law():
    lang = random_sparse_bigram(12, 3, teleport=0.1, seed=4)
    dense = lang.to_dense()
    assert torch.allclose(lang.stationary_law(), dense.stationary_context_law(), atol=1e-12)
    assert lang.entropy_rate() == pytest.approx(dense.entropy_rate(), abs=1e-12)
    # exact entropy per token approaches the rate (stationary start: equal up to H(pi) - rate)
    L = 200
    assert lang.entropy(L) / L == pytest.approx(lang.entropy_rate(), abs=0.05)


def test_validation_errors_name_the_problem():
    ok = {"initial": [0.5, 0.5], "indices": [[0, 1], [1, 0]], "values": [[0.5, 0.5], [1.0, 0.0]]}
    SparseBigramLanguage(**ok)
    with pytest.raises(InvalidDistributionError, match="row 1 sums to"):
        SparseBigramLanguage(ok["initial"], ok["indices"], [[0.5, 0.5], [0.7, 0.0]])
    with pytest.raises(InvalidDistributionError, match="row 0 lists a column twice"):
        SparseBigramLanguage(ok["initial"], [[0, 0], [1, 0]], ok["values"])
    with pytest.raises(InvalidDistributionError, match="teleport law is needed"):
        SparseBigramLanguage(ok["initial"], ok["indices"], [[0.25, 0.25], [0.5, 0.0]], [0.5, 0.5])
    with pytest.raises(InvalidDistributionError, match="values: entries must be finite"):
        SparseBigramLanguage(ok["initial"], ok["indices"], [[1.5, -0.5], [1.0, 0.0]])
    with pytest.raises(ValueError, match="indices must lie in"):
        SparseBigramLanguage(ok["initial"], [[0, 2], [1, 0]], ok["values"])
    with pytest.raises(InvalidDistributionError, match="initial: sums to"):
        SparseBigramLanguage([0.5, 0.6], ok["indices"], ok["values"])
