"""The suite's error types and the one place its input rules live.

Every public entry point funnels what it is given (tables, token tensors, counts, temperatures,
probabilities, schedule values, devices, generators, file contents) through these checkers, so bad input
fails with an error that names the argument and the rule instead of turning into a silent NaN.

Error types (all subclass :class:`SuiteError` *and* the matching builtin, so ``except ValueError`` and
``pytest.raises(ValueError)`` keep working):

=============================  ===========================  ==================================================
type                           builtin bases                raised for
=============================  ===========================  ==================================================
:class:`InvalidArgumentError`  ``ValueError``               a value breaks a rule (range, shape, layout, choice)
:class:`InvalidTypeError`      ``ValueError, TypeError``    a value of the wrong type (str for an int, ...)
:class:`InvalidDistributionError` ``ValueError``            a table that should hold probability vectors
:class:`NumericalError`        ``ValueError``               a *computed* law is not a law (NaN output of a
                                                            network, a temperature that underflows)
:class:`SizeLimitError`        ``ValueError``               a problem too large for an exact method
:class:`SettingsMismatchError` ``ValueError``               resuming a result file with other settings
:class:`ImpossibleEvidenceError` ``ValueError``             revealed tokens of probability zero
:class:`CorruptFileError`      ``ValueError``               a file the suite reads is truncated or malformed
:class:`MissingFileError`      ``ValueError, FileNotFound``  a file the suite needs is absent
:class:`OutputLockedError`     ``RuntimeError``             another live process writes the same output
=============================  ===========================  ==================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

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

#: Masked fractions m(t) of a schedule may leave [0, 1], and fail to be monotone, by at most this much
#: (float64 rounding of closed forms; the values are then clamped exactly as before). Beyond it the
#: schedule is rejected: clamping would silently merge or skip steps.
SCHEDULE_ATOL = 1e-12


# ---- error types -------------------------------------------------------------------------------------
class SuiteError(Exception):
    """Base of every error the suite raises on purpose."""


class InvalidArgumentError(SuiteError, ValueError):
    """An argument breaks a rule (range, shape, layout, allowed values); the message names both."""


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (also a ``TypeError``)."""


class InvalidDistributionError(InvalidArgumentError):
    """A table that should hold probability vectors does not."""


class NumericalError(InvalidDistributionError):
    """A law computed at run time is not a probability vector (NaN/inf/negative/zero row): never sampled."""


class SizeLimitError(InvalidArgumentError):
    """The problem is too large for an exact (enumerating) method."""


class SettingsMismatchError(InvalidArgumentError):
    """A result file was written with other settings than the ones it is resumed with."""


class ImpossibleEvidenceError(SuiteError, ValueError):
    """The revealed tokens have probability zero under the language, so no posterior exists."""


class CorruptFileError(SuiteError, ValueError):
    """A file the suite reads is truncated, malformed or of the wrong kind; ``path`` names it."""

    def __init__(self, path, message: str):
        self.path = Path(path)
        super().__init__(message)


class MissingFileError(CorruptFileError, FileNotFoundError):
    """A file the suite needs does not exist (or cannot be read)."""


class OutputLockedError(SuiteError, RuntimeError):
    """Another live process holds the lock of the same output file or directory."""


# ---- types, choices, scalars -------------------------------------------------------------------------
def _type_name(value) -> str:
    return type(value).__name__


def check_type(value, types, name: str, what: str | None = None):
    """Return ``value`` if it is an instance of ``types``; else :class:`InvalidTypeError`."""
    if not isinstance(value, types):
        expected = what or " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise InvalidTypeError(f"{name} must be {expected}, got {_type_name(value)} {value!r:.80}")
    return value


