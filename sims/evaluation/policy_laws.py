r"""The exact output law of a policy where it is computable, and the data-direction excess NLL otherwise.

Two routes to the exact law :math:`p` of a decoding policy over :math:`V^L` sequences (tiny L):

* ``"exact kernel"``: the policy's one-step kernel (``capabilities.exact_kernel``) chained over partial
  sequences (:func:`sims.exact.exact_sampler_law`);
* ``"replay"``: the replay likelihood of every sequence (:func:`sims.evaluation.replay.replay_law`), exact
  for policies with deterministic position selection (checked on every sequence; DUEL, arXiv 2603.01367).

With the law, every metric is exact (:func:`sims.metrics.exact_law_metrics`: KL both ways, TV, SER).

At lengths beyond enumeration the data-direction excess :math:`KL(q \Vert p)/L` is estimated by Monte
Carlo over exact samples :math:`x \sim q` with an exact :math:`\log q(x)` and (:func:`data_direction_excess`)

* ``"replay (exact)"``: the exact :math:`\log p(x)` of a deterministic-selection policy, so the only error is
  Monte Carlo error over x (a confidence interval is reported);
* ``"replay, sampled selections (upper bound)"``: a replay whose selection was randomised (random tie
  breaks that met ties), for a policy whose selection ignores the values drawn in the same step
  (:mod:`sims.evaluation.replay`): an upper bound of :math:`KL(q \Vert p)/L`;
* ``"teacher forcing (upper bound)"``: for value-independent orders, :math:`E_M[\log q(x) - \log p_M(x)]/L
  \ge KL(q \Vert p)/L` (:func:`sims.metrics.order_conditional_excess_nll`);
* nothing for other policies (revisiting, particle resampling, value-dependent randomised selection).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sims.denoisers.base import Denoiser
from sims.evaluation.replay import (
    check_replayable,
    replay_law,
    replay_log_likelihood,
    selection_uses_values,
)
from sims.exact import exact_sampler_law
from sims.languages.base import Language
from sims.metrics import order_conditional_excess_nll
from sims.sampling.base import Sampler
from sims.stats import MeanEstimate, mean_estimate
from sims.validation import InvalidArgumentError


@dataclass
class PolicyLaw:
    """An exact output law and how it was obtained (``"exact kernel"`` or ``"replay"``)."""

    law: torch.Tensor
    method: str


def exact_policy_law(
    sampler: Sampler, denoiser: Denoiser, length: int, generator: torch.Generator
) -> PolicyLaw | None:
    """The exact law of ``sampler`` on ``denoiser`` at ``length`` (module docstring), or ``None``."""
    if sampler.capabilities.exact_kernel:
        return PolicyLaw(exact_sampler_law(sampler, denoiser, length), "exact kernel")
    return replayed_policy_law(sampler, denoiser, length, generator)


def replayed_policy_law(
    sampler: Sampler, denoiser: Denoiser, length: int, generator: torch.Generator
) -> PolicyLaw | None:
    """The exact law by replay when the sampler's selection is deterministic given its draws, else ``None``."""
    try:
        check_replayable(sampler)
        law, deterministic = replay_law(sampler, denoiser, length, generator)
    except InvalidArgumentError:  # revisits, argmax draws, particles: no single replay path
        return None
    return PolicyLaw(law, "replay") if deterministic else None


@dataclass
class ExcessEstimate:
    """Data-direction excess NLL per token and the kind of estimate (module docstring)."""

    kind: str
    estimate: MeanEstimate

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.estimate.to_dict()}


def data_direction_excess(
    language: Language,
    denoiser: Denoiser,
    sampler: Sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int = 256,
) -> ExcessEstimate | None:
    """Monte Carlo :math:`E_{x \\sim q}[\\log q(x) - \\log p(x)]/L` (nats/token) where an exact or bounding
    per-sample :math:`\\log p(x)` exists (module docstring); ``None`` otherwise."""
    if sampler.capabilities.value_independent_schedule:
        est = order_conditional_excess_nll(
            language, denoiser, sampler, length, num_samples, generator, batch_size
        )
        return ExcessEstimate("teacher forcing (upper bound)", est)
    try:
        check_replayable(sampler)
    except InvalidArgumentError:
        return None
    values, remaining, exact = [], num_samples, True
    while remaining > 0:
        b = min(batch_size, remaining)
        x = language.sample(b, length, generator)
        try:
            r = replay_log_likelihood(sampler, denoiser, x, generator)
        except InvalidArgumentError:  # a step changed revealed positions (particle resampling)
            return None
        exact &= r.deterministic
        if not exact and selection_uses_values(sampler):
            return None
        values.append((language.log_prob(x) - r.log_likelihood) / length)
        remaining -= b
    kind = "replay (exact)" if exact else "replay, sampled selections (upper bound)"
    return ExcessEstimate(kind, mean_estimate(torch.cat(values)))
