r"""Languages given by an explicit finite support: a weighted list of words of one length N.

A :class:`SupportLanguage` holds words :math:`w_1..w_S \in \{0..V-1\}^N` with weights
:math:`\pi_s > 0` (normalised). Its law at length :math:`L \le N` is the marginal of the first L tokens,

.. math::  q_L(x_{1:L}) = \sum_{s:\ w_{s,1:L} = x_{1:L}} \pi_s ,

so every length is a proper language (the conformance suite tests it at a short, enumerable length) and
:math:`L = N` is the full law (e.g. the uniform law on the 288 solved 4x4 Sudoku grids,
:mod:`sims.languages.puzzles`). Zeros are exact: :math:`q_L(x) = 0` iff no word starts with x.

Exact oracle: a **one-node lifted chain** whose hidden state is the word s itself
(:class:`SupportChain`). The evidence of a partial sequence is :math:`\log \mathbf 1[w_{s,l} = x_l` for every
revealed l], so the node posterior is :math:`\pi_s` restricted to the compatible words, normalised, and the
token posterior of position l is the projection :math:`\sum_s \gamma(s)\,\mathbf 1[w_{s,l} = v]`. This is
plain enumeration of the support, computed as one masked matrix product per batch; the generic log-space
engine runs it (one node, no transition), so :class:`~sims.denoisers.oracle.OracleDenoiser` works
unchanged. Cost per call: :math:`O(B\,S\,L\,V)`.
"""

from __future__ import annotations

import torch

from sims.categorical import sample_categorical
from sims.inference.chain import LiftedChain, log_matmul_exp
from sims.languages.base import Language
from sims.validation import (
    InvalidArgumentError,
    check_device,
    check_generator,
    check_positive_int,
    check_type,
)


