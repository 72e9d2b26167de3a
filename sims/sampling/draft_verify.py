r"""Left-to-right draft-and-verify decoding: the shared step of APD and self-speculative decoding.

Both rules decode left to right (the revealed positions are always a prefix) and each step

1. calls the denoiser once (cached while the row is unchanged): the marginals
   :math:`p_l = p(x_l \mid x_R)` at every masked position;
2. drafts the window W, the first ``m`` masked positions, **in parallel** from the marginals
   (the product law :math:`q(d) = \prod_{j \in W} q_j(d_j)`, :math:`q_j = p_j^{1/T}` normalised);
3. asks a verifier for the sequential conditional laws of the draft,
   :math:`\pi_j(\cdot) = \pi(x_{w_j} = \cdot \mid x_R, d_{w_0}, \dots, d_{w_{j-1}})`, in **one** causal
   pass (the ``draft_log_prob`` pass with ``laws=True``, :mod:`sims.inference.draft`; exact for the
   oracle). The law at the first window position needs no pass: it is the marginal itself, so a window
   of one position makes no pass;
4. commits a prefix :math:`d_{w_0}, \dots, d_{w_{a-1}}` of the draft and, for some rules, a corrected token
   at :math:`w_a` (:meth:`DraftVerifySampler.decide`).

Calls (NFE, :data:`sims.denoisers.passes.PASS_CONVENTIONS`): one marginal call per step (the suite's cache
rule) plus one ``draft_log_prob`` pass per row that verifies (1 call per row: an autoregressive verifier
scores the whole draft in one causal pass). Every step commits at least one token, so a run has at most L
steps.

Exact law. The step is a Markov kernel on partial sequences, but it needs the verifier's laws of every
possible draft, not only the marginals that :meth:`~sims.sampling.base.Sampler.exact_transitions` receives;
so ``capabilities.exact_kernel`` is False and :func:`exact_draft_law` gives the exact output law by
enumerating every draft of every reachable partial sequence (:meth:`DraftVerifySampler.outcomes`), with the
denoiser's passes. The tests compare the batched sampler with it (``tests/sims/test_policy_draft_*.py``).
"""

from __future__ import annotations

import itertools
import math
from abc import abstractmethod
from collections import defaultdict

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.denoisers.passes import masked_draft_laws, pass_conventions
from sims.enumeration import MAX_STATES, sequence_index
from sims.sampling.base import Capabilities, Sampler
from sims.sampling.runtime import RunState, commit_reveals
from sims.validation import (
    SizeLimitError,
    check_enumeration_size,
    check_int,
    check_positive_int,
    check_temperature,
    check_type,
)

#: ``Conventions.extras["passes"]`` of every draft-and-verify rule
DRAFT_PASSES = pass_conventions("marginals", "draft_log_prob")


