r"""The raw masked-loss table :math:`c(x, m)` of any denoiser on an enumerable language.

Setting and notation (suite convention; Jia et al., arXiv 2511.18159, Sec. 3)
-----------------------------------------------------------------------------
A data sequence :math:`x \in \{0..V-1\}^L` is drawn from a language q (all sequences of the
support are enumerated). A mask is a subset :math:`m \subseteq \{0..L-1\}`; bit i of the integer
mask index is position i. For any denoiser (oracle, perturbed oracle, trained network)

.. math::
    c(x, m) = \sum_{i \in m} -\log p_\theta(x_i \mid x_{\setminus m})

is the *raw masked loss* (the denoiser sees x with the positions of m replaced by the mask id). Every
exact variance in :mod:`sims.estimators` and :mod:`theory.variance` is a function of this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sims.denoisers.base import Denoiser
from sims.exact import all_sequences, exact_log_joint
from sims.languages.base import Language
from sims.validation import InvalidArgumentError, check_positive_int

#: Largest table (support sequences x masks) :func:`mask_loss_table` will build.
MAX_TABLE_ENTRIES = 2**22


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
        raise InvalidArgumentError(f"denoiser vocab_size {denoiser.vocab_size} != language vocab_size {V}")
    log_joint = exact_log_joint(language, L).cpu()
    seqs = all_sequences(V, L)
    support = torch.isfinite(log_joint)
    x, log_q = seqs[support], log_joint[support]
    n_masks = 2**L
    if x.shape[0] * n_masks > MAX_TABLE_ENTRIES:
        raise InvalidArgumentError(
            f"table of {x.shape[0]} support sequences x {n_masks} masks exceeds "
            f"{MAX_TABLE_ENTRIES} entries; use a shorter length"
        )
    prob = torch.exp(log_q)
    total = float(prob.sum())
    if abs(total - 1.0) > 1e-9:
        raise InvalidArgumentError(f"language probabilities over V**L sum to {total}, not 1")
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
        raise InvalidArgumentError(
            f"denoiser gives probability zero to a true token (sequence {x[bad[0]].tolist()}, "
            f"mask index {bad[1]}): the masked loss is infinite"
        )
    return MaskLossTable(x, log_q, prob, loss, V, L, denoiser.describe())
