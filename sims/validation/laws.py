"""Checkers of probability laws: user-supplied stochastic tables (strict, renormalised to rounding) and
laws computed at run time (denoiser outputs, rows handed to the categorical sampler), which are never
sampled when they are not laws."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from sims.validation.errors import (
    InvalidArgumentError,
    InvalidDistributionError,
    InvalidTypeError,
    NumericalError,
)
from sims.validation.values import check_device, check_dtype, check_type, type_name

#: Row sums of user-supplied stochastic tables must be within this distance of 1 (then they are
#: renormalised exactly, which only removes rounding noise).
ROW_SUM_ATOL = 1e-9

#: Rows of *computed* laws (denoiser outputs, rows handed to the categorical sampler) must sum to 1
#: within this distance. Why 1e-4: float64 rows are off by ~V * 1e-16; the float32/tf32 oracle engines
#: round each of the <= S + V terms of a row once (2^-24 relative), measured <= 3e-7 (S <= 256, V <= 32),
#: worst case (S + V) 2^-24 < 1e-4 for S + V <= 1600. Every admitted row is drawn from row / row-sum, so
#: an admitted deviation never biases a draw; what the check exists for (NaN, inf, negative or all-zero
#: rows, unnormalised logits, a tempered row not renormalised, a dropped class) is off by far more.
LAW_ROW_ATOL = 1e-4


# ---- probability tables (user input) -----------------------------------------------------------------
def as_float64(x, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert ``x`` to a float64 tensor, rejecting non-numeric input."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool or x.is_complex():
            raise InvalidTypeError(f"{name}: expected real numbers, got a tensor of dtype {x.dtype}")
        t = x.detach().to(dtype=torch.float64)
    else:
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise InvalidTypeError(f"{name}: expected an array of numbers, got {type_name(x)}")
        try:
            arr = np.asarray(x)
            if arr.dtype == bool or arr.dtype.kind not in "iuf":
                raise TypeError(f"dtype {arr.dtype}")
            t = torch.as_tensor(arr.astype(np.float64))
        except (TypeError, ValueError) as exc:
            raise InvalidDistributionError(f"{name}: cannot convert to a float64 array ({exc})") from exc
    if device is not None:
        t = t.to(check_device(device))
    return t


def check_stochastic(
    x,
    name: str,
    shape: Sequence[int] | None = None,
    device: torch.device | str | None = None,
    layout: str | None = None,
) -> torch.Tensor:
    """Validate that the last axis of ``x`` holds probability vectors and return it as float64.

    Checks, in order: the shape (if given; ``layout`` names the axes in the message), finiteness,
    non-negativity, and row sums equal to 1 within :data:`ROW_SUM_ATOL`. The error names the first
    offending row. Rows that pass are divided by their sum so that they sum to 1 to float64 rounding.
    """
    t = as_float64(x, name, device)
    if shape is not None and tuple(t.shape) != tuple(shape):
        hint = f" (layout {layout})" if layout else ""
        raise InvalidDistributionError(f"{name}: expected shape {tuple(shape)}{hint}, got {tuple(t.shape)}")
    if t.ndim == 0:
        raise InvalidDistributionError(f"{name}: expected at least one axis, got a scalar")
    if t.shape[-1] == 0 or t.numel() == 0:
        raise InvalidDistributionError(f"{name}: the table is empty (shape {tuple(t.shape)})")
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
        hint = ""
        if t.ndim == 2 and bool(((t.sum(0) - 1.0).abs() <= ROW_SUM_ATOL).all()):
            hint = "; its columns sum to 1: is it transposed?" + (f" (layout {layout})" if layout else "")
        raise InvalidDistributionError(
            f"{name}: {row} sums to {sums[idx].item()!r}, not 1 (tolerance {ROW_SUM_ATOL}){hint}"
        )
    return t / sums.unsqueeze(-1)


# ---- computed laws (run time) ------------------------------------------------------------------------
def invalid_prob_rows(probs: torch.Tensor, atol: float = LAW_ROW_ATOL) -> torch.Tensor:
    """Bool mask over the rows (all axes but the last) of ``probs`` that are not probability vectors:
    a NaN, inf or negative entry, or a sum off 1 by more than ``atol`` (all-zero rows included).
    One pass over the entries; samplers use it to flag rows instead of raising."""
    return ~((probs >= 0).all(-1) & ((probs.sum(-1) - 1.0).abs() <= atol))


def invalid_log_prob_rows(log_probs: torch.Tensor, atol: float = LAW_ROW_ATOL) -> torch.Tensor:
    """Like :func:`invalid_prob_rows` for log-probabilities: NaN or +inf entries, or
    ``|logsumexp(row)| > atol`` (an all ``-inf`` row is a zero row). One logsumexp pass."""
    return ~(torch.logsumexp(log_probs, -1).abs() <= atol)


def _describe_row(values: torch.Tensor, log: bool) -> str:
    v = values.detach().double().cpu()
    if bool(torch.isnan(v).any()):
        return "contains NaN"
    if bool((v == math.inf).any()):
        return "contains +inf"
    if not log and bool((v < 0).any()):
        return f"has a negative entry {float(v.min())!r}"
    if not log and bool(torch.isinf(v).any()):
        return "contains -inf"
    total = float(torch.logsumexp(v, 0).exp()) if log else float(v.sum())
    return "is all zero" if total == 0 else f"sums to {total!r}, not 1 (tolerance {LAW_ROW_ATOL})"


def check_prob_rows(probs: torch.Tensor, name: str, *, log: bool = False, hint: str = "") -> torch.Tensor:
    """Raise :class:`NumericalError` naming the first row of ``probs`` (or log-probabilities when ``log``)
    that is not a probability vector (see :func:`invalid_prob_rows`); return ``probs`` unchanged."""
    check_type(probs, torch.Tensor, name, "a torch.Tensor")
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise InvalidArgumentError(
            f"{name}: expected rows of probabilities (..., V), got {tuple(probs.shape)}"
        )
    if not probs.dtype.is_floating_point:
        raise InvalidTypeError(f"{name} must be a floating-point tensor, got dtype {probs.dtype}")
    bad = invalid_log_prob_rows(probs) if log else invalid_prob_rows(probs)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        n = int(bad.sum())
        raise NumericalError(
            f"{name}: row {idx} {_describe_row(probs[idx], log)} ({n} bad row{'s' * (n > 1)} of "
            f"{bad.numel()}); it is not a probability vector and is not sampled{hint}"
        )
    return probs


def check_denoiser_output(
    log_probs, impossible, batch: int, length: int, vocab_size: int, name: str = "denoiser output"
) -> None:
    """The contract of a denoiser output: ``log_probs`` float64 ``(B, L, V)`` whose every row is a log
    probability vector (no NaN, no +inf, ``logsumexp`` within :data:`LAW_ROW_ATOL` of 0) and
    ``impossible`` bool ``(B,)``. Cost: one logsumexp over the B*L*V entries (about one ``exp`` of the
    output) and one device sync."""
    check_dtype(log_probs, torch.float64, f"{name}: log_probs")
    if tuple(log_probs.shape) != (batch, length, vocab_size):
        raise InvalidArgumentError(
            f"{name}: log_probs must have shape (batch, length, V) = {(batch, length, vocab_size)}, "
            f"got {tuple(log_probs.shape)}"
        )
    check_dtype(impossible, torch.bool, f"{name}: impossible")
    if tuple(impossible.shape) != (batch,):
        raise InvalidArgumentError(
            f"{name}: impossible must have shape ({batch},), got {tuple(impossible.shape)}"
        )
    check_prob_rows(log_probs, f"{name}: log_probs", log=True, hint=" (a diverged network or corrupt cache?)")
