r"""Li & Cai (arXiv 2505.21400) Remark 1 as an exact experiment: reveal the lowest-entropy tokens first.

Remark 1 (two third-party paper notes, ``paper_statements.md`` §2 L9; secondary): an entropy-based order,
revealing first the masked tokens with the lowest conditional entropy, is suggested as better than the
uniformly random sets of Theorem 1. We test it exactly, for the oracle and a balanced schedule
:math:`s_1..s_K` (LLaDA counts, :func:`sims.sampling.fixed_count.llada_counts`):

* **entropy-first** (the Remark): at step t, one oracle call on the current state; rank the masked
  positions by the entropy of their oracle marginal, lowest first, ties towards the lowest index (a
  deterministic rule, :math:`\varphi`); reveal the :math:`s_t` first ones, drawn independently. Its law
  :math:`p_\varphi` is computed exactly by teacher-forced replay on every x in the support,
  :math:`p_\varphi(x) = \prod_t \prod_{l \in z_t(x)} q(x_l \mid x_{z_{<t}(x)})`, and its error is
  :math:`KL(q \Vert p_\varphi) = E_q \sum_t TC_q(z_t \mid x_{z_{<t}})` (EB-sampler App. A.1; a deterministic
  rule has no average over masks). :func:`entropy_first_kl`.
* **random order** (Theorem 1's sampler): the exact :math:`E_M KL(q \Vert p_M)` by the area formula
  (:func:`theory.factorization.expected_kl_fixed_counts`) on the entropy profile of the language.
* **Theorem 1** :math:`\frac{2^{\lceil\log_2 s_{\max}\rceil}-1}{L}\Sigma I` and the sharper
  :math:`\frac{s_{\max}-1}{L}\Sigma I` (:mod:`theory.li_cai`), :math:`\Sigma I = \sum_i I(X_i; X_{-i})`.

The remark's order has no guarantee of its own: Theorem 1 is proved for random sets. The questions are
whether :math:`KL(q\Vert p_\varphi) \le E_M KL` (the remark helps) and whether
:math:`KL(q\Vert p_\varphi) \le` Theorem 1's bound (the bound still covers it), per language and K.

For languages with an explicit support (:class:`~sims.languages.support.SupportLanguage`, e.g. 4x4 Sudoku
at L = 16, whose :math:`4^{16}` table cannot be formed) the entropy profile
:math:`h(k) = E_S H(X_S)` is computed from the projections of the support on every subset
(:func:`support_profile`); for tables, :func:`theory.entropy_profile.profile_by_enumeration`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser
from sims.languages.support import SupportLanguage
from sims.sampling.fixed_count import llada_counts
from sims.sampling.ranking import rank_positions
from sims.sampling.scores import position_scores
from sims.validation import InvalidArgumentError
from theory.entropy_profile import EntropyProfile, TabulatedProfile
from theory.factorization import expected_kl_fixed_counts, support_sequences
from theory.li_cai import smax_bound, theorem1_bound

#: Tolerance of exact KL comparisons (nats, relative to max(1, value)): the KLs are float64 sums of at most
#: a few thousand terms of size <= L log V, whose round-off is orders of magnitude below 1e-12.
KL_TOL = 1e-12

#: Scores that depend on the denoiser output only (not on drawn values): the rule is then deterministic.
CONTEXT_SCORES = ("max_prob", "margin", "entropy")

REMARK1_PROVENANCE = (
    "Li & Cai 2505.21400 Remark 1 (reveal the lowest-conditional-entropy tokens first) as stated in two "
    "third-party paper notes (paper_statements.md L9; secondary); the paper's own text was not read"
)


def support_profile(words: torch.Tensor, weights: torch.Tensor) -> TabulatedProfile:
    r"""Exact :math:`h(k) = E_S H(X_S)` of a finite-support law, from the projection on every subset S."""
    w = torch.as_tensor(words).long().cpu().numpy()
    p = torch.as_tensor(weights).double().cpu().numpy()
    L = w.shape[1]
    base = int(w.max()) + 1
    sums = np.zeros(L + 1)
    for k in range(1, L + 1):
        powers = base ** np.arange(k, dtype=np.int64)
        for subset in itertools.combinations(range(L), k):
            _, inv = np.unique(w[:, list(subset)] @ powers, return_inverse=True)
            mass = np.bincount(inv.ravel(), weights=p)
            mass = mass[mass > 0]
            sums[k] += float(-(mass * np.log(mass)).sum())
        sums[k] /= math.comb(L, k)
    return TabulatedProfile(sums, method="support projections")


def _rank(lp: torch.Tensor, masked: torch.Tensor, score: str, priority: torch.Tensor | None) -> torch.Tensor:
    """Positions by descending score; ties to the lowest ``priority`` (a permutation per row) or index."""
    scores = position_scores(score, lp, torch.zeros(lp.shape[:2], dtype=torch.long))
    if priority is None:
        return rank_positions(scores, masked)
    inv = torch.argsort(priority, dim=1)  # inv[:, r] = position with priority r
    order = rank_positions(scores.gather(1, inv), masked.gather(1, inv))
    return inv.gather(1, order)


def _replay_log_p(x, denoiser, counts, score, priority) -> torch.Tensor:
    """log p_phi(x) per row of ``x`` by teacher-forced replay (``priority``: (N, L) or None)."""
    N, L = x.shape
    if score not in CONTEXT_SCORES:
        raise InvalidArgumentError(
            f"score must be one of {CONTEXT_SCORES} (context-only, deterministic), got {score!r}"
        )
    if sum(int(c) for c in counts) != L or any(int(c) < 1 for c in counts):
        raise InvalidArgumentError(f"counts must be positive and sum to L = {L}, got {list(counts)}")
    V = denoiser.vocab_size
    state = torch.full_like(x, V)
    log_p = torch.zeros(N, dtype=torch.float64)
    for c in counts:
        lp = denoiser(state).log_probs.cpu().double()
        pick = _rank(lp, state == V, score, priority)[:, : int(c)]
        log_p += lp.gather(2, x.unsqueeze(-1)).squeeze(-1).gather(1, pick).sum(1)
        state = state.scatter(1, pick, x.gather(1, pick))
    return log_p


def entropy_first_kl(
    support: torch.Tensor,
    probs: torch.Tensor,
    denoiser: Denoiser,
    counts,
    score: str = "entropy",
    priority: torch.Tensor | None = None,
) -> dict:
    """Exact replay of the deterministic score-first rule on every support sequence (module docstring).

    Args:
        support: ``(N, L)`` the sequences with q(x) > 0; ``probs``: their probabilities (summing to 1).
        denoiser: the oracle of the language (its output defines the ranking and the factors).
        counts: tokens revealed per step (sum L).
        score: a context-only score of :mod:`sims.sampling.scores` (``"entropy"``: Remark 1).
        priority: ``(L,)`` a permutation breaking ties (lowest priority first); None = lowest index.

    Returns ``{"kl", "law"}``: KL(q || p_phi) and ``p_phi`` on the support sequences (its total there is 1
    only if the rule never leaves the support).
    """
    x = torch.as_tensor(support).long()
    q = torch.as_tensor(probs).double()
    N, L = x.shape
    if priority is not None and sorted(torch.as_tensor(priority).long().tolist()) != list(range(L)):
        raise InvalidArgumentError(f"priority must be a permutation of range(L = {L}), got {priority!r}")
    prio = None if priority is None else torch.as_tensor(priority).long().reshape(1, L).expand(N, L)
    log_p = _replay_log_p(x, denoiser, counts, score, prio)
    return {"kl": float((q * (torch.log(q) - log_p)).sum()), "law": torch.exp(log_p)}


def entropy_first_random_priority(
    support: torch.Tensor,
    probs: torch.Tensor,
    denoiser: Denoiser,
    counts,
    num_orders: int,
    generator: torch.Generator,
    score: str = "entropy",
) -> dict:
    r""":math:`E_\pi KL(q \Vert p_{\varphi_\pi})` with ties broken by a uniformly random priority
    permutation :math:`\pi` (drawn once per run, independent of x: the analogue of Theorem 1's average over
    random sets). Exact replay for each of ``num_orders`` i.i.d. permutations (one batch); returns the
    mean over the permutations, its standard error and the values."""
    x = torch.as_tensor(support).long()
    q = torch.as_tensor(probs).double()
    N, L = x.shape
    n = int(num_orders)
    if n < 1:
        raise InvalidArgumentError(f"num_orders must be >= 1, got {num_orders!r}")
    perms = torch.stack([torch.randperm(L, generator=generator) for _ in range(n)])  # (n, L)
    log_p = _replay_log_p(x.repeat(n, 1), denoiser, counts, score, perms.repeat_interleave(N, 0))
    vals = (q.repeat(n) * (torch.log(q).repeat(n) - log_p)).reshape(n, N).sum(1).numpy()
    se = float(vals.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": float(vals.mean()), "se": se, "values": [float(v) for v in vals]}


@dataclass
class Remark1Row:
    """One (language, K): the remark's order (two tie rules), random order and the bounds (nats)."""

    steps: int
    s_max: int
    entropy_first: float  # ties to the lowest index (deterministic)
    entropy_first_random_ties: float  # mean over random tie priorities
    entropy_first_random_ties_se: float
    random_order: float  # E_M KL, Theorem 1's sampler (area formula)
    theorem1: float
    smax: float
    sum_mutual_information: float

    def compare(self, value: float, se: float = 0.0) -> str:
        """``"better"``, ``"worse"`` or ``"equal"`` than random order, within 3 standard errors plus
        :data:`KL_TOL` (float64 round-off of the exact sums)."""
        tol = 3 * se + KL_TOL * max(1.0, abs(self.random_order))
        if value < self.random_order - tol:
            return "better"
        return "worse" if value > self.random_order + tol else "equal"

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "lowest_index_vs_random": self.compare(self.entropy_first),
            "random_ties_vs_random": self.compare(
                self.entropy_first_random_ties, self.entropy_first_random_ties_se
            ),
            "within_theorem1": self.entropy_first <= self.theorem1 + KL_TOL * max(1.0, self.theorem1),
            "random_ties_within_theorem1": self.entropy_first_random_ties
            <= self.theorem1 + KL_TOL * max(1.0, self.theorem1) + 3 * self.entropy_first_random_ties_se,
        }


