r"""Decoding policies with per-run state: one call, one draw, one ranking and one decision per step.

Many recent decoding rules look at the denoiser's per-position laws of the current step *and* at a summary
of earlier steps (a KL history, accumulated credit, running confidences, a phase of a state machine).
:class:`PolicySampler` is the shared step of such rules. Step k of a row with work to do:

1. one denoiser call (cached while the row's state is unchanged): :math:`p_l`, :math:`l = 1..L`;
2. the law the values are drawn from, :meth:`PolicySampler.value_log_probs` (the denoiser output by
   default; CreditDecoding fuses it with its credit), and one draw :math:`\hat x_l` per position at
   ``temperature`` (argmax at 0);
3. at most one ranking (:meth:`PolicySampler.ranking`: scores and the positions ranked, rounded to 40
   fractional bits, ties per ``tie_break`` as in :mod:`sims.sampling.ranking`);
4. a deterministic :meth:`PolicySampler.decide` given the draws and the ranking: the positions revealed,
   the revealed positions remasked, and the new per-run state (``RunState.extra``, batch-first tensors).

Random numbers are drawn in this order (values, tie permutation), so runs are reproducible.

Exact laws. Because the decision is deterministic given (values, ranking), the one-step kernel is an
enumeration: over the joint draws at the masked positions (only when the decision looks at the values,
``decision_uses_values``; otherwise the drawn values are independent of the decision and their product law
is attached to the revealed set) and over every ranking the tie rule allows
(:func:`sims.sampling.ranking.tie_orders`). :meth:`PolicySampler.exact_augmented_transitions` is that kernel
on the augmented state (partial sequence, per-run state); :func:`exact_policy_law` chains it into the exact
output law. A rule without history (``has_history = False``) is a Markov kernel on partial sequences and
exposes :meth:`~sims.sampling.base.Sampler.exact_transitions` (so :func:`sims.exact.exact_sampler_law` and
the conformance suite use it); a rule with history declares ``exact_kernel = False`` and is checked
against :func:`exact_policy_law` (``tests/sims/test_policy_history_laws.py``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from typing import NamedTuple

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.enumeration import MAX_STATES, law_of_final_states
from sims.sampling.base import Capabilities, Sampler, check_temperature
from sims.sampling.fixed_count import llada_counts
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.ranking import check_tie_break, rank_positions, tie_orders, top_count_sets
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.validation import (
    InvalidArgumentError,
    SizeLimitError,
    check_enumeration_size,
    check_int,
    check_type,
)


class Decision(NamedTuple):
    """The outcome of one step for ``n`` rows: ``reveal`` and ``remask`` are bool ``(n, L)``; ``extra`` holds
    the new per-run state (only the entries that change)."""

    reveal: torch.Tensor
    remask: torch.Tensor
    extra: dict


def extra_key(extra: dict) -> tuple:
    """Hashable key of a one-row per-run state (exact laws merge augmented states with equal keys; NaN, an
    unset entry, is keyed as None so that equal states compare equal)."""
    return tuple(
        (name, tuple(None if v != v else v for v in extra[name].flatten().tolist())) for name in sorted(extra)
    )


def llada_plan(length: int, steps: int, block_length: int | None) -> list[tuple[int, int, int]]:
    """Per step ``(block_start, block_stop, count)``: blocks left to right, ``steps / num_blocks`` steps each,
    LLaDA counts (:func:`sims.sampling.fixed_count.llada_counts`) inside each block."""
    b = length if block_length is None else block_length
    if length % b:
        raise InvalidArgumentError(f"length {length} must be a multiple of block_length {b}")
    blocks = length // b
    if steps % blocks:
        raise InvalidArgumentError(f"steps {steps} must be a multiple of the number of blocks {blocks}")
    return [(a, a + b, c) for a in range(0, length, b) for c in llada_counts(b, steps // blocks)]


def repeat_rows(extra: dict, n: int) -> dict:
    return {name: v.expand(n, *v.shape[1:]).clone() for name, v in extra.items()}


class PolicySampler(Sampler):
    """Base of the per-run-state decoding policies (module docstring).

    Subclasses implement :meth:`decide` and usually :meth:`ranking`, :meth:`init_extra`,
    :meth:`active_rows` and :meth:`value_log_probs`, and set :attr:`has_history` and
    :attr:`decision_uses_values`.
    """

    #: the rule keeps a per-run state beyond the partial sequence (no kernel on partial sequences alone)
    has_history = False
    #: the decision or the new state looks at the drawn values (the kernel enumerates joint draws)
    decision_uses_values = False
    #: the rule can remask revealed tokens
    can_remask = False

    def __init__(self, temperature: float, tie_break: str, categorical_precision: Precision):
        super().__init__(categorical_precision)
        self.temperature = check_temperature(temperature)
        self.tie_break = check_tie_break(tie_break)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False,
            exact_kernel=not self.has_history,
            revisits=self.can_remask,
            uses_steps=self.uses_steps,
        )

    #: the step count K changes the run
    uses_steps = False

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch: int, length: int, vocab_size: int, device: torch.device) -> dict:
        """Per-run state before step 0: batch-first tensors (they follow rows in ``RunState.take_rows``)."""
        return {}

    def active_rows(self, x: torch.Tensor, vocab_size: int, extra: dict, k: int) -> torch.Tensor:
        """Bool ``(B,)``: rows that call the denoiser and decide at step k (default: rows with a mask)."""
        return (x == vocab_size).any(1)

    def value_log_probs(self, log_probs: torch.Tensor, x: torch.Tensor, extra: dict, k: int) -> torch.Tensor:
        """``(n, L, V)`` log-law the values are drawn from (before ``temperature``); default the output."""
        return log_probs

    def ranking(
        self,
        log_probs: torch.Tensor,
        value_log_probs: torch.Tensor,
        values: torch.Tensor,
        x: torch.Tensor,
        extra: dict,
        k: int,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(scores, candidates)`` of the step's ranking (highest first), or None (no ranking)."""
        return None

    @abstractmethod
    def decide(
        self,
        log_probs: torch.Tensor,
        value_log_probs: torch.Tensor,
        values: torch.Tensor,
        order: torch.Tensor,
        x: torch.Tensor,
        extra: dict,
        k: int,
    ) -> Decision:
        """The step's :class:`Decision` for the active rows (deterministic given the arguments)."""

    def evaluates_every_masked_step(self, length: int) -> bool:
        return True

    # ---- batched step ---------------------------------------------------------------------------
    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        state = super().begin(denoiser, batch, length, device)
        state.extra.update(self.init_extra(batch, length, state.vocab_size, device))
        return state

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        rows = self.active_rows(x, V, state.extra, k)
        if not bool(rows.any()):
            return
        xr = x[rows]
        names = self.init_extra(1, x.shape[1], V, x.device)  # the rule's own entries (wrappers add others)
        er = {name: state.extra[name][rows] for name in names}
        lp = state.cache.get(x, rows)
        vlp = self.value_log_probs(lp, xr, er, k)
        values = sample_from_log_probs(vlp, generator, self.categorical_precision, self.temperature)
        ranked = self.ranking(lp, vlp, values, xr, er, k)
        if ranked is None:
            order = torch.arange(x.shape[1], device=x.device).expand_as(xr)
        else:
            tie_gen = generator if self.tie_break == "random" else None
            order = rank_positions(ranked[0], ranked[1], tie_gen)
        dec = self.decide(lp, vlp, values, order, xr, er, k)
        state.trace.record_step_entropy(k, rows, lp, masked)
        self._apply(state, rows, dec, values, tempered(vlp, self.temperature), k)

    def _apply(self, state: RunState, rows, dec: Decision, values, law, k: int) -> None:
        """Write the net effect of ``dec``: positions revealed and kept, positions revealed earlier and now
        remasked (a position revealed and remasked in the same step is never written)."""
        x, V, trace = state.x, state.vocab_size, state.trace
        was_masked = x[rows] == V
        keep = dec.reveal & was_masked & ~dec.remask
        undo = dec.remask & ~was_masked
        commit_reveals(x, rows, keep, values, trace, k, law, state.cache)
        if bool(undo.any()):
            idx = rows.nonzero().flatten()
            full = torch.zeros_like(x, dtype=torch.bool)
            full[idx] = undo
            x[full] = V
            trace.reveal_step[full] = -1
            trace.token_entropy[full] = torch.nan
            trace.token_logprob[full] = torch.nan
            state.cache.invalidate(full.any(1))
        for name, v in dec.extra.items():
            state.extra[name][rows] = v

    # ---- exact kernels --------------------------------------------------------------------------
    def decision_top_count(self, x: torch.Tensor, extra: dict, step: int) -> int | None:
        """``n`` when :meth:`decide` reads only the *set* of the first ``n`` positions of the ranking at
        ``step`` (one-row ``x``), so the exact kernels enumerate subsets of the boundary tie group instead of
        every tie order; ``None`` (default) when the order itself matters."""
        return None

    def exact_decisions(self, state: tuple, extra: dict, step: int, log_probs: torch.Tensor, length: int):
        """The step's decisions for every draw of the values and every tie order, batched, with their
        probabilities: ``(decision, weights, values, value_log_probs)`` (``values[r]`` the draw behind
        decision r, ``value_log_probs`` ``(1, L, V)``), or ``None`` when the row is inactive at ``step``.

        ``extra`` holds one-row tensors; ``log_probs`` is the denoiser output ``(L, V)`` for ``state``. Shared
        by the exact kernels (:meth:`exact_augmented_transitions` here and in the length policies).
        """
        V = log_probs.shape[-1]
        x = torch.tensor([state], dtype=torch.long)
        if not bool(self.active_rows(x, V, extra, step)[0]):
            return None
        lp = log_probs.to(torch.float64).unsqueeze(0)
        vlp = self.value_log_probs(lp, x, extra, step)
        masked = masked_positions(state, V)
        if self.decision_uses_values:
            draws = [
                (torch.tensor([d[i] if state[i] == V else 0 for i in range(length)]), p)
                for d, p in reveal_values(state, masked, vlp[0], 1.0, self.temperature)
            ]
        else:
            draws = [(torch.zeros(length, dtype=torch.long), 1.0)]
        batch_values, batch_orders, weights = [], [], []
        for values, p in draws:
            ranked = self.ranking(lp, vlp, values.unsqueeze(0), x, extra, step)
            top = None if ranked is None else self.decision_top_count(x, extra, step)
            if ranked is None:
                orders = [(torch.arange(length), 1.0)]
            elif top is None:
                orders = tie_orders(ranked[0][0], ranked[1][0], self.tie_break)
            else:  # only the set of the first ``top`` positions matters: subsets of the boundary tie group
                orders = [
                    (torch.tensor([*chosen, *(i for i in range(length) if i not in chosen)]), w)
                    for chosen, w in top_count_sets(ranked[0][0], ranked[1][0], top, self.tie_break)
                ]
            for order, w in orders:
                batch_values.append(values)
                batch_orders.append(order)
                weights.append(p * w)
        n = len(weights)
        dec = self.decide(
            lp.expand(n, -1, -1),
            vlp.expand(n, -1, -1),
            torch.stack(batch_values),
            torch.stack(batch_orders),
            x.expand(n, -1),
            repeat_rows(extra, n),
            step,
        )
        return dec, weights, batch_values, vlp

    def exact_augmented_transitions(
        self, state: tuple, extra: dict, step: int, log_probs: torch.Tensor, length: int
    ) -> list[tuple[tuple, dict, float]]:
        """Every successor ``(partial sequence, per-run state, probability)`` of ``(state, extra)`` at ``step``.

        ``extra`` holds one-row tensors; ``log_probs`` is the denoiser output ``(L, V)`` for ``state``.
        """
        V = log_probs.shape[-1]
        found = self.exact_decisions(state, extra, step, log_probs, length)
        if found is None:
            return [(state, extra, 1.0)]
        dec, weights, batch_values, vlp = found
        n = len(weights)
        masked = masked_positions(state, V)
        out: dict[tuple, list] = {}
        for r in range(n):
            new_extra = dict(extra)
            new_extra.update({name: v[r : r + 1].clone() for name, v in dec.extra.items()})
            reveal = tuple(i for i in masked if bool(dec.reveal[r, i]) and not bool(dec.remask[r, i]))
            remask = [i for i in range(length) if bool(dec.remask[r, i]) and state[i] != V]
            if self.decision_uses_values:
                filled = [
                    (tuple(int(batch_values[r][i]) if i in reveal else v for i, v in enumerate(state)), 1)
                ]
            else:
                filled = reveal_values(state, reveal, vlp[0], 1.0, self.temperature)
            for new, q in filled:
                new = tuple(V if i in remask else v for i, v in enumerate(new))
                key = (new, extra_key(new_extra))
                if key not in out:
                    out[key] = [new, new_extra, 0.0]
                out[key][2] += weights[r] * q
        return [(new, e, p) for new, e, p in out.values()]

    def exact_transitions(self, state, step, log_probs, length):
        if self.has_history:
            raise NotImplementedError(
                f"{self.name}: the rule keeps a per-run state, so it has no kernel on partial sequences "
                "(capabilities.exact_kernel is False); use sims.sampling.policy.exact_policy_law"
            )
        V = log_probs.shape[-1]
        extra = self.init_extra(1, length, V, torch.device("cpu"))
        return [
            (new, p) for new, _, p in self.exact_augmented_transitions(state, extra, step, log_probs, length)
        ]


