"""Registered decoding policies with per-run state (sims/sampling/policy.py): batched Monte Carlo against the
exact law on the augmented state (``exact_policy_law``), for every registry case whose sampler keeps a
history (``exact_kernel`` False, so the conformance suite cannot run ``exact_sampler_law`` on them).

Same languages, sample sizes, chi-square test and stated power as ``tests/conformance/test_sampler_laws.py``
(any total-variation change >= 0.05 on the pooled cells is rejected with probability >= 0.99). The engine
itself is checked against ``exact_sampler_law`` on the history-free policies.
"""

import pytest

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.sampling.policy import PolicySampler, exact_policy_law
from tests.conformance.cases import MC_LANGUAGES, SAMPLER_CASES, case_language, case_languages
from tests.helpers import (
    assert_samples_follow,
)

POLICY_CASES = [c for c in SAMPLER_CASES if isinstance(c.make(), PolicySampler)]
HISTORY_CASES = [pytest.param(c, id=c.id) for c in POLICY_CASES if c.make().has_history]
MARKOV_CASES = [pytest.param(c, id=c.id) for c in POLICY_CASES if not c.make().has_history]


def test_the_registry_has_history_and_markov_policies():
    assert len(HISTORY_CASES) >= 8 and len(MARKOV_CASES) >= 4


@pytest.mark.parametrize("lang_name", sorted(MC_LANGUAGES))
@pytest.mark.parametrize("case", HISTORY_CASES)
def test_monte_carlo_matches_the_augmented_state_law(case, lang_name):
    sampler = case.make()
    assert not sampler.capabilities.exact_kernel
    lang, n = case_languages(sampler)[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_policy_law(sampler, oracle, case.length)
    res = sampler.sample(oracle, n, case.length, make_generator(case.seed), batch_size=10000)
    assert_samples_follow(res.tokens, law, lang.vocab_size)


@pytest.mark.parametrize("case", MARKOV_CASES)
def test_the_augmented_engine_equals_the_plain_kernel_without_history(case):
    sampler = case.make()
    lang = case_language(sampler, "hmm")
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    a = exact_policy_law(sampler, oracle, case.length)
    b = exact_sampler_law(sampler, oracle, case.length)
    assert float((a - b).abs().max()) < 1e-13


def test_exact_policy_law_rejects_other_samplers():
    from_registry = next(c for c in SAMPLER_CASES if c.key == "fixed_random").make()
    with pytest.raises(ValueError, match="PolicySampler"):
        exact_policy_law(from_registry, OracleDenoiser(MC_LANGUAGES["hmm"][0]), 4)
