r"""Predictor-corrector sampling with exact Gibbs correctors (informed correctors: Zhao et al.,
arXiv 2407.21243; official ``lindermanlab/informed-correctors``, not in the search index).

**Predictor.** K fixed-count steps: step i reveals :math:`n_i` masked positions chosen uniformly at random
(LLaDA counts, :func:`sims.sampling.fixed_count.llada_counts`), each drawn from its marginal
:math:`p(x_l \mid x_R)`; with the exact oracle this alone samples the target law exactly.

**Corrector.** After every predictor step, C corrector steps. Each selects k revealed positions S and
redraws them, in parallel, from their leave-one-out (Gibbs) conditionals

.. math::  x_i \leftarrow v \sim q_i(v) = p(x_i = v \mid x_{R \setminus \{i\}}), \qquad i \in S,

one leave-one-out pass per step (the hollow network of the paper; exact with the oracle,
:mod:`sims.sampling.loo_policy`). Which positions (``selection``):

* ``"informed"`` (the paper's idea, our reading): the k revealed positions whose current token is least
  likely under its own conditional, lowest :math:`q_i(x_i)` first (ties per ``tie_break``);
* ``"random"``: k revealed positions uniformly at random (random-scan Gibbs).

**Why correctors can be exact (the theory this rests on).** For a fixed revealed set R, the single-site
Gibbs kernel :math:`G_i(x, y) = q_i(y_i)\,[y_{-i} = x_{-i}]` leaves the law :math:`p(x_R)` invariant:
:math:`\sum_{x_i} p(x_{R\setminus i}, x_i)\, p(y_i \mid x_{R\setminus i}) = p(x_{R\setminus i}, y_i)`. A
mixture of such kernels over a site chosen *independently of the values* is invariant too, so with
``selection="random"``, k = 1 and temperature 1 the predictor-corrector chain samples the target exactly
(tested by enumeration, to float64 rounding, on every step). A site chosen *from the values*, as the
informed rule does, is not a fixed mixture: the kernel :math:`\sum_i w_i(x) G_i(x, y)` need not be
invariant, and neither is a parallel update of k > 1 dependent positions; the tests measure the exact
deviation on tiny languages (``docs/decoding_policies.md`` gives the numbers).

Defaults (**unconfirmed**: the official code could not be read): C = 1 corrector step per predictor step,
k = 1, informed selection, temperature 1. The paper's predictor for masked models is a k-Gillespie /
τ-leaping scheme with a corrector entry time; here fixed counts per step and correctors from the first
step on. Calls: one marginal-equivalent pass per predictor step (the pass gives the marginals at masked
positions) and one per corrector step whose state changed.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.sampling.base import NO_TIME, Conventions, check_steps
from sims.sampling.fixed_count import llada_counts
from sims.sampling.kernels import reveal_values
from sims.sampling.loo_policy import LeaveOneOutPolicy, check_loo_source, loo_nfe_rule
from sims.sampling.policy import Decision
from sims.sampling.ranking import quantize, rank_positions, tie_orders
from sims.sampling.runtime import tempered
from sims.sampling.wino import rank_within
from sims.validation import check_choice, check_int, check_positive_int

SELECTIONS = ("informed", "random")


class InformedCorrectorSampler(LeaveOneOutPolicy):
    """Fixed-count predictor with leave-one-out Gibbs correctors (module docstring).

    Args:
        steps: K >= 1 predictor steps.
        corrector_steps: C >= 0 corrector steps after each predictor step (C = 0: the predictor alone).
        corrector_k: k >= 1 positions redrawn per corrector step.
        selection: ``"informed"`` (lowest leave-one-out probability of the current token) or ``"random"``.
        temperature: token temperature of predictor and corrector draws (1 = exact Gibbs).
        tie_break: ``"random"`` (uniform predictor order, random ties) or ``"lowest_index"``.
        loo_source: ``"auto"`` or ``"pass"`` (:mod:`sims.sampling.loo_policy`).
        categorical_precision: categorical sampling precision.

    Name: ``"informed_pc_c<C>_k<k>"`` (``"gibbs_pc_c<C>_k<k>"`` with random selection).
    """

    can_remask = True  # revealed tokens change (they are redrawn, never remasked)
    uses_steps = True

    def __init__(
        self,
        steps: int,
        corrector_steps: int = 1,
        corrector_k: int = 1,
        selection: str = "informed",
        temperature: float = 1.0,
        tie_break: str = "random",
        loo_source: str = "auto",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.steps = check_steps(steps)
        self.corrector_steps = check_int(corrector_steps, "corrector_steps", minimum=0)
        self.corrector_k = check_positive_int(corrector_k, "corrector_k")
        self.selection = check_choice(selection, SELECTIONS, "selection")
        self.loo_source = check_loo_source(loo_source)
        prefix = "informed_pc" if self.selection == "informed" else "gibbs_pc"
        self.name = f"{prefix}_c{corrector_steps}_k{corrector_k}"

    def num_steps(self, length: int) -> int:
        return self.steps * (1 + self.corrector_steps)

    def predictor_index(self, k: int) -> int | None:
        """The predictor step run at step k, or None at a corrector step."""
        i, phase = divmod(k, 1 + self.corrector_steps)
        return None if phase else i

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"{self.steps} predictor steps, each followed by {self.corrector_steps} corrector steps",
            time_direction=NO_TIME,
            schedule="LLaDA counts over the K predictor steps",
            step_rule="predictor: reveal n_i uniformly random masked positions from their marginals; "
            f"corrector: redraw {self.corrector_k} revealed positions in parallel from their leave-one-out "
            "conditionals",
            position_rule="corrector positions: lowest leave-one-out probability of the current token"
            if self.selection == "informed"
            else "corrector positions: uniformly random revealed positions (random-scan Gibbs)",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            last_step="the last predictor step reveals every remaining mask; its correctors act on the "
            "complete sequence",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule=loo_nfe_rule(self.loo_source),
            source="arXiv 2407.21243 (informed correctors); rule and defaults our reading (code not read)",
            extras={
                "corrector_steps": self.corrector_steps,
                "corrector_k": self.corrector_k,
                "selection": self.selection,
                "defaults_confirmed": False,
                **self.pass_extras(),
            },
        )

    def evaluates_every_masked_step(self, length: int) -> bool:
        return False

    # ---- predictor steps (PolicySampler machinery) ----------------------------------------------
    def _count(self, k: int, length: int) -> int:
        return llada_counts(length, self.steps)[self.predictor_index(k)]

    def active_rows(self, x, vocab_size, extra, k):
        if self.predictor_index(k) is None:
            return (x != vocab_size).any(1)
        has_mask = (x == vocab_size).any(1)
        return has_mask & (self._count(k, x.shape[1]) > 0)

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        V = log_probs.shape[-1]
        if self.predictor_index(k) is not None:
            return torch.zeros(x.shape, dtype=torch.float64, device=x.device), x == V
        own = log_probs.gather(-1, x.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1).exp()
        scores = -quantize(own) if self.selection == "informed" else torch.zeros_like(own)
        return scores, x != V

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        masked = x == log_probs.shape[-1]
        reveal = masked & (rank_within(masked, order) < self._count(k, x.shape[1]))
        return Decision(reveal, torch.zeros_like(reveal), {})

    # ---- corrector steps ------------------------------------------------------------------------
    def _chosen(self, order: torch.Tensor, revealed: torch.Tensor) -> torch.Tensor:
        return revealed & (rank_within(revealed, order) < self.corrector_k)

    def step(self, state, k, generator):
        if self.predictor_index(k) is not None:
            return super().step(state, k, generator)
        x, V = state.x, state.vocab_size
        state.trace.step_num_masked[:, k] = (x == V).sum(1)
        rows = self.active_rows(x, V, state.extra, k)
        if not bool(rows.any()):
            return
        xr = x[rows]
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
        scores, cand = self.ranking(lp, lp, values, xr, {}, k)
        order = rank_positions(scores, cand, generator if self.tie_break == "random" else None)
        chosen = self._chosen(order, xr != V)
        new = torch.where(chosen, values, xr)
        changed = torch.zeros_like(rows)
        changed[rows] = (new != xr).any(1)
        x[rows] = new
        r_idx, pos = chosen.nonzero(as_tuple=True)
        law = tempered(lp, self.temperature)
        state.trace.record_token_reveals(
            k, rows.nonzero().flatten()[r_idx], pos, law[r_idx, pos], values[r_idx, pos]
        )
        state.cache.invalidate(changed)

    def exact_augmented_transitions(self, state, extra, step, log_probs, length):
        if self.predictor_index(step) is not None:
            return super().exact_augmented_transitions(state, extra, step, log_probs, length)
        V = log_probs.shape[-1]
        x = torch.tensor([state], dtype=torch.long)
        if not bool(self.active_rows(x, V, extra, step)[0]):
            return [(state, extra, 1.0)]
        lp = log_probs.to(torch.float64)
        scores, cand = self.ranking(lp.unsqueeze(0), None, None, x, extra, step)
        out: dict[tuple, float] = {}
        for order, w in tie_orders(scores[0], cand[0], self.tie_break):
            chosen = self._chosen(order.unsqueeze(0), x != V)[0]
            positions = tuple(int(i) for i in chosen.nonzero().flatten())
            for new, q in reveal_values(state, positions, lp, w, self.temperature):
                out[new] = out.get(new, 0.0) + q
        return [(new, extra, p) for new, p in out.items()]
