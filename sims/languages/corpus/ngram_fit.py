r"""Fitting sparse n-gram languages to token streams: counts, top-K truncation and teleport smoothing.

Counts are taken within each stream (one stream per source file; no transition crosses a file
boundary). For each context c with count :math:`N_c` and successor counts :math:`N_c(x)`, the top-K
successors :math:`K_c` are the K largest counts (ties: smaller token id first; zero counts never
enter). The teleport law is the add-one unigram law :math:`\nu(x) = (N(x) + 1)/(N + V)`, positive
everywhere. Smoothing rules (``smoothing=``):

* ``"witten_bell"`` (default): :math:`P(x \mid c) = N_c(x)/(N_c + T_c)` for :math:`x \in K_c`, and the
  rest of the row, :math:`\lambda_c = (T_c + N_c - \sum_{x \in K_c} N_c(x))/(N_c + T_c)`, goes to the
  teleport (:math:`T_c` the number of distinct successors): the Witten-Bell escape mass plus the mass cut
  by the truncation (Witten and Bell, IEEE Trans. Inf. Theory 1991; Chen and Goodman, "An empirical study
  of smoothing techniques for language modeling", 1998, Sec. 2.4). No parameter, no zeros.
* ``"constant"``: :math:`P' = (1-\varepsilon) P_K + \varepsilon \nu`, :math:`P_K` the renormalised top-K
  counts: the mixture of Tang et al. (arXiv 2602.19619; their OpenWebText chain uses
  :math:`\varepsilon = 10^{-4}`).
* ``"none"``: :math:`P_K` alone: exact zeros outside the top-K support, so sequence error means something.

Contexts never seen in training take the teleport law (``"none"``: the top-K of the teleport law,
renormalised, to keep exact zeros). The initial law is the stationary law of the fitted chain (as the
peer does), so every position has the same marginal.

Order 3 (:func:`fit_trigram`, character level only: the lifted chain has :math:`V^2` states, 9604 at
V = 98; at V = 1024 it would be :math:`10^6` states and a :math:`10^9`-entry table, not feasible):
contexts are pairs (a, b); the teleport is replaced by back-off to the fitted bigram row
:math:`P_2(\cdot \mid b)` (interpolated Witten-Bell back-off), or, with ``"none"``, exact zeros.
"""

from __future__ import annotations

import numpy as np
import torch

from sims.languages.ngram import NGramLanguage
from sims.languages.sparse_bigram import SparseBigramLanguage
from sims.validation import InvalidArgumentError, InvalidDistributionError

SMOOTHING = ("witten_bell", "constant", "none")


def ngram_counts(streams: list[np.ndarray], vocab_size: int, order: int) -> np.ndarray:
    """``(V**(order-1), V)`` int64 counts of (context, next token) within each stream."""
    V = vocab_size
    keys = []
    for s in streams:
        s = np.asarray(s, dtype=np.int64)
        if s.size < order:
            continue
        key = np.zeros(s.size - order + 1, dtype=np.int64)
        for j in range(order):
            key = key * V + s[j : s.size - order + 1 + j]
        keys.append(key)
    flat = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    return np.bincount(flat, minlength=V**order).reshape(V ** (order - 1), V)


