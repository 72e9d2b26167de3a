r"""Trained networks behind the suite's interfaces.

* :class:`ModelDenoiser`: a bidirectional :class:`~sims.models.transformer.TransformerNet` as a
  :class:`~sims.denoisers.base.Denoiser` (float64 log-probabilities from a float64 log-softmax of the
  network's logits, one-hot carry-over at revealed positions, mask class never predicted,
  time-agnostic), so every sampler and metric of the suite runs on it unchanged.
* :class:`ARModel`: a causal network with exact sequence log-likelihood
  :math:`\log p(x) = \sum_i \log p(x_i \mid x_{<i})` (one forward pass) and float64 ancestral sampling.
"""

from __future__ import annotations

import torch

from sims.categorical import sample_from_log_probs
from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.models.transformer import TransformerNet
from sims.validation import InvalidArgumentError, check_positive_int, check_tokens


def _device_of(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


class ModelDenoiser(Denoiser):
    """A bidirectional transformer as a time-agnostic denoiser.

    Args:
        net: a :class:`TransformerNet` with ``causal=False``.
        batch_size: rows per forward pass (bounds memory).
        info: JSON-serialisable metadata (training config, metrics) reported by :meth:`describe`.
    """

    time_conditioned = False

    def __init__(self, net: TransformerNet, batch_size: int = 1024, info: dict | None = None):
        if net.cfg.causal:
            raise InvalidArgumentError("ModelDenoiser needs a bidirectional network (causal=False)")
        self.net = net
        self.vocab_size = net.cfg.vocab_size
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.info = dict(info or {})

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True)
        dev = _device_of(self.net)
        was_training = self.net.training
        self.net.eval()
        try:
            parts = []
            for chunk in tokens.split(self.batch_size):
                logits = self.net(chunk.to(dev)).to(torch.float64)
                parts.append(torch.log_softmax(logits, dim=-1).to(tokens.device))
        finally:
            self.net.train(was_training)
        lp = (
            torch.cat(parts)
            if parts
            else torch.zeros((0, tokens.shape[1], self.vocab_size), dtype=torch.float64)
        )
        impossible = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), impossible)

    def describe(self) -> dict:
        return {
            "type": "ModelDenoiser",
            "architecture": self.net.cfg.to_dict(),
            "num_parameters": self.net.num_parameters(),
            **self.info,
        }


class ARModel:
    """Causal transformer language model over tokens 0..V-1 with BOS id V."""

    def __init__(self, net: TransformerNet, batch_size: int = 1024, info: dict | None = None):
        if not net.cfg.causal:
            raise InvalidArgumentError("ARModel needs a causal network (causal=True)")
        self.net = net
        self.vocab_size = net.cfg.vocab_size
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.info = dict(info or {})

    def inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[BOS, x_0 .. x_{L-2}]``: the input whose position i predicts ``x_i``."""
        bos = torch.full_like(tokens[:, :1], self.vocab_size)
        return torch.cat([bos, tokens[:, :-1]], dim=1)

    def token_log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` float64 :math:`\\log p(x_i \\mid x_{<i})` (differentiable when grad is enabled)."""
        logits = self.net(self.inputs(tokens)).to(torch.float64)
        return torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """Exact ``(B,)`` float64 log-likelihood of full sequences."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False)
        dev = _device_of(self.net)
        self.net.eval()
        out = [
            self.token_log_probs(c.to(dev)).sum(1).to(tokens.device) for c in tokens.split(self.batch_size)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Ancestral float64 sampling, one forward pass per position (no cache; lengths are short)."""
        n = check_positive_int(num_samples, "num_samples")
        L = check_positive_int(length, "length")
        dev = _device_of(self.net)
        self.net.eval()
        x = torch.full((n, L + 1), self.vocab_size, dtype=torch.long, device=dev)
        for i in range(L):
            logits = self.net(x[:, : i + 1])[:, i].to(torch.float64)
            lp = torch.log_softmax(logits, -1)
            x[:, i + 1] = sample_from_log_probs(lp.to(generator.device), generator).to(dev)
        return x[:, 1:].to(generator.device)

    def describe(self) -> dict:
        return {
            "type": "ARModel",
            "architecture": self.net.cfg.to_dict(),
            "num_parameters": self.net.num_parameters(),
            **self.info,
        }
