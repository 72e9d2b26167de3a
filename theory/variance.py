r"""Exact variance decomposition of masked-diffusion training-loss estimators, P-POTS and MIRROR.

Source: Jia, Zhou, Liu, Jiang, Jiang, *Bringing Stability to Diffusion: Decomposing and Reducing
Variance of Training Masked Diffusion Models*, arXiv 2511.18159 (ICLR 2026); code
github.com/Qwen-Applications/StableDLLM. Everything here is our own restatement and is computed
exactly (enumeration of sequences and masks, closed forms, Gauss-Legendre quadrature in the rate),
never copied from the paper. What we could and could not confirm in the paper is listed in
``docs/variance_and_training.md``.

Setting and notation (suite convention)
---------------------------------------
A data sequence :math:`x \in \{0..V-1\}^L` is drawn from a language q (all sequences of the
support are enumerated). A mask is a subset :math:`m \subseteq \{0..L-1\}`; bit i of the integer
mask index is position i. For any denoiser (oracle, perturbed oracle, trained network)

.. math::
    c(x, m) = \sum_{i \in m} -\log p_\theta(x_i \mid x_{\setminus m})

is the *raw masked loss* (the denoiser sees x with the positions of m replaced by the mask id).
Per mask size k we keep :math:`\mu_k(x) = \mathrm{mean}_{|m|=k}\, c(x,m)` and
:math:`s_k(x) = \mathrm{mean}_{|m|=k}\, c(x,m)^2`; for MIRROR also the grouped cross sums of
:math:`c(x,m_1)\,c(x,m_2)` over complementary pairs (below).

Estimators (per sequence, normalised per token, i.e. estimating NELBO/L)
-------------------------------------------------------------------------
* **t-form with a floor** (LLaDA ``p_mask = (1-eps) t + eps``; MDLM ``t = (1-eps) u + eps``, the same
  thing): draw a rate variable :math:`u \in [0,1]` from a law with density :math:`p(u)`, set the mask
  probability :math:`\pi(u) = \varepsilon + (1-\varepsilon) u`, mask each position independently with
  probability :math:`\pi`, and return :math:`\ell = w(u)\, c(x,m) / (L\,\pi(u))` with importance weight
  :math:`w(u) = 1/p(u)` (``w = 1`` for uniform u: the standard estimator). For :math:`\varepsilon = 0`
  this is the 1/t weight of MDLM/MD4 with the linear schedule, and its mean is exactly
  :math:`\frac1L\sum_{k\ge1}\mu_k(x)/k` because :math:`\int_0^1 \mathrm{Bin}(k;L,t)/t\,dt = 1/k`.
* **exact-k form** (LLaDA ``get_log_likelihood``, RADD ``k_DCE_loss``): :math:`k \sim U\{1..L\}` (or a
  proposal r_k with weight 1/(L r_k)), mask exactly k uniformly chosen positions, return
  :math:`c(x,m)/k`, whose mean is again :math:`\frac1L\sum_k \mu_k(x)/k`.
* **stratified t** (StraTS; mdlm's low-discrepancy sampler): a batch of n uses one u per stratum
  :math:`[j/n, (j+1)/n)`, independent (``"independent"``) or shifted copies of one uniform
  (``"systematic"``).

With the true conditionals (oracle) :math:`\sum_{k=1}^L \mu_k(x)/k = -\log q(x)` (any-order
autoregressive chain rule; Zheng et al. arXiv 2409.02908 Prop. 3.1; Ou et al. RADD), so the per-token
ELBO equals the autoregressive loss :math:`-\log q(x)/L`.

Decomposition (law of total variance, conditioning order x -> rate -> mask; paper Sec. 3)
----------------------------------------------------------------------------------------
With :math:`g(x,u) = E[\ell \mid x,u]` and :math:`v(x,u) = \mathrm{Var}(\ell \mid x,u)`:

.. math::
    \mathrm{Var}(\ell) = \underbrace{E_{x,u}[v]}_{A:\ \text{masking pattern}}
      + \underbrace{E_x[\mathrm{Var}_u(g)]}_{B:\ \text{masking rate}}
      + \underbrace{\mathrm{Var}_x(E_u[g])}_{C:\ \text{data}} .

For the oracle and :math:`\varepsilon = 0`, :math:`E_u[g] = -\log q(x)/L`, so C is exactly the
variance of the autoregressive per-token loss of the true model. For :math:`\varepsilon > 0` the k = 1
term of the second moment behaves like :math:`s_1/(L\pi)`, so A grows like
:math:`(E_x s_1(x)/L)\log(1/\varepsilon)` and is infinite at :math:`\varepsilon = 0` (our derivation).

P-POTS (paper Sec. 4.1, "Pareto-optimal t-sampler")
-----------------------------------------------------
For any density p on u with weight 1/p, :math:`A+B+C = \int \bar M_2(u)/p(u)\,du - \mu^2` with
:math:`\bar M_2 = E_x E[(c/(L\pi))^2 \mid x,u]`; Cauchy-Schwarz gives the unique optimum
:math:`p^\star \propto \sqrt{\bar M_2}` and the minimum :math:`(\int\sqrt{\bar M_2})^2 - \mu^2`. The
paper's pre-estimate targets :math:`\sqrt{\bar g^2 + \bar v}` (data-averaged mean squared plus mean
conditional variance), which omits :math:`\mathrm{Var}_x g(x,u)`; ``kind="paper"`` computes that
curve exactly. The paper's parametric "EPR" family (as implemented in StableDLLM
``LLaDA/rebuttal.py::_fit_powerU_w_KL``) is
:math:`p(u) \propto \sqrt{a u^r + b (1-u)^q + A^2 e^{2\kappa u^m}}`, fitted by minimising
:math:`KL(\hat w \Vert p)` on the grid ``linspace(1/b, 1-1/b, b-1)``; :func:`fit_epr` fits it to our
exact curve (no fitted constants of the paper are used: they are not published in a form we could read).

MIRROR (paper Sec. 4.2)
-----------------------
One uniform :math:`U_i` per position, :math:`m_1 = \{U_i < \pi\}`, :math:`m_2 = \{U_i > 1-\pi\}`, loss
:math:`(\ell_1+\ell_2)/2`. Per position the joint state is one of three: for :math:`\pi \le 1/2`
"neither" (prob :math:`1-2\pi`), "m1 only" (:math:`\pi`), "m2 only" (:math:`\pi`); for
:math:`\pi > 1/2` "both" (:math:`2\pi-1`), "m1 only" (:math:`1-\pi`), "m2 only" (:math:`1-\pi`). Grouping
the :math:`3^L` joint states by the number n0 of "neither"/"both" positions gives exact polynomials in
:math:`\pi` for :math:`E[c(m_1)c(m_2)]`. Then
:math:`\mathrm{Var}((\ell_1+\ell_2)/2 \mid x,u) = (v + \mathrm{Cov}_{12})/2`, versus v/2 for two
independent masks (``masks="pair"``). B and C are unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from scipy import special, stats

from sims.categorical import sample_categorical
from sims.denoisers.base import Denoiser
from sims.exact import all_sequences, exact_log_joint
from sims.languages.base import Language
from sims.validation import check_positive_int

#: Largest table (support sequences x masks) :func:`mask_loss_table` will build.
MAX_TABLE_ENTRIES = 2**22
#: Largest length for which the MIRROR grouped cross sums (3^L joint states) are computed.
MAX_MIRROR_LENGTH = 10

MaskScheme = Literal["single", "mirror", "pair"]
MASK_SCHEMES = ("single", "mirror", "pair")
ROWS_PER_EXAMPLE = {"single": 1, "mirror": 2, "pair": 2}


# ------------------------------------------------------------------------------------------------
# Masks and the raw loss table
# ------------------------------------------------------------------------------------------------
def mask_matrix(length: int) -> torch.Tensor:
    """``(2**L, L)`` bool: row m has position i masked iff bit i of m is set."""
    L = check_positive_int(length, "length")
    idx = torch.arange(2**L)
    return ((idx.unsqueeze(-1) >> torch.arange(L)) & 1).bool()


def mask_index(mask: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`mask_matrix`: integer index of each ``(..., L)`` boolean mask."""
    L = mask.shape[-1]
    return (mask.long() << torch.arange(L, device=mask.device)).sum(-1)


