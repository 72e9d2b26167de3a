r"""Exact sample quality of a trained model (or the oracle) on an enumerable language, versus sampling steps.

For a denoiser and a step count K, the exact output law :math:`p_K` of the sampler
(:func:`sims.exact.exact_sampler_law`, all V^L sequences) is compared with the language q:

* ``sequence_error``: :math:`p_K(\{x : q(x) = 0\})` (exact SER);
* ``kl_per_token``: :math:`KL(q \Vert p_K)/L` (nats/token; the direction the theory bounds);
* ``total_variation``.

For an autoregressive model the law is :math:`\exp \log p_\theta(x)` over all sequences (one pass), so SER
and :math:`KL(q \Vert p_\theta)/L` (its exact NLL gap) are exact too.

The sampler is named in one place, :func:`law_sampler` (uniformly random order, LLaDA count rule
:math:`\lfloor M/K \rfloor` tokens per step with the remainder first, float64 sampling): the sampler classes
are being refactored, and a rename of their arguments or registry keys is a one-line change here.
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser
from sims.exact import all_sequences, exact_log_joint, exact_sampler_law
from sims.languages.base import Language
from sims.metrics import exact_law_metrics
from sims.models.denoiser import ARModel
from sims.sampling.fixed_count import FixedCountSampler

#: What :func:`law_sampler` uses (recorded in result files).
LAW_SAMPLER = "fixed count, uniformly random order, LLaDA counts floor(M/K) (remainder first), float64"


def law_sampler(steps: int) -> FixedCountSampler:
    """The sampler whose exact law is measured (the one place this package constructs a sampler)."""
    return FixedCountSampler(steps)


def _row(steps: int | None, log_q: torch.Tensor, law: torch.Tensor, length: int) -> dict:
    m = exact_law_metrics(log_q, law, length)
    return {
        "steps": steps,
        "sequence_error": m.sequence_error,
        "kl_per_token": m.kl_data_to_sampler / length,
        "total_variation": m.total_variation,
    }


def denoiser_quality(
    language: Language, denoiser: Denoiser, length: int, steps: tuple[int, ...] | list[int]
) -> list[dict]:
    """Exact SER, per-token KL and TV of :func:`law_sampler` driven by ``denoiser``, one row per K."""
    log_q = exact_log_joint(language, length).cpu()
    return [_row(k, log_q, exact_sampler_law(law_sampler(k), denoiser, length), length) for k in steps]


@torch.no_grad()
def ar_quality(language: Language, model: ARModel, length: int) -> dict:
    """Exact SER, :math:`KL(q \\Vert p_\\theta)/L` and TV of an autoregressive model's own law."""
    log_q = exact_log_joint(language, length).cpu()
    law = torch.exp(model.log_prob(all_sequences(language.vocab_size, length)).cpu())
    return _row(None, log_q, law, length)