def check_choice(value, choices: Sequence, name: str):
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, (str, int, float, bool, type(None))) or value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {tuple(choices)}, got {value!r:.80}")
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be True or False, got {_type_name(value)} {value!r:.80}")
    return bool(value)


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int (Python or numpy integer, not bool) within ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(f"{name} must be an integer, got {_type_name(value)} {value!r:.80}")
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, requiring ``value >= minimum``."""
    return check_int(value, name, minimum=minimum)


def check_real(
    value,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_min: bool = False,
    open_max: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float: a real number (not bool, not NaN, finite unless ``allow_inf``) in the
    interval given by ``minimum``/``maximum`` (closed unless ``open_min``/``open_max``)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidTypeError(f"{name} must be a real number, got {_type_name(value)} {value!r:.80}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise InvalidArgumentError(f"{name} must be a finite number, got {v}")
    if minimum is not None and (v <= minimum if open_min else v < minimum):
        raise InvalidArgumentError(f"{name} must be {'>' if open_min else '>='} {minimum}, got {v}")
    if maximum is not None and (v >= maximum if open_max else v > maximum):
        raise InvalidArgumentError(f"{name} must be {'<' if open_max else '<='} {maximum}, got {v}")
    return v


def check_probability(value, name: str) -> float:
    """A probability: a finite real number in [0, 1]."""
    return check_real(value, name, minimum=0.0, maximum=1.0)


def check_temperature(value, name: str = "temperature", *, allow_zero: bool = True) -> float:
    """A sampling temperature: finite and > 0 (or 0 = argmax when ``allow_zero``); inf and NaN are rejected
    (they turn every row into NaN)."""
    return check_real(value, name, minimum=0.0, open_min=not allow_zero)


# ---- tensors: dtypes, devices, generators ------------------------------------------------------------
def check_dtype(tensor, dtypes, name: str) -> torch.Tensor:
    """Require a tensor of one of ``dtypes`` (a dtype or a tuple of dtypes)."""
    check_type(tensor, torch.Tensor, name, "a torch.Tensor")
    allowed = dtypes if isinstance(dtypes, tuple) else (dtypes,)
    if tensor.dtype not in allowed:
        raise InvalidTypeError(f"{name} must have dtype {' or '.join(map(str, allowed))}, got {tensor.dtype}")
    return tensor


def check_device(device, name: str = "device") -> torch.device:
    """A usable ``torch.device``: a valid name, and for CUDA a present device of that index."""
    if not isinstance(device, (str, torch.device)):
        raise InvalidTypeError(f"{name} must be a device name such as 'cpu' or 'cuda', got {device!r:.80}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name}: {device!r} is not a device name ({exc})") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgumentError(f"{name}={device!r} but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"{name}={device!r} but only {torch.cuda.device_count()} CUDA device(s) are present"
            )
    elif dev.type not in ("cpu", "meta") and not _backend_available(dev.type):
        raise InvalidArgumentError(f"{name}={device!r}: the {dev.type} backend is not available")
    return dev


def _backend_available(kind: str) -> bool:
    mod = getattr(torch, kind, None) or getattr(torch.backends, kind, None)
    return bool(mod is not None and getattr(mod, "is_available", lambda: False)())


def check_generator(generator, name: str = "generator") -> torch.Generator:
    """The suite's only source of randomness: a ``torch.Generator`` (see ``sims.make_generator``)."""
    if not isinstance(generator, torch.Generator):
        raise InvalidTypeError(
            f"{name} must be a torch.Generator (use sims.make_generator(seed)), got {_type_name(generator)}"
        )
    return generator


def check_enumeration_size(vocab_size: int, length: int, limit: int, what: str = "enumeration") -> int:
    """``V**L`` for an exact method that enumerates all sequences; :class:`SizeLimitError` above ``limit``."""
    V = check_int(vocab_size, "vocab_size", minimum=1)
    L = check_int(length, "length", minimum=1)
    if V**L > limit:
        raise SizeLimitError(
            f"{what} enumerates V**L = {V}**{L} sequences, above the limit {limit}; use a smaller "
            "vocabulary or length (or a Monte Carlo method)"
        )
    return V**L


