"""PrefixDenoiser (sims/denoisers/prefix.py): a length-N denoiser used at length L <= N.

Reference: for an n-gram language the law at length L is the prefix marginal of the law at length N, so the
prefix of the length-N oracle must equal the oracle at length L on every partial sequence (enumerated).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.prefix import PrefixDenoiser
from sims.languages.random import random_ngram
from sims.validation import InvalidArgumentError, InvalidTypeError


def test_prefix_of_the_oracle_is_the_oracle_at_the_shorter_length():
    lang = random_ngram(2, 3, concentration=0.5, seed=1)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    prefix = PrefixDenoiser(oracle, 5)
    V = lang.vocab_size
    tokens = torch.tensor(list(itertools.product(range(V + 1), repeat=3)), dtype=torch.long)
    a, b = oracle(tokens), prefix(tokens)
    ok = ~a.impossible
    assert torch.equal(a.impossible, b.impossible)
    assert (a.probs[ok] - b.probs[ok]).abs().max() < 1e-13
    assert b.log_probs.shape == (tokens.shape[0], 3, V)


def test_full_length_is_the_base_and_longer_inputs_are_rejected():
    lang = random_ngram(2, 3, concentration=0.5, seed=2)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    prefix = PrefixDenoiser(oracle, 4)
    tokens = torch.tensor([[0, 3, 1, 3], [3, 3, 3, 3]])
    assert torch.equal(prefix(tokens).log_probs, oracle(tokens).log_probs)
    with pytest.raises(InvalidArgumentError, match="full_length"):
        prefix(torch.tensor([[0, 1, 2, 0, 1]]))
    with pytest.raises(InvalidTypeError, match="base"):
        PrefixDenoiser("oracle", 4)
