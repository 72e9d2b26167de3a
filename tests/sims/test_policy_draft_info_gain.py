"""The Info-Gain sampler (sims/sampling/info_gain.py): batched Monte Carlo against its exact law
(``exact_info_gain_law``), the objective and the candidate rules on hand-built laws, and the reduction N = 1
(the fixed-count sampled-confidence rule with LLaDA counts).

Monte Carlo: same languages, sample sizes, chi-square test and stated power as
``tests/conformance/test_sampler_laws.py``.
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.info_gain import InfoGainSampler, exact_info_gain_law, info_gain_scores, top_k_lowest_index
from sims.validation import SizeLimitError
from tests.conformance.cases import CYCLE, HMM, MC_LANGUAGES
from tests.helpers import (
    CountingDenoiser,
    assert_samples_follow,
)

CONFIGS = {
    "n2_K4": lambda: InfoGainSampler(4, 2),
    "n3_K2_pt0.2": lambda: InfoGainSampler(2, 3, 0.2),
    "n3_block2_T0.7": lambda: InfoGainSampler(4, 3, 0.5, block_length=2, temperature=0.7),
}


@pytest.mark.parametrize("lang_name", sorted(MC_LANGUAGES))
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_monte_carlo_matches_the_exact_law(config, lang_name):
    sampler = CONFIGS[config]()
    lang, n = MC_LANGUAGES[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_info_gain_law(sampler, oracle, 4)
    res = sampler.sample(oracle, n, 4, make_generator(9), batch_size=10000)
    assert_samples_follow(res.tokens, law, lang.vocab_size)


@pytest.mark.parametrize("lang", [CYCLE, HMM], ids=["cycle", "hmm"])
def test_one_candidate_is_the_fixed_count_sampled_confidence_rule(lang):
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    a = exact_info_gain_law(InfoGainSampler(4, 1), oracle, 4)
    b = exact_sampler_law(FixedCountSampler(4, score="sampled_prob", tie_break="lowest_index"), oracle, 4)
    assert float((a - b).abs().max()) < 1e-13
    # the lookahead changes the law (the candidates are not all the same action)
    c = exact_info_gain_law(InfoGainSampler(4, 3, 0.5), oracle, 4)
    assert float((c - b).abs().max()) > 1e-3


def test_objective_on_hand_built_laws():
    """J = -(entropy of the chosen positions) - (mean entropy of the masked positions of the next state)."""
    h = lambda p: -sum(x * math.log(x) for x in p if x > 0)  # noqa: E731
    lp = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]], dtype=torch.float64))
    nlp = torch.log(torch.tensor([[1.0, 0.0], [0.6, 0.4], [0.7, 0.3]], dtype=torch.float64))
    positions = torch.tensor([True, False, False])
    next_masked = torch.tensor([False, True, True])
    J = float(info_gain_scores(lp, positions, nlp, next_masked))
    assert math.isclose(J, -h([0.5, 0.5]) - (h([0.6, 0.4]) + h([0.7, 0.3])) / 2, abs_tol=1e-11)
    # no masked position left: the gain term is zero
    J0 = float(info_gain_scores(lp, positions, nlp, torch.zeros(3, dtype=torch.bool)))
    assert math.isclose(J0, -h([0.5, 0.5]), abs_tol=1e-11)


def test_top_k_breaks_ties_towards_the_lowest_position():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.5, 0.9]])
    allowed = torch.tensor([[True, True, True, True, False]])
    assert top_k_lowest_index(scores, allowed, 2).tolist() == [[True, True, False, False, False]]
    assert top_k_lowest_index(scores, allowed, 9).tolist() == allowed.tolist()


def test_calls_lookahead_outputs_are_reused():
    """K = L = 4 (one token per step): a marginal call at step 0 only, a lookahead pass at steps 0..2, the
    last step reuses the cached lookahead output: nfe = 4 for every row; N = 1 makes L marginal calls."""
    den = CountingDenoiser(OracleDenoiser(HMM, on_impossible="uniform"))
    res = InfoGainSampler(4, 3).sample(den, 100, 4, make_generator(0))
    assert bool((res.nfe == 4).all()) and den.rows == 100 and den.pass_rows == 300
    one = InfoGainSampler(4, 1).sample(OracleDenoiser(HMM, on_impossible="uniform"), 50, 4, make_generator(0))
    assert bool((one.nfe == 4).all())
    assert res.conventions["extras"]["passes"]["lookahead"]["nfe"].startswith("1 call per row")


def test_size_guards_and_arguments():
    oracle = OracleDenoiser(HMM, on_impossible="uniform")
    with pytest.raises(ValueError, match="length"):
        exact_info_gain_law(InfoGainSampler(2), oracle, 9)
    with pytest.raises(SizeLimitError):
        exact_info_gain_law(InfoGainSampler(2, 8), oracle, 8)
    with pytest.raises(ValueError, match="position_temperature"):
        InfoGainSampler(4, position_temperature=-1.0)
