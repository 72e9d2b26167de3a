r"""ISAD (importance sampling on answer delimiters): exact mean, bias and A/B/C by mask enumeration.

Source: Jia et al., arXiv 2511.18159, Sec. 4.4 as given by a third-party extraction (research notes
``paper_statements.md`` J10): each token j is masked with probability

.. math::
    q_j(t) = t \ \ (x_j \notin \text{rare ids}),\qquad q_j(t) = \min(1, t + \Delta)\ \ (x_j \in \text{rare ids}),

and its loss is reweighted by :math:`1/q_j(t)` "to keep the estimator unbiased". With the floor of the
released code, t is replaced by :math:`\pi(u) = \varepsilon + (1-\varepsilon)u` (our convention,
:mod:`sims.estimators.rates`). Per token the estimator is

.. math::
    \ell_{\rm ISAD} = \frac1L \sum_{j \in m} \frac{c_j(x, m)}{q_j(\pi(u))},\qquad
    m \sim \textstyle\bigotimes_j \mathrm{Bern}(q_j).

**Why it is biased (our derivation).** :math:`E[\mathbb 1_{j\in m} c_j(x,m)/q_j] = E_{m_{-j}}[c_j(x,
m_{-j}\cup\{j\})]`: the weight corrects token j's own inclusion probability, but the *context* of every
other token is now drawn with the rare positions masked more often. Only sequences without a rare token
keep the standard per-sequence mean (and the term of a rare token j itself is unchanged when it is the only
rare token). On the cases of the figure ``variance_estimators`` the bias is positive (less context, larger
losses), but the rare positions depend on x, so no general sign follows. The full likelihood-ratio weight :math:`\prod_j (\pi/q_j)^{m_j}((1-\pi)/(1-q_j))^{1-m_j}`
(``variant="lr"``) restores unbiasedness where :math:`q_j < 1`; where :math:`\pi + \Delta \ge 1` the rare
positions are always masked, masks without them have ISAD probability 0, and the lost mass is an exact,
computable bias. Everything is computed by enumerating all :math:`2^L` masks at quadrature nodes in u
(the brute-force check of the grouped formulas of :mod:`sims.estimators`: ``variant="standard"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from sims.estimators.decomposition import VarianceDecomposition, assemble_decomposition
from sims.estimators.loss_table import mask_matrix
from sims.estimators.moments import mask_size_moments
from sims.estimators.position_table import PositionLossTable
from sims.estimators.quadrature import quadrature_nodes
from sims.estimators.rates import check_eps, mask_probability
from sims.validation import InvalidArgumentError

Variant = Literal["standard", "isad", "lr"]
VARIANTS = ("standard", "isad", "lr")


def isad_probabilities(tokens, rare_ids: Sequence[int], pi: np.ndarray, delta: float) -> np.ndarray:
    """``(N, Q, L)`` masking probability :math:`q_j` of every position of every sequence at each ``pi``."""
    rare = np.isin(np.asarray(tokens), np.asarray(list(rare_ids), dtype=np.int64))  # (N, L)
    pi = np.asarray(pi, dtype=np.float64)[None, :, None]
    return np.where(rare[:, None, :], np.minimum(1.0, pi + delta), pi)


#: Stand-in for log 0 in the einsums below (0 * -inf would be nan); sums of at most L of them stay finite.
_LOG_ZERO = -1e300


def _log_bernoulli(q: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(N, Q, M)`` log P(m) under independent Bern(q_j) (``-inf`` for impossible masks)."""
    with np.errstate(divide="ignore"):
        lq = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)), _LOG_ZERO)
        l1q = np.where(q < 1, np.log1p(-np.where(q < 1, q, 0.0)), _LOG_ZERO)
    out = np.einsum("nql,ml->nqm", lq, masks) + np.einsum("nql,ml->nqm", l1q, 1.0 - masks)
    return np.where(out < 0.5 * _LOG_ZERO, -np.inf, out)


def isad_decomposition(
    table: PositionLossTable,
    eps: float = 1e-3,
    rare_ids: Sequence[int] = (),
    delta: float = 0.2,
    variant: Variant = "isad",
    nodes_per_panel: int = 16,
    chunk: int = 64,
) -> VarianceDecomposition:
    """Exact A/B/C (uniform u, single mask) of the ``variant`` estimator by enumeration of all masks.

    ``"standard"``: :math:`c/(L\\pi)` under Bern(:math:`\\pi`) masks (equals the grouped
    :func:`sims.estimators.decompose_time_estimator`); ``"isad"``: the ISAD estimator above; ``"lr"``:
    ISAD masks with the full likelihood-ratio weight. ``bias`` is relative to the per-token NELBO
    (eps = 0), as everywhere in :mod:`sims.estimators`.
    """
    eps = check_eps(eps)
    if variant not in VARIANTS:
        raise InvalidArgumentError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not 0 <= delta < 1:
        raise InvalidArgumentError(f"delta must lie in [0, 1), got {delta}")
    L = table.length
    masks = mask_matrix(L).double().numpy()  # (M, L)
    c_pos = table.loss.numpy()  # (N, M, L)
    c = c_pos.sum(-1)  # (N, M)
    kink = (1.0 - delta - eps) / (1.0 - eps)
    u, w = quadrature_nodes(eps, 0.0, 1.0, (kink,) if 0 < kink < 1 else (), nodes_per_panel)
    N = c.shape[0]
    gx, gx2, vx = np.zeros(N), np.zeros(N), np.zeros(N)
    for s in range(0, u.size, chunk):
        uu, ww = u[s : s + chunk], w[s : s + chunk]
        pi = mask_probability(uu, eps)
        q_std = np.broadcast_to(pi[None, :, None], (N, uu.size, L))
        q = q_std if variant == "standard" else isad_probabilities(table.tokens, rare_ids, pi, delta)
        logp = _log_bernoulli(q, masks)
        prob_m = np.exp(logp)
        if variant == "isad":
            f = np.einsum("nml,nql->nqm", c_pos, 1.0 / q) / L
        else:
            f = np.broadcast_to((c[:, None, :] / (L * pi[None, :, None])), prob_m.shape)
            if variant == "lr":
                ratio = np.exp(np.where(np.isfinite(logp), _log_bernoulli(q_std, masks) - logp, -np.inf))
                f = f * ratio
        g = (prob_m * f).sum(-1)
        m2 = (prob_m * f * f).sum(-1)
        gx += g @ ww
        gx2 += g**2 @ ww
        vx += (m2 - g**2) @ ww
    conv = {
        "rate": "pi(u) = eps + (1 - eps) u",
        "eps": eps,
        "variant": variant,
        "rare_ids": list(map(int, rare_ids)),
        "delta": delta,
        "method": "enumeration of all 2^L masks at quadrature nodes",
    }
    prob = table.prob.numpy()
    target = mask_size_moments(table.masked_loss(), mirror=False).nelbo_per_token()
    return assemble_decomposition(f"{variant}[delta={delta}]", prob, vx, gx, gx2, target, 1, conv)


def rarest_token(table: PositionLossTable) -> int:
    """The token of smallest marginal frequency (averaged over positions) under the table's law: our
    stand-in for an "answer delimiter" id on a synthetic language."""
    V = table.vocab_size
    onehot = np.eye(V)[table.tokens.numpy()]  # (N, L, V)
    freq = np.einsum("n,nlv->v", table.prob.numpy(), onehot)
    return int(np.argmin(freq))
