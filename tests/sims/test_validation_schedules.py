"""Schedules are checked at the time points actually used, whatever their kind (name, callable, sympy,
energy-paper callable, subclass, per-position), and cannot skip the check."""

import math

import pytest
import sympy
import torch

from sims import AncestralSampler
from sims.schedules import (
    FunctionSchedule,
    PerPositionSchedule,
    PolynomialSchedule,
    PowerPerPositionSchedule,
    Schedule,
    SympySchedule,
    check_schedule_on_grid,
    get_schedule,
    time_grid,
)
from sims.validation import InvalidArgumentError, InvalidTypeError

OFF_GRID = 0.1234  # not on the 1001-point construction grid, but on the sampler's grid below
GRID = torch.tensor([1.0, 0.5, OFF_GRID, 0.0], dtype=torch.float64)


def nan_at_off_grid(t):
    return math.nan if abs(t - OFF_GRID) < 1e-12 else 1 - t


def bump_at_off_grid(t):  # alpha rises again at OFF_GRID: m is not monotone there
    return 0.2 if abs(t - OFF_GRID) < 1e-12 else 1 - t


@pytest.mark.parametrize("fn, msg", [(nan_at_off_grid, "not finite"), (bump_at_off_grid, "not monotone")])
def test_callable_bad_only_at_the_samplers_points_is_caught_there(fn, msg):
    s = get_schedule(fn)  # passes the fixed-grid construction check
    with pytest.raises(InvalidArgumentError, match=msg):
        s.unmask_probability(0.5, OFF_GRID)
    with pytest.raises(InvalidArgumentError, match=msg):
        s.step_weights(GRID)
    with pytest.raises(InvalidArgumentError, match=msg):
        check_schedule_on_grid(fn, GRID)


def test_a_nan_schedule_no_longer_turns_a_k_step_sampler_into_a_one_step_one():
    """NaN at 1/7 only (off the 1001-point construction grid, on the K = 7 sampler grid): the old clamp
    turned the unmask probability there into 0 and the next into 1 without a word; now the sampler
    refuses the schedule when it computes its reveal probabilities."""

    def alpha(t):
        return math.nan if abs(t - 1 / 7) < 1e-12 else 1 - t

    FunctionSchedule(alpha)  # the construction check cannot see it
    with pytest.raises(InvalidArgumentError, match=r"not finite at t = 0.142857"):
        AncestralSampler(7, schedule=alpha)


class MissingEnd(Schedule):
    """m(0) = 0.1: a 'reveal everything at the last step' sampler would leave tokens masked."""

    name = "missing_end"

    def masked_fraction(self, t):
        return 0.1 + 0.9 * t


def test_subclass_with_wrong_endpoints_is_caught():
    with pytest.raises(InvalidArgumentError, match=r"m\(0\) = 0.1"):
        MissingEnd().step_weights(time_grid(4))
    with pytest.raises(InvalidArgumentError, match=r"m\(0\) = 0.1"):
        MissingEnd().unmask_probability(0.25, 0.0)
    with pytest.raises(InvalidArgumentError, match=r"m\(0\) = 0.1"):
        check_schedule_on_grid(MissingEnd(), time_grid(4))


def test_subclasses_cannot_override_the_checked_methods():
    with pytest.raises(InvalidTypeError, match=r"overrides Schedule.unmask_probability"):

        class Skips(Schedule):
            def unmask_probability(self, t, s):
                return 1.0

    with pytest.raises(InvalidTypeError, match=r"overrides Schedule.step_weights"):

        class Skips2(Schedule):
            def step_weights(self, grid):
                return grid


def test_overridden_inverse_is_checked():
    class BadInverse(Schedule):
        def masked_fraction(self, t):
            return t

        def time_of_masked_fraction(self, m):
            return torch.as_tensor(m, dtype=torch.float64) * 2

    with pytest.raises(InvalidArgumentError, match="time_of_masked_fraction returned times outside"):
        BadInverse().time_of_masked_fraction(torch.tensor([0.9]))


