"""Li & Cai Remark 1 (entropy-first order) against brute force (theory/li_cai_remark1.py).

References used:
* the exact output law of :class:`FixedCountSampler` (score ``"entropy"``, ties to the lowest index) by the
  sampler contract (:func:`sims.exact.exact_sampler_law`), driven by the brute-force denoiser (explicit
  summation over V**L, independent of the oracle's forward-backward);
* an in-test recursion over partial sequences for the rule with an arbitrary tie priority (Python sort by
  rounded score, then priority);
* :func:`theory.parallel_bounds.replay_deterministic` for the identity KL = E_q sum_t TC_q(z_t | past);
* the average of the exact block KL over every ordered partition with the schedule's counts (Theorem 1's
  random sets);
* :func:`theory.entropy_profile.profile_by_enumeration` on the joint table for the support profile.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from sims.denoisers.oracle import OracleDenoiser
from sims.exact import BruteForceDenoiser, all_sequences, exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.random import random_ngram
from sims.languages.support import SupportLanguage
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.sampling.ranking import quantized_scores
from sims.sampling.scores import position_scores
from tests.strategies import tiny_languages
from theory.entropy_profile import profile_by_enumeration
from theory.factorization import block_kl_by_enumeration, support_sequences
from theory.information import joint_from_language
from theory.li_cai import theorem1_bound
from theory.li_cai_remark1 import (
    Remark1Row,
    entropy_first_kl,
    entropy_first_random_priority,
    remark1_for_language,
    remark1_summary,
    remark1_sweep,
    support_profile,
)
from theory.parallel_bounds import replay_deterministic


def _setup(lang, L):
    lj = exact_log_joint(lang, L)
    seqs, lq = support_sequences(lang, L)
    return lj, seqs, torch.exp(lq.double()), BruteForceDenoiser(lj, lang.vocab_size, L)


def _order(lp: torch.Tensor, state: tuple, V: int, priority) -> list[int]:
    """Masked positions by descending rounded score (-entropy), then ascending priority."""
    s = quantized_scores(position_scores("entropy", lp.unsqueeze(0), torch.zeros(1, len(state)).long())[0])
    masked = [i for i, v in enumerate(state) if v == V]
    return sorted(masked, key=lambda i: (-float(s[i]), int(priority[i])))


def _law_by_recursion(denoiser, V, L, counts, priority) -> dict:
    """The rule's output law over all of V**L, by propagating partial sequences (no replay)."""
    states = {tuple([V] * L): 1.0}
    for c in counts:
        nxt: dict = {}
        for state, mass in states.items():
            lp = denoiser(torch.tensor([state])).log_probs[0].double()
            pick = _order(lp, state, V, priority)[:c]
            for vals in itertools.product(range(V), repeat=c):
                w = mass * math.prod(float(torch.exp(lp[pos, v])) for pos, v in zip(pick, vals))
                if w == 0.0:
                    continue
                new = list(state)
                for pos, v in zip(pick, vals):
                    new[pos] = v
                nxt[tuple(new)] = nxt.get(tuple(new), 0.0) + w
        states = nxt
    return states


