"""AP-MDM's parity task on the official test format [BOS] bits [EOS] (theory/parity_eos.py).

References used: AP-MDM's map g (sims.sampling.any_process.apply_transition) on the official 7 transitions;
the suite's own EOS-free parity controls (parity_reduction_controls), whose runs must coincide with the
lone-zero completion once EOS is dropped; a left-to-right simulation of the pair automaton per string and
its dynamic-programming counts for the stuck inputs.
"""

from __future__ import annotations

import itertools

import pytest

from sims.sampling.any_process import apply_transition, parity_reduction_controls, run_any_process
from theory.parity_eos import (
    EOS,
    LONE_ZERO_TRANSITIONS,
    OFFICIAL_TRANSITIONS,
    TOK,
    parity_eos_row,
    parity_eos_study,
    pending_state_counts,
    transition_controls,
    window_policy,
)


@pytest.mark.parametrize("pair", OFFICIAL_TRANSITIONS + LONE_ZERO_TRANSITIONS)
def test_controls_reproduce_each_transition_through_g(pair):
    a, b = pair
    assert apply_transition(a, *transition_controls(a, b), mask_id=TOK.mask) == b


def _automaton_end(bits) -> str:
    state = "none"
    for b in bits:
        if state == "none":
            state = "zero" if b == TOK.zero else "one"
        elif (state == "zero") == (b == TOK.zero):
            state = "none"
        else:
            state = "one"
    return state


def test_stuck_inputs_are_exactly_those_ending_with_a_pending_zero():
    policy = window_policy("official")
    for n in range(9):
        stuck = 0
        for bits in itertools.product((TOK.zero, TOK.one), repeat=n):
            end = run_any_process((TOK.bos, *bits, EOS), policy, TOK.mask)[-1]
            is_stuck = end == (TOK.bos, TOK.zero, EOS)
            assert is_stuck == (_automaton_end(bits) == "zero")
            stuck += is_stuck
        assert stuck == pending_state_counts(n)["zero"] == parity_eos_row(n, "official").stuck_lone_zero
        assert sum(pending_state_counts(n).values()) == 2**n


def test_completion_with_eos_runs_like_the_suites_eos_free_controls():
    policy = window_policy("lone_zero_completion")
    for n in range(9):
        for bits in itertools.product((TOK.zero, TOK.one), repeat=n):
            with_eos = run_any_process((TOK.bos, *bits, EOS), policy, TOK.mask)
            without = run_any_process((TOK.bos, *bits), parity_reduction_controls, TOK.mask)
            assert [s[:-1] for s in with_eos] == without
            assert all(s[-1] == EOS for s in with_eos)


def test_study_counts():
    s = parity_eos_study(8)
    for conv, rows in s["conventions"].items():
        for r in rows:
            assert r["literal_correct"] == 0  # g deletes only masks: EOS stays
            assert r["strings"] == 2 ** r["length"]
            assert r["max_g_steps"] <= 2 * max(r["length"], 1)
            if conv == "lone_zero_completion":
                assert r["correct_modulo_eos"] == r["strings"] and r["stuck_lone_zero"] == 0
            else:
                assert r["correct_modulo_eos"] + r["stuck_lone_zero"] == r["strings"]
    assert s["pending_zero"] == [r["stuck_lone_zero"] for r in s["conventions"]["official"]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="convention"):
        window_policy("strict")
    with pytest.raises(ValueError, match="length"):
        parity_eos_row(-1, "official")
    with pytest.raises(ValueError, match="max_length"):
        parity_eos_study(0)
    with pytest.raises(ValueError, match="longer"):
        transition_controls((TOK.bos,), (TOK.bos, TOK.mask))
