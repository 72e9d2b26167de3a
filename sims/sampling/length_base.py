r"""Length policies: decoding rules that move, insert or force tokens on an EOS-padded canvas.

The suite's variable-length languages (:mod:`sims.languages.eos`) put a content of length n on a canvas of L
positions, then the end-of-sequence token EOS repeated to the end (EOS is absorbing). Length policies act on
that layout: they force EOS on a suffix without a model call (Learn2PD's end-of-text prediction, arXiv
2509.25188), or insert masks and shift the tokens after them (DAEDAL, arXiv 2508.00819). A step is therefore
not a set of reveals but a *rewrite* of the row:

.. math::  x' = R(x, \hat x, \text{output}, s), \qquad s' = S(x, \hat x, \text{output}, s),

deterministic given the drawn values :math:`\hat x` (one per position, at ``temperature``) and the step's
ranking, with a per-run state s. :class:`Rewrite` records, for every new position, the old position whose
token (and trace record) moved there (``origin``), whether it was revealed now with the value drawn at its
origin (``drawn``) or written with a forced token of probability one (``forced``: EOS, entropy 0).

:class:`LengthPolicySampler` is a :class:`~sims.sampling.policy.PolicySampler` (one call, one draw, one
ranking per step; calls cached while a row is unchanged) whose decision is a :class:`Rewrite`. Its exact
one-step kernel enumerates the joint draws (where the decision looks at them, else only the drawn
positions' product law) and the tie orders, so :func:`~sims.sampling.policy.exact_policy_law` gives the exact
output law, and a rule without run state also has a plain kernel
(:meth:`~sims.sampling.base.Sampler.exact_transitions`).

EOS convention: the rules need the EOS padding token. It is the last token id, V - 1 (the layout of
:class:`~sims.languages.eos.EOSLanguage` with EOS padding); :meth:`LengthPolicySampler.begin` checks that the
denoiser declares exactly that token (:meth:`sims.denoisers.base.Denoiser.eos_token`) and refuses otherwise
with :class:`~sims.denoisers.passes.EOSUnavailableError`. The capability ``needs_eos`` tells the bench and the
conformance suite to run these samplers on EOS languages only. Every length policy may overwrite or move
revealed tokens (``revisits``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from sims.denoisers.base import Denoiser
from sims.denoisers.passes import EOSUnavailableError
from sims.sampling.base import Capabilities
from sims.sampling.kernels import reveal_values
from sims.sampling.policy import PolicySampler, extra_key
from sims.sampling.runtime import RunState
from sims.sampling.scores import entropy_of_log_probs


class Rewrite(NamedTuple):
    """One step's new rows (``n`` rows, L positions; see the module docstring).

    Attributes:
        x: ``(n, L)`` new tokens (mask id V where masked).
        origin: ``(n, L)`` long, the old position whose token and trace record move to each new position;
            -1 for a new position (an inserted mask, or a forced token on a position that was masked).
        drawn: ``(n, L)`` bool, revealed now with the value drawn at ``origin``.
        forced: ``(n, L)`` bool, written now with a forced token (probability one).
        extra: the new per-run state (only the entries that change).
    """

    x: torch.Tensor
    origin: torch.Tensor
    drawn: torch.Tensor
    forced: torch.Tensor
    extra: dict


def identity_origin(x: torch.Tensor) -> torch.Tensor:
    return torch.arange(x.shape[1], device=x.device).expand_as(x).clone()


def force_suffix(x: torch.Tensor, start: torch.Tensor, token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with every position ``>= start`` (per row; ``start = L`` for none) set to ``token``, and the bool
    mask of the positions that changed."""
    pos = torch.arange(x.shape[1], device=x.device)
    tail = pos >= start.unsqueeze(1)
    changed = tail & (x != token)
    return torch.where(tail, torch.full_like(x, token), x), changed


