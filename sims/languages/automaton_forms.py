r"""The suite's languages as emission automata (:class:`~sims.languages.emission.EmissionAutomaton`).

:func:`emission_automaton` gives the dense one-state-per-position form of a language, with the same law
at every length:

* HMM: itself (:math:`f = 1`); unambiguous when it is deterministic (one-hot emissions, and the states
  that can follow one state, or start, emit distinct tokens);
* n-gram of order n: order 1 is a one-state automaton; order 2 has one state per token; order n >= 3 has
  one state per prefix of the initial window (lengths 1..n-2, drawn token by token from the conditionals
  of :math:`\rho`), then one per window of the last n-1 tokens; every state emits its newest token
  (a deterministic automaton: the prefix fixes the state, so it is unambiguous, also when an EOS version
  stops early);
* automaton language (:class:`~sims.languages.formal.DFALanguage`): states (automaton state after the
  token, token), final weights on the accepting states (unambiguous);
* :class:`~sims.languages.emission.AutomatonLanguage` (including EOS languages): its own automaton.

Register a converter for another language type with ``@emission_automaton.register``.
"""

from __future__ import annotations

from functools import singledispatch

import torch

from sims.languages.emission import AutomatonLanguage, EmissionAutomaton
from sims.languages.formal import DFALanguage
from sims.languages.hmm import HMMLanguage
from sims.languages.ngram import NGramLanguage
from sims.validation import InvalidTypeError


@singledispatch
def emission_automaton(language) -> EmissionAutomaton:
    """The :class:`EmissionAutomaton` of ``language`` (module docstring)."""
    raise InvalidTypeError(
        f"no emission-automaton form is registered for {type(language).__name__}; register one with "
        "@sims.languages.automaton_forms.emission_automaton.register"
    )


@emission_automaton.register
def _(language: AutomatonLanguage) -> EmissionAutomaton:
    return language.automaton


def deterministic(initial: torch.Tensor, transition: torch.Tensor, emission: torch.Tensor) -> bool:
    """One-hot emissions, and the possible first states, and the possible successors of every state, emit
    distinct tokens: then the tokens determine the state path (a sufficient condition for unambiguity)."""
    if not bool(((emission == 0) | (emission == 1)).all()):
        return False
    token = emission.argmax(1)

    def distinct(support: torch.Tensor) -> bool:
        toks = token[support.nonzero().flatten()]
        return toks.unique().numel() == toks.numel()

    return distinct(initial > 0) and all(distinct(row > 0) for row in transition)


@emission_automaton.register
def _(language: HMMLanguage) -> EmissionAutomaton:
    a, T, E = language.initial, language.transition, language.emission
    return EmissionAutomaton(a, T, E, torch.ones_like(a), deterministic(a, T, E))


@emission_automaton.register
def _(language: NGramLanguage) -> EmissionAutomaton:
    V, n, dev = language.vocab_size, language.order, language.device
    one = torch.ones(1, dtype=torch.float64, device=dev)
    if n == 1:
        return EmissionAutomaton(one, one.reshape(1, 1), language.transition.reshape(1, V), one, True)
    k = n - 1
    W = V**k
    eye = torch.eye(V, dtype=torch.float64, device=dev)
    if n == 2:
        return EmissionAutomaton(
            language.initial, language.transition, eye, torch.ones(V, dtype=torch.float64, device=dev), True
        )
    # states: every prefix of the initial window (lengths 1..k-1), then the sliding window of k tokens
    sizes = [V**m for m in range(1, k)] + [W]
    offsets = [sum(sizes[:j]) for j in range(len(sizes))]
    S = sum(sizes)
    marg = [language.initial.reshape((V,) * k).sum(tuple(range(m, k))).reshape(-1) for m in range(1, k)]
    marg.append(language.initial)  # marg[j]: law of the first j+1 tokens (base-V index, oldest first)
    initial = torch.zeros(S, dtype=torch.float64, device=dev)
    initial[:V] = marg[0]
    transition = torch.zeros((S, S), dtype=torch.float64, device=dev)
    emission = torch.zeros((S, V), dtype=torch.float64, device=dev)
    for j, size in enumerate(sizes):
        idx = torch.arange(size, device=dev)
        emission[offsets[j] + idx, idx % V] = 1.0  # every state emits its newest token
        if j + 1 < len(sizes):  # prefix u -> u + x with probability rho(x | u)
            for x in range(V):
                nxt = idx * V + x
                num, den = marg[j + 1][nxt], marg[j][idx]
                transition[offsets[j] + idx, offsets[j + 1] + nxt] = torch.where(den > 0, num / den, 0.0)
    steady = offsets[-1]
    windows = torch.arange(W, device=dev)
    rest = V ** (k - 1)
    for x in range(V):
        transition[steady + windows, steady + (windows % rest) * V + x] = language.transition[:, x]
    return EmissionAutomaton(
        initial, transition, emission, torch.ones(S, dtype=torch.float64, device=dev), True
    )


@emission_automaton.register
def _(language: DFALanguage) -> EmissionAutomaton:
    chain = language.chain()
    V, S = language.vocab_size, chain.num_states
    lifted = torch.arange(S, device=language.device)
    emission = torch.nn.functional.one_hot(lifted % V, V).to(torch.float64)
    final = language.accept[lifted // V].to(torch.float64)
    return EmissionAutomaton(torch.exp(chain.log_initial), chain.transition, emission, final, True)
