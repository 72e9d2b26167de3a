"""Exact laws of the length policies on tiny EOS languages (sims/sampling/{eotp,learn2pd,daedal}.py).

The registered cases are tested against batched Monte Carlo in ``tests/conformance`` (EoTP: plain kernel)
and ``tests/sims/test_policy_history_laws.py`` (DAEDAL, the oracle filter: augmented states), on the
EOS-padded conformance languages. Here: the reductions each rule allows, the content-length law of the
outputs against the language's exact length law (exactly, and by Monte Carlo), and the oracle filter's
output law, which is its reference sampler's.
"""

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import all_sequences
from sims.exact import exact_log_joint, exact_sampler_law, total_variation
from sims.registry import make_language
from sims.sampling.daedal import DAEDALSampler
from sims.sampling.eotp import EoTPSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.learn2pd import Learn2PDOracleSampler
from sims.sampling.policy import exact_policy_law
from tests.conformance.cases import EOS_MC_LANGUAGES
from tests.helpers import P_MIN, grouped_chi_square

LANGS = {name: lang for name, (lang, _) in EOS_MC_LANGUAGES.items()}
L = 4


def length_law_of(law: torch.Tensor, lang, length: int) -> torch.Tensor:
    """``(L+1,)`` law of the content length (first EOS; L if none) under a law over all sequences."""
    seqs = all_sequences(lang.vocab_size, length)
    n = lang.content_lengths(seqs)
    return torch.zeros(length + 1, dtype=torch.float64).index_add_(0, n, law)


def language_law(lang, length: int) -> torch.Tensor:
    return exact_log_joint(lang, length).exp()


@pytest.mark.parametrize("lang_name", sorted(LANGS))
def test_the_language_length_law_is_what_the_exact_law_says(lang_name):
    lang = LANGS[lang_name]
    exact = length_law_of(language_law(lang, L), lang, L)
    assert torch.allclose(exact[:L], lang.length_law(L), atol=1e-14) and float(exact[L]) < 1e-15


@pytest.mark.parametrize("lang_name", sorted(LANGS))
@pytest.mark.parametrize(
    "sampler",
    [
        Learn2PDOracleSampler(2),
        Learn2PDOracleSampler(2, score="sampled_prob", end_of_text=False),
        Learn2PDOracleSampler(4, block_length=2, temperature=0.5),
    ],
    ids=lambda s: s.name + f"_K{s.steps}_T{s.temperature:g}",
)
def test_the_oracle_filter_has_the_law_of_its_reference(sampler, lang_name):
    lang = LANGS[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    reference = FixedCountSampler(
        sampler.steps, score=sampler.score, block_length=sampler.block_length, temperature=sampler.temperature
    )
    a = exact_policy_law(sampler, oracle, L)
    b = exact_sampler_law(reference, oracle, L)
    assert float((a - b).abs().max()) < 1e-12


@pytest.mark.parametrize("lang_name", sorted(LANGS))
@pytest.mark.parametrize("block_length", [None, 1])
def test_end_of_text_on_committed_eos_keeps_one_token_per_step_exact(block_length, lang_name):
    """K = L: each token from its exact conditional; filling after a committed EOS writes what the language
    forces, so the law (and the length law) is the language's. Calls are saved left to right (blocks of 1);
    in confidence order the EOS positions at the end are the most confident and come first, so none is."""
    lang = LANGS[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    s = EoTPSampler(L, trigger="committed", block_length=block_length)
    assert total_variation(exact_sampler_law(s, oracle, L), language_law(lang, L)) < 1e-12
    nfe = s.sample(oracle, 2000, L, make_generator(3)).nfe.double()
    if block_length == 1:
        n = lang.content_lengths(lang.sample(200000, L, make_generator(4))).double()
        expected = float((n + 1).clamp(max=L).mean())  # calls up to and including the first EOS
        assert float(nfe.mean()) < L and abs(float(nfe.mean()) - expected) < 0.1
    else:
        assert bool((nfe == L).all())


@pytest.mark.parametrize("lang_name", sorted(LANGS))
def test_end_of_text_on_a_predicted_eos_is_biased_even_one_token_per_step(lang_name):
    """The released trigger cuts after a drawn (not committed) EOS: the content-length law moves."""
    lang = LANGS[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_sampler_law(EoTPSampler(L), oracle, L)
    target = language_law(lang, L)
    assert total_variation(law, target) > 0.05
    assert total_variation(length_law_of(law, lang, L), length_law_of(target, lang, L)) > 0.05


@pytest.mark.parametrize("lang_name", sorted(LANGS))
@pytest.mark.parametrize("initial", [2, 3, L])
def test_daedal_without_expansion_is_the_language_given_the_initial_canvas(initial, lang_name):
    """No expansion (thresholds 0) and one token per step (high threshold 1): the exact language law
    conditioned on the content ending within the canvas, n <= g0 (the EOS tail fixes every later position)."""
    lang = LANGS[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    s = DAEDALSampler(
        initial, 2, 2, initial_eos_threshold=0.0, expand_eos_threshold=0.0, high_conf_threshold=1.0
    )
    law = exact_policy_law(s, oracle, L)
    target = language_law(lang, L)
    n = lang.content_lengths(all_sequences(lang.vocab_size, L))
    target = torch.where(n <= initial, target, torch.zeros_like(target)) if initial < L else target
    assert float((law - target / target.sum()).abs().max()) < 1e-12


@pytest.mark.parametrize("lang_name", sorted(LANGS))
def test_daedal_length_law_monte_carlo_against_its_exact_law(lang_name):
    """The content lengths of DAEDAL's outputs follow the length law of its exact output law (chi-square).
    At L = 4 the canvas grows to 3 = L - 1, where every content fits: the length law is the language's."""
    lang = LANGS[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    s = DAEDALSampler(1, 2, 2)
    exact = length_law_of(exact_policy_law(s, oracle, L), lang, L)
    res = s.sample(oracle, 20000, L, make_generator(11), batch_size=10000)
    n = lang.content_lengths(res.tokens)
    # the chi-square of the grouped test on the length as a one-position "sequence" of L + 1 symbols
    test = grouped_chi_square(n.unsqueeze(1), exact, L + 1)
    assert test.pvalue > P_MIN
    assert total_variation(exact, length_law_of(language_law(lang, L), lang, L)) < 1e-12


def test_registered_eos_language_lengths():
    """On the registry's ngram2_eos (L = 3), DAEDAL's and the oracle filter's outputs stay in the language;
    the oracle filter reproduces its reference, so its length law is LLaDA's at the same K."""
    lang = make_language("ngram2_eos")
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_policy_law(Learn2PDOracleSampler(3), oracle, 3)
    ref = exact_sampler_law(FixedCountSampler(3, score="max_prob"), oracle, 3)
    assert float((law - ref).abs().max()) < 1e-12
    assert total_variation(law, language_law(lang, 3)) < 1e-12  # one token per step: exact
