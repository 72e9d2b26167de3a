"""A straightforward sequential numpy forward-backward for HMM posteriors: the benchmark's reference.

Textbook log-space recursions (Rabiner 1989, Sec. III.A, in logarithms), one position at a time,
batched over sequences, float64, no tricks:

    log alpha_t(j) = logsumexp_i(log alpha_{t-1}(i) + log A(i, j)) + log e_t(j)
    log beta_t(i)  = logsumexp_j(log A(i, j) + log e_{t+1}(j) + log beta_{t+1}(j))
    log gamma_t    = log alpha_t + log beta_t - log Z,   token posterior = gamma_t @ B.

Masked positions (token id V) have evidence 1. Impossible rows give NaN/-inf (the reference does not
handle them; the benchmark uses possible evidence only).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def hmm_token_posteriors(
    initial: np.ndarray, transition: np.ndarray, emission: np.ndarray, tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Token posteriors ``(B, L, V)`` (log) and log-evidence ``(B,)`` for masked tokens ``(B, L)``."""
    S, _V = emission.shape
    B, L = tokens.shape
    with np.errstate(divide="ignore"):
        log_a, log_b, log_pi = np.log(transition), np.log(emission), np.log(initial)
    log_ev_table = np.concatenate([log_b.T, np.zeros((1, S))], 0)  # (V+1, S): mask row = 0
    log_e = log_ev_table[tokens]  # (B, L, S)
    alpha = np.empty((B, L, S))
    alpha[:, 0] = log_pi + log_e[:, 0]
    for t in range(1, L):
        alpha[:, t] = logsumexp(alpha[:, t - 1, :, None] + log_a[None], axis=1) + log_e[:, t]
    beta = np.zeros((B, L, S))
    for t in range(L - 2, -1, -1):
        beta[:, t] = logsumexp(log_a[None] + (log_e[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
    log_z = logsumexp(alpha[:, -1], axis=1)
    log_gamma = alpha + beta - log_z[:, None, None]
    log_tok = logsumexp(log_gamma[..., None] + log_b[None, None], axis=2)  # (B, L, V)
    return log_tok, log_z
