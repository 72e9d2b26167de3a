"""Fitting corpus languages: counts, top-K smoothing, trigram back-off, EM against brute force, the cache.

References: counts by explicit loops; Witten-Bell rows from the formula by hand; EM expected counts by
summing over all S**T hidden paths of a tiny HMM; the MAP objective of EM never decreases (up to 1e-12
per token of float64 rounding).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.languages import HMMLanguage, NGramLanguage, SparseBigramLanguage, random_hmm
from sims.languages.corpus.cache import (
    LanguageCacheError,
    check_corpus,
    language_from_tensors,
    language_tensors,
    load_entry,
    save_entry,
)
from sims.languages.corpus.hmm_fit import chunk_streams, expected_counts, fit_hmm
from sims.languages.corpus.ngram_fit import fit_sparse_bigram, fit_trigram, ngram_counts, smoothed_rows
from sims.languages.corpus.standard import (
    FULL_NAMES,
    QUICK_NAMES,
    STANDARD_RECIPES,
    CorpusRecipe,
    corpus_language,
    heldout_metrics,
)

RNG = np.random.default_rng(0)
STREAMS = [RNG.integers(0, 5, size=n) ** 1 for n in (40, 3, 1, 25)]
STREAMS = [np.minimum(s, RNG.integers(0, 5, size=s.size)) for s in STREAMS]  # skewed towards small ids


def test_counts_stay_within_streams():
    for order in (2, 3):
        want = Counter()
        for s in STREAMS:
            for i in range(len(s) - order + 1):
                want[tuple(s[i : i + order])] += 1
        got = ngram_counts(STREAMS, 5, order)
        for key in itertools.product(range(5), repeat=order):
            ctx = sum(k * 5 ** (order - 2 - j) for j, k in enumerate(key[:-1]))
            assert got[ctx, key[-1]] == want[key]


def test_smoothed_rows_witten_bell_constant_and_zeros():
    counts = np.array([[5, 3, 3, 0], [0, 0, 0, 0], [1, 0, 0, 2], [0, 0, 7, 0]])
    nu = np.array([0.4, 0.3, 0.2, 0.1])
    idx, vals, lam = smoothed_rows(counts, 2, "witten_bell", 0.0, nu)
    assert idx[0].tolist() == [0, 1]  # tie between columns 1 and 2: the smaller id
    assert vals[0].tolist() == pytest.approx([5 / 14, 3 / 14]) and lam[0] == pytest.approx((3 + 3) / 14)
    assert lam[1] == 1.0 and vals[1].sum() == 0  # unseen context: all teleport
    assert np.allclose(vals.sum(1) + lam, 1)
    idx, vals, lam = smoothed_rows(counts, 2, "constant", 1e-3, nu)
    assert vals[0].tolist() == pytest.approx([0.999 * 5 / 8, 0.999 * 3 / 8]) and lam[0] == 1e-3
    idx, vals, lam = smoothed_rows(counts, 2, "none", 0.0, nu)
    assert (lam == 0).all() and np.allclose(vals.sum(1), 1)
    assert idx[1].tolist() == [0, 1] and vals[1].tolist() == pytest.approx([0.4 / 0.7, 0.3 / 0.7])
    assert vals[3].tolist() == [1.0, 0.0]  # a single observed successor; the second slot is padding


def test_fitted_bigram_is_stationary_and_zero_variant_has_exact_zeros():
    lang = fit_sparse_bigram(STREAMS, 5, 2, "witten_bell")
    dense = lang.to_dense()
    pi = dense.initial
    assert torch.allclose(pi @ dense.transition, pi, atol=1e-12)
    zeros = fit_sparse_bigram(STREAMS, 5, 2, "none").to_dense()
    assert int((zeros.transition > 0).sum(1).max()) <= 2
    with pytest.raises(ValueError, match="smoothing must be one of"):
        fit_sparse_bigram(STREAMS, 5, 2, "kneser")
    with pytest.raises(ValueError, match="top_k must lie in"):
        fit_sparse_bigram(STREAMS, 5, 9)


def test_trigram_backs_off_to_the_bigram():
    big = fit_sparse_bigram(STREAMS, 5, 3)
    tri = fit_trigram(STREAMS, 5, 2, big)
    assert isinstance(tri, NGramLanguage) and tri.order == 3
    assert torch.allclose(tri.transition.sum(1), torch.ones(25, dtype=torch.float64))
    unseen = ngram_counts(STREAMS, 5, 3).sum(1) == 0
    rows = big.transition_rows(torch.arange(5))
    for ctx in np.flatnonzero(unseen):
        assert torch.allclose(tri.transition[ctx], rows[ctx % 5], atol=1e-14)
    zeros = fit_trigram(STREAMS, 5, 2, fit_sparse_bigram(STREAMS, 5, 2, "none"), "none")
    assert int((zeros.transition > 0).sum(1).max()) <= 2
    with pytest.raises(ValueError, match="order 3 is for V <= 256"):
        fit_trigram(STREAMS, 300, 2, big)


def test_em_expected_counts_equal_enumeration_over_hidden_paths():
    lang = random_hmm(2, 3, seed=1)
    x = torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])
    S, T = 2, 4
    f64 = torch.float64
    init, trans, emis, ll = (
        torch.zeros(S, dtype=f64),
        torch.zeros(S, S, dtype=f64),
        torch.zeros(S, 3, dtype=f64),
        0.0,
    )
    for row in x:
        w = {}
        for z in itertools.product(range(S), repeat=T):
            p = lang.initial[z[0]] * lang.emission[z[0], row[0]]
            for t in range(1, T):
                p = p * lang.transition[z[t - 1], z[t]] * lang.emission[z[t], row[t]]
            w[z] = float(p)
        total = sum(w.values())
        ll += math.log(total)
        for z, p in w.items():
            init[z[0]] += p / total
            for t in range(T):
                emis[z[t], row[t]] += p / total
                if t:
                    trans[z[t - 1], z[t]] += p / total
    c = expected_counts(lang, x)
    assert c.log_likelihood == pytest.approx(ll, abs=1e-12)
    for got, want in ((c.initial, init), (c.transition, trans), (c.emission, emis)):
        assert torch.allclose(got, want, rtol=0, atol=1e-12)


def test_em_objective_never_decreases_and_fits_better_than_start():
    truth = random_hmm(3, 4, transition_concentration=0.3, emission_concentration=0.3, seed=2)
    data = truth.sample(40, 32, make_generator(0)).numpy()
    res = fit_hmm(list(data), 4, 3, 15, chunk_length=16, pseudo_count=1e-2, seed=0, batch_rows=7)
    obj = res.objective_per_token
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(obj))
    assert res.log_likelihood_per_token[-1] > res.log_likelihood_per_token[0]
    assert isinstance(res.language, HMMLanguage) and res.language.num_states == 3
    assert float(res.language.transition.min()) > 0 and float(res.language.emission.min()) > 0
    assert chunk_streams(list(data), 16, max_tokens=50).shape == (3, 16)


@pytest.mark.parametrize(
    "lang",
    [
        SparseBigramLanguage(
            [0.5, 0.5], [[0, 1], [1, 0]], [[0.25, 0.25], [0.5, 0.0]], [0.5, 0.5], [0.3, 0.7]
        ),
        NGramLanguage(3, 2, [0.25] * 4, np.full((4, 2), 0.5)),
        random_hmm(3, 4, seed=0),
    ],
)
def test_cache_round_trip_and_corruption(tmp_path, lang):
    kind, tensors = language_tensors(lang)
    path = tmp_path / "x.pt"
    prov = {"corpus": {"corpus_hash": "abc"}, "heldout": {"perplexity": math.inf}}
    save_entry(path, kind, tensors, [(1, 2)], prov)
    assert not list(tmp_path.glob("*.tmp"))
    kind2, t2, merges, prov2 = load_entry(path)
    back = language_from_tensors(kind2, t2)
    assert type(back) is type(lang) and merges == [[1, 2]] and prov2 == prov
    for name, t in language_tensors(back)[1].items():
        assert torch.equal(t, tensors[name])
    check_corpus(path, prov2, "abc", allow_mismatch=False)
    with pytest.raises(LanguageCacheError, match=r"x\.pt was fitted on corpus abc"):
        check_corpus(path, prov2, "def", allow_mismatch=False)
    check_corpus(path, prov2, "def", allow_mismatch=True)
    # tamper with a tensor: checksum failure; garbage: unreadable; both name the file and the fix
    payload = torch.load(path, weights_only=True)
    first = sorted(payload["tensors"])[0]
    payload["tensors"][first] = payload["tensors"][first] + 1
    torch.save(payload, path)
    with pytest.raises(LanguageCacheError, match=r"x\.pt fails its checksum.*delete it to refit"):
        load_entry(path)
    path.write_bytes(b"garbage")
    with pytest.raises(LanguageCacheError, match=r"x\.pt cannot be read.*delete it to refit"):
        load_entry(path)


def test_heldout_metrics_report_infinite_perplexity_and_coverage_for_zeros():
    lang = SparseBigramLanguage([1.0, 0.0], [[1], [0]], [[1.0], [1.0]])  # strict alternation 0 1 0 1 ...
    good = [np.tile([0, 1], 300)]
    m = heldout_metrics(lang, good)
    assert m["perplexity"] == pytest.approx(1.0) and m["token_coverage"] == 1.0
    bad = [np.concatenate([np.tile([0, 1], 128), np.zeros(256, dtype=np.int64)])]
    m = heldout_metrics(lang, bad)
    assert m["perplexity"] == math.inf and m["chunks_in_support"] == 0.5
    assert m["token_coverage"] == pytest.approx(1 - 255 / 512)  # every 0 -> 0 of the second chunk


def test_corpus_language_fits_once_then_reads_the_cache(tmp_path):
    recipe = CorpusRecipe("bigram", top_k=4, train_bytes=20_000)
    a = corpus_language(recipe, cache_dir=tmp_path)
    b = corpus_language(recipe, cache_dir=tmp_path)
    assert a.path == b.path and a.path.exists() and a.path.with_suffix(".json").exists()
    assert torch.equal(a.language.tr.values, b.language.tr.values)
    prov = b.provenance
    assert prov["corpus"]["corpus_hash"] and prov["tokenizer"]["kind"] == "char"
    assert prov["recipe"]["top_k"] == 4 and 1 < prov["heldout"]["perplexity"] < 98
    with pytest.raises(ValueError, match="unknown corpus language"):
        corpus_language("nope", cache_dir=tmp_path)


def test_recipes_are_validated_and_standard_names_exist():
    assert set(QUICK_NAMES) <= set(FULL_NAMES) == set(STANDARD_RECIPES)
    with pytest.raises(ValueError, match="order 3 is feasible at the character level only"):
        CorpusRecipe("trigram", vocab_size=1024)
    with pytest.raises(ValueError, match="family must be one of"):
        CorpusRecipe("lstm")
    assert "num_states" not in CorpusRecipe("bigram").to_dict()
    assert "top_k" not in CorpusRecipe("hmm").to_dict()
