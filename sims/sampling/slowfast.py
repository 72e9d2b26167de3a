r"""SlowFast sampling (Wei et al., arXiv 2506.10848; official ``LiangrunFlora/Slow-Fast-Sampling``
``sampling_utils/generate_slow_fast_sampling.py``).

Inside a block of B positions decoding proceeds in sub-cycles; a sub-cycle starts at offset P (the end of
the previous sub-cycle's span, 0 at the block start) and has two phases.

* **Slow (exploration), exactly** ``explore_steps`` **steps**: each step estimates the span end from the
  farthest masked position of :math:`[P, B)` whose confidence reaches ``cycle_threshold``,
  :math:`E = \min(B, \max(1, P + j^* + 1))` (:math:`j^*` its offset from P; :math:`E = P + 1` if none). Once
  ``window`` estimates exist, the span end is fixed at the last estimate if their population standard
  deviation is below ``std_threshold`` (no further estimates), and otherwise set to the floor of their mean
  (fixed only at the last exploration step; the mean of all estimates if never fixed). Every exploration
  step also unmasks, within :math:`[P, B)`: all masked positions with confidence :math:`\ge` ``threshold``
  if there are at least two, else the single most confident masked position.
* **Fast**: while the span :math:`[P, E)` has masks, each step unmasks within the span all masked positions
  with confidence :math:`\ge` ``threshold`` if there are at least two, else the most confident one. Then
  :math:`P \leftarrow E` and a new sub-cycle starts; a new block starts from :math:`P = 0`.

The per-run state (block, P, phase, exploration step, estimates, span end) is carried in
``RunState.extra``; the rule is a Markov kernel on that augmented state. Every step unmasks at least one
token, so a run takes at most L steps, one call each.

Released code versus this implementation: the code runs all ``explore_steps`` model calls of a sub-cycle
even after the block is complete (here a step with nothing to unmask makes no call); from the second
fast-phase call on it re-encodes only the prefix up to the span end and reuses the suffix logits of the
phase's first call (a speed approximation of the denoiser; here every call sees the full state);
confidence is the probability of the Gumbel-drawn token (``score="sampled_prob"``; ``"max_prob"``, the
default here, equals it at temperature 0, the released setting).

Defaults (the released function's, confirmed): ``explore_steps = 6``, ``cycle_threshold = 0.3``,
``window = 2``, ``std_threshold = 1.0``, ``threshold = 0.9``; the scripts use one block (B = L).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.credit import current_block
from sims.sampling.policy import Decision, PolicySampler
from sims.sampling.ranked import check_block_length
from sims.sampling.ranking import quantize
from sims.sampling.scores import check_score, position_scores, score_uses_values
from sims.validation import check_optional_positive_int, check_positive_int, check_probability, check_real

SLOWFAST_SCORES = ("max_prob", "sampled_prob")
STATE = ("block", "prev", "phase", "k_step", "determined", "span_end")


class SlowFastSampler(PolicySampler):
    """SlowFast sampling (module docstring).

    Args:
        explore_steps: exploration steps per sub-cycle (>= 1).
        cycle_threshold: confidence that marks the span end in exploration, in [0, 1].
        window: number of estimates for the stability test (>= 1).
        std_threshold: the estimates are stable when their standard deviation is below this (> 0).
        threshold: high-confidence threshold of the fills, in [0, 1].
        score: the confidence, one of :data:`SLOWFAST_SCORES`.
        block_length: block size B (None = whole sequence).
        temperature: token temperature (1 = exact law, 0 = argmax).
        tie_break: ``"random"`` (default) or ``"lowest_index"``.
        categorical_precision: categorical sampling precision.

    Name: ``"slowfast_k<explore_steps>_t<threshold>"`` (``"_c<cycle>"``, ``"_sampled_prob"``, ``"_block<b>"``
    appended for non-defaults).
    """

    has_history = True

    def __init__(
        self,
        explore_steps: int = 6,
        cycle_threshold: float = 0.3,
        window: int = 2,
        std_threshold: float = 1.0,
        threshold: float = 0.9,
        score: str = "max_prob",
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.explore_steps = check_positive_int(explore_steps, "explore_steps")
        self.window = check_positive_int(window, "window")
        self.cycle_threshold = check_probability(cycle_threshold, "cycle_threshold")
        self.threshold = check_probability(threshold, "threshold")
        self.std_threshold = check_real(std_threshold, "std_threshold", minimum=0.0, open_min=True)
        self.score = check_score(score, SLOWFAST_SCORES)
        self.decision_uses_values = score_uses_values(score)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = (
            f"slowfast_k{explore_steps}_t{threshold:g}"
            + ("" if cycle_threshold == 0.3 else f"_c{cycle_threshold:g}")
            + ("" if score == "max_prob" else f"_{score}")
            + ("" if block_length is None else f"_block{block_length}")
        )

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="sub-cycles: exploration steps estimate the span end and fill; fast steps fill the span "
            "(all >= threshold if at least two, else the most confident)",
            position_rule=f"confidence {self.score!r} (untempered), masked positions of the scope or span",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            nfe_rule="one call per step while masks remain (the code also calls in finished exploration "
            "steps and re-encodes only a prefix in fast steps)",
            source="arXiv 2506.10848; LiangrunFlora/Slow-Fast-Sampling generate_slow_fast_sampling.py",
            extras={
                "explore_steps": self.explore_steps,
                "cycle_threshold": self.cycle_threshold,
                "window": self.window,
                "std_threshold": self.std_threshold,
                "threshold": self.threshold,
                "score": self.score,
                "block_length": self.block_length,
            },
        )

    # ---- the state machine ------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        out = {
            name: torch.full((batch,), -1 if name == "block" else 0, dtype=torch.long, device=device)
            for name in STATE
        }
        out["hist"] = torch.full((batch, self.window), -1, dtype=torch.long, device=device)
        return out

    def _resolve(self, x: torch.Tensor, V: int, extra: dict) -> dict:
        """The state at the start of the step: a new block resets; a finished fast span ends its sub-cycle."""
        B = x.shape[1] if self.block_length is None else self.block_length
        s = {name: extra[name].clone() for name in (*STATE, "hist")}
        block = current_block(x, V, self.block_length)
        new = block != s["block"]
        pos = torch.arange(x.shape[1], device=x.device)
        start = block * B
        span = (pos >= (start + s["prev"]).unsqueeze(1)) & (pos < (start + s["span_end"]).unsqueeze(1))
        done = ~new & (s["phase"] == 1) & ~((x == V) & span).any(1)
        s["prev"] = torch.where(done, s["span_end"], s["prev"])
        reset = new | done
        s["prev"] = torch.where(new, torch.zeros_like(s["prev"]), s["prev"])
        for name in ("phase", "k_step", "determined"):
            s[name] = torch.where(reset, torch.zeros_like(s[name]), s[name])
        s["span_end"] = torch.where(reset, torch.full_like(s["span_end"], B), s["span_end"])
        s["hist"] = torch.where(reset.unsqueeze(1), torch.full_like(s["hist"], -1), s["hist"])
        s["block"] = block
        return s

    def _region(self, x: torch.Tensor, V: int, s: dict) -> torch.Tensor:
        """Masked positions where this step may unmask: [P, B) in exploration, [P, E) in the fast phase."""
        B = x.shape[1] if self.block_length is None else self.block_length
        pos = torch.arange(x.shape[1], device=x.device)
        start = s["block"] * B
        end = torch.where(s["phase"] == 1, start + s["span_end"], start + B)
        return (x == V) & (pos >= (start + s["prev"]).unsqueeze(1)) & (pos < end.unsqueeze(1))

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        s = self._resolve(x, log_probs.shape[-1], extra)
        return position_scores(self.score, log_probs, values), self._region(x, log_probs.shape[-1], s)

    def _estimate(self, conf: torch.Tensor, region: torch.Tensor, s: dict, B: int) -> dict:
        """One exploration estimate of the span end, and the stability test (module docstring)."""
        L = conf.shape[1]
        start = s["block"] * B + s["prev"]
        offset = torch.arange(L, device=conf.device).unsqueeze(0) - start.unsqueeze(1)
        above = region & (conf >= self.cycle_threshold)
        far = torch.where(above, offset, torch.full_like(offset, -1)).amax(1)
        est = (s["prev"] + torch.where(far >= 0, far + 1, torch.ones_like(far))).clamp(1, B)
        active = (s["phase"] == 0) & (s["determined"] == 0)
        hist = torch.where(active.unsqueeze(1), torch.cat([s["hist"][:, 1:], est.unsqueeze(1)], 1), s["hist"])
        full = (hist >= 0).all(1)
        h = hist.double()
        mean = h.mean(1)
        std = ((h - mean.unsqueeze(1)) ** 2).mean(1).sqrt()
        stable = full & (std < self.std_threshold)
        last = s["k_step"] == self.explore_steps - 1
        s["span_end"] = torch.where(
            active & full, torch.where(stable, est, mean.floor().long().clamp(1, B)), s["span_end"]
        )
        s["determined"] = torch.where(
            active & full & (stable | last), torch.ones_like(last).long(), s["determined"]
        )
        s["hist"] = hist
        return s

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        B = x.shape[1] if self.block_length is None else self.block_length
        s = self._resolve(x, V, extra)
        region = self._region(x, V, s)
        conf = quantize(position_scores(self.score, log_probs, values))
        s = self._estimate(conf, region, s, B)
        high = region & (conf >= self.threshold)
        top = torch.zeros_like(region)
        top.scatter_(1, order[:, :1], True)
        reveal = torch.where(high.sum(1, keepdim=True) > 1, high, top & region)
        # end of exploration: fix the span end if it is still open, switch to the fast phase
        exploring = s["phase"] == 0
        s["k_step"] = torch.where(exploring, s["k_step"] + 1, s["k_step"])
        ends = exploring & (s["k_step"] == self.explore_steps)
        filled = s["hist"] >= 0
        mean = (s["hist"].double() * filled).sum(1) / filled.sum(1).clamp(min=1)
        fallback = torch.where(filled.any(1), mean.floor().long(), torch.full_like(s["prev"], B // 2)).clamp(
            1, B
        )
        s["span_end"] = torch.where(ends & (s["determined"] == 0), fallback, s["span_end"])
        s["determined"] = torch.where(ends, torch.ones_like(s["determined"]), s["determined"])
        s["phase"] = torch.where(ends, torch.ones_like(s["phase"]), s["phase"])
        return Decision(reveal, torch.zeros_like(reveal), s)
