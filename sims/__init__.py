"""Simulations: exact languages, denoisers (oracle, perturbed, trained), samplers, metrics, sweeps.

Quick tour::

    from sims import random_ngram, OracleDenoiser, AncestralSampler, make_generator, evaluate_samples
    lang = random_ngram(2, 8, concentration=0.5, support_size=4, stationary=True, seed=0)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    result = AncestralSampler(steps=16).sample(oracle, 256, 128, make_generator(0))
    print(evaluate_samples(lang, result.tokens, nfe=result.nfe))
"""

from sims.categorical import make_generator, sample_categorical
from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.languages import HMMLanguage, Language, NGramLanguage, random_hmm, random_ngram
from sims.metrics import evaluate_samples, exact_law_metrics, order_conditional_data_nll
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.base import Capabilities, Conventions, Sampler
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.result import SampleResult
from sims.validation import ImpossibleEvidenceError, InvalidDistributionError

__all__ = [
    "AncestralSampler",
    "Capabilities",
    "Conventions",
    "Denoiser",
    "DenoiserOutput",
    "FirstHittingSampler",
    "FixedCountSampler",
    "HMMLanguage",
    "ImpossibleEvidenceError",
    "InvalidDistributionError",
    "Language",
    "NGramLanguage",
    "OracleDenoiser",
    "PerturbedDenoiser",
    "SampleResult",
    "Sampler",
    "evaluate_samples",
    "exact_law_metrics",
    "make_generator",
    "order_conditional_data_nll",
    "random_hmm",
    "random_ngram",
    "sample_categorical",
]
