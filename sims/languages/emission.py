r"""Languages given by a weighted automaton that emits one token per position (the dense form of a chain).

An :class:`EmissionAutomaton` over S states and V tokens has an initial weight vector :math:`\pi`, a
transition :math:`T` (non-negative; rows may sum to less than one), an emission law :math:`E(s, \cdot)`
per state and final weights :math:`f` on the state of the last position:

.. math::
    w(z, x) = \pi(z_0) \prod_{t \ge 1} T(z_{t-1}, z_t)\, f(z_{L-1}) \prod_{t} E(z_t, x_t), \qquad
    q_L(x) = \frac{1}{Z_L} \sum_z w(z, x), \qquad Z_L = \sum_{z, x} w(z, x).

HMMs (:math:`f = 1`, stochastic T: :math:`Z_L = 1`), n-grams of any order, automaton languages (f = the
accepting states) and their variable-length versions with an end-of-sequence token
(:mod:`sims.languages.eos`) all take this form (:mod:`sims.languages.automaton_forms`).
:class:`AutomatonLanguage` gives every such language exact sampling (backward filtering, forward sampling
in float64), exact log-probabilities (forward pass minus :math:`\log Z_L`), an exact oracle (its
:class:`EmissionChain` is a :class:`~sims.inference.LiftedChain` with every engine capability: per-token
evidence where f = 1, linear token projection, leave-one-out layout), exact consecutive-pair token
marginals (:meth:`AutomatonLanguage.pair_marginals`), and the exact entropy when the automaton is
*unambiguous* (every token sequence of positive weight has one state path):

.. math::
    H(X) = \log Z_L - E_q[\log w_T(Z)] + \sum_t E_q\big[H(E(Z_t, \cdot))\big],

with :math:`w_T` the product of the initial, transition and final factors, from the exact node and
pair posteriors of the all-masked sequence. Otherwise the entropy is exact by enumeration for small
:math:`V^L` and raises beyond (as for HMMs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from sims.categorical import sample_categorical
from sims.enumeration import all_sequences
from sims.languages.base import NormalisedChainLanguage
from sims.languages.hmm import HMMChain
from sims.validation import (
    InvalidDistributionError,
    check_device,
    check_generator,
    check_positive_int,
    check_type,
)

#: Largest V**L whose entropy is computed by enumeration for ambiguous automata.
MAX_ENUMERATION = 2**20


@dataclass(frozen=True)
class EmissionAutomaton:
    """Weighted automaton emitting one token per position (module docstring); float64 tensors.

    Attributes:
        initial: ``(S,)`` non-negative weights of the first state.
        transition: ``(S, S)`` non-negative weights (row = current state).
        emission: ``(S, V)`` token law of each state (rows sum to one).
        final: ``(S,)`` non-negative weights of the state at the last position.
        unambiguous: every token sequence of positive weight has exactly one state path (the exact
            entropy formula applies).
    """

    initial: torch.Tensor
    transition: torch.Tensor
    emission: torch.Tensor
    final: torch.Tensor
    unambiguous: bool = False

    def __post_init__(self):
        S = self.emission.shape[0]
        for name, t, shape in (
            ("initial", self.initial, (S,)),
            ("transition", self.transition, (S, S)),
            ("final", self.final, (S,)),
        ):
            if tuple(t.shape) != shape:
                raise InvalidDistributionError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
            if t.dtype != torch.float64 or bool((t < 0).any()) or not bool(torch.isfinite(t).all()):
                raise InvalidDistributionError(f"{name} must hold finite non-negative float64 weights")
        if self.emission.dtype != torch.float64 or bool((self.emission < 0).any()):
            raise InvalidDistributionError("emission must hold non-negative float64 probabilities")
        if not torch.allclose(
            self.emission.sum(1), torch.ones(S, dtype=torch.float64, device=self.emission.device)
        ):
            raise InvalidDistributionError("every emission row must sum to one (state s emits a token)")

    @property
    def num_states(self) -> int:
        return self.emission.shape[0]

    @property
    def vocab_size(self) -> int:
        return self.emission.shape[1]

    def to(self, device) -> EmissionAutomaton:
        move = {k: getattr(self, k).to(device) for k in ("initial", "transition", "emission", "final")}
        return replace(self, **move)


class EmissionChain(HMMChain):
    """Lifted chain of an :class:`EmissionAutomaton`: the HMM chain of its initial, transition and emission
    weights (node t is the state at position t), with the final weights on the last node's evidence."""

    def __init__(self, a: EmissionAutomaton):
        super().__init__(a.initial, a.transition, a.emission)
        self.automaton = a
        self.log_final = torch.log(a.final)
        self._plain_final = bool((a.final == 1).all())

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first, rest = super().evidence(tokens)
        if self._plain_final:
            return first, rest
        ev = torch.cat([first.unsqueeze(1), rest], 1)  # a copy: the table rows stay untouched
        ev[:, -1] = ev[:, -1] + self.log_final
        return ev[:, 0], ev[:, 1:]

    # ---- optional engine capabilities ------------------------------------------------------------------
    def token_evidence_probe_length(self) -> int:
        return 2  # the emitted token's likelihood (the final weights are declared apart)

    def final_log_weights(self) -> torch.Tensor | None:
        return None if self._plain_final else self.log_final

    def loo_node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nodes, log_ev = super().loo_node_evidence(tokens)
        log_ev[0, -1] = self.log_final
        return nodes, log_ev

    def lexicographic_tables(self) -> None:
        return None  # the final weights are no factor of the HMM tables: no minimum-violation fallback


