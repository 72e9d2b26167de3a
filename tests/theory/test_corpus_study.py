"""theory.corpus_study against brute-force enumeration on tiny sparse bigrams."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sims.enumeration import all_sequences
from sims.evaluation.transitions import reference_transitions, transition_rates
from sims.languages.sparse_bigram import random_sparse_bigram
from sims.validation import InvalidArgumentError
from theory.corpus_study import (
    bootstrap_transition_rates,
    chain_transition_reference,
    data_floor,
    kl_flatness,
    mismatch_summary,
    sampler_cell,
    steps_needed,
    tang_sampler,
)

TOL = 1e-12  # float64 sums of a handful of probabilities


def _smooth():
    return random_sparse_bigram(4, 2, teleport=0.1, seed=3)


def _zeros():
    return random_sparse_bigram(4, 2, teleport=0.0, seed=3)


@pytest.mark.parametrize("teleport", [0.0, 0.2])
def test_reference_matches_pair_marginals(teleport):
    lang = random_sparse_bigram(4, 2, teleport=teleport, seed=1)
    L = 5
    ref = chain_transition_reference(lang, L)
    # brute force: pooled pair law over all V^L sequences
    x = all_sequences(4, L)
    q = torch.exp(lang.log_prob(x))
    pair = torch.zeros(4, 4, dtype=torch.float64)
    for t in range(L - 1):
        pair.index_put_((x[:, t], x[:, t + 1]), q, accumulate=True)
    pair /= L - 1
    assert torch.allclose(ref.pair_law, pair, atol=TOL, rtol=0)
    rows = pair.sum(1, keepdim=True)
    cond = torch.where(rows > 0, pair / rows, torch.full_like(pair, math.nan))
    assert torch.allclose(ref.conditional, cond, atol=TOL, rtol=0, equal_nan=True)
    dense = reference_transitions(lang.to_dense(), L)
    assert torch.allclose(ref.conditional, dense.conditional, atol=TOL, rtol=0, equal_nan=True)


def test_bootstrap_point_is_transition_rates():
    lang = _smooth()
    ref = chain_transition_reference(lang, 6)
    g = torch.Generator().manual_seed(0)
    x = lang.sample(50, 6, g)
    est = bootstrap_transition_rates(x, ref, torch.Generator().manual_seed(1), resamples=50)
    point = transition_rates(x, ref)
    assert est.kl_rate == point.kl_rate and est.tv_rate == point.tv_rate and est.pairs == 250
    assert est.kl_ci[0] <= est.kl_rate <= est.kl_ci[1] and est.kl_ci[1] > est.kl_ci[0]
    assert est.tv_ci[0] <= est.tv_rate <= est.tv_ci[1]
    with pytest.raises(InvalidArgumentError, match="resamples"):
        bootstrap_transition_rates(x, ref, g, resamples=0)


def test_impossible_transitions_give_infinite_kl():
    lang = _zeros()
    ref = chain_transition_reference(lang, 3)
    A = lang.transition_rows(torch.arange(4))
    i, j = [int(v) for v in torch.nonzero(A == 0)[0]]
    x = torch.tensor([[i, j, j]])
    est = bootstrap_transition_rates(x, ref, torch.Generator().manual_seed(0), resamples=3)
    assert est.kl_rate == math.inf and est.kl_ci == (math.inf, math.inf) and est.impossible_rate > 0


def _exact_fixed_random_kl(lang, L: int, K: int) -> float:
    """E_M KL(q || p_M)/L by enumerating every reveal order of LLaDA random (counts: L//K, remainder first)."""
    V = lang.vocab_size
    x = all_sequences(V, L)
    q = torch.exp(lang.log_prob(x)).reshape((V,) * L)
    sizes = [L // K + (1 if k < L % K else 0) for k in range(K)]

    def cond(i, seen, xs):  # q(x_i | x_seen) by marginalising the table
        keep = sorted(seen | {i})
        marg = q.sum(dim=tuple(d for d in range(L) if d not in keep)) if len(keep) < L else q
        num = marg[tuple(xs[d] for d in keep)]
        den = marg.sum(dim=keep.index(i))[tuple(xs[d] for d in sorted(seen))] if seen else 1.0
        return float(num / den)

    orders = list(itertools.permutations(range(L)))
    total = 0.0
    for perm in orders:  # a uniform permutation cut into blocks of `sizes` is the fixed-count random law
        blocks, start = [], 0
        for s in sizes:
            blocks.append(set(perm[start : start + s]))
            start += s
        kl = 0.0
        for xs in itertools.product(range(V), repeat=L):
            qx = float(q[xs])
            if qx == 0:
                continue
            seen: set[int] = set()
            lp = 0.0
            for b in blocks:
                lp += sum(math.log(cond(i, seen, xs)) for i in b)
                seen |= b
            kl += qx * (math.log(qx) - lp)
        total += kl
    return total / len(orders) / L


def test_teacher_forced_kl_matches_enumeration():
    lang = random_sparse_bigram(3, 2, teleport=0.1, seed=5)
    L, K = 3, 2
    exact = _exact_fixed_random_kl(lang, L, K)
    cell = sampler_cell(
        "llada_random", L, K, torch.Generator().manual_seed(2), language=lang, tf_samples=4000
    )
    est = cell.teacher_forced_kl
    assert exact > 0
    assert abs(est["mean"] - exact) <= 5 * est["stderr"], (est, exact)


def test_llada_random_exact_at_k_eq_l():
    L = 6
    cell = sampler_cell(
        "llada_random",
        L,
        L,
        torch.Generator().manual_seed(0),
        language=_smooth(),
        zeros_language=_zeros(),
        num_samples=64,
        tf_samples=64,
        resamples=20,
    )
    assert abs(cell.teacher_forced_kl["mean"]) <= TOL * L
    assert cell.ser["p"] == 0.0 and cell.transitions["impossible_rate"] == 0.0
    assert cell.conventions and cell.registry_name == "fixed_random"


def test_ser_zero_at_k_eq_l():
    L = 5
    for label, zero in (("llada_random", True), ("mdlm_ancestral", False)):
        cell = sampler_cell(
            label, L, L, torch.Generator().manual_seed(1), zeros_language=_zeros(), num_samples=200
        )
        assert cell.transitions is None and cell.teacher_forced_kl is None
        if zero:
            assert cell.ser["p"] == 0.0
        else:  # Bernoulli reveals co-reveal neighbours even at K = L
            assert 0.0 < cell.ser["p"] < 1.0


def test_undefined_teacher_forcing_is_explained():
    cell = sampler_cell(
        "low_confidence",
        4,
        2,
        torch.Generator().manual_seed(0),
        language=_smooth(),
        num_samples=8,
        resamples=5,
    )
    assert cell.teacher_forced_kl is None and "not defined" in cell.teacher_forced_note


def test_tang_sampler_rejects_unknown_label():
    with pytest.raises(InvalidArgumentError, match="sampler label"):
        tang_sampler("sedd", 4)


def test_kl_flatness_and_steps_needed():
    rows = [
        {"sampler": "a", "length": L, "steps": 4, "teacher_forced_kl": {"mean": 0.1}, "ser": None}
        for L in (16, 32, 64)
    ]
    rows += [
        {"sampler": "b", "length": L, "steps": 4, "teacher_forced_kl": {"mean": 0.01 * L}, "ser": None}
        for L in (16, 32, 64)
    ]
    for r in rows:
        r["teacher_forced_kl"]["stderr"] = 0.0
    flat = kl_flatness(rows)
    assert abs(flat["a|K=4"]["slope"]) < TOL and abs(flat["b|K=4"]["slope"] - 1) < TOL
    assert flat["a|K=4"]["lengths"] == [16, 32, 64]
    assert kl_flatness(rows, min_ratio=8)["a|K=4"]["lengths"] == [32, 64]
    ser_rows = [
        {
            "sampler": "a",
            "length": L,
            "steps": K,
            "teacher_forced_kl": None,
            "ser": {"p": 0.9 if K < L / 2 else 0.1},
        }
        for L in (16, 32, 64)
        for K in (L // 4, L // 2, L)
    ]
    need = steps_needed(ser_rows, 0.5)
    # halfway between SER 0.9 at L/4 and 0.1 at L/2, in log K: L/4 * sqrt(2)
    assert need["steps"]["a"] == pytest.approx({str(L): L / 4 * math.sqrt(2) for L in (16, 32, 64)}, rel=TOL)
    assert abs(need["slopes"]["a"] - 1) < TOL and need["upper_bounds_at"] == {}
    low = [dict(r, sampler="c", ser={"p": 0.0}) for r in ser_rows] + [
        dict(r, sampler="d", ser={"p": 1.0}) for r in ser_rows
    ]
    need = steps_needed(low, 0.5)
    assert need["steps"]["c"] == {"16": 4.0, "32": 8.0, "64": 16.0} and need["upper_bounds_at"]["c"] == [
        16,
        32,
        64,
    ]
    assert need["steps"]["d"] == {"16": None, "32": None, "64": None} and need["slopes"]["d"] is None
    with pytest.raises(InvalidArgumentError, match="delta"):
        steps_needed(ser_rows, 1.5)


def test_mismatch_summary_reads_the_floor():
    lang = _smooth()
    g = torch.Generator().manual_seed(0)
    ref = chain_transition_reference(lang, 6)
    floor = data_floor(lang, 6, 64, g, ref, 20).to_dict()
    cells = [
        sampler_cell(
            "llada_random", 6, K, g, language=lang, reference=ref, num_samples=64, resamples=20
        ).to_dict()
        for K in (1, 6)
    ]
    s = mismatch_summary(cells, floor)["llada_random"]
    assert (s["fewest_steps"], s["most_steps"]) == (1, 6)
    assert s["kl_floor"] == floor["kl_rate"] and s["kl_fewest"] == cells[0]["transitions"]["kl_rate"]
    assert s["most_reaches_floor"] == (cells[1]["transitions"]["kl_ci"][0] <= floor["kl_ci"][1])
