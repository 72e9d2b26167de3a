r"""Minimum-violation posterior: the oracle's principled fallback for impossible evidence.

If the revealed tokens have probability zero under the language q, the posterior does not exist.
Replace every zero entry of the language's tables (initial law, transition, HMM emission) by
:math:`\varepsilon` (renormalising the rows or not: it does not change the limit) and call the result
:math:`q_\varepsilon`. Every configuration :math:`c` (a token sequence, plus a hidden path for an HMM)
consistent with the revealed tokens then has weight

.. math::
    q_\varepsilon(c) = \varepsilon^{k(c)}\, p(c)\, (1 + O(\varepsilon)),

with :math:`k(c)` the number of zero-probability factors it uses ("violations") and :math:`p(c)` the
product of its non-zero factors. Hence

.. math::
    \lim_{\varepsilon \to 0} q_\varepsilon(x_i = v \mid x_R)
    = \frac{\sum_{c:\, k(c) = k^\star,\, x_i = v} p(c)}{\sum_{c:\, k(c) = k^\star} p(c)},
    \qquad k^\star = \min_c k(c),

the posterior of the closest valid language. It equals the ordinary posterior when the evidence is
possible (:math:`k^\star = 0`). It is computed by forward-backward in the lexicographic semiring of
pairs (count, log weight):

.. math::
    (k_1, \ell_1) \otimes (k_2, \ell_2) = (k_1 + k_2, \ell_1 + \ell_2), \qquad
    (k_1, \ell_1) \oplus (k_2, \ell_2) = \big(\min(k_1, k_2),\ \log \textstyle\sum_{i: k_i = \min} e^{\ell_i}\big)

(the "expectation"/lexicographic semiring construction; see e.g. Goodman, "Semiring parsing", CL 1999,
and Eisner's expectation semirings; this is the tropical-times-log product order). Counts are exact
integers in float64; structural zeros of the lifted chain (window-shift consistency of n-gram states,
one-hot evidence of revealed n-gram tokens) are hard constraints (count :math:`+\infty`), not violations.

Violations counted (the factors of the language's own definition):

* HMM: :math:`\pi(z_1)`, each :math:`A(z_{t-1}, z_t)`, each :math:`B(z_t, x_t)` (at masked positions the
  token is summed over, so the factor is :math:`\sum_{v: B(z,v) > 0} B(z, v) = 1`, no violation);
* n-gram of order n >= 2: :math:`\rho(x_{1:n-1})` once, and each :math:`P(x_t \mid \text{context})`;
* order 1 (i.i.d.): each :math:`P(x_t)`.

Cost: :math:`O(B\,T\,S^2)` dense work (no BLAS), used only for the rows that are impossible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sims.inference.chain import LexTables, LiftedChain, log_normalize
from sims.inference.linear import state_log_evidence


@dataclass
class LexChain:
    """A lifted chain in the lexicographic (violation count, log weight) semiring.

    Attributes:
        chain: the ordinary lifted chain of the language (evidence layout, token projection).
        init_count, init_logp: ``(S,)`` violations and log weight of the initial factor.
        trans_count, trans_logp: ``(S, S)`` same for the transition (count ``inf`` = structural zero).
        evidence_violations: True when zero evidence of a revealed token is a violation (HMM emission),
            False when it is a hard constraint (one-hot n-gram window evidence).
    """

    chain: LiftedChain
    init_count: torch.Tensor
    init_logp: torch.Tensor
    trans_count: torch.Tensor
    trans_logp: torch.Tensor
    evidence_violations: bool

    def node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node evidence ``(count, logp)``, each ``(B, T, S)``."""
        first, rest = self.chain.evidence(tokens)
        ev = torch.cat([first.unsqueeze(1), state_log_evidence(self.chain, rest)], 1)
        zero = ~torch.isfinite(ev)
        if self.evidence_violations:  # log B[:, x]: a zero emission of a revealed token is one violation
            count = zero.to(torch.float64)
        else:  # one-hot consistency of revealed tokens: hard constraint
            count = torch.where(zero, torch.full_like(ev, math.inf), torch.zeros_like(ev))
        return count, torch.where(zero, torch.zeros_like(ev), ev)


