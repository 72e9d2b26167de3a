"""One check for every kind of schedule (names, instances, callables, subclasses, per-position schedules)
at exactly the times a sampler will use; samplers call :func:`check_schedule_on_grid` once when built.

:meth:`~sims.schedules.Schedule.unmask_probability` and :meth:`~sims.schedules.Schedule.step_weights`
check the values again whenever they are used, so a schedule cannot pass here and misbehave later.
"""

from __future__ import annotations

import numpy as np
import torch

from sims.schedules.base import MultivariateSchedule, Schedule, as_numpy
from sims.schedules.lookup import get_schedule
from sims.validation import InvalidArgumentError, check_masked_fractions, check_time_grid

#: ``alpha(t)`` and ``1 - m(t)`` of one schedule must agree to this (closed forms that override
#: ``alpha`` for accuracy agree to ~1e-15; a larger gap means two different functions).
ALPHA_ATOL = 1e-9
#: The scalar and the array evaluation of m(t) must agree to this (they differ by rounding only).
PATH_ATOL = 1e-12


def check_schedule_on_grid(schedule, grid) -> Schedule | MultivariateSchedule:
    """Resolve ``schedule`` (:func:`~sims.schedules.get_schedule` spec, or a per-position schedule) and check
    it on ``grid`` (strictly decreasing times in [0, 1]): m(t) finite, in [0, 1], monotone, m(1) = 1 and
    m(0) = 0 where used, through both the array path (``step_weights``) and the scalar path
    (``unmask_probability``), and ``alpha(t) = 1 - m(t)``. Returns the resolved schedule."""
    times = check_time_grid(grid)
    grid_t = torch.as_tensor(times, dtype=torch.float64)
    if isinstance(schedule, MultivariateSchedule):
        schedule.step_weights(grid_t)
        return schedule
    sched = get_schedule(schedule)
    label = sched.label()
    m_vec = check_masked_fractions(as_numpy(sched.masked_fraction(grid_t)), times, label)
    m_pts = check_masked_fractions([float(sched.masked_fraction(float(t))) for t in times], times, label)
    gap = np.abs(m_vec.reshape(m_pts.shape) - m_pts)
    if gap.max() > PATH_ATOL:
        k = int(gap.argmax())
        raise InvalidArgumentError(
            f"{label}: m({float(times[k])!r}) is {float(m_pts[k])!r} for a float but "
            f"{float(m_vec.ravel()[k])!r} for an array"
        )
    alpha = np.array([float(sched.alpha(float(t))) for t in times])
    bad = ~(np.abs(alpha + m_pts - 1.0) <= ALPHA_ATOL)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise InvalidArgumentError(
            f"{label}: alpha({float(times[k])!r}) = {float(alpha[k])!r} but 1 - m(t) = {float(1 - m_pts[k])!r} "
            "(they must agree "
            f"to {ALPHA_ATOL})"
        )
    return sched
