r"""Per-position (multivariate) schedules: one :math:`\alpha_{t,l}` per position (Garg et al., arXiv 2511.19152)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sims.schedules.base import TIME_CONVENTIONS, MultivariateSchedule, as_numpy, check_unit_interval
from sims.schedules.closed_form import PolynomialSchedule
from sims.schedules.lookup import get_schedule
from sims.validation import (
    InvalidArgumentError,
    InvalidTypeError,
    check_int,
    check_masked_fractions,
    check_real,
    check_time_grid,
)


# ---- per-position (multivariate) schedules ------------------------------------------------------------
class PerPositionSchedule(MultivariateSchedule):
    r"""One schedule per position, :math:`\alpha_{t,l}` (Garg et al. arXiv 2511.19152, Sec. 3 and Eq. 8).

    The forward process stays independent across positions; position l is masked at time t with probability
    :math:`m_l(t)`, and its masking time has CDF :math:`m_l` (Prop. 3.2 / Cor. 3.1). Array methods return
    shape ``t.shape + (L,)`` (numpy, float64).
    """

    def __init__(self, schedules: Sequence):
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise InvalidTypeError(
                f"schedules must be a sequence (one schedule per position), got {type(schedules).__name__}"
            )
        if len(schedules) == 0:
            raise InvalidArgumentError("a per-position schedule needs at least one position")
        self.schedules = [get_schedule(s) for s in schedules]
        # the same object at every position: evaluate once and broadcast
        self._single = all(s is self.schedules[0] for s in self.schedules)

    @classmethod
    def uniform(cls, schedule, length: int) -> PerPositionSchedule:
        """The univariate schedule repeated at every position."""
        check_int(length, "length", minimum=1)
        return cls([get_schedule(schedule)] * int(length))

    @property
    def length(self) -> int:
        return len(self.schedules)

    def _stack(self, method: str, t) -> np.ndarray:
        arr = check_unit_interval(t)
        if self._single:
            one = as_numpy(getattr(self.schedules[0], method)(arr))
            return np.repeat(one[..., None], self.length, axis=-1)
        return np.stack([as_numpy(getattr(s, method)(arr)) for s in self.schedules], axis=-1)

    def masked_fraction(self, t) -> np.ndarray:
        return self._stack("masked_fraction", t)

    def alpha(self, t) -> np.ndarray:
        return self._stack("alpha", t)

    def masked_fraction_derivative(self, t) -> np.ndarray:
        return self._stack("masked_fraction_derivative", t)

    def elbo_weight(self, t) -> np.ndarray:
        """Per-position ELBO weights m_l'(t)/m_l(t) (Garg et al. Eq. 8)."""
        return self._stack("elbo_weight", t)

    def time_of_masked_fraction(self, m) -> torch.Tensor:
        """Per-position inverse: ``m`` of shape ``(..., L)`` -> times ``(..., L)`` (Garg et al. Alg. 1)."""
        m = torch.as_tensor(m, dtype=torch.float64)
        if m.shape[-1] != self.length:
            raise InvalidArgumentError(f"last axis of m must have length {self.length}, got {tuple(m.shape)}")
        return torch.stack([s.time_of_masked_fraction(m[..., i]) for i, s in enumerate(self.schedules)], -1)

    def step_weights(self, grid: torch.Tensor) -> torch.Tensor:
        """``(K, L)``: probability that position l is revealed at step k of the grid (m of every position
        checked at every grid point, as :meth:`sims.schedules.Schedule.step_weights` does)."""
        times = check_time_grid(grid)
        m = torch.as_tensor(self.masked_fraction(as_numpy(grid)), dtype=torch.float64)
        check_masked_fractions(m, times, f"per-position schedule {type(self).__name__}")
        return m[:-1] - m[1:]

    @property
    def is_univariate(self) -> bool:
        first = self.schedules[0].describe()
        return all(s.describe() == first for s in self.schedules[1:])

    def describe(self) -> dict:
        return {
            "type": type(self).__name__,
            "positions": [s.describe() for s in self.schedules],
            "time": TIME_CONVENTIONS["mdlm"],
        }


class PowerPerPositionSchedule(PerPositionSchedule):
    r"""Garg et al. (Sec. 4): :math:`\alpha_{t,l} = 1 - t^{w_l}`, i.e. masked fraction :math:`t^{w_l}`.

    The masking times are :math:`\tau_l = U_l^{1/w_l}`, so :math:`-\log\tau_l \sim \mathrm{Exp}(w_l)` and the
    decoding order (largest :math:`\tau` first) is Plackett-Luce with weights w (derived; see
    :func:`theory.orders.plackett_luce_probability`).
    """

    def __init__(self, weights: Sequence[float]):
        if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray, torch.Tensor)):
            raise InvalidTypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
        w = [check_real(v, f"weights[{i}]", minimum=0.0, open_min=True) for i, v in enumerate(weights)]
        if len(w) == 0:
            raise InvalidArgumentError(f"power weights must be finite and > 0, got {weights!r}")
        self.weights = w
        super().__init__([PolynomialSchedule(exponent=v) for v in w])

    def describe(self) -> dict:
        return {**super().describe(), "weights": list(self.weights), "alpha_l(t)": "1 - t^w_l"}
