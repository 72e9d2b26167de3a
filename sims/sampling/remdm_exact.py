r"""Exact laws of ReMDM runs: Theorem 3.1's two-state recursion and dense state laws over partial sequences.

* :func:`masked_probability_path`: per-position P(masked) after each step,
  :math:`m' = m(1-u) + (1-m)\sigma`; Theorem 3.1 says :math:`m' = 1 - \alpha_s` whenever
  :math:`m = 1 - \alpha_t` (compare :func:`nominal_masked_fraction`).
* :func:`exact_remdm_laws`: the law of the state after every step as a dense vector over the
  :math:`(V+1)^L` partial sequences (:func:`state_index` order); the ``conf`` variant carries its stored
  confidences (:func:`exact_remdm_laws_conf`).
* :func:`final_sequence_law`: the output law over :math:`V^L` from a fully revealed state law.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from sims.denoisers.base import Denoiser
from sims.enumeration import sequence_index
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.runtime import tempered
from sims.validation import InvalidArgumentError, SizeLimitError


def masked_probability_path(sampler: ReMDMSampler) -> list[float]:
    r"""Exact per-position P(masked) after each step for variants whose sigma does not depend on the state.

    Two-state recursion: :math:`m' = m\,(1-u) + (1-m)\,\sigma` with u the unmask probability. Theorem 3.1
    says :math:`m' = 1 - \alpha_s` whenever :math:`m = 1 - \alpha_t`.
    """
    if sampler.rule.state_dependent:
        raise InvalidArgumentError(f"{sampler.variant}'s sigma depends on the state; use exact_remdm_laws")
    m, out = 1.0, []
    for k in range(sampler.steps):
        sigma = sampler.step_parameters(k).sigma
        u = sampler.unmask_probability(k)
        m = m * (1 - u) + (1 - m) * sigma
        out.append(m)
    return out


def nominal_masked_fraction(sampler: ReMDMSampler) -> list[float]:
    """``1 - alpha(t_{k+1})`` after every step k (the loop variant uses its piecewise alpha)."""
    return [1 - sampler.nominal_alpha(float(sampler.grid[k + 1])) for k in range(sampler.steps)]


def state_index(states: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Index of partial sequences ``(N, L)`` (mask = V) in base V+1, position 0 most significant."""
    L = states.shape[-1]
    powers = (vocab_size + 1) ** torch.arange(L - 1, -1, -1, device=states.device)
    return (states.long() * powers).sum(-1)


