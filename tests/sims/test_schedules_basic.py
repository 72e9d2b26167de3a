"""Schedules as used by the samplers: endpoints, telescoping reveal probabilities, inverses, validation."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sims.schedules import FunctionSchedule, PolynomialSchedule, get_schedule, time_grid

NAMES = ["linear", "cosine", "cosine_mdlm", "poly2", "poly0.5"]


@pytest.mark.parametrize("name", NAMES)
def test_endpoints_and_monotonicity(name):
    s = get_schedule(name)
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    a = s.alpha(t)
    assert float(a[0]) == pytest.approx(1.0, abs=1e-15) and float(a[-1]) == pytest.approx(0.0, abs=1e-15)
    assert torch.all(a[1:] <= a[:-1] + 1e-15)


@pytest.mark.parametrize("name", NAMES)
@given(K=st.integers(1, 50))
def test_reveal_probabilities_telescope(name, K):
    """prod_k (1 - p_k) = m(t_K)/m(t_0) = 0 on a grid ending at 0, and the step weights sum to 1."""
    s = get_schedule(name)
    grid = time_grid(K)
    probs = [s.unmask_probability(float(grid[k]), float(grid[k + 1])) for k in range(K)]
    assert probs[-1] == 1.0
    stay = 1.0
    for k, p in enumerate(probs):
        stay *= 1 - p
        assert stay == pytest.approx(float(s.masked_fraction(grid[k + 1])), abs=1e-12)
    w = s.step_weights(grid)
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12) and torch.all(w >= 0)


@pytest.mark.parametrize("name", NAMES)
def test_inverse_of_masked_fraction(name):
    s = get_schedule(name)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    back = s.time_of_masked_fraction(torch.as_tensor(s.masked_fraction(t), dtype=torch.float64))
    assert torch.allclose(back, t, atol=1e-9)


def test_formulas():
    t = 0.3
    assert get_schedule("cosine").alpha(t) == pytest.approx(1 - math.sin(math.pi * t / 2))
    assert get_schedule("cosine_mdlm").alpha(t) == pytest.approx(math.cos(math.pi * t / 2))
    assert PolynomialSchedule(3.0).alpha(t) == pytest.approx(1 - t**3)


def test_callable_schedule_and_validation():
    s = get_schedule(lambda t: (1 - t) ** 2)
    assert s.unmask_probability(1.0, 0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="alpha\\(0\\)=1"):
        FunctionSchedule(lambda t: 0.5 * (1 - t))
    with pytest.raises(ValueError, match="non-increasing"):
        FunctionSchedule(lambda t: 1 - t + 0.5 * math.sin(6 * math.pi * t))
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("sigmoid")
    with pytest.raises(ValueError, match="steps"):
        time_grid(0)
