"""The result of a sampler run: tokens, call counts, the unmasking order, entropies and conventions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch


@dataclass
class SampleResult:
    """Output of a sampler run (B sequences of length L, K steps).

    Attributes:
        tokens: ``(B, L)`` final sequences.
        nfe: ``(B,)`` denoiser calls made for each sequence.
        reveal_step: ``(B, L)`` 0-based step at which each position was (last) revealed.
        token_entropy: ``(B, L)`` entropy (nats) of the law each token was drawn from.
        token_logprob: ``(B, L)`` log-probability of the drawn token under that law.
        step_entropy_sum: ``(B, K)`` sum of predictive entropies over the masked positions when the
            denoiser output was used at that step (NaN where it was not used).
        step_num_masked: ``(B, K)`` number of masked positions at the start of each step.
        left_support: ``(B,)`` the denoiser reported zero-probability evidence at some call.
        reveal_time: ``(B, L)`` diffusion time of each reveal (time-based samplers) or None.
        conventions: the sampler's conventions as a plain JSON dict
            (:meth:`sims.sampling.base.Conventions.to_dict`), so results and figure data record them.
    """

    tokens: torch.Tensor
    nfe: torch.Tensor
    reveal_step: torch.Tensor
    token_entropy: torch.Tensor
    token_logprob: torch.Tensor
    step_entropy_sum: torch.Tensor
    step_num_masked: torch.Tensor
    left_support: torch.Tensor
    reveal_time: torch.Tensor | None = None
    conventions: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.step_num_masked.shape[1]

    @property
    def mean_nfe(self) -> float:
        return float(self.nfe.double().mean())

    def step_mean_entropy(self) -> torch.Tensor:
        """``(B, K)`` mean predictive entropy over masked positions (NaN where not evaluated)."""
        return self.step_entropy_sum / self.step_num_masked.clamp(min=1)

    def unmasking_order(self) -> torch.Tensor:
        """``(B, L)`` positions sorted by reveal step (ties in position order)."""
        return torch.sort(self.reveal_step, dim=1, stable=True).indices

    def select_rows(self, rows: torch.Tensor, nfe: torch.Tensor) -> SampleResult:
        """The result made of ``rows`` with the given per-row call counts (best-of-N, particle selection)."""
        kw = {}
        for f in fields(SampleResult):
            if f.name in ("nfe", "conventions"):
                continue
            v = getattr(self, f.name)
            kw[f.name] = None if v is None else v[rows]
        return SampleResult(nfe=nfe, conventions=dict(self.conventions), **kw)

    @staticmethod
    def concatenate(results: list[SampleResult]) -> SampleResult:
        kwargs = {}
        for f in fields(SampleResult):
            vals = [getattr(r, f.name) for r in results]
            if f.name == "conventions":
                kwargs[f.name] = vals[0]
            elif vals[0] is None:
                kwargs[f.name] = None
            else:
                kwargs[f.name] = torch.cat(vals)
        return SampleResult(**kwargs)