@dataclass
class MaskLossTable:
    """Raw masked losses :math:`c(x, m)` for every support sequence x and every mask m.

    Attributes:
        tokens: ``(N, L)`` the support sequences (q(x) > 0), in base-V order.
        log_q: ``(N,)`` exact ``log q(x)``.
        prob: ``(N,)`` q(x) (sums to 1 up to rounding).
        loss: ``(N, 2**L)`` float64 :math:`c(x, m)` (column m = mask index, bit i = position i).
        vocab_size, length: V and L.
        denoiser: description of the denoiser that produced the conditionals.
    """

    tokens: torch.Tensor
    log_q: torch.Tensor
    prob: torch.Tensor
    loss: torch.Tensor
    vocab_size: int
    length: int
    denoiser: dict = field(default_factory=dict)

    @property
    def num_sequences(self) -> int:
        return self.tokens.shape[0]


def masked_losses(denoiser: Denoiser, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""``(B,)`` float64 :math:`c(x, m) = \sum_{i \in m} -\log p(x_i \mid x_{\setminus m})` for rows of
    clean ``tokens`` ``(B, L)`` and boolean ``mask`` ``(B, L)`` (one denoiser call)."""
    V = denoiser.vocab_size
    noisy = torch.where(mask, torch.full_like(tokens, V), tokens)
    lp = denoiser(noisy).log_probs.to(tokens.device)
    tok = lp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, -tok, torch.zeros_like(tok)).sum(-1)


def mask_loss_table(
    language: Language, denoiser: Denoiser, length: int, batch_rows: int = 2**15
) -> MaskLossTable:
    """Enumerate the support of ``language`` at ``length`` and all ``2**L`` masks; call ``denoiser``.

    Raises ValueError when the enumeration is too large or when the denoiser gives probability zero
    to a true token of a support sequence (the loss, hence every variance, would be infinite).
    """
    L = language.check_length(length)
    V = language.vocab_size
    if denoiser.vocab_size != V:
        raise ValueError(f"denoiser vocab_size {denoiser.vocab_size} != language vocab_size {V}")
    log_joint = exact_log_joint(language, L).cpu()
    seqs = all_sequences(V, L)
    support = torch.isfinite(log_joint)
    x, log_q = seqs[support], log_joint[support]
    n_masks = 2**L
    if x.shape[0] * n_masks > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"table of {x.shape[0]} support sequences x {n_masks} masks exceeds "
            f"{MAX_TABLE_ENTRIES} entries; use a shorter length"
        )
    prob = torch.exp(log_q)
    total = float(prob.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"language probabilities over V**L sum to {total}, not 1")
    prob = prob / total
    masks = mask_matrix(L)
    N = x.shape[0]
    # Many (x, m) pairs share the same partially masked input (e.g. the all-masked one): call the
    # denoiser once per distinct input.
    rows_x = torch.arange(N).repeat_interleave(n_masks)
    rows_m = torch.arange(n_masks).repeat(N)
    noisy = torch.where(masks[rows_m], torch.full((N * n_masks, L), V), x[rows_x])
    uniq, inverse = torch.unique(noisy, dim=0, return_inverse=True)
    del noisy
    order = torch.argsort(inverse)  # rows grouped by their distinct input, chunk by chunk
    starts = list(range(0, uniq.shape[0], batch_rows))
    bounds = torch.searchsorted(inverse[order], torch.tensor(starts + [uniq.shape[0]]))
    loss = torch.empty(N * n_masks, dtype=torch.float64)
    with torch.no_grad():
        for ci, start in enumerate(starts):
            lp = denoiser(uniq[start : start + batch_rows]).log_probs.cpu()
            rows = order[bounds[ci] : bounds[ci + 1]]
            tok = lp[inverse[rows] - start].gather(-1, x[rows_x[rows]].unsqueeze(-1)).squeeze(-1)
            loss[rows] = torch.where(masks[rows_m[rows]], -tok, torch.zeros_like(tok)).sum(-1)
    loss = loss.reshape(N, n_masks)
    if not bool(torch.isfinite(loss).all()):
        bad = (~torch.isfinite(loss)).nonzero()[0].tolist()
        raise ValueError(
            f"denoiser gives probability zero to a true token (sequence {x[bad[0]].tolist()}, "
            f"mask index {bad[1]}): the masked loss is infinite"
        )
    return MaskLossTable(x, log_q, prob, loss, V, L, denoiser.describe())


# ------------------------------------------------------------------------------------------------
# Per-mask-size moments and MIRROR cross sums
# ------------------------------------------------------------------------------------------------
def mirror_joint_states(length: int) -> dict[str, np.ndarray]:
    r"""The :math:`3^L` per-position joint states of a MIRROR pair and the masks they induce.

    State code per position: 0 = "neither" (pi <= 1/2) or "both" (pi > 1/2), 1 = m1 only, 2 = m2 only.
    Returns mask indices ``low1, low2`` (pi <= 1/2), ``high1, high2`` (pi > 1/2) and ``n0`` (count of
    code-0 positions), each of shape ``(3**L,)``.
    """
    L = check_positive_int(length, "length")
    if L > MAX_MIRROR_LENGTH:
        raise ValueError(f"MIRROR enumeration needs 3**L states; length {L} > {MAX_MIRROR_LENGTH}")
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


# ------------------------------------------------------------------------------------------------
# Conditional moments given the rate
# ------------------------------------------------------------------------------------------------
def mask_probability(u, eps: float):
    r""":math:`\pi(u) = \varepsilon + (1-\varepsilon) u` (LLaDA/StableDLLM ``p_mask``)."""
    return eps + (1.0 - eps) * np.asarray(u, dtype=np.float64)


def check_eps(eps: float, allow_zero: bool = False) -> float:
    eps = float(eps)
    lo_ok = eps >= 0 if allow_zero else eps > 0
    if not (lo_ok and eps < 1 and math.isfinite(eps)):
        raise ValueError(f"eps must lie in {'[0' if allow_zero else '(0'}, 1), got {eps}")
    return eps


@dataclass
class RateMoments:
    r"""Conditional moments of the single-mask per-token loss :math:`c/(L\pi)` at rates ``u``.

    ``g``, ``m2``: ``(N, Q)`` :math:`E[\cdot \mid x,u]` and :math:`E[\cdot^2 \mid x,u]`; ``cross``:
    ``(N, Q)`` :math:`E[\ell_1\ell_2 \mid x,u]` for a MIRROR pair (None if not requested).
    """

    u: np.ndarray
    pi: np.ndarray
    g: np.ndarray
    m2: np.ndarray
    cross: np.ndarray | None


def rate_moments(moments: MaskSizeMoments, eps: float, u, mirror: bool = False) -> RateMoments:
    """Exact conditional moments at the rates ``u`` (binomial mixture over mask sizes)."""
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    pi = mask_probability(u, eps)
    if np.any(pi <= 0):
        raise ValueError("mask probability must be > 0 at every rate (use eps > 0 or u > 0)")
    L = moments.length
    k = np.arange(L + 1)
    binom = stats.binom.pmf(k[None, :], L, pi[:, None])  # (Q, L+1)
    scale = 1.0 / (L * pi)
    g = (moments.mean @ binom.T) * scale
    m2 = (moments.second @ binom.T) * scale**2
    cross = None
    if mirror:
        if moments.mirror_low is None:
            raise ValueError(
                f"MIRROR moments were not computed (mask_size_moments(mirror=True), L <= {MAX_MIRROR_LENGTH})"
            )
        n0 = k[None, :]
        lowp = np.where(
            pi[:, None] <= 0.5, pi[:, None] ** (L - n0) * np.clip(1 - 2 * pi[:, None], 0, None) ** n0, 0.0
        )
        highp = np.where(
            pi[:, None] > 0.5,
            np.clip(2 * pi[:, None] - 1, 0, None) ** n0 * (1 - pi[:, None]) ** (L - n0),
            0.0,
        )
        cross = (moments.mirror_low @ lowp.T + moments.mirror_high @ highp.T) * scale**2
    return RateMoments(u, pi, g, m2, cross)


def conditional_variance(rm: RateMoments, masks: MaskScheme) -> np.ndarray:
    """``(N, Q)`` variance of the per-example estimator (before the importance weight) given (x, u)."""
    v = rm.m2 - rm.g**2
    if masks == "single":
        return v
    if masks == "pair":
        return v / 2
    if masks == "mirror":
        return (v + (rm.cross - rm.g**2)) / 2
    raise ValueError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")


# ------------------------------------------------------------------------------------------------
# Laws of the rate variable u (the "t-sampler")
# ------------------------------------------------------------------------------------------------
class TimeSampler:
    """Law of the rate variable u in [0, 1] with its importance weight w(u).

    A proper importance sampler has ``weight = 1 / density`` on its support; the StableDLLM grid
    sampler (:class:`ReleasedGridTime`) does not, which this class can represent exactly.
    """

    name = "time_sampler"
    lo, hi = 0.0, 1.0
    breakpoints: tuple = ()

    def density(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weight(self, u: np.ndarray) -> np.ndarray:
        return 1.0 / self.density(u)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled exactly")

    def describe(self) -> dict:
        return {"name": self.name, "support": [self.lo, self.hi]}


class UniformTime(TimeSampler):
    """u ~ U[0, 1], weight 1 (the standard estimator)."""

    name = "uniform"

    def density(self, u):
        return np.ones_like(np.asarray(u, dtype=np.float64))

    def weight(self, u):
        return np.ones_like(np.asarray(u, dtype=np.float64))

    def sample(self, n, generator):
        return torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device)


class HistogramTime(TimeSampler):
    """Piecewise-constant density on ``edges`` with bin ``masses`` (exactly samplable, weight 1/p)."""

    name = "histogram"

    def __init__(self, edges: Sequence[float], masses: Sequence[float], name: str = "histogram"):
        e = np.asarray(edges, dtype=np.float64)
        m = np.asarray(masses, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0) or e[0] < 0 or e[-1] > 1:
            raise ValueError("edges must be strictly increasing in [0, 1] with at least two entries")
        if m.shape != (e.size - 1,) or np.any(m < 0) or not np.all(np.isfinite(m)) or m.sum() <= 0:
            raise ValueError("masses must be finite, non-negative, one per bin, with a positive sum")
        self.edges, self.masses = e, m / m.sum()
        self.lo, self.hi = float(e[0]), float(e[-1])
        self.breakpoints = tuple(e.tolist())
        self.name = name
        self._dens = self.masses / np.diff(e)

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        j = np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, self.masses.size - 1)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(inside, self._dens[j], 0.0)

    def sample(self, n, generator):
        probs = torch.as_tensor(self.masses).expand(n, -1)
        j = sample_categorical(probs.to(generator.device), generator).cpu()
        r = torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device).cpu()
        e = torch.as_tensor(self.edges)
        return (e[j] + r * (e[j + 1] - e[j])).to(generator.device)

    def describe(self):
        return {
            "name": self.name,
            "type": "histogram",
            "edges": self.edges.tolist(),
            "masses": self.masses.tolist(),
        }


class DensityTime(TimeSampler):
    """Density proportional to ``fn(u)`` on ``[lo, hi]``, normalised by quadrature, weight 1/p."""

    def __init__(
        self,
        fn: Callable[[np.ndarray], np.ndarray],
        name: str,
        lo: float = 0.0,
        hi: float = 1.0,
        breakpoints: Sequence[float] = (),
        eps_for_quadrature: float = 1e-12,
    ):
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"need 0 <= lo < hi <= 1, got [{lo}, {hi}]")
        self.fn, self.name, self.lo, self.hi = fn, name, float(lo), float(hi)
        self.breakpoints = tuple(breakpoints)
        u, w = quadrature_nodes(max(eps_for_quadrature, 1e-300), lo, hi, self.breakpoints)
        vals = np.asarray(fn(u), dtype=np.float64)
        if np.any(vals < 0) or not np.all(np.isfinite(vals)):
            raise ValueError(f"density function {name!r} must be finite and non-negative")
        self.norm = float(w @ vals)
        if not self.norm > 0:
            raise ValueError(f"density function {name!r} integrates to {self.norm}")

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(
            inside, np.asarray(self.fn(np.clip(u, self.lo, self.hi)), dtype=np.float64) / self.norm, 0.0
        )

    def to_histogram(
        self, num_bins: int = 64, spacing: Literal["linear", "log"] = "log", eps: float = 1e-3
    ) -> HistogramTime:
        """A samplable histogram approximation (bin masses = exact integrals of this density)."""
        if spacing == "log":
            inner = np.geomspace(max(eps, 1e-12), self.hi, num_bins)
            edges = np.unique(np.concatenate([[self.lo], inner[inner > self.lo]]))
        else:
            edges = np.linspace(self.lo, self.hi, num_bins + 1)
        masses = [
            float(quadrature_integral(lambda v: self.density(v), a, b)) for a, b in itertools.pairwise(edges)
        ]
        return HistogramTime(edges, masses, name=f"{self.name}_histogram")

    def describe(self):
        return {"name": self.name, "type": "density", "support": [self.lo, self.hi]}


class ReleasedGridTime(TimeSampler):
    """Emulation of the StableDLLM P-POTS sampler (``rebuttal.py::train``, ``sample_t_from_p``).

    The density values ``values`` on ``grid`` are normalised by the trapezoid rule; the CDF is the
    cumulative trapezoid area; a draw picks cell j with probability equal to its area and is uniform
    inside the cell, while the returned weight is 1 / (linear interpolation of the density). So the
    actual sampling density is piecewise constant (cell mean) but the weight uses the linear
    interpolant: the estimator is biased unless the values are constant, and it never samples
    outside ``[grid[0], grid[-1]]`` (truncation bias). Both biases are exact here.
    """

    name = "released_grid"

    def __init__(self, grid: Sequence[float], values: Sequence[float], name: str = "released_grid"):
        g = np.asarray(grid, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if g.ndim != 1 or g.size < 2 or np.any(np.diff(g) <= 0) or g[0] < 0 or g[-1] > 1:
            raise ValueError("grid must be strictly increasing inside [0, 1]")
        if v.shape != g.shape or np.any(v <= 0) or not np.all(np.isfinite(v)):
            raise ValueError("values must be positive and finite, one per grid point")
        area = 0.5 * (v[:-1] + v[1:]) * np.diff(g)
        self.grid, self.values = g, v / area.sum()
        self.cell_mass = area / area.sum()
        self.lo, self.hi = float(g[0]), float(g[-1])
        self.breakpoints = tuple(g.tolist())
        self.name = name

    def _cell(self, u):
        return np.clip(np.searchsorted(self.grid, u, side="right") - 1, 0, self.cell_mass.size - 1)

    def density(self, u):
        u = np.asarray(u, dtype=np.float64)
        j = self._cell(u)
        inside = (u >= self.lo) & (u <= self.hi)
        return np.where(inside, self.cell_mass[j] / np.diff(self.grid)[j], 0.0)

    def weight(self, u):
        return 1.0 / np.interp(np.asarray(u, dtype=np.float64), self.grid, self.values)

    def sample(self, n, generator):
        probs = torch.as_tensor(self.cell_mass).expand(n, -1)
        j = sample_categorical(probs.to(generator.device), generator).cpu()
        r = torch.rand(n, dtype=torch.float64, generator=generator, device=generator.device).cpu()
        g = torch.as_tensor(self.grid)
        return (g[j] + r * (g[j + 1] - g[j])).to(generator.device)

    def describe(self):
        return {"name": self.name, "type": "released_grid", "grid": [self.lo, self.hi, self.grid.size]}


# ------------------------------------------------------------------------------------------------
# Quadrature
# ------------------------------------------------------------------------------------------------
def quadrature_nodes(
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    breakpoints: Sequence[float] = (),
    nodes_per_panel: int = 16,
    max_width: float = 0.0625,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Composite Gauss-Legendre nodes/weights on ``[lo, hi]`` in u.

    Panels: geometric in :math:`\pi(u)` from :math:`\varepsilon` upwards (ratio 2, so integrands that
    behave like :math:`1/\pi` near :math:`\pi = \varepsilon` are resolved), every breakpoint, the MIRROR
    kink :math:`\pi = 1/2`, and at most ``max_width`` wide.
    """
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    pts = [lo, hi]
    pis = eps * 2.0 ** np.arange(0, math.ceil(math.log2(1.0 / eps)) + 1)
    pis = pis[pis < 1]
    pts += list((pis - eps) / (1 - eps))
    pts += list(np.arange(0, 1, max_width))
    pts += [(0.5 - eps) / (1 - eps)] if eps < 0.5 else []
    pts += list(breakpoints)
    edges = np.unique(np.clip(np.asarray(pts, dtype=np.float64), lo, hi))
    a, b = edges[:-1], edges[1:]
    keep = b > a
    a, b = a[keep], b[keep]
    nodes = (a[:, None] + b[:, None]) / 2 + (b - a)[:, None] / 2 * x[None, :]
    weights = (b - a)[:, None] / 2 * w[None, :]
    return nodes.ravel(), weights.ravel()


def quadrature_integral(
    fn: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    eps: float = 1e-12,
    breakpoints: Sequence[float] = (),
) -> float:
    u, w = quadrature_nodes(eps, lo, hi, breakpoints)
    return float(w @ np.asarray(fn(u), dtype=np.float64))


# ------------------------------------------------------------------------------------------------
# Decompositions
# ------------------------------------------------------------------------------------------------
@dataclass
class VarianceDecomposition:
    """Exact A/B/C split of the variance of one per-example estimator (per-token units, nats/token).

    ``total = A + B + C`` is the variance of one example; ``rows_per_example`` is the number of denoiser
    rows (forward passes) one example costs, so ``total * rows_per_example`` compares estimators at
    equal compute. ``mean`` is the estimator's expectation, ``target`` the per-token NELBO
    (eps = 0) and ``bias = mean - target``.
    """

    estimator: str
    A: float
    B: float
    C: float
    total: float
    mean: float
    target: float
    bias: float
    rows_per_example: int = 1
    conventions: dict = field(default_factory=dict)

    @property
    def total_per_row(self) -> float:
        return self.total * self.rows_per_example

    def to_dict(self) -> dict:
        return {**asdict(self), "total_per_row": self.total_per_row}


def _finish(name, prob, cond_var_mean, g_x_mean, g_x_second, target, rows, conventions):
    A = float(prob @ cond_var_mean)
    B = float(prob @ (g_x_second - g_x_mean**2))
    mean = float(prob @ g_x_mean)
    C = float(prob @ (g_x_mean - mean) ** 2)
    return VarianceDecomposition(name, A, B, C, A + B + C, mean, target, mean - target, rows, conventions)


def decompose_time_estimator(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    sampler: TimeSampler | None = None,
    masks: MaskScheme = "single",
    nodes_per_panel: int = 16,
    name: str | None = None,
) -> VarianceDecomposition:
    r"""Exact A/B/C of the t-form estimator :math:`w(u)\,c/(L\pi(u))`, u from ``sampler``.

    ``masks``: ``"single"`` (one Bernoulli mask), ``"mirror"`` (complementary pair from shared
    uniforms, average of the two losses), ``"pair"`` (two independent masks, averaged).
    """
    eps = check_eps(eps)
    if masks not in MASK_SCHEMES:
        raise ValueError(f"masks must be one of {MASK_SCHEMES}, got {masks!r}")
    sampler = sampler or UniformTime()
    u, w = quadrature_nodes(eps, sampler.lo, sampler.hi, sampler.breakpoints, nodes_per_panel)
    rm = rate_moments(moments, eps, u, mirror=masks == "mirror")
    dens, wt = sampler.density(u), sampler.weight(u)
    meas = w * dens
    cv = conditional_variance(rm, masks)
    gx = (rm.g * wt) @ meas
    gx2 = (rm.g * wt) ** 2 @ meas
    conv = {
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "weight": "w(u) c / (L pi(u))",
        "sampler": sampler.describe(),
        "masks": masks,
        "normalisation": "per token (divide by L)",
    }
    return _finish(
        name or f"t-form[{sampler.name}, {masks}]",
        moments.prob,
        (cv * wt**2) @ meas,
        gx,
        gx2,
        moments.nelbo_per_token(),
        ROWS_PER_EXAMPLE[masks],
        conv,
    )


def decompose_k_estimator(
    moments: MaskSizeMoments, proposal: Sequence[float] | None = None, name: str | None = None
) -> VarianceDecomposition:
    r"""Exact A/B/C of the exact-k estimator :math:`c(x,m)/(k L r_k)` (uniform r_k = 1/L: :math:`c/k`)."""
    L = moments.length
    r = np.full(L, 1.0 / L) if proposal is None else np.asarray(proposal, dtype=np.float64)
    if r.shape != (L,) or np.any(r <= 0) or abs(r.sum() - 1) > 1e-9:
        raise ValueError("proposal must be L positive probabilities for k = 1..L summing to 1")
    k = np.arange(1, L + 1)
    scale = 1.0 / (k * L * r)
    mu, s = moments.mean[:, 1:], moments.second[:, 1:]
    cv = ((s - mu**2) * scale**2) @ r
    gx = (mu * scale) @ r
    gx2 = ((mu * scale) ** 2) @ r
    conv = {
        "k": "uniform on 1..L" if proposal is None else "proposal r_k",
        "mask": "exactly k uniform positions",
        "weight": "c / (k L r_k)",
        "normalisation": "per token (divide by L)",
    }
    return _finish(
        name or ("k-form[uniform]" if proposal is None else "k-form[proposal]"),
        moments.prob,
        cv,
        gx,
        gx2,
        moments.nelbo_per_token(),
        1,
        conv,
    )


def optimal_k_proposal(moments: MaskSizeMoments) -> np.ndarray:
    r"""Variance-optimal :math:`r_k \propto \sqrt{E_x s_k(x)}/k` for the exact-k estimator (our derivation)."""
    k = np.arange(1, moments.length + 1)
    r = np.sqrt(moments.prob @ moments.second[:, 1:]) / k
    return r / r.sum()


def uniform_time_closed_form(moments: MaskSizeMoments, eps: float = 1e-3) -> VarianceDecomposition:
    r"""Closed form (incomplete Beta functions) of the uniform-u, single-mask decomposition.

    Uses :math:`\int_\varepsilon^1 \pi^{a-1}(1-\pi)^{b-1} d\pi = B(a,b)(1 - I_\varepsilon(a,b))` and, for
    the k = 1 term of the second moment,
    :math:`\int_\varepsilon^1 (1-\pi)^{L-1}/\pi\, d\pi = -\log\varepsilon - \sum_{j=1}^{L-1} (1-\varepsilon)^j/j`.
    ``eps = 0`` is allowed: then A is ``inf`` whenever some :math:`s_1(x) > 0`, while B and C are finite.
    The reference the quadrature path is tested against.
    """
    eps = check_eps(eps, allow_zero=True)
    L = moments.length
    k = np.arange(1, L + 1)
    comb = special.comb(L, k)

    def tail_beta(a, b):  # int_eps^1 pi^(a-1) (1-pi)^(b-1) dpi
        full = special.beta(a, b)
        return full * (1 - special.betainc(a, b, eps)) if eps > 0 else full

    jac = 1.0 / (1.0 - eps)  # du = dpi / (1 - eps)
    # mean: int Bin(k;L,pi)/pi = comb * B(k, L-k+1) tail = (1/k) tail-fraction
    int_g = jac * comb * tail_beta(k, L - k + 1) / L  # (L,)
    gx = moments.mean[:, 1:] @ int_g
    # second moment of the loss: int Bin(k)/pi^2
    j2 = np.empty(L)
    for i, kk in enumerate(k):
        if kk >= 2:
            j2[i] = comb[i] * tail_beta(kk - 1, L - kk + 1)
        elif eps > 0:
            j2[i] = L * (-math.log(eps) - sum((1 - eps) ** j / j for j in range(1, L)))
        else:
            j2[i] = math.inf
    s = moments.second[:, 1:]
    with np.errstate(invalid="ignore"):
        m2x = np.where(s > 0, s * (jac * j2 / L**2), 0.0).sum(1)
    # E_u g^2: sum_{k,j} mu_k mu_j C(L,k) C(L,j) int pi^(k+j-2) (1-pi)^(2L-k-j)
    kk, jj = np.meshgrid(k, k, indexing="ij")
    cross = comb[:, None] * comb[None, :] * tail_beta(kk + jj - 1, 2 * L - kk - jj + 1) * jac / L**2
    mu = moments.mean[:, 1:]
    gx2 = np.einsum("nk,kj,nj->n", mu, cross, mu)
    conv = {
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "sampler": "uniform",
        "masks": "single",
        "method": "closed form (incomplete beta)",
    }
    return _finish(
        "t-form[uniform, single] closed form",
        moments.prob,
        m2x - gx2,
        gx,
        gx2,
        moments.nelbo_per_token(),
        1,
        conv,
    )


def a_term_log_slope(moments: MaskSizeMoments) -> float:
    r"""Predicted growth rate :math:`dA/d\log(1/\varepsilon) \to E_x s_1(x) / L` as eps -> 0 (our derivation)."""
    return float(moments.prob @ moments.second[:, 1]) / moments.length


# ------------------------------------------------------------------------------------------------
# P-POTS: optimal and paper-style proposals, EPR fit, pre-estimation
# ------------------------------------------------------------------------------------------------
def proposal_curve(
    moments: MaskSizeMoments,
    eps: float,
    u,
    kind: Literal["exact", "paper"] = "exact",
    masks: MaskScheme = "single",
) -> np.ndarray:
    r"""Unnormalised P-POTS curve at ``u``.

    ``"exact"``: :math:`\sqrt{E_x[g^2] + E_x[v]}` = :math:`\sqrt{\bar M_2}` (the variance-optimal density).
    ``"paper"``: :math:`\sqrt{(E_x g)^2 + E_x v}` (what the paper's pre-estimate converges to).
    ``v`` is the conditional variance of the per-example estimator for the mask scheme ``masks``.
    """
    rm = rate_moments(moments, eps, u, mirror=masks == "mirror")
    v = moments.prob @ conditional_variance(rm, masks)
    if kind == "exact":
        return np.sqrt(np.maximum(moments.prob @ rm.g**2 + v, 0.0))
    if kind == "paper":
        return np.sqrt(np.maximum((moments.prob @ rm.g) ** 2 + v, 0.0))
    raise ValueError(f"kind must be 'exact' or 'paper', got {kind!r}")


def optimal_time_sampler(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    kind: Literal["exact", "paper"] = "exact",
    masks: MaskScheme = "single",
) -> DensityTime:
    """P-POTS density (normalised on [0, 1]) for ``kind`` and mask scheme ``masks``."""
    eps = check_eps(eps)
    return DensityTime(
        lambda u: proposal_curve(moments, eps, u, kind, masks),
        name=f"p-pots[{kind}, {masks}]",
        breakpoints=((0.5 - eps) / (1 - eps),),
        eps_for_quadrature=eps,
    )


def optimal_time_variance(moments: MaskSizeMoments, eps: float = 1e-3, masks: MaskScheme = "single") -> float:
    r"""Closed minimum :math:`(\int_0^1 \sqrt{\bar M_2})^2 - \mu^2` over all u-densities (Cauchy-Schwarz)."""
    eps = check_eps(eps)
    u, w = quadrature_nodes(eps, 0.0, 1.0, ((0.5 - eps) / (1 - eps),))
    curve = proposal_curve(moments, eps, u, "exact", masks)
    rm = rate_moments(moments, eps, u)
    mu = float(moments.prob @ (rm.g @ w))
    return float(w @ curve) ** 2 - mu**2


def paper_grid(b: int = 70) -> np.ndarray:
    """StableDLLM pre-estimation grid ``linspace(1/b, 1 - 1/b, b - 1)`` (``evaluate_over_x0``)."""
    b = check_positive_int(b, "b", minimum=3)
    return np.linspace(1.0 / b, 1.0 - 1.0 / b, b - 1)


@dataclass
class EPRFit:
    r"""Fitted EPR curve :math:`\sqrt{a u^r + b(1-u)^q + A^2 e^{2\kappa u^m}}` (parameters and KL)."""

    params: dict
    kl: float
    grid: np.ndarray

    def curve(self, u) -> np.ndarray:
        p = self.params
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        return np.sqrt(
            p["a"] * u ** p["r"]
            + p["b"] * (1 - u) ** p["q"]
            + p["A"] ** 2 * np.exp(2 * p["kappa"] * u ** p["m"])
        )

    def full_support_sampler(self) -> DensityTime:
        """The fitted curve normalised on all of [0, 1] (unbiased importance sampler)."""
        return DensityTime(self.curve, name="epr-fit[0,1]")

    def released_sampler(self) -> ReleasedGridTime:
        """The fitted curve used the StableDLLM way: grid-interpolated on [1/b, 1 - 1/b]."""
        return ReleasedGridTime(self.grid, self.curve(self.grid), name="epr-fit[released grid]")


def _softplus(z):
    return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0)


