"""The standard corpus languages: recipes, fitting, held-out evaluation and the cached factories.

A :class:`CorpusRecipe` fixes everything a fitted language depends on (tokenizer, family, top-K,
smoothing, EM settings, training caps). :func:`corpus_language` returns the language of a recipe or of a
standard name, fitting it on the first call (the local standard library, :mod:`.source`) and reading it
from the cache (:mod:`.cache`) afterwards. Each fitted language carries its provenance: the corpus
(hash, Python version, whether it is the reference corpus), the tokenizer fingerprint, the recipe, the
library's fit version, the fitting time and its held-out metrics.

Held-out evaluation (:func:`heldout_metrics`): the held-out files (never used for fitting, not even by
the tokenizer) are tokenized, cut into non-overlapping chunks of :data:`HELDOUT_CHUNK` tokens (file
remainders dropped; at most :data:`HELDOUT_MAX_TOKENS` tokens, files in path-hash order), and scored with
the language's exact ``log_prob`` (each chunk starts from the language's initial law). Reported: the
per-token perplexity :math:`\\exp(-\\sum \\log q / N)` (infinite when some chunk is outside the support),
the fraction of chunks inside the support, and for n-grams the token coverage (fraction of held-out
tokens whose transition is in the support).

Standard names (:data:`STANDARD_RECIPES`; :data:`QUICK_NAMES` are small and fit in seconds, the others
take minutes; measured times in docs/corpus_languages.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sims.languages.base import Language
from sims.languages.corpus.cache import (
    FIT_VERSION,
    check_corpus,
    default_cache_dir,
    language_from_tensors,
    language_tensors,
    load_entry,
    recipe_hash,
    save_entry,
)
from sims.languages.corpus.hmm_fit import chunk_streams, fit_hmm
from sims.languages.corpus.ngram_fit import fit_sparse_bigram, fit_trigram
from sims.languages.corpus.source import StdlibCorpus, stdlib_corpus
from sims.languages.corpus.tokenize import CHAR_VOCAB, Tokenizer, train_bpe
from sims.languages.hmm import HMMLanguage
from sims.validation import InvalidArgumentError

HELDOUT_CHUNK = 256
HELDOUT_MAX_TOKENS = 2**18
FAMILIES = ("bigram", "trigram", "hmm")


@dataclass(frozen=True)
class CorpusRecipe:
    """Everything a fitted corpus language depends on.

    Attributes:
        family: ``"bigram"`` (:class:`~sims.languages.sparse_bigram.SparseBigramLanguage`),
            ``"trigram"`` (dense order-3 :class:`~sims.languages.ngram.NGramLanguage`, character level
            only) or ``"hmm"`` (:class:`~sims.languages.hmm.HMMLanguage` by EM).
        vocab_size: 98 for the character alphabet, larger for a BPE vocabulary trained locally.
        top_k, smoothing, epsilon: n-gram truncation and smoothing (:mod:`.ngram_fit`); the trigram's
            back-off bigram uses ``backoff_top_k`` with the same smoothing.
        num_states, em_iterations, em_tokens, pseudo_count, seed: HMM settings (:mod:`.hmm_fit`).
        train_bytes: cap on the training bytes (training files in path-hash order; None = all).
        bpe_train_bytes: cap on the bytes the BPE merges are learned from (None = all training files).
    """

    family: str
    vocab_size: int = CHAR_VOCAB
    top_k: int = 16
    smoothing: str = "witten_bell"
    epsilon: float = 1e-4
    backoff_top_k: int = 16
    num_states: int = 64
    em_iterations: int = 20
    em_tokens: int = 200_000
    pseudo_count: float = 1e-2
    seed: int = 0
    train_bytes: int | None = None
    bpe_train_bytes: int | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise InvalidArgumentError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.vocab_size < CHAR_VOCAB:
            raise InvalidArgumentError(
                f"vocab_size must be >= {CHAR_VOCAB} (the character alphabet), got {self.vocab_size}"
            )
        if self.family == "trigram" and self.vocab_size != CHAR_VOCAB:
            raise InvalidArgumentError("order 3 is feasible at the character level only (V**2 lifted states)")

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.family != "hmm":
            for k in ("num_states", "em_iterations", "em_tokens", "pseudo_count", "seed"):
                d.pop(k)
        else:
            for k in ("top_k", "smoothing", "epsilon", "backoff_top_k"):
                d.pop(k)
        if self.family != "trigram":
            d.pop("backoff_top_k", None)
        return d


STANDARD_RECIPES: dict[str, CorpusRecipe] = {
    # character level (V = 98)
    "stdlib_char2": CorpusRecipe("bigram", top_k=16),
    "stdlib_char2_zeros": CorpusRecipe("bigram", top_k=8, smoothing="none"),
    "stdlib_char3": CorpusRecipe("trigram", top_k=16),
    "stdlib_char3_zeros": CorpusRecipe("trigram", top_k=8, smoothing="none", backoff_top_k=8),
    "stdlib_char_hmm64": CorpusRecipe("hmm", num_states=64, em_iterations=30, em_tokens=200_000),
    "stdlib_char_hmm512": CorpusRecipe("hmm", num_states=512, em_iterations=10, em_tokens=100_000),
    # subword level (BPE trained on the training files)
    "stdlib_bpe1k2": CorpusRecipe("bigram", vocab_size=1024, top_k=64),
    "stdlib_bpe4k2": CorpusRecipe("bigram", vocab_size=4096, top_k=64),
    "stdlib_bpe4k2_eps": CorpusRecipe(
        "bigram", vocab_size=4096, top_k=64, smoothing="constant", epsilon=1e-4
    ),
    "stdlib_bpe4k2_zeros": CorpusRecipe("bigram", vocab_size=4096, top_k=64, smoothing="none"),
    "stdlib_bpe1k_hmm256": CorpusRecipe(
        "hmm", vocab_size=1024, num_states=256, em_iterations=15, em_tokens=200_000
    ),
}
#: Small languages for quick runs (seconds to fit).
QUICK_NAMES = ("stdlib_char2", "stdlib_char2_zeros")
#: The full set.
FULL_NAMES = tuple(STANDARD_RECIPES)


@dataclass
class CorpusLanguage:
    """A fitted language with its tokenizer and provenance (``path``: its cache file, if any)."""

    name: str
    language: Language
    tokenizer: Tokenizer
    provenance: dict
    path: Path | None = None


def get_tokenizer(
    corpus: StdlibCorpus, vocab_size: int, bpe_train_bytes: int | None, cache_dir: Path | None
) -> Tokenizer:
    """The character tokenizer, or the BPE of ``vocab_size`` trained on the training files (cached)."""
    if vocab_size == CHAR_VOCAB:
        return Tokenizer()
    recipe = {"tokenizer": "bpe", "vocab_size": vocab_size, "bpe_train_bytes": bpe_train_bytes}
    recipe["corpus_hash"] = corpus.corpus_hash
    path = None
    if cache_dir is not None:
        path = cache_dir / f"tokenizer-bpe{vocab_size}-{recipe_hash(recipe)}.pt"
        if path.exists():
            _, _, merges, _ = load_entry(path, expected_kind="tokenizer")
            return Tokenizer([tuple(m) for m in merges])
    t0 = time.perf_counter()
    tok = train_bpe(corpus.take(corpus.train_files, bpe_train_bytes), vocab_size)
    if path is not None:
        prov = {"recipe": recipe, "corpus": corpus.provenance(), "seconds": time.perf_counter() - t0}
        save_entry(path, "tokenizer", {}, tok.merges, prov)
    return tok


def heldout_metrics(lang: Language, streams: list[np.ndarray]) -> dict:
    """Held-out perplexity and support coverage (module docstring)."""
    x = chunk_streams(streams, HELDOUT_CHUNK, HELDOUT_MAX_TOKENS).to(lang.device)
    lp = torch.cat([lang.log_prob(b) for b in x.split(64)])
    finite = torch.isfinite(lp)
    out = {
        "chunk_length": HELDOUT_CHUNK,
        "tokens": int(x.numel()),
        "perplexity": math.exp(-float(lp.sum()) / x.numel()) if bool(finite.all()) else math.inf,
        "chunks_in_support": float(finite.double().mean()),
    }
    if hasattr(lang, "token_violations"):
        viol = torch.cat([lang.token_violations(b) for b in x.split(64)])
        out["token_coverage"] = 1.0 - float(viol.double().mean())
    return out


def fit_corpus_language(
    recipe: CorpusRecipe, corpus: StdlibCorpus | None = None, cache_dir: Path | None = None, name: str = ""
) -> CorpusLanguage:
    """Fit ``recipe`` on the local standard library (no language cache; tokenizers cached in ``cache_dir``)."""
    corpus = corpus or stdlib_corpus()
    t0 = time.perf_counter()
    tok = get_tokenizer(corpus, recipe.vocab_size, recipe.bpe_train_bytes, cache_dir)
    t_tok = time.perf_counter() - t0
    train = [tok.encode(t) for t in corpus.take(corpus.train_files, recipe.train_bytes)]
    V = tok.vocab_size
    extra: dict = {}
    t1 = time.perf_counter()
    if recipe.family == "bigram":
        lang = fit_sparse_bigram(train, V, recipe.top_k, recipe.smoothing, recipe.epsilon)
    elif recipe.family == "trigram":
        back = fit_sparse_bigram(train, V, recipe.backoff_top_k, recipe.smoothing, recipe.epsilon)
        lang = fit_trigram(train, V, recipe.top_k, back, recipe.smoothing)
    else:
        em = fit_hmm(
            train,
            V,
            recipe.num_states,
            recipe.em_iterations,
            max_tokens=recipe.em_tokens,
            pseudo_count=recipe.pseudo_count,
            seed=recipe.seed,
        )
        lang = em.language
        extra["em_log_likelihood_per_token"] = em.log_likelihood_per_token
        extra["em_objective_per_token"] = em.objective_per_token
    t_fit = time.perf_counter() - t1
    held = [tok.encode(t) for t in corpus.take(corpus.held_out_files)]
    t2 = time.perf_counter()
    metrics = heldout_metrics(lang, held)
    provenance = {
        "name": name,
        "recipe": recipe.to_dict(),
        "fit_version": FIT_VERSION,
        "corpus": corpus.provenance(),
        "tokenizer": {"kind": tok.kind, "vocab_size": V, "fingerprint": tok.fingerprint()},
        "training_tokens": int(sum(len(s) for s in train)),
        "language": lang.describe(),
        "seconds": {"tokenizer": t_tok, "fit": t_fit, "heldout": time.perf_counter() - t2},
        "heldout": metrics,
        "torch": torch.__version__,
        **extra,
    }
    if isinstance(lang, HMMLanguage):
        provenance["language"]["num_states"] = lang.num_states
    return CorpusLanguage(name, lang, tok, provenance)


def corpus_language(
    name_or_recipe: str | CorpusRecipe,
    cache_dir: Path | str | None = None,
    refit: bool = False,
    allow_corpus_mismatch: bool = False,
) -> CorpusLanguage:
    """A standard (or custom) corpus language: read from the cache, or fitted and cached (module docstring).

    Args:
        name_or_recipe: a key of :data:`STANDARD_RECIPES` or a :class:`CorpusRecipe`.
        cache_dir: cache directory (default :func:`~sims.languages.corpus.cache.default_cache_dir`).
        refit: fit again even if a cache file exists (and overwrite it).
        allow_corpus_mismatch: use a cache file fitted on another standard library as it is.
    """
    if isinstance(name_or_recipe, str):
        if name_or_recipe not in STANDARD_RECIPES:
            raise InvalidArgumentError(
                f"unknown corpus language {name_or_recipe!r}; choose from {sorted(STANDARD_RECIPES)}"
            )
        name, recipe = name_or_recipe, STANDARD_RECIPES[name_or_recipe]
    else:
        name, recipe = "custom", name_or_recipe
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"{name}-{recipe_hash(recipe.to_dict())}.pt"
    corpus = stdlib_corpus()
    if path.exists() and not refit:
        kind, tensors, merges, provenance = load_entry(path)
        check_corpus(path, provenance, corpus.corpus_hash, allow_corpus_mismatch)
        tok = Tokenizer([tuple(m) for m in merges])
        return CorpusLanguage(name, language_from_tensors(kind, tensors), tok, provenance, path)
    fitted = fit_corpus_language(recipe, corpus, cache_dir, name)
    kind, tensors = language_tensors(fitted.language)
    save_entry(path, kind, tensors, fitted.tokenizer.merges, fitted.provenance)
    # rebuilt from the saved tensors, so a fresh fit and a cache read give bit-identical tables (the
    # constructors divide rows by their sums, which is not idempotent in floating point)
    fitted.language = language_from_tensors(kind, tensors)
    fitted.path = path
    return fitted


def stdlib_language(name: str) -> Language:
    """The language of a standard corpus recipe (fitted on first use, then cached): registry factory."""
    return corpus_language(name).language


def languages_markdown_table(data: dict) -> str:
    """The Markdown table of fitted languages (docs/corpus_languages.md) from the provenance JSON written by
    ``python -m sims.languages.corpus --out``: one row per language, in :data:`FULL_NAMES` order."""
    lines = [
        "| name | V | family | K or S | smoothing / EM | training-file tokens | held-out ppl | coverage | fit [s] "
        "| cache [MiB] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {n: i for i, n in enumerate(FULL_NAMES)}
    for name, entry in sorted(data.items(), key=lambda kv: order.get(kv[0], len(order))):
        prov = entry["provenance"]
        r, h, s = prov["recipe"], prov["heldout"], prov["seconds"]
        shape = f"S = {r['num_states']}" if r["family"] == "hmm" else f"K = {r['top_k']}"
        if r["family"] == "hmm":
            smooth = f"EM, {r['em_iterations']} it., {r['em_tokens']} tok."
        else:
            smooth = r["smoothing"] + (f" (eps = {r['epsilon']:g})" if r["smoothing"] == "constant" else "")
        ppl = h["perplexity"]
        ppl_s = "inf" if ppl in ("inf", math.inf) else f"{ppl:.3f}"
        cov = h.get("token_coverage", h["chunks_in_support"])
        lines.append(
            f"| `{name}` | {prov['tokenizer']['vocab_size']} | {r['family']} | {shape} | {smooth} | "
            f"{prov['training_tokens']} | {ppl_s} | {cov:.4f} | {s['fit'] + s['tokenizer']:.1f} | "
            f"{entry['cache_bytes'] / 2**20:.2f} |"
        )
    return "\n".join(lines)
