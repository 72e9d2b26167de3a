"""Synthetic languages with exact distributions: n-gram (any order), HMM, sparse bigram (top-K + teleport)."""

from sims.languages.base import Language
from sims.languages.hmm import HMMLanguage
from sims.languages.markov import stationary_distribution
from sims.languages.ngram import NGramLanguage
from sims.languages.random import random_hmm, random_ngram
from sims.languages.sparse_bigram import SparseBigramLanguage, random_sparse_bigram

__all__ = [
    "HMMLanguage",
    "Language",
    "NGramLanguage",
    "SparseBigramLanguage",
    "random_hmm",
    "random_ngram",
    "random_sparse_bigram",
    "stationary_distribution",
]
