r"""Exact enumeration for tiny cases: the reference every fast path is tested against.

* :func:`all_sequences` lists :math:`\{0..V-1\}^L` in base-V order (position 0 most significant).
* :class:`BruteForceDenoiser` computes posterior marginals by summing the joint over all consistent
  sequences (no dynamic programming).
* :func:`exact_sampler_law` propagates a sampler's one-step kernel
  (:meth:`~sims.sampling.base.Sampler.exact_transitions`) over partial sequences to obtain the exact law
  of its output.
* :func:`kl_divergence`, :func:`total_variation`: distances between laws on the same index set.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.enumeration import MAX_STATES, all_sequences, law_of_final_states, sequence_index  # noqa: F401 (re-exported)
from sims.languages.base import Language
from sims.sampling.base import Sampler
from sims.validation import (
    ImpossibleEvidenceError,
    InvalidArgumentError,
    SizeLimitError,
    check_enumeration_size,
    check_int,
    check_tokens,
    check_type,
)


def exact_log_joint(language: Language, length: int) -> torch.Tensor:
    """``(V**L,)`` exact ``log q(x)`` over all sequences, via the language's own ``log_prob``."""
    check_type(language, Language, "language", "a sims Language (sims.languages.base.Language)")
    length = check_int(length, "length", minimum=1)
    check_enumeration_size(language.vocab_size, length, MAX_STATES, "exact_log_joint")
    seqs = all_sequences(language.vocab_size, length, language.device)
    return torch.cat([language.log_prob(c) for c in seqs.split(2**16)])


class BruteForceDenoiser(Denoiser):
    """Posterior marginals by explicit summation over all :math:`V^L` sequences (reference oracle).

    ``log_joint`` may be any law over the sequences (e.g. :func:`exact_log_joint`), so the brute force
    never uses the forward-backward code it is meant to check.
    """

    time_conditioned = False

    def __init__(self, log_joint: torch.Tensor, vocab_size: int, length: int, on_impossible: str = "raise"):
        self.vocab_size, self.length = vocab_size, length
        self.log_joint = log_joint.to(torch.float64)
        self.seqs = all_sequences(vocab_size, length, log_joint.device)
        self.on_impossible = on_impossible

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True, length=self.length)
        tokens = tokens.to(self.log_joint.device)
        B, L, V = tokens.shape[0], self.length, self.vocab_size
        out = torch.full((B, L, V), -torch.inf, dtype=torch.float64, device=tokens.device)
        impossible = torch.zeros(B, dtype=torch.bool, device=tokens.device)
        for b in range(B):
            revealed = tokens[b] < V
            consistent = (self.seqs[:, revealed] == tokens[b, revealed]).all(-1)
            lj = torch.where(consistent, self.log_joint, torch.full_like(self.log_joint, -torch.inf))
            log_z = torch.logsumexp(lj, 0)
            if not torch.isfinite(log_z):
                if self.on_impossible == "raise":
                    raise ImpossibleEvidenceError(f"row {b}: revealed tokens have probability zero")
                impossible[b] = True
                out[b] = -torch.log(torch.tensor(float(V), dtype=torch.float64))
                continue
            for i in range(L):
                for v in range(V):
                    sel = self.seqs[:, i] == v
                    out[b, i, v] = torch.logsumexp(lj[sel], 0) - log_z
        return DenoiserOutput(carry_over(out, tokens, V), impossible)


def exact_sampler_law(
    sampler,
    denoiser: Denoiser,
    length: int,
    *,
    max_states: int = MAX_STATES,
    max_transitions: int | None = None,
) -> torch.Tensor:
    """Exact output law ``(V**L,)`` of ``sampler`` driven by ``denoiser`` for sequences of ``length``.

    Needs ``sampler.capabilities.exact_kernel``. Propagates a dictionary {partial sequence: probability} through
    :meth:`~sims.sampling.base.Sampler.exact_transitions`, calling the denoiser (through
    :meth:`~sims.sampling.base.Sampler.kernel_denoiser`, the pass the sampler reads) once per distinct partial
    sequence and step (batched per step). Every trajectory must end fully revealed.

    Size guards (:class:`~sims.validation.SizeLimitError`, before memory runs out): ``V**L`` at most
    :data:`~sims.enumeration.MAX_STATES` (the law itself), and at most ``max_states`` distinct partial
    sequences at any step (the dictionary can reach ``(V+1)**L`` entries; it is counted as it grows), and,
    when given, at most ``max_transitions`` successor states enumerated in total (a cap on work, not
    seconds, so whether a law is computed does not depend on the machine).
    """
    check_type(sampler, Sampler, "sampler", "a sims Sampler")
    check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
    length = check_int(length, "length", minimum=1)
    max_states = check_int(max_states, "max_states", minimum=1)
    if max_transitions is not None:
        max_transitions = check_int(max_transitions, "max_transitions", minimum=1)
    if not sampler.capabilities.exact_kernel:
        raise InvalidArgumentError(
            f"{sampler.name}: no exact transition kernel (capabilities.exact_kernel is False)"
        )
    V = denoiser.vocab_size
    check_enumeration_size(V, length, MAX_STATES, "exact_sampler_law")
    num_steps = sampler.num_steps(length)
    states: dict[tuple, float] = {tuple([V] * length): 1.0}
    read = sampler.kernel_denoiser(denoiser)
    work = 0
    for step in range(num_steps):
        keys = list(states)
        outs = read(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
        nxt: dict[tuple, float] = defaultdict(float)
        for key, lp in zip(keys, outs):
            successors = sampler.exact_transitions(key, step, lp, length)
            work += len(successors)
            if max_transitions is not None and work > max_transitions:
                raise SizeLimitError(
                    f"exact_sampler_law: {sampler.name} enumerates more than {max_transitions} successor "
                    f"states (max_transitions) by step {step + 1} of {num_steps}"
                )
            for new, q in successors:
                if q > 0:
                    nxt[new] += states[key] * q
            if len(nxt) > max_states:
                raise SizeLimitError(
                    f"exact_sampler_law: {sampler.name} reaches more than {max_states} partial sequences "
                    f"after step {step + 1} of {num_steps} (V = {V}, L = {length}; up to (V+1)**L = "
                    f"{(V + 1) ** length}); use a smaller vocabulary or length, or Monte Carlo sampling"
                )
        states = dict(nxt)
    return law_of_final_states(states.items(), V, length, sampler.name)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    r""":math:`KL(p \Vert q) = \sum_x p(x) \log(p(x)/q(x))` (``inf`` if p puts mass where q has none)."""
    p, q = p.to(torch.float64), q.to(torch.float64)
    mask = p > 0
    if bool((q[mask] == 0).any()):
        return float("inf")
    return float((p[mask] * (torch.log(p[mask]) - torch.log(q[mask]))).sum())


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    return float(0.5 * (p.to(torch.float64) - q.to(torch.float64)).abs().sum())
