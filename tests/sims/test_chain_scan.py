"""Parallel-scan forward-backward against the sequential engines (float64), float32/TF32 accuracy, GPU.

References: the reference log-space recursion (itself brute-force checked in tests/sims/test_chain.py,
where the scan is also compared with brute force directly). Tolerance ``tolerance_log(n, S)``: both
engines are exact to rounding with relative errors growing at most linearly in the number of steps.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.denoisers.oracle import OracleDenoiser
from sims.inference import forward_backward, forward_backward_log
from sims.inference.scaled import forward_backward_scaled
from sims.inference.scan import forward_backward_scan, round_to_tf32
from sims.inference.select import select_method
from sims.languages.random import random_hmm, random_ngram
from tests.sims.test_chain import assert_posteriors_close, revealed_batches, tolerance_log
from tests.strategies import tiny_hmms, tiny_ngrams

EPS32 = torch.finfo(torch.float32).eps


@given(
    data=st.data(),
    lang=st.one_of(tiny_ngrams(max_vocab=4), tiny_hmms(max_states=4, max_vocab=4)),
    L=st.integers(1, 70),
)
def test_scan_matches_sequential_engines(data, lang, L):
    L = max(L, lang.min_length())
    tokens = data.draw(revealed_batches(lang, L, batch=5))
    chain = lang.chain()
    ref = forward_backward_log(chain, tokens)
    tol = tolerance_log(L, chain.num_states)
    assert_posteriors_close(forward_backward_scan(chain, tokens), ref, tol)
    assert_posteriors_close(forward_backward_scaled(chain, tokens), ref, tol)


@pytest.mark.parametrize("L", list(range(1, 34)) + [63, 64, 65, 127, 128, 129])
def test_every_tree_shape(L):
    """Odd/even counts at every level: lengths 1..33 and around powers of two."""
    lang = random_hmm(3, 4, transition_support=2, seed=L)
    g = torch.Generator().manual_seed(L)
    x = lang.sample(3, L, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    chain = lang.chain()
    post, stats = forward_backward_scan(chain, x, return_stats=True)
    assert stats.fallback_rows == 0
    n = L - 1  # matrices; stored levels 1..top: log depth
    assert stats.levels == (0 if n == 0 else 1 + math.ceil(math.log2(math.ceil(n / 2))))
    assert_posteriors_close(post, forward_backward_log(chain, x), tolerance_log(L, 3))


def test_batch_chunking_gives_identical_rows():
    lang = random_ngram(3, 3, support_size=2, seed=2)
    g = torch.Generator().manual_seed(0)
    x = lang.sample(7, 50, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    x[3, 10:14] = 0  # often impossible
    chain = lang.chain()
    whole, s1 = forward_backward_scan(chain, x, return_stats=True)
    split, s2 = forward_backward_scan(chain, x, max_bytes=1, return_stats=True)
    assert s1.chunks == 1 and s2.chunks == 7
    assert torch.equal(whole.impossible, split.impossible)
    assert torch.allclose(whole.log_gamma, split.log_gamma, rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", ["scan", "scaled"])
def test_float32_accuracy_bound(method):
    """float32 posteriors within the linear-growth rounding bound (with float32 eps) of float64."""
    lang = random_hmm(8, 8, seed=5)
    L = 512
    g = torch.Generator().manual_seed(1)
    x = lang.sample(4, L, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    chain = lang.chain()
    ref = forward_backward_log(chain, x)
    post = forward_backward(chain, x, method=method, precision="float32")
    assert post.log_gamma.dtype == torch.float64
    tol = 64.0 * (L + 1) * (8 + 2) * EPS32
    err = (post.log_gamma - ref.log_gamma).abs().max().item()
    assert err <= tol
    # log-evidence: sums of float32-rounded normalisers, accumulated in float64
    assert ((post.log_evidence - ref.log_evidence).abs() <= tol * ref.log_evidence.abs()).all()


def test_float32_certificate_falls_back_instead_of_underflowing():
    """A chain with 1e-30 entries is exact in float64 but not representable in float32 messages."""
    t = 1e-30
    f64 = {"dtype": torch.float64}
    from sims.languages import HMMLanguage

    lang = HMMLanguage(
        torch.tensor([1.0, 0.0, 0.0], **f64),
        torch.tensor([[1 - t, t, 0.0], [0.0, 1 - t, t], [t, 0.0, 1 - t]], **f64),
        torch.tensor([[1 - t, t, 0.0], [t, 1 - t, 0.0], [0.0, 0.0, 1.0]], **f64),
    )
    x = torch.tensor([[0, 3, 3, 2]])
    chain = lang.chain()
    ref = forward_backward_log(chain, x)
    for fn in (forward_backward_scan, forward_backward_scaled):
        post, stats = fn(chain, x, dtype=torch.float32, return_stats=True)
        assert stats.fallback_rows == 1
        assert_posteriors_close(post, ref, tolerance_log(4, 3))  # the fallback is the float64 engine


def test_round_to_tf32():
    x = torch.tensor(
        [1.0, 1.0 + 2**-10, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 1.0 + 2**-12, -3.0, 0.0, float("inf")],
        dtype=torch.float32,
    )
    r = round_to_tf32(x)
    expected = torch.tensor([1.0, 1.0 + 2**-10, 1.0, 1.0 + 2**-9, 1.0, -3.0, 0.0, float("inf")])
    assert torch.equal(r, expected)  # ties go to even, representable values are unchanged
    g = torch.Generator().manual_seed(0)
    y = torch.rand(10000, generator=g, dtype=torch.float32) * 100
    rel = ((round_to_tf32(y) - y).abs() / y).max()
    assert rel <= 2**-11  # unit roundoff of a 10-bit mantissa
    with pytest.raises(ValueError):
        round_to_tf32(y.double())


def test_emulated_tf32_scan_is_close_to_float64():
    lang = random_hmm(8, 8, seed=6)
    L = 64
    g = torch.Generator().manual_seed(2)
    x = lang.sample(4, L, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    chain = lang.chain()
    ref = forward_backward_log(chain, x)
    post = forward_backward_scan(chain, x, dtype=torch.float32, emulate_tf32=True)
    tol = 64.0 * (L + 1) * (8 + 2) * 2.0**-11
    assert (post.log_gamma - ref.log_gamma).abs().max() <= tol
    plain = forward_backward_scan(chain, x, dtype=torch.float32)
    # TF32 rounding is visible (coarser than float32), so the emulation is not a no-op
    assert (post.log_gamma - ref.log_gamma).abs().max() > (plain.log_gamma - ref.log_gamma).abs().max()
    with pytest.raises(ValueError):
        forward_backward_scan(chain, x, emulate_tf32=True)  # float64 + tf32 is refused


def long_case(kind: str, L: int):
    """A language with full support and uniformly random tokens (possible; sampling 10^5 steps is slow)."""
    lang = random_hmm(4, 3, transition_support=2, seed=7) if kind == "hmm" else random_ngram(2, 3, seed=8)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, lang.vocab_size, (2, L), generator=g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    return lang, x


@pytest.mark.parametrize("kind", ["hmm", "ngram"])
def test_long_sequences_are_stable_and_engines_agree(kind):
    """L = 10^5: no NaN or underflow; scan and scaled agree on log-evidence and posteriors."""
    L = 100_000
    lang, x = long_case(kind, L)
    chain = lang.chain()
    scan = forward_backward_scan(chain, x)
    seq = forward_backward_scaled(chain, x)
    for post in (scan, seq):
        assert not post.impossible.any()
        assert torch.isfinite(post.log_evidence).all()
        assert not torch.isnan(post.log_gamma).any()
    assert (seq.log_evidence < -0.1 * L).all()  # far below any float64 probability: log space works
    assert_posteriors_close(scan, seq, tolerance_log(L, chain.num_states))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hmm", "ngram"])
def test_long_sequences_match_the_log_engine(kind):
    L = 100_000
    lang, x = long_case(kind, L)
    chain = lang.chain()
    ref = forward_backward_log(chain, x)
    S = chain.num_states
    assert_posteriors_close(forward_backward_scan(chain, x), ref, tolerance_log(L, S))
    assert_posteriors_close(forward_backward_scaled(chain, x), ref, tolerance_log(L, S))


def test_auto_selection():
    cpu = torch.device("cpu")
    assert select_method(1, 100_000, 4, cpu) == "scan"  # one long sequence, few states
    assert select_method(256, 1024, 64, cpu) == "scaled"  # large batch x states: sequential wins on CPU
    assert select_method(64, 1000, 8000, cpu) == "scaled"  # too many states to densify
    assert select_method(8, 1000, 16, cpu, "float32") in ("scan", "scaled")
    lang = random_hmm(3, 3, seed=0)
    x = lang.sample(2, 40, torch.Generator().manual_seed(0))
    auto = OracleDenoiser(lang, method="auto").predict(x)
    log = OracleDenoiser(lang, method="log").predict(x)
    assert torch.allclose(auto.log_probs, log.log_probs, rtol=0, atol=tolerance_log(40, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_paths_match_cpu():
    lang = random_hmm(16, 8, seed=9)
    L = 2048
    g = torch.Generator().manual_seed(4)
    x = lang.sample(8, L, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    ref = forward_backward_log(lang.chain(), x)
    gpu_lang = lang.to("cuda")
    xc = x.cuda()
    prev = torch.backends.cuda.matmul.allow_tf32
    for method in ("scan", "scaled", "auto"):
        post = forward_backward(gpu_lang.chain(), xc, method=method)
        assert_posteriors_close(
            type(post)(post.log_evidence.cpu(), post.log_gamma.cpu(), post.impossible.cpu()),
            ref,
            tolerance_log(L, 16),
        )
    for precision, eps in (("float32", EPS32), ("tf32", 2.0**-11)):
        post = forward_backward(gpu_lang.chain(), xc, method="scan", precision=precision)
        tol = 64.0 * (L + 1) * 18 * eps
        assert (post.log_gamma.cpu() - ref.log_gamma).abs().max() <= tol
    assert torch.backends.cuda.matmul.allow_tf32 == prev  # the global flag is restored
