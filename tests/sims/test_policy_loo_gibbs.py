"""Gibbs correctors with exact leave-one-out conditionals (arXiv 2407.21243), checked by enumeration.

The theory: for a fixed revealed set R, redrawing one position i from :math:`p(x_i \\mid x_{R\\setminus i})`
leaves :math:`p(x_R)` invariant, and so does a mixture over sites chosen independently of the values
(random scan). So a predictor that samples the target exactly (one token per step from exact marginals)
followed by random-scan single-site correctors still samples it exactly. A site chosen *from* the values
(informed selection) or a parallel update of several dependent sites is not a fixed mixture of Gibbs
kernels, and the tests measure that it is not invariant on these languages.
"""

import itertools

import pytest
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import sequence_index
from sims.exact import exact_log_joint, exact_sampler_law, total_variation
from sims.languages import NGramLanguage
from sims.sampling.informed_corrector import InformedCorrectorSampler
from sims.sampling.loo_policy import LeaveOneOutView
from tests.conformance.cases import CYCLE, HMM

TOL = 1e-12  # float64 sums of at most a few hundred products of probabilities
#: a second-order binary n-gram with zeros, L = 5
NGRAM = NGramLanguage(3, 2, [0.5, 0.3, 0.2, 0.0], [[0.7, 0.3], [0.0, 1.0], [0.4, 0.6], [0.9, 0.1]])
LANGS = {"cycle": (CYCLE, 4), "hmm": (HMM, 4), "ngram3": (NGRAM, 5)}


def corrector_kernel(sampler, lang, length, revealed):
    """The law of the revealed tokens on positions ``revealed`` (others masked) before and after one corrector
    step (step 1 of a sampler with one corrector step per predictor step), by enumeration."""
    V = lang.vocab_size
    joint = exact_log_joint(lang, length).exp()
    seqs = list(itertools.product(range(V), repeat=length))
    law: dict[tuple, float] = {}
    for s in seqs:
        key = tuple(v if i in revealed else V for i, v in enumerate(s))
        law[key] = law.get(key, 0.0) + float(joint[int(sequence_index(torch.tensor(s), V))])
    states = [k for k, p in law.items() if p > 0]
    outs = LeaveOneOutView(OracleDenoiser(lang, on_impossible="uniform"))(torch.tensor(states)).log_probs
    after: dict[tuple, float] = {}
    for s, lp in zip(states, outs):
        for new, _, q in sampler.exact_augmented_transitions(s, {}, 1, lp, length):
            after[new] = after.get(new, 0.0) + law[s] * q
    keys = set(law) | set(after)
    return sum(abs(law.get(k, 0.0) - after.get(k, 0.0)) for k in keys)


def subsets(length):
    return [set(c) for r in (1, 2, length) for c in itertools.combinations(range(length), r)]


@pytest.mark.parametrize("name", sorted(LANGS))
def test_a_random_scan_gibbs_corrector_leaves_the_target_invariant(name):
    """Stationarity: on every revealed set of 1, 2 and all positions, the law of the revealed tokens is
    unchanged by one random-scan single-site Gibbs step with the exact leave-one-out conditionals."""
    lang, L = LANGS[name]
    s = InformedCorrectorSampler(L, corrector_steps=1, selection="random")
    for revealed in subsets(L):
        assert corrector_kernel(s, lang, L, revealed) < TOL, revealed


@pytest.mark.parametrize("name", sorted(LANGS))
def test_value_dependent_or_parallel_updates_are_not_invariant(name):
    """Informed selection (lowest leave-one-out probability of the current token) and a parallel redraw of
    two positions move the law of complete sequences (l1 distance measured well above rounding)."""
    lang, L = LANGS[name]
    full = set(range(L))
    informed = corrector_kernel(InformedCorrectorSampler(L), lang, L, full)
    parallel = corrector_kernel(InformedCorrectorSampler(L, selection="random", corrector_k=2), lang, L, full)
    assert informed > 1e-3 and parallel > 1e-3


@pytest.mark.parametrize("name", sorted(LANGS))
@pytest.mark.parametrize("corrector_steps", [1, 2])
def test_exact_predictor_plus_gibbs_correctors_samples_the_target(name, corrector_steps):
    lang, L = LANGS[name]
    o = OracleDenoiser(lang, on_impossible="uniform")
    law = exact_sampler_law(InformedCorrectorSampler(L, corrector_steps, selection="random"), o, L)
    assert total_variation(law, exact_log_joint(lang, L).exp()) < TOL


def test_informed_selection_biases_an_exact_predictor():
    o = OracleDenoiser(HMM, on_impossible="uniform")
    law = exact_sampler_law(InformedCorrectorSampler(4), o, 4)
    assert total_variation(law, exact_log_joint(HMM, 4).exp()) > 0.1  # measured 0.354


def test_gibbs_correctors_shrink_a_parallel_predictors_error():
    """K = 2 reveals two tokens per step from the product of marginals (biased); random-scan Gibbs steps
    move the output towards the target (measured on CYCLE: 0.448, 0.023, 0.0085)."""
    o = OracleDenoiser(CYCLE, on_impossible="uniform")
    target = exact_log_joint(CYCLE, 4).exp()
    tv = [
        total_variation(exact_sampler_law(InformedCorrectorSampler(2, c, selection="random"), o, 4), target)
        for c in (0, 1, 4)
    ]
    assert tv[0] > tv[1] > tv[2] and tv[2] < 0.02


def test_the_corrector_chooses_the_least_likely_token_or_a_uniform_one():
    V = 3
    x = (0, 1, 2, V)
    lp = torch.tensor(
        [[0.6, 0.2, 0.2], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]], dtype=torch.float64
    ).log()
    out = InformedCorrectorSampler(4).exact_augmented_transitions(x, {}, 1, lp, 4)
    moved = {i for new, _, _ in out for i in range(4) if new[i] != x[i]}
    assert moved == {1}  # q(x_0) = 0.6, q(x_1) = 0.3, q(x_2) = 0.8: position 1 is redrawn
    changed = {new: p for new, _, p in out}
    assert changed[(0, 0, 2, V)] == pytest.approx(0.3, abs=TOL) and changed[(0, 2, 2, V)] == pytest.approx(
        0.4, abs=TOL
    )
    out = InformedCorrectorSampler(4, selection="random").exact_augmented_transitions(x, {}, 1, lp, 4)
    stay = sum(p for new, _, p in out if new == x)
    assert stay == pytest.approx((0.6 + 0.3 + 0.8) / 3, abs=TOL)
    # step 0 is a predictor step: one uniformly random masked position (here the only one) is revealed
    pred = InformedCorrectorSampler(4).exact_augmented_transitions(x, {}, 0, lp, 4)
    assert {new[3] for new, _, _ in pred} == {0, 1, 2}