def fit_epr(grid: np.ndarray, values: np.ndarray, n_starts: int = 20, seed: int = 0) -> EPRFit:
    r"""Fit the EPR family to a curve on ``grid`` by minimising :math:`KL(\hat w \Vert p)` (trapezoid rule).

    Parameter constraints follow the released code (``rebuttal.py``, commit 1bf3d41): a, b, A > 0;
    r, q, m >= 1; kappa >= 0 (softplus reparameterisation, L-BFGS-B, ``n_starts`` seeded restarts).
    (Our research notes recalled r, q >= 0 and m > 1 for the paper's text: unverified.)
    """
    from scipy.optimize import minimize

    t = np.asarray(grid, dtype=np.float64)
    w = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
    zw = np.trapezoid(w, t)
    if not zw > 0:
        raise ValueError("values must have a positive integral on the grid")
    w_pdf = np.clip(w / zw, 1e-300, None)

    def unpack(z):
        sp = _softplus(z)
        return {
            "a": sp[0] + 1e-9,
            "b": sp[1] + 1e-9,
            "A": sp[2] + 1e-9,
            "r": 1 + sp[3],
            "q": 1 + sp[4],
            "kappa": sp[5],
            "m": 1 + sp[6],
        }

    def pdf(z):
        fit = EPRFit(unpack(z), 0.0, t)
        c = fit.curve(t)
        zc = np.trapezoid(c, t)
        return c / zc if np.isfinite(zc) and zc > 0 else None

    def loss(z):
        p = pdf(z)
        if p is None or not np.all(np.isfinite(p)):
            return 1e6
        return float(np.trapezoid(w_pdf * (np.log(w_pdf) - np.log(np.clip(p, 1e-300, None))), t))

    rng = np.random.default_rng(seed)
    best_z, best = None, np.inf
    for _ in range(n_starts):
        z0 = np.array([-0.3, 0.4, -1.0, 0.3, 0.2, -0.2, 0.2]) + rng.normal(scale=0.6, size=7)
        with np.errstate(over="ignore", invalid="ignore"):
            res = minimize(loss, z0, method="L-BFGS-B")
        if np.isfinite(res.fun) and res.fun < best:
            best_z, best = res.x, float(res.fun)
    if best_z is None:
        raise RuntimeError("EPR fit failed from every start")
    return EPRFit(unpack(best_z), best, t)


