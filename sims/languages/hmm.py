r"""Hidden Markov model languages.

.. math::
    q(x_{1:L}) = \sum_{z_{1:L}} \pi(z_1) B(z_1, x_1) \prod_{t=2}^{L} A(z_{t-1}, z_t) B(z_t, x_t).

Exact: sampling, log-probability (forward algorithm), posterior marginals (forward-backward).
The joint entropy :math:`H(X_{1:L})` of an HMM's *observations* has no finite closed form in general
(the filter state is continuous), so :meth:`HMMLanguage.entropy` is exact by enumeration for small
:math:`V^L` and otherwise raises, pointing to :meth:`HMMLanguage.entropy_estimate` (Monte Carlo with a
standard error, labelled as such).
"""

from __future__ import annotations

import torch

from sims.categorical import sample_categorical
from sims.enumeration import all_sequences
from sims.inference.chain import DenseTransitionChain, LexTables, log_matmul_exp, min_positive_log
from sims.inference.min_violation import split_zeros
from sims.languages.base import Language
from sims.stats import mean_estimate
from sims.validation import (
    InvalidDistributionError,
    as_float64,
    check_device,
    check_generator,
    check_positive_int,
    check_stochastic,
)

#: Largest V**L for which HMM entropies are computed exactly by enumeration.
MAX_ENUMERATION = 2**20


def _log(t: torch.Tensor) -> torch.Tensor:
    return torch.log(t)  # log(0) = -inf, which is what we want for structural zeros


