"""Linear algebra of Markov chains used by the languages: the stationary law of a transition matrix."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from sims.validation import InvalidDistributionError, as_float64, check_real, check_stochastic


def stationary_distribution(transition: torch.Tensor, tol: float = 1e-10) -> torch.Tensor:
    r"""The unique stationary law :math:`\pi = \pi A` of a row-stochastic matrix.

    Raises :class:`InvalidDistributionError` if the stationary law is not unique (the chain has several
    closed classes), naming the dimension of the eigenspace.
    """
    t = as_float64(transition, "transition")
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise InvalidDistributionError(
            f"transition must be a square (S, S) matrix, got shape {tuple(t.shape)}"
        )
    check_stochastic(t, "transition", layout="(S, S): row = current state")  # checked, not renormalised
    check_real(tol, "tol", minimum=0.0, open_min=True)
    A = t.cpu().numpy()
    S = A.shape[0]
    ns = scipy.linalg.null_space(A.T - np.eye(S), rcond=tol)
    if ns.shape[1] != 1:
        raise InvalidDistributionError(
            f"the chain has a {ns.shape[1]}-dimensional space of stationary laws (not irreducible); "
            "choose another seed or a larger support_size"
        )
    pi = ns[:, 0]
    pi = pi / pi.sum()
    if (pi < -1e-10).any():
        raise InvalidDistributionError("stationary vector has negative entries beyond rounding")
    pi = np.clip(pi, 0.0, None)
    return torch.as_tensor(pi / pi.sum(), dtype=torch.float64)