class SupportChain(LiftedChain):
    """One-node chain over the words of a support (module docstring); works for every length <= N."""

    def __init__(self, words: torch.Tensor, log_weights: torch.Tensor, vocab_size: int):
        self.words = words  # (S, N) long
        self.num_states = int(words.shape[0])
        self.vocab_size = int(vocab_size)
        self.log_initial = log_weights  # (S,) normalised
        S, N = words.shape
        onehot = torch.nn.functional.one_hot(words, self.vocab_size).to(torch.float64)  # (S, N, V)
        self._project = onehot.reshape(S, N * self.vocab_size)
        self._log_project = torch.log(self._project)

    def num_nodes(self, length: int) -> int:
        return 1

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L = tokens.shape
        V = self.vocab_size
        w = self.words[:, :L].unsqueeze(0)  # (1, S, L)
        x = tokens.unsqueeze(1)  # (B, 1, L)
        ok = ((x == V) | (w == x)).all(-1)  # (B, S)
        first = torch.where(ok, 0.0, -torch.inf).to(torch.float64)
        return first, torch.zeros((B, 0, self.num_states), dtype=torch.float64, device=tokens.device)

    def add_evidence(self, log_msg: torch.Tensor, log_ev: torch.Tensor) -> torch.Tensor:
        return log_msg + log_ev

    def propagate_forward(self, log_msg: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a support chain has a single node: there is no transition")

    def propagate_backward(self, log_msg: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a support chain has a single node: there is no transition")

    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        B = log_gamma.shape[0]
        V = self.vocab_size
        cols = length * V
        out = log_matmul_exp(log_gamma[:, 0], self._project[:, :cols], self._log_project[:, :cols], 0.0)
        return out.reshape(B, length, V)


class SupportLanguage(Language):
    """A weighted finite set of words of length N; the law at length L <= N is the prefix marginal.

    Args:
        words: ``(S, N)`` integer tokens in ``0..vocab_size-1`` (duplicates are merged, weights added).
        weights: ``(S,)`` positive weights (None = uniform over the distinct words).
        vocab_size: V (default: largest token + 1).
        name: label used in :meth:`describe`.
    """

    def __init__(
        self,
        words,
        weights=None,
        vocab_size: int | None = None,
        name: str = "support",
        device: torch.device | str | None = None,
    ):
        check_type(name, str, "name")
        w = torch.as_tensor(words)
        if w.dtype.is_floating_point or w.dtype == torch.bool or w.ndim != 2 or w.shape[0] == 0:
            raise InvalidArgumentError("words must be a non-empty (S, N) integer table")
        w = w.long().cpu()
        if int(w.min()) < 0:
            raise InvalidArgumentError("tokens must be >= 0")
        V = (
            int(w.max()) + 1
            if vocab_size is None
            else check_positive_int(vocab_size, "vocab_size", minimum=2)
        )
        if int(w.max()) >= V or V < 2:
            raise InvalidArgumentError(f"tokens must lie in 0..{V - 1} with V >= 2")
        p = torch.ones(w.shape[0], dtype=torch.float64) if weights is None else torch.as_tensor(weights)
        p = p.to(torch.float64).cpu()
        if p.shape != (w.shape[0],) or not bool(torch.isfinite(p).all()) or bool((p <= 0).any()):
            raise InvalidArgumentError("weights must be finite and > 0, one per word")
        uniq, inv = torch.unique(w, dim=0, return_inverse=True)
        merged = torch.zeros(uniq.shape[0], dtype=torch.float64).index_add_(0, inv, p)
        if weights is None:
            merged = torch.ones_like(merged)
        dev = torch.device("cpu") if device is None else check_device(device)
        self.words = uniq.to(dev)
        self.weights = (merged / merged.sum()).to(dev)
        self.vocab_size = V
        self.name = name
        self._chain: SupportChain | None = None

    @property
    def device(self) -> torch.device:
        return self.weights.device

    @property
    def word_length(self) -> int:
        return int(self.words.shape[1])

    def to(self, device) -> SupportLanguage:
        return SupportLanguage(self.words.cpu(), self.weights.cpu(), self.vocab_size, self.name, device)

    def chain(self) -> SupportChain:
        if self._chain is None:
            self._chain = SupportChain(self.words, torch.log(self.weights), self.vocab_size)
        return self._chain

    def min_length(self) -> int:
        return 1

    def check_length(self, length: int) -> int:
        length = super().check_length(length)
        if length > self.word_length:
            raise InvalidArgumentError(f"{self.name}: words have length {self.word_length}, got {length}")
        return length

    def prefix_law(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(prefixes (P, L), probabilities (P,))``: the exact law at ``length`` (distinct prefixes)."""
        L = self.check_length(length)
        uniq, inv = torch.unique(self.words[:, :L].cpu(), dim=0, return_inverse=True)
        probs = torch.zeros(uniq.shape[0], dtype=torch.float64).index_add_(0, inv, self.weights.cpu())
        return uniq, probs

    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Exact samples: a word drawn by its weight (float64 inverse CDF), truncated to ``length``."""
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        L = self.check_length(length)
        check_generator(generator)
        if n == 0:
            return torch.empty((0, L), dtype=torch.long, device=self.device)
        idx = sample_categorical(self.weights.unsqueeze(0).expand(n, -1), generator)
        return self.words[idx.to(self.device), :L]

    def entropy(self, length: int) -> float:
        _, p = self.prefix_law(length)
        return float(-(p * torch.log(p)).sum())

    def describe(self) -> dict:
        return {
            "type": "SupportLanguage",
            "name": self.name,
            "vocab_size": self.vocab_size,
            "word_length": self.word_length,
            "support_size": int(self.words.shape[0]),
            "uniform": bool(torch.allclose(self.weights, self.weights[0].expand_as(self.weights))),
        }

    def __repr__(self) -> str:
        return f"SupportLanguage({self.name}, V={self.vocab_size}, N={self.word_length}, S={self.words.shape[0]})"
