r"""Two-sided Dyck-k: words over k letters and their inverses that reduce to the identity of the free group.

Alphabet (V = 2k): token i < k is the letter :math:`a_i`, token i + k its inverse :math:`a_i^{-1}`. A word
is in the **two-sided** Dyck-k language iff free reduction (cancelling adjacent :math:`a a^{-1}` *and*
:math:`a^{-1} a`) leaves the empty word; the one-sided Dyck language (:func:`sims.languages.formal.
dyck_language`) cancels only "(" ")" in that order. AP-MDM (Yang et al., arXiv 2510.06190, Thm. 5 as
stated in secondary notes) proves that a stochastic any-process MDM generates exactly this language for
k >= 2; the insertion process is in :mod:`sims.sampling.any_process`.

:func:`two_sided_dyck_language` is a :class:`~sims.languages.formal.DFALanguage` whose automaton state is
the reduced word so far (a stack of at most ``max_depth`` letters; deeper words go to a dead state), so at
any length :math:`L \le 2\,\text{max\_depth}` it is the uniform law on the two-sided Dyck-k words of length
L, with the exact lifted-chain oracle of the DFA languages. :func:`free_reduce` is the independent
membership test the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sims.languages.formal import DFALanguage
from sims.validation import check_positive_int


def inverse_token(token: int, k: int) -> int:
    """The inverse letter: i <-> i + k."""
    return (int(token) + k) % (2 * k)


def free_reduce(word: Sequence[int], k: int) -> tuple:
    """Free reduction of ``word`` (cancel every adjacent letter/inverse pair, in either order)."""
    stack: list[int] = []
    for t in word:
        if stack and stack[-1] == inverse_token(t, k):
            stack.pop()
        else:
            stack.append(int(t))
    return tuple(stack)


def is_two_sided_dyck(words: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean ``(B,)``: each row reduces to the identity."""
    return torch.tensor([free_reduce(w, k) == () for w in torch.as_tensor(words).tolist()], dtype=torch.bool)


def _reduced_words(k: int, depth: int) -> list[tuple]:
    out, frontier = [()], [()]
    for _ in range(depth):
        frontier = [w + (t,) for w in frontier for t in range(2 * k) if not w or w[-1] != inverse_token(t, k)]
        out.extend(frontier)
    return out


def two_sided_dyck_language(
    k: int = 2, max_depth: int = 3, device: torch.device | str | None = None
) -> DFALanguage:
    """Uniform law on two-sided Dyck-k words whose reduced prefixes have length <= ``max_depth``.

    Automaton states: the reduced words of length <= ``max_depth`` (index order of a breadth-first listing),
    then a dead state. Exact for every length L <= 2 * max_depth (no Dyck word of that length goes deeper).
    """
    k = check_positive_int(k, "k")
    D = check_positive_int(max_depth, "max_depth")
    states = _reduced_words(k, D)
    index = {w: i for i, w in enumerate(states)}
    dead = len(states)
    delta = []
    for w in states:
        row = []
        for t in range(2 * k):
            if w and w[-1] == inverse_token(t, k):
                row.append(index[w[:-1]])
            elif len(w) < D:
                row.append(index[w + (t,)])
            else:
                row.append(dead)
        delta.append(row)
    delta.append([dead] * (2 * k))
    lang = DFALanguage(delta, index[()], [index[()]], name=f"dyck2sided_k{k}_D{D}", device=device)
    return lang
