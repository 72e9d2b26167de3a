r"""Decoding policies that read the leave-one-out pass: the pass, its call count, and the exact law.

WINO's narrow-out check (arXiv 2507.18578), P2's self-planning score (arXiv 2502.03540), informed
correctors' Gibbs updates (arXiv 2407.21243) and Saber's backtracking (arXiv 2510.18165) look at a
*revealed* token i through its leave-one-out conditional

.. math::  q_i(v) = p(x_i = v \mid x_{R \setminus \{i\}}),

and at a masked position through the ordinary marginal :math:`p(x_i = v \mid x_R)` (the same formula:
removing a masked token changes nothing). One leave-one-out pass (:meth:`Denoiser.leave_one_out`) gives
both at every position; it is what WINO's "shadow block" computes in one forward pass (each shadow copy of
position i attends to everything except position i).

Where the pass comes from (``loo_source``):

* ``"auto"`` (default): the denoiser's own pass if it offers one (``"leave_one_out" in
  denoiser.passes()``; the oracle's is exact), counted as **one call per row**
  (:data:`sims.denoisers.passes.PASS_CONVENTIONS` ``["leave_one_out"]``); otherwise masked re-prediction
  (:func:`sims.denoisers.passes.masked_leave_one_out`: position i's law from the call with i masked, the
  model's own masked conditional, exact for the oracle), counted as **1 + (number of revealed positions)
  calls per row**;
* ``"pass"``: the denoiser's own pass only; a denoiser without one is refused with
  :class:`~sims.denoisers.passes.PassUnavailableError`.

Every output goes through :func:`sims.validation.check_denoiser_output` (a NaN row raises
:class:`~sims.validation.NumericalError`). A row is flagged as having left the support when its revealed
tokens have probability zero: for a revealed i, :math:`P(x_R) > 0` iff :math:`P(x_{R\setminus i}) > 0` and
:math:`q_i(x_i) > 0`, so the flag is read off the pass itself.

Exact laws. :class:`LeaveOneOutView` presents the pass as a :class:`~sims.denoisers.base.Denoiser` output
(not one-hot at revealed positions), and :meth:`LeaveOneOutPolicy.kernel_denoiser` returns it, so the
suite's exact engines (:func:`sims.exact.exact_sampler_law` for rules without per-run state,
:func:`sims.sampling.policy.exact_policy_law` for all) feed each policy's kernel the pass it reads: the
exact output law, tested against batched Monte Carlo like every other policy.
"""

from __future__ import annotations

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.denoisers.passes import PassUnavailableError, masked_leave_one_out, pass_conventions
from sims.sampling.policy import PolicySampler
from sims.sampling.runtime import CachedDenoiser, RunState
from sims.validation import check_choice, check_denoiser_output, check_type

#: where the leave-one-out laws come from (module docstring)
LOO_SOURCES = ("auto", "pass")


def check_loo_source(loo_source: str) -> str:
    return check_choice(loo_source, LOO_SOURCES, "loo_source")


def offers_loo(denoiser: Denoiser) -> bool:
    return "leave_one_out" in denoiser.passes()


