r"""One step of a ranking rule, shared by the fixed-count, EB and Fast-dLLM samplers, and its exact kernel.

A ranked step, from the masked candidates :math:`C_k` of the state (the whole sequence, the current
semi-autoregressive block, or a fixed-count plan's block):

1. ``score="random"`` only: draw a uniformly random order of :math:`C_k` (before the call);
2. one denoiser call for the rows that can move; draw a value :math:`\hat x_l \sim p_l^{1/T}` at every
   position (``temperature`` T; argmax at T = 0);
3. otherwise rank :math:`C_k` by the score (:mod:`sims.sampling.scores`, rounded to 40 fractional bits;
   ties per ``tie_break``, :mod:`sims.sampling.ranking`);
4. reveal the set the rule selects from that ranking (:meth:`RankedStepSampler.select`: the ``count``
   best, the longest entropy-bounded prefix, a confidence threshold, ...) with the drawn values.

The ranking passed to ``select`` is the full one ``(n, L)`` (non-candidates last), or, when the rule reads
only its first m entries (:meth:`RankedStepSampler.order_prefix` returns m: the fixed count of the step,
or the single best of LocalLeap), those m columns, computed by partial selection
(``rank_positions(..., prefix=m)``: the same positions from the same random numbers, without sorting all
L positions).

The random numbers are drawn in this order (random order, values, tie permutation), so runs are
reproducible. The exact kernel (:meth:`RankedStepSampler.exact_transitions`) enumerates the same rule:
the law of the selected set over every ranking the tie rule allows (:meth:`RankedStepSampler.set_law`),
times the product law of the values; for ``"sampled_prob"`` the set depends on the values, so it
enumerates the joint draws at every candidate first.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.sampling.base import EXACT_ADAPTIVE, Capabilities, Sampler, check_temperature
from sims.sampling.kernels import reveal_values
from sims.sampling.ranking import check_tie_break, rank_positions, selection_law
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.sampling.scores import check_score, position_scores, score_uses_values
from sims.validation import InvalidArgumentError, check_optional_positive_int


def block_candidates(x: torch.Tensor, vocab_size: int, block_length: int | None) -> torch.Tensor:
    """Masked positions of the first block (left to right) that still has masked positions.

    ``block_length=None`` means the whole sequence is one block. Rows without masks get no candidate.
    """
    masked = x == vocab_size
    if block_length is None:
        return masked
    L = x.shape[1]
    block = torch.arange(L, device=x.device) // block_length
    big = torch.full_like(x, L)  # larger than any block index
    current = torch.where(masked, block.expand_as(x), big).amin(1, keepdim=True)
    return masked & (block.unsqueeze(0) == current)


def check_block_length(block_length, length: int) -> None:
    if block_length is not None and length % block_length:
        raise InvalidArgumentError(f"length {length} must be a multiple of block_length {block_length}")


class RankedStepSampler(Sampler):
    """A sampler whose every step is a ranked step (module docstring).

    Subclasses set :attr:`allowed_scores` and implement :meth:`select`; they may override
    :meth:`active_rows`, :meth:`candidates`, :meth:`exact_candidates` and :meth:`set_law`.
    """

    #: the scores (:data:`sims.sampling.scores.SCORES`) this rule accepts
    allowed_scores: tuple[str, ...] = ()

    def __init__(
        self,
        score: str,
        temperature: float,
        block_length: int | None,
        tie_break: str,
        categorical_precision: Precision,
    ):
        super().__init__(categorical_precision)
        self.tie_break = check_tie_break(tie_break)
        self.score = check_score(score, self.allowed_scores)
        self.temperature = check_temperature(temperature)
        self.block_length = check_optional_positive_int(block_length, "block_length")

    # ---- the rule -------------------------------------------------------------------------------
    def active_rows(self, masked: torch.Tensor, k: int) -> torch.Tensor:
        """Bool ``(B,)``: rows that call the denoiser at step k (default: rows with a masked position)."""
        return masked.any(1)

    def candidates(self, x: torch.Tensor, vocab_size: int, k: int) -> torch.Tensor:
        """Bool ``(n, L)``: positions that may be revealed at step k (default: the current block's masks)."""
        return block_candidates(x, vocab_size, self.block_length)

    @abstractmethod
    def select(
        self,
        log_probs: torch.Tensor,
        candidates: torch.Tensor,
        values: torch.Tensor,
        order: torch.Tensor,
        k: int,
    ) -> torch.Tensor:
        """Bool ``(n, L)``: the positions revealed, given the ranking ``order`` (best first) of the candidates."""

    def order_prefix(self, length: int, k: int) -> int | None:
        """How many leading entries of the ranking :meth:`select` reads at step k (None: all of them).

        A subclass whose ``select`` provably reads only ``order[:, :m]`` for a known m returns m, and
        :meth:`step` then ranks by partial selection (the same positions, no sort of all L).
        """
        return None

    # ---- batched step ---------------------------------------------------------------------------
    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        rows = self.active_rows(masked, k)
        if not bool(rows.any()):
            return
        cand = self.candidates(x[rows], V, k)
        prefix = self.order_prefix(x.shape[1], k)
        if self.score == "random":
            u = torch.rand(cand.shape, dtype=torch.float64, generator=generator, device=generator.device)
            order = rank_positions(u.to(x.device), cand, prefix=prefix)
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
        if self.score != "random":
            tie_gen = generator if self.tie_break == "random" else None
            order = rank_positions(position_scores(self.score, lp, values), cand, tie_gen, prefix)
        reveal = self.select(lp, cand, values, order, k)
        state.trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal, values, state.trace, k, tempered(lp, self.temperature), state.cache)

    def evaluates_every_masked_step(self, length: int) -> bool:
        return True

    # ---- exact kernel ---------------------------------------------------------------------------
    def exact_candidates(self, state: tuple, step: int, vocab_size: int, length: int) -> tuple:
        """Positions that may be revealed from ``state`` at ``step`` (empty: the step leaves it unchanged)."""
        if vocab_size not in state:
            return ()
        x = torch.tensor([state], dtype=torch.long)
        return tuple(int(i) for i in self.candidates(x, vocab_size, step)[0].nonzero().flatten())

    def set_law(
        self, state: tuple, step: int, log_probs: torch.Tensor, values: torch.Tensor
    ) -> list[tuple[tuple, float]]:
        """Law of the revealed set from ``state`` given the drawn ``values`` ``(L,)`` (over tie orders)."""
        x = torch.tensor([state], dtype=torch.long)
        V = log_probs.shape[-1]
        lp = log_probs.unsqueeze(0).to(torch.float64)
        vals = values.unsqueeze(0)
        cand = self.candidates(x, V, step)
        law = selection_law(
            position_scores(self.score, lp, vals)[0],
            cand[0],
            self.tie_break,
            lambda order: self.select(lp, cand, vals, order.unsqueeze(0), step)[0],
        )
        return list(law.items())

    def exact_transitions(self, state, step, log_probs, length):
        V = log_probs.shape[-1]
        cand = self.exact_candidates(state, step, V, length)
        if not cand:
            return [(state, 1.0)]
        if not score_uses_values(self.score):
            values = torch.zeros(length, dtype=torch.long)
            return [
                t
                for sel, w in self.set_law(state, step, log_probs, values)
                for t in reveal_values(state, sel, log_probs, w, self.temperature)
            ]
        # the set depends on the drawn values: enumerate joint draws at every candidate
        out = []
        for draw, p in reveal_values(state, cand, log_probs, 1.0, self.temperature):
            values = torch.tensor([draw[i] if i in cand else 0 for i in range(length)])
            for sel, w in self.set_law(state, step, log_probs, values):
                out.append((tuple(draw[i] if i in sel else state[i] for i in range(length)), p * w))
        return out

    def select_positions(self, state: tuple, step: int, log_probs: torch.Tensor) -> tuple:
        """The set revealed from ``state`` (a deterministic rule: a context-only score and lowest-index ties)."""
        if score_uses_values(self.score) or self.score == "random":
            raise InvalidArgumentError(
                f"score={self.score!r}: the revealed set is random, not a function of the state"
            )
        if self.tie_break != "lowest_index":
            raise InvalidArgumentError(
                "select_positions needs a deterministic rule: use tie_break='lowest_index'"
            )
        ((sel, _),) = self.set_law(state, step, log_probs, torch.zeros(len(state), dtype=torch.long))
        return sel


class AdaptiveRankedStepSampler(RankedStepSampler):
    """A ranked-step rule that runs until no mask is left, at most L steps (EB, Fast-dLLM, Fréchet,
    LocalLeap): value-dependent sets with an exact kernel, no step count K."""

    @property
    def capabilities(self) -> Capabilities:
        return EXACT_ADAPTIVE

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length
