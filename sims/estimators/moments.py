r"""Per-mask-size moments of the raw loss table and the MIRROR grouped cross sums.

Per mask size k we keep :math:`\mu_k(x) = \mathrm{mean}_{|m|=k}\, c(x,m)` and
:math:`s_k(x) = \mathrm{mean}_{|m|=k}\, c(x,m)^2` (c from :mod:`sims.estimators.loss_table`); for MIRROR
also the grouped cross sums of :math:`c(x,m_1)\,c(x,m_2)` over complementary pairs (below). They are
sufficient statistics for every estimator of :mod:`sims.estimators` and :mod:`theory.variance`.

With the true conditionals (oracle) :math:`\sum_{k=1}^L \mu_k(x)/k = -\log q(x)` (any-order
autoregressive chain rule; Zheng et al. arXiv 2409.02908 Prop. 3.1; Ou et al. RADD), so the per-token
ELBO equals the autoregressive loss :math:`-\log q(x)/L`.

MIRROR joint states (Jia et al., arXiv 2511.18159, Sec. 4.2)
------------------------------------------------------------
One uniform :math:`U_i` per position, :math:`m_1 = \{U_i < \pi\}`, :math:`m_2 = \{U_i > 1-\pi\}`. Per
position the joint state is one of three: for :math:`\pi \le 1/2` "neither" (prob :math:`1-2\pi`),
"m1 only" (:math:`\pi`), "m2 only" (:math:`\pi`); for :math:`\pi > 1/2` "both" (:math:`2\pi-1`),
"m1 only" (:math:`1-\pi`), "m2 only" (:math:`1-\pi`). Grouping the :math:`3^L` joint states by the
number n0 of "neither"/"both" positions gives the sums from which :func:`sims.estimators.rates.rate_moments`
builds exact polynomials in :math:`\pi` for :math:`E[c(m_1)c(m_2)]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.estimators.loss_table import MaskLossTable, mask_matrix
from sims.validation import InvalidArgumentError, check_positive_int

#: Largest length for which the MIRROR grouped cross sums (3^L joint states) are computed.
MAX_MIRROR_LENGTH = 10


def mirror_joint_states(length: int) -> dict[str, np.ndarray]:
    r"""The :math:`3^L` per-position joint states of a MIRROR pair and the masks they induce.

    State code per position: 0 = "neither" (pi <= 1/2) or "both" (pi > 1/2), 1 = m1 only, 2 = m2 only.
    Returns mask indices ``low1, low2`` (pi <= 1/2), ``high1, high2`` (pi > 1/2) and ``n0`` (count of
    code-0 positions), each of shape ``(3**L,)``.
    """
    L = check_positive_int(length, "length")
    if L > MAX_MIRROR_LENGTH:
        raise InvalidArgumentError(f"MIRROR enumeration needs 3**L states; length {L} > {MAX_MIRROR_LENGTH}")
    codes = (np.arange(3**L)[:, None] // 3 ** np.arange(L)[None, :]) % 3
    bits = 1 << np.arange(L)
    return {
        "low1": ((codes == 1) * bits).sum(1),
        "low2": ((codes == 2) * bits).sum(1),
        "high1": ((codes != 2) * bits).sum(1),
        "high2": ((codes != 1) * bits).sum(1),
        "n0": (codes == 0).sum(1),
    }


@dataclass
class MaskSizeMoments:
    r"""Sufficient statistics of the raw loss table for every estimator in this module.

    Attributes:
        prob, log_q: ``(N,)`` data law and its logarithm.
        mean: ``(N, L+1)`` :math:`\mu_k(x)` (column 0 is 0).
        second: ``(N, L+1)`` :math:`s_k(x)`.
        mirror_low, mirror_high: ``(N, L+1)`` sums of :math:`c(m_1)c(m_2)` over MIRROR joint states
            with n0 code-0 positions (see :func:`mirror_joint_states`), or None.
        length: L.
    """

    prob: np.ndarray
    log_q: np.ndarray
    mean: np.ndarray
    second: np.ndarray
    mirror_low: np.ndarray | None
    mirror_high: np.ndarray | None
    length: int

    def elbo_nll(self) -> np.ndarray:
        r"""``(N,)`` :math:`\sum_{k=1}^L \mu_k(x)/k`: the sequence NELBO (= -log q(x) for the oracle)."""
        k = np.arange(1, self.length + 1)
        return (self.mean[:, 1:] / k).sum(1)

    def nelbo_per_token(self) -> float:
        """:math:`E_x[\\sum_k \\mu_k/k]/L`, the target every estimator here is unbiased for (eps = 0)."""
        return float(self.prob @ self.elbo_nll()) / self.length

    def ar_loss_variance(self) -> float:
        r""":math:`\mathrm{Var}_x(-\log q(x)/L)`: the loss variance of the true autoregressive model."""
        y = -self.log_q / self.length
        return float(self.prob @ (y - self.prob @ y) ** 2)


def mask_size_moments(table: MaskLossTable, mirror: bool = True) -> MaskSizeMoments:
    """Group the table by mask size (and, if ``mirror``, by MIRROR joint-state counts)."""
    L = table.length
    c = table.loss.numpy()
    sizes = mask_matrix(L).sum(1).numpy()
    onehot = np.zeros((2**L, L + 1))
    onehot[np.arange(2**L), sizes] = 1.0
    counts = onehot.sum(0)
    mean = (c @ onehot) / counts
    second = ((c * c) @ onehot) / counts
    low = high = None
    if mirror and L <= MAX_MIRROR_LENGTH:
        st = mirror_joint_states(L)
        group = np.zeros((3**L, L + 1))
        group[np.arange(3**L), st["n0"]] = 1.0
        low = np.empty((c.shape[0], L + 1))
        high = np.empty((c.shape[0], L + 1))
        step = max(1, 2**22 // 3**L)
        for s in range(0, c.shape[0], step):
            cc = c[s : s + step]
            low[s : s + step] = (cc[:, st["low1"]] * cc[:, st["low2"]]) @ group
            high[s : s + step] = (cc[:, st["high1"]] * cc[:, st["high2"]]) @ group
    return MaskSizeMoments(table.prob.numpy().copy(), table.log_q.numpy().copy(), mean, second, low, high, L)
