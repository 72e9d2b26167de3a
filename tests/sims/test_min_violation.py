"""The minimum-violation fallback against brute-force enumeration and the epsilon-smoothed language.

References:
* brute force: every configuration consistent with the revealed tokens (token sequence, and hidden path
  for an HMM) is enumerated; its violation count k (number of zero-probability factors) and the product
  p of its non-zero factors are computed directly from the tables; the posterior keeps the
  configurations with the minimal k and normalises p (no dynamic programming involved);
* the epsilon-smoothed language (zeros replaced by epsilon, rows renormalised) run through the ordinary
  oracle, whose posterior must converge to the fallback with the rigorous rate
  |P_eps - P_0| <= 2 eps (R + F Z) derived in docs/oracle_performance.md.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import sims.denoisers.oracle as oracle_module
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import all_sequences
from sims.languages import HMMLanguage, NGramLanguage
from sims.languages.random import random_hmm, random_ngram
from sims.validation import ImpossibleEvidenceError
from tests.sims.test_chain import assert_log_close, revealed_batches
from tests.strategies import tiny_hmms, tiny_ngrams


def _split(table: torch.Tensor):
    zero = table == 0
    return zero.long(), torch.where(zero, torch.zeros_like(table), torch.log(table))


def configurations(lang, L: int):
    """All configurations: tokens (N, L), violation counts (N,), log non-zero weights (N,)."""
    seqs = all_sequences(lang.vocab_size, L)
    if isinstance(lang, HMMLanguage):
        paths = all_sequences(lang.num_states, L)
        xs = seqs.repeat_interleave(paths.shape[0], 0)
        zs = paths.repeat(seqs.shape[0], 1)
        ic, il = _split(lang.initial)
        tc, tl = _split(lang.transition)
        ec, el = _split(lang.emission)
        count, logp = ic[zs[:, 0]], il[zs[:, 0]]
        for t in range(L):
            count, logp = count + ec[zs[:, t], xs[:, t]], logp + el[zs[:, t], xs[:, t]]
            if t > 0:
                count, logp = count + tc[zs[:, t - 1], zs[:, t]], logp + tl[zs[:, t - 1], zs[:, t]]
        return xs, count, logp
    assert isinstance(lang, NGramLanguage)
    k = lang.order - 1
    pc, pl = _split(lang.transition)
    if k == 0:
        count = pc[0][seqs].sum(-1)
        return seqs, count, pl[0][seqs].sum(-1)
    ctx = lang.context_indices(seqs)  # (N, L-k+1)
    ic, il = _split(lang.initial)
    count, logp = ic[ctx[:, 0]], il[ctx[:, 0]]
    for t in range(k, L):
        count, logp = count + pc[ctx[:, t - k], seqs[:, t]], logp + pl[ctx[:, t - k], seqs[:, t]]
    return seqs, count, logp


def brute_min_violation(lang, tokens: torch.Tensor):
    """Posterior marginals (B, L, V), minimal count k* (B,), and R = sum_{k>k*} W_k / W_{k*} (B,)."""
    L, V = tokens.shape[1], lang.vocab_size
    xs, count, logp = configurations(lang, L)
    out = torch.full((tokens.shape[0], L, V), -math.inf, dtype=torch.float64)
    kstar = torch.empty(tokens.shape[0])
    ratio = torch.empty(tokens.shape[0], dtype=torch.float64)
    for b, row in enumerate(tokens):
        ok = ((xs == row) | (row == V)).all(-1)
        k0 = count[ok].min()
        best = ok & (count == k0)
        log_w = torch.where(best, logp, torch.full_like(logp, -math.inf))
        log_z = torch.logsumexp(log_w, 0)
        for i in range(L):
            for v in range(V):
                out[b, i, v] = torch.logsumexp(log_w[xs[:, i] == v], 0) - log_z
        kstar[b] = float(k0)
        worse = ok & (count > k0)
        ratio[b] = (
            torch.exp(torch.logsumexp(torch.where(worse, logp, torch.full_like(logp, -math.inf)), 0) - log_z)
            if worse.any()
            else 0.0
        )
    return out, kstar, ratio


def smoothed(lang, eps: float):
    """The language with every zero entry replaced by ``eps`` (rows renormalised)."""

    def sm(t):
        t = torch.where(t == 0, torch.full_like(t, eps), t)
        return t / t.sum(-1, keepdim=True)

    if isinstance(lang, HMMLanguage):
        return HMMLanguage(sm(lang.initial), sm(lang.transition), sm(lang.emission))
    return NGramLanguage(
        lang.order, lang.vocab_size, sm(lang.initial) if lang.order > 1 else None, sm(lang.transition)
    )


def tiny_sparse_languages():
    return st.one_of(tiny_ngrams(sparse=True), tiny_hmms(sparse=True))


@st.composite
def mostly_revealed(draw, lang, L: int, batch: int = 6):
    """Uniformly random tokens, mostly revealed: often impossible under sparse languages."""
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randint(0, lang.vocab_size, (batch, L), generator=g)
    frac = draw(st.sampled_from([0.0, 0.25, 0.5]))
    x[torch.rand((batch, L), generator=g) < frac] = lang.vocab_size
    return x


@given(data=st.data(), lang=tiny_sparse_languages(), L=st.integers(2, 4))
def test_min_violation_matches_brute_force(data, lang, L):
    L = max(L, lang.min_length())
    tokens = data.draw(st.one_of(mostly_revealed(lang, L), revealed_batches(lang, L, batch=4)))
    expected, kstar, _ = brute_min_violation(lang, tokens)
    out = OracleDenoiser(lang, on_impossible="min_violation").predict(tokens)
    assert_log_close(out.log_probs, expected, 1e-10, "min-violation posterior")
    assert torch.equal(out.impossible, kstar > 0)  # flagged exactly when the evidence is impossible
    uni = OracleDenoiser(lang, on_impossible="uniform").predict(tokens)
    assert torch.equal(out.impossible, uni.impossible)
    ok = ~out.impossible  # possible rows: identical to the ordinary posterior
    assert torch.equal(out.log_probs[ok], uni.log_probs[ok])


def fixed_sparse_cases():
    """Deterministic sparse languages where impossible rows mix several violation counts per state."""
    cases = []
    for seed in range(3):
        cases.append((random_hmm(3, 4, transition_support=2, emission_support=1 + seed % 2, seed=seed), 4))
        cases.append((random_ngram(2, 3, support_size=2, seed=seed), 5))
        cases.append((random_ngram(3, 3, support_size=2, seed=seed), 5))
    cases.append((random_ngram(1, 4, support_size=2, seed=0), 4))
    return cases


@pytest.mark.parametrize("lang,L", fixed_sparse_cases())
def test_min_violation_matches_brute_force_fixed_cases(lang, L):
    g = torch.Generator().manual_seed(L)
    tokens = torch.randint(0, lang.vocab_size, (8, L), generator=g)
    tokens[torch.rand(tokens.shape, generator=g) < 0.4] = lang.vocab_size
    expected, kstar, ratio = brute_min_violation(lang, tokens)
    assert (kstar > 0).any() and (ratio > 0).any()  # the case exercises the fallback
    out = OracleDenoiser(lang, on_impossible="min_violation").predict(tokens)
    assert_log_close(out.log_probs, expected, 1e-10, "min-violation posterior")
    assert torch.equal(out.impossible, kstar > 0)


def check_epsilon_limit(lang, tokens: torch.Tensor) -> None:
    """The smoothed-language posterior converges to the fallback within the rigorous bound."""
    L = tokens.shape[1]
    limit = OracleDenoiser(lang, on_impossible="min_violation").predict(tokens).probs
    _, _, ratio = brute_min_violation(lang, tokens)
    # |P_eps - P_0| <= 2 (eps R + eta), eta = F Z eps: F factors per configuration, Z the largest number
    # of zeros in a table row (smoothing divides each factor by at most 1 + Z eps)
    F = 2 * L if isinstance(lang, HMMLanguage) else L
    Z = max(lang.vocab_size, getattr(lang, "num_states", 1), getattr(lang, "num_contexts", 1))
    for k in (2, 4, 6):
        eps = 10.0**-k / (1.0 + float(ratio.max()) + F * Z)
        approx = OracleDenoiser(smoothed(lang, eps)).predict(tokens).probs  # possible under smoothing
        bound = 2 * eps * (ratio + F * Z)  # (B,)
        err = (approx - limit).abs().amax((1, 2))
        assert (err <= bound + 1e-12).all(), (k, err, bound)


@given(data=st.data(), lang=tiny_sparse_languages(), L=st.integers(2, 4))
def test_min_violation_is_the_epsilon_to_zero_limit(data, lang, L):
    L = max(L, lang.min_length())
    check_epsilon_limit(lang, data.draw(mostly_revealed(lang, L, batch=4)))


@pytest.mark.parametrize("lang,L", fixed_sparse_cases())
def test_min_violation_is_the_epsilon_to_zero_limit_fixed_cases(lang, L):
    g = torch.Generator().manual_seed(L)
    tokens = torch.randint(0, lang.vocab_size, (8, L), generator=g)
    tokens[torch.rand(tokens.shape, generator=g) < 0.4] = lang.vocab_size
    check_epsilon_limit(lang, tokens)


def test_min_violation_on_a_known_case():
    # bigram over {0, 1, 2}: 0 -> 1 forbidden. "0 ? 1" is impossible; the closest explanations use one
    # violation: 0 -> 0 -> 1 (P(0|0) * [0->1]) or 0 -> 1 -> 1 ([0->1] * P(1|1)) or 0 -> 2 -> 1 (no
    # violation? P(2|0) * P(1|2) > 0 -> zero violations!). So make 2 -> 1 forbidden too.
    P = torch.tensor([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5], [0.6, 0.0, 0.4]], dtype=torch.float64)
    lang = NGramLanguage(2, 3, torch.tensor([1 / 3] * 3, dtype=torch.float64), P)
    x = torch.tensor([[0, 3, 1]])
    out = OracleDenoiser(lang, on_impossible="min_violation").predict(x)
    assert bool(out.impossible[0])
    # one violation each: 0->0 (0.5) then 0->1 (violation) = 0.5; 0->1 (violation) then 1->1 = 0.3;
    # 0->2 (0.5) then 2->1 (violation) = 0.5. Posterior of the middle token: (0.5, 0.3, 0.5) / 1.3.
    expected = torch.tensor([0.5, 0.3, 0.5], dtype=torch.float64) / 1.3
    assert torch.allclose(out.probs[0, 1], expected, rtol=0, atol=1e-15)


def test_only_impossible_rows_take_the_slow_path(monkeypatch):
    lang = random_ngram(2, 4, support_size=2, seed=1)
    calls = []
    original = oracle_module.min_violation_log_marginals

    def spy(oracle, tokens):
        calls.append(tokens.shape[0])
        return original(oracle, tokens)

    monkeypatch.setattr(oracle_module, "min_violation_log_marginals", spy)
    g = torch.Generator().manual_seed(0)
    x = lang.sample(6, 12, g)
    x[torch.rand(x.shape, generator=g) < 0.5] = lang.vocab_size
    den = OracleDenoiser(lang, on_impossible="min_violation")
    assert not den.predict(x).impossible.any()
    assert calls == []  # no impossible row: the fast path only
    bad = x.clone()
    forbidden = (lang.transition == 0).nonzero()[0]
    bad[1, 3], bad[1, 4] = forbidden[0], forbidden[1]
    bad[4, 0], bad[4, 1] = forbidden[0], forbidden[1]
    out = den.predict(bad)
    assert out.impossible.tolist() == [False, True, False, False, True, False]
    assert calls == [2]


def test_raise_mode_still_raises():
    lang = random_ngram(2, 4, support_size=2, seed=1)
    forbidden = (lang.transition == 0).nonzero()[0]
    x = torch.tensor([[int(forbidden[0]), int(forbidden[1]), 4]])
    with pytest.raises(ImpossibleEvidenceError):
        OracleDenoiser(lang).predict(x)


def test_min_violation_on_longer_hmm_sequences_matches_smoothing():
    """L = 40 HMM with sparse tables: the fallback equals the eps -> 0 limit (eps = 1e-30 vs 1e-60)."""
    lang = random_hmm(4, 5, transition_support=2, emission_support=2, seed=2)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 5, (3, 40), generator=g)
    x[torch.rand(x.shape, generator=g) < 0.7] = 5
    out = OracleDenoiser(lang, on_impossible="min_violation").predict(x)
    assert out.impossible.all()
    p1 = OracleDenoiser(smoothed(lang, 1e-30)).predict(x).probs
    p2 = OracleDenoiser(smoothed(lang, 1e-60)).predict(x).probs
    # the smoothed posteriors converge (error O(eps * R) with moderate R here) to the fallback
    assert (p2 - out.probs).abs().max() <= 1e-12
    assert (p1 - out.probs).abs().max() <= 1e-6