def split_zeros(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(violation count, log of the non-zero factor) of a probability table: count 1 at zeros."""
    zero = table == 0
    return zero.to(torch.float64), torch.where(zero, torch.zeros_like(table), torch.log(table))


def supports_min_violation(chain: LiftedChain) -> bool:
    """The fallback is defined for chains given by probability tables (HMM and n-gram chains)."""
    return chain.lexicographic_tables() is not None


def lex_chain(chain: LiftedChain) -> LexChain:
    """The lexicographic chain of ``chain`` (from :meth:`~sims.inference.chain.LiftedChain.lexicographic_tables`)."""
    tables: LexTables | None = chain.lexicographic_tables()
    if tables is None:
        raise NotImplementedError(
            f"the min-violation posterior needs probability tables; {type(chain).__name__} gives none"
        )
    return LexChain(
        chain,
        tables.init_count,
        tables.init_logp,
        tables.trans_count,
        tables.trans_logp,
        tables.evidence_violations,
    )


def _lex_propagate(count: torch.Tensor, logp: torch.Tensor, tc: torch.Tensor, tl: torch.Tensor):
    """Lexicographic vector-matrix product: ``(B, S_in)`` pairs with an ``(S_in, S_out)`` table."""
    cand_c = count.unsqueeze(-1) + tc  # (B, S_in, S_out)
    new_c = cand_c.amin(1)
    cand_l = torch.where(
        (cand_c == new_c.unsqueeze(1)) & torch.isfinite(cand_c),
        logp.unsqueeze(-1) + tl,
        torch.full_like(cand_c, -math.inf),
    )
    return new_c, torch.logsumexp(cand_l, 1)


def _renormalise(count: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Shift log weights by a per-row constant (harmless: it does not change the order) to keep them O(1)."""
    finite = torch.isfinite(count) & torch.isfinite(logp)
    shift = torch.where(finite, logp, torch.full_like(logp, -math.inf)).amax(-1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    return torch.where(torch.isfinite(count), logp - shift, torch.full_like(logp, -math.inf))


@dataclass
class MinViolationPosterior:
    """Node posteriors of the minimum-violation limit.

    Attributes:
        log_gamma: ``(B, T, S)`` normalised log node posteriors.
        min_violations: ``(B,)`` the minimal number of zero-probability factors :math:`k^\\star`
            (0 exactly when the evidence is possible; ``inf`` if even the smoothed language forbids it,
            which cannot happen for HMM and n-gram languages).
    """

    log_gamma: torch.Tensor
    min_violations: torch.Tensor


def min_violation_posterior(lex: LexChain, tokens: torch.Tensor) -> MinViolationPosterior:
    """Forward-backward in the lexicographic semiring (module docstring) for ``(B, L)`` tokens."""
    ec, el = lex.node_evidence(tokens)  # (B, T, S)
    _B, T, S = ec.shape
    fc = torch.empty_like(ec)
    fl = torch.empty_like(el)
    c, lp = lex.init_count + ec[:, 0], lex.init_logp + el[:, 0]
    fc[:, 0], fl[:, 0] = c, _renormalise(c, lp)
    for t in range(1, T):
        c, lp = _lex_propagate(fc[:, t - 1], fl[:, t - 1], lex.trans_count, lex.trans_logp)
        c, lp = c + ec[:, t], lp + el[:, t]
        fc[:, t], fl[:, t] = c, _renormalise(c, lp)
    bc = torch.zeros_like(ec)
    bl = torch.zeros_like(el)
    tc_t, tl_t = lex.trans_count.T.contiguous(), lex.trans_logp.T.contiguous()
    for t in range(T - 2, -1, -1):
        nc, nl = bc[:, t + 1] + ec[:, t + 1], bl[:, t + 1] + el[:, t + 1]
        c, lp = _lex_propagate(nc, nl, tc_t, tl_t)
        bc[:, t], bl[:, t] = c, _renormalise(c, lp)
    gc, gl = fc + bc, fl + bl
    k_star = gc.amin(-1, keepdim=True)  # (B, T, 1): the same at every node (global minimum)
    sel = (gc == k_star) & torch.isfinite(gc)
    log_gamma, _ = log_normalize(torch.where(sel, gl, torch.full_like(gl, -math.inf)))
    impossible = ~torch.isfinite(k_star[:, 0, 0])
    uniform = torch.full((S,), -math.log(S), dtype=torch.float64, device=ec.device)
    log_gamma = torch.where(impossible[:, None, None], uniform, log_gamma)
    return MinViolationPosterior(log_gamma=log_gamma, min_violations=k_star[:, 0, 0])
