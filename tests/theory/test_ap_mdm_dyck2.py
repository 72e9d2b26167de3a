"""AP-MDM length-variable generation on two-sided Dyck-k (theory/ap_mdm_dyck2.py).

References used: a brute-force filter of every word by free reduction (the support); the target law itself
(the oracle process must reproduce it); an independent recursion over every sequence of (slot, letter)
insertions for the uniform-insertion process; AP-MDM's map g for the three insertion steps.
"""

from __future__ import annotations

import pytest
import torch

from sims.languages.free_group import inverse_token
from sims.sampling.any_process import law_distance
from theory.ap_mdm_dyck2 import (
    InsertionProcess,
    brute_force_words,
    dyck2_study,
    dyck2_words,
    fixed_length_law,
    uniform_target,
)


@pytest.mark.parametrize("k,n", [(1, 3), (2, 1), (2, 2), (2, 3), (3, 2)])
def test_pair_insertion_closure_is_the_two_sided_dyck_language(k, n):
    assert list(dyck2_words(k, n)) == sorted(brute_force_words(k, n))


def _random_target(k, N, seed, zero_fraction=0.3):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n in range(N + 1):
        for w in dyck2_words(k, n):
            u = float(torch.rand((), generator=gen, dtype=torch.float64))
            if u > zero_fraction or n == N:
                out[w] = u
    total = sum(out.values())
    return {w: p / total for w, p in out.items()}


@pytest.mark.parametrize("k,N,seed", [(2, 3, 0), (2, 2, 1), (3, 2, 2)])
def test_oracle_process_generates_the_target_exactly(k, N, seed):
    for target in (uniform_target(k, N), _random_target(k, N, seed)):
        law = InsertionProcess(k, target, "oracle").exact_law()
        tv, kl = law_distance(law, target)
        assert tv < 1e-13 and abs(kl) < 1e-13
        assert set(law) == set(target)


def _brute_uniform_law(k, target):
    N = max(len(w) // 2 for w in target)
    length = [0.0] * (N + 1)
    for w, p in target.items():
        length[len(w) // 2] += p
    law = {}

    def rec(w, p):
        n = len(w) // 2
        tail = sum(length[n:])
        stop = length[n] / tail if tail > 0 else 1.0
        if stop > 0:
            law[w] = law.get(w, 0.0) + p * stop
        if stop < 1:
            for slot in range(len(w) + 1):
                for t in range(2 * k):
                    v = w[:slot] + (t, inverse_token(t, k)) + w[slot:]
                    rec(v, p * (1 - stop) / ((len(w) + 1) * 2 * k))

    rec((), 1.0)
    return law


@pytest.mark.parametrize("k,N", [(2, 2), (2, 3), (3, 2)])
def test_uniform_insertion_matches_path_enumeration_and_misses_the_content_law(k, N):
    target = uniform_target(k, N)
    law = InsertionProcess(k, target, "uniform").exact_law()
    ref = _brute_uniform_law(k, target)
    assert set(law) == set(ref)
    for w in ref:
        assert law[w] == pytest.approx(ref[w], abs=1e-14)
    lengths = {n: sum(p for w, p in law.items() if len(w) == 2 * n) for n in range(N + 1)}
    for n in range(N + 1):
        assert lengths[n] == pytest.approx(1 / (N + 1), abs=1e-13)
    assert law_distance(law, target)[0] > 0.01


@pytest.mark.parametrize("slot", [0, 1, 2, 3])
@pytest.mark.parametrize("letter", [0, 1, 2, 3])
def test_three_g_steps_insert_a_cancelling_pair(slot, letter):
    k = 2
    proc = InsertionProcess(k, uniform_target(k, 2))
    w = (0, 2, 1)
    x1, x2, x3 = proc.insertion_steps(w, slot, letter)
    M, B = proc.mask_id, proc.mask_id + 1
    full = (B, *w)
    assert x1 == full[: slot + 1] + (M,) + full[slot + 1 :]
    assert x2 == full[: slot + 1] + (M, M) + full[slot + 1 :]
    assert x3 == full[: slot + 1] + (letter, inverse_token(letter, k)) + full[slot + 1 :]


@pytest.mark.parametrize("k,n", [(2, 2), (3, 2)])
def test_fixed_length_mdm_law_is_uniform_on_the_words_of_its_length(k, n):
    law = fixed_length_law(k, n)
    words = dyck2_words(k, n)
    assert set(law) == set(words)
    for w in words:
        assert law[w] == pytest.approx(1 / len(words), abs=1e-13)


def test_bad_target_is_rejected():
    with pytest.raises(ValueError, match="Dyck"):
        InsertionProcess(2, {(0, 1): 1.0})
    with pytest.raises(ValueError, match="probability"):
        InsertionProcess(2, {(0, 2): 0.5})
    with pytest.raises(ValueError, match="mode"):
        InsertionProcess(2, uniform_target(2, 1), "random")


def test_study_rows():
    d = dyck2_study(((2, 2),))
    row = d["rows"][0]
    assert row["words_per_length"] == [1, 4, 28]
    assert row["oracle"]["tv"] < 1e-13 and row["oracle"]["length_tv"] < 1e-13
    assert [f["tv"] for f in row["fixed_length"]] == pytest.approx([2 / 3] * 3, abs=1e-13)
