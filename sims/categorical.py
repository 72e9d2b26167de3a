r"""Exact categorical sampling in float64, plus an emulation of the float32 Gumbel-max used in MDLM/SEDD.

Float64 path: inverse CDF. Draw :math:`u \sim U[0,1)` in float64, return the first index whose
cumulative sum exceeds :math:`u`. Zero-probability categories are never returned (a zero weight
cannot raise the cumulative sum past :math:`u`), and the rare rounding case :math:`u \ge \text{cdf}_{V}`
is mapped to the last positive category.

Float32 emulation (``precision="float32_gumbel"``): the MDLM/SEDD recipe, entirely in float32:
``argmax(p / (1e-10 - log(u + 1e-10)))`` with ``u = torch.rand(float32)``. Because float32 uniforms are
multiples of :math:`2^{-24}` the Gumbel noise is truncated at about 16.6, which lowers the effective
temperature (Zheng et al., arXiv 2409.02908). The switch exists so that bias can be *measured*.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from sims.validation import (
    InvalidArgumentError,
    InvalidTypeError,
    check_choice,
    check_device,
    check_generator,
    check_int,
    check_prob_rows,
    check_real,
    check_temperature,
    check_type,
)

Precision = Literal["float64", "float32_gumbel"]
PRECISIONS = ("float64", "float32_gumbel")


def check_precision(precision: str) -> str:
    return check_choice(precision, PRECISIONS, "precision")


def sample_categorical(
    probs: torch.Tensor, generator: torch.Generator, precision: Precision = "float64"
) -> torch.Tensor:
    """Draw one index per row of ``probs`` (shape ``(..., V)``, rows summing to 1).

    Returns a long tensor of shape ``probs.shape[:-1]``. A row that is not a probability vector (a NaN,
    inf or negative entry, all zeros, or a sum off 1 by more than :data:`~sims.validation.LAW_ROW_ATOL`)
    raises :class:`~sims.validation.NumericalError` naming the row; it is never sampled. The check is
    one pass over ``probs`` and consumes no random numbers.
    """
    check_precision(precision)
    check_type(probs, torch.Tensor, "probs", "a torch.Tensor of probabilities")
    check_generator(generator)
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise InvalidArgumentError(f"probs must have shape (..., V) with V >= 1, got {tuple(probs.shape)}")
    if probs.dtype == torch.bool or probs.is_complex():
        raise InvalidTypeError(f"probs must hold real probabilities, got dtype {probs.dtype}")
    shape = probs.shape[:-1]
    flat = probs.reshape(-1, probs.shape[-1])
    if flat.shape[0] == 0:
        return torch.zeros(shape, dtype=torch.long, device=probs.device)
    check_prob_rows(probs if probs.dtype.is_floating_point else probs.double(), "probs")
    if precision == "float32_gumbel":
        p32 = flat.to(torch.float32)
        u = torch.rand(p32.shape, dtype=torch.float32, generator=generator, device=generator.device)
        u = u.to(p32.device)
        gumbel_norm = 1e-10 - torch.log(u + 1e-10)
        return (p32 / gumbel_norm).argmax(-1).reshape(shape)
    p64 = flat.to(torch.float64)
    cdf = torch.cumsum(p64, dim=-1)
    u = torch.rand((flat.shape[0], 1), dtype=torch.float64, generator=generator, device=generator.device)
    u = u.to(p64.device) * cdf[:, -1:]  # scale by the row total so rounding in the sum cannot bias
    idx = torch.searchsorted(cdf, u, right=True).squeeze(-1)
    overflow = idx >= p64.shape[-1]
    if bool(overflow.any()):
        last_positive = p64.shape[-1] - 1 - (p64.flip(-1) > 0).long().argmax(-1)
        idx = torch.where(overflow, last_positive, idx)
    return idx.reshape(shape)


def sample_from_log_probs(
    log_probs: torch.Tensor,
    generator: torch.Generator,
    precision: Precision = "float64",
    temperature: float = 1.0,
) -> torch.Tensor:
    r"""Sample from :math:`\propto p^{1/\tau}` given log-probabilities; ``temperature=0`` is argmax.

    Ties in the argmax are broken towards the lowest index (``torch.argmax`` semantics on CPU).

    ``temperature`` must be finite and >= 0. Every row of ``log_probs`` must be a log-probability vector
    (no NaN or +inf, logsumexp within :data:`~sims.validation.LAW_ROW_ATOL` of 0), and so must every
    tempered row: a temperature so small or large that a row over/underflows raises
    :class:`~sims.validation.NumericalError` instead of being sampled (or argmaxed) as a NaN row.
    """
    check_temperature(temperature)
    check_type(log_probs, torch.Tensor, "log_probs", "a torch.Tensor of log-probabilities")
    check_prob_rows(log_probs, "log_probs", log=True)
    if temperature == 0:
        return log_probs.argmax(-1)
    lp = log_probs.to(torch.float64)
    if temperature != 1.0:
        lp = torch.log_softmax(lp / temperature, dim=-1)
        check_prob_rows(
            lp,
            "log_probs",
            log=True,
            hint=f" after temperature {temperature!r} (it over/underflows this row)",
        )
    return sample_categorical(torch.exp(lp), generator, precision)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device`` (the only source of randomness in the suite)."""
    seed = check_int(seed, "seed", minimum=-(2**63), maximum=2**64 - 1)
    g = torch.Generator(device=check_device(device))
    g.manual_seed(int(seed))
    return g


def float32_gumbel_race_probability(weight: float) -> float:
    r"""Exact probability that a class of weight ``weight`` beats a class of weight 1 in the float32 race.

    The MDLM/SEDD race (``precision="float32_gumbel"``) draws :math:`u = k 2^{-24}` (float32 ``torch.rand``
    returns multiples of :math:`2^{-24}` on CPU), forms :math:`E = 10^{-10} - \log(u + 10^{-10})` in float32
    and picks the larger of :math:`w/E_1` and :math:`1/E_2`. Enumerating all :math:`2^{24}` values of
    :math:`E` gives the exact law of the emulated race; the exact (float64-limit) answer is :math:`w/(1+w)`.
    The ratio of the two measures the truncation bias (Zheng et al., arXiv 2409.02908): it is close to 1
    for :math:`w \gtrsim 10^{-5}` and collapses for :math:`w \lesssim 10^{-7}`.
    """

    check_real(weight, "weight", minimum=0.0, open_min=True)
    u = (np.arange(2**24, dtype=np.float64) * 2.0**-24).astype(np.float32)
    e = (np.float32(1e-10) - np.log(u + np.float32(1e-10))).astype(np.float32)  # decreasing in k
    w32 = np.float32(weight)
    # token wins iff w/E1 > 1/E2 (float32 division), i.e. E2 > E1 / w up to float32 rounding of the ratio
    lhs = (w32 / e).astype(np.float32)  # w / E1 for every E1
    rhs_sorted = np.sort((np.float32(1.0) / e).astype(np.float32))  # 1 / E2, ascending
    wins = np.searchsorted(rhs_sorted, lhs, side="left")  # number of E2 with 1/E2 < w/E1
    return float(wins.sum(dtype=np.float64) / float(2**48))
