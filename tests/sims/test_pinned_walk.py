"""Pinned walks (n-grams of any order) against the full oracle, itself checked by brute force.

The session answers with the evidence tree until its walks are short and then with walks between pinned
contexts; every switch point (walks from the first step, from the middle, never) gives the full oracle's
marginals at every step, the same impossibility flags (also when a revealed value has probability zero,
as teacher forcing can reveal), and the pin width is that of the chain.
"""

import pytest
import torch

from sims import random_hmm, random_ngram
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.inference.incremental import position_layout
from sims.inference.pinned_walk import PinnedWalkSession, longest_unpinned_run, pin_width
from sims.inference.scheduled import scheduled_session
from sims.sampling.fixed_count import FixedCountSampler
from tests.helpers import P_MIN, grouped_chi_square_pvalue, oracle_fallback, session_error

LANGS = {
    "bigram": random_ngram(2, 5, support_size=3, seed=1),
    "trigram": random_ngram(3, 3, support_size=2, seed=1),
    "trigram_dense": random_ngram(3, 4, seed=2),
    "4gram": random_ngram(4, 2, support_size=2, seed=4),
}


def _drive(lang, schedule, steps, max_walk, adversarial=False):
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    layout = position_layout(lang.chain(), schedule.shape[1])
    width = pin_width(layout)
    sess = PinnedWalkSession(
        layout,
        schedule,
        oracle_fallback(oracle),
        steps,
        on_impossible="uniform",
        width=width,
        max_walk=max_walk,
    )

    def least_likely(k, log_probs):  # every third step the least likely value: often probability zero
        return log_probs.argmin(-1) if adversarial and k % 3 == 0 else None

    err = session_error(sess, oracle, schedule.shape, steps, seed=1, pick=least_likely)
    return err, sess


def test_pin_width_is_the_context_length():
    L = 20
    widths = {name: pin_width(position_layout(lang.chain(), L)) for name, lang in LANGS.items()}
    assert widths == {"bigram": 1, "trigram": 2, "trigram_dense": 2, "4gram": 3}
    assert pin_width(position_layout(random_hmm(4, 3, seed=0).chain(), L)) is None


@pytest.mark.parametrize("name", sorted(LANGS))
@pytest.mark.parametrize("max_walk", [1, 4, 100])
def test_walks_give_the_full_oracle_marginals(name, max_walk):
    lang = LANGS[name]
    B, L = 6, 40
    schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(2))
    err, sess = _drive(lang, schedule, L, max_walk)
    assert err < 1e-13
    if max_walk == 100:
        assert sess.walk_from == 0  # walks throughout (no run is longer than L)
    if max_walk == 4:
        assert 0 < sess.walk_from < L  # the tree first, then walks


@pytest.mark.parametrize("max_walk", [4, 100])
def test_revealed_values_of_probability_zero_make_rows_impossible(max_walk):
    lang = LANGS["trigram"]
    B, L = 8, 30
    schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(3))
    err, sess = _drive(lang, schedule, L, max_walk, adversarial=True)
    assert err < 1e-13 and bool(sess.impossible.any())


def test_several_reveals_per_row_keep_the_tree():
    lang = LANGS["trigram"]
    schedule = torch.randint(0, 5, (6, 30), generator=make_generator(4))
    err, sess = _drive(lang, schedule, 5, max_walk=100)
    assert sess.walk_from == 5 and err < 1e-13


def test_longest_unpinned_run():
    pin_time = torch.tensor([[0, 3, 3, 1, 5, 5, 5, 2]])
    assert [longest_unpinned_run(pin_time, k) for k in (0, 1, 2, 3, 4, 6)] == [8, 7, 4, 3, 3, 0]


def test_the_dispatcher_takes_walks_for_ngrams_only():
    L = 30
    schedule = FixedCountSampler(L).reveal_schedule(2, L, make_generator(0))
    fallback = lambda t: None  # noqa: E731 (never called: no row dies)
    tri = scheduled_session(LANGS["trigram"].chain(), schedule, L, fallback, engine="evidence_tree")
    hmm = scheduled_session(random_hmm(4, 3, seed=0).chain(), schedule, L, fallback)
    assert isinstance(tri, PinnedWalkSession) and not isinstance(hmm, PinnedWalkSession)
    assert tri.engine == hmm.engine == "evidence_tree"


def test_walk_path_matches_the_exact_law():
    """Tiny trigram, one token per step: the session walks from the first step; chi-square against the
    exact law of the sampler."""
    lang = LANGS["trigram"]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_sampler_law(FixedCountSampler(5, oracle_path="full"), oracle, 5)
    res = FixedCountSampler(5, oracle_path="incremental").sample(oracle, 20000, 5, make_generator(11))
    assert res.conventions["extras"]["oracle_path"] == "incremental:evidence_tree"
    assert grouped_chi_square_pvalue(res.tokens, law, lang.vocab_size) > P_MIN
