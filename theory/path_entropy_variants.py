r"""Denoising-entropy path statistics (Chen et al., arXiv 2512.21336) as labelled variants, and whether the
choice changes E-BoN's output law, exactly.

The path entropy that E-BoN ranks is known only loosely (``paper_statements.md`` §8 D5, §10 item 6;
secondary): the suite's default sums the state entropies :math:`h_{DE}(z_k)` over the evaluated steps
(:mod:`sims.sampling.denoising_entropy`); a public third-party reimplementation integrates over diffusion
time with the trapezoid rule, :math:`U = |\int h_{DE}\,dt|`. With step k evaluated at time
:math:`t_k` (:math:`t_0 = 1 > t_1 > \dots > t_K = 0`, :math:`h_K = 0` once nothing is masked), the trapezoid
rule is a weighted sum :math:`U = \sum_{k<K} w_k h_k` with :math:`w_k = (t_{k-1} - t_{k+1})/2`,
:math:`t_{-1} := t_0` (:func:`trapezoid_weights`).

:func:`exact_weighted_path_entropy_law` propagates (partial sequence, weighted path entropy) through a
sampler's exact kernel, so E-BoN's law (:func:`sims.sampling.denoising_entropy.exact_best_of_n_law`) is exact
for any weights. On a uniform time grid the trapezoid weights are :math:`\Delta t` except
:math:`w_0 = \Delta t/2`, and :math:`h_0` (the all-masked state) is the same on every path, so the
time-integral statistic is an increasing affine function of the sum and E-BoN's law cannot change; the
study measures that (and the mean-over-steps variant) exactly, for the oracle and perturbed oracles.
The softmax-of-exponent resampling weights of the same reimplementation concern E-SMC (Monte Carlo) and
are not covered here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from sims.denoisers.base import Denoiser
from sims.metrics import exact_law_metrics
from sims.sampling.base import Sampler
from sims.sampling.denoising_entropy import exact_best_of_n_law, exact_path_entropy_law
from sims.sampling.ranking import quantize
from sims.validation import InvalidArgumentError

PATH_VARIANTS = ("sum", "mean", "time_integral")


def trapezoid_weights(times: Sequence[float]) -> np.ndarray:
    """Weights ``w_k`` (k < K) of the trapezoid rule on the grid ``t_0 > ... > t_K`` with ``h_K = 0``."""
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not bool(np.all(np.diff(t) < 0)):
        raise InvalidArgumentError(
            f"times must be a strictly decreasing grid of at least 2 points, got {times!r}"
        )
    prev = np.concatenate([t[:1], t[:-2]])
    return (prev - t[1:]) / 2.0


def exact_weighted_path_entropy_law(
    sampler: Sampler, denoiser: Denoiser, length: int, weights: Sequence[float] | None, mean: bool = False
) -> dict:
    """``{(sequence, statistic): probability}``; statistic = sum_k w_k h_DE(z_k) over the steps that start
    with a mask (``weights`` None: all 1), divided by their number when ``mean``. State entropy: mean over
    the masked positions (the official reduction), in nats, rounded like the suite's traces; the statistic
    is rounded too, so equal statistics of different paths merge. The propagation is
    :func:`sims.sampling.denoising_entropy.exact_path_entropy_law` with step weights."""
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise InvalidArgumentError(f"weights must have one entry per step, got shape {weights.shape}")
    joint = exact_path_entropy_law(
        sampler, denoiser, length, "mean", "mean" if mean else "sum", None if weights is None else weights
    )
    out: dict = defaultdict(float)
    for (tokens, stat), pr in joint.items():
        out[(tokens, float(quantize(torch.tensor(stat, dtype=torch.float64))))] += pr
    return dict(out)


def variant_law(sampler: Sampler, denoiser: Denoiser, length: int, variant: str) -> dict:
    """The joint law of a named variant; ``time_integral`` on the uniform grid t_k = 1 - k/K."""
    if variant not in PATH_VARIANTS:
        raise InvalidArgumentError(f"variant must be one of {PATH_VARIANTS}, got {variant!r}")
    if variant == "time_integral":
        K = sampler.num_steps(length)
        return exact_weighted_path_entropy_law(
            sampler, denoiser, length, trapezoid_weights(1 - np.arange(K + 1) / K)
        )
    return exact_weighted_path_entropy_law(sampler, denoiser, length, None, mean=variant == "mean")


def ebon_variant_rows(
    sampler: Sampler, denoiser: Denoiser, log_q: torch.Tensor, length: int, ns: Sequence[int]
) -> list[dict]:
    """E-BoN with each variant and N: exact KL(q || p_N), sequence error, and the largest difference of its
    law from the ``sum`` variant's."""
    V = denoiser.vocab_size
    joints = {v: variant_law(sampler, denoiser, length, v) for v in PATH_VARIANTS}
    rows = []
    for n in ns:
        laws = {v: exact_best_of_n_law(j, int(n), V, length) for v, j in joints.items()}
        for v, law in laws.items():
            m = exact_law_metrics(log_q, law, length)
            rows.append(
                {
                    "variant": v,
                    "N": int(n),
                    "kl_data_to_sampler": m.kl_data_to_sampler,
                    "sequence_error": m.sequence_error,
                    "max_abs_law_difference_vs_sum": float((law - laws["sum"]).abs().max()),
                }
            )
    return rows
