"""Leave-one-out conditionals and draft log-probabilities of the oracle against brute-force enumeration."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import (
    PASS_CONVENTIONS,
    PassUnavailableError,
    masked_leave_one_out,
    pass_conventions,
)
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.enumeration import all_sequences
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.inference.chain import LiftedChain
from sims.inference.leave_one_out import leave_one_out_posteriors
from sims.languages import NGramLanguage, random_hmm
from sims.languages.formal import dyck_language, parity_language
from sims.languages.hard import pair_copy_language
from sims.validation import ImpossibleEvidenceError, InvalidArgumentError
from tests.strategies import tiny_languages


def _partial(lang, L, n, seed, p_mask, noise=0.3):
    g = make_generator(seed)
    x = lang.sample(n, L, g)
    junk = torch.randint(0, lang.vocab_size, (n, L), generator=g)
    x = torch.where(torch.rand(n, 1, generator=g) < noise, junk, x)
    return torch.where(torch.rand(n, L, generator=g) < p_mask, lang.vocab_size, x)


def brute_loo(lang, tokens):
    """p(x_i | x_{R minus i}) by summation over all V**L sequences, position by position."""
    B, L = tokens.shape
    V = lang.vocab_size
    brute = BruteForceDenoiser(exact_log_joint(lang, L), V, L, on_impossible="uniform")
    out = torch.empty((B, L, V), dtype=torch.float64)
    imp = torch.zeros((B, L), dtype=torch.bool)
    for i in range(L):
        rows = tokens.clone()
        rows[:, i] = V
        o = brute(rows)
        out[:, i] = o.log_probs[:, i]
        imp[:, i] = o.impossible
    return out, imp


def _assert_same(a_lp, a_imp, b_lp, b_imp):
    assert torch.equal(a_imp, b_imp)
    ok = ~a_imp
    fa, fb = torch.isfinite(a_lp[ok]), torch.isfinite(b_lp[ok])
    assert torch.equal(fa, fb), "structural zeros differ"
    assert torch.allclose(torch.exp(a_lp[ok]), torch.exp(b_lp[ok]), atol=1e-12, rtol=0)


@given(tiny_languages(), st.integers(0, 3), st.integers(0, 10**6), st.sampled_from([0.0, 0.3, 0.7]))
def test_leave_one_out_equals_enumeration(lang, extra, seed, p_mask):
    L = lang.min_length() + extra
    x = _partial(lang, L, 10, seed, p_mask)
    out = OracleDenoiser(lang, on_impossible="uniform").leave_one_out(x)
    assert not out.generic
    _assert_same(out.log_probs, out.impossible, *brute_loo(lang, x))


@pytest.mark.parametrize(
    "lang,L",
    [(parity_language(), 5), (dyck_language(2), 6), (pair_copy_language(3), 4)],
    ids=["parity", "dyck", "pair"],
)
def test_leave_one_out_formal_and_hard_languages(lang, L):
    x = _partial(lang, L, 16, 3, 0.3)
    out = OracleDenoiser(lang, on_impossible="uniform").leave_one_out(x)
    _assert_same(out.log_probs, out.impossible, *brute_loo(lang, x))


class _Declining(LiftedChain):
    """The chain of a language without the leave-one-out capability (delegates everything else)."""

    def __init__(self, chain):
        self.c = chain
        self.num_states, self.vocab_size, self.log_initial = (
            chain.num_states,
            chain.vocab_size,
            chain.log_initial,
        )

    def num_nodes(self, length):
        return self.c.num_nodes(length)

    def evidence(self, tokens):
        return self.c.evidence(tokens)

    def add_evidence(self, log_msg, log_ev):
        return self.c.add_evidence(log_msg, log_ev)

    def propagate_forward(self, log_msg):
        return self.c.propagate_forward(log_msg)

    def propagate_backward(self, log_msg):
        return self.c.propagate_backward(log_msg)

    def token_log_marginals(self, log_gamma, length):
        return self.c.token_log_marginals(log_gamma, length)


@pytest.mark.parametrize(
    "lang",
    [NGramLanguage(3, 2, [0.1, 0.2, 0.3, 0.4], [[0.5, 0.5], [0, 1], [1, 0], [0.3, 0.7]]), dyck_language(2)],
)
def test_generic_fallback_equals_fast_path(lang):
    x = _partial(lang, 6, 12, 5, 0.4)
    fast = leave_one_out_posteriors(lang.chain(), x)
    slow = leave_one_out_posteriors(_Declining(lang.chain()), x)
    assert slow.generic and not fast.generic
    _assert_same(fast.log_probs, fast.impossible, slow.log_probs, slow.impossible)


def test_leave_one_out_sees_past_one_impossible_token():
    """Pair copy: x0 = 1 and x1 = copy of 2 is impossible, yet each position alone has a conditional."""
    lang = pair_copy_language(3)
    x = torch.tensor([[1, 5, 3, 3]])  # x1 should be 4 (copy of 1) and x3 should be 3 + 3 = 6
    o = OracleDenoiser(lang, on_impossible="uniform").leave_one_out(x)
    assert o.impossible.tolist() == [[True, True, True, True]]  # two violations: every LOO still sees one
    y = torch.tensor([[1, 5, 0, 3]])
    o = OracleDenoiser(lang, on_impossible="uniform").leave_one_out(y)
    assert o.impossible.tolist() == [[False, False, True, True]]
    assert math.isclose(float(torch.exp(o.log_probs[0, 0, 2])), 1.0)  # x0 must be the symbol x1 copies
    with pytest.raises(ImpossibleEvidenceError):
        OracleDenoiser(lang).leave_one_out(y)


def brute_draft(lang, tokens, draft):
    L, V = tokens.shape[1], lang.vocab_size
    lj = exact_log_joint(lang, L)
    seqs = all_sequences(V, L)
    out = []
    for t, d in zip(tokens, draft):
        rev = t < V
        both = rev | (d < V)
        merged = torch.where(d < V, d, t)
        a = torch.logsumexp(torch.where((seqs[:, both] == merged[both]).all(-1), lj, -math.inf), 0)
        b = torch.logsumexp(torch.where((seqs[:, rev] == t[rev]).all(-1), lj, -math.inf), 0)
        out.append(float(a - b))
    return torch.tensor(out, dtype=torch.float64)


@given(tiny_languages(), st.integers(1, 3), st.integers(0, 10**6))
def test_draft_joint_and_chain_rule_equal_enumeration(lang, extra, seed):
    L = lang.min_length() + extra
    g = make_generator(seed)
    x = lang.sample(8, L, g)
    keep = torch.rand(8, L, generator=g) < 0.4
    tokens = torch.where(keep, x, lang.vocab_size)
    draft = torch.where(~keep & (torch.rand(8, L, generator=g) < 0.7), x, lang.vocab_size)
    draft[0] = torch.where(~keep[0], (x[0] + 1) % lang.vocab_size, lang.vocab_size)  # maybe impossible
    out = OracleDenoiser(lang).draft_log_prob(tokens, draft, chain_rule=True)
    ref = brute_draft(lang, tokens, draft)
    assert torch.equal(torch.isfinite(out.joint), torch.isfinite(ref))
    fin = torch.isfinite(ref)
    assert torch.allclose(out.joint[fin], ref[fin], atol=1e-10, rtol=1e-10)
    c = torch.nan_to_num(out.conditionals, nan=0.0).sum(1)
    assert torch.allclose(c[fin], ref[fin], atol=1e-10, rtol=1e-10)
    empty = (draft == lang.vocab_size).all(1)
    assert bool((out.joint[empty] == 0).all())


def test_joint_is_not_the_product_of_marginals_on_pair_copy():
    lang = pair_copy_language(4)
    o = OracleDenoiser(lang)
    tokens = torch.full((1, 4), 8)
    draft = torch.tensor([[0, 4, 8, 8]])
    joint = float(o.draft_log_prob(tokens, draft).joint[0])
    marg = o(tokens).log_probs[0]
    assert math.isclose(joint, math.log(1 / 4), abs_tol=1e-12)
    assert math.isclose(float(marg[0, 0] + marg[1, 4]), math.log(1 / 16), abs_tol=1e-12)


def test_draft_arguments_are_checked():
    o = OracleDenoiser(pair_copy_language(2))
    with pytest.raises(InvalidArgumentError, match="only fill masked"):
        o.draft_log_prob(torch.tensor([[0, 4, 4, 4]]), torch.tensor([[0, 4, 4, 4]]))
    with pytest.raises(InvalidArgumentError, match="shape"):
        o.draft_log_prob(torch.full((1, 4), 4), torch.full((1, 3), 4))


def test_other_denoisers_decline_and_masked_reprediction_approximates():
    lang = random_hmm(3, 3, transition_support=2, emission_support=2, seed=2)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    noisy = PerturbedDenoiser(oracle, temperature=1.0)
    assert noisy.passes() == ("marginals", "lookahead") and set(oracle.passes()) == set(PASS_CONVENTIONS)
    x = _partial(lang, 4, 6, 1, 0.3, noise=0.0)
    with pytest.raises(PassUnavailableError, match="masked_leave_one_out"):
        noisy.leave_one_out(x)
    with pytest.raises(PassUnavailableError):
        noisy.draft_log_prob(x, x)
    approx, calls = masked_leave_one_out(noisy, x)
    exact = oracle.leave_one_out(x)
    _assert_same(approx.log_probs, approx.impossible, exact.log_probs, exact.impossible)
    assert calls == 6 + int((x < 3).sum())
    assert set(pass_conventions("leave_one_out")) == {"leave_one_out"}
    with pytest.raises(ValueError):
        pass_conventions("tree")
