"""The hard SER languages: structure, exact zeros, exact log-probabilities and entropies."""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.exact import exact_log_joint
from sims.languages.hard import block_parity_hmm, pair_copy_language, sparse_successor_chain
from sims.languages.markov import stationary_distribution


@pytest.mark.parametrize("V", [2, 3, 8])
def test_pair_copy_structure_and_log_prob(V):
    lang = pair_copy_language(V)
    assert lang.vocab_size == 2 * V
    assert bool((lang.transition == 0).any())  # exact zeros
    L = 10
    x = lang.sample(200, L, make_generator(1))
    assert torch.equal(x[:, 1::2], x[:, 0::2] + V)
    assert bool((x[:, 0::2] < V).all())
    torch.testing.assert_close(
        lang.log_prob(x), torch.full((200,), -(L // 2) * math.log(V), dtype=torch.float64)
    )
    bad = x.clone()
    bad[:, 1] = (bad[:, 0] + 1) % V + V
    assert not bool(lang.in_support(bad).any())
    assert lang.entropy(L) == pytest.approx((L // 2) * math.log(V), rel=1e-12)


def test_pair_copy_enumeration_matches_definition():
    V, L = 2, 4
    lj = exact_log_joint(pair_copy_language(V), L)
    p = torch.exp(lj)
    from sims.exact import all_sequences

    seqs = all_sequences(2 * V, L)
    ok = (seqs[:, 0] < V) & (seqs[:, 1] == seqs[:, 0] + V) & (seqs[:, 2] < V) & (seqs[:, 3] == seqs[:, 2] + V)
    torch.testing.assert_close(p, torch.where(ok, 1.0 / V**2, 0.0).double())


def test_sparse_successor_chain():
    lang = sparse_successor_chain(8, offsets=(1, 2), weights=(0.3, 0.7))
    P = lang.transition
    assert bool(((P > 0).sum(1) == 2).all())
    pi = stationary_distribution(P)  # raises unless the stationary law is unique
    torch.testing.assert_close(pi, torch.full((8,), 1 / 8, dtype=torch.float64))
    torch.testing.assert_close(lang.initial, pi)
    x = lang.sample(300, 20, make_generator(2))
    d = (x[:, 1:] - x[:, :-1]) % 8
    assert bool(((d == 1) | (d == 2)).all())
    # aperiodic: some power of P is strictly positive
    assert bool((torch.linalg.matrix_power(P, 16) > 0).all())


@pytest.mark.parametrize("block,V", [(2, 2), (3, 2), (3, 3), (4, 2)])
def test_block_parity_hmm(block, V):
    lang = block_parity_hmm(block, V)
    L = 3 * block
    x = lang.sample(300, L, make_generator(3))
    sums = x.reshape(300, 3, block).sum(-1) % V
    assert bool((sums == 0).all())
    torch.testing.assert_close(
        lang.log_prob(x), torch.full((300,), -3 * (block - 1) * math.log(V), dtype=torch.float64)
    )
    if V**L <= 2**12:
        assert lang.entropy(L) == pytest.approx(3 * (block - 1) * math.log(V), rel=1e-12)
        lj = exact_log_joint(lang, L)
        assert int(torch.isfinite(lj).sum()) == V ** (
            3 * (block - 1)
        )  # the support is exactly the constraint set


def test_binary_block_parity_equals_binary_pair_copy():
    L = 6
    a = torch.exp(exact_log_joint(block_parity_hmm(2, 2), L)).reshape((2,) * L)
    b = torch.exp(exact_log_joint(pair_copy_language(2), L)).reshape((4,) * L)
    # relabel pair-copy second slots (tokens 2, 3) to 0, 1
    idx = [slice(0, 2) if i % 2 == 0 else slice(2, 4) for i in range(L)]
    torch.testing.assert_close(a, b[tuple(idx)])


def test_bad_arguments():
    with pytest.raises(ValueError):
        pair_copy_language(1)
    with pytest.raises(ValueError):
        sparse_successor_chain(8, offsets=(1, 9))
    with pytest.raises(ValueError):
        sparse_successor_chain(8, offsets=(1, 2), weights=(0.5, 0.6))
    with pytest.raises(ValueError):
        block_parity_hmm(1, 2)
