"""Self-speculative decoding (sims/sampling/ssd.py): with the exact oracle as verifier its output law is the
language's exact law, for every draft length and draft temperature (the key exactness test, computed
exactly by enumeration and checked by batched Monte Carlo), and the speculative-sampling rule on hand-built
laws.

Monte Carlo: same languages, sample sizes, chi-square test and stated power as
``tests/conformance/test_sampler_laws.py`` (any total-variation change >= 0.05 on the pooled cells is
rejected with probability >= 0.99).
"""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint
from sims.languages import random_hmm, random_ngram
from sims.languages.hard import pair_copy_language
from sims.sampling.draft_verify import exact_draft_law
from sims.sampling.ssd import SelfSpeculativeSampler, acceptance_probs, residual_probs
from tests.conformance.cases import CYCLE, HMM, MC_LANGUAGES
from tests.helpers import (
    assert_samples_follow,
)

LANGS = {
    "cycle": CYCLE,
    "hmm": HMM,
    "trigram": random_ngram(3, 3, seed=11),
    "pair_copy": pair_copy_language(2),
    "hmm_sparse": random_hmm(3, 3, transition_support=2, emission_support=2, seed=8),
}


@pytest.mark.parametrize("lang_name", sorted(LANGS))
@pytest.mark.parametrize("m,draft_temperature", [(1, 1.0), (2, 0.0), (3, 0.5), (5, 3.0), (4, 1.0)])
def test_the_exact_law_is_the_language_law(lang_name, m, draft_temperature):
    """Lossless: the exact output law equals the language's law to float64 rounding (L = 5), whatever the
    draft length and the draft law."""
    lang, L = LANGS[lang_name], 4 if lang_name == "pair_copy" else 5
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_draft_law(SelfSpeculativeSampler(m, draft_temperature), oracle, L)
    ref = exact_log_joint(lang, L).exp()
    assert float((law - ref).abs().max()) < 1e-13


def test_a_biased_verifier_would_be_detected():
    """The exact engine is not trivially the language law: APD-like acceptance without the residual
    (commit the accepted prefix only) changes it."""

    class NoResidual(SelfSpeculativeSampler):
        def outcomes(self, log_probs, draft_log_probs, draft, laws):
            out = super().outcomes(log_probs, draft_log_probs, draft, laws)
            return [(a, c if a == 0 else None, p) for a, c, p in out]

    lang = LANGS["cycle"]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_draft_law(NoResidual(3, 0.5), oracle, 4)
    assert abs(float(law.sum()) - 1) < 1e-12
    assert float((law - exact_log_joint(lang, 4).exp()).abs().max()) > 1e-3


@pytest.mark.parametrize("lang_name", sorted(MC_LANGUAGES))
@pytest.mark.parametrize("m,draft_temperature", [(4, 1.0), (2, 0.5), (3, 0.0)])
def test_monte_carlo_matches_the_language_law(lang_name, m, draft_temperature):
    lang, n = MC_LANGUAGES[lang_name]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    sampler = SelfSpeculativeSampler(m, draft_temperature)
    res = sampler.sample(oracle, n, 4, make_generator(17 + m), batch_size=10000)
    law = exact_log_joint(lang, 4).exp()
    assert_samples_follow(res.tokens, law, lang.vocab_size)
    assert not bool(res.left_support.any())


def test_speculative_identity_on_hand_built_laws():
    """q min(1, pi/q) + (1 - sum min(pi, q)) (pi - q)_+ / |(pi - q)_+| = pi, and the edge cases."""
    g = make_generator(0)
    for _ in range(50):
        pi = torch.rand(5, generator=g, dtype=torch.float64) ** 3
        q = torch.rand(5, generator=g, dtype=torch.float64) ** 3
        pi[int(torch.randint(5, (1,), generator=g))] = 0.0
        pi, q = pi / pi.sum(), q / q.sum()
        lpi, lq = pi.log(), q.log()
        alpha = torch.stack([acceptance_probs(lpi, lq, torch.tensor(v)) for v in range(5)])
        reject = 1 - float((q * alpha).sum())
        total = q * alpha + reject * residual_probs(lpi, lq)
        assert torch.allclose(total, pi, atol=1e-14)
    same = torch.log(torch.tensor([0.2, 0.8], dtype=torch.float64))
    assert acceptance_probs(same, same, torch.tensor(1)).item() == 1.0
    assert torch.allclose(residual_probs(same, same), same.exp())  # rejection impossible: law itself
    hot = torch.log(torch.tensor([0.0, 1.0], dtype=torch.float64))  # argmax draft
    assert math.isclose(acceptance_probs(same, hot, torch.tensor(1)).item(), 0.8)
    assert residual_probs(same, hot).tolist() == [1.0, 0.0]


def test_outcomes_enumerate_accept_and_reject():
    s = SelfSpeculativeSampler(2, 0.0)
    lp = torch.log(torch.tensor([[0.6, 0.4], [0.5, 0.5]], dtype=torch.float64))
    q = torch.log(torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    laws = torch.log(torch.tensor([[0.6, 0.4], [0.3, 0.7]], dtype=torch.float64))
    out = s.outcomes(lp, q, [0, 0], laws)
    assert [(a, c) for a, c, _ in out] == [(0, 1), (1, 1), (2, None)]
    assert [p for _, _, p in out] == pytest.approx([0.4, 0.6 * 0.7, 0.6 * 0.3], abs=1e-14)
    # draft temperature 1: the first token is always accepted
    out1 = SelfSpeculativeSampler(2).outcomes(lp, lp, [1, 1], laws)
    assert sum(p for a, _, p in out1 if a == 0) == 0.0


def test_calls_and_speed():
    """Near-deterministic language: long drafts are accepted, so NFE (marginal calls + passes) falls well
    below 2L while m = 1 makes exactly L marginal calls and no pass."""
    oracle = OracleDenoiser(CYCLE, on_impossible="uniform")
    one = SelfSpeculativeSampler(1).sample(oracle, 500, 8, make_generator(1))
    assert bool((one.nfe == 8).all())
    four = SelfSpeculativeSampler(4).sample(oracle, 500, 8, make_generator(1))
    steps = (four.step_num_masked > 0).sum(1).double()
    assert float(steps.mean()) < 5 and float(four.nfe.double().mean()) < 10
    assert four.conventions["extras"]["passes"]["draft_log_prob"]["nfe"].startswith("1 call per row")