def draft_law(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-law the draft is drawn from: :math:`p^{1/T}` normalised; one-hot at the argmax for T = 0 (ties to
    the lowest index, as :func:`sims.categorical.sample_from_log_probs`)."""
    if temperature == 0:
        hot = torch.nn.functional.one_hot(log_probs.argmax(-1), log_probs.shape[-1]).to(torch.float64)
        return torch.log(hot)
    if temperature == 1:
        return log_probs.to(torch.float64)
    return torch.log_softmax(log_probs.to(torch.float64) / temperature, dim=-1)


def window_mask(x: torch.Tensor, vocab_size: int, draft_length: int) -> torch.Tensor:
    """``(B, L)`` bool: the first ``draft_length`` masked positions of each row, left to right."""
    masked = x == vocab_size
    rank = torch.cumsum(masked.long(), 1) - 1
    return masked & (rank < draft_length)


class DraftVerifySampler(Sampler):
    """Base of the left-to-right draft-and-verify rules (module docstring).

    Subclasses set :attr:`name`, implement :meth:`needs_pass`, :meth:`decide`, :meth:`outcomes` and
    :meth:`conventions`.

    Args:
        draft_length: the window size ``m`` (the first ``m`` masked positions are drafted).
        draft_temperature: the draft is drawn from :math:`p^{1/T}` (0: argmax).
        categorical_precision: how tokens are drawn (:mod:`sims.categorical`).
        names: the argument names of the first two (for error messages).
    """

    def __init__(
        self,
        draft_length: int,
        draft_temperature: float,
        categorical_precision: Precision,
        names: tuple[str, str] = ("draft_length", "draft_temperature"),
    ):
        super().__init__(categorical_precision)
        self.draft_length = check_positive_int(draft_length, names[0])
        self.draft_temperature = check_temperature(draft_temperature, names[1])

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False, exact_kernel=False, revisits=False, uses_steps=False
        )

    def num_steps(self, length: int) -> int:
        return check_positive_int(length, "length")

    def evaluates_every_masked_step(self, length: int) -> bool:
        return True

    # ---- the rule -----------------------------------------------------------------------------------
    @abstractmethod
    def needs_pass(self, window_size: torch.Tensor) -> torch.Tensor:
        """Bool per row: the rule needs the verifier's laws for a window of this many positions."""

    def verifier_laws(self, laws: torch.Tensor) -> torch.Tensor:
        """The laws the rule verifies against, from the pass's exact laws (identity; APD perturbs them)."""
        return laws

    @abstractmethod
    def decide(
        self,
        log_probs: torch.Tensor,
        draft_log_probs: torch.Tensor,
        draft: torch.Tensor,
        laws: torch.Tensor,
        window: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(commit, values, used)`` for ``n`` rows: bool ``(n, L)`` positions committed, their values
        ``(n, L)`` and the law ``(n, L, V)`` recorded in the trace for each committed token. ``laws`` holds
        the verifier's sequential laws at the window positions (the marginal at the first one; NaN where
        not computed)."""

    @abstractmethod
    def outcomes(
        self, log_probs: torch.Tensor, draft_log_probs: torch.Tensor, draft: list[int], laws: torch.Tensor
    ) -> list[tuple[int, int | None, float]]:
        """Exact outcomes of one drafted window (plain enumeration): ``(a, c, probability)`` commits the
        first ``a`` drafted tokens and, if ``c`` is not None, token ``c`` at window position ``a``.
        Arguments are per window position: ``(m, V)`` marginals, draft log-law and verifier laws."""

    # ---- batched step -------------------------------------------------------------------------------
    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        rows = masked.any(1)
        if not bool(rows.any()):
            return
        lp = state.cache.get(x, rows)
        xr = x[rows]
        window = window_mask(xr, V, self.draft_length)
        q = draft_law(lp, self.draft_temperature)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.draft_temperature)
        draft = torch.where(window, values, torch.full_like(values, V))
        laws = self._laws(state, rows, xr, draft, window, lp)
        commit, new_values, used = self.decide(lp, q, draft, laws, window, generator)
        state.trace.record_step_entropy(k, rows, lp, masked)
        new_values = torch.where(commit & window, new_values, torch.zeros_like(new_values))
        commit_reveals(x, rows, commit & window, new_values, state.trace, k, used, state.cache)

    def _laws(self, state, rows, xr, draft, window, lp) -> torch.Tensor:
        """Verifier laws at the window positions: the marginal at the first, the pass beyond (NaN else)."""
        V = state.vocab_size
        first = window & (torch.cumsum(window.long(), 1) == 1)
        laws = torch.where(first.unsqueeze(-1), lp, torch.full_like(lp, math.nan))
        need = self.needs_pass(window.sum(1))
        if bool(need.any()):
            out, calls = verifier_pass(state.cache.denoiser, xr[need], draft[need])
            out = out.to(lp.device, torch.float64)
            # a row whose revealed tokens are impossible gets the uniform placeholder, as the marginals do
            out = torch.where(torch.isnan(out), torch.full_like(out, -math.log(V)), out)
            beyond = window[need] & ~first[need]
            laws[need] = torch.where(beyond.unsqueeze(-1), self.verifier_laws(out), laws[need])
            idx = rows.nonzero().flatten()[need]
            state.cache.nfe[idx] += calls.to(state.cache.nfe.device, state.cache.nfe.dtype)
        return laws


def verifier_pass(denoiser: Denoiser, tokens: torch.Tensor, draft: torch.Tensor):
    """Sequential laws of the drafts and the calls per row: the ``draft_log_prob`` pass (1 call per row)
    where the denoiser offers it, else the chain rule of its masked predictions (:func:`masked_draft_laws`,
    1 call per drafted position after the first)."""
    if "draft_log_prob" in denoiser.passes():
        out = denoiser.draft_log_prob(tokens, draft, laws=True).laws
        return out, torch.ones(tokens.shape[0], dtype=torch.long, device=tokens.device)
    return masked_draft_laws(denoiser, tokens, draft)


def exact_draft_law(
    sampler: DraftVerifySampler, denoiser: Denoiser, length: int, *, max_states: int = MAX_STATES
) -> torch.Tensor:
    """Exact output law ``(V**L,)`` of a draft-and-verify rule driven by ``denoiser`` (module docstring).

    Enumerates, for every reachable partial sequence, every draft of the window with positive draft
    probability, asks the denoiser's ``draft_log_prob`` pass for their sequential laws (batched) and chains
    :meth:`DraftVerifySampler.outcomes`. Size guards as in :func:`sims.exact.exact_sampler_law`.
    """
    check_type(sampler, DraftVerifySampler, "sampler", "a DraftVerifySampler")
    check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
    length = check_int(length, "length", minimum=1)
    max_states = check_int(max_states, "max_states", minimum=1)
    V = denoiser.vocab_size
    check_enumeration_size(V, length, MAX_STATES, "exact_draft_law")
    states = {tuple([V] * length): 1.0}
    law = torch.zeros(V**length, dtype=torch.float64)
    while states:
        keys = sorted(states)
        outs = denoiser(torch.tensor(keys, dtype=torch.long)).log_probs.cpu().to(torch.float64)
        nxt: dict[tuple, float] = defaultdict(float)
        for s, lp in zip(keys, outs):
            for new, q in _state_outcomes(sampler, denoiser, s, lp, max_states):
                if q > 0:
                    nxt[new] += states[s] * q
            if len(nxt) > max_states:
                raise SizeLimitError(
                    f"exact_draft_law: {sampler.name} reaches more than {max_states} partial sequences "
                    f"(V = {V}, L = {length}); use a smaller vocabulary or length, or Monte Carlo sampling"
                )
        states = {}
        for s, p in nxt.items():
            if V in s:
                states[s] = p
            else:
                law[int(sequence_index(torch.tensor(s), V))] += p
    return law


def _state_outcomes(
    sampler: DraftVerifySampler, denoiser: Denoiser, s: tuple, lp: torch.Tensor, max_states: int
):
    """Successors of the partial sequence ``s`` (marginals ``lp`` ``(L, V)``) with their probabilities."""
    V, L = denoiser.vocab_size, len(s)
    x = torch.tensor([s], dtype=torch.long)
    w = window_mask(x, V, sampler.draft_length)[0].nonzero().flatten().tolist()
    q = draft_law(lp, sampler.draft_temperature)[w]  # (m, V)
    support = [[v for v in range(V) if q[j, v] > -math.inf] for j in range(len(w))]
    if math.prod(len(v) for v in support) > max_states:
        raise SizeLimitError(
            f"exact_draft_law: {sampler.name} drafts more than {max_states} windows from one partial sequence"
        )
    drafts = list(itertools.product(*support))
    laws = torch.full((len(drafts), len(w), V), math.nan, dtype=torch.float64)
    laws[:, 0] = lp[w[0]]
    if bool(sampler.needs_pass(torch.tensor([len(w)]))[0]):
        d = torch.full((len(drafts), L), V, dtype=torch.long)
        d[:, w] = torch.tensor(drafts, dtype=torch.long)
        out = verifier_pass(denoiser, x.expand(len(drafts), L), d)[0].cpu().to(torch.float64)
        out = torch.where(torch.isnan(out), torch.full_like(out, -math.log(V)), out)
        laws[:, 1:] = sampler.verifier_laws(out[:, w[1:]])
    result = []
    for i, d in enumerate(drafts):
        pd = math.exp(sum(float(q[j, v]) for j, v in enumerate(d)))
        for a, c, p in sampler.outcomes(lp[w], q, list(d), laws[i]):
            new = list(s)
            for j in range(a):
                new[w[j]] = d[j]
            if c is not None:
                new[w[a]] = c
            result.append((tuple(new), pd * p))
    return result
