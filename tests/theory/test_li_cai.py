"""Li & Cai bounds hold for the exact expected KL of the random-order oracle sampler.

exact (area formula) <= stepwise bound <= (s_max-1)/L sum I <= Theorem 1 (2^ceil(log2 s_max)-1)/L sum I, and
exact <= sum I / K for balanced (LLaDA) counts. The exact value itself is tested against brute force in
test_factorization.py. A fast grid runs by default; the large grid (L up to 4096) is marked slow.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sims.languages.hard import pair_copy_language, sparse_successor_chain
from sims.languages.random import random_ngram
from sims.registry import make_language
from sims.sampling.fixed_count import llada_counts
from sims.validation import InvalidDistributionError
from tests.strategies import tiny_languages
from theory.entropy_profile import ngram_profile, profile_by_enumeration
from theory.information import joint_from_language
from theory.li_cai import (
    SUMMARY_BOUNDS,
    bounds_summary,
    compare_bounds,
    corollary1_bound,
    smax_bound,
    stepwise_bound,
    theorem1_bound,
    theorem1_constant,
)

RTOL = 1e-10


def assert_ordered(c):
    slack = RTOL * max(1.0, c.sum_mutual_information)
    assert -slack <= c.exact <= c.stepwise + slack
    assert c.stepwise <= c.smax + slack
    assert c.smax <= c.theorem1 + slack
    if not math.isnan(c.corollary1):
        assert c.exact <= c.corollary1 + slack
        assert c.corollary1 <= c.corollary1_explicit + slack
        assert c.exact * c.steps <= c.sum_mutual_information + slack  # sharper corollary: C_1 = 1


def random_counts(rng, L):
    """A random composition of L with a random number of parts and uneven sizes."""
    T = int(rng.integers(1, L + 1))
    cuts = np.sort(rng.choice(np.arange(1, L), size=T - 1, replace=False)) if T > 1 else np.array([], int)
    return list(np.diff(np.concatenate([[0], cuts, [L]])).astype(int))


def test_theorem1_constant():
    assert [theorem1_constant(s) for s in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 3, 3, 7, 7, 15]
    with pytest.raises(ValueError):
        theorem1_constant(0)


@given(
    st.integers(2, 6),
    st.sampled_from([0.2, 0.5, 2.0]),
    st.booleans(),
    st.integers(0, 2**20),
    st.sampled_from([8, 33, 128]),
    st.booleans(),
)
def test_bounds_hold_on_random_chains(V, conc, stationary, seed, L, balanced):
    try:
        lang = random_ngram(
            2,
            V,
            concentration=conc,
            stationary=stationary,
            seed=seed,
            support_size=max(1, V - 1) if seed % 2 else None,
        )
    except InvalidDistributionError:  # reducible chain: no unique stationary start
        assume(False)
    prof = ngram_profile(lang, L)
    rng = np.random.default_rng(seed)
    counts = llada_counts(L, int(rng.integers(1, L + 1))) if balanced else random_counts(rng, L)
    assert_ordered(compare_bounds(prof, counts))


@given(tiny_languages(), st.integers(2, 5), st.data())
def test_bounds_hold_on_enumerated_languages(lang, L, data):
    L = max(L, lang.min_length())
    prof = profile_by_enumeration(joint_from_language(lang, L))
    counts = data.draw(st.sampled_from([[L], [1] * L, llada_counts(L, 2), [L - 1, 1], [1, L - 1]]))
    assert_ordered(compare_bounds(prof, counts))


def test_bounds_are_attained_where_they_should_be():
    prof = ngram_profile(make_language("ngram2"), 64)
    c = compare_bounds(prof, [64])  # T = 1: exact = TC, bound = (L-1)/L (TC + DTC)
    assert c.exact == pytest.approx(prof.total_correlation, rel=1e-12)
    assert c.smax == pytest.approx(63 / 64 * prof.sum_mutual_information, rel=1e-12)
    c = compare_bounds(prof, [2] * 32)  # blocks of two: the stepwise bound is exact
    assert c.stepwise == pytest.approx(c.exact, rel=1e-12)
    assert compare_bounds(prof, [1] * 64).exact == 0.0


def test_bound_functions_validate():
    with pytest.raises(ValueError):
        theorem1_bound([2, -1, 3], 1.0)
    with pytest.raises(ValueError):
        corollary1_bound(10, 5, 1.0)
    assert smax_bound([1, 1, 1], 5.0) == 0.0
    assert stepwise_bound(ngram_profile(random_ngram(2, 2, seed=0), 3), [1, 1, 1]) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ngram2", "ngram2_dense", "pair_copy", "sparse"])
@pytest.mark.parametrize("L", [256, 1024, 4096])
def test_bounds_hold_on_large_grid(name, L):
    lang = {"pair_copy": lambda: pair_copy_language(8), "sparse": lambda: sparse_successor_chain(8)}.get(
        name, lambda: make_language(name)
    )()
    prof = ngram_profile(lang, L)
    rng = np.random.default_rng(L)
    schedules = [llada_counts(L, T) for T in sorted({1, 2, 3, 5, 7, 16, 33, 100, L // 3, L // 2, L - 1, L})]
    schedules += [random_counts(rng, L) for _ in range(10)]
    for counts in schedules:
        assert_ordered(compare_bounds(prof, counts))


def test_bounds_summary_reads_the_smallest_ratios():
    prof = ngram_profile(make_language("ngram2"), 64)
    rows = [{"length": 64, **compare_bounds(prof, llada_counts(64, K)).to_dict()} for K in (1, 2, 7, 32, 64)]
    s = bounds_summary(rows)["64"]
    pos = [r for r in rows if r["exact"] > 0]
    for b in SUMMARY_BOUNDS:
        assert s[b] == min(r["ratios"][b] for r in pos) and s[b] >= 1 - RTOL
    assert (
        s["max_K_kl_over_sumI"]
        == max(r["steps"] * r["exact"] / r["sum_mutual_information"] for r in rows)
        <= 1
    )
