"""Every registered sampler against its exact law: batched Monte Carlo vs ``exact_sampler_law`` (chi-square).

Power (stated, and checked): the languages and sample sizes of :data:`MC_LANGUAGES` give every case a
grouped Pearson test that rejects, at p < ``P_MIN`` = 1e-3, any change of total variation >= 0.05 (on the
pooled cells) with probability >= 0.99 (asymptotic non-central chi-square, asserted per case with
:func:`tests.helpers.detectable_total_variation`). A concrete alternative of that size is rejected in
:func:`test_chi_square_rejects_a_0_05_change_of_one_reveal_probability`: the 2-step ancestral sampler
whose first step reveals each position with probability 0.55 instead of 0.5.
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law, total_variation
from sims.sampling.ancestral import AncestralSampler
from tests.conformance.cases import CYCLE, MC_LANGUAGES, case_languages, sampler_cases
from tests.helpers import (
    DETECTABLE_TV,
    P_MIN,
    assert_samples_follow,
    grouped_chi_square,
)

#: every Monte Carlo case detects a total-variation change of this size with probability >= 0.99


@pytest.mark.parametrize("lang_name", sorted(MC_LANGUAGES))
@pytest.mark.parametrize("case", sampler_cases())
def test_monte_carlo_matches_exact_law(case, lang_name):
    sampler = case.make()
    lang, n = case_languages(sampler)[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    if not sampler.capabilities.exact_kernel:
        with pytest.raises(NotImplementedError):
            sampler.exact_transitions(
                tuple([lang.vocab_size] * case.length), 0, torch.zeros(case.length, lang.vocab_size), 4
            )
        with pytest.raises(ValueError, match="exact_kernel"):
            exact_sampler_law(sampler, oracle, case.length)
        return
    law = exact_sampler_law(sampler, oracle, case.length)
    res = sampler.sample(oracle, n, case.length, make_generator(case.seed), batch_size=10000)
    assert_samples_follow(res.tokens, law, lang.vocab_size)


def test_chi_square_rejects_a_0_05_change_of_one_reveal_probability():
    """The stated power on a concrete alternative: ancestral K = 2 on CYCLE (L = 4) reveals each position at
    the first step with probability 0.5; a sampler that does so with probability 0.55 is rejected."""
    L, n = 4, MC_LANGUAGES["cycle"][1]
    k = math.log(0.45) / math.log(0.5)  # alpha(t) = 1 - t^k has alpha(1/2) = 0.55
    null, alt = AncestralSampler(2), AncestralSampler(2, schedule=lambda t: 1 - t**k)
    assert alt.unmask_probs[0] == pytest.approx(0.55, abs=1e-12)
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    law, law_alt = exact_sampler_law(null, oracle, L), exact_sampler_law(alt, oracle, L)
    assert 0.02 < total_variation(law, law_alt) < DETECTABLE_TV
    res = alt.sample(oracle, n, L, make_generator(1), batch_size=10000)
    assert grouped_chi_square(res.tokens, law, CYCLE.vocab_size).pvalue < P_MIN
