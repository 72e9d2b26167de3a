"""Shared machinery for samplers: the result dataclass, call counting with a cache, and the exact law.

Every sampler is a decoding policy over any :class:`~sims.denoisers.base.Denoiser`. It returns a
:class:`SampleResult` that records, per sequence, the number of denoiser calls actually made, the
step at which each position was revealed (the unmasking order), the entropy and log-probability of the
law each token was drawn from, and per-step predictive entropies (the trace).

Call counting: a call is made only for rows whose state changed since their last call (time-agnostic
denoisers), so steps that reveal nothing cost nothing, as in MDLM/ReMDM/bd3lms ``ddpm_cache``.

Exact law: every sampler also implements :meth:`Sampler.exact_transitions`, its one-step transition
kernel on partial sequences, written as plain enumeration. :func:`sims.exact.exact_sampler_law` chains
these kernels into the sampler's exact output distribution for tiny V and L; the tests compare the fast
batched sampler against it.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from tqdm.auto import tqdm

from sims.categorical import Precision, check_precision
from sims.denoisers.base import Denoiser
from sims.validation import check_positive_int

#: Scores (confidence, margin, entropy) are rounded to this many fractional bits before ranking, so
#: values that are equal up to float64 rounding tie, and ties go to the lowest position index.
SCORE_BITS = 40


@dataclass
class SampleResult:
    """Output of a sampler run (B sequences of length L, K steps).

    Attributes:
        tokens: ``(B, L)`` final sequences.
        nfe: ``(B,)`` denoiser calls made for each sequence.
        reveal_step: ``(B, L)`` 0-based step at which each position was revealed.
        token_entropy: ``(B, L)`` entropy (nats) of the law each token was drawn from.
        token_logprob: ``(B, L)`` log-probability of the drawn token under that law.
        step_entropy_sum: ``(B, K)`` sum of predictive entropies over the masked positions when the
            denoiser output was used at that step (NaN where it was not used).
        step_num_masked: ``(B, K)`` number of masked positions at the start of each step.
        left_support: ``(B,)`` the denoiser reported zero-probability evidence at some call.
        reveal_time: ``(B, L)`` diffusion time of each reveal (time-based samplers) or None.
        conventions: the sampler's named conventions (schedule, step rule, last-step rule, ...).
    """

    tokens: torch.Tensor
    nfe: torch.Tensor
    reveal_step: torch.Tensor
    token_entropy: torch.Tensor
    token_logprob: torch.Tensor
    step_entropy_sum: torch.Tensor
    step_num_masked: torch.Tensor
    left_support: torch.Tensor
    reveal_time: torch.Tensor | None = None
    conventions: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.step_num_masked.shape[1]

    @property
    def mean_nfe(self) -> float:
        return float(self.nfe.double().mean())

    def step_mean_entropy(self) -> torch.Tensor:
        """``(B, K)`` mean predictive entropy over masked positions (NaN where not evaluated)."""
        return self.step_entropy_sum / self.step_num_masked.clamp(min=1)

    def unmasking_order(self) -> torch.Tensor:
        """``(B, L)`` positions sorted by reveal step (ties in position order)."""
        return torch.sort(self.reveal_step, dim=1, stable=True).indices

    @staticmethod
    def concatenate(results: list[SampleResult]) -> SampleResult:
        kwargs = {}
        for f in fields(SampleResult):
            vals = [getattr(r, f.name) for r in results]
            if f.name == "conventions":
                kwargs[f.name] = vals[0]
            elif vals[0] is None:
                kwargs[f.name] = None
            else:
                kwargs[f.name] = torch.cat(vals)
        return SampleResult(**kwargs)


def entropy_of_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) along the last axis, with 0 log 0 = 0."""
    p = torch.exp(log_probs)
    return -torch.where(p > 0, p * log_probs, torch.zeros_like(p)).sum(-1)


