r"""The n-token masked-diffusion probability flow of an exact law, by brute force over the (d+1)^n states
(reconstructed Eq. 2 and Lemma C.3 of Chen et al., arXiv 2509.13866), its kinetic, conditional and
geodesic energies and their ratios to the one-token energy. Provenance: :mod:`theory.energy`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.integrate as spi
import torch

from sims.schedules import get_schedule
from sims.validation import InvalidArgumentError
from theory.energy.functional import QuadratureResult, WeightSchedule


# =====================================================================================================
# n tokens on an exact law: brute force over the (d+1)^n states
# =====================================================================================================
class MaskedFlow:
    r"""The MDM probability flow of an exact law q over :math:`D^n` (EP Eq. 3), by brute force.

    States are all :math:`z \in (D\cup\{M\})^n` (mask id = d). For a revealed probability :math:`\alpha`:
    :math:`p(z) = \alpha^{n-m(z)}(1-\alpha)^{m(z)}\, q(z_{UM})` with :math:`q(z_{UM})` the marginal of the
    revealed tokens, computed by explicit summation. Rates follow the reconstructed Eq. 2 and Lemma C.3.
    States with :math:`p(z) = 0` carry no flow and are left out of the sums; a transition into a state with
    :math:`p(x) = 0` has rate 0 and contributes nothing.

    Args:
        log_q: ``(d**n,)`` log-probabilities over :func:`sims.exact.all_sequences` order (may contain -inf).
        vocab_size: d.
        length: n (:math:`(d+1)^n` states; keep it tiny).
    """

    def __init__(self, log_q, vocab_size: int, length: int):
        q = torch.exp(torch.as_tensor(log_q, dtype=torch.float64)).numpy()
        d, n = int(vocab_size), int(length)
        if q.shape != (d**n,):
            raise InvalidArgumentError(f"log_q must have shape ({d**n},) for d={d}, n={n}; got {q.shape}")
        if abs(q.sum() - 1.0) > 1e-9:
            raise InvalidArgumentError(f"q must sum to 1, got {q.sum()}")
        if (d + 1) ** n > 5000:
            raise InvalidArgumentError(f"(d+1)^n = {(d + 1) ** n} states is too many for brute force")
        self.d, self.n, self.q = d, n, q
        self.data = list(itertools.product(range(d), repeat=n))
        self.states = list(itertools.product(range(d + 1), repeat=n))
        self.index = {z: i for i, z in enumerate(self.states)}
        self.num_masked = np.array([sum(v == d for v in z) for z in self.states])
        # consistency matrix: z is reachable from data x1 (revealed entries agree)
        self.consistent = np.array(
            [[all(zi == d or zi == xi for zi, xi in zip(z, x)) for x in self.data] for z in self.states],
            dtype=np.float64,
        )
        self.revealed_marginal = self.consistent @ q  # q(z_UM)
        # single-token unmasking transitions z -> x: (z index, x index, position, value)
        self.transitions = [
            (self.index[z], self.index[z[:i] + (v,) + z[i + 1 :]], i, v)
            for z in self.states
            for i in range(n)
            if z[i] == d
            for v in range(d)
        ]

    # ---- flows ---------------------------------------------------------------------------------------
    def marginal(self, alpha: float) -> np.ndarray:
        """:math:`p(z)` for every state."""
        return alpha ** (self.n - self.num_masked) * (1 - alpha) ** self.num_masked * self.revealed_marginal

    def conditional(self, alpha: float) -> np.ndarray:
        """``(states, data)`` :math:`p(z|x_1) = \\prod_i [\\alpha 1(z^i=x_1^i) + (1-\\alpha)1(z^i=M)]`."""
        return (alpha ** (self.n - self.num_masked) * (1 - alpha) ** self.num_masked)[
            :, None
        ] * self.consistent

    def support_size_weight(self) -> int:
        r""":math:`C_k = \sum_{z:\,p_s(z) > 0} m(z)` (for :math:`0 < \alpha < 1`)."""
        return int(self.num_masked[self.revealed_marginal > 0].sum())

    def full_support_weight(self) -> int:
        r""":math:`n(d+1)^{n-1}`: the value of :math:`C_k` for a law with full support."""
        return self.n * (self.d + 1) ** (self.n - 1)

    # ---- rates ---------------------------------------------------------------------------------------
    def marginal_rate(self, alpha: float, alpha_dot: float) -> np.ndarray:
        r"""Per transition, :math:`Q_s(z,x) = \sigma p(x)/p(z)`, :math:`\sigma = \dot\alpha/\alpha` [RECONSTRUCTED
        Eq. 2]; 0 where :math:`p(z) = 0` or :math:`p(x) = 0`."""
        p = self.marginal(alpha)
        zi = np.array([t[0] for t in self.transitions])
        xi = np.array([t[1] for t in self.transitions])
        sigma = alpha_dot / alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(p[zi] > 0, sigma * p[xi] / p[zi], 0.0)
        return rate

    def generator(self, alpha: float, alpha_dot: float) -> np.ndarray:
        """Full rate matrix (rows sum to 0) of the unmasking process at revealed probability ``alpha``."""
        S = len(self.states)
        Qm = np.zeros((S, S))
        for (z, x, _, _), r in zip(self.transitions, self.marginal_rate(alpha, alpha_dot)):
            Qm[z, x] += r
        Qm[np.diag_indices(S)] = -Qm.sum(1)
        return Qm

    def conditional_rate_consistency_gap(self, alpha: float, alpha_dot: float) -> float:
        r"""Max over transitions with :math:`p(z) > 0` of
        :math:`|Q(z,x) - \sum_{x_1} Q(z,x|x_1)p(z|x_1)q(x_1)/p(z)|` (marginal consistency, EP Eq. 6), with
        :math:`Q(z,x|x_1) = \dot\alpha/(1-\alpha)` if x is z with one position set to :math:`x_1`'s token and
        x is consistent with :math:`x_1` (Lemma C.3), else 0."""
        p = self.marginal(alpha)
        pc = self.conditional(alpha)
        rate = self.marginal_rate(alpha, alpha_dot)
        worst = 0.0
        for (z, x, i, v), r in zip(self.transitions, rate):
            if p[z] <= 0:
                continue
            hit = np.array([x1[i] == v for x1 in self.data], dtype=np.float64) * self.consistent[x]
            avg = (alpha_dot / (1 - alpha)) * float((hit * pc[z] * self.q).sum()) / p[z]
            worst = max(worst, abs(r - avg))
        return worst

    def radd_gap(self, alpha: float) -> float:
        r"""Max over transitions with :math:`p(z)>0` of :math:`|p(x)/p(z) - \tfrac{\alpha}{1-\alpha} q(v|z_{UM})|`
        (RADD concrete-score factorization, used in EP App. D.1), q(v|z_UM) by explicit summation."""
        p = self.marginal(alpha)
        worst = 0.0
        for z, x, _i, _v in self.transitions:
            if p[z] <= 0:
                continue
            cond = self.revealed_marginal[x] / self.revealed_marginal[z]
            worst = max(worst, abs(p[x] / p[z] - alpha / (1 - alpha) * cond))
        return worst

    # ---- energy integrands (without the 1/gamma_dot factor) -----------------------------------------
    def kinetic_integrand(self, alpha: float, alpha_dot: float) -> float:
        r""":math:`\sum_z\sum_{x\ne z} p(z)Q(z,x)^2/p(x)` over states in the support [RECONSTRUCTED Def. 2.1]."""
        p = self.marginal(alpha)
        rate = self.marginal_rate(alpha, alpha_dot)
        total = 0.0
        for (z, x, _, _), r in zip(self.transitions, rate):
            if p[z] > 0 and p[x] > 0:
                total += p[z] * r * r / p[x]
        return total

    def conditional_kinetic_integrand(self, alpha: float, alpha_dot: float) -> float:
        r""":math:`E_{x_1\sim q}\sum_z\sum_{x\ne z} p(z|x_1)Q(z,x|x_1)^2/p(x|x_1)` [RECONSTRUCTED Def. 2.2]."""
        pc = self.conditional(alpha)
        rate = alpha_dot / (1 - alpha)
        total = 0.0
        for j, x1 in enumerate(self.data):
            if self.q[j] == 0:
                continue
            for z, x, i, v in self.transitions:
                if v == x1[i] and pc[x, j] > 0 and pc[z, j] > 0:
                    total += self.q[j] * pc[z, j] * rate * rate / pc[x, j]
        return total

    def geodesic_integrand(self, alpha: float, alpha_dot: float, kappa: float = 4.0) -> float:
        r""":math:`\kappa E_{x_1}\sum_i\sum_v (\tfrac{d}{ds}\sqrt{p_{s|1}(z^i=v|x_1)})^2` [RECONSTRUCTED Def. 2.3]:
        per token the coordinates are :math:`\sqrt{1-\alpha}` ([M]) and :math:`\sqrt{\alpha}` (:math:`x_1^i`),
        differentiated by the chain rule; all other coordinates are 0."""
        per_token = (alpha_dot / (2 * math.sqrt(alpha))) ** 2 + (alpha_dot / (2 * math.sqrt(1 - alpha))) ** 2
        return kappa * float(self.q.sum()) * self.n * per_token

    def energy(
        self,
        kind: str,
        schedule,
        weight: WeightSchedule | None = None,
        *,
        eps: float = 0.0,
        epsabs: float = 1e-10,
        epsrel: float = 1e-10,
    ) -> QuadratureResult:
        """Integrate one of ``"kinetic"``, ``"conditional"``, ``"geodesic"`` over EP time (quadrature)."""
        sched = get_schedule(schedule)
        weight = weight or WeightSchedule.identity()
        fn = {
            "kinetic": self.kinetic_integrand,
            "conditional": self.conditional_kinetic_integrand,
            "geodesic": self.geodesic_integrand,
        }.get(kind)
        if fn is None:
            raise InvalidArgumentError(f"kind must be 'kinetic', 'conditional' or 'geodesic', got {kind!r}")

        def f(s):
            a = float(sched.alpha_ep(s))
            if a <= 0.0 or a >= 1.0:
                return 0.0 if float(sched.alpha_ep_derivative(s)) == 0 else math.inf
            return fn(a, float(sched.alpha_ep_derivative(s))) / float(weight.gamma_dot(np.array(s)))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", spi.IntegrationWarning)
            val, err = spi.quad(f, eps, 1 - eps, epsabs=epsabs, epsrel=epsrel, limit=200)
        return QuadratureResult(float(val), float(err), eps, 1 - eps)


@dataclass
class EnergyRatios:
    """Integrand ratios to the one-token :math:`\\dot\\alpha^2/(\\alpha(1-\\alpha))` at given revealed probabilities."""

    alphas: list
    kinetic: list
    conditional: list
    geodesic: list
    support_weight: int  # C_k = sum over support states of m(z)
    full_support_weight: int  # n (d+1)^(n-1)
    conditional_constant: int  # n 2^(n-1)
    length: int
    vocab_size: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def energy_ratios(flow: MaskedFlow, alphas=(0.2, 0.5, 0.8), alpha_dot: float = 0.7) -> EnergyRatios:
    """Brute-force ratios E_k/e, E_c/e, E_g/e of the integrands at several revealed probabilities."""
    kin, con, geo = [], [], []
    for a in alphas:
        e = alpha_dot**2 / (a * (1 - a))
        kin.append(flow.kinetic_integrand(a, alpha_dot) / e)
        con.append(flow.conditional_kinetic_integrand(a, alpha_dot) / e)
        geo.append(flow.geodesic_integrand(a, alpha_dot) / e)
    return EnergyRatios(
        list(alphas),
        kin,
        con,
        geo,
        flow.support_size_weight(),
        flow.full_support_weight(),
        flow.n * 2 ** (flow.n - 1),
        flow.n,
        flow.d,
    )


def forward_equation_gap(flow: MaskedFlow, schedule, s: float, h: float = 1e-5) -> float:
    r"""Max relative gap between :math:`\tfrac{d}{ds}p_s` (central difference of the exact marginals) and
    :math:`p_s Q_s` (Kolmogorov forward equation with the reconstructed Eq. 2 rates)."""
    sched = get_schedule(schedule)
    a = float(sched.alpha_ep(s))
    dp = (flow.marginal(float(sched.alpha_ep(s + h))) - flow.marginal(float(sched.alpha_ep(s - h)))) / (2 * h)
    rhs = flow.marginal(a) @ flow.generator(a, float(sched.alpha_ep_derivative(s)))
    scale = max(1e-300, float(np.abs(dp).max()))
    return float(np.abs(dp - rhs).max() / scale)
