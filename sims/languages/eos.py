r"""Variable-length languages: a base sequence of random length, then an end-of-sequence token and padding.

On a canvas of L positions, :class:`EOSLanguage` puts a base sequence :math:`c` of length
:math:`n \in \{1, \dots, L-1\}`, then the end-of-sequence token ``EOS`` (id V) at position n, then padding
to the end: ``EOS`` repeated (default, LLaDA's convention: EOS is absorbing) or a separate ``PAD`` token
(id V+1, ``pad_token=True``). Its law is

.. math::
    q_L(c, n) = \frac{1}{Z_L} (1-\eta)^{n-1}\, \eta\, w_{\text{base}}(c), \qquad
    q_L(c \mid n) = q^{\text{base}}_n(c), \qquad
    q_L(n) \propto (1-\eta)^{n-1} \eta\, Z^{\text{base}}_n,

with stop probability :math:`\eta` (``stop_probability``): after every base token the sequence ends with
probability :math:`\eta` times the base's final weight (1 for n-grams and HMMs: a geometric length; the
accepting states of an automaton language: it can only end on an accepted prefix, e.g. a balanced Dyck
string), else continues. Given its length the content is exactly the base language at that length (for
an n-gram, lengths below n-1 get the marginal of the initial window), and
an EOS must occur on the canvas (the law is conditioned on :math:`n \le L - 1`; :math:`Z_L` is that
probability).

It is an emission automaton (:mod:`sims.languages.emission`) with two extra states, *end* (emits EOS)
and *pad* (emits the padding token; absorbing): base transitions scaled by :math:`1-\eta`, base state
s to *end* with weight :math:`\eta f(s)`, final weights on *end* and *pad* only. Sampling,
log-probabilities, the oracle (a lifted chain with an absorbing EOS state), leave-one-out conditionals
and draft probabilities are therefore exact, so length policies (DAEDAL, arXiv 2508.00819; Learn2PD's
end-of-text prediction, arXiv 2509.25188) can be evaluated exactly.
"""

from __future__ import annotations

import torch

from sims.languages.automaton_forms import emission_automaton
from sims.languages.base import Language
from sims.languages.emission import AutomatonLanguage, EmissionAutomaton
from sims.validation import check_real, check_tokens, check_type


def eos_automaton(
    base: EmissionAutomaton, stop_probability: float, pad_token: bool = False
) -> EmissionAutomaton:
    """The automaton of the EOS version of ``base`` (module docstring): states ``base + [end, pad]``."""
    eta = check_real(
        stop_probability, "stop_probability", minimum=0.0, maximum=1.0, open_min=True, open_max=True
    )
    S, V = base.num_states, base.vocab_size
    dev = base.emission.device
    end, pad = S, S + 1
    V2 = V + (2 if pad_token else 1)
    initial = torch.zeros(S + 2, dtype=torch.float64, device=dev)
    initial[:S] = base.initial
    transition = torch.zeros((S + 2, S + 2), dtype=torch.float64, device=dev)
    transition[:S, :S] = (1 - eta) * base.transition
    transition[:S, end] = eta * base.final
    transition[end, pad] = 1.0
    transition[pad, pad] = 1.0
    emission = torch.zeros((S + 2, V2), dtype=torch.float64, device=dev)
    emission[:S, :V] = base.emission
    emission[end, V] = 1.0
    emission[pad, V2 - 1] = 1.0
    final = torch.zeros(S + 2, dtype=torch.float64, device=dev)
    final[end] = final[pad] = 1.0
    return EmissionAutomaton(initial, transition, emission, final, base.unambiguous)


class EOSLanguage(AutomatonLanguage):
    """A base language of random length followed by EOS and padding (module docstring).

    Args:
        base: any language with an emission-automaton form (:mod:`sims.languages.automaton_forms`).
        stop_probability: :math:`\\eta`, the probability of ending after a base token (where the base may end).
        pad_token: pad with a separate ``PAD`` token (id V+1) instead of repeating ``EOS``.
        name: label (default ``<base>_eos``).
    """

    def __init__(
        self,
        base: Language,
        stop_probability: float = 1 / 16,
        pad_token: bool = False,
        name: str | None = None,
        device=None,
    ):
        check_type(base, Language, "base", "a sims Language")
        check_type(pad_token, bool, "pad_token")
        if device is not None:
            base = base.to(device)
        self.base = base
        self.stop_probability = float(stop_probability)
        self.pad_token = pad_token
        label = name or f"{getattr(base, 'name', type(base).__name__)}_eos"
        super().__init__(eos_automaton(emission_automaton(base), stop_probability, pad_token), label)

    @property
    def eos_id(self) -> int:
        return self.base.vocab_size

    @property
    def eos_token(self) -> int | None:
        """The EOS id when EOS pads the sequence (absorbing); None with a separate PAD token."""
        return None if self.pad_token else self.eos_id

    @property
    def pad_id(self) -> int:
        return self.vocab_size - 1

    def to(self, device) -> EOSLanguage:
        return EOSLanguage(self.base, self.stop_probability, self.pad_token, self.name, device=device)

    def content_lengths(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B,)`` position of the first EOS (the content length n); L where a row has none."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False)
        is_eos = tokens == self.eos_id
        first = torch.where(
            is_eos.any(1), is_eos.long().argmax(1), torch.full_like(tokens[:, 0], tokens.shape[1])
        )
        return first

    def length_law(self, length: int) -> torch.Tensor:
        """``(L,)`` exact law of the content length n on a canvas of ``length`` (index n; n = 0 has mass 0)."""
        L = self.check_length(length)
        marg = self.token_marginals(L)[:, self.eos_id]  # P(x_t = EOS)
        if self.pad_token:
            return marg  # EOS occurs once: P(n = t) = P(x_t = EOS)
        prev = torch.cat([torch.zeros(1, dtype=torch.float64, device=marg.device), marg[:-1]])
        return marg - prev  # EOS is absorbing: P(first EOS at t) = P(x_t = EOS) - P(x_{t-1} = EOS)

    def describe(self) -> dict:
        return {
            "type": "EOSLanguage",
            "name": self.name,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
            "stop_probability": self.stop_probability,
            "base": self.base.describe(),
        }
