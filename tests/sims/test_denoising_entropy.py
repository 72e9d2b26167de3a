"""Denoising entropy (sims/sampling/denoising_entropy.py, entropy_smc.py): trace-based state/path entropies
against a direct recomputation, the exact E-BoN law against Monte Carlo selection, and E-SMC bookkeeping
(calls, P = 1 is the base law)."""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages.random import random_hmm
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.denoising_entropy import (
    best_of_n,
    exact_best_of_n_law,
    exact_path_entropy_law,
    law_of_sequences,
    path_entropy,
    state_entropy,
)
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.scores import entropy_of_log_probs
from tests.helpers import P_MIN, grouped_chi_square_pvalue

LANG = random_hmm(3, 3, transition_concentration=0.4, emission_concentration=0.4, seed=5)
L = 4


def oracle():
    return OracleDenoiser(LANG, on_impossible="uniform")


def test_state_entropy_from_the_trace_matches_a_direct_recomputation():
    den = oracle()
    s = FixedCountSampler(2, score="max_prob")
    res = s.sample(den, 50, L, make_generator(0))
    h_mean = state_entropy(res, "mean")
    h_sum = state_entropy(res, "sum")
    for k in range(2):
        state = torch.where(res.reveal_step < k, res.tokens, LANG.vocab_size)
        lp = den(state).log_probs
        masked = state == LANG.vocab_size
        direct = torch.where(masked, entropy_of_log_probs(lp), 0.0).sum(1)
        assert torch.allclose(h_sum[:, k], direct, atol=1e-11)
        assert torch.allclose(h_mean[:, k], direct / masked.sum(1), atol=1e-11)
    assert torch.allclose(path_entropy(res, "mean", "sum", "bits"), h_mean.sum(1) / math.log(2), atol=1e-11)
    assert torch.allclose(path_entropy(res, "mean", "mean"), h_mean.mean(1), atol=1e-11)


@pytest.mark.parametrize(
    "sampler", [FixedCountSampler(L, score="random"), EBSampler(0.4), FixedCountSampler(2, score="entropy")]
)
def test_exact_path_law_marginal_is_the_sampler_law(sampler):
    den = oracle()
    joint = exact_path_entropy_law(sampler, den, L)
    assert torch.allclose(law_of_sequences(joint, 3, L), exact_sampler_law(sampler, den, L), atol=1e-14)


@pytest.mark.parametrize(
    "sampler,n",
    [
        (FixedCountSampler(L, score="random"), 3),
        (EBSampler(0.4), 2),
        (FixedCountSampler(2, score="random"), 4),
    ],
)
def test_best_of_n_monte_carlo_matches_the_exact_law(sampler, n):
    den = oracle()
    joint = exact_path_entropy_law(sampler, den, L)
    law = exact_best_of_n_law(joint, n, 3, L)
    assert math.isclose(float(law.sum()), 1.0, rel_tol=1e-12)
    bon = best_of_n(sampler, den, n, 8000, L, make_generator(2), batch_size=8000)
    assert grouped_chi_square_pvalue(bon.result.tokens, law, 3) > P_MIN
    base_nfe = sampler.sample(den, 100, L, make_generator(0)).nfe
    if isinstance(sampler, FixedCountSampler):  # deterministic call count
        assert bool((bon.result.nfe == n * base_nfe[0]).all())
    assert torch.equal(bon.path_entropy, bon.group_path_entropy.min(1).values)


def test_best_of_one_is_the_base_law_and_selection_tilts_it():
    """With the oracle and one token per step the base law is q exactly; any selection moves away from it."""
    den = oracle()
    s = FixedCountSampler(L, score="random")
    joint = exact_path_entropy_law(s, den, L)
    q = torch.exp(exact_log_joint(LANG, L))
    assert kl_divergence(q, exact_best_of_n_law(joint, 1, 3, L)) < 1e-12
    low = exact_best_of_n_law(joint, 8, 3, L)
    high = exact_best_of_n_law(joint, 8, 3, L, select="highest")
    assert kl_divergence(q, low) > 1e-3 and kl_divergence(q, high) > 1e-3
    assert (low - high).abs().max() > 1e-3
    # (which way E[log q] moves is a measurement, not a theorem: see fig_samplers_entropy_selection)


def test_esmc_with_one_particle_is_the_base_and_counts_every_particle_call():
    den = oracle()
    base = FixedCountSampler(2, score="random")
    law = exact_sampler_law(base, den, L)
    res = EntropySMCSampler(base, num_particles=1).sample(den, 8000, L, make_generator(6))
    assert grouped_chi_square_pvalue(res.tokens, law, 3) > P_MIN
    res4 = EntropySMCSampler(base, num_particles=4, lam=2.0).sample(den, 200, L, make_generator(6))
    assert bool((res4.nfe == 4 * 2).all())  # 4 particles x 2 calls (resampling reuses cached outputs)
    eb = EntropySMCSampler(EBSampler(0.5), num_particles=3).sample(den, 100, L, make_generator(1))
    assert bool((eb.nfe >= 3).all()) and eb.tokens.shape == (100, L)


def test_bad_input():
    den = oracle()
    with pytest.raises(ValueError):
        path_entropy(FixedCountSampler(2).sample(den, 2, L, make_generator(0)), aggregate="max")
    with pytest.raises(ValueError, match="evaluates_every_masked_step"):
        exact_path_entropy_law(FixedCountSampler(3, count_rule="dream"), den, 3)
    with pytest.raises(ValueError, match="evaluates_every_masked_step"):
        exact_path_entropy_law(AncestralSampler(2), den, 3)
    with pytest.raises(ValueError, match="exact_kernel"):
        exact_path_entropy_law(EntropySMCSampler(FixedCountSampler(2)), den, 3)
    with pytest.raises(ValueError, match="revisits"):
        EntropySMCSampler(ReMDMSampler(4))
    with pytest.raises(ValueError):
        best_of_n(FixedCountSampler(2), den, 0, 3, L, make_generator(0))