class AutomatonLanguage(NormalisedChainLanguage):
    """The language :math:`q_L` of an :class:`EmissionAutomaton` at every length L with :math:`Z_L > 0`."""

    normalizer_method = "log"

    def __init__(self, automaton: EmissionAutomaton, name: str = "automaton", device=None):
        check_type(automaton, EmissionAutomaton, "automaton")
        check_type(name, str, "name")
        if device is not None:
            automaton = automaton.to(check_device(device))
        self.automaton = automaton
        self.vocab_size = automaton.vocab_size
        self.name = name
        self._chain: EmissionChain | None = None

    @property
    def device(self) -> torch.device:
        return self.automaton.emission.device

    def to(self, device) -> AutomatonLanguage:
        return AutomatonLanguage(self.automaton, self.name, device=device)

    def chain(self) -> EmissionChain:
        if self._chain is None:
            self._chain = EmissionChain(self.automaton)
        return self._chain

    def min_length(self) -> int:
        return 1

    # ---- exact messages of the all-masked sequence (linear space, normalised per node) --------------
    def _messages(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward ``(L, S)`` (without the final weights) and backward ``(L, S)`` messages, each normalised;
        the final weights sit in the last backward message."""
        a = self.automaton
        alpha = torch.empty((length, a.num_states), dtype=torch.float64, device=self.device)
        beta = torch.empty_like(alpha)
        alpha[0] = a.initial / a.initial.sum()
        for t in range(1, length):
            m = alpha[t - 1] @ a.transition
            alpha[t] = m / m.sum()
        beta[length - 1] = a.final / a.final.max()
        for t in range(length - 2, -1, -1):
            b = a.transition @ beta[t + 1]
            beta[t] = b / b.max()
        return alpha, beta

    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Exact samples: backward filtering, then states and tokens drawn forward (float64 inverse CDF)."""
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        L = self.check_length(length)
        check_generator(generator)
        a = self.automaton
        _, beta = self._messages(L)

        def law(w):  # rows of positive weights -> probability rows
            return w / w.sum(-1, keepdim=True)

        z = sample_categorical(law(a.initial * beta[0]).expand(n, -1), generator)
        out = torch.empty((n, L), dtype=torch.long, device=self.device)
        for t in range(L):
            if t > 0:
                z = sample_categorical(law(a.transition[z] * beta[t]), generator)
            out[:, t] = sample_categorical(a.emission[z], generator)
        return out

    def node_and_pair_posteriors(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact state posteriors ``(L, S)`` and consecutive-pair posteriors ``(L-1, S, S)`` of q_L."""
        L = self.check_length(length)
        alpha, beta = self._messages(L)
        gamma = alpha * beta
        gamma = gamma / gamma.sum(1, keepdim=True)
        T = self.automaton.transition
        xi = alpha[:-1, :, None] * T.unsqueeze(0) * beta[1:, None, :]
        xi = xi / xi.sum((1, 2), keepdim=True)
        return gamma, xi

    def pair_marginals(self, length: int) -> torch.Tensor:
        """``(L-1, V, V)`` exact laws of the consecutive token pairs :math:`(x_t, x_{t+1})`."""
        _, xi = self.node_and_pair_posteriors(length)
        E = self.automaton.emission
        return E.T.unsqueeze(0) @ xi @ E.unsqueeze(0)

    def token_marginals(self, length: int) -> torch.Tensor:
        """``(L, V)`` exact token laws at every position."""
        gamma, _ = self.node_and_pair_posteriors(length)
        return gamma @ self.automaton.emission

    def entropy(self, length: int) -> float:
        """Exact :math:`H(X_{1:L})` (module docstring); enumeration for ambiguous automata of small V**L."""
        L = self.check_length(length)
        a = self.automaton
        if not a.unambiguous:
            if self.vocab_size**L > MAX_ENUMERATION:
                raise NotImplementedError(
                    f"{self.name}: the automaton is ambiguous and V**L = {self.vocab_size}**{L} exceeds the "
                    f"enumeration limit {MAX_ENUMERATION}"
                )
            seqs = all_sequences(self.vocab_size, L, self.device)
            lp = torch.cat([self.log_prob(c) for c in seqs.split(2**16)])
            return float(-torch.special.xlogy(torch.exp(lp), torch.exp(lp)).sum())
        gamma, xi = self.node_and_pair_posteriors(L)

        def e_log(p, w):  # E_p[log w] with 0 log 0 = 0
            return float(torch.where(p > 0, p * torch.log(w), torch.zeros_like(p)).sum())

        e_log_w = e_log(gamma[0], a.initial) + e_log(gamma[-1], a.final)
        if L > 1:
            e_log_w += e_log(xi, a.transition.expand_as(xi))
        h_emit = float((gamma @ -torch.special.xlogy(a.emission, a.emission).sum(1)).sum())
        return self.log_normalizer(L) - e_log_w + h_emit

    def describe(self) -> dict:
        return {
            "type": type(self).__name__,
            "name": self.name,
            "vocab_size": self.vocab_size,
            "states": self.automaton.num_states,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, V={self.vocab_size}, S={self.automaton.num_states})"
