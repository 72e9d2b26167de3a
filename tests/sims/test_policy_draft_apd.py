"""APD (sims/sampling/apd.py): batched Monte Carlo against its exact law (``exact_draft_law``), the
acceptance rule on hand-built laws, the helper perturbation, and the reductions R = 0 / R = 1.

Monte Carlo: same languages, sample sizes, chi-square test and stated power as
``tests/conformance/test_sampler_laws.py``.
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.enumeration import sequence_index
from sims.exact import exact_log_joint, total_variation
from sims.sampling.apd import APDSampler, accepted_length, mixture_targets, perturb_laws
from sims.sampling.draft_verify import exact_draft_law
from tests.conformance.cases import CYCLE, HMM, MC_LANGUAGES
from tests.helpers import (
    CountingDenoiser,
    assert_samples_follow,
)

CONFIGS = {
    "default": lambda: APDSampler(),
    "perturbed_r0.5_m3": lambda: APDSampler(0.5, 3, "perturbed", 1.5, 0.1),
    "r0.3_T0.6": lambda: APDSampler(0.3, 4, temperature=0.6),
}


@pytest.mark.parametrize("lang_name", sorted(MC_LANGUAGES))
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_monte_carlo_matches_the_exact_law(config, lang_name):
    sampler = CONFIGS[config]()
    lang, n = MC_LANGUAGES[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_draft_law(sampler, oracle, 4)
    res = sampler.sample(oracle, n, 4, make_generator(5), batch_size=10000)
    assert_samples_follow(res.tokens, law, lang.vocab_size)


def test_apd_is_not_lossless_but_r1_at_temperature_1_commits_only_exact_first_tokens():
    """With the exact helper the law differs from the language's (mixture argmax), and R = 1 never calls the
    helper."""
    oracle = OracleDenoiser(HMM, on_impossible="uniform")
    ref = exact_log_joint(HMM, 4).exp()
    assert total_variation(exact_draft_law(APDSampler(), oracle, 4), ref) > 0.01
    den = CountingDenoiser(oracle)
    APDSampler(1.0, 4).sample(den, 50, 4, make_generator(0))
    assert den.pass_calls == 0
    # window of one: every step is exact ancestral left to right
    law1 = exact_draft_law(APDSampler(0.7, 1), oracle, 4)
    assert float((law1 - ref).abs().max()) < 1e-13


def test_r0_argmax_draft_is_greedy_left_to_right():
    """R = 0, T = 0: the draft is the diffusion argmax, the target the exact AR argmax; the output is the
    greedy left-to-right sequence of the language (a point mass)."""
    for lang in (CYCLE, HMM):
        oracle = OracleDenoiser(lang, on_impossible="uniform")
        V, L = lang.vocab_size, 4
        x = torch.full((1, L), V)
        for i in range(L):
            x[0, i] = oracle(x).log_probs[0, i].argmax()
        law = exact_draft_law(APDSampler(0.0, 4, temperature=0.0), oracle, L)
        assert float(law[int(sequence_index(x[0], V))]) == 1.0
        res = APDSampler(0.0, 4, temperature=0.0).sample(oracle, 20, L, make_generator(0))
        assert bool((res.tokens == x).all())


def test_acceptance_rule_on_hand_built_laws():
    lp = torch.log(torch.tensor([[[0.6, 0.4], [0.5, 0.5], [0.9, 0.1]]], dtype=torch.float64))
    helper = torch.log(torch.tensor([[[0.6, 0.4], [0.2, 0.8], [0.3, 0.7]]], dtype=torch.float64))
    # R = 0.7 at position 1: 0.7 log .5 + 0.3 log .2 < 0.7 log .5 + 0.3 log .8 -> token 1
    # position 2: 0.7 log .9 + 0.3 log .3 = -0.435 > 0.7 log .1 + 0.3 log .7 = -1.719 -> token 0
    assert mixture_targets(lp, helper, 0.7).tolist() == [[0, 1, 0]]
    assert mixture_targets(lp, helper, 1.0).tolist() == [[0, 0, 0]]
    assert mixture_targets(lp, helper, 0.0).tolist() == [[0, 1, 1]]
    window = torch.tensor([[True, True, True]])
    targets = torch.tensor([[0, 1, 0]])
    assert accepted_length(torch.tensor([[1, 1, 0]]), targets, window).tolist() == [3]  # first always kept
    assert accepted_length(torch.tensor([[1, 0, 0]]), targets, window).tolist() == [1]
    assert accepted_length(torch.tensor([[0, 1, 1]]), targets, window).tolist() == [2]
    offset = torch.tensor([[False, True, True]])  # window starting at position 1
    assert accepted_length(torch.tensor([[5, 0, 0]]), targets, offset).tolist() == [2]
    # equal mixture scores: the lowest token id
    flat = torch.zeros((1, 1, 3), dtype=torch.float64)
    assert mixture_targets(flat, flat, 0.5).tolist() == [[0]]
    # an impossible helper token is never the target while R < 1
    imp = torch.log(torch.tensor([[[0.0, 1.0]]], dtype=torch.float64))
    lp1 = torch.log(torch.tensor([[[0.99, 0.01]]], dtype=torch.float64))
    assert mixture_targets(lp1, imp, 0.99).tolist() == [[1]]


def test_helper_perturbation_is_the_perturbed_oracle_formula():
    oracle = OracleDenoiser(HMM, on_impossible="uniform")
    noisy = PerturbedDenoiser(oracle, temperature=1.7, uniform_mix=0.2)
    x = torch.tensor([[0, 3, 3, 3], [3, 1, 3, 2]])
    a = perturb_laws(oracle(x).log_probs, 1.7, 0.2)
    b = noisy(x).log_probs
    masked = (x == 3).unsqueeze(-1).expand_as(a)
    assert torch.allclose(a[masked], b[masked], atol=1e-13)
    assert torch.equal(perturb_laws(a, 1.0, 0.0), a)
    assert torch.allclose(perturb_laws(a, 1.0, 1.0).exp(), torch.full_like(a, 1 / 3))


def test_calls_and_conventions():
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    den = CountingDenoiser(oracle)
    res = APDSampler().sample(den, 400, 8, make_generator(2))
    assert int(res.nfe.sum()) == den.rows + den.pass_rows
    steps = (res.step_num_masked > 0).sum(1)
    assert float(steps.double().mean()) < 8 and bool((res.nfe <= 2 * steps).all())
    conv = res.conventions
    assert conv["sampler"] == "apd_r0.7_m100" and conv["extras"]["mixture_weight"] == 0.7
    assert math.isclose(conv["temperature"], 1.0)
    assert APDSampler(0.5, 3, "perturbed", 1.5, 0.1).name == "apd_r0.5_m3_ht1.5_hu0.1"
