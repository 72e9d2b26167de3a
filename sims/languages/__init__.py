"""Synthetic languages with exact distributions: n-gram (any order) and HMM."""

from sims.languages.base import Language
from sims.languages.hmm import HMMLanguage
from sims.languages.markov import stationary_distribution
from sims.languages.ngram import NGramLanguage
from sims.languages.random import random_hmm, random_ngram

__all__ = [
    "HMMLanguage",
    "Language",
    "NGramLanguage",
    "random_hmm",
    "random_ngram",
    "stationary_distribution",
]
