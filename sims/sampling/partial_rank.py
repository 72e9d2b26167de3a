r"""The first m positions of a ranking by partial selection (top-k), without sorting all L positions.

:func:`sims.sampling.ranking.rank_positions` orders the positions of a row by the lexicographic key
(rounded score :math:`q_l` descending, tie key :math:`t_l` ascending), where the tie key is the position's
uniform :math:`u_l` (random ties: the full ranking sorts by :math:`u` first, then stably by :math:`q`) or its
index :math:`l` (lowest-index ties). Its first :math:`m` entries are found here in :math:`O(L)` elementwise
work plus two top-k selections:

1. the boundary :math:`b` = the m-th largest :math:`q` of the row (with multiplicity);
2. the selected set :math:`U = \{l : q_l > b\} \cup \{` the :math:`m - |\{q > b\}|` members of
   :math:`\{l : q_l = b\}` with the smallest tie keys :math:`\}` (exactly m positions);
3. :math:`U` sorted by :math:`t` ascending, then stably by :math:`q` descending (two sorts of m entries).

This is the same list as the full ranking's first m entries whenever the tie keys of a row are distinct:
always for index keys; for uniform keys, equal values among U or at the boundary (probability at most
about :math:`L^2/2^{53}` per row, with float64 uniforms) make the full ranking's order depend on the
unstable argsort, so :func:`ranking_prefix` detects them and returns None (the caller then runs the
full ranking). Rows with a NaN score also return None.
"""

from __future__ import annotations

import torch


def ranking_prefix(q: torch.Tensor, m: int, u: torch.Tensor | None = None) -> torch.Tensor | None:
    """Positions ``(n, m)`` of the m best entries of each row of ``q`` ``(n, L)`` (module docstring).

    ``q``: rounded scores (non-candidates ``-inf``); ``u``: the uniform tie keys ``(n, L)``, or None for
    lowest-index ties; ``0 <= m < L``. Returns None when the partial selection cannot reproduce the full
    ranking (equal uniform tie keys where they matter, or a NaN score).
    """
    n, L = q.shape
    if m == 0:
        return torch.empty((n, 0), dtype=torch.long, device=q.device)
    if bool(torch.isnan(q).any()):
        return None
    bound = q.topk(m, dim=-1, sorted=False).values.amin(-1, keepdim=True)  # the m-th largest score
    above = q > bound
    tied = q == bound
    need = m - above.sum(-1, keepdim=True)  # >= 1 members of the boundary tie group
    if bool((tied.sum(-1, keepdim=True) == need).all()):
        chosen = above | tied  # every row takes its whole boundary group (no tie to break there)
    else:
        key = u if u is not None else torch.arange(L, dtype=torch.float64, device=q.device).expand(n, L)
        tie_key = torch.where(tied, key, torch.inf)
        smallest = tie_key.topk(int(need.max()), dim=-1, largest=False, sorted=True).values
        cut = smallest.gather(-1, need - 1)  # the need-th smallest tie key in the boundary group
        chosen = above | (tied & (tie_key <= cut))
        if not bool((chosen.sum(-1) == m).all()):
            return None  # equal uniforms at the boundary
    idx = chosen.nonzero(as_tuple=True)[1].view(n, m)  # row-major: ascending positions in each row
    if u is not None:
        keys, by_key = u.gather(-1, idx).sort(dim=-1)
        if bool((keys[:, 1:] == keys[:, :-1]).any()):
            return None  # equal uniforms among the selected
        idx = idx.gather(-1, by_key)
    inner = q.gather(-1, idx).sort(dim=-1, descending=True, stable=True).indices
    return idx.gather(-1, inner)
