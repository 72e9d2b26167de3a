"""Formal languages (sims/languages/formal.py) against brute-force enumeration of their definition."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint, sequence_index
from sims.languages.formal import DFALanguage, dyck_language, mod_sum_language, parity_language
from tests.helpers import P_MIN, grouped_chi_square_pvalue


def brute_force_law(lang: DFALanguage, L: int) -> torch.Tensor:
    """q(x) from the definition: product of token weights times acceptance, normalised."""
    seqs = all_sequences(lang.vocab_size, L)
    w = lang.token_weights[seqs].prod(-1)
    acc = torch.tensor([bool(_accepts(lang, s.tolist())) for s in seqs])
    p = torch.where(acc, w, torch.zeros_like(w))
    return p / p.sum()


def _accepts(lang, s):
    state = lang.start
    for v in s:
        state = int(lang.delta[state, v])
    return bool(lang.accept[state])


LANGS = [
    (parity_language(), 5),
    (mod_sum_language(3, 3, 1, [0.2, 0.3, 0.5]), 4),
    (dyck_language(2, 0.3), 6),
    (mod_sum_language(2, 3, 2, [0.7, 0.3]), 5),
]


@pytest.mark.parametrize("lang,L", LANGS)
def test_log_prob_entropy_and_oracle_match_the_definition(lang, L):
    V = lang.vocab_size
    q = brute_force_law(lang, L)
    lj = exact_log_joint(lang, L)
    assert torch.allclose(torch.exp(lj), q, atol=1e-14, rtol=0)
    assert bool((torch.isfinite(lj) == (q > 0)).all())
    nz = q[q > 0]
    assert math.isclose(lang.entropy(L), float(-(nz * nz.log()).sum()), rel_tol=1e-12)
    bf = BruteForceDenoiser(torch.log(q), V, L)
    oracle = OracleDenoiser(lang)
    seqs = lang.sample(64, L, make_generator(1))
    for revealed in itertools.combinations(range(L), 2):
        x = seqs.clone()
        keep = torch.zeros(L, dtype=torch.bool)
        keep[list(revealed)] = True
        x[:, ~keep] = V
        assert torch.allclose(oracle(x).probs, bf(x).probs, atol=1e-12)
    assert bool((lang.accepts(all_sequences(V, L)) == (q > 0)).all())


@pytest.mark.parametrize("lang,L", LANGS)
def test_exact_sampling(lang, L):
    x = lang.sample(20000, L, make_generator(3))
    assert grouped_chi_square_pvalue(x, brute_force_law(lang, L), lang.vocab_size) > P_MIN


@settings(max_examples=15)
@given(st.integers(2, 3), st.integers(2, 4), st.integers(0, 10**6), st.integers(2, 5))
def test_random_mod_sum_languages(V, m, seed, L):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(V, generator=g, dtype=torch.float64) + 0.1
    lang = mod_sum_language(V, m, seed % m, (w / w.sum()).tolist())
    assert torch.allclose(torch.exp(exact_log_joint(lang, L)), brute_force_law(lang, L), atol=1e-14, rtol=0)


def test_parity_has_all_its_dependence_in_the_full_string():
    lang, L = parity_language(), 4
    q = torch.exp(exact_log_joint(lang, L))
    seqs = all_sequences(2, L)
    # any 3 positions are i.i.d. fair bits
    for drop in range(L):
        keep = [i for i in range(L) if i != drop]
        sub = torch.zeros(8, dtype=torch.float64)
        sub.index_add_(0, sequence_index(seqs[:, keep], 2), q)
        assert torch.allclose(sub, torch.full((8,), 1 / 8, dtype=torch.float64))
    assert math.isclose(lang.entropy(L), 3 * math.log(2), rel_tol=1e-12)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        dyck_language(2).check_length(5)  # odd length: no balanced string
    with pytest.raises(ValueError):
        DFALanguage([[0, 1], [1, 0]], 0, [])
    with pytest.raises(ValueError):
        DFALanguage([[0, 2], [1, 0]], 0, [0])
    with pytest.raises(ValueError):
        mod_sum_language(2, 2, 5)
    with pytest.raises(ValueError):
        DFALanguage([[0, 1], [1, 0]], 0, [0], token_weights=[1.0, 0.0])
    with pytest.raises(ValueError):
        parity_language().log_prob(torch.tensor([[0, 2]]))
