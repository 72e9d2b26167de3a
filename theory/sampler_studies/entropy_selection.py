r"""Does denoising-entropy selection help? Exact E-BoN laws and Monte Carlo E-SMC (arXiv 2512.21336).

* :func:`best_of_n_table`: the exact output law of E-BoN (keep the lowest path entropy of N runs;
  :func:`sims.sampling.denoising_entropy.exact_best_of_n_law`) for every N, with its exact metrics against
  the language and the output entropy H(p_N);
* :func:`entropy_smc_row`: E-SMC by Monte Carlo (unverified reading of the paper: weights
  :math:`\exp(-\lambda h_{DE})`, lowest path entropy at the end), with Wilson / t intervals.

Model calls: E-BoN costs N times the base sampler's mean calls; E-SMC counts every particle's calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser
from sims.languages.base import Language
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.sampling.base import Sampler
from sims.sampling.denoising_entropy import exact_best_of_n_law, exact_path_entropy_law
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sweep import cell_seed
from theory.information import entropy

#: Runs used to measure the base sampler's mean number of calls (seed 0).
BASE_CALL_RUNS = 2000


def mean_calls(sampler: Sampler, denoiser: Denoiser, length: int, runs: int = BASE_CALL_RUNS) -> float:
    """Mean model calls of ``sampler`` per sequence (Monte Carlo, ``runs`` sequences, seed 0)."""
    return sampler.sample(denoiser, runs, length, make_generator(0)).mean_nfe


def best_of_n_law(base: Sampler, denoiser: Denoiser, length: int, n: int) -> torch.Tensor:
    """Exact ``(V**L,)`` output law of E-BoN with N = ``n`` runs of ``base`` (lowest path entropy)."""
    joint = exact_path_entropy_law(base, denoiser, length)
    return exact_best_of_n_law(joint, n, denoiser.vocab_size, length)


def best_of_n_table(
    base: Sampler, denoiser: Denoiser, log_q: torch.Tensor, length: int, ns: Sequence[int]
) -> list[dict]:
    """Exact E-BoN rows for every N in ``ns``: KL both ways, sequence error, generative NLL, H(p_N)/L.

    ``calls`` = N x the base sampler's mean calls (:func:`mean_calls`).
    """
    V = denoiser.vocab_size
    joint = exact_path_entropy_law(base, denoiser, length)
    base_calls = mean_calls(base, denoiser, length)
    rows = []
    for n in ns:
        law = exact_best_of_n_law(joint, n, V, length)
        m = exact_law_metrics(log_q, law, length)
        rows.append(
            {
                "method": "E-BoN (exact)",
                "N": n,
                "lam": None,
                "calls": n * base_calls,
                "kl_data_to_sampler": m.kl_data_to_sampler,
                "kl_sampler_to_data": m.kl_sampler_to_data,
                "sequence_error": m.sequence_error,
                "gen_nll_per_token": m.gen_nll_per_token,
                "entropy_per_token": m.entropy_per_token,
                "sampler_entropy_per_token": entropy(law.numpy()) / length,
            }
        )
    return rows


def entropy_smc_row(
    base: Sampler,
    denoiser: Denoiser,
    language: Language,
    length: int,
    particles: int,
    lam: float,
    num_samples: int,
    seed_key: str,
) -> dict:
    """One Monte Carlo E-SMC row (P = ``particles``, weights exp(-lam h_DE)); seed from ``seed_key``."""
    res = EntropySMCSampler(base, num_particles=particles, lam=lam).sample(
        denoiser, num_samples, length, make_generator(cell_seed(seed_key, 0)), batch_size=num_samples
    )
    qual = evaluate_samples(language, res.tokens, nfe=res.nfe)
    return {
        "method": f"E-SMC lam={lam:g} (MC)",
        "N": particles,
        "lam": lam,
        "calls": res.mean_nfe,
        "sequence_error": qual.sequence_error.to_dict(),
        "gen_nll_per_token": qual.gen_nll_per_token.to_dict(),
    }
