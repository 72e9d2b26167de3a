"""Shared test helpers: chi-square goodness of fit against an exact law."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from sims.exact import sequence_index


def chi_square_pvalue(
    tokens: torch.Tensor, law: torch.Tensor, vocab_size: int, min_expected: float = 5.0
) -> float:
    """p-value of Pearson's chi-square test of sampled sequences against the exact law over V**L.

    Bins with expected count below ``min_expected`` are pooled into one bin. A sample landing on a
    sequence of exact probability zero returns 0.0 (an impossible outcome is a hard failure).
    """
    n = tokens.shape[0]
    counts = torch.bincount(sequence_index(tokens.cpu(), vocab_size), minlength=law.numel()).double()
    law = law.double().cpu()
    if bool((counts[law == 0] > 0).any()):
        return 0.0
    expected = law * n
    big = expected >= min_expected
    obs = counts[big].tolist()
    exp = expected[big].tolist()
    rest_obs, rest_exp = float(counts[~big].sum()), float(expected[~big].sum())
    if rest_exp > 0:
        obs.append(rest_obs)
        exp.append(rest_exp)
    if len(obs) < 2:
        return 1.0
    obs, exp = np.array(obs), np.array(exp)
    exp = exp * obs.sum() / exp.sum()
    return float(stats.chisquare(obs, exp).pvalue)
