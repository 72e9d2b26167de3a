"""The oracle denoiser against brute-force summation over all sequences."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint
from sims.languages import NGramLanguage, random_hmm, random_ngram
from sims.validation import ImpossibleEvidenceError
from tests.strategies import tiny_languages


def _random_partial(lang, L, n, seed, p_mask):
    """Partial sequences: masks over samples of the language plus some uniformly random (maybe impossible) rows."""
    g = make_generator(seed)
    x = lang.sample(n, L, g)
    noise = torch.randint(0, lang.vocab_size, (n, L), generator=g)
    x = torch.where(torch.rand(n, 1, generator=g) < 0.3, noise, x)
    return torch.where(torch.rand(n, L, generator=g) < p_mask, lang.vocab_size, x)


def _assert_log_close(a, b, tol=1e-9):
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    assert torch.equal(fa, fb), "structural zeros differ"
    assert torch.allclose(a[fa], b[fb], rtol=tol, atol=tol)


@given(tiny_languages(), st.integers(0, 3), st.integers(0, 10**6), st.sampled_from([0.2, 0.5, 0.9, 1.0]))
def test_oracle_marginals_equal_enumeration(lang, extra, seed, p_mask):
    L = lang.min_length() + extra
    x = _random_partial(lang, L, 12, seed, p_mask)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    brute = BruteForceDenoiser(exact_log_joint(lang, L), lang.vocab_size, L, on_impossible="uniform")
    a, b = oracle(x), brute(x)
    assert torch.equal(a.impossible, b.impossible)
    ok = ~a.impossible
    _assert_log_close(a.log_probs[ok], b.log_probs[ok])
    # rows are probability vectors; revealed positions are one-hot on the revealed token
    assert torch.allclose(a.probs.sum(-1), torch.ones(x.shape, dtype=torch.float64), atol=1e-12)
    rev = x < lang.vocab_size
    assert torch.equal(a.probs[rev].argmax(-1), x[rev])
    assert torch.all(a.probs[rev].max(-1).values == 1.0)


@given(tiny_languages(), st.integers(0, 3), st.integers(0, 10**6))
def test_log_prob_of_revealed_tokens_equals_marginalisation(lang, extra, seed):
    L = lang.min_length() + extra
    x = _random_partial(lang, L, 8, seed, 0.5)
    seqs = all_sequences(lang.vocab_size, L)
    lj = exact_log_joint(lang, L)
    got = lang.log_prob_revealed(x)
    for b in range(x.shape[0]):
        rev = x[b] < lang.vocab_size
        consistent = (seqs[:, rev] == x[b, rev]).all(-1)
        want = torch.logsumexp(torch.where(consistent, lj, torch.full_like(lj, -torch.inf)), 0)
        if math.isinf(float(want)):
            assert math.isinf(float(got[b]))
        else:
            assert float(got[b]) == pytest.approx(float(want), rel=1e-10, abs=1e-12)


def test_impossible_evidence_raises_by_default_and_is_flagged_otherwise():
    lang = NGramLanguage(2, 2, [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])  # strict alternation
    x = torch.tensor([[0, 0, 2], [0, 2, 1], [0, 1, 2]])  # rows 0 (0 -> 0) and 1 (0 ? 1) are impossible
    with pytest.raises(ImpossibleEvidenceError, match=r"rows \[0, 1\]"):
        OracleDenoiser(lang)(x)
    out = OracleDenoiser(lang, on_impossible="uniform")(x)
    assert out.impossible.tolist() == [True, True, False]
    assert torch.allclose(out.probs[0, 2], torch.full((2,), 0.5, dtype=torch.float64))
    assert out.probs[2, 2].tolist() == [1.0, 0.0]
    assert not torch.isnan(out.log_probs).any()


def test_exact_fallback_for_underflowing_products():
    """Probabilities of 1e-200 per step make max-shifted products underflow; results must stay exact."""
    tiny = 1e-200
    lang = NGramLanguage(2, 2, [0.5, 0.5], [[tiny, 1 - tiny], [tiny, 1 - tiny]])
    L = 6
    x = torch.tensor([[1, 2, 2, 2, 2, 0], [0, 2, 0, 2, 2, 0]])
    a = OracleDenoiser(lang)(x)
    b = BruteForceDenoiser(exact_log_joint(lang, L), 2, L)(x)
    _assert_log_close(a.log_probs, b.log_probs, tol=1e-10)
    assert float(a.log_probs[0, 1, 0]) < -400  # the tiny branch is represented, not rounded to -inf


def test_long_sequence_is_stable():
    lang = random_ngram(2, 6, concentration=0.3, support_size=3, stationary=True, seed=1)
    L = 20000
    x = lang.sample(2, L, make_generator(0))
    mask = torch.rand(x.shape, generator=make_generator(1)) < 0.5
    xm = torch.where(mask, 6, x)
    out = OracleDenoiser(lang)(xm)
    assert torch.isfinite(out.log_probs.logsumexp(-1)).all()
    assert not torch.isnan(out.log_probs).any()
    # full evidence: forward log-evidence equals the direct log-probability
    assert torch.allclose(lang.log_prob_revealed(x), lang.log_prob(x), rtol=1e-10)


def test_oracle_chunking_is_transparent():
    lang = random_hmm(4, 3, seed=0)
    x = _random_partial(lang, 7, 50, 0, 0.6)
    a = OracleDenoiser(lang, chunk_size=7)(x)
    b = OracleDenoiser(lang)(x)
    assert torch.allclose(a.log_probs, b.log_probs, rtol=1e-12, atol=0) or torch.equal(
        a.log_probs, b.log_probs
    )


def test_oracle_rejects_bad_tokens():
    lang = random_ngram(2, 3, seed=0)
    with pytest.raises(ValueError, match="token ids"):
        OracleDenoiser(lang)(torch.tensor([[0, 4]]))
    with pytest.raises(ValueError, match="shape"):
        OracleDenoiser(lang)(torch.tensor([0, 1]))


# ---- perturbed oracle --------------------------------------------------------------------------
def test_perturbed_denoiser_formula():
    lang = random_hmm(3, 4, seed=2)
    x = _random_partial(lang, 5, 6, 3, 0.6)
    base = OracleDenoiser(lang)(x)
    tau, lam = 1.7, 0.1
    out = PerturbedDenoiser(OracleDenoiser(lang), temperature=tau, uniform_mix=lam)(x)
    masked = x == lang.vocab_size
    p = base.probs[masked] ** (1 / tau)
    p = p / p.sum(-1, keepdim=True)
    want = (1 - lam) * p + lam / lang.vocab_size
    assert torch.allclose(out.probs[masked], want, rtol=1e-12)
    assert torch.equal(out.probs[~masked], base.probs[~masked])


def test_perturbed_identity_and_errors():
    lang = random_ngram(2, 3, seed=0)
    x = _random_partial(lang, 4, 5, 0, 0.5)
    assert torch.allclose(
        PerturbedDenoiser(OracleDenoiser(lang))(x).log_probs, OracleDenoiser(lang)(x).log_probs
    )
    with pytest.raises(ValueError):
        PerturbedDenoiser(OracleDenoiser(lang), temperature=0.0)
    with pytest.raises(ValueError):
        PerturbedDenoiser(OracleDenoiser(lang), uniform_mix=1.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    lang = random_hmm(8, 5, transition_support=3, seed=0)
    x = _random_partial(lang, 64, 32, 0, 0.5)
    cpu = OracleDenoiser(lang, on_impossible="uniform")(x)
    gpu = OracleDenoiser(lang.to("cuda"), on_impossible="uniform")(x.cuda())
    _assert_log_close(cpu.log_probs, gpu.log_probs.cpu(), tol=1e-9)