def loo_pass(
    denoiser: Denoiser, tokens: torch.Tensor, loo_source: str = "auto", who: str = "policy"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(log_probs (B, L, V), impossible (B,), calls (B,))`` of the leave-one-out pass on ``tokens``.

    ``log_probs`` is :math:`\\log p(x_i \\mid x_{R \\setminus i})` at every position (the marginal where
    i is masked); ``calls`` the model calls charged to each row (module docstring).
    """
    B, L = tokens.shape
    V = denoiser.vocab_size
    if offers_loo(denoiser):
        post = denoiser.leave_one_out(tokens)
        calls = torch.ones(B, dtype=torch.long, device=tokens.device)
    elif loo_source == "auto":
        post, _ = masked_leave_one_out(denoiser, tokens)
        calls = 1 + (tokens < V).sum(1)
    else:
        raise PassUnavailableError(
            f"{who} needs the leave-one-out pass p(x_i | x_(R minus i)), which {type(denoiser).__name__} "
            "does not offer (its passes(): "
            f"{denoiser.passes()}); pass loo_source='auto' to use masked re-prediction instead (one call "
            "per revealed position, the model's own masked conditional)"
        )
    lp = post.log_probs.to(tokens.device)
    rows_bad = post.impossible.to(tokens.device).any(1)
    check_denoiser_output(lp, rows_bad, B, L, V, f"{type(denoiser).__name__} leave-one-out pass")
    revealed = tokens < V
    own = lp.gather(-1, tokens.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1)
    impossible = rows_bad | (revealed & (own == -torch.inf)).any(1)
    return lp, impossible, calls


class LeaveOneOutView(Denoiser):
    """The leave-one-out pass of ``denoiser`` presented as a denoiser output (exact laws; module docstring).

    Its output is :math:`p(x_i \\mid x_{R \\setminus i})` at every position, so it is *not* a carry-over
    denoiser: only the leave-one-out policies read it.
    """

    def __init__(self, denoiser: Denoiser, loo_source: str = "auto"):
        check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
        self.inner = denoiser
        self.loo_source = check_loo_source(loo_source)
        self.vocab_size = denoiser.vocab_size
        self.time_conditioned = False  # the pass takes no diffusion time

    def predict(self, tokens, t=None):
        lp, impossible, _ = loo_pass(self.inner, tokens, self.loo_source, "LeaveOneOutView")
        return DenoiserOutput(lp, impossible)

    def describe(self) -> dict:
        return {"type": "LeaveOneOutView", "inner": self.inner.describe(), "loo_source": self.loo_source}


class LeaveOneOutCache(CachedDenoiser):
    """:class:`~sims.sampling.runtime.CachedDenoiser` over the leave-one-out pass: a pass only for rows whose
    state changed since their last pass; each pass charges the rows its calls (module docstring)."""

    def __init__(self, denoiser: Denoiser, batch: int, device: torch.device, loo_source: str, who: str):
        super().__init__(denoiser, batch, device)
        self.loo_source = loo_source
        self.who = who

    def get(self, x: torch.Tensor, rows: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        need = rows & ~self.valid
        if bool(need.any()):
            lp, impossible, calls = loo_pass(self.denoiser, x[need], self.loo_source, self.who)
            lp = lp.to(x.device)
            if self.log_probs is None:
                self.log_probs = torch.zeros(
                    (x.shape[0],) + tuple(lp.shape[1:]), dtype=torch.float64, device=x.device
                )
            self.log_probs[need] = lp
            self.valid |= need
            self.nfe[need] += calls.to(x.device)
            self.impossible[need] |= impossible.to(x.device)
        return self.log_probs[rows]


def loo_nfe_rule(loo_source: str) -> str:
    """``Conventions.nfe_rule`` text of a leave-one-out policy."""
    return (
        "one leave-one-out pass per step for rows whose state changed since their last pass: 1 call per row "
        "when the denoiser offers the pass (PASS_CONVENTIONS['leave_one_out'])"
        + (
            "; otherwise masked re-prediction, 1 + (revealed positions) calls per row"
            if loo_source == "auto"
            else "; a denoiser without the pass is refused"
        )
    )


class LeaveOneOutPolicy(PolicySampler):
    """A :class:`~sims.sampling.policy.PolicySampler` whose every step reads the leave-one-out pass instead
    of the marginals (module docstring). Subclasses set ``self.loo_source`` (:func:`check_loo_source`)."""

    loo_source = "auto"

    def kernel_denoiser(self, denoiser: Denoiser) -> Denoiser:
        return LeaveOneOutView(denoiser, self.loo_source)

    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        if self.loo_source == "pass" and not offers_loo(denoiser):
            loo_pass(denoiser, torch.zeros((0, length), dtype=torch.long), "pass", self.name)
        state = super().begin(denoiser, batch, length, device)
        state.cache = LeaveOneOutCache(denoiser, batch, device, self.loo_source, self.name)
        return state

    def pass_extras(self) -> dict:
        """``Conventions.extras`` entries shared by the leave-one-out policies."""
        return {
            "passes": pass_conventions("leave_one_out"),
            "loo_source": self.loo_source,
        }