class CachedDenoiser:
    """Calls a denoiser only for rows whose state changed since their last call; counts calls per row."""

    def __init__(self, denoiser: Denoiser, batch: int, device: torch.device):
        self.denoiser = denoiser
        self.log_probs: torch.Tensor | None = None
        self.valid = torch.zeros(batch, dtype=torch.bool, device=device)
        self.nfe = torch.zeros(batch, dtype=torch.long, device=device)
        self.impossible = torch.zeros(batch, dtype=torch.bool, device=device)

    def get(self, x: torch.Tensor, rows: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probs ``(n, L, V)`` for the rows selected by the bool mask ``rows``."""
        need = rows if self.denoiser.time_conditioned else rows & ~self.valid
        if bool(need.any()):
            out = self.denoiser(x[need], None if t is None else t[need])
            lp = out.log_probs.to(x.device)
            if self.log_probs is None:
                self.log_probs = torch.zeros(
                    (x.shape[0],) + tuple(lp.shape[1:]), dtype=torch.float64, device=x.device
                )
            self.log_probs[need] = lp
            self.valid |= need
            self.nfe += need.long()
            self.impossible[need] |= out.impossible.to(x.device)
        return self.log_probs[rows]

    def invalidate(self, rows: torch.Tensor) -> None:
        self.valid &= ~rows


class Trace:
    """Collects the per-position and per-step records of a run into a :class:`SampleResult`."""

    def __init__(self, batch: int, length: int, steps: int, device: torch.device, timed: bool = False):
        kw = {"device": device}
        self.reveal_step = torch.full((batch, length), -1, dtype=torch.long, **kw)
        self.token_entropy = torch.full((batch, length), torch.nan, dtype=torch.float64, **kw)
        self.token_logprob = torch.full((batch, length), torch.nan, dtype=torch.float64, **kw)
        self.step_entropy_sum = torch.full((batch, steps), torch.nan, dtype=torch.float64, **kw)
        self.step_num_masked = torch.zeros((batch, steps), dtype=torch.long, **kw)
        self.reveal_time = (
            torch.full((batch, length), torch.nan, dtype=torch.float64, **kw) if timed else None
        )

    def record_step_entropy(
        self, step: int, rows: torch.Tensor, log_probs: torch.Tensor, masked: torch.Tensor
    ) -> None:
        """Sum of predictive entropies over masked positions for the rows (bool mask) that used an output."""
        h = entropy_of_log_probs(log_probs)
        self.step_entropy_sum[rows, step] = torch.where(masked[rows], h, torch.zeros_like(h)).sum(-1)

    def record_reveals(
        self,
        step: int,
        reveal: torch.Tensor,
        log_probs_used: torch.Tensor,
        values: torch.Tensor,
        rows: torch.Tensor,
    ) -> None:
        """Record reveals (bool ``(n, L)``) of the selected ``rows`` drawn from ``log_probs_used``."""
        h = entropy_of_log_probs(log_probs_used)
        lp = log_probs_used.gather(-1, values.unsqueeze(-1)).squeeze(-1)
        tgt = rows.nonzero().flatten()
        rs = self.reveal_step[tgt]
        self.reveal_step[tgt] = torch.where(reveal, torch.full_like(rs, step), rs)
        self.token_entropy[tgt] = torch.where(reveal, h, self.token_entropy[tgt])
        self.token_logprob[tgt] = torch.where(reveal, lp, self.token_logprob[tgt])

    def result(self, tokens: torch.Tensor, cache: CachedDenoiser, conventions: dict) -> SampleResult:
        return SampleResult(
            tokens=tokens,
            nfe=cache.nfe,
            reveal_step=self.reveal_step,
            token_entropy=self.token_entropy,
            token_logprob=self.token_logprob,
            step_entropy_sum=self.step_entropy_sum,
            step_num_masked=self.step_num_masked,
            left_support=cache.impossible,
            reveal_time=self.reveal_time,
            conventions=conventions,
        )


def commit_reveals(
    x: torch.Tensor,
    rows: torch.Tensor,
    reveal: torch.Tensor,
    values: torch.Tensor,
    trace: Trace,
    step: int,
    log_probs_used: torch.Tensor,
    cache: CachedDenoiser,
) -> None:
    """Write ``values`` at the ``reveal`` positions (``(n, L)``) of the selected ``rows`` and record them."""
    x[rows] = torch.where(reveal, values, x[rows])
    trace.record_reveals(step, reveal, log_probs_used, values, rows)
    changed = torch.zeros_like(rows)
    changed[rows] = reveal.any(1)
    cache.invalidate(changed)


TIE_BREAKS = ("random", "lowest_index")


def check_tie_break(tie_break: str) -> str:
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    return tie_break


def quantized_scores(scores: torch.Tensor) -> torch.Tensor:
    """Scores rounded to :data:`SCORE_BITS` fractional bits (equal up to float64 noise -> exactly equal)."""
    return torch.round(scores.to(torch.float64) * 2.0**SCORE_BITS)


def rank_positions(
    scores: torch.Tensor, candidates: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Positions sorted by descending score, non-candidates last.

    Scores are rounded to :data:`SCORE_BITS` fractional bits first. Ties go to the lowest index when
    ``generator`` is None (``tie_break="lowest_index"``); otherwise they are broken uniformly at random
    (``tie_break="random"``): positions are first shuffled by a random permutation drawn from
    ``generator``, then stably sorted by score.
    """
    q = quantized_scores(scores)
    q = torch.where(candidates, q, torch.full_like(q, -torch.inf))
    if generator is None:
        return torch.sort(q, dim=-1, descending=True, stable=True).indices
    u = torch.rand(q.shape, dtype=torch.float64, generator=generator, device=generator.device).to(q.device)
    perm = torch.argsort(u, dim=-1)
    inner = torch.sort(q.gather(-1, perm), dim=-1, descending=True, stable=True).indices
    return perm.gather(-1, inner)


def tie_orders(
    scores: torch.Tensor, candidates: torch.Tensor, tie_break: str = "random"
) -> list[tuple[torch.Tensor, float]]:
    """Every ranking :func:`rank_positions` can return for one row, with its probability (exact kernels).

    ``scores`` and ``candidates`` have shape ``(L,)``. With ``tie_break="lowest_index"`` there is one
    ranking; with ``"random"`` every permutation within each group of equal (rounded) candidate scores is
    equally likely. Non-candidates come last in index order (they are never selected).
    """
    check_tie_break(tie_break)
    base = rank_positions(scores.unsqueeze(0), candidates.unsqueeze(0))[0]
    if tie_break == "lowest_index":
        return [(base, 1.0)]
    q = quantized_scores(scores)
    cand = [int(i) for i in base if bool(candidates[int(i)])]
    rest = [int(i) for i in base if not bool(candidates[int(i)])]
    groups = [list(g) for _, g in itertools.groupby(cand, key=lambda i: float(q[i]))]
    perms = [list(itertools.permutations(g)) for g in groups]
    prob = 1.0 / math.prod(len(p) for p in perms)
    return [
        (torch.tensor([i for part in combo for i in part] + rest, dtype=torch.long), prob)
        for combo in itertools.product(*perms)
    ]


def selection_law(
    scores: torch.Tensor,
    candidates: torch.Tensor,
    tie_break: str,
    select: Callable[[torch.Tensor], torch.Tensor],
) -> dict[tuple, float]:
    """Law of the selected set of a ranking-based rule for one row (exact kernels).

    ``select(order)`` maps a ranking ``(L,)`` (best first) to a boolean selection ``(L,)``; the law is
    taken over the rankings :func:`tie_orders` allows.
    """
    law: dict[tuple, float] = {}
    for order, w in tie_orders(scores, candidates, tie_break):
        key = tuple(int(i) for i in select(order).nonzero().flatten())
        law[key] = law.get(key, 0.0) + w
    return law


def top_count_sets(
    scores: torch.Tensor, candidates: torch.Tensor, count: int, tie_break: str = "random"
) -> list[tuple[tuple, float]]:
    """Law of the set of the ``count`` best candidates (exact kernels; no factorial blow-up).

    Candidates strictly above the boundary score are always taken; the rest is a uniformly random subset
    of the boundary tie group (``"random"``) or its lowest indices (``"lowest_index"``).
    """
    check_tie_break(tie_break)
    order = rank_positions(scores.unsqueeze(0), candidates.unsqueeze(0))[0]
    cand = [int(i) for i in order if bool(candidates[int(i)])]
    count = min(count, len(cand))
    if count == 0:
        return [((), 1.0)]
    if tie_break == "lowest_index":
        return [(tuple(sorted(cand[:count])), 1.0)]
    q = quantized_scores(scores)
    boundary = float(q[cand[count - 1]])
    sure = [i for i in cand if float(q[i]) > boundary]
    tied = [i for i in cand if float(q[i]) == boundary]
    need = count - len(sure)
    subsets = list(itertools.combinations(tied, need))
    return [(tuple(sorted(sure + list(sub))), 1.0 / len(subsets)) for sub in subsets]


class Sampler(ABC):
    """A decoding policy. Subclasses implement :meth:`_sample_batch` and :meth:`exact_transitions`."""

    name = "sampler"

    def __init__(self, precision: Precision = "float64"):
        self.precision = check_precision(precision)

    @abstractmethod
    def num_steps(self, length: int) -> int:
        """Number of steps of the run (the trace width)."""

    @abstractmethod
    def conventions(self) -> dict:
        """Named conventions: schedule, step rule, last-step rule, ... (written into every result)."""

    @abstractmethod
    def _sample_batch(
        self, denoiser: Denoiser, batch: int, length: int, generator: torch.Generator, device: torch.device
    ) -> SampleResult:
        """Run the policy on ``batch`` all-masked sequences."""

    def sample(
        self,
        denoiser: Denoiser,
        num_samples: int,
        length: int,
        generator: torch.Generator,
        *,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> SampleResult:
        """Draw ``num_samples`` sequences of ``length`` in batches of ``batch_size``.

        Reproducible for a fixed (generator seed, batch_size, device).
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        length = check_positive_int(length, "length")
        batch_size = check_positive_int(batch_size, "batch_size")
        if device is None:
            device = generator.device
        device = torch.device(device)
        self.num_steps(length)  # validates the step count against the length
        parts = []
        starts = range(0, num_samples, batch_size)
        if progress:
            starts = tqdm(starts, desc=self.name, leave=False)
        for start in starts:
            b = min(batch_size, num_samples - start)
            parts.append(self._sample_batch(denoiser, b, length, generator, device))
        return SampleResult.concatenate(parts)

    # ---- exact law ------------------------------------------------------------------------------
    def exact_num_steps(self, length: int) -> int:
        return self.num_steps(length)

    @abstractmethod
    def exact_transitions(
        self, state: tuple, step: int, log_probs: torch.Tensor, length: int
    ) -> list[tuple[tuple, float]]:
        """All successors of the partial sequence ``state`` (mask = V) at ``step`` with their probabilities.

        ``log_probs`` is the denoiser output ``(L, V)`` for ``state``. Written as plain enumeration; it is
        the reference the batched sampler is tested against.
        """


def reveal_values(
    state: tuple, positions: tuple, log_probs: torch.Tensor, prob: float, temperature: float = 1.0
) -> list[tuple[tuple, float]]:
    """Enumerate independent draws at ``positions`` from (tempered) ``log_probs`` rows: product law."""
    if not positions:
        return [(state, prob)]
    lp = log_probs[list(positions)].to(torch.float64)
    if temperature == 0:
        choices = [[(int(lp[i].argmax()), 1.0)] for i in range(len(positions))]
    else:
        p = torch.softmax(lp / temperature, dim=-1) if temperature != 1 else torch.exp(lp)
        choices = [
            [(v, float(p[i, v])) for v in range(p.shape[1]) if p[i, v] > 0] for i in range(len(positions))
        ]
    out = []
    for combo in itertools.product(*choices):
        new = list(state)
        q = prob
        for pos, (v, pv) in zip(positions, combo):
            new[pos] = v
            q *= pv
        out.append((tuple(new), q))
    return out


def masked_positions(state: tuple, mask_id: int) -> tuple:
    return tuple(i for i, v in enumerate(state) if v == mask_id)


def check_steps(steps) -> int:
    return check_positive_int(steps, "steps")
