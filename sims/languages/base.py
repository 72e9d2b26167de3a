"""The interface every synthetic language with an exact distribution implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from sims.inference.chain import LiftedChain
from sims.inference.engine import forward_log_evidence
from sims.validation import InvalidArgumentError, check_positive_int, check_tokens


class Language(ABC):
    r"""A distribution :math:`q` over token sequences :math:`x \in \{0..V-1\}^L` for every length L.

    The mask id is ``vocab_size`` (one past the vocabulary), the convention of SEDD/MDLM/RADD.
    Subclasses give exact sampling, exact log-probability and exact (or explicitly Monte Carlo)
    entropy; the oracle denoiser uses :meth:`chain`.
    """

    vocab_size: int
    #: the end-of-sequence token that, once it occurs, repeats to the end of every sequence (EOS padding);
    #: None for fixed-length languages (:class:`sims.languages.eos.EOSLanguage` sets it)
    eos_token: int | None = None

    @property
    def mask_id(self) -> int:
        return self.vocab_size

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Device holding the language's tables."""

    @abstractmethod
    def to(self, device: torch.device | str) -> Language:
        """A copy of the language with its tables on ``device``."""

    @abstractmethod
    def chain(self) -> LiftedChain:
        """The lifted first-order chain used by forward-backward."""

    @abstractmethod
    def min_length(self) -> int:
        """Shortest sequence length the language defines."""

    @abstractmethod
    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Exact i.i.d. samples, shape ``(num_samples, length)``, drawn with float64 inverse CDFs."""

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(x)`` for each row of a ``(B, L)`` batch; ``-inf`` outside the support."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False)
        self.check_length(tokens.shape[1])
        return forward_log_evidence(self.chain(), tokens.to(self.device))

    def log_prob_revealed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``log q(revealed tokens)`` for partially masked rows (masked positions marginalised)."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True)
        self.check_length(tokens.shape[1])
        return forward_log_evidence(self.chain(), tokens.to(self.device))

    def in_support(self, tokens: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B,)``: True where ``q(x) > 0``."""
        return torch.isfinite(self.log_prob(tokens))

    @abstractmethod
    def entropy(self, length: int) -> float:
        """Exact joint entropy :math:`H(X_1..X_L)` in nats (raises if no exact method applies)."""

    def entropy_per_token(self, length: int) -> float:
        """:math:`H(X_1..X_L)/L` in nats."""
        return self.entropy(length) / length

    def optimal_perplexity(self, length: int) -> float:
        r"""Perplexity of the data under the true model, :math:`\exp(H(X_{1:L})/L)` (the best any model can do)."""
        return math.exp(self.entropy_per_token(length))

    def check_length(self, length: int) -> int:
        length = check_positive_int(length, "length")
        if length < self.min_length():
            raise InvalidArgumentError(
                f"{type(self).__name__} needs length >= {self.min_length()}, got {length}"
            )
        return length

    def describe(self) -> dict:
        """A JSON-serialisable description (for result files)."""
        return {"type": type(self).__name__, "vocab_size": self.vocab_size}


class NormalisedChainLanguage(Language):
    r"""A language whose chain gives *unnormalised* weights: :math:`q(x) = w(x) / Z_L`, with
    :math:`Z_L = \sum_{|y| = L} w(y)` the forward evidence of the all-masked sequence (automaton and
    weighted-automaton languages). A length whose :math:`Z_L` is 0 is refused by :meth:`check_length` with
    :attr:`empty_length_rule`.
    """

    #: the forward engine for :math:`Z_L` (:func:`sims.inference.forward_log_evidence`)
    normalizer_method: str = "auto"
    #: the rule a length with :math:`Z_L = 0` breaks (formatted with ``length``)
    empty_length_rule: str = "no sequence of length {length} has positive probability"

    def log_normalizer(self, length: int) -> float:
        r""":math:`\log Z_L` (``-inf`` when no sequence of this length has positive weight); cached."""
        length = check_positive_int(length, "length")
        cache = self.__dict__.setdefault("_log_z", {})
        if length not in cache:
            masked = torch.full((1, length), self.vocab_size, dtype=torch.long, device=self.device)
            cache[length] = float(forward_log_evidence(self.chain(), masked, self.normalizer_method)[0])
        return cache[length]

    def check_length(self, length: int) -> int:
        length = super().check_length(length)
        if not math.isfinite(self.log_normalizer(length)):
            raise InvalidArgumentError(f"{self.name}: " + self.empty_length_rule.format(length=length))
        return length

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().log_prob(tokens) - self.log_normalizer(tokens.shape[1])

    def log_prob_revealed(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().log_prob_revealed(tokens) - self.log_normalizer(tokens.shape[1])
