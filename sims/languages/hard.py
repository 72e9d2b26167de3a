r"""Hard languages for the sequence error rate: local hard constraints on marginally uncertain tokens.

These are the suite's **stand-ins** for the worst-case HMM of Feng et al. (arXiv 2502.09622), whose exact
construction could not be read (research notes §2.4). Each has exact zeros in its support, and a product
sampler breaks a constraint with constant probability whenever the constrained tokens are revealed in
the same step, so SER behaves like :math:`1 - e^{-cL/N}`. Closed forms: :mod:`theory.sequence_error`.

* :func:`pair_copy_language` (research notes §1.7): positions come in pairs; the first token of a pair is
  uniform on V symbols and the second repeats it. To make it a *time-homogeneous* bigram the second token
  uses a shifted alphabet: symbol a in the first slot is token a, in the second slot token a + V. So
  vocabulary size 2V, transition a -> a+V with probability 1, a+V -> uniform on 0..V-1, start uniform on
  0..V-1 (a period-2, non-stationary chain).
* :func:`sparse_successor_chain`: a stationary bigram on V tokens in which token v may only be followed by
  v + o (mod V) for o in ``offsets`` (default two successors, v+1 and v+2: irreducible and aperiodic).
  Violations come from adjacent *and* non-adjacent co-reveals (no pair-only formula; Monte Carlo).
* :func:`block_parity_hmm`: blocks of ``block`` tokens over Z_V whose sum is 0 mod V; the first
  block-1 tokens of a block are uniform. An HMM (not a finite-order n-gram: the constraint depends on the
  phase) with hidden state (phase, running sum, current token) and deterministic emission. block = 2,
  V = 2 is the binary pair-copy (x2 = x1).
"""

from __future__ import annotations

import numpy as np

from sims.languages.hmm import HMMLanguage
from sims.languages.ngram import NGramLanguage
from sims.validation import InvalidArgumentError, InvalidTypeError, check_int, check_positive_int, check_real


def pair_copy_language(symbols: int, device="cpu") -> NGramLanguage:
    """Pair-copy language over ``symbols`` = V symbols (token vocabulary 2V); see the module docstring."""
    V = check_positive_int(symbols, "symbols", minimum=2)
    P = np.zeros((2 * V, 2 * V))
    P[np.arange(V), np.arange(V) + V] = 1.0
    P[V:, :V] = 1.0 / V
    init = np.zeros(2 * V)
    init[:V] = 1.0 / V
    return NGramLanguage(2, 2 * V, init, P, device=device)


def sparse_successor_chain(vocab_size: int = 8, offsets=(1, 2), weights=None, device="cpu") -> NGramLanguage:
    """Stationary bigram where v is followed by v + o mod V, o in ``offsets``, with probabilities ``weights``.

    The chain is circulant, so its stationary law is uniform; it starts there.
    """
    V = check_positive_int(vocab_size, "vocab_size", minimum=2)
    if isinstance(offsets, (str, bytes)) or not hasattr(offsets, "__iter__"):
        raise InvalidTypeError(f"offsets must be a sequence of integers, got {type(offsets).__name__}")
    offs = [check_int(o, f"offsets[{i}]") % V for i, o in enumerate(offsets)]
    if len(set(offs)) != len(offs) or not offs:
        raise InvalidArgumentError(f"offsets must be distinct modulo V, got {offsets}")
    if weights is None:
        w = np.full(len(offs), 1.0 / len(offs))
    else:
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
            raise InvalidTypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
        w = np.array([check_real(v, f"weights[{i}]") for i, v in enumerate(weights)], dtype=np.float64)
    if w.shape != (len(offs),) or np.any(w <= 0) or abs(w.sum() - 1) > 1e-12:
        raise InvalidArgumentError("weights must be positive, one per offset, and sum to 1")
    P = np.zeros((V, V))
    for o, p in zip(offs, w):
        P[np.arange(V), (np.arange(V) + o) % V] += p
    return NGramLanguage(2, V, np.full(V, 1.0 / V), P, device=device)


def block_parity_hmm(block: int = 3, vocab_size: int = 2, device="cpu") -> HMMLanguage:
    """Blocks of ``block`` tokens in Z_V summing to 0 mod V, as an HMM (see the module docstring).

    Hidden state index ``(phase * V + partial_sum) * V + token``. Sequence lengths that are not a
    multiple of ``block`` end with an unconstrained partial block.
    """
    b = check_positive_int(block, "block", minimum=2)
    V = check_positive_int(vocab_size, "vocab_size", minimum=2)
    S = b * V * V

    def idx(phase, s, x):
        return (phase * V + s) * V + x

    A = np.zeros((S, S))
    for phase in range(b):
        for s in range(V):
            for x in range(V):
                i = idx(phase, s, x)
                if phase < b - 2:
                    for y in range(V):
                        A[i, idx(phase + 1, (s + y) % V, y)] = 1.0 / V
                elif phase == b - 2:
                    y = (-s) % V
                    A[i, idx(b - 1, 0, y)] = 1.0
                else:
                    for y in range(V):
                        A[i, idx(0, y, y)] = 1.0 / V
    E = np.zeros((S, V))
    for i in range(S):
        E[i, i % V] = 1.0
    init = np.zeros(S)
    for y in range(V):
        init[idx(0, y, y)] = 1.0 / V
    return HMMLanguage(init, A, E, device=device)
