r"""Li & Cai (arXiv 2505.21400, NeurIPS 2025) upper bounds on the expected KL of random-order MDM sampling.

Setting (confirmed from a third-party summary of v1, themoonlight.io review, and the paper's abstract):
mask-size schedule :math:`s_1..s_T` with :math:`\sum_t s_t = L`; at iteration t a uniformly random set of
:math:`s_t` still-masked positions is revealed, its tokens drawn independently from the mask predictor
given the tokens revealed so far; the error is averaged over the random mask sets
(:math:`E_M KL(p_{X_0} \Vert p_{Y_0 \mid M})`, data law first). This is
``FixedCountSampler(score="random")`` in this suite and :func:`theory.factorization.expected_kl_fixed_counts`.

Bounds implemented (:math:`\Sigma I := \sum_i I(X_i; X_{-i})`):

* **Theorem 1** [statement taken from the research notes, which cite a secondary note; the theorem text
  itself could not be read here, so the constant is UNVERIFIED]:
  :math:`E_M KL \le \frac{2^{\lceil \log_2 s_{\max} \rceil} - 1}{L}\,\Sigma I + \varepsilon_{\text{train}}`.
* **Corollary 1** (balanced schedules, :math:`s_{\max} \le \lceil L/T \rceil`): :math:`E_M KL \le
  \frac{C_1}{T}\Sigma I + \varepsilon_{\text{train}}` with an unspecified :math:`C_1 \asymp 1` in the paper
  [REC]. We evaluate it as Theorem 1 at :math:`s_{\max} = \lceil L/T \rceil` and also give the explicit
  constant that follows from Theorem 1, :math:`C_1 = 2 + T/L` (since
  :math:`2^{\lceil\log_2 s\rceil} - 1 \le 2s - 1 < 2L/T + 1`) [DER].
* **Sharper bounds** [DER, research notes §1.3, proved from the exact area formula because D is
  non-decreasing]: the stepwise bound :math:`\sum_t (s_t - 1)(D(k_t - 1) - D(k_{t-1}))` and its
  consequence :math:`\frac{s_{\max} - 1}{L}\Sigma I`; since :math:`s - 1 \le 2^{\lceil\log_2 s\rceil} - 1`
  they imply Theorem 1 for the oracle (:math:`\varepsilon_{\text{train}} = 0`).

Theorem 2 (a matching lower bound with a multi-scale information quantity) is not implemented: the
sizes and law of its random sets could not be confirmed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from theory.entropy_profile import EntropyProfile
from theory.factorization import check_counts, expected_kl_fixed_counts

THEOREM1_PROVENANCE = (
    "Li & Cai 2505.21400 Thm 1 as restated in /work/shared/research/feng_ppl_ser.md §3.2 "
    "(from a secondary note); theorem text not read: constant UNVERIFIED"
)


def theorem1_constant(s_max: int) -> int:
    """:math:`2^{\\lceil \\log_2 s_{\\max} \\rceil} - 1` (0 for s_max = 1) [UNVERIFIED constant]."""
    if int(s_max) < 1:
        raise ValueError("s_max must be >= 1")
    return (1 << (int(s_max) - 1).bit_length()) - 1


def theorem1_bound(counts: Sequence[int], sum_mutual_information: float, eps_train: float = 0.0) -> float:
    """Li & Cai Theorem 1 evaluated for the schedule ``counts`` (nats, whole sequence)."""
    c = check_counts(counts, int(sum(counts)))
    L = int(c.sum())
    return theorem1_constant(int(c.max())) / L * float(sum_mutual_information) + eps_train


def corollary1_bound(
    steps: int,
    length: int,
    sum_mutual_information: float,
    eps_train: float = 0.0,
    explicit_constant: bool = False,
) -> float:
    """Corollary 1 for a balanced schedule with T = ``steps``: Theorem 1 at s_max = ceil(L/T), or with
    ``explicit_constant`` the derived :math:`C_1 = 2 + T/L` (a looser closed form)."""
    T, L = int(steps), int(length)
    if not 1 <= T <= L:
        raise ValueError("need 1 <= steps <= length")
    if explicit_constant:
        return (2 + T / L) / T * float(sum_mutual_information) + eps_train
    return theorem1_constant(math.ceil(L / T)) / L * float(sum_mutual_information) + eps_train


def smax_bound(counts: Sequence[int], sum_mutual_information: float) -> float:
    """Sharper bound (s_max - 1)/L * sum_i I_i [DER]."""
    c = check_counts(counts, int(sum(counts)))
    return (int(c.max()) - 1) / int(c.sum()) * float(sum_mutual_information)


def stepwise_bound(profile: EntropyProfile, counts: Sequence[int]) -> float:
    """:math:`\\sum_t (s_t - 1)(D(k_t - 1) - D(k_{t-1}))` (between the exact value and :func:`smax_bound`)."""
    c = check_counts(counts, profile.length)
    k_prev = np.concatenate([[0], np.cumsum(c)[:-1]])
    big = c >= 2
    if not np.any(big):
        return 0.0
    kp = k_prev[big]
    D = profile.dependence(np.concatenate([kp, kp + c[big] - 1]))
    return float(((c[big] - 1) * (D[len(kp) :] - D[: len(kp)])).sum())


@dataclass
class BoundComparison:
    """Exact expected KL and every bound for one schedule (nats per sequence)."""

    length: int
    steps: int
    s_max: int
    exact: float
    stepwise: float
    smax: float
    theorem1: float
    corollary1: float
    corollary1_explicit: float
    sum_mutual_information: float

    def ratios(self) -> dict:
        """bound / exact for each bound (inf when exact = 0 and the bound is positive)."""
        out = {}
        for k in ("stepwise", "smax", "theorem1", "corollary1", "corollary1_explicit"):
            b = getattr(self, k)
            out[k] = b / self.exact if self.exact > 0 else (math.inf if b > 0 else 1.0)
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "ratios": self.ratios()}


def compare_bounds(profile: EntropyProfile, counts: Sequence[int]) -> BoundComparison:
    """Exact value (area formula) against the stepwise, (s_max-1), Theorem 1 and Corollary 1 bounds."""
    c = check_counts(counts, profile.length)
    L, T = profile.length, int(c.size)
    si = profile.sum_mutual_information
    balanced = int(c.max()) <= math.ceil(L / T)
    cor = corollary1_bound(T, L, si) if balanced else math.nan
    cor_e = corollary1_bound(T, L, si, explicit_constant=True) if balanced else math.nan
    return BoundComparison(
        L,
        T,
        int(c.max()),
        expected_kl_fixed_counts(profile, c),
        stepwise_bound(profile, c),
        smax_bound(c, si),
        theorem1_bound(c, si),
        cor,
        cor_e,
        si,
    )
