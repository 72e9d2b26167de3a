"""Input validation with errors that say exactly what is wrong.

Every public entry point of the suite funnels user-supplied tables, token tensors and step counts
through these helpers, so that bad input fails loudly instead of turning into a silent NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: Row sums of user-supplied stochastic tables must be within this distance of 1 (then they are
#: renormalised exactly, which only removes rounding noise).
ROW_SUM_ATOL = 1e-9


class InvalidDistributionError(ValueError):
    """A table that should hold probability vectors does not."""


class ImpossibleEvidenceError(ValueError):
    """The revealed tokens have probability zero under the language, so no posterior exists."""


def as_float64(x, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert ``x`` to a float64 tensor, rejecting non-numeric input."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to(dtype=torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise InvalidDistributionError(f"{name}: cannot convert to a float64 array ({exc})") from exc
    if device is not None:
        t = t.to(device)
    return t


def check_stochastic(
    x, name: str, shape: Sequence[int] | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Validate that the last axis of ``x`` holds probability vectors and return it as float64.

    Checks, in order: the shape (if given), finiteness (no NaN/inf), non-negativity, and row sums
    equal to 1 within :data:`ROW_SUM_ATOL`. The error names the first offending row. Rows that pass are
    divided by their sum so that they sum to 1 to float64 rounding.
    """
    t = as_float64(x, name, device)
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise InvalidDistributionError(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.ndim == 0:
        raise InvalidDistributionError(f"{name}: expected at least one axis, got a scalar")
    if t.shape[-1] == 0:
        raise InvalidDistributionError(f"{name}: the probability axis is empty")
    bad = ~torch.isfinite(t)
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise InvalidDistributionError(f"{name}: non-finite entry {t[idx].item()} at index {idx}")
    neg = t < 0
    if neg.any():
        idx = tuple(int(i) for i in neg.nonzero()[0])
        raise InvalidDistributionError(f"{name}: negative probability {t[idx].item()} at index {idx}")
    sums = t.sum(-1)
    off = (sums - 1.0).abs() > ROW_SUM_ATOL
    if off.any():
        idx = tuple(int(i) for i in off.nonzero()[0])
        row = "row " + str(idx) if idx else "the vector"
        raise InvalidDistributionError(
            f"{name}: {row} sums to {sums[idx].item()!r}, not 1 (tolerance {ROW_SUM_ATOL})"
        )
    return t / sums.unsqueeze(-1)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, requiring ``value >= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_tokens(
    tokens, vocab_size: int, *, allow_mask: bool, name: str = "tokens", length: int | None = None
) -> torch.Tensor:
    """Validate a (batch, length) integer tensor of token ids.

    Real tokens are ``0..vocab_size-1``; the mask id is ``vocab_size`` and is accepted only when
    ``allow_mask``.
    """
    if not isinstance(tokens, torch.Tensor):
        tokens = torch.as_tensor(tokens)
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.is_complex():
        raise ValueError(f"{name} must be an integer tensor, got dtype {tokens.dtype}")
    if tokens.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, length), got {tuple(tokens.shape)}")
    if length is not None and tokens.shape[1] != length:
        raise ValueError(f"{name}: expected length {length}, got {tokens.shape[1]}")
    hi = vocab_size if allow_mask else vocab_size - 1
    if tokens.numel() and (tokens.min() < 0 or tokens.max() > hi):
        what = f"0..{vocab_size - 1} or the mask id {vocab_size}" if allow_mask else f"0..{vocab_size - 1}"
        raise ValueError(
            f"{name}: token ids must lie in {what}; found range [{int(tokens.min())}, {int(tokens.max())}]"
        )
    return tokens.long()
