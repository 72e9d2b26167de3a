"""The evidence-tree session's code paths against the full oracle (itself checked by brute force).

Every combination of the tree's layout choices gives the full oracle's marginals at every step (to float64
rounding) and the same impossibility flags: block sizes b = 2..16 with a partial last block, chunk tables
of g = 1, 2, 3 node factors (g dividing b or not), queries in chunks of one pair or all pairs, one reveal
per row and step (K = L: no ``torch.unique``, path-only updates) or several (shared ancestors), node 0
with several positions (order-4 n-gram), sparse chains whose rows become impossible, and chains whose last
node carries final weights (DFA acceptance, EOS languages, a random automaton with fractional finals).
"""

import pytest
import torch

from sims import random_hmm, random_ngram
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.inference.evidence_tree import EvidenceTreeSession, choose_block, choose_chunk
from sims.inference.incremental import position_layout
from sims.inference.linear import evidence_table, node_evidence
from sims.languages.emission import AutomatonLanguage, EmissionAutomaton
from sims.languages.eos import EOSLanguage
from sims.languages.formal import dyck_language, mod_sum_language, parity_language
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


def _random_final_automaton(seed: int) -> AutomatonLanguage:
    """An emission automaton with final weights strictly between 0 and 1 and an exact zero (general f)."""
    g = make_generator(seed)
    S, V = 4, 3
    emission = torch.rand((S, V), dtype=torch.float64, generator=g)
    emission[0, 1] = 0.0
    transition = torch.rand((S, S), dtype=torch.float64, generator=g)
    transition[1, 2] = 0.0
    final = torch.rand(S, dtype=torch.float64, generator=g)
    final[3] = 0.0
    return AutomatonLanguage(
        EmissionAutomaton(
            torch.rand(S, dtype=torch.float64, generator=g),
            transition / transition.sum(1, keepdim=True),
            emission / emission.sum(1, keepdim=True),
            final,
        ),
        name="random_final",
    )


#: Chains whose last node carries final weights (an automaton's acceptance): the tree ends the suffix in f.
AUTOMATA = {
    "parity": parity_language(),
    "dyck3": dyck_language(3),
    "modsum": mod_sum_language(3, 3, 1),
    "hmm_eos": EOSLanguage(random_hmm(3, 2, seed=2), 1 / 4),
    "dyck_eos": EOSLanguage(dyck_language(2), 1 / 3),
    "random_final": _random_final_automaton(6),
}


@pytest.mark.parametrize("name", sorted(AUTOMATA))
@pytest.mark.parametrize("b,one_per_row", [(2, True), (8, False), (4, True)])
def test_final_weights_give_the_full_oracle_marginals(name, b, one_per_row):
    lang = AUTOMATA[name]
    chain = lang.chain()
    assert chain.final_log_weights() is not None
    B, L = 6, 24
    layout = position_layout(chain, L)
    assert layout is not None and layout.final is not None
    if one_per_row:
        steps = L
        schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(5))
    else:
        steps = 5
        schedule = torch.randint(0, steps, (B, L), generator=make_generator(6))
    S = chain.num_states
    err, sess = _drive(lang, schedule, steps, max_bytes=_bytes_for_block(B, L, S, b), query_bytes=1 << 12)
    assert sess.b == b and err < 1e-13
    assert not bool(sess.uncertified.any())  # answered by the tree, not by the fallback
    if one_per_row:  # values drawn from exact laws, one at a time: no row can leave the support
        assert sess.fallback_rows == 0


@pytest.mark.parametrize("L", [1, 2, 3])
def test_final_weights_at_the_shortest_lengths(L):
    """n = L - 1 = 0, 1, 2 tree leaves: node 0 alone carries the final weights at L = 1."""
    lang = AUTOMATA["random_final"]
    schedule = FixedCountSampler(L).reveal_schedule(4, L, make_generator(7))
    err, _ = _drive(lang, schedule, L)
    assert err < 1e-13


def test_final_weights_are_read_apart_from_the_token_table():
    """The per-token table of an automaton chain is its evidence at a non-last node (no acceptance), and
    the full pass keeps its generic evidence (the table path would drop the final weights)."""
    chain = AUTOMATA["dyck3"].chain()
    lin, _ = evidence_table(chain, torch.float64)
    V = chain.vocab_size
    assert torch.equal(lin[V], torch.ones_like(lin[V]))
    assert torch.equal(lin[:V].sum(0), torch.ones_like(lin[V]))  # one-hot of each lifted state's token
    ev = node_evidence(chain, torch.full((2, 5), V, dtype=torch.long), torch.float64)
    assert ev.table is None and bool((ev.E[-1] == 0).any())  # acceptance zeroes rejecting states
