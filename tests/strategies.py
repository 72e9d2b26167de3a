"""Hypothesis strategies for tiny random languages (enumerable: V**L small)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from sims.languages import HMMLanguage, NGramLanguage
from sims.languages.random import dirichlet_rows


@st.composite
def tiny_ngrams(draw, max_vocab: int = 3, max_order: int = 3, sparse: bool | None = None):
    """Random n-gram languages with optional exact zeros."""
    V = draw(st.integers(2, max_vocab))
    n = draw(st.integers(1, max_order))
    seed = draw(st.integers(0, 2**31 - 1))
    conc = draw(st.sampled_from([0.3, 1.0, 3.0]))
    use_sparse = draw(st.booleans()) if sparse is None else sparse
    k = draw(st.integers(1, V)) if use_sparse else None
    rng = np.random.default_rng(seed)
    trans = dirichlet_rows(rng, V ** (n - 1), V, conc, k)
    init = dirichlet_rows(rng, 1, V ** (n - 1), conc)[0] if n > 1 else None
    return NGramLanguage(n, V, init, trans)


@st.composite
def tiny_hmms(draw, max_states: int = 3, max_vocab: int = 3, sparse: bool | None = None):
    """Random HMM languages with optional exact zeros in transitions and emissions."""
    S = draw(st.integers(1, max_states))
    V = draw(st.integers(2, max_vocab))
    seed = draw(st.integers(0, 2**31 - 1))
    conc = draw(st.sampled_from([0.3, 1.0, 3.0]))
    use_sparse = draw(st.booleans()) if sparse is None else sparse
    rng = np.random.default_rng(seed)
    trans = dirichlet_rows(rng, S, S, conc, draw(st.integers(1, S)) if use_sparse else None)
    emis = dirichlet_rows(rng, S, V, conc, draw(st.integers(1, V)) if use_sparse else None)
    init = dirichlet_rows(rng, 1, S, conc)[0]
    return HMMLanguage(init, trans, emis)


def tiny_languages(max_vocab: int = 3, sparse: bool | None = None):
    """Either a tiny n-gram or a tiny HMM."""
    return st.one_of(
        tiny_ngrams(max_vocab=max_vocab, sparse=sparse), tiny_hmms(max_vocab=max_vocab, sparse=sparse)
    )
