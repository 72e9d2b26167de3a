"""Checkers of single values and of token tensors: types, choices, integers, reals, probabilities,
temperatures, dtypes, devices, generators, enumeration sizes and token ids."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from sims.validation.errors import InvalidArgumentError, InvalidTypeError, SizeLimitError


# ---- types, choices, scalars -------------------------------------------------------------------------
def type_name(value) -> str:
    return type(value).__name__


def check_type(value, types, name: str, what: str | None = None):
    """Return ``value`` if it is an instance of ``types``; else :class:`InvalidTypeError`."""
    if not isinstance(value, types):
        expected = what or " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise InvalidTypeError(f"{name} must be {expected}, got {type_name(value)} {value!r:.80}")
    return value


def check_choice(value, choices: Sequence, name: str):
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, (str, int, float, bool, type(None))) or value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {tuple(choices)}, got {value!r:.80}")
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be True or False, got {type_name(value)} {value!r:.80}")
    return bool(value)


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int (Python, numpy or one-element torch integer, not bool) within
    ``[minimum, maximum]``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_floating_point:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(f"{name} must be an integer, got {type_name(value)} {value!r:.80}")
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, requiring ``value >= minimum``."""
    return check_int(value, name, minimum=minimum)


def check_optional_positive_int(value, name: str, minimum: int = 1) -> int | None:
    """``None`` (the option is off), or ``value`` as an int ``>= minimum``."""
    return None if value is None else check_positive_int(value, name, minimum)


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
        raise InvalidTypeError(f"{name} must be a real number, got {type_name(value)} {value!r:.80}")
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
            f"{name} must be a torch.Generator (use sims.make_generator(seed)), got {type_name(generator)}"
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
                f"{name} must be a (batch, length) integer tensor, got {type_name(tokens)}"
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