def pre_estimate_curve(
    table: MaskLossTable,
    eps: float,
    grid: np.ndarray,
    num_x: int,
    num_masks: int,
    generator: torch.Generator,
    loss_max: float | None = 10.0,
) -> dict:
    r"""Monte Carlo reproduction of the paper's P-POTS pre-estimation (StableDLLM ``evaluate_over_x0``).

    Draw ``num_x`` sequences from q; at every grid rate draw ``num_masks`` Bernoulli masks; per-token
    losses :math:`c/(L\pi)` clamped at ``loss_max`` (as the code does); return the grid, the
    data-averaged mean :math:`\hat g`, mean within-(x,u) variance :math:`\hat v` and
    :math:`\hat w = \sqrt{\hat g^2 + \hat v}`.
    """
    grid = np.asarray(grid, dtype=np.float64)
    L = table.length
    xi = sample_categorical(table.prob.expand(num_x, -1), generator).cpu()
    pi = torch.as_tensor(mask_probability(grid, eps))
    u = torch.rand(
        (num_x, grid.size, num_masks, L), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    m = mask_index(u < pi[None, :, None, None])
    c = table.loss[xi[:, None, None], m] / (L * pi[None, :, None])
    if loss_max is not None:
        c = c.clamp(max=loss_max)
    mean_x = c.mean(2)
    var_x = c.var(2, unbiased=True)
    g, v = mean_x.mean(0).numpy(), var_x.mean(0).numpy()
    return {"grid": grid, "g": g, "v": v, "w": np.sqrt(g**2 + v)}


# ------------------------------------------------------------------------------------------------
# Stratified t and the MIRROR covariance map
# ------------------------------------------------------------------------------------------------
@dataclass
class StratifiedVariance:
    """Variance of a batch mean of n examples times n (per-example equivalent) under stratified u."""

    mode: str
    num_strata: int
    total: float
    iid_total: float
    A: float | None = None
    B: float | None = None
    C: float | None = None

    @property
    def reduction_factor(self) -> float:
        return self.iid_total / self.total

    def to_dict(self):
        return {**asdict(self), "reduction_factor": self.reduction_factor}


def stratified_time_variance(
    moments: MaskSizeMoments,
    eps: float,
    num_strata: int,
    mode: Literal["independent", "systematic"] = "independent",
    nodes_per_panel: int = 16,
) -> StratifiedVariance:
    r"""Exact ``n * Var(batch mean)`` for a batch of n = ``num_strata`` examples, single masks, uniform u.

    ``"independent"``: one uniform u per stratum :math:`[j/n,(j+1)/n)` (StraTS); per stratum the law of
    total variance gives :math:`A_j, B_j, C_j` and the batch value is their average (A equals the i.i.d.
    A). ``"systematic"``: :math:`u_j = (u_0 + j)/n` with one shared :math:`u_0` (mdlm's antithetic
    sampler); then :math:`n\mathrm{Var} = n\mathrm{Var}_{u_0}(\frac1n\sum_j \bar g(u_j)) +
    \frac1n\sum_j E_{u_0}[\bar M_2(u_j) - \bar g(u_j)^2]`.
    """
    eps = check_eps(eps)
    n = check_positive_int(num_strata, "num_strata")
    iid = decompose_time_estimator(moments, eps, UniformTime(), "single", nodes_per_panel).total
    if mode == "independent":
        As, Bs, Cs = [], [], []
        for j in range(n):
            u, w = quadrature_nodes(eps, j / n, (j + 1) / n, (), nodes_per_panel)
            rm = rate_moments(moments, eps, u)
            meas = w * n
            A = float(moments.prob @ ((rm.m2 - rm.g**2) @ meas))
            gx, gx2 = rm.g @ meas, rm.g**2 @ meas
            As.append(A)
            Bs.append(float(moments.prob @ (gx2 - gx**2)))
            mean = float(moments.prob @ gx)
            Cs.append(float(moments.prob @ (gx - mean) ** 2))
        A, B, C = float(np.mean(As)), float(np.mean(Bs)), float(np.mean(Cs))
        return StratifiedVariance(mode, n, A + B + C, iid, A, B, C)
    if mode == "systematic":
        u0, w0 = quadrature_nodes(eps * n, 0.0, 1.0, (), nodes_per_panel)
        gbar = np.zeros_like(u0)
        within = np.zeros_like(u0)
        for j in range(n):
            rm = rate_moments(moments, eps, (u0 + j) / n)
            gb = moments.prob @ rm.g
            gbar += gb / n
            within += (moments.prob @ rm.m2 - gb**2) / n
        mean = float(w0 @ gbar)
        total = n * (float(w0 @ gbar**2) - mean**2) + float(w0 @ within)
        return StratifiedVariance(mode, n, total, iid)
    raise ValueError(f"mode must be 'independent' or 'systematic', got {mode!r}")


@dataclass
class MirrorCovarianceMap:
    """Sign map of :math:`\\mathrm{Cov}(\\ell_1, \\ell_2 \\mid x, u)` for MIRROR pairs on a u-grid."""

    u: np.ndarray
    cov: np.ndarray  # (N, T)
    corr: np.ndarray  # (N, T); nan where the single-mask variance is 0
    fraction_positive: float  # q-weighted over x, uniform over the u cells
    fraction_positive_by_bin: dict

    def to_dict(self) -> dict:
        return {
            "fraction_positive": self.fraction_positive,
            "fraction_positive_by_bin": self.fraction_positive_by_bin,
            "num_u_cells": int(self.u.size),
        }


def mirror_covariance_map(
    moments: MaskSizeMoments,
    eps: float = 1e-3,
    num_cells: int = 400,
    bins: Sequence[float] = (0.0, 0.1, 0.5, 0.9, 1.0),
    rel_tol: float = 1e-12,
) -> MirrorCovarianceMap:
    r"""Exact :math:`\mathrm{Cov}(\ell_1,\ell_2 \mid x,u)` at the midpoints of ``num_cells`` u-cells.

    A cell counts as positively correlated when the covariance exceeds ``rel_tol`` times the
    single-mask variance (so exact zeros from rounding are not counted). The fraction is weighted by
    q(x) and uniform in u; ``fraction_positive_by_bin`` restricts u to each bin.
    """
    u = (np.arange(num_cells) + 0.5) / num_cells
    rm = rate_moments(moments, eps, u, mirror=True)
    v = rm.m2 - rm.g**2
    cov = rm.cross - rm.g**2
    pos = cov > rel_tol * np.maximum(v, 0) + 1e-300
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(v > 0, cov / v, np.nan)
    frac = float(moments.prob @ pos.mean(1))
    by_bin = {}
    for a, b in itertools.pairwise(bins):
        sel = (u >= a) & (u < b)
        if sel.any():
            by_bin[f"[{a:g},{b:g})"] = float(moments.prob @ pos[:, sel].mean(1))
    return MirrorCovarianceMap(u, cov, corr, frac, by_bin)


# ------------------------------------------------------------------------------------------------
# Monte Carlo (the brute-force reference the exact formulas are tested against)
# ------------------------------------------------------------------------------------------------
def _draw_masks(u: torch.Tensor, eps: float, length: int, masks: MaskScheme, generator: torch.Generator):
    pi = (eps + (1 - eps) * u).unsqueeze(-1)
    U = torch.rand(
        (u.shape[0], length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    m1 = U < pi
    if masks == "single":
        return pi.squeeze(-1), [m1]
    if masks == "mirror":
        return pi.squeeze(-1), [m1, U > 1 - pi]
    U2 = torch.rand(
        (u.shape[0], length), dtype=torch.float64, generator=generator, device=generator.device
    ).cpu()
    return pi.squeeze(-1), [m1, U2 < pi]


def sample_nested_losses(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    draw_x: Callable[[int], torch.Tensor],
    length: int,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    r"""Brute-force nested draws of the per-example estimator.

    Per draw: x; rate :math:`u_1` with two independent mask draws (estimates ``a`` and ``a2``); a second
    rate :math:`u_2` with one mask draw (``b``). Unbiased moment identities:
    :math:`E[a] = \mu`, :math:`E[a^2] - \mu^2 = A+B+C`, :math:`E[(a-a_2)^2]/2 = A`,
    :math:`E[a\,b] - \mu^2 = C`.
    ``loss_fn(x, mask)`` returns :math:`c(x,m)`; ``draw_x(n)`` returns n data items.
    """
    x = draw_x(n)
    out = {}
    u1 = sampler.sample(n, generator).cpu()
    u2 = sampler.sample(n, generator).cpu()
    for key, u in (("a", u1), ("a2", u1), ("b", u2)):
        pi, ms = _draw_masks(u, eps, length, masks, generator)
        w = torch.as_tensor(sampler.weight(u.numpy()))
        vals = [loss_fn(x, m) / (length * pi) * w for m in ms]
        out[key] = sum(vals) / len(vals)
    return out


def sample_table_losses(
    table: MaskLossTable,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """:func:`sample_nested_losses` with x drawn from the support law and c looked up in ``table``."""

    def draw_x(k):
        return sample_categorical(table.prob.expand(k, -1).to(generator.device), generator).cpu()

    return sample_nested_losses(
        lambda xi, m: table.loss[xi, mask_index(m)], draw_x, table.length, eps, sampler, masks, n, generator
    )


def sample_denoiser_losses(
    language: Language,
    denoiser: Denoiser,
    length: int,
    eps: float,
    sampler: TimeSampler,
    masks: MaskScheme,
    n: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """:func:`sample_nested_losses` end to end: x from ``language.sample``, c from ``denoiser`` calls."""
    return sample_nested_losses(
        lambda x, m: masked_losses(denoiser, x, m).cpu(),
        lambda k: language.sample(k, length, generator).cpu(),
        length,
        eps,
        sampler,
        masks,
        n,
        generator,
    )


@dataclass
class MCCheck:
    """A Monte Carlo estimate with its standard error and the exact value it should match."""

    name: str
    estimate: float
    stderr: float
    exact: float

    @property
    def z(self) -> float:
        return (
            (self.estimate - self.exact) / self.stderr
            if self.stderr > 0
            else (0.0 if abs(self.estimate - self.exact) < 1e-12 else math.inf)
        )


def monte_carlo_checks(draws: dict[str, torch.Tensor], exact: VarianceDecomposition) -> list[MCCheck]:
    """Means of i.i.d. per-draw quantities (so plain CLT standard errors) against the exact values."""
    a, a2, b = draws["a"], draws["a2"], draws["b"]
    mu = exact.mean
    items = [
        ("mean", a, mu),
        ("second moment", a * a, exact.total + mu**2),
        ("A (paired masks)", (a - a2) ** 2 / 2, exact.A),
        ("C + mean^2 (paired rates)", a * b, exact.C + mu**2),
    ]
    n = a.numel()
    return [
        MCCheck(name, float(v.mean()), float(v.std(unbiased=True)) / math.sqrt(n), ex)
        for name, v, ex in items
    ]
