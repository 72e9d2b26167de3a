r"""Exact quality of samplers on enumerable languages, and the margins of the EB / Fast-dLLM bounds.

* :func:`exact_output_law`: a sampler's exact output law over V^L, chosen by the sampler contract
  (``capabilities.exact_kernel`` -> :func:`sims.exact.exact_sampler_law`), never by the sampler's class;
* :func:`exact_quality_cell`: exact KL both ways, TV, sequence error and NLLs of that law against the
  language, with the mean model calls measured by Monte Carlo (calls are random for adaptive rules);
* :func:`deterministic_margins`: the exact decomposition of KL(q || p) for a deterministic rule
  (:func:`theory.parallel_bounds.replay_deterministic`) with the ratio of each bound to the KL it bounds.
"""

from __future__ import annotations

import math

import torch

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser
from sims.exact import exact_sampler_law
from sims.metrics import exact_law_metrics
from sims.sampling.base import Sampler
from sims.sweep import cell_seed
from sims.validation import InvalidArgumentError
from theory.parallel_bounds import replay_deterministic

#: |KL| below this is an exact zero up to float64 rounding (sums of at most 3^6 terms of size <= 10 nats
#: give errors ~1e-15); bound ratios are not formed for such KL.
ZERO_KL = 1e-12


def exact_output_law(sampler: Sampler, denoiser: Denoiser, length: int) -> torch.Tensor:
    """``(V**L,)`` exact output law of ``sampler`` (needs ``capabilities.exact_kernel``)."""
    if not sampler.capabilities.exact_kernel:
        raise InvalidArgumentError(
            f"{sampler.name}: no exact transition kernel (capabilities.exact_kernel is False); a "
            "history-dependent rule needs its own exact propagation (e.g. remdm_exact.exact_remdm_laws_conf)"
        )
    return exact_sampler_law(sampler, denoiser, length)


def exact_quality_cell(
    sampler: Sampler,
    denoiser: Denoiser,
    log_q: torch.Tensor,
    length: int,
    mc_runs: int,
    seed_key: str,
) -> dict:
    """Exact metrics of ``sampler``'s law against ``log_q`` and its Monte Carlo mean calls.

    Returns ``{"metrics": ExactLawMetrics dict, "nfe_mean", "nfe_stderr"}``; the ``mc_runs`` runs are
    seeded from ``seed_key`` (:func:`sims.sweep.cell_seed`).
    """
    m = exact_law_metrics(log_q, exact_output_law(sampler, denoiser, length), length)
    res = sampler.sample(
        denoiser, mc_runs, length, make_generator(cell_seed(seed_key, 0)), batch_size=mc_runs
    )
    return {
        "metrics": m.to_dict(),
        "nfe_mean": res.mean_nfe,
        "nfe_stderr": float(res.nfe.double().std()) / math.sqrt(mc_runs),
    }


def deterministic_margins(sampler: Sampler, log_q: torch.Tensor, denoiser: Denoiser, length: int) -> dict:
    r"""Exact KL(q || p) of a deterministic ranked rule and its bounds, along the data-induced path.

    ``sampler`` must have a deterministic selection (``tie_break="lowest_index"``); its
    ``select_positions`` is replayed on every sequence. Returns
    :meth:`~theory.parallel_bounds.DeterministicDecomposition.summary` plus ``identity_gap`` =
    |KL - (E sum TC + E model error)| and the ratios ``eb_certificate_ratio`` = E_q sum (sum H - max H) / KL
    and ``fast_dllm_bound_ratio`` = E_q sum Thm-1 certificate / KL (None where KL <= :data:`ZERO_KL`).
    """
    dec = replay_deterministic(sampler.select_positions, log_q, denoiser, denoiser.vocab_size, length)
    s = dec.summary()
    kl = s["kl"]
    s["identity_gap"] = abs(kl - (s["expected_tc"] + s["expected_model_error"]))
    s["eb_certificate_ratio"] = s["expected_eb_certificate_data"] / kl if kl > ZERO_KL else None
    s["fast_dllm_bound_ratio"] = s["expected_fast_dllm_bound"] / kl if kl > ZERO_KL else None
    return s
