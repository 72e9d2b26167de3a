"""Exact output laws for the bench's exact tier, with a deterministic size cap.

The same two routes as :func:`sims.evaluation.exact_policy_law` (the policy's exact kernel chained over
partial sequences, or the replay likelihood of every sequence for deterministic selection), plus the
draft-and-verify and Info-Gain kernels (:func:`sims.sampling.draft_verify.exact_draft_law`,
:func:`sims.sampling.info_gain.exact_info_gain_law`, which need the denoiser's passes), with the kernel route capped: it enumerates at most :data:`MAX_TRANSITIONS` successor states in total and gives up
(``None``, recorded as "law too large") beyond, so a policy whose kernel enumerates remasking subsets or
particle systems cannot stall a bench. The cap counts work, not seconds, so whether a law is computed does
not depend on the machine. The kernel route is :func:`sims.exact.exact_sampler_law` with its ``max_transitions`` cap.
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser
from sims.evaluation.policy_laws import PolicyLaw, replayed_policy_law
from sims.exact import exact_sampler_law
from sims.sampling.base import Sampler
from sims.sampling.draft_verify import DraftVerifySampler, exact_draft_law
from sims.sampling.info_gain import InfoGainSampler, exact_info_gain_law
from sims.validation import InvalidArgumentError, SizeLimitError

#: Largest number of successor states the kernel route may enumerate for one law.
MAX_TRANSITIONS = 3_000_000
#: Largest number of partial sequences the draft-and-verify route keeps at once.
MAX_DRAFT_STATES = 100_000


def kernel_law(sampler: Sampler, denoiser: Denoiser, length: int, max_transitions: int = MAX_TRANSITIONS):
    """:func:`sims.exact.exact_sampler_law` with a cap on the successors enumerated (``None`` beyond)."""
    try:
        return exact_sampler_law(sampler, denoiser, length, max_transitions=max_transitions)
    except SizeLimitError:
        return None


def capped_policy_law(
    sampler: Sampler, denoiser: Denoiser, length: int, generator: torch.Generator
) -> PolicyLaw | None:
    """The exact law by the capped kernel, else by replay when the selection is deterministic, else ``None``."""
    if sampler.capabilities.exact_kernel:
        law = kernel_law(sampler, denoiser, length)
        return None if law is None else PolicyLaw(law, "exact kernel")
    if isinstance(sampler, DraftVerifySampler):  # its kernel needs the denoiser's draft pass
        try:
            return PolicyLaw(
                exact_draft_law(sampler, denoiser, length, max_states=MAX_DRAFT_STATES), "draft kernel"
            )
        except SizeLimitError:
            return None
    if isinstance(sampler, InfoGainSampler):  # its kernel needs the lookahead outputs
        try:
            return PolicyLaw(exact_info_gain_law(sampler, denoiser, length), "lookahead kernel")
        except (SizeLimitError, InvalidArgumentError):
            return None
    return replayed_policy_law(sampler, denoiser, length, generator)
