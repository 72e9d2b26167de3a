r"""Fitting HMM languages by expectation-maximisation with the suite's own forward-backward.

E-step (Baum-Welch; Rabiner, Proc. IEEE 1989, Eqs. 37-40 and 109-111) on fully observed chunks
:math:`x_{1:T}`: the certified scaled engine (:func:`sims.inference.scaled.scaled_messages`) gives the
normalised forward messages :math:`\hat\alpha_t` and backward messages :math:`\hat\beta_t` (any positive
scale per node). With :math:`W_{t+1} = B_{:, x_{t+1}} \odot \hat\beta_{t+1}`,

.. math::
    \gamma_t \propto \hat\alpha_t \odot \hat\beta_t, \qquad
    \sum_t \xi_t = A \odot \sum_t \frac{\hat\alpha_t W_{t+1}^\top}{n_t}, \quad
    n_t = \hat\alpha_t \cdot (A W_{t+1}),

the sum of pair posteriors :math:`\xi_t(i, j) = p(z_t = i, z_{t+1} = j \mid x)` computed with two
matrix products over all chunks at once (the per-step normaliser :math:`n_t` makes each
:math:`\xi_t` sum to one, whatever the scale of :math:`\hat\beta`). Expected counts: initial
:math:`\sum \gamma_1`, transitions :math:`\sum \xi_t`, emissions :math:`\sum_{t: x_t = v} \gamma_t`.

M-step with a pseudo-count :math:`\delta` added to every count (MAP estimation under a symmetric
Dirichlet(:math:`1 + \delta`) prior), so the log posterior never decreases over iterations (tested) and
every probability stays above :math:`\delta / (N + S\delta)` or :math:`\delta/(N + V\delta)`. That floor
also makes the engine's exactness certificate hold by construction: the smallest positive entry of a
normalised forward message is at least :math:`A_{\min} B_{\min}`, so every product term is above
:math:`(A_{\min} B_{\min})^2`, far from the float64 underflow range for any realistic count N. A failed
certificate is therefore an error here, not a silent fallback.

Initialisation (seeded): transition rows half uniform, half Dirichlet(1); emission rows the unigram
law times independent U(0.5, 1.5) factors; uniform initial law.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sims.inference.scaled import scaled_messages
from sims.languages.hmm import HMMLanguage
from sims.validation import InvalidArgumentError, check_positive_int


@dataclass
class ExpectedCounts:
    """Expected sufficient statistics of a batch (float64) and its log-likelihood."""

    initial: torch.Tensor  # (S,)
    transition: torch.Tensor  # (S, S)
    emission: torch.Tensor  # (S, V)
    log_likelihood: float
    num_tokens: int

    def __iadd__(self, other: ExpectedCounts) -> ExpectedCounts:
        self.initial += other.initial
        self.transition += other.transition
        self.emission += other.emission
        self.log_likelihood += other.log_likelihood
        self.num_tokens += other.num_tokens
        return self


def expected_counts(lang: HMMLanguage, tokens: torch.Tensor) -> ExpectedCounts:
    """E-step on fully observed chunks ``tokens`` ``(B, T)`` (module docstring)."""
    chain = lang.chain()
    msgs = scaled_messages(chain, tokens, torch.float64)
    if bool(msgs.bad.any()):
        raise RuntimeError(
            "the scaled forward-backward could not certify an E-step row; the M-step pseudo-count keeps "
            "every probability far above the float64 range, so this signals a bug or a degenerate model"
        )
    if bool(msgs.impossible.any()):
        raise RuntimeError("an E-step chunk has probability zero under the current model")
    alpha, beta = msgs.alpha, msgs.beta  # (T, B, S)
    S, V = lang.num_states, lang.vocab_size
    gamma = alpha * beta
    gamma /= gamma.sum(-1, keepdim=True)
    tt = tokens.T  # (T, B)
    trans = torch.zeros((S, S), dtype=torch.float64)
    if tt.shape[0] > 1:
        w = lang.emission.T[tt[1:]] * beta[1:]  # (T-1, B, S)
        aw = w @ lang.transition.T
        n = (alpha[:-1] * aw).sum(-1, keepdim=True)
        trans = lang.transition * ((alpha[:-1] / n).reshape(-1, S).T @ w.reshape(-1, S))
    emis = torch.zeros((V, S), dtype=torch.float64).index_add_(0, tt.reshape(-1), gamma.reshape(-1, S))
    return ExpectedCounts(
        gamma[0].sum(0), trans, emis.T.contiguous(), float(msgs.log_z.sum()), tokens.numel()
    )


def chunk_streams(streams: list[np.ndarray], length: int, max_tokens: int | None = None) -> torch.Tensor:
    """Non-overlapping chunks ``(N, length)`` of each stream (remainders dropped), in stream order, up to
    ``max_tokens`` tokens."""
    chunks = []
    total = 0
    for s in streams:
        for i in range(0, len(s) - length + 1, length):
            if max_tokens is not None and total + length > max_tokens:
                return (
                    torch.as_tensor(np.stack(chunks))
                    if chunks
                    else torch.zeros((0, length), dtype=torch.long)
                )
            chunks.append(np.asarray(s[i : i + length], dtype=np.int64))
            total += length
    if not chunks:
        raise InvalidArgumentError(f"no stream is at least {length} tokens long")
    return torch.as_tensor(np.stack(chunks))


def m_step(counts: ExpectedCounts, pseudo_count: float) -> HMMLanguage:
    """MAP estimates from expected counts plus ``pseudo_count`` per entry."""
    d = pseudo_count
    pi = counts.initial + d
    A = counts.transition + d
    B = counts.emission + d
    return HMMLanguage(pi / pi.sum(), A / A.sum(1, keepdim=True), B / B.sum(1, keepdim=True))


def log_prior(lang: HMMLanguage, pseudo_count: float) -> float:
    """``log`` of the Dirichlet(1 + pseudo_count) prior density up to a constant (the MAP objective)."""
    d = pseudo_count
    return d * float(
        torch.log(lang.initial).sum() + torch.log(lang.transition).sum() + torch.log(lang.emission).sum()
    )


def initial_hmm(num_states: int, unigram: np.ndarray, seed: int) -> HMMLanguage:
    """Seeded starting point of EM (module docstring)."""
    rng = np.random.default_rng(seed)
    S, V = num_states, unigram.size
    trans = 0.5 / S + 0.5 * rng.dirichlet(np.ones(S), size=S)
    emis = unigram[None, :] * rng.gamma(0.3, size=(S, V))
    return HMMLanguage(np.full(S, 1.0 / S), trans, emis / emis.sum(1, keepdims=True))


@dataclass
class EMResult:
    """A fitted HMM with its training trace.

    Attributes:
        language: the fitted :class:`HMMLanguage`.
        log_likelihood_per_token: training log-likelihood per token of the model *entering* each
            iteration (nats), plus that of the final model.
        objective_per_token: the same plus the log prior (the quantity EM never decreases).
        seconds: wall time of the whole fit.
    """

    language: HMMLanguage
    log_likelihood_per_token: list[float] = field(default_factory=list)
    objective_per_token: list[float] = field(default_factory=list)
    seconds: float = 0.0


def fit_hmm(
    streams: list[np.ndarray],
    vocab_size: int,
    num_states: int,
    iterations: int,
    *,
    chunk_length: int = 256,
    max_tokens: int | None = None,
    pseudo_count: float = 1e-2,
    batch_rows: int | None = None,
    seed: int = 0,
) -> EMResult:
    """Fit an HMM with ``num_states`` states by ``iterations`` EM steps (module docstring).

    ``batch_rows``: chunks per E-step call (default: about 2**22 / (chunk_length * S) messages, so small
    models amortise the per-step overhead of the engine and large ones bound memory).
    """
    S = check_positive_int(num_states, "num_states")
    check_positive_int(iterations, "iterations", minimum=0)
    if not pseudo_count > 0:
        raise InvalidArgumentError(
            f"pseudo_count must be > 0 (it keeps the E-step certified), got {pseudo_count}"
        )
    t0 = time.perf_counter()
    data = chunk_streams(streams, chunk_length, max_tokens)
    rows = batch_rows or max(8, min(1024, 2**22 // (chunk_length * S)))
    if int(data.max()) >= vocab_size:
        raise InvalidArgumentError(
            f"token id {int(data.max())} is outside the vocabulary of size {vocab_size}"
        )
    counts_v = np.bincount(data.reshape(-1).numpy(), minlength=vocab_size)
    lang = initial_hmm(S, (counts_v + 1.0) / (counts_v.sum() + vocab_size), seed)
    result = EMResult(lang)
    for it in range(iterations + 1):
        total = None
        for batch in data.split(rows):
            c = expected_counts(lang, batch)
            total = c if total is None else total.__iadd__(c)
        ll = total.log_likelihood / total.num_tokens
        result.log_likelihood_per_token.append(ll)
        result.objective_per_token.append(ll + log_prior(lang, pseudo_count) / total.num_tokens)
        if it == iterations or not math.isfinite(ll):
            break
        lang = m_step(total, pseudo_count)
    result.language = lang
    result.seconds = time.perf_counter() - t0
    return result
