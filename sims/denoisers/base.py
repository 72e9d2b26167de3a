r"""The common denoiser interface shared by the oracle, perturbed oracles and trained networks.

A denoiser maps a batch of partially masked sequences ``x`` (mask id = V) to per-position predictive
laws :math:`p_\theta(x_i = v \mid x_{\text{revealed}})` for every position i:

* masked positions: a probability vector over the V real tokens (the mask class is never predicted:
  MDLM's "SUBS" parameterisation);
* revealed positions: one-hot on the revealed token (carry-over).

Outputs are float64 log-probabilities. Time-agnostic denoisers (the oracle, and the time-independent
networks of this suite) ignore ``t``; a time-conditioned one sets ``time_conditioned = True`` so that
samplers do not reuse cached outputs across steps.

Checks: :class:`DenoiserOutput` checks its types and shapes when built (O(1)); :meth:`Denoiser.__call__`
(what samplers, metrics and exact laws call) checks the tokens and times going in and the values coming
out: every row a log-probability vector (no NaN, no +inf, logsumexp within
:data:`~sims.validation.LAW_ROW_ATOL` of 0) of shape ``(B, L, V)``. That costs one logsumexp over the
output (about one ``exp`` of it, small next to the forward-backward or network call that produced it) and
one device sync; a diverged network or a corrupt cache raises :class:`~sims.validation.NumericalError`
there, before any sampler can draw from a NaN row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from sims.denoisers.passes import PassUnavailableError
from sims.inference.draft import DraftLogProb
from sims.inference.leave_one_out import LeaveOneOutPosterior
from sims.validation import (
    InvalidArgumentError,
    InvalidTypeError,
    check_denoiser_output,
    check_dtype,
    check_tokens,
    check_type,
)


@dataclass
class DenoiserOutput:
    """Per-position predictive laws.

    Attributes:
        log_probs: ``(B, L, V)`` float64 log-probabilities (one-hot at revealed positions).
        impossible: ``(B,)`` bool; True where the revealed tokens have zero probability under the
            denoiser's reference language (the trajectory has already left the support). Always False
            for denoisers that cannot tell.
    """

    log_probs: torch.Tensor
    impossible: torch.Tensor

    def __post_init__(self):
        check_dtype(self.log_probs, (torch.float64, torch.float32), "DenoiserOutput.log_probs")
        if self.log_probs.ndim != 3:
            raise InvalidArgumentError(
                f"DenoiserOutput.log_probs must have shape (B, L, V), got {tuple(self.log_probs.shape)}"
            )
        check_dtype(self.impossible, torch.bool, "DenoiserOutput.impossible")
        if tuple(self.impossible.shape) != (self.log_probs.shape[0],):
            raise InvalidArgumentError(
                f"DenoiserOutput.impossible must have shape ({self.log_probs.shape[0]},), got "
                f"{tuple(self.impossible.shape)}"
            )

    @property
    def probs(self) -> torch.Tensor:
        return torch.exp(self.log_probs)

    def select(self, rows: torch.Tensor) -> DenoiserOutput:
        return DenoiserOutput(self.log_probs[rows], self.impossible[rows])


class Denoiser(ABC):
    """Base class: subclasses implement :meth:`predict` on validated inputs."""

    vocab_size: int
    time_conditioned: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            raise InvalidTypeError(
                f"{cls.__name__} overrides Denoiser.__call__, which checks every output; implement predict"
            )

    @property
    def mask_id(self) -> int:
        return self.vocab_size

    @abstractmethod
    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        """Predictive laws for ``tokens`` ``(B, L)`` (mask id = V); ``t`` is ``(B,)`` diffusion time or None."""

    def __call__(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        """:meth:`predict` with its contract checked (see the module docstring)."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True)
        if t is not None:
            check_times(t, tokens.shape[0])
        out = self.predict(tokens, t)
        check_type(out, DenoiserOutput, f"{type(self).__name__}.predict output", "a DenoiserOutput")
        B, L = tokens.shape
        check_denoiser_output(out.log_probs, out.impossible, B, L, self.vocab_size, type(self).__name__)
        return out

    def describe(self) -> dict:
        return {"type": type(self).__name__}

    # ---- optional capability (declining default) ------------------------------------------------------
    def offers_scheduled_session(self, length: int) -> bool:
        """Whether :meth:`scheduled_session` can answer exactly for sequences of ``length`` (default: no)."""
        return False

    def prefers_scheduled_session(self, batch: int, length: int, num_steps: int) -> bool:
        """Whether a session is expected to be faster than full passes for ``batch`` sequences of ``length``
        revealed in ``num_steps`` steps (speed only: both are exact). Default: whenever one is offered."""
        return self.offers_scheduled_session(length)

    def scheduled_session(self, schedule: torch.Tensor, num_steps: int):
        """A :class:`sims.inference.incremental.ScheduledSession`: the exact predictive laws of only the
        positions a value-independent ``schedule`` ``(B, L)`` reveals, step by step (the oracle offers it;
        samplers then skip the full pass). Only called when :meth:`offers_scheduled_session` is True."""
        raise NotImplementedError(f"{type(self).__name__} offers no scheduled session")

    def eos_token(self) -> int | None:
        """The end-of-sequence token that pads every sequence of the denoiser's language to its end (EOS
        repeated, absorbing), or None (default: none declared). Length policies (``Capabilities.needs_eos``)
        read it; wrappers that keep the vocabulary forward it."""
        return None

    # ---- passes beyond the marginals (sims.denoisers.passes; defaults decline) ------------------------
    def passes(self) -> tuple[str, ...]:
        """Kinds of pass this denoiser answers (:data:`sims.denoisers.passes.PASS_CONVENTIONS`)."""
        return ("marginals", "lookahead")

    def lookahead(self, states: torch.Tensor) -> DenoiserOutput:
        """Marginals of ``N`` candidate states per row, ``states`` ``(B, N, L)``, in one batched call of this
        denoiser (every denoiser answers it: its own marginals, exact for itself). The output has ``B * N``
        rows, row ``b * N + n`` for candidate n of row b; one call per row by the convention of
        :data:`sims.denoisers.passes.PASS_CONVENTIONS` (``"lookahead"``)."""
        if states.ndim != 3:
            raise InvalidArgumentError(f"states must have shape (B, N, L), got {tuple(states.shape)}")
        B, N, L = states.shape
        return self(states.reshape(B * N, L))

    def leave_one_out(self, tokens: torch.Tensor) -> LeaveOneOutPosterior:
        """:math:`p(x_i \\mid x_{R \\setminus \\{i\\}})` at every position; declines by default."""
        raise PassUnavailableError(
            f"{type(self).__name__} gives no leave-one-out pass; an approximation by masked re-prediction "
            "is sims.denoisers.passes.masked_leave_one_out (one call per revealed position)"
        )

    def draft_log_prob(
        self, tokens: torch.Tensor, draft: torch.Tensor, chain_rule: bool = False, laws: bool = False
    ) -> DraftLogProb:
        """Joint :math:`\\log p(x_D = d \\mid x_R)` of a multi-token draft (with ``chain_rule`` its
        left-to-right conditionals, with ``laws`` the whole conditional law at each drafted position, as
        an autoregressive verifier's causal pass gives them); declines by default."""
        raise PassUnavailableError(
            f"{type(self).__name__} gives no joint draft probability (the product of its marginals is not "
            "the joint unless the drafted tokens are conditionally independent)"
        )