def test_alpha_inconsistent_with_masked_fraction_is_caught():
    class TwoFunctions(Schedule):
        def masked_fraction(self, t):
            return t

        def alpha(self, t):
            return 1 - t**2

    with pytest.raises(InvalidArgumentError, match=r"alpha\(0.75\) = 0.4375 but 1 - m\(t\) = 0.25"):
        check_schedule_on_grid(TwoFunctions(), time_grid(4))


@pytest.mark.parametrize(
    "spec", ["linear", "cosine", "cosine_mdlm", "sin2", "poly2", "poly0.5", "beta:0.9,0.3"]
)
@pytest.mark.parametrize("steps, t_min", [(1, 0.0), (16, 0.0), (7, 1e-3)])
def test_every_named_schedule_passes_on_sampler_grids(spec, steps, t_min):
    s = check_schedule_on_grid(spec, time_grid(steps, t_min))
    w = s.step_weights(time_grid(steps, t_min))
    assert torch.all(w >= -1e-12) and float(w.sum()) <= 1 + 1e-12


def test_sympy_and_per_position_schedules_go_through_the_same_check():
    T = sympy.Symbol("t")
    check_schedule_on_grid(SympySchedule(T**2, T), time_grid(5))
    pp = PowerPerPositionSchedule([1.0, 2.0, 0.5])
    assert check_schedule_on_grid(pp, time_grid(5)) is pp
    assert pp.step_weights(time_grid(5)).shape == (5, 3)
    with pytest.raises(InvalidArgumentError, match="per-position schedule"):
        PerPositionSchedule([MissingEnd()]).step_weights(time_grid(3))
    with pytest.raises(InvalidArgumentError, match="decrease strictly"):
        pp.step_weights(torch.tensor([0.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize(
    "spec, err, match",
    [
        ("polyinf", InvalidArgumentError, "exponent must be a finite number"),
        ("polyabc", InvalidArgumentError, "must look like 'poly2'"),
        ("poly-1", InvalidArgumentError, "exponent must be > 0"),
        ("beta:1,inf", InvalidArgumentError, "Beta parameter b must be a finite number"),
        (3, InvalidTypeError, "schedule must be a name, a Schedule or a callable"),
        (None, InvalidTypeError, "schedule must be a name"),
    ],
)
def test_bad_schedule_specs(spec, err, match):
    with pytest.raises(err, match=match):
        get_schedule(spec)


def test_bad_callables_and_arguments():
    with pytest.raises(InvalidArgumentError, match="returned a non-number"):
        FunctionSchedule(lambda t: "one")
    with pytest.raises(InvalidArgumentError, match="must be callable"):
        FunctionSchedule(0.5)
    with pytest.raises(InvalidArgumentError, match="s <= t"):
        get_schedule("linear").unmask_probability(0.2, 0.5)
    with pytest.raises(InvalidArgumentError, match="t must be a finite number"):
        get_schedule("linear").unmask_probability(math.nan, 0.0)
    with pytest.raises(InvalidTypeError, match="t must be a sympy Symbol"):
        SympySchedule("t**2", "t")
    with pytest.raises(InvalidArgumentError, match="free symbols"):
        SympySchedule(sympy.Symbol("t") * sympy.Symbol("a"), sympy.Symbol("t"))
    with pytest.raises(InvalidTypeError, match="weights must be a sequence"):
        PowerPerPositionSchedule("12")
    with pytest.raises(InvalidArgumentError, match="t_min must be < 1"):
        time_grid(4, 1.0)
    with pytest.raises(InvalidTypeError, match="steps must be an integer"):
        time_grid(4.0)


def test_valid_values_are_unchanged_by_the_checks():
    s = PolynomialSchedule(2)
    assert s.unmask_probability(1.0, 0.5) == 0.75
    g = time_grid(4)
    assert torch.equal(s.step_weights(g), g[:-1] ** 2 - g[1:] ** 2)
