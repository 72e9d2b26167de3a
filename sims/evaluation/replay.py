r"""Exact likelihood of a sampler with deterministic position selection, by replaying it on the data (DUEL).

Turok, De Sa & Kuleshov (DUEL, arXiv 2603.01367) observe that a decoding policy whose *position
selection* is a deterministic function of the current partial sequence generates a sequence x along one
path only: starting from the all-masked state :math:`z_0`, the policy selects :math:`S_k = \sigma(z_k)`,
and x is produced iff the tokens drawn there equal :math:`x_{S_k}`, so

.. math::
    \log p_{\text{policy}}(x) = \sum_k \sum_{i \in S_k} \log p_\theta\big(x_i \mid z_k\big), \qquad
    z_{k+1} = z_k \text{ with } x_{S_k} \text{ revealed},

an exact likelihood under the test-time procedure (not an ELBO). Confidence-ordered fixed-count rules
with a deterministic tie rule, the EB-sampler and Fast-dLLM thresholds are of this kind when no two
scores tie.

:func:`replay_log_likelihood` runs *any* sampler's own step code (:mod:`sims.sampling.base`) on the data:
after each step the positions it revealed are overwritten with the data tokens and the log-probability of
those tokens under the law the sampler drew from (the ``log_probs_used`` it records) is added. Determinism
is checked, not assumed: the replay runs a second time on the first ``check_rows`` rows with an independent
generator and must select the same positions at the same steps. When it does not (random orders, random
tie breaks that met a tie), the replayed value is the teacher-forced :math:`\log p_M(x)` of one drawn
order M. If the selection law at each step depends on the state only (not on the values drawn in the same
step: :func:`selection_uses_values` is False), the replay draws the path's selections from that law, so
:math:`E[\prod_k p(x_{S_k} \mid z_k)] = p(x)` and by Jensen :math:`E[\log p_M(x)] \le \log p(x)`: the
excess NLL it gives is an upper bound.

Refused: samplers that revisit revealed tokens or resample particles (a step changes a revealed
position: the path is not a sequence of reveals), temperature 0 (argmax draws have no law to score) and
draft-and-verify and lookahead rules (they declare a ``draft_log_prob`` or ``lookahead`` pass: what they
commit depends on the drawn values, and drafted laws condition on their own draft).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sims.denoisers.base import Denoiser
from sims.enumeration import all_sequences
from sims.sampling.base import Sampler
from sims.sampling.scores import SCORES, score_uses_values
from sims.validation import InvalidArgumentError, check_positive_int, check_tokens


@dataclass
class ReplayLikelihood:
    """Result of :func:`replay_log_likelihood`.

    Attributes:
        log_likelihood: ``(B,)`` :math:`\\log p(x)` of each row (exact when ``deterministic``).
        deterministic: the position selection was identical in two independent replays (checked rows).
        reveal_step: ``(B, L)`` the step at which each position was revealed.
        nfe: ``(B,)`` denoiser calls of the replay (the sampler's own call counting).
    """

    log_likelihood: torch.Tensor
    deterministic: bool
    reveal_step: torch.Tensor
    nfe: torch.Tensor


class _RecordingTrace:
    """Wraps a run's trace and keeps the (rows, reveal, law used) of every reveal it records."""

    def __init__(self, trace):
        self.__dict__["_trace"] = trace
        self.__dict__["events"] = []
        self.__dict__["token_events"] = []  # reveals recorded token by token (scheduled samplers)

    def __getattr__(self, name):
        return getattr(self._trace, name)

    def __setattr__(self, name, value):
        setattr(self._trace, name, value)

    def record_reveals(self, step, reveal, log_probs_used, values, rows) -> None:
        self.events.append((rows.clone(), reveal.clone(), log_probs_used))
        self._trace.record_reveals(step, reveal, log_probs_used, values, rows)

    def record_token_reveals(self, step, rows, positions, log_probs_used, values, entropy=None) -> None:
        self.token_events.append((rows.clone(), positions.clone(), log_probs_used))
        self._trace.record_token_reveals(step, rows, positions, log_probs_used, values, entropy)


def selection_uses_values(sampler: Sampler) -> bool:
    """Whether the sampler's declared position score uses the values drawn in the same step
    (``Conventions.extras["score"]``, :func:`sims.sampling.scores.score_uses_values`); then a replay with
    a randomised selection bounds nothing."""
    score = sampler.conventions().extras.get("score")
    return isinstance(score, str) and score in SCORES and score_uses_values(score)


def check_replayable(sampler: Sampler) -> None:
    """Refuse samplers the replay cannot score (module docstring)."""
    if sampler.capabilities.revisits:
        raise InvalidArgumentError(f"{sampler.name}: revisits revealed tokens; a replay has no single path")
    conventions = sampler.conventions()
    if conventions.temperature == 0:
        raise InvalidArgumentError(f"{sampler.name}: temperature 0 (argmax draws) has no law to score")
    if {"draft_log_prob", "lookahead"} & set(conventions.extras.get("passes", {})):
        raise InvalidArgumentError(
            f"{sampler.name}: verifies drafts or looks ahead, so which tokens it commits depends on the values "
            "drawn (and drafted laws condition on its own draft); a replay cannot score data"
        )


def _replay(sampler: Sampler, denoiser: Denoiser, x: torch.Tensor, generator: torch.Generator):
    B, L = x.shape
    V = denoiser.vocab_size
    state = sampler.begin(denoiser, B, L, x.device)
    if state.x.shape != x.shape:
        raise InvalidArgumentError(
            f"{sampler.name}: runs {state.x.shape[0]} rows (particles) for {B} outputs"
        )
    recorder = _RecordingTrace(state.trace)
    state.trace = recorder
    log_lik = torch.zeros(B, dtype=torch.float64, device=x.device)
    reveal_step = torch.full((B, L), -1, dtype=torch.long, device=x.device)
    for k in range(sampler.num_steps(L)):
        recorder.events.clear()
        recorder.token_events.clear()
        before = state.x.clone()
        sampler.step(state, k, generator)
        for rows, reveal, law in recorder.events:
            idx = rows.nonzero().flatten()
            lp = law.gather(-1, x[idx].unsqueeze(-1)).squeeze(-1)
            log_lik[idx] += torch.where(reveal, lp, torch.zeros_like(lp)).sum(1)
        for rows, positions, law in recorder.token_events:
            log_lik.index_add_(0, rows, law.gather(-1, x[rows, positions].unsqueeze(-1)).squeeze(-1))
        if bool(((before != V) & (state.x != before)).any()):
            raise InvalidArgumentError(
                f"{sampler.name}: a step changed revealed positions (remasking or particle resampling); a "
                "replay has no single path"
            )
        new = (before == V) & (state.x != V)
        state.x = torch.where(new, x, state.x)
        state.cache.invalidate(new.any(1))
        reveal_step = torch.where(new, torch.full_like(reveal_step, k), reveal_step)
    if bool((state.x == V).any()):
        raise AssertionError(f"{sampler.name}: the replay ended with masked positions")
    return log_lik, reveal_step, state.cache.nfe.clone()


def replay_log_likelihood(
    sampler: Sampler,
    denoiser: Denoiser,
    tokens: torch.Tensor,
    generator: torch.Generator,
    check_rows: int = 8,
) -> ReplayLikelihood:
    """:math:`\\log p_{\\text{policy}}(x)` of each row of ``tokens`` by replay (module docstring).

    Args:
        sampler: any sampler of the contract that does not revisit and draws at a positive temperature.
        denoiser: the denoiser the policy runs on.
        tokens: ``(B, L)`` complete sequences (no mask ids).
        generator: the replay's randomness (random orders and tie breaks).
        check_rows: rows replayed a second time, with an independent generator, to check determinism.
    """
    check_replayable(sampler)
    tokens = check_tokens(tokens, denoiser.vocab_size, allow_mask=False)
    check_positive_int(check_rows, "check_rows")
    log_lik, steps, nfe = _replay(sampler, denoiser, tokens, generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    other = torch.Generator(device=generator.device).manual_seed(seed)
    _, steps2, _ = _replay(sampler, denoiser, tokens[:check_rows], other)
    deterministic = bool(torch.equal(steps[:check_rows], steps2))
    return ReplayLikelihood(log_lik, deterministic, steps, nfe)


def replay_law(
    sampler: Sampler, denoiser: Denoiser, length: int, generator: torch.Generator, chunk: int = 4096
):
    """The exact output law ``(V**L,)`` of a deterministic-selection policy: its replay likelihood of every
    sequence (enumerable lengths). Returns ``(law, deterministic)``; the law is exact only when every
    sequence replays deterministically (then it sums to one)."""
    from_seq = all_sequences(denoiser.vocab_size, length)
    laws, det = [], True
    for part in from_seq.split(chunk):
        r = replay_log_likelihood(sampler, denoiser, part, generator, check_rows=part.shape[0])
        laws.append(torch.exp(r.log_likelihood))
        det &= r.deterministic
    return torch.cat(laws), det