def unigram_law(streams: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """Add-one unigram law (positive everywhere)."""
    counts = np.bincount(
        np.concatenate([np.asarray(s, dtype=np.int64) for s in streams]), minlength=vocab_size
    )
    return (counts + 1.0) / (counts.sum() + vocab_size)


def top_k_successors(counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices ``(rows, k)`` of the k largest counts per row (ties: smaller id) and their counts."""
    order = np.argsort(-counts, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(counts, order, axis=1)


def _check_args(top_k_: int, smoothing: str, epsilon: float, vocab_size: int) -> None:
    if smoothing not in SMOOTHING:
        raise InvalidArgumentError(f"smoothing must be one of {SMOOTHING}, got {smoothing!r}")
    if not 1 <= top_k_ <= vocab_size:
        raise InvalidArgumentError(f"top_k must lie in 1..{vocab_size}, got {top_k_}")
    if smoothing == "constant" and not 0.0 < epsilon < 1.0:
        raise InvalidArgumentError(f"epsilon must lie in (0, 1) for smoothing='constant', got {epsilon}")


def smoothed_rows(counts: np.ndarray, k: int, smoothing: str, epsilon: float, nu: np.ndarray):
    """``(indices, values, teleport_weight)`` of the smoothed top-K rows (module docstring)."""
    idx, kc = top_k_successors(counts, k)
    kc = kc.astype(np.float64)
    n = counts.sum(1).astype(np.float64)
    nk = kc.sum(1)
    seen = n > 0
    vals = np.zeros_like(kc)
    lam = np.ones(counts.shape[0])
    if smoothing == "witten_bell":
        distinct = (counts > 0).sum(1).astype(np.float64)
        denom = np.where(seen, n + distinct, 1.0)
        vals = kc / denom[:, None]
        lam = np.where(seen, (distinct + n - nk) / denom, 1.0)
    elif smoothing == "constant":
        vals = np.where(seen[:, None], (1 - epsilon) * kc / np.where(seen, nk, 1.0)[:, None], 0.0)
        lam = np.where(seen, epsilon, 1.0)
    else:  # "none": exact zeros; unseen contexts take the top-K of the teleport law
        fallback = np.argsort(-nu, kind="stable")[:k]
        idx = np.where(seen[:, None], idx, fallback[None, :])
        w = np.where(seen[:, None], kc, nu[fallback][None, :])
        vals = w / w.sum(1, keepdims=True)
        lam = np.zeros(counts.shape[0])
    return idx, vals, lam


def fit_sparse_bigram(
    streams: list[np.ndarray],
    vocab_size: int,
    top_k: int,
    smoothing: str = "witten_bell",
    epsilon: float = 1e-4,
) -> SparseBigramLanguage:
    """A :class:`SparseBigramLanguage` fitted to ``streams`` (module docstring), stationary start."""
    _check_args(top_k, smoothing, epsilon, vocab_size)
    nu = unigram_law(streams, vocab_size)
    idx, vals, lam = smoothed_rows(ngram_counts(streams, vocab_size, 2), top_k, smoothing, epsilon, nu)
    start = SparseBigramLanguage(np.full(vocab_size, 1.0 / vocab_size), idx, vals, lam, nu)
    return SparseBigramLanguage(start.stationary_law(), idx, vals, lam, nu)


def fit_trigram(
    streams: list[np.ndarray],
    vocab_size: int,
    top_k: int,
    bigram: SparseBigramLanguage,
    smoothing: str = "witten_bell",
    tol: float = 1e-13,
    max_iter: int = 100_000,
) -> NGramLanguage:
    """A dense order-3 :class:`NGramLanguage` (module docstring) backing off to ``bigram``."""
    V = vocab_size
    if smoothing == "constant":
        raise InvalidArgumentError(
            "fit_trigram supports smoothing 'witten_bell' (back-off) or 'none' (exact zeros)"
        )
    _check_args(top_k, smoothing, 0.5, V)
    if V**3 > 2**24:
        raise InvalidArgumentError(
            f"an order-3 table over V = {V} has {V**3} entries; order 3 is for V <= 256"
        )
    counts = ngram_counts(streams, V, 3)
    b_rows = bigram.transition_rows(torch.arange(V)).numpy()  # (V, V): P2(. | b)
    backoff = np.tile(b_rows, (V, 1))  # context (a, b) -> row of b
    if smoothing == "none":
        fallback_k = np.argsort(-backoff, axis=1, kind="stable")[:, :top_k]
        nu_rows = np.take_along_axis(backoff, fallback_k, axis=1)
        idx, kc = top_k_successors(counts, top_k)
        seen = counts.sum(1) > 0
        idx = np.where(seen[:, None], idx, fallback_k)
        w = np.where(seen[:, None], kc.astype(np.float64), nu_rows)
        trans = np.zeros((V * V, V))
        np.put_along_axis(trans, idx, w / w.sum(1, keepdims=True), axis=1)
    else:
        idx, vals, lam = smoothed_rows(counts, top_k, "witten_bell", 0.0, np.full(V, 1.0 / V))
        trans = lam[:, None] * backoff
        np.put_along_axis(trans, idx, np.take_along_axis(trans, idx, axis=1) + vals, axis=1)
    trans /= trans.sum(1, keepdims=True)
    return NGramLanguage(3, V, _stationary_windows(trans, V, tol, max_iter), trans)


def _stationary_windows(trans: np.ndarray, V: int, tol: float, max_iter: int) -> np.ndarray:
    """Stationary law of the window chain (a, b) -> (b, c) by power iteration from the uniform law."""
    p = trans.reshape(V, V, V)
    mu = np.full((V, V), 1.0 / V**2)
    for _ in range(max_iter):
        nxt = np.einsum("ab,abc->bc", mu, p)
        nxt /= nxt.sum()
        change = np.abs(nxt - mu).sum()
        mu = nxt
        if change < tol:
            return mu.reshape(-1)
    raise InvalidDistributionError(
        f"trigram stationary law: no convergence in {max_iter} steps ({change:.3g})"
    )
