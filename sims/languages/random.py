"""Random n-gram and HMM languages (Dirichlet rows, optional sparse supports), seeded and reproducible.

Tables are drawn with ``numpy.random.default_rng(seed)`` in float64. Sparsity: with ``support_size=k``
each row keeps k uniformly chosen allowed entries (the others are exact zeros) and draws the
Dirichlet(concentration) weights on those, so the language has real zeros in its support.
"""

from __future__ import annotations

import numpy as np
import torch

from sims.languages.hmm import HMMLanguage
from sims.languages.markov import stationary_distribution
from sims.languages.ngram import NGramLanguage
from sims.validation import (
    InvalidArgumentError,
    check_bool,
    check_device,
    check_int,
    check_positive_int,
    check_real,
)


def _check_support(k, width: int, name: str) -> int | None:
    if k is None:
        return None
    k = check_positive_int(k, name)
    if k > width:
        raise InvalidArgumentError(f"{name} {k} exceeds the row width {width}")
    return k


def _check_seed(seed) -> int:
    return check_int(seed, "seed", minimum=0)


def dirichlet_rows(
    rng: np.random.Generator, num_rows: int, width: int, concentration: float, support_size: int | None = None
) -> np.ndarray:
    """``num_rows`` probability vectors of length ``width``; each has ``support_size`` non-zeros if given."""
    check_positive_int(num_rows, "num_rows", minimum=0)
    check_positive_int(width, "width")
    check_real(concentration, "concentration", minimum=0.0, open_min=True)
    k = width if support_size is None else _check_support(support_size, width, "support_size")
    out = np.zeros((num_rows, width))
    for i in range(num_rows):
        cols = np.sort(rng.choice(width, size=k, replace=False)) if k < width else np.arange(width)
        w = rng.dirichlet(np.full(k, float(concentration)))
        # Dirichlet draws with small concentration can underflow to exact 0; keep the support exact.
        w = np.maximum(w, np.finfo(float).tiny)
        out[i, cols] = w / w.sum()
    return out


def random_ngram(
    order: int,
    vocab_size: int,
    *,
    concentration: float = 1.0,
    support_size: int | None = None,
    stationary: bool = False,
    initial_concentration: float | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> NGramLanguage:
    """A random n-gram language.

    Args:
        order: n >= 1.
        vocab_size: V.
        concentration: Dirichlet concentration of each next-token row (small = peaked rows).
        support_size: k allowed successors per context (None = all V); zeros are exact.
        stationary: if True, the first n-1 tokens follow the stationary law of the context chain (so
            every position has the same marginal); otherwise they follow an independent
            Dirichlet(initial_concentration) law over the V**(n-1) windows.
        seed: numpy seed for the tables.
    """
    order = check_positive_int(order, "order")
    V = check_positive_int(vocab_size, "vocab_size")
    check_real(concentration, "concentration", minimum=0.0, open_min=True)
    if initial_concentration is not None:
        check_real(initial_concentration, "initial_concentration", minimum=0.0, open_min=True)
    _check_support(support_size, V, "support_size")
    check_bool(stationary, "stationary")
    if device is not None:
        check_device(device)
    rng = np.random.default_rng(_check_seed(seed))
    n_ctx = V ** (order - 1)
    trans = dirichlet_rows(rng, n_ctx, V, concentration, support_size)
    if order == 1:
        return NGramLanguage(1, V, None, trans, device=device)
    if stationary:
        lang = NGramLanguage(order, V, np.full(n_ctx, 1.0 / n_ctx), trans, device="cpu")
        init = lang.stationary_context_law().numpy()
    else:
        init_conc = concentration if initial_concentration is None else initial_concentration
        init = dirichlet_rows(rng, 1, n_ctx, init_conc)[0]
    return NGramLanguage(order, V, init, trans, device=device)


def random_hmm(
    num_states: int,
    vocab_size: int,
    *,
    transition_concentration: float = 1.0,
    emission_concentration: float = 1.0,
    transition_support: int | None = None,
    emission_support: int | None = None,
    stationary: bool = False,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> HMMLanguage:
    """A random HMM language with Dirichlet rows (optionally sparse), seeded.

    ``stationary=True`` starts the hidden chain in its stationary law; otherwise the initial law is a
    Dirichlet(transition_concentration) draw.
    """
    S = check_positive_int(num_states, "num_states")
    V = check_positive_int(vocab_size, "vocab_size")
    check_real(transition_concentration, "transition_concentration", minimum=0.0, open_min=True)
    check_real(emission_concentration, "emission_concentration", minimum=0.0, open_min=True)
    _check_support(transition_support, S, "transition_support")
    _check_support(emission_support, V, "emission_support")
    check_bool(stationary, "stationary")
    if device is not None:
        check_device(device)
    rng = np.random.default_rng(_check_seed(seed))
    trans = dirichlet_rows(rng, S, S, transition_concentration, transition_support)
    emis = dirichlet_rows(rng, S, V, emission_concentration, emission_support)
    if stationary:
        init = stationary_distribution(torch.as_tensor(trans)).numpy()
    else:
        init = dirichlet_rows(rng, 1, S, transition_concentration)[0]
    return HMMLanguage(init, trans, emis, device=device)