class HMMChain(DenseTransitionChain):
    """Chain view of an HMM: node t is the hidden state at position t; evidence is ``B[:, x_t]``."""

    def __init__(self, initial: torch.Tensor, transition: torch.Tensor, emission: torch.Tensor):
        self.num_states, self.vocab_size = emission.shape
        self.log_initial = _log(initial)
        self.set_transition(transition)
        self.emission = emission
        self.log_emission = _log(emission)
        self.min_log_emission = min_positive_log(emission)
        # (V+1, S) log-evidence table: row v = log B[:, v]; the mask row is 0 (emission sums to 1).
        self._evidence_table = torch.cat(
            [
                self.log_emission.T,
                torch.zeros((1, self.num_states), dtype=torch.float64, device=emission.device),
            ],
            dim=0,
        )

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ev = self._evidence_table[tokens]  # (B, L, S)
        return ev[:, 0], ev[:, 1:]

    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        B, T, S = log_gamma.shape
        out = log_matmul_exp(
            log_gamma.reshape(B * T, S), self.emission, self.log_emission, self.min_log_emission
        )
        return out.reshape(B, T, self.vocab_size)

    # ---- optional engine capabilities (sims.inference.chain.LiftedChain) ----------------------------
    def token_evidence_probe_length(self) -> int:
        return 2  # the evidence of node 1 of a length-2 sequence is B[:, x_1]

    def linear_token_marginals(self, gamma: torch.Tensor, length: int) -> torch.Tensor:
        T, B, S = gamma.shape
        return (gamma.reshape(T * B, S) @ self.emission.to(gamma.dtype)).reshape(T, B, self.vocab_size)

    def projection_min_log(self) -> float:
        return self.min_log_emission

    def loo_node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token i is emitted by node i; a masked token carries no evidence (emission rows sum to 1)."""
        L = tokens.shape[1]
        nodes = torch.arange(L, device=tokens.device)
        return nodes, torch.zeros((1, L, self.num_states), dtype=torch.float64, device=tokens.device)

    def lexicographic_tables(self) -> LexTables:
        ic, il = split_zeros(torch.exp(self.log_initial))
        tc, tl = split_zeros(self.transition)
        return LexTables(ic, il, tc, tl, evidence_violations=True)


class HMMLanguage(Language):
    """An HMM with initial distribution ``initial`` (S,), ``transition`` (S, S) and ``emission`` (S, V).

    Rows are validated as probability vectors (clear error naming the row otherwise). Zeros are allowed
    anywhere, so the language may have a sparse support.
    """

    def __init__(self, initial, transition, emission, device: torch.device | str | None = None):
        if device is not None:
            device = check_device(device)
        emission = as_float64(emission, "emission")
        if emission.ndim != 2:
            raise InvalidDistributionError(
                f"emission must be (S, V) = (hidden states, tokens), got shape {tuple(emission.shape)}"
            )
        emission = check_stochastic(emission, "emission", device=device, layout="(S, V): row = hidden state")
        S, V = emission.shape
        self.initial = check_stochastic(
            initial,
            "initial",
            shape=(S,),
            device=emission.device,
            layout="(S,): law of the first hidden state",
        )
        self.transition = check_stochastic(
            transition,
            "transition",
            shape=(S, S),
            device=emission.device,
            layout="(S, S): row = current state",
        )
        self.emission = emission
        self.vocab_size = V
        self.num_states = S
        self._chain: HMMChain | None = None

    @property
    def device(self) -> torch.device:
        return self.emission.device

    def to(self, device) -> HMMLanguage:
        return HMMLanguage(self.initial, self.transition, self.emission, device=device)

    def chain(self) -> HMMChain:
        if self._chain is None:
            self._chain = HMMChain(self.initial, self.transition, self.emission)
        return self._chain

    def min_length(self) -> int:
        return 1

    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        length = self.check_length(length)
        check_generator(generator)
        z = sample_categorical(self.initial.expand(n, -1), generator)
        out = torch.empty((n, length), dtype=torch.long, device=self.device)
        for t in range(length):
            if t > 0:
                z = sample_categorical(self.transition[z], generator)
            out[:, t] = sample_categorical(self.emission[z], generator)
        return out

    def state_marginals(self, length: int) -> torch.Tensor:
        """``(L, S)`` marginal laws of the hidden state at each position."""
        mu = self.initial.clone()
        out = [mu]
        for _ in range(length - 1):
            mu = mu @ self.transition
            out.append(mu)
        return torch.stack(out)

    def token_marginals(self, length: int) -> torch.Tensor:
        """``(L, V)`` marginal laws of each token."""
        return self.state_marginals(length) @ self.emission

    def entropy(self, length: int) -> float:
        """Exact :math:`H(X_{1:L})` by enumeration of all :math:`V^L` sequences (small cases only)."""
        length = self.check_length(length)
        if self.vocab_size**length > MAX_ENUMERATION:
            raise NotImplementedError(
                f"HMM observation entropy has no closed form; V**L = {self.vocab_size}**{length} exceeds "
                f"the enumeration limit {MAX_ENUMERATION}. Use entropy_estimate() (Monte Carlo)."
            )

        lp = torch.cat(
            [
                self.log_prob(chunk)
                for chunk in all_sequences(self.vocab_size, length, device=self.device).split(2**16)
            ]
        )
        p = torch.exp(lp)
        return float(-(torch.where(p > 0, p * lp, torch.zeros_like(p))).sum())

    def entropy_estimate(
        self, length: int, num_samples: int, generator: torch.Generator, batch_size: int = 1024
    ):
        """Monte Carlo estimate of :math:`H(X_{1:L}) = E_q[-\\log q(X)]` with its standard error.

        Returns a :class:`sims.metrics.MeanEstimate` (exact sampling, exact log-probabilities; the only
        error is Monte Carlo error).
        """

        values = []
        remaining = check_positive_int(num_samples, "num_samples", minimum=2)
        batch_size = check_positive_int(batch_size, "batch_size")
        while remaining > 0:
            n = min(batch_size, remaining)
            values.append(-self.log_prob(self.sample(n, length, generator)))
            remaining -= n
        return mean_estimate(torch.cat(values))

    def describe(self) -> dict:
        return {
            "type": "HMMLanguage",
            "vocab_size": self.vocab_size,
            "num_states": self.num_states,
            "support_fraction_transition": float((self.transition > 0).double().mean()),
            "support_fraction_emission": float((self.emission > 0).double().mean()),
        }

    def __repr__(self) -> str:
        return f"HMMLanguage(S={self.num_states}, V={self.vocab_size}, device={self.device})"
