r"""Li & Cai (arXiv 2505.21400, NeurIPS 2025) upper bounds on the expected KL of random-order MDM sampling.

The number of steps is K (T in Li & Cai). Sources (``/work/shared/research/paper_statements.md`` §2): the
sampler and :math:`\varepsilon_{\text{train}}` from a third-party review of v1 (themoonlight.io); Theorem 1,
Corollary 1, Theorem 2 and the proof recursion as formulas in two newer third-party paper notes (an English
and a Chinese version of the same note; the older stored version had no formulas). All are *secondary*
sources; the paper's own text was not read.

Setting: mask-size schedule :math:`s_1..s_K` with :math:`\sum_t s_t = L`; at iteration t a uniformly random
set of :math:`s_t` still-masked positions is revealed, its tokens drawn independently from the mask
predictor given the tokens revealed so far; the error is averaged over the random mask sets outside the
KL, :math:`E_M KL(p_{X_0} \Vert p_{Y_0 \mid M})` with the data law first (stated explicitly in both
notes). This is ``FixedCountSampler(score="random")`` in this suite and
:func:`theory.factorization.expected_kl_fixed_counts`.

Bounds implemented (:math:`\Sigma I := \sum_i I(X_i; X_{-i})`):

* **Theorem 1** [secondary: two paper notes; consistent with the stated proof recursion
  :math:`\varepsilon(s) \le \varepsilon(\lceil s/2\rceil) + \frac{s}{2L}\Sigma I`, :math:`\varepsilon(1) = 0`, which
  telescopes to the constant for :math:`s = 2^m`]:
  :math:`E_M KL \le \frac{2^{\lceil \log_2 s_{\max} \rceil} - 1}{L}\,\Sigma I + \varepsilon_{\text{train}}`.
* **Corollary 1** (balanced schedules, :math:`s_{\max} \le \lceil L/K \rceil`; secondary): :math:`E_M KL \le
  \frac{C_1}{K}\Sigma I + \varepsilon_{\text{train}}` with :math:`C_1 \asymp 1` and no explicit value in the
  notes. We evaluate it as Theorem 1 at :math:`s_{\max} = \lceil L/K \rceil` and also give the explicit
  constant that follows from Theorem 1, :math:`C_1 = 2 + K/L` (since
  :math:`2^{\lceil\log_2 s\rceil} - 1 \le 2s - 1 < 2L/K + 1`) [DER].
* **Sharper bounds** [DER, research notes §1.3, proved from the exact area formula because D is
  non-decreasing; suite findings]: the stepwise bound :math:`\sum_t (s_t - 1)(D(k_t - 1) - D(k_{t-1}))` and
  its consequence :math:`\frac{s_{\max} - 1}{L}\Sigma I`; since :math:`s - 1 \le 2^{\lceil\log_2 s\rceil} - 1`
  they imply Theorem 1 for the oracle (:math:`\varepsilon_{\text{train}} = 0`), and Corollary 1 with
  :math:`C_1 = 1` (:func:`bounds_summary`).

**Theorem 2** (lower bound; form and constant from two third-party notes, :data:`THEOREM2_PROVENANCE`):
for some mask schedules :math:`E_M KL \ge \frac{s_{\max}}{16L}\sum_i\sum_{j\ge0}2^{-j}
E\,I(X_i; X\circ W_j^{(-i)}) + \varepsilon_{\text{train}}` with random sets :math:`W_j^{(-i)}` "of increasing
size" whose sizes and law are not known. :func:`theorem2_lower_bound` evaluates it, as *our reading*, for
uniform random sets of sizes :math:`\min(2^j, L-1)`, of sizes :math:`\min(2^j, s_{\max}-1)` (within one
step), and for the largest value any law can give (:math:`W_j` = all other positions);
:func:`compare_theorem2` compares them with the exact KL. A law whose sets do not vanish at
:math:`s_{\max} = 1` cannot be the paper's: one token per step is exact (KL = 0) while the bound is positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from sims.validation import InvalidArgumentError
from theory.entropy_profile import EntropyProfile
from theory.factorization import check_counts, expected_kl_fixed_counts

THEOREM1_PROVENANCE = (
    "Li & Cai 2505.21400 Thm 1 as stated, with its proof recursion, in two third-party paper notes "
    "(paper_statements.md L4; secondary source x2, consistent with the recursion, which telescopes to the "
    "constant); the paper's own text was not read"
)


def theorem1_constant(s_max: int) -> int:
    """:math:`2^{\\lceil \\log_2 s_{\\max} \\rceil} - 1` (0 for s_max = 1) [secondary: two paper notes]."""
    if int(s_max) < 1:
        raise InvalidArgumentError("s_max must be >= 1")
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
    """Corollary 1 for a balanced schedule with K = ``steps``: Theorem 1 at s_max = ceil(L/K), or with
    ``explicit_constant`` the derived :math:`C_1 = 2 + K/L` (a looser closed form)."""
    K, L = int(steps), int(length)
    if not 1 <= K <= L:
        raise InvalidArgumentError("need 1 <= steps <= length")
    if explicit_constant:
        return (2 + K / L) / K * float(sum_mutual_information) + eps_train
    return theorem1_constant(math.ceil(L / K)) / L * float(sum_mutual_information) + eps_train


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
    L, K = profile.length, int(c.size)
    si = profile.sum_mutual_information
    balanced = int(c.max()) <= math.ceil(L / K)
    cor = corollary1_bound(K, L, si) if balanced else math.nan
    cor_e = corollary1_bound(K, L, si, explicit_constant=True) if balanced else math.nan
    return BoundComparison(
        L,
        K,
        int(c.max()),
        expected_kl_fixed_counts(profile, c),
        stepwise_bound(profile, c),
        smax_bound(c, si),
        theorem1_bound(c, si),
        cor,
        cor_e,
        si,
    )


#: The bounds of :class:`BoundComparison` whose ratio to the exact value the figures summarise.
SUMMARY_BOUNDS = ("stepwise", "smax", "theorem1", "corollary1_explicit")


def bounds_summary(rows: Sequence[dict]) -> dict:
    r"""Per length (records of :meth:`BoundComparison.to_dict`): the smallest bound/exact ratio of each of
    :data:`SUMMARY_BOUNDS` over the schedules with exact > 0, and the largest Corollary 1 constant
    :math:`K\,E_M KL/\Sigma I` (at most 1 by the area formula, :math:`C_1 = 1`)."""
    out = {}
    for L in sorted({r["length"] for r in rows}):
        sub = [r for r in rows if r["length"] == L]
        pos = [r for r in sub if r["exact"] > 0]
        out[str(L)] = {b: min(r["ratios"][b] for r in pos) for b in SUMMARY_BOUNDS}
        out[str(L)]["max_K_kl_over_sumI"] = max(
            r["steps"] * r["exact"] / r["sum_mutual_information"] for r in sub
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Theorem 2 (lower bound): its known form, evaluated for natural laws of the random sets W_j

THEOREM2_PROVENANCE = (
    "Li & Cai 2505.21400 Thm 2 as stated in two third-party paper notes (paper_statements.md L7): for some "
    "mask schedules E_M KL >= s_max/(16L) sum_i sum_{j>=0} 2^-j E I(X_i; X o W_j^(-i)) + eps_train, W_j^(-i) "
    "random subsets (excluding i) of increasing size; the sizes and law of W_j are NOT known: the laws "
    "evaluated here are our reading"
)

#: Laws of W_j evaluated (our reading), each uniform random subsets of [L] \ {i}: ``"doubling"`` of size
#: min(2^j, L-1); ``"doubling_in_step"`` of size min(2^j, s_max - 1) (at most the other tokens of one step;
#: empty when s_max = 1); ``"all"`` W_j = [L] \ {i} for every j, the largest value any law can give
#: (information grows with the set), so a schedule violating it violates the bound under every law.
THEOREM2_LAWS = ("doubling", "doubling_in_step", "all")


def theorem2_sizes(length: int, law: str, s_max: int | None = None) -> list[int]:
    """Sizes |W_0|, |W_1|, ... up to the first that reaches the cap (all later ones equal the cap)."""
    L = int(length)
    if L < 2:
        raise InvalidArgumentError("length must be >= 2")
    if law not in THEOREM2_LAWS:
        raise InvalidArgumentError(f"law must be one of {THEOREM2_LAWS}, got {law!r}")
    if law == "all":
        return [L - 1]
    cap = L - 1 if law == "doubling" else min(L - 1, int(s_max) - 1)
    out, j = [], 0
    while True:
        out.append(min(2**j, cap))
        if out[-1] == cap:
            return out
        j += 1


def theorem2_lower_bound(
    profile: EntropyProfile, counts: Sequence[int], law: str = "doubling", eps_train: float = 0.0
) -> float:
    r""":math:`\frac{s_{\max}}{16L}\sum_i\sum_{j\ge0}2^{-j}E\,I(X_i; X_{W_j})` for uniform random W_j of the
    sizes of ``law``, exactly. With W uniform of size k among the other positions,
    :math:`\sum_i E_W I(X_i; X_W) = L\,D(k)` (the dependence curve), so the value is
    :math:`\frac{s_{\max}}{16}\big(\sum_{j<J}2^{-j}D(k_j) + 2^{1-J}D(L-1)\big)` with J the index of the first
    size equal to L - 1 (the geometric tail summed in closed form)."""
    c = check_counts(counts, profile.length)
    sizes = theorem2_sizes(profile.length, law, int(c.max()))
    J = len(sizes) - 1
    D = profile.dependence(np.asarray(sizes))
    head = float((2.0 ** -np.arange(J)) @ D[:J]) if J else 0.0
    return int(c.max()) / 16 * (head + 2.0 ** (1 - J) * float(D[J])) + eps_train


@dataclass
class Theorem2Comparison:
    """Exact E_M KL of a schedule against Theorem 1 (upper) and Theorem 2 under each law (lower)."""

    counts: list
    s_max: int
    balanced: bool
    exact: float
    theorem1: float
    lower: dict

    def holds(self, law: str, rel_tol: float = 1e-12) -> bool:
        return self.exact >= self.lower[law] * (1 - rel_tol)

    def to_dict(self) -> dict:
        return {**asdict(self), "holds": {k: self.holds(k) for k in self.lower}}


def compare_theorem2(profile: EntropyProfile, counts: Sequence[int]) -> Theorem2Comparison:
    c = check_counts(counts, profile.length)
    L, K = profile.length, int(c.size)
    return Theorem2Comparison(
        [int(v) for v in c],
        int(c.max()),
        int(c.max()) - int(c.min()) <= 1 and int(c.max()) <= math.ceil(L / K),
        expected_kl_fixed_counts(profile, c),
        theorem1_bound(c, profile.sum_mutual_information),
        {law: theorem2_lower_bound(profile, c, law) for law in THEOREM2_LAWS},
    )


def theorem2_sweep(profile: EntropyProfile, steps: Sequence[int]) -> list[dict]:
    """:func:`compare_theorem2` for the balanced schedule (counts differing by at most one) of each K."""
    L = profile.length
    out = []
    for K in steps:
        counts = [L // K + (1 if t < L % K else 0) for t in range(int(K))]
        out.append({"steps": int(K), **compare_theorem2(profile, counts).to_dict()})
    return out