def exact_policy_law(
    sampler: PolicySampler, denoiser: Denoiser, length: int, *, max_states: int = MAX_STATES
) -> torch.Tensor:
    """Exact output law ``(V**L,)`` of a :class:`PolicySampler`, with or without history.

    Propagates {(partial sequence, per-run state): probability} through
    :meth:`PolicySampler.exact_augmented_transitions`, calling the denoiser (through
    :meth:`~sims.sampling.base.Sampler.kernel_denoiser`) once per distinct partial
    sequence and step (batched per step). Every trajectory must end fully revealed.

    Size guards as in :func:`sims.exact.exact_sampler_law` (:class:`~sims.validation.SizeLimitError`
    before memory runs out): ``V**L`` at most :data:`~sims.enumeration.MAX_STATES`, and at most
    ``max_states`` distinct (partial sequence, state) pairs at any step, counted as they grow.
    """
    check_type(sampler, PolicySampler, "sampler", "a PolicySampler")
    check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
    length = check_int(length, "length", minimum=1)
    max_states = check_int(max_states, "max_states", minimum=1)
    V = denoiser.vocab_size
    check_enumeration_size(V, length, MAX_STATES, "exact_policy_law")
    extra0 = sampler.init_extra(1, length, V, torch.device("cpu"))
    start = tuple([V] * length)
    states: dict[tuple, list] = {(start, extra_key(extra0)): [start, extra0, 1.0]}
    read = sampler.kernel_denoiser(denoiser)
    for step in range(sampler.num_steps(length)):
        keys = sorted({s for s, _, _ in states.values()})
        outs = read(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
        out_of = dict(zip(keys, outs))
        nxt: dict[tuple, list] = defaultdict(lambda: [None, None, 0.0])
        for s, extra, p in states.values():
            for new, new_extra, q in sampler.exact_augmented_transitions(s, extra, step, out_of[s], length):
                if q > 0:
                    slot = nxt[(new, extra_key(new_extra))]
                    slot[0], slot[1], slot[2] = new, new_extra, slot[2] + p * q
            if len(nxt) > max_states:
                raise SizeLimitError(
                    f"exact_policy_law: {sampler.name} reaches more than {max_states} (partial sequence, "
                    f"state) pairs at step {step + 1} (V = {V}, L = {length}); use a smaller vocabulary or "
                    "length, or Monte Carlo sampling"
                )
        states = dict(nxt)
    return law_of_final_states(((s, p) for s, _, p in states.values()), V, length, sampler.name)