def all_states(vocab_size: int, length: int) -> torch.Tensor:
    """``((V+1)**L, L)`` every partial sequence in :func:`state_index` order."""
    n = (vocab_size + 1) ** length
    idx = torch.arange(n)
    powers = (vocab_size + 1) ** torch.arange(length - 1, -1, -1)
    return (idx.unsqueeze(-1) // powers) % (vocab_size + 1)


def _option_matrix(
    sampler: ReMDMSampler, states: torch.Tensor, lp: torch.Tensor, step: int, conf: torch.Tensor
) -> torch.Tensor:
    """``(S, L, V+1)``: law of each position's next value (index V = masked) given each state."""
    S, L = states.shape
    V = lp.shape[-1]
    masked = states == V
    out = torch.zeros((S, L, V + 1), dtype=torch.float64)
    if step == sampler.steps:  # final fill
        if sampler.final_fill == "argmax":
            draw = torch.nn.functional.one_hot(lp.argmax(-1), V).to(torch.float64)
        else:
            draw = torch.exp(tempered(lp, sampler.temperature))
        out[..., :V] = torch.where(masked.unsqueeze(-1), draw, 0.0)
        keep = torch.nn.functional.one_hot(states.clamp(max=V), V + 1).to(torch.float64)
        return torch.where(masked.unsqueeze(-1), out, keep)
    sigma = sampler.step_parameters(step).sigma
    u = sampler.unmask_probability(step)
    if sampler.temperature == 0:
        draw = torch.nn.functional.one_hot(lp.argmax(-1), V).to(torch.float64)
    else:
        draw = torch.exp(tempered(lp.to(torch.float64), sampler.temperature))
    sig = sampler.position_sigma(states, conf, V, sigma)  # (S, L), 0 at masked
    masked_row = torch.cat([u * draw, torch.full((S, L, 1), 1 - u, dtype=torch.float64)], -1)
    keep = torch.nn.functional.one_hot(states.clamp(max=V), V + 1).to(torch.float64)
    remask = torch.zeros_like(keep)
    remask[..., V] = 1.0
    revealed_row = (1 - sig).unsqueeze(-1) * keep + sig.unsqueeze(-1) * remask
    return torch.where(masked.unsqueeze(-1), masked_row, revealed_row)


def exact_remdm_laws(
    sampler: ReMDMSampler, denoiser: Denoiser, length: int, chunk: int = 256
) -> list[torch.Tensor]:
    """Exact law of the state after every step, as dense vectors over the ``(V+1)**L`` partial sequences.

    The kernel factorises over positions given the state, so each state's successor law is an outer
    product of per-position laws (:func:`_option_matrix`); states are processed in chunks of ``chunk``.
    The history-dependent ``conf`` variant is delegated to :func:`exact_remdm_laws_conf`.
    """
    if sampler.rule.state_dependent:
        return exact_remdm_laws_conf(sampler, denoiser, length)
    V = denoiser.vocab_size
    n = (V + 1) ** length
    if n > 2**14:
        raise SizeLimitError(f"(V+1)**L = {n} partial sequences is too many for the dense propagation")
    states_all = all_states(V, length)
    law = torch.zeros(n, dtype=torch.float64)
    law[-1] = 1.0  # the all-masked state has the largest index
    laws = []
    no_conf = torch.full((1, length), -math.inf, dtype=torch.float64)
    for step in range(sampler.num_steps(length)):
        live = (law > 0).nonzero().flatten()
        new = torch.zeros(n, dtype=torch.float64)
        for part in live.split(chunk):
            st = states_all[part]
            lp = denoiser(st).log_probs.cpu().to(torch.float64)
            opt = _option_matrix(sampler, st, lp, step, no_conf.expand(len(part), -1))
            kern = opt[:, 0]
            for i in range(1, length):
                kern = (kern.unsqueeze(-1) * opt[:, i].unsqueeze(1)).reshape(len(part), -1)
            new += law[part] @ kern
        law = new
        laws.append(law.clone())
    return laws


def final_sequence_law(
    state_law: torch.Tensor, vocab_size: int, length: int, atol: float = 1e-12
) -> torch.Tensor:
    """``(V**L,)`` law over full sequences from a dense state law with (numerically) no masked mass left."""
    states = all_states(vocab_size, length)
    full = ~(states == vocab_size).any(1)
    left = float(state_law[~full].sum())
    if left > atol:
        raise AssertionError(f"{left} probability left on partially masked states")

    out = torch.zeros(vocab_size**length, dtype=torch.float64)
    out.index_add_(0, sequence_index(states[full], vocab_size), state_law[full])
    return out


def exact_remdm_laws_conf(sampler: ReMDMSampler, denoiser: Denoiser, length: int) -> list[torch.Tensor]:
    """Exact state laws for the ``conf`` variant, carrying the stored confidences in the state.

    The number of distinct (tokens, confidences) histories grows quickly; use only for tiny cases (or a
    point-mass denoiser, for which confidences are all -1).
    """
    V = denoiser.vocab_size
    start = (tuple([V] * length), tuple([-math.inf] * length))
    states: dict = {start: 1.0}
    laws = []
    for step in range(sampler.num_steps(length)):
        keys = sorted({k[0] for k in states})
        outs = denoiser(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
        lp_of = dict(zip(keys, outs))
        nxt: dict = defaultdict(float)
        for (tokens, conf), pr in states.items():
            lp = lp_of[tokens]
            for new, q in sampler.kernel(tokens, step, lp, conf):
                if q <= 0:
                    continue
                newc = list(conf)
                for i, (a, b) in enumerate(zip(tokens, new)):
                    if a == V and b != V:
                        newc[i] = -float(torch.exp(lp[i, b]))
                    elif a != V and b == V:
                        newc[i] = -math.inf
                nxt[(new, tuple(newc))] += pr * q
        states = dict(nxt)
        law = torch.zeros((V + 1) ** length, dtype=torch.float64)
        for (tokens, _), pr in states.items():
            law[int(state_index(torch.tensor(tokens), V))] += pr
        laws.append(law)
    return laws