# ---- probability tables (user input) -----------------------------------------------------------------
def as_float64(x, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert ``x`` to a float64 tensor, rejecting non-numeric input."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool or x.is_complex():
            raise InvalidTypeError(f"{name}: expected real numbers, got a tensor of dtype {x.dtype}")
        t = x.detach().to(dtype=torch.float64)
    else:
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise InvalidTypeError(f"{name}: expected an array of numbers, got {_type_name(x)}")
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


# ---- tokens ------------------------------------------------------------------------------------------
def check_tokens(
    tokens, vocab_size: int, *, allow_mask: bool, name: str = "tokens", length: int | None = None
) -> torch.Tensor:
    """Validate a (batch, length) integer tensor of token ids.

    Real tokens are ``0..vocab_size-1``; the mask id is ``vocab_size`` and is accepted only when
    ``allow_mask``.
    """
    if not isinstance(tokens, torch.Tensor):
        if isinstance(tokens, (str, bytes, dict, set)) or tokens is None:
            raise InvalidTypeError(
                f"{name} must be a (batch, length) integer tensor, got {_type_name(tokens)}"
            )
        try:
            tokens = torch.as_tensor(tokens)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidTypeError(f"{name}: cannot convert to an integer tensor ({exc})") from exc
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.is_complex():
        raise InvalidTypeError(f"{name} must be an integer tensor, got dtype {tokens.dtype}")
    if tokens.ndim != 2:
        raise InvalidArgumentError(f"{name} must have shape (batch, length), got {tuple(tokens.shape)}")
    if length is not None and tokens.shape[1] != length:
        raise InvalidArgumentError(f"{name}: expected length {length}, got {tokens.shape[1]}")
    hi = vocab_size if allow_mask else vocab_size - 1
    if tokens.numel() and (tokens.min() < 0 or tokens.max() > hi):
        what = f"0..{vocab_size - 1} or the mask id {vocab_size}" if allow_mask else f"0..{vocab_size - 1}"
        raise InvalidArgumentError(
            f"{name}: token ids must lie in {what}; found range [{int(tokens.min())}, {int(tokens.max())}]"
        )
    return tokens.long()


# ---- schedules and time grids ------------------------------------------------------------------------
def check_time_grid(grid, name: str = "grid") -> np.ndarray:
    """A sampler time grid: 1-D, at least two points, finite, in [0, 1], strictly decreasing."""
    arr = np.asarray(grid.detach().cpu() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise InvalidArgumentError(f"{name} must be a 1-D grid of at least 2 times, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise InvalidArgumentError(
            f"{name}: times must be finite and lie in [0, 1], got {arr.tolist()!r:.200}"
        )
    if np.any(np.diff(arr) >= 0):
        raise InvalidArgumentError(f"{name}: times must decrease strictly (t=1 masked -> t=0 clean)")
    return arr


def check_masked_fractions(values, times, name: str) -> np.ndarray:
    """Masked fractions ``m(t)`` of a schedule at ``times`` (shape ``times.shape`` or ``times.shape + (L,)``
    for per-position schedules): finite, in [0, 1], non-increasing as t decreases, ``m(1) = 1`` and
    ``m(0) = 0`` where those times occur, each within :data:`SCHEDULE_ATOL`. The error names the schedule,
    the time and the value. Returns the values as a float64 array."""
    m = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    t = np.asarray(times.detach().cpu() if isinstance(times, torch.Tensor) else times, dtype=np.float64)
    if m.shape[: t.ndim] != t.shape:
        raise InvalidArgumentError(f"{name}: m(t) has shape {m.shape} at times of shape {t.shape}")
    flat_t = t.reshape(-1)
    flat_m = m.reshape(flat_t.size, -1)

    def show(row):
        return repr(float(row[0])) if row.size == 1 else repr(row.tolist())

    for i in range(flat_m.shape[0]):
        row, ti = flat_m[i], float(flat_t[i])
        if not np.all(np.isfinite(row)):
            raise InvalidArgumentError(f"{name}: m(t) = {show(row)} is not finite at t = {ti!r}")
        if row.min() < -SCHEDULE_ATOL or row.max() > 1 + SCHEDULE_ATOL:
            raise InvalidArgumentError(
                f"{name}: m(t) = {show(row)} leaves [0, 1] at t = {ti!r} (alpha(t) = 1 - m(t) must be a "
                "probability)"
            )
        for end, want in ((1.0, 1.0), (0.0, 0.0)):
            if ti == end and np.abs(row - want).max() > SCHEDULE_ATOL:
                raise InvalidArgumentError(
                    f"{name}: m({end:g}) = {show(row)}, but a schedule has every token masked at t = 1 "
                    "(m(1) = 1) and none at t = 0 (m(0) = 0)"
                )
    if flat_t.size > 1:
        order = np.argsort(-flat_t, kind="stable")
        ms, ts = flat_m[order], flat_t[order]
        rise = (ms[1:] - ms[:-1] > SCHEDULE_ATOL).any(-1)  # m must not increase as t decreases
        if rise.any():
            k = int(np.argwhere(rise)[0][0])
            raise InvalidArgumentError(
                f"{name}: the masked fraction is not monotone: m({float(ts[k + 1])!r}) = {show(ms[k + 1])} > "
                f"m({float(ts[k])!r}) = {show(ms[k])} (alpha(t) must be non-increasing in t)"
            )
    return m
