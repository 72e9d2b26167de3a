"""The evidence-tree session's code paths against the full oracle (itself checked by brute force).

Every combination of the tree's layout choices gives the full oracle's marginals at every step (to float64
rounding) and the same impossibility flags: block sizes b = 2..16 with a partial last block, chunk tables
of g = 1, 2, 3 node factors (g dividing b or not), queries in chunks of one pair or all pairs, one reveal
per row and step (K = L: no ``torch.unique``, path-only updates) or several (shared ancestors), node 0
with several positions (order-4 n-gram), sparse chains whose rows become impossible.
"""

import pytest
import torch

from sims import random_hmm, random_ngram
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.inference.evidence_tree import EvidenceTreeSession, choose_block, choose_chunk
from sims.inference.incremental import position_layout
from sims.sampling.fixed_count import FixedCountSampler
from tests.conformance.cases import CYCLE
from tests.helpers import oracle_fallback, session_error

LANGS = {
    "hmm": random_hmm(4, 3, transition_support=2, emission_support=2, seed=0),
    "hmm_dense": random_hmm(5, 4, seed=3),
    "trigram": random_ngram(3, 3, support_size=2, seed=1),
    "4gram": random_ngram(4, 2, support_size=2, seed=4),
}


def _drive(lang, schedule, steps, **tree):
    """Run a tree session beside the full oracle; returns the max abs difference of marginals."""
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    layout = position_layout(lang.chain(), schedule.shape[1])
    sess = EvidenceTreeSession(
        layout, schedule, oracle_fallback(oracle), steps, on_impossible="uniform", **tree
    )
    err = session_error(sess, oracle, schedule.shape, steps, seed=1)
    return err, sess


def _bytes_for_block(B, L, S, b):
    """A tree budget for which :func:`choose_block` picks block size ``b``."""
    n = L - 1
    blocks = -(-n // b)
    return B * 2 * (1 << (blocks - 1).bit_length()) * S**2 * 8


#: (language, block size, chunk factors): every language, b = 2, 8, 16, g = 1, 2, 3, g dividing b or not
COVER = [("hmm", 8, 3), ("hmm_dense", 16, 2), ("trigram", 2, 1), ("4gram", 8, 2), ("4gram", 16, 3)]
GRID = [(n, b, g) for n in sorted(LANGS) for b in (2, 8, 16) for g in (1, 2, 3)]


@pytest.mark.parametrize(
    "name,b,g", COVER + [pytest.param(*c, marks=pytest.mark.slow) for c in GRID if c not in COVER]
)
@pytest.mark.parametrize("one_per_row", [True, False])
def test_tree_layouts_give_the_full_oracle_marginals(name, b, g, one_per_row):
    lang = LANGS[name]
    B, L = 5, 37
    if one_per_row:  # K = L: a uniform order per row, one reveal per row and step
        steps = L
        schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(2))
    else:
        steps = 6
        schedule = torch.randint(0, steps, (B, L), generator=make_generator(3))
    S = lang.chain().num_states
    max_bytes = _bytes_for_block(B, L - position_layout(lang.chain(), L).offset, S, b)
    g_bytes = (lang.vocab_size + 2) ** g * S**2 * 8  # a table of g-factor products fits exactly
    err, sess = _drive(lang, schedule, steps, max_bytes=max_bytes, chunk_bytes=g_bytes, query_bytes=1)
    assert sess.b == b == choose_block(B, sess.n, S, max_bytes) and sess.g == min(b, g)
    assert err < 1e-13


def test_chunk_sizes_cover_one_two_and_three_factors():
    S, codes = 4, 5  # the "hmm" chain: 3 tokens + mask + identity
    assert [choose_chunk(codes, S, m) for m in (1, 3199, 3200, 16000, 1 << 25)] == [1, 1, 2, 3, 7]


@pytest.mark.parametrize("query_bytes", [1, 1 << 22])
def test_query_chunks_and_sparse_rows_becoming_impossible(query_bytes):
    """Several reveals per step on the near-deterministic cycle (a bigram, here through the tree): rows
    become impossible; the answers stay the oracle's."""
    lang = CYCLE
    schedule = torch.randint(0, 3, (40, 12), generator=make_generator(1))
    err, sess = _drive(lang, schedule, 3, query_bytes=query_bytes)
    assert err < 1e-13 and bool(sess.impossible.any())


def test_one_reveal_per_row_at_larger_states_and_length():
    """S = 16, L = 300, K = L (the benchmark's case in small): b = 4 with a partial last block."""
    lang = random_hmm(16, 6, seed=5)
    B, L = 3, 300
    schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(4))
    err, sess = _drive(lang, schedule, L, max_bytes=_bytes_for_block(B, L, 16, 4))
    assert sess.b == 4 and sess.n % 4 != 0 and err < 1e-13
