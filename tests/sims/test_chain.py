"""Forward-backward engines (log reference, certified scaled, dispatcher) against brute force and each other.

References: the posterior by explicit summation over all V**L sequences of an independently computed
joint (n-gram: direct table look-ups; HMM: explicit sum over all S**L hidden paths), and, for larger
cases, the reference log-space engine. Tolerances: every engine is exact to rounding with a relative
error that grows at most linearly with the number of chain steps, so log-probabilities are compared with
``tolerance_log(n, S)`` = 64 (n + 1)(S + 2) eps (see docs/oracle_performance.md).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.denoisers.oracle import OracleDenoiser
from sims.exact import BruteForceDenoiser, all_sequences
from sims.inference import (
    ChainPosterior,
    LiftedChain,
    forward_backward,
    forward_backward_log,
    forward_log_evidence,
    forward_log_evidence_log,
    token_posteriors,
)
from sims.inference.linear import safe_log_range
from sims.inference.scaled import forward_backward_scaled
from sims.inference.scan import forward_backward_scan
from sims.languages import HMMLanguage, NGramLanguage
from sims.languages.formal import parity_language
from sims.languages.random import random_hmm, random_ngram
from tests.strategies import tiny_languages

EPS = torch.finfo(torch.float64).eps


def tolerance_log(num_steps: int, num_states: int) -> float:
    """Absolute tolerance on log-probabilities (= relative on probabilities) after ``num_steps`` steps."""
    return 64.0 * (num_steps + 1) * (num_states + 2) * EPS


def independent_log_joint(lang, L: int) -> torch.Tensor:
    """``(V**L,)`` exact log q(x) without any chain code."""
    seqs = all_sequences(lang.vocab_size, L)
    if isinstance(lang, NGramLanguage):
        return lang.log_prob(seqs)  # direct look-ups in the tables
    assert isinstance(lang, HMMLanguage)
    S = lang.num_states
    paths = all_sequences(S, L)  # (S**L, L)
    lp_path = torch.log(lang.initial)[paths[:, 0]]
    for t in range(1, L):
        lp_path = lp_path + torch.log(lang.transition)[paths[:, t - 1], paths[:, t]]
    log_b = torch.log(lang.emission)  # (S, V)
    emis = torch.zeros((seqs.shape[0], paths.shape[0]), dtype=torch.float64)
    for t in range(L):
        emis = emis + log_b[paths[:, t]][:, seqs[:, t]].T
    return torch.logsumexp(emis + lp_path, dim=1)


def assert_log_close(a: torch.Tensor, b: torch.Tensor, tol: float, what: str = "") -> None:
    """Same -inf pattern, and finite entries equal within ``tol`` (absolute, in log space)."""
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    assert torch.equal(fa, fb), f"{what}: zero patterns differ"
    assert not torch.isnan(a).any() and not torch.isnan(b).any(), f"{what}: NaN"
    if fa.any():
        err = (a[fa] - b[fa]).abs().max().item()
        assert err <= tol, f"{what}: max |log difference| {err:.3g} > {tol:.3g}"


def assert_posteriors_close(p: ChainPosterior, q: ChainPosterior, tol: float) -> None:
    assert torch.equal(p.impossible, q.impossible)
    assert_log_close(
        p.log_evidence,
        q.log_evidence,
        tol
        * max(
            1.0,
            float(q.log_evidence[torch.isfinite(q.log_evidence)].abs().max())
            if torch.isfinite(q.log_evidence).any()
            else 1.0,
        ),
        "log evidence",
    )
    ok = ~q.impossible
    assert_log_close(p.log_gamma[ok], q.log_gamma[ok], tol, "log gamma")


@st.composite
def revealed_batches(draw, lang, L: int, batch: int = 6, from_language: bool | None = None):
    """Token batches: sampled from the language (possible) or uniformly random (often impossible)."""
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    use_lang = draw(st.booleans()) if from_language is None else from_language
    if use_lang:
        x = lang.sample(batch, L, g)
    else:
        x = torch.randint(0, lang.vocab_size, (batch, L), generator=g)
    frac = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    x[torch.rand((batch, L), generator=g) < frac] = lang.vocab_size
    return x


@given(data=st.data(), lang=tiny_languages(), L=st.integers(1, 5))
def test_every_engine_matches_brute_force(data, lang, L):
    L = max(L, lang.min_length())
    tokens = data.draw(revealed_batches(lang, L))
    brute = BruteForceDenoiser(independent_log_joint(lang, L), lang.vocab_size, L, on_impossible="uniform")
    ref = brute.predict(tokens)
    for method in ("log", "scaled", "scan"):
        out = OracleDenoiser(lang, on_impossible="uniform", method=method).predict(tokens)
        assert torch.equal(out.impossible, ref.impossible), method
        ok = ~ref.impossible
        assert_log_close(out.log_probs[ok], ref.log_probs[ok], 1e-10, method)


@given(data=st.data(), lang=tiny_languages(), L=st.integers(1, 5))
def test_log_evidence_matches_brute_force(data, lang, L):
    L = max(L, lang.min_length())
    tokens = data.draw(revealed_batches(lang, L))
    log_joint = independent_log_joint(lang, L)
    seqs = all_sequences(lang.vocab_size, L)
    expected = torch.stack(
        [
            torch.logsumexp(
                torch.where(
                    ((seqs == row) | (row == lang.vocab_size)).all(-1),
                    log_joint,
                    torch.full_like(log_joint, -math.inf),
                ),
                0,
            )
            for row in tokens
        ]
    )
    chain = lang.chain()
    for method in ("log", "scaled", "scan", "auto"):
        got = forward_backward(chain, tokens, method=method).log_evidence
        assert_log_close(got, expected, 1e-10, method)
    for method in ("log", "scaled", "auto"):
        assert_log_close(forward_log_evidence(chain, tokens, method=method), expected, 1e-10, method)


@pytest.mark.parametrize("kind", ["hmm", "ngram2", "ngram3", "ngram3_large", "ngram1"])
def test_scaled_matches_log_engine_on_longer_sequences(kind):
    lang = {
        "hmm": random_hmm(6, 5, transition_support=3, emission_support=3, seed=3),
        "ngram2": random_ngram(2, 7, support_size=3, seed=4),
        "ngram3": random_ngram(3, 5, support_size=2, seed=5),
        "ngram3_large": random_ngram(3, 17, support_size=4, seed=6),  # 289 states: block structure
        "ngram1": random_ngram(1, 6, seed=7),
    }[kind]
    g = torch.Generator().manual_seed(0)
    L = 150
    x = lang.sample(8, L, g)
    x[torch.rand(x.shape, generator=g) < 0.6] = lang.vocab_size
    x[0, 5:12] = torch.randint(0, lang.vocab_size, (7,), generator=g)  # likely impossible rows
    x[1, -3:] = 0
    chain = lang.chain()
    ref = forward_backward_log(chain, x)
    post, stats = forward_backward_scaled(chain, x, return_stats=True)
    assert stats.fallback_rows == 0  # ordinary languages never need the fallback
    assert_posteriors_close(post, ref, tolerance_log(L, chain.num_states))
    assert_log_close(
        forward_log_evidence(chain, x),
        forward_log_evidence_log(chain, x),
        tolerance_log(L, chain.num_states) * (1 + ref.log_evidence[~ref.impossible].abs().max()),
    )


def extreme_hmm() -> HMMLanguage:
    """Entries of 1e-200: a state two such steps away has relative forward probability 1e-400."""
    t = 1e-200
    f64 = {"dtype": torch.float64}
    A = torch.tensor([[1 - t, t, 0.0], [0.0, 1 - t, t], [t, 0.0, 1 - t]], **f64)
    B = torch.tensor([[1 - t, t, 0.0], [t, 1 - t, 0.0], [0.0, 0.0, 1.0]], **f64)
    return HMMLanguage(torch.tensor([1.0, 0.0, 0.0], **f64), A, B)


def test_certificate_sends_underflowing_rows_to_the_exact_engine():
    lang = extreme_hmm()
    chain = lang.chain()
    V = lang.vocab_size
    # Row 0: token 2 can only be emitted by state 2, reached from state 0 through two 1e-200
    # transitions: relative forward probability 1e-400, below the float64 range of a scaled message.
    x = torch.tensor([[0, V, V, 2], [0, 0, V, 1], [V, V, V, V]])
    ref = forward_backward_log(chain, x)
    assert not ref.impossible.any()
    assert ref.log_evidence[0] < -900
    unchecked, stats = forward_backward_scaled(chain, x, return_stats=True, fallback=False)
    assert stats.fallback_rows >= 1
    # without the fallback the tiny forward mass underflows to zero: a possible row looks impossible
    assert bool(unchecked.impossible[0])
    post, stats = forward_backward_scaled(chain, x, return_stats=True)
    assert_posteriors_close(post, ref, tolerance_log(4, 3))
    fwd = forward_log_evidence(chain, x, method="scaled")  # forward-only pass: same certificate
    assert_log_close(fwd, ref.log_evidence, tolerance_log(4, 3) * 1000, "forward-only")
    unchecked, stats = forward_backward_scan(chain, x, return_stats=True, fallback=False)
    assert stats.fallback_rows >= 1 and bool(unchecked.impossible[0])
    assert_posteriors_close(forward_backward_scan(chain, x), ref, tolerance_log(4, 3))


def test_safe_range_keeps_products_normal():
    for dtype in (torch.float64, torch.float32):
        for S in (1, 16, 4096):
            r = safe_log_range(dtype, S)
            # a non-zero term >= exp(-r) divided by a normaliser <= S stays a normal number
            assert math.exp(-r) / S >= torch.finfo(dtype).tiny
            assert r > 0


def test_dispatcher_rejects_bad_arguments():
    chain = random_ngram(2, 3, seed=0).chain()
    x = torch.zeros((1, 4), dtype=torch.long)
    with pytest.raises(ValueError, match="method"):
        forward_backward(chain, x, method="fast")
    with pytest.raises(ValueError, match="precision"):
        forward_backward(chain, x, precision="float16")
    with pytest.raises(ValueError, match="float64 only"):
        forward_backward(chain, x, method="log", precision="float32")
    with pytest.raises(ValueError):
        forward_log_evidence(chain, x, method="scan")
    with pytest.raises(ValueError, match="on_impossible"):
        OracleDenoiser(random_ngram(2, 3, seed=0), on_impossible="ignore")
    with pytest.raises(ValueError, match="method"):
        OracleDenoiser(random_ngram(2, 3, seed=0), method="fast")


def test_all_masked_rows_give_the_prior_marginals():
    lang = random_hmm(4, 3, seed=11)
    L = 9
    x = torch.full((2, L), lang.vocab_size)
    expected = torch.log(lang.token_marginals(L))
    for method in ("log", "scaled", "scan"):
        out = OracleDenoiser(lang, method=method).predict(x)
        assert_log_close(out.log_probs[0], expected, tolerance_log(L, 4), method)
        assert_log_close(out.log_probs[1], expected, tolerance_log(L, 4), method)


def test_token_projection_certificate_keeps_tiny_token_posteriors():
    """Posteriors ~1e-200 times emissions ~1e-200: the linear projection would underflow to zero."""
    lang = extreme_hmm()
    V = lang.vocab_size
    x = torch.tensor([[0, 0, V, 1], [0, V, V, V], [1, V, 0, V], [V, V, V, V]])
    ref = OracleDenoiser(lang, method="log").predict(x)
    assert torch.isfinite(ref.log_probs).sum() > 0
    assert (ref.log_probs[torch.isfinite(ref.log_probs)] < -400).any()  # genuinely tiny entries
    for method in ("scaled", "scan", "auto"):
        post = token_posteriors(lang.chain(), x, method=method)
        out = OracleDenoiser(lang, method=method).predict(x)
        assert_log_close(out.log_probs, ref.log_probs, tolerance_log(4, 3), method)
        assert torch.equal(post.impossible, ref.impossible)


def test_token_posteriors_match_the_log_path_on_random_languages():
    for lang in (
        random_hmm(5, 4, transition_support=3, emission_support=2, seed=1),
        random_ngram(3, 4, support_size=2, seed=2),
        random_ngram(1, 5, support_size=3, seed=3),
    ):
        g = torch.Generator().manual_seed(5)
        x = torch.randint(0, lang.vocab_size, (10, 30), generator=g)  # rows 5..9: mostly impossible
        x[:5] = lang.sample(5, 30, g)
        x[torch.rand(x.shape, generator=g) < 0.7] = lang.vocab_size
        ref = token_posteriors(lang.chain(), x, method="log")
        assert ref.impossible.any() and not ref.impossible.all()
        for method in ("scaled", "scan"):
            post = token_posteriors(lang.chain(), x, method=method)
            assert torch.equal(post.impossible, ref.impossible)
            assert_log_close(post.log_evidence, ref.log_evidence, tolerance_log(30, 16) * 100, method)
            assert_log_close(post.log_probs, ref.log_probs, tolerance_log(30, 16), method)


class OpaqueChain(LiftedChain):
    """A chain of unknown type (wraps another): exercises the generic, densified path of the fast
    engines. ``evidence_scale`` > 1 multiplies every revealed evidence (values above 1: outside the
    certificate's assumptions, so those rows must take the log engine)."""

    def __init__(self, inner, evidence_scale: float = 1.0):
        self.inner, self.shift = inner, math.log(evidence_scale)
        self.num_states, self.vocab_size, self.log_initial = (
            inner.num_states,
            inner.vocab_size,
            inner.log_initial,
        )

    def num_nodes(self, length):
        return self.inner.num_nodes(length)

    def evidence(self, tokens):
        first, rest = self.inner.evidence(tokens)
        return first, rest + self.shift * (
            tokens[:, tokens.shape[1] - rest.shape[1] :] < self.vocab_size
        ).unsqueeze(-1)

    def add_evidence(self, log_msg, log_ev):
        return self.inner.add_evidence(log_msg, log_ev)

    def propagate_forward(self, log_msg):
        return self.inner.propagate_forward(log_msg)

    def propagate_backward(self, log_msg):
        return self.inner.propagate_backward(log_msg)

    def token_log_marginals(self, log_gamma, length):
        return self.inner.token_log_marginals(log_gamma, length)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_unknown_chain_types_use_the_generic_path(scale):
    for lang in (random_hmm(4, 3, transition_support=2, seed=3), random_ngram(3, 3, support_size=2, seed=4)):
        chain = OpaqueChain(lang.chain(), scale)
        g = torch.Generator().manual_seed(1)
        x = lang.sample(6, 40, g)
        x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
        x[5, 3:6] = 0  # often impossible
        ref = forward_backward_log(chain, x)
        for method in ("scaled", "scan", "auto"):
            post = forward_backward(chain, x, method=method)
            assert_posteriors_close(post, ref, tolerance_log(40, chain.num_states))
            tok = token_posteriors(chain, x, method=method)
            expected = token_posteriors(chain, x, method="log")
            assert_log_close(tok.log_probs, expected.log_probs, tolerance_log(40, chain.num_states), method)
        _, stats = forward_backward_scaled(chain, x, return_stats=True)
        assert stats.fallback_rows == (
            6 if scale > 1 else 0
        )  # evidence above 1: every row takes the log engine
        assert_log_close(
            forward_log_evidence(chain, x), forward_log_evidence_log(chain, x), 1e-9, "forward-only"
        )


def test_min_violation_needs_a_table_language():
    class Other(NGramLanguage):
        pass

    OracleDenoiser(
        Other(2, 2, [0.5, 0.5], [[1.0, 0.0], [0.5, 0.5]]), on_impossible="min_violation"
    )  # subclass ok

    with pytest.raises(ValueError, match="min_violation"):  # an automaton language has no tables
        OracleDenoiser(parity_language(), on_impossible="min_violation")

    class NotALanguage:
        vocab_size = 2

    with pytest.raises(TypeError, match="language"):
        OracleDenoiser(NotALanguage(), on_impossible="min_violation")
