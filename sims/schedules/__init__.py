"""Masking schedules alpha(t), both time conventions, per-position schedules and sampler time grids.

The conventions and every formula with its source are in :mod:`sims.schedules.base`. Front door::

    from sims.schedules import get_schedule, time_grid
    sched = get_schedule("cosine")          # or "linear", "poly2", "beta:0.9,0.3", a Schedule, a callable
    sched.alpha(0.5), sched.unmask_probability(0.5, 0.25), time_grid(8)
"""

from sims.schedules.base import (
    FD_STEP,
    TIME_CONVENTIONS,
    MultivariateSchedule,
    Schedule,
    convert_time,
    ep_to_mdlm_time,
    mdlm_to_ep_time,
    time_grid,
    to_flow_matching_time,
)
from sims.schedules.check import check_schedule_on_grid
from sims.schedules.closed_form import (
    BetaCDFSchedule,
    CosineMDLMSchedule,
    CosineSchedule,
    LinearSchedule,
    PolynomialSchedule,
    SineSquaredSchedule,
)
from sims.schedules.custom import EnergyPaperSchedule, FunctionSchedule, SympySchedule
from sims.schedules.lookup import SCHEDULES, ComposedSchedule, get_schedule
from sims.schedules.per_position import PerPositionSchedule, PowerPerPositionSchedule

__all__ = [
    "FD_STEP",
    "SCHEDULES",
    "TIME_CONVENTIONS",
    "BetaCDFSchedule",
    "ComposedSchedule",
    "CosineMDLMSchedule",
    "CosineSchedule",
    "EnergyPaperSchedule",
    "FunctionSchedule",
    "LinearSchedule",
    "MultivariateSchedule",
    "PerPositionSchedule",
    "PolynomialSchedule",
    "PowerPerPositionSchedule",
    "Schedule",
    "SineSquaredSchedule",
    "SympySchedule",
    "check_schedule_on_grid",
    "convert_time",
    "ep_to_mdlm_time",
    "get_schedule",
    "mdlm_to_ep_time",
    "time_grid",
    "to_flow_matching_time",
]
