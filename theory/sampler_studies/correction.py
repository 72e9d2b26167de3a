r"""Exact self-correction studies: remask-and-resample rounds, ReMDM's marginal schedule, AP-MDM processes.

* :func:`corrector_trajectory`: exact TV, KL(q || p_n) and sequence error of :math:`p_n = p_0 K^n` after
  n remask-and-resample rounds (the round kernel K of
  :func:`sims.sampling.remask.corrector_round_kernel`), against the calls n rounds cost;
* :func:`remdm_schedule_deviation`: ReMDM Theorem 3.1 as implemented (arXiv 2503.00307): the exact
  per-position P(masked) after every step minus the nominal :math:`1 - \alpha(t_{k+1})`;
* :func:`dyck_insertion_table`: TV and KL of insertion-based generation of Dyck words (exact Bayes reverse
  kernel against uniformly random slots) to the uniform law;
* :func:`parity_process_check`: AP-MDM's parity reduction (official ``parity_generator.py`` rules, with
  the suite's completion for a lone final 0) run on every bit string up to a length.
"""

from __future__ import annotations

import itertools

import torch

from sims.denoisers.base import Denoiser
from sims.exact import exact_sampler_law, kl_divergence, total_variation
from sims.sampling.any_process import (
    DyckInsertionProcess,
    ParityTokens,
    law_distance,
    parity_reduction_controls,
    run_any_process,
)
from sims.sampling.base import Sampler
from sims.sampling.remask import RemaskCorrector, corrector_round_kernel
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.remdm_exact import (
    all_states,
    exact_remdm_laws,
    masked_probability_path,
    nominal_masked_fraction,
)
from sims.validation import InvalidArgumentError


def law_summary(p: torch.Tensor, q: torch.Tensor) -> dict:
    """TV(p, q), KL(q || p) (data to sampler) and the sequence error P_p(q(x) = 0) of a law p over V^L."""
    return {
        "tv": total_variation(p, q),
        "kl_data_to_sampler": kl_divergence(q, p),
        "sequence_error": float(p[q == 0].sum()),
    }


def corrector_trajectory(
    base: Sampler, denoiser: Denoiser, q: torch.Tensor, length: int, remask_count: int, rounds: int
) -> list[dict]:
    """Exact metrics of ``base`` followed by n = 0..``rounds`` remask-and-resample rounds of r positions.

    ``q`` is the language's exact law over V^L. ``calls`` = the base's steps (one call each) + n r.
    Returns one row per n: ``{"r", "rounds", "calls", "tv", "kl_data_to_sampler", "sequence_error"}``.
    """
    p = exact_sampler_law(base, denoiser, length)
    kernel = corrector_round_kernel(RemaskCorrector(base, 1, remask_count), denoiser, length)
    base_calls = base.num_steps(length)
    rows = []
    for n in range(rounds + 1):
        if n:
            p = p @ kernel
        rows.append(
            {"r": remask_count, "rounds": n, "calls": base_calls + n * remask_count, **law_summary(p, q)}
        )
    return rows


def remdm_schedule_deviation(
    sampler: ReMDMSampler, denoiser: Denoiser | None = None, length: int | None = None
) -> dict:
    """Exact P(masked) after each step minus ``1 - alpha(t_{k+1})`` (Theorem 3.1 says 0).

    Variants whose sigma does not depend on the state use the two-state recursion
    (:func:`~sims.sampling.remdm_exact.masked_probability_path`); a state-dependent one (``conf``) needs
    the exact state law under ``denoiser`` (e.g. the x-conditioned posterior,
    :class:`sims.denoisers.point_mass.PointMassDenoiser`) at ``length``.
    Returns ``{"t": grid times t_1..t_K, "deviation": [...], "max_abs_deviation": float}``.
    """
    nominal = nominal_masked_fraction(sampler)
    if not sampler.rule.state_dependent:
        path = masked_probability_path(sampler)
    else:
        if denoiser is None or length is None:
            raise InvalidArgumentError(
                f"{sampler.name}: a state-dependent variant needs a denoiser and a length"
            )
        laws = exact_remdm_laws(sampler, denoiser, length)
        frac = (all_states(denoiser.vocab_size, length) == denoiser.vocab_size).double().mean(1)
        path = [float((law * frac).sum()) for law in laws]
    deviation = [a - b for a, b in zip(path, nominal)]
    return {
        "t": [float(v) for v in sampler.grid[1:]],
        "deviation": deviation,
        "max_abs_deviation": max(abs(v) for v in deviation),
    }


def dyck_insertion_table(max_pairs: int) -> list[dict]:
    """TV and KL(target || generated) of Dyck insertion with the exact kernel and with uniform slots."""
    rows = []
    for n in range(1, max_pairs + 1):
        for oracle in (True, False):
            proc = DyckInsertionProcess(n, oracle=oracle)
            tv, kl = law_distance(proc.exact_law(), proc.target)
            rows.append(
                {"pairs": n, "oracle": oracle, "tv": tv, "kl_target_to_generated": kl, "g_steps": 3 * n}
            )
    return rows


def parity_process_check(max_length: int) -> dict:
    """Run the parity reduction on every bit string of length <= ``max_length``; count wrong terminals.

    The terminal must be ``[BOS] 1`` for odd parity and ``[BOS]`` for even parity; also records the
    largest number of g steps per input bit.
    """
    tok = ParityTokens()
    strings = wrong = 0
    steps_per_bit = 0.0
    for n in range(max_length + 1):
        for bits in itertools.product((tok.zero, tok.one), repeat=n):
            traj = run_any_process((tok.bos, *bits), parity_reduction_controls, tok.mask)
            expected = (tok.bos, tok.one) if sum(bits) % 2 else (tok.bos,)
            strings += 1
            wrong += traj[-1] != expected
            if n:
                steps_per_bit = max(steps_per_bit, (len(traj) - 1) / n)
    return {
        "max_length": max_length,
        "strings": strings,
        "wrong": wrong,
        "max_g_steps_per_bit": steps_per_bit,
    }
