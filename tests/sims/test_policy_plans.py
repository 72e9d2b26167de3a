"""Planned and value-independent policies: Halton / van der Corput order, DUS dilated groups, SEDD predictors.

Pinned plans from the rules (the code's own examples where they exist), the exact kernel of a randomized plan
(posterior over plans) against the mixture of its deterministic plans, and SEDD's predictors against MDLM's
ancestral sampler. Monte Carlo vs exact laws and the sampler contract: tests/conformance (registry entries
``halton``, ``dus_b2``, ``sedd_*``).
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence, total_variation
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.dus import DUSSampler, dilated_groups
from sims.sampling.halton import HaltonSampler, arccos_counts, halton_order, radical_inverse
from sims.sampling.sedd import SEDDSampler, move_probabilities
from tests.conformance.cases import CYCLE, HMM


def _oracle(lang=HMM):
    return OracleDenoiser(lang, on_impossible="uniform")


# ---- Halton ------------------------------------------------------------------------------------------
def test_van_der_corput_order():
    assert radical_inverse(6, 2) == (3, 8)  # 6 = 110 in base 2 -> 0.011 = 3/8
    assert radical_inverse(5, 3) == (7, 9)  # 5 = 12 in base 3 -> 0.21 = 7/9
    assert halton_order(8) == [4, 2, 6, 1, 5, 3, 7, 0]  # bit reversal, starting at phi(1) = 1/2
    assert halton_order(9, base=3) == [3, 6, 1, 4, 7, 2, 5, 8, 0]
    assert halton_order(5) == [2, 1, 3, 0, 4]  # floor(5 phi(i)), first occurrences only
    for L in range(1, 40):
        assert sorted(halton_order(L)) == list(range(L))


def test_arccos_counts_follow_the_released_sampler():
    # cumulative max(k+1, int(L (1 - arccos((k+1)/K) / (pi/2)))) capped at L
    assert arccos_counts(4, 2) == [1, 3]
    # the code's 24 x 24 token grid, 32 steps: 576 asin(k/32)/(pi/2) = 11.46, 22.93, 34.43 -> 11, 11, 12
    assert arccos_counts(576, 32)[:3] == [11, 11, 12]
    for L, K in [(4, 2), (10, 3), (576, 32), (7, 7), (5, 9)]:
        c = arccos_counts(L, K)
        assert sum(c) == L and min(c) >= 0 and len(c) == K


def test_halton_plan_and_reveal_schedule():
    s = HaltonSampler(3)
    ((plan, p),) = s.plan_law(8)
    assert p == 1.0 and plan == ((4,), (2, 6), (1, 5, 3, 7, 0))  # counts 1, 2, 5
    steps = s.reveal_schedule(5, 8, make_generator(0))
    assert steps[0].tolist() == [2, 2, 1, 2, 0, 2, 1, 2]
    law = HaltonSampler(2, randomize=True).plan_law(4)
    assert len(law) == 4 and {pl[0] for pl, _ in law} == {(0,), (1,), (2,), (3,)}


def test_randomized_plan_kernel_is_the_mixture_of_its_plans():
    """The exact kernel conditions on the revealed set (posterior over rotations); its law must equal the
    average of the laws of the L deterministic rotations."""

    class Rotation(HaltonSampler):
        def __init__(self, shift):
            super().__init__(2)
            self.shift = shift

        def plan_law(self, length):
            law = HaltonSampler(2, randomize=True).plan_law(length)
            return [law[self.shift]]

    den, L = _oracle(), 4
    mix = sum(exact_sampler_law(Rotation(r), den, L) for r in range(L)) / L
    assert float((exact_sampler_law(HaltonSampler(2, randomize=True), den, L) - mix).abs().max()) < 1e-14


# ---- DUS ---------------------------------------------------------------------------------------------
def test_dilated_groups():
    assert [len(g) for g in dilated_groups(32)] == [2, 2, 4, 8, 16]  # log2(32) calls per block
    assert dilated_groups(8) == [[0, 4], [2, 6], [1, 3, 5, 7]]
    assert dilated_groups(6) == [[0, 3], [1, 2, 4, 5]]
    assert dilated_groups(5) == [[0, 2, 4, 1, 3]]  # last group {1, 3} smaller than {0, 2, 4}: merged
    assert dilated_groups(27, base=3) == [[0, 9, 18], [3, 6, 12, 15, 21, 24], [j for j in range(27) if j % 3]]
    assert dilated_groups(8, skip=2) == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert dilated_groups(8, base=1) == [list(range(8))]
    assert DUSSampler().num_steps(32) == 5 and DUSSampler(block_length=8).num_steps(32) == 12


def test_dus_groups_are_never_adjacent_before_the_last_level():
    for B in (8, 16, 32, 64):
        for g in dilated_groups(B)[:-1]:
            assert min(b - a for a, b in zip(sorted(g), sorted(g)[1:])) >= 2


def test_dus_with_base_one_is_the_product_of_the_first_marginals():
    den, L = _oracle(), 4
    law = exact_sampler_law(DUSSampler(base=1), den, L)
    p = den(torch.full((1, L), HMM.vocab_size)).probs[0]
    prod = torch.ones(1, dtype=torch.float64)
    for i in range(L):
        prod = (prod.unsqueeze(1) * p[i].unsqueeze(0)).reshape(-1)
    assert float((law - prod).abs().max()) < 1e-14


# ---- SEDD --------------------------------------------------------------------------------------------
def test_loglinear_move_probabilities_are_dt_over_t():
    K, eps = 4, 1e-5
    grid = torch.linspace(1, eps, K + 1, dtype=torch.float64)
    for predictor in ("euler", "analytic"):
        pi = move_probabilities(K, predictor, "loglinear", eps)
        for k in range(K):
            assert pi[k] == pytest.approx(float((grid[k] - grid[k + 1]) / grid[k]), abs=1e-12)


@pytest.mark.parametrize("lang", [CYCLE, HMM], ids=["cycle", "hmm"])
def test_euler_analytic_and_mdlm_have_one_law_with_an_exact_score(lang):
    den, L = _oracle(lang), 4
    mdlm = exact_sampler_law(AncestralSampler(3, t_min=1e-5, final_fill="sample"), den, L)
    for predictor in ("euler", "analytic"):
        assert float((exact_sampler_law(SEDDSampler(3, predictor), den, L) - mdlm).abs().max()) < 1e-14


def test_geometric_noise_separates_euler_from_analytic():
    den, L = _oracle(), 4
    euler = exact_sampler_law(SEDDSampler(3, "euler", "geometric"), den, L)
    analytic = exact_sampler_law(SEDDSampler(3, "analytic", "geometric"), den, L)
    assert total_variation(euler, analytic) > 0.05
    # analytic is an exact ancestral step: alpha(s) - alpha(t) over 1 - alpha(t) with alpha = exp(-sigma_bar)
    pi = move_probabilities(3, "analytic", "geometric")
    grid = torch.linspace(1, 1e-5, 4, dtype=torch.float64)
    a = [math.exp(-(1e-4 ** (1 - float(t)) * 20.0 ** float(t))) for t in grid]
    assert pi == pytest.approx([(a[k + 1] - a[k]) / (1 - a[k]) for k in range(3)], rel=1e-12)
    # the euler step overshoots early in the geometric schedule: clipped to 1
    assert move_probabilities(3, "euler", "geometric")[-1] == 1.0


def test_sedd_one_token_per_position_is_exact_with_the_oracle():
    """Every predictor reveals positions independently with q given the earlier reveals; with many steps
    reveals are almost never simultaneous, so the law approaches q (and is q in the limit)."""
    den, L = _oracle(), 3
    q = torch.exp(exact_log_joint(HMM, L))
    coarse = kl_divergence(q, exact_sampler_law(SEDDSampler(1), den, L))
    fine = kl_divergence(q, exact_sampler_law(SEDDSampler(64), den, L))
    assert fine < coarse / 10
