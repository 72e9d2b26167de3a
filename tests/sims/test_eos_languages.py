"""Emission-automaton forms of the languages and variable-length EOS languages, against enumeration."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import all_sequences, sequence_index
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.languages import NGramLanguage, random_hmm
from sims.languages.automaton_forms import emission_automaton
from sims.languages.emission import AutomatonLanguage, EmissionAutomaton
from sims.languages.eos import EOSLanguage
from sims.languages.formal import DFALanguage, dyck_language, parity_language
from sims.languages.hard import block_parity_hmm
from sims.validation import InvalidArgumentError, InvalidDistributionError, InvalidTypeError
from tests.helpers import P_MIN, grouped_chi_square
from tests.strategies import tiny_languages

TRIGRAM = NGramLanguage(3, 2, [0.1, 0.2, 0.3, 0.4], [[0.5, 0.5], [0, 1], [1, 0], [0.3, 0.7]])


def _entropy(lj):
    p = torch.exp(lj)
    return float(-torch.where(p > 0, p * lj, torch.zeros_like(p)).sum())


@given(tiny_languages(), st.integers(0, 3))
def test_automaton_form_has_the_language_law(lang, extra):
    L = lang.min_length() + extra
    a = AutomatonLanguage(emission_automaton(lang))
    ref = exact_log_joint(lang, L)
    got = exact_log_joint(a, L)
    assert torch.equal(torch.isfinite(ref), torch.isfinite(got))
    assert torch.allclose(got[torch.isfinite(ref)], ref[torch.isfinite(ref)], atol=1e-12)
    assert math.isclose(a.entropy(L), _entropy(ref), abs_tol=1e-10)


@pytest.mark.parametrize(
    "lang,L",
    [(TRIGRAM, 5), (dyck_language(2), 6), (parity_language(), 5), (block_parity_hmm(3, 2), 6)],
    ids=["trigram", "dyck", "parity", "block_parity"],
)
def test_unambiguous_forms_exact_entropy_and_pair_marginals(lang, L):
    a = AutomatonLanguage(emission_automaton(lang))
    assert a.automaton.unambiguous
    lj = exact_log_joint(lang, L)
    assert math.isclose(a.entropy(L), _entropy(lj), abs_tol=1e-10)
    p, seqs = torch.exp(lj), all_sequences(lang.vocab_size, L)
    V = lang.vocab_size
    pairs = a.pair_marginals(L)
    for t in range(L - 1):
        ref = torch.zeros(V, V, dtype=torch.float64).index_put_(
            (seqs[:, t], seqs[:, t + 1]), p, accumulate=True
        )
        assert torch.allclose(pairs[t], ref, atol=1e-12)
    ref_tok = torch.stack(
        [torch.zeros(V, dtype=torch.float64).index_add_(0, seqs[:, t], p) for t in range(L)]
    )
    assert torch.allclose(a.token_marginals(L), ref_tok, atol=1e-12)


def test_ambiguous_automaton_entropy_by_enumeration_or_refused():
    hmm = random_hmm(3, 3, transition_support=2, emission_support=2, seed=1)
    a = AutomatonLanguage(emission_automaton(hmm))
    assert not a.automaton.unambiguous
    assert math.isclose(a.entropy(4), hmm.entropy(4), abs_tol=1e-12)
    with pytest.raises(NotImplementedError, match="ambiguous"):
        a.entropy(20)


@pytest.mark.parametrize("pad_token", [False, True])
@pytest.mark.parametrize(
    "base,eta,L", [(TRIGRAM, 0.3, 5), (dyck_language(2), 0.5, 7), (random_hmm(3, 2, seed=4), 0.4, 4)]
)
def test_eos_language_law(base, eta, L, pad_token):
    e = EOSLanguage(base, eta, pad_token=pad_token)
    V, E = base.vocab_size, e.eos_id
    lj = exact_log_joint(e, L)
    assert abs(float(torch.logsumexp(lj, 0))) < 1e-12
    seqs = all_sequences(e.vocab_size, L)
    ok = torch.isfinite(lj)
    n = e.content_lengths(seqs)
    # structure: content (base tokens) of length n >= 1, EOS at n, then padding only
    pos = torch.arange(L)
    pad = E if not pad_token else E + 1
    shape_ok = (n >= 1) & (n < L)
    shape_ok &= torch.where(pos < n.unsqueeze(1), seqs < V, True).all(1)
    shape_ok &= torch.where(pos > n.unsqueeze(1), seqs == pad, True).all(1)
    assert bool(shape_ok[ok].all())
    # content given its length is the base law at that length; lengths follow (1-eta)^(n-1) eta Z_n
    p = torch.exp(lj)
    weights = []
    for m in range(1, L):
        log_z = base.log_normalizer(m) if isinstance(base, DFALanguage) else 0.0  # Z_n of the base
        weights.append((1 - eta) ** (m - 1) * eta * math.exp(log_z) if math.isfinite(log_z) else 0.0)
        sel = ok & (n == m)
        if bool(sel.any()) and m >= base.min_length():
            base_lj = exact_log_joint(base, m)
            cond = p[sel] / p[sel].sum()
            assert torch.allclose(cond, torch.exp(base_lj[sequence_index(seqs[sel][:, :m], V)]), atol=1e-12)
    law = torch.tensor([0.0, *weights], dtype=torch.float64)
    assert torch.allclose(e.length_law(L), law / law.sum(), atol=1e-12)
    assert math.isclose(e.entropy(L), _entropy(lj), abs_tol=1e-10)


@pytest.mark.parametrize("pad_token", [False, True])
def test_eos_sampling_oracle_and_leave_one_out(pad_token):
    e = EOSLanguage(TRIGRAM, 0.3, pad_token=pad_token)
    L = 5
    law = torch.exp(exact_log_joint(e, L))
    x = e.sample(20000, L, make_generator(3))
    assert grouped_chi_square(x, law, e.vocab_size).pvalue > P_MIN
    g = make_generator(9)
    part = torch.where(torch.rand(x[:40].shape, generator=g) < 0.5, e.mask_id, x[:40])
    part[0] = e.mask_id
    a = OracleDenoiser(e, on_impossible="uniform")
    b = BruteForceDenoiser(exact_log_joint(e, L), e.vocab_size, L, on_impossible="uniform")
    assert torch.allclose(a(part).probs, b(part).probs, atol=1e-12)
    loo = a.leave_one_out(part[:8])
    for i in range(L):
        rows = part[:8].clone()
        rows[:, i] = e.mask_id
        assert torch.allclose(torch.exp(loo.log_probs[:, i]), b(rows).probs[:, i], atol=1e-12)


def test_eos_languages_at_bench_lengths():
    e = EOSLanguage(dyck_language(4), 0.25)
    x = e.sample(64, 1024, make_generator(0))
    assert bool(torch.isfinite(e.log_prob(x)).all())
    n = e.content_lengths(x)
    assert bool((n % 2 == 0).all()) and bool((x[:, -1] == e.eos_id).all())
    assert math.isclose(float(e.length_law(1024).sum()), 1.0, abs_tol=1e-9)


def test_automaton_validation():
    one = torch.ones(1, dtype=torch.float64)
    with pytest.raises(InvalidDistributionError, match="emission"):
        EmissionAutomaton(one, one.reshape(1, 1), torch.tensor([[0.5, 0.4]], dtype=torch.float64), one)
    with pytest.raises(InvalidDistributionError, match="final"):
        EmissionAutomaton(one, one.reshape(1, 1), torch.tensor([[0.5, 0.5]], dtype=torch.float64), -one)
    with pytest.raises(InvalidTypeError, match="emission-automaton"):
        emission_automaton(object())
    with pytest.raises(InvalidArgumentError, match="stop_probability"):
        EOSLanguage(TRIGRAM, 1.0)
    with pytest.raises(InvalidArgumentError, match="no sequence of length 1"):
        EOSLanguage(TRIGRAM, 0.5).sample(2, 1, make_generator(0))