class LengthPolicySampler(PolicySampler):
    """Base of the length policies (module docstring): :meth:`decide` returns a :class:`Rewrite`."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False,
            exact_kernel=not self.has_history,
            revisits=True,
            uses_steps=self.uses_steps,
            needs_eos=True,
        )

    def evaluates_every_masked_step(self, length: int) -> bool:
        """False: a step may leave masks untouched without a call (a block with nothing to do, a step
        whose count is zero)."""
        return False

    def begin(self, denoiser: Denoiser, batch: int, length: int, device: torch.device) -> RunState:
        eos = denoiser.eos_token()
        if eos is None or eos != denoiser.vocab_size - 1:
            raise EOSUnavailableError(
                f"{self.name} is a length policy (capabilities.needs_eos): it needs a denoiser over an "
                f"EOS-padded language whose eos_token() is the last token id {denoiser.vocab_size - 1} "
                f"(sims.languages.eos.EOSLanguage); {type(denoiser).__name__}.eos_token() is {eos!r}"
            )
        return super().begin(denoiser, batch, length, device)

    def _apply(self, state: RunState, rows, dec: Rewrite, values, law, k: int) -> None:
        """Write the rewrite of the selected rows: move the trace records with the tokens, record the drawn
        reveals (from ``law`` at their origin) and the forced tokens (probability one)."""
        x, trace = state.x, state.trace
        idx = rows.nonzero().flatten()
        origin = dec.origin
        src = origin.clamp(min=0)
        keep = origin >= 0
        h = entropy_of_log_probs(law).gather(1, src)
        drawn_values = values.gather(1, src)
        lp = law.gather(1, src.unsqueeze(-1).expand(-1, -1, law.shape[-1]))
        lp = lp.gather(-1, drawn_values.unsqueeze(-1)).squeeze(-1)
        for name, empty in (("reveal_step", -1), ("token_entropy", torch.nan), ("token_logprob", torch.nan)):
            old = getattr(trace, name)[idx]
            moved = torch.where(keep, old.gather(1, src), torch.full_like(old, empty))
            getattr(trace, name)[idx] = moved
        trace.reveal_step[idx] = torch.where(dec.drawn | dec.forced, k, trace.reveal_step[idx])
        zero = torch.zeros_like(h)
        trace.token_entropy[idx] = torch.where(
            dec.drawn, h, torch.where(dec.forced, zero, trace.token_entropy[idx])
        )
        trace.token_logprob[idx] = torch.where(
            dec.drawn, lp, torch.where(dec.forced, zero, trace.token_logprob[idx])
        )
        changed = torch.zeros_like(rows)
        changed[idx] = (dec.x != x[idx]).any(1)
        x[idx] = dec.x
        state.cache.invalidate(changed)
        for name, v in dec.extra.items():
            state.extra[name][rows] = v

    def exact_augmented_transitions(
        self, state: tuple, extra: dict, step: int, log_probs: torch.Tensor, length: int
    ) -> list[tuple[tuple, dict, float]]:
        """Every successor ``(partial sequence, per-run state, probability)`` (module docstring)."""
        found = self.exact_decisions(state, extra, step, log_probs, length)
        if found is None:
            return [(state, extra, 1.0)]
        dec, weights, _, vlp = found
        n = len(weights)
        out: dict[tuple, list] = {}
        for r in range(n):
            new_extra = dict(extra)
            new_extra.update({name: v[r : r + 1].clone() for name, v in dec.extra.items()})
            row = dec.x[r].tolist()
            drawn = [p for p in range(length) if bool(dec.drawn[r, p])]
            if self.decision_uses_values or not drawn:
                filled = [(tuple(row), 1.0)]
            else:
                sources = tuple(int(dec.origin[r, p]) for p in drawn)
                filled = []
                for vals, q in reveal_values(state, sources, vlp[0], 1.0, self.temperature):
                    new = list(row)
                    for p, o in zip(drawn, sources):
                        new[p] = vals[o]
                    filled.append((tuple(new), q))
            for new, q in filled:
                key = (new, extra_key(new_extra))
                if key not in out:
                    out[key] = [new, new_extra, 0.0]
                out[key][2] += weights[r] * q
        return [(new, e, p) for new, e, p in out.values()]