def remark1_sweep(
    support: torch.Tensor,
    probs: torch.Tensor,
    denoiser: Denoiser,
    profile: EntropyProfile,
    steps,
    num_orders: int,
    generator: torch.Generator,
    score: str = "entropy",
) -> list[dict]:
    """:class:`Remark1Row` records for the balanced (LLaDA-count) schedule of each K in ``steps``."""
    L = profile.length
    si = profile.sum_mutual_information
    rows = []
    for K in steps:
        counts = llada_counts(L, int(K))
        ef = entropy_first_kl(support, probs, denoiser, counts, score)["kl"]
        rt = entropy_first_random_priority(support, probs, denoiser, counts, num_orders, generator, score)
        rows.append(
            Remark1Row(
                int(K),
                max(counts),
                ef,
                rt["mean"],
                rt["se"],
                expected_kl_fixed_counts(profile, counts),
                theorem1_bound(counts, si),
                smax_bound(counts, si),
                si,
            ).to_dict()
        )
    return rows


def remark1_summary(rows: list[dict]) -> dict:
    """Counts over the schedules with K < L of each comparison with random order and with Theorem 1, and
    the extreme ratios entropy-first / random order and entropy-first / Theorem 1 (lowest-index ties)."""
    sub = [r for r in rows if r["s_max"] > 1]
    out = {"num_schedules": len(sub)}
    for key in ("lowest_index_vs_random", "random_ties_vs_random"):
        for verdict in ("better", "equal", "worse"):
            out[f"{key}_{verdict}"] = sum(r[key] == verdict for r in sub)
    out["num_within_theorem1"] = sum(r["within_theorem1"] for r in sub)
    out["num_random_ties_within_theorem1"] = sum(r["random_ties_within_theorem1"] for r in sub)
    ratios = [r["entropy_first"] / r["random_order"] for r in sub if r["random_order"] > 0]
    over = [r["entropy_first"] / r["theorem1"] for r in sub if r["theorem1"] > 0]
    out["min_ratio_to_random"] = min(ratios) if ratios else math.nan
    out["max_ratio_to_random"] = max(ratios) if ratios else math.nan
    out["max_ratio_to_theorem1"] = max(over) if over else math.nan
    return out


def remark1_for_language(language, length: int, steps, num_orders: int, seed: int) -> dict:
    """The sweep for one language with its exact oracle: support (the explicit support of a
    :class:`~sims.languages.support.SupportLanguage` at its word length, else enumeration of V**L), the
    support profile, :func:`remark1_sweep` (random tie priorities from ``seed``) and :func:`remark1_summary`."""
    L = int(length)
    if isinstance(language, SupportLanguage) and L == language.word_length:
        support, probs = language.words.cpu(), language.weights.cpu().double()
    else:
        support, log_q = support_sequences(language, L)
        support, probs = support.cpu(), torch.exp(log_q.double().cpu())
    profile = support_profile(support, probs)
    oracle = OracleDenoiser(language)
    gen = torch.Generator().manual_seed(int(seed))
    rows = remark1_sweep(support, probs, oracle, profile, steps, num_orders, gen)
    return {
        "length": L,
        "num_support": int(support.shape[0]),
        "sum_mutual_information": profile.sum_mutual_information,
        "total_correlation": profile.total_correlation,
        "rows": rows,
        "summary": remark1_summary(rows),
    }
