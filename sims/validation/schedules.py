"""Checkers of schedules' values at the times a sampler uses and of sampler time grids."""

from __future__ import annotations

import numpy as np
import torch

from sims.validation.errors import InvalidArgumentError

#: Masked fractions m(t) of a schedule may leave [0, 1], and fail to be monotone, by at most this much
#: (float64 rounding of closed forms; the values are then clamped exactly as before). Beyond it the
#: schedule is rejected: clamping would silently merge or skip steps.
SCHEDULE_ATOL = 1e-12


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
