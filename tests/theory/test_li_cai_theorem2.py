"""Li & Cai Theorem 2 (lower bound) evaluated for natural laws of its random sets (theory/li_cai.py).

References used:
* brute-force enumeration of every subset W of the other positions and exact mutual informations from
  the joint table (theory.information), for the reduction sum_i E_W I(X_i; X_W) = L D(k);
* the closed form of the largest value any law can give, s_max sum_i I(X_i; X_-i) / (8 L);
* the exact area formula for E_M KL (theory.factorization), itself tested against all ordered partitions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given

from sims.registry import make_language
from tests.strategies import tiny_languages
from theory.entropy_profile import ngram_profile, profile_by_enumeration
from theory.information import joint_entropy, joint_from_language
from theory.li_cai import THEOREM2_LAWS, compare_theorem2, theorem2_lower_bound, theorem2_sizes


def _mi(joint, i, W):
    if not W:
        return 0.0
    return joint_entropy(joint, [i]) + joint_entropy(joint, list(W)) - joint_entropy(joint, [i, *W])


def _balanced(L, T):
    return [L // T + (1 if t < L % T else 0) for t in range(T)]


@given(tiny_languages(max_vocab=3))
def test_average_information_with_a_random_subset_is_the_dependence_curve(lang):
    """sum_i E_{W uniform k-subset of [L] minus i} I(X_i; X_W) = L D(k), by enumerating every subset."""
    L = max(4, lang.min_length())
    joint = joint_from_language(lang, L)
    prof = profile_by_enumeration(joint)
    for k in range(L):
        total = 0.0
        for i in range(L):
            others = [j for j in range(L) if j != i]
            subsets = list(itertools.combinations(others, k))
            total += sum(_mi(joint, i, W) for W in subsets) / len(subsets)
        assert total == pytest.approx(L * float(prof.dependence([k])[0]), rel=1e-9, abs=1e-12)


@given(tiny_languages(max_vocab=3))
def test_theorem2_values_against_brute_force_and_the_envelope(lang):
    """The doubling-law value by brute-force subset enumeration; the 'all' law equals s_max sum I/(8L), and
    no law exceeds it."""
    L = max(4, lang.min_length())
    joint = joint_from_language(lang, L)
    prof = profile_by_enumeration(joint)
    counts = _balanced(L, 2)
    s = max(counts)
    sizes = theorem2_sizes(L, "doubling")
    brute = 0.0
    for j, k in enumerate(sizes):
        weight = 2.0**-j if j < len(sizes) - 1 else 2.0 ** (1 - j)  # last size repeats for every later j
        for i in range(L):
            subsets = list(itertools.combinations([m for m in range(L) if m != i], k))
            brute += weight * sum(_mi(joint, i, W) for W in subsets) / len(subsets)
    assert theorem2_lower_bound(prof, counts, "doubling") == pytest.approx(
        s / (16 * L) * brute, rel=1e-9, abs=1e-12
    )
    envelope = s * prof.sum_mutual_information / (8 * L)
    assert theorem2_lower_bound(prof, counts, "all") == pytest.approx(envelope, rel=1e-12, abs=1e-14)
    assert theorem2_lower_bound(prof, counts, "doubling") <= envelope * (1 + 1e-12) + 1e-15


def test_sizes_increase_to_the_cap():
    assert theorem2_sizes(10, "doubling") == [1, 2, 4, 8, 9]
    assert theorem2_sizes(9, "doubling") == [1, 2, 4, 8]
    assert theorem2_sizes(10, "doubling_in_step", 6) == [1, 2, 4, 5]
    assert theorem2_sizes(10, "doubling_in_step", 1) == [0]
    assert theorem2_sizes(5, "all") == [4]
    with pytest.raises(ValueError):
        theorem2_sizes(5, "halving")


@pytest.mark.parametrize("L", [16, 64, 256])
def test_in_step_law_holds_for_balanced_schedules_of_a_bigram(L):
    """Our reading with W_j inside one step (sizes min(2^j, s_max - 1)): exact E_M KL >= the bound for every
    balanced schedule; the laws not vanishing at s_max = 1 fail there (exact KL = 0 at T = L)."""
    prof = ngram_profile(make_language("ngram2"), L)
    for T in sorted({1, 2, 3, 4, 8, L // 4, L // 2, L - 1, L}):
        res = compare_theorem2(prof, _balanced(L, T))
        assert res.balanced and res.holds("doubling_in_step"), (T, res.exact, res.lower)
        assert res.exact <= res.theorem1 * (1 + 1e-12)
    exact_sampler = compare_theorem2(prof, [1] * L)
    assert (
        exact_sampler.exact == 0.0 and not exact_sampler.holds("doubling") and not exact_sampler.holds("all")
    )


def test_unbalanced_schedule_and_the_envelope_can_fail():
    """What the ledger records: with sets growing to L - 1 the bound fails for the (balanced) schedule
    [2, 1, ..., 1] of a bigram at L = 256 while the in-step reading holds; the envelope (largest law) fails
    for one step on parity at L = 10."""
    prof = ngram_profile(make_language("ngram2"), 256)
    res = compare_theorem2(prof, [2] + [1] * 254)
    assert res.balanced and not res.holds("doubling") and res.holds("doubling_in_step")
    L = 10
    seqs = np.array(list(itertools.product((0, 1), repeat=L)))
    q = (seqs.sum(1) % 2 == 0).astype(float)
    parity = profile_by_enumeration((q / q.sum()).reshape((2,) * L))
    one_step = compare_theorem2(parity, [L])
    assert one_step.exact == pytest.approx(math.log(2), rel=1e-12)
    assert not one_step.holds("all") and one_step.holds("doubling")
    assert set(one_step.lower) == set(THEOREM2_LAWS)
