r"""Per-position masked losses :math:`c_j(x, m)` for every support sequence and mask, and their uses.

:mod:`sims.estimators.loss_table` keeps only the sum :math:`c(x,m) = \sum_{j\in m} c_j(x,m)`; estimators
that weight tokens differently (ISAD's per-token weights :math:`1/q_j`, SyRM's eligible sets; Jia et al.,
arXiv 2511.18159, Sec. 4.3-4.4) need the terms

.. math::
    c_j(x, m) = -\log p_\theta(x_j \mid x_{\setminus m})\quad (j \in m),\qquad 0\ (j \notin m).

:meth:`PositionLossTable.restrict` turns the table into the raw loss table of the sub-problem in which
only the positions of an *eligible set* E may be masked (the others, e.g. a prompt, are always
revealed): masks :math:`m \subseteq E` re-indexed as masks of length :math:`|E|`, so every exact
decomposition of :mod:`sims.estimators` applies to it unchanged (normalisation per eligible token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from sims.denoisers.base import Denoiser
from sims.estimators.loss_table import MAX_TABLE_ENTRIES, MaskLossTable, mask_matrix
from sims.validation import InvalidArgumentError


@dataclass
class PositionLossTable:
    """``loss[n, m, j]`` = :math:`c_j(x_n, m)` (0 for j not in m); ``tokens`` ``(N, L)``, ``prob`` ``(N,)``."""

    tokens: torch.Tensor
    log_q: torch.Tensor
    prob: torch.Tensor
    loss: torch.Tensor
    vocab_size: int
    length: int
    denoiser: dict = field(default_factory=dict)

    def masked_loss(self) -> MaskLossTable:
        """The summed table :math:`c(x, m)` (:class:`MaskLossTable`)."""
        return MaskLossTable(
            self.tokens, self.log_q, self.prob, self.loss.sum(-1), self.vocab_size, self.length, self.denoiser
        )

    def restrict(self, eligible: Sequence[int], count: Sequence[int] | None = None) -> MaskLossTable:
        """Raw loss table of the eligible-set problem: masks m of the positions ``eligible`` only (in the
        given order: bit i of the new mask index = ``eligible[i]``), losses summed over the positions
        ``count`` (default: all eligible positions)."""
        E = [int(j) for j in eligible]
        if len(set(E)) != len(E) or not E or min(E) < 0 or max(E) >= self.length:
            raise InvalidArgumentError(
                f"eligible must be distinct positions in 0..{self.length - 1}, got {list(eligible)}"
            )
        cnt = E if count is None else [int(j) for j in count]
        sub = mask_matrix(len(E)).long()
        full_index = (sub << torch.as_tensor(E)).sum(-1)
        loss = self.loss[:, full_index][:, :, cnt].sum(-1)
        desc = {**self.denoiser, "eligible": E, "counted": cnt}
        return MaskLossTable(self.tokens, self.log_q, self.prob, loss, self.vocab_size, len(E), desc)


def position_loss_table(
    tokens: torch.Tensor, log_q: torch.Tensor, denoiser: Denoiser, batch_rows: int = 2**15
) -> PositionLossTable:
    """Per-position losses of ``denoiser`` on the sequences ``tokens`` (``(N, L)``, law ``exp(log_q)``)."""
    tokens = torch.as_tensor(tokens).long()
    N, L = tokens.shape
    V = denoiser.vocab_size
    if N * 2**L * L > MAX_TABLE_ENTRIES:
        raise InvalidArgumentError(f"table of {N} sequences x {2**L} masks x {L} positions is too large")
    masks = mask_matrix(L)
    rows_x = torch.arange(N).repeat_interleave(2**L)
    rows_m = torch.arange(2**L).repeat(N)
    noisy = torch.where(masks[rows_m], torch.full((N * 2**L, L), V), tokens[rows_x])
    out = []
    with torch.no_grad():
        for s in range(0, noisy.shape[0], batch_rows):
            lp = denoiser(noisy[s : s + batch_rows]).log_probs.cpu()
            tok = lp.gather(-1, tokens[rows_x[s : s + batch_rows]].unsqueeze(-1)).squeeze(-1)
            out.append(torch.where(masks[rows_m[s : s + batch_rows]], -tok, torch.zeros_like(tok)))
    loss = torch.cat(out).reshape(N, 2**L, L)
    if not bool(torch.isfinite(loss).all()):
        raise InvalidArgumentError(
            "denoiser gives probability zero to a true token: the masked loss is infinite"
        )
    log_q = torch.as_tensor(log_q, dtype=torch.float64)
    prob = torch.exp(log_q)
    return PositionLossTable(tokens, log_q, prob / prob.sum(), loss, V, L, denoiser.describe())