@settings(max_examples=8, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_entropy_first_law_is_the_sampler_law(lang):
    """Replay law on the support = exact law of FixedCountSampler(entropy, lowest_index); KL from it."""
    L = max(4, lang.min_length())
    lj, seqs, q, bf = _setup(lang, L)
    for K in (2, 3):
        counts = llada_counts(L, K)
        res = entropy_first_kl(seqs, q, bf, counts)
        sampler = FixedCountSampler(K, score="entropy", tie_break="lowest_index")
        law = exact_sampler_law(sampler, bf, L)
        keep = torch.isfinite(lj)
        assert torch.allclose(res["law"], law[keep].double(), rtol=1e-10, atol=1e-14)
        assert res["kl"] == pytest.approx(kl_divergence(torch.exp(lj.double()), law), rel=1e-9, abs=1e-12)


@settings(max_examples=6, deadline=None)
@given(tiny_languages(max_vocab=2))
def test_random_priorities_match_the_recursion_and_the_tc_identity(lang):
    """Each drawn tie priority: replay law = recursion law; KL = E_q sum_t TC (EB App. A.1 equality)."""
    L = max(4, lang.min_length())
    V = lang.vocab_size
    lj, seqs, q, bf = _setup(lang, L)
    counts = llada_counts(L, 2)
    gen = torch.Generator().manual_seed(3)
    res = entropy_first_random_priority(seqs, q, bf, counts, 3, gen)
    gen2 = torch.Generator().manual_seed(3)
    perms = [torch.randperm(L, generator=gen2) for _ in range(3)]
    all_x = [tuple(r) for r in all_sequences(V, L).tolist()]
    for perm, value in zip(perms, res["values"]):
        one = entropy_first_kl(seqs, q, bf, counts, priority=perm)
        assert one["kl"] == pytest.approx(value, rel=1e-12, abs=1e-14)
        law = _law_by_recursion(bf, V, L, counts, perm.tolist())
        ref = torch.tensor([law.get(x, 0.0) for x in all_x], dtype=torch.float64)
        assert torch.allclose(one["law"], ref[torch.isfinite(lj)], rtol=1e-10, atol=1e-14)

        def select(state, step, lp, perm=perm):
            return tuple(_order(lp, state, V, perm.tolist())[: counts[step]])

        lenient = BruteForceDenoiser(lj, V, L, on_impossible="uniform")  # the replay visits q(x) = 0 too
        dec = replay_deterministic(select, lj, lenient, V, L, max_steps=len(counts))
        assert dec.kl == pytest.approx(one["kl"], rel=1e-9, abs=1e-12)
        assert dec.expected_tc == pytest.approx(one["kl"], rel=1e-9, abs=1e-12)  # oracle: no model error
    assert res["mean"] == pytest.approx(float(np.mean(res["values"])), rel=1e-12)


def _random_order_by_partitions(lang, L, counts, denoiser) -> float:
    """E_M KL(q || p_M), M uniform over the ordered partitions of [L] with the given block sizes."""
    parts = set()
    for perm in itertools.permutations(range(L)):
        cuts = list(itertools.accumulate([0, *counts]))
        parts.add(tuple(tuple(sorted(perm[a:b])) for a, b in itertools.pairwise(cuts)))
    assert len(parts) == math.factorial(L) // math.prod(math.factorial(c) for c in counts)
    return float(np.mean([block_kl_by_enumeration(lang, L, [list(b) for b in p], denoiser) for p in parts]))


@settings(max_examples=3, deadline=None)
@given(tiny_languages(max_vocab=2))
def test_sweep_rows_against_partitions_and_bounds(lang):
    L = 4
    _, seqs, q, bf = _setup(lang, L)
    prof = profile_by_enumeration(joint_from_language(lang, L))
    rows = remark1_sweep(seqs, q, bf, prof, [2, 3], 2, torch.Generator().manual_seed(0))
    for row in rows:
        counts = llada_counts(L, row["steps"])
        assert row["random_order"] == pytest.approx(
            _random_order_by_partitions(lang, L, counts, bf), rel=1e-9, abs=1e-12
        )
        assert row["theorem1"] == pytest.approx(theorem1_bound(counts, prof.sum_mutual_information))
        assert row["random_order"] <= row["theorem1"] + 1e-12  # Theorem 1 itself
        assert row["entropy_first"] == pytest.approx(entropy_first_kl(seqs, q, bf, counts)["kl"], rel=1e-12)
    summary = remark1_summary(rows)
    assert summary["num_schedules"] == 2
    assert sum(summary[f"lowest_index_vs_random_{v}"] for v in ("better", "equal", "worse")) == 2


@settings(max_examples=10, deadline=None)
@given(tiny_languages(max_vocab=3))
def test_support_profile_equals_the_table_profile(lang):
    L = max(3, lang.min_length())
    seqs, lq = support_sequences(lang, L)
    got = support_profile(seqs, torch.exp(lq.double()))
    ref = profile_by_enumeration(joint_from_language(lang, L))
    ks = np.arange(L + 1)
    assert np.allclose(got.h(ks), ref.h(ks), rtol=1e-10, atol=1e-12)


def test_oracle_and_brute_force_agree_on_the_remark():
    lang = random_ngram(2, 3, concentration=0.5, seed=1)
    L = 4
    _, seqs, q, bf = _setup(lang, L)
    counts = llada_counts(L, 2)
    a = entropy_first_kl(seqs, q, bf, counts)["kl"]
    b = entropy_first_kl(seqs, q, OracleDenoiser(lang), counts)["kl"]
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_bad_arguments_raise():
    seqs = torch.tensor([[0, 1], [1, 0]])
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    lj = torch.log(torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=torch.float64))
    bf = BruteForceDenoiser(lj, 2, 2)
    with pytest.raises(ValueError, match="counts"):
        entropy_first_kl(seqs, q, bf, [1])
    with pytest.raises(ValueError, match="score"):
        entropy_first_kl(seqs, q, bf, [1, 1], score="sampled_prob")
    with pytest.raises(ValueError, match="priority"):
        entropy_first_kl(seqs, q, bf, [1, 1], priority=[0, 0])
    with pytest.raises(ValueError, match="num_orders"):
        entropy_first_random_priority(seqs, q, bf, [1, 1], 0, torch.Generator())


def test_support_language_path_equals_enumeration_path():
    """An explicit-support copy of a bigram (its own chain oracle) gives the same sweep as the bigram."""
    lang = random_ngram(2, 2, concentration=0.5, seed=4)
    seqs, lq = support_sequences(lang, 4)
    copy = SupportLanguage(seqs, torch.exp(lq.double()), vocab_size=2)
    a = remark1_for_language(lang, 4, [2, 3], 3, seed=0)
    b = remark1_for_language(copy, 4, [2, 3], 3, seed=0)
    assert a["num_support"] == b["num_support"] == seqs.shape[0]
    for ra, rb in zip(a["rows"], b["rows"]):
        for key in ("entropy_first", "entropy_first_random_ties", "random_order", "theorem1"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-9, abs=1e-12)
    assert a["summary"]["num_schedules"] == 2


def test_comparisons_treat_round_off_as_equal():
    row = Remark1Row(4, 2, 1e-17, 0.0, 0.0, 0.0, 0.7, 0.7, 1.0)
    d = row.to_dict()
    assert d["lowest_index_vs_random"] == "equal" and d["within_theorem1"]
    assert (
        Remark1Row(4, 2, 0.5, 0.3, 0.01, 0.4, 0.45, 0.45, 1.0).to_dict()["lowest_index_vs_random"] == "worse"
    )
    assert (
        Remark1Row(4, 2, 0.5, 0.3, 0.01, 0.4, 0.45, 0.45, 1.0).to_dict()["random_ties_vs_random"] == "better"
    )
    assert not Remark1Row(4, 2, 0.5, 0.3, 0.01, 0.4, 0.45, 0.45, 1.0).to_dict()["within_theorem1"]