def check_times(t, batch: int) -> torch.Tensor:
    """Diffusion times handed to a denoiser: a float tensor of shape ``(B,)`` (or one value), finite, in
    [0, 1]."""
    check_type(t, torch.Tensor, "t", "a torch.Tensor of diffusion times")
    if not t.dtype.is_floating_point:
        raise InvalidArgumentError(f"t must be a floating-point tensor, got dtype {t.dtype}")
    if t.ndim > 1 or t.numel() not in (1, batch):
        raise InvalidArgumentError(f"t must have shape ({batch},) (one time per row), got {tuple(t.shape)}")
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise InvalidArgumentError(
            f"t must be finite and lie in [0, 1], got values {t.flatten()[:8].tolist()}"
        )
    return t


def one_hot_log(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``(B, L, V)`` log one-hot of ``tokens``; rows at masked positions are meaningless (mask clamped)."""
    oh = torch.nn.functional.one_hot(tokens.clamp(max=vocab_size - 1), vocab_size)
    return torch.log(oh.to(torch.float64))


def carry_over(log_probs: torch.Tensor, tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Overwrite revealed positions of ``log_probs`` with one-hot logs (SUBS carry-over)."""
    revealed = (tokens < vocab_size).unsqueeze(-1)
    return torch.where(revealed, one_hot_log(tokens, vocab_size), log_probs)
