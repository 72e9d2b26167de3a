"""Languages fitted to real text that every machine has: the Python standard library's source files.

Modules: :mod:`.source` (the deterministic file list, train/held-out split and corpus hash),
:mod:`.tokenize` (character alphabet and a locally trained BPE), :mod:`.ngram_fit` (top-K n-grams with
teleport smoothing or exact zeros), :mod:`.hmm_fit` (HMMs by EM with the suite's forward-backward),
:mod:`.cache` (on-disk cache with provenance and checksums) and :mod:`.standard` (the standard recipes and
the cached factory :func:`corpus_language`). ``python -m sims.languages.corpus --preset quick`` fits the
quick set and prints their held-out perplexities. Documentation: docs/corpus_languages.md.
"""

from sims.languages.corpus.cache import FIT_VERSION, LanguageCacheError, default_cache_dir
from sims.languages.corpus.hmm_fit import EMResult, expected_counts, fit_hmm
from sims.languages.corpus.ngram_fit import fit_sparse_bigram, fit_trigram, ngram_counts
from sims.languages.corpus.source import (
    REFERENCE_HASHES,
    CorpusError,
    CorpusMismatchWarning,
    StdlibCorpus,
    stdlib_corpus,
)
from sims.languages.corpus.standard import (
    FULL_NAMES,
    QUICK_NAMES,
    STANDARD_RECIPES,
    CorpusLanguage,
    CorpusRecipe,
    corpus_language,
    fit_corpus_language,
    heldout_metrics,
    stdlib_language,
)
from sims.languages.corpus.tokenize import CHAR_VOCAB, Tokenizer, train_bpe

__all__ = [
    "CHAR_VOCAB",
    "FIT_VERSION",
    "FULL_NAMES",
    "QUICK_NAMES",
    "REFERENCE_HASHES",
    "STANDARD_RECIPES",
    "CorpusError",
    "CorpusLanguage",
    "CorpusMismatchWarning",
    "CorpusRecipe",
    "EMResult",
    "LanguageCacheError",
    "StdlibCorpus",
    "Tokenizer",
    "corpus_language",
    "default_cache_dir",
    "expected_counts",
    "fit_corpus_language",
    "fit_hmm",
    "fit_sparse_bigram",
    "fit_trigram",
    "heldout_metrics",
    "ngram_counts",
    "stdlib_corpus",
    "stdlib_language",
    "train_bpe",
]
