r"""DAEDAL, variable-length denoising (Li et al., "Beyond Fixed: Training-Free Variable-Length Denoising for
Diffusion Large Language Models", arXiv 2508.00819; official ``Li-Jinsong/DAEDAL`` ``models/LLaDA_DAEDAL.py``
``generate``, commit 303c9e9).

**EOS confidence of a canvas ending at T** (the code's ``_calculate_eos_confidence``): scanning back from
position T-1, take the first C positions (``eos_check_tokens``) whose most likely token is EOS and average
their EOS probability, dividing by C even when fewer are found:

.. math::  c(T) = \frac{1}{C} \sum_{j \in S_C(T)} p_j(\mathrm{EOS}).

**Stage 1, initial length adjustment.** Start from a canvas of :math:`g_0` masks (``initial_length``); while
:math:`c(g) <` ``initial_eos_threshold`` and :math:`g < L`, grow it by f masks (``expansion_factor``),
:math:`g \leftarrow \min(g + f, L)`. Then append a tail of :math:`e = \lfloor C/2 \rfloor` committed EOS tokens.

**Stage 2, iterative denoising and mask insertion.** Blocks of B positions from the canvas start. Each step
makes one call; in the current block the masked positions with confidence ``> high_conf_threshold`` are
filled with their drawn tokens (the most confident one if none). If :math:`c(T) <`
``expand_eos_threshold`` (T = canvas plus tail) and the canvas can still grow, the masked position of the
block not being filled with the lowest confidence, if below ``low_conf_threshold``, is replaced by f masks:
the tokens after it move right by f - 1 and the canvas grows by f - 1. The block pointer moves on past
blocks without masks.

**The canvas on the suite's fixed length L** (how "expanding" maps onto an exact language with EOS padding,
:mod:`sims.languages.eos`). The row has L positions, ``max_gen_length`` = L. The canvas is the prefix
:math:`[0, g)`:

* stage 1: the model sees only the canvas (the code's attention mask); here the oracle sees all L positions
  masked, so positions beyond the canvas are *unseen* and marginalised: :math:`c(g)` is the exact posterior
  that the content has ended within the canvas (its EOS probabilities :math:`P(n \le j)`). The checks of
  stage 1 all read this one output: one call here, one call per check in the code
  (:meth:`DAEDALSampler.initial_canvas` gives the final length and the number of checks);
* stage 2: positions :math:`[g, L)` are set to EOS (the code's committed EOS tail; since EOS is absorbing, a
  tail of any length :math:`e \ge 1` conditions the oracle exactly as EOS to the end). Inserting f masks at
  position j shifts the row right by f - 1 and drops what passes position L (EOS padding, or canvas tokens
  when the canvas reaches L, as the code's clamp to ``max_gen_length`` does).

So the output is always a full row of L tokens whose content ends at the first EOS, and its law (on
augmented states: partial sequence, canvas length, block pointer) is exact
(:func:`sims.sampling.policy.exact_policy_law`; tested against batched Monte Carlo). With no expansion
(``initial_eos_threshold = expand_eos_threshold = 0``) and one token per step (``high_conf_threshold = 1``)
it is the language conditioned on content length :math:`n \le g_0` (tested).

Defaults: the code's (``initial_gen_length = 64``, ``block_length = 32``, thresholds ``0.5`` / ``0.9`` /
``0.9`` / ``0.1``, ``expansion_factor = 8``, ``eos_check_tokens = 32``, confirmed in the function signature and
``scripts/eval_LLaDA_DAEDAL.sh``); it decodes at temperature 0, where the code's confidence (the drawn
token's probability, ``score="sampled_prob"``) equals ``"max_prob"``. Ties (the most confident fill, the
lowest-confidence insertion point) go to the lowest index (the code's ``torch.sort``/``topk`` order is
implementation-defined). Not reproduced: classifier-free guidance, the prompt, and the code's stop on a
stagnant state (impossible here: every stage-2 step fills a token).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.denoisers.passes import pass_conventions
from sims.sampling.base import NO_TIME, Conventions
from sims.sampling.eotp import LLADA_SCORES
from sims.sampling.length_base import LengthPolicySampler, Rewrite, force_suffix, identity_origin
from sims.sampling.ranking import quantize
from sims.sampling.scores import check_score, position_scores
from sims.validation import InvalidArgumentError, check_int, check_positive_int, check_probability


def eos_confidence(log_probs: torch.Tensor, end: torch.Tensor, check_tokens: int) -> torch.Tensor:
    """``(n,)`` the module docstring's :math:`c(T)` for canvases ending at ``end`` ``(n,)``: EOS is the last
    token id; a position counts when its EOS probability exceeds every other one (``torch.argmax`` takes the
    lowest index on ties and EOS has the highest id)."""
    eos = log_probs.shape[-1] - 1
    q = quantize(log_probs)
    others = q[..., :eos].max(-1).values
    pos = torch.arange(log_probs.shape[1], device=log_probs.device)
    is_eos = (q[..., eos] > others) & (pos < end.unsqueeze(1))
    from_end = is_eos.long().flip(1).cumsum(1).flip(1)
    chosen = is_eos & (from_end <= check_tokens)
    p = log_probs[..., eos].exp()
    return quantize(torch.where(chosen, p, torch.zeros_like(p)).sum(1) / check_tokens)


class DAEDALSampler(LengthPolicySampler):
    """DAEDAL on an EOS-padded canvas of L positions (module docstring).

    Args:
        initial_length: :math:`g_0`, the initial canvas (at most L).
        expansion_factor: f >= 2, masks added per expansion (stage 1) or per insertion point (stage 2).
        eos_check_tokens: C >= 2, EOS positions averaged; the stage-2 tail has C // 2 EOS tokens.
        initial_eos_threshold: stage-1 threshold on :math:`c(g)`.
        expand_eos_threshold: stage-2 threshold on :math:`c(T)`.
        high_conf_threshold: stage-2 fill threshold (strict).
        low_conf_threshold: stage-2 insertion-point threshold (strict).
        block_length: B, stage-2 block size.
        score: confidence, ``"max_prob"`` or ``"sampled_prob"`` (the drawn token's probability).
        temperature: token temperature (1 = exact law, 0 = argmax, the code's).
        categorical_precision: categorical sampling precision.

    Name: ``"daedal_init<g0>_exp<f>_check<C>"`` (``"_<score>"`` appended for ``sampled_prob``).
    """

    has_history = True

    def __init__(
        self,
        initial_length: int = 64,
        expansion_factor: int = 8,
        eos_check_tokens: int = 32,
        initial_eos_threshold: float = 0.5,
        expand_eos_threshold: float = 0.9,
        high_conf_threshold: float = 0.9,
        low_conf_threshold: float = 0.1,
        block_length: int = 32,
        score: str = "max_prob",
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, "lowest_index", categorical_precision)
        self.initial_length = check_positive_int(initial_length, "initial_length")
        self.expansion_factor = check_int(expansion_factor, "expansion_factor", minimum=2)
        self.eos_check_tokens = check_int(eos_check_tokens, "eos_check_tokens", minimum=2)
        self.initial_eos_threshold = check_probability(initial_eos_threshold, "initial_eos_threshold")
        self.expand_eos_threshold = check_probability(expand_eos_threshold, "expand_eos_threshold")
        self.high_conf_threshold = check_probability(high_conf_threshold, "high_conf_threshold")
        self.low_conf_threshold = check_probability(low_conf_threshold, "low_conf_threshold")
        self.block_length = check_positive_int(block_length, "block_length")
        self.score = check_score(score, LLADA_SCORES)
        self.decision_uses_values = score == "sampled_prob"
        self.name = f"daedal_init{initial_length}_exp{expansion_factor}_check{eos_check_tokens}" + (
            "" if score == "max_prob" else f"_{score}"
        )

    @property
    def tail(self) -> int:
        return self.eos_check_tokens // 2

    def num_steps(self, length: int) -> int:
        if self.initial_length > length:
            raise InvalidArgumentError(
                f"initial_length {self.initial_length} must be at most the length {length} (max_gen_length)"
            )
        # stage 1, then at most L + f - 2 fills (each stage-2 step fills a token; module docstring)
        return length + self.expansion_factor

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps="adaptive: stage 1 in step 0, then until no mask is left (at most L + f - 1 steps)",
            time_direction=NO_TIME,
            schedule="none (adaptive rule)",
            step_rule="stage 1: grow the canvas by f while its EOS confidence < the initial threshold; "
            "stage 2: fill confidence > high threshold (else the most confident) in the block, insert f "
            "masks at the least confident mask below the low threshold while the EOS confidence < the "
            "expansion threshold",
            position_rule=f"{self.score!r} confidence in the current block of the canvas",
            tie_break="lowest index",
            last_step="runs until no mask is left; positions beyond the canvas are EOS",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step while masks remain; stage 1 reads one output (the code makes one "
            "call per check: initial_canvas gives the number of checks)",
            source="arXiv 2508.00819; Li-Jinsong/DAEDAL models/LLaDA_DAEDAL.py (303c9e9)",
            extras={
                "initial_length": self.initial_length,
                "expansion_factor": self.expansion_factor,
                "eos_check_tokens": self.eos_check_tokens,
                "eos_tail": self.tail,
                "initial_eos_threshold": self.initial_eos_threshold,
                "expand_eos_threshold": self.expand_eos_threshold,
                "high_conf_threshold": self.high_conf_threshold,
                "low_conf_threshold": self.low_conf_threshold,
                "block_length": self.block_length,
                "score": self.score,
                "canvas": "prefix of the L positions; unseen (masked) beyond it in stage 1, EOS in stage 2",
                "eos": "the denoiser's eos_token(), the last token id (EOS padding)",
                "passes": pass_conventions("marginals"),
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        full = lambda v: torch.full((batch,), v, dtype=torch.long, device=device)  # noqa: E731
        return {"canvas": full(self.initial_length), "stage": full(0), "block": full(0)}

    def active_rows(self, x, vocab_size, extra, k):
        return (extra["stage"] == 0) | (x == vocab_size).any(1)

    def initial_canvas(
        self, log_probs: torch.Tensor, start: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1 on the output ``(n, L, V)``: ``(canvas length, number of checks)`` per row."""
        L = log_probs.shape[1]
        g, checks = start.clone(), torch.ones_like(start)
        while True:
            grow = (eos_confidence(log_probs, g, self.eos_check_tokens) < self.initial_eos_threshold) & (
                g < L
            )
            if not bool(grow.any()):
                return g, checks
            g = torch.where(grow, (g + self.expansion_factor).clamp(max=L), g)
            checks = checks + grow.long()

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        V = log_probs.shape[-1]
        L = x.shape[1]
        none = torch.zeros_like(x, dtype=torch.bool)
        stage1 = extra["stage"] == 0
        g1, _ = self.initial_canvas(log_probs, extra["canvas"])
        x_s1, forced_s1 = force_suffix(x, g1, V - 1)
        # stage 2
        g, b, f, B = extra["canvas"], extra["block"], self.expansion_factor, self.block_length
        pos = torch.arange(L, device=x.device)
        end = (g + self.tail).clamp(max=L)
        conf = quantize(position_scores(self.score, log_probs, values))
        block = (x == V) & (pos >= b.unsqueeze(1)) & (pos < torch.minimum(b + B, end).unsqueeze(1))
        fill = block & (conf > self.high_conf_threshold)
        best = torch.where(block, conf, torch.full_like(conf, -1.0)).argmax(1)
        fallback = block.any(1) & ~fill.any(1)
        fill[fallback, best[fallback]] = True
        low = block & ~fill & (conf < self.low_conf_threshold)
        point = torch.where(low, conf, torch.full_like(conf, 2.0)).argmin(1)
        expand = (
            (eos_confidence(log_probs, end, self.eos_check_tokens) < self.expand_eos_threshold)
            & (g + self.tail < L)
            & low.any(1)
        )
        x1 = torch.where(fill, values, x)
        j = torch.where(expand, point, torch.full_like(point, L)).unsqueeze(1)
        src = torch.where(pos < j, pos, torch.where(pos < j + f, -1, pos - (f - 1)))
        keep = src >= 0
        x2 = torch.where(keep, x1.gather(1, src.clamp(min=0)), torch.full_like(x1, V))
        drawn2 = keep & fill.gather(1, src.clamp(min=0))
        g2 = torch.where(expand, (g + f - 1).clamp(max=L), g)
        end2 = (g2 + self.tail).clamp(max=L)
        b2 = b.clone()
        masked2 = x2 == V
        for _ in range(L // B + 2):  # move past blocks without masks
            inside = (pos >= b2.unsqueeze(1)) & (pos < torch.minimum(b2 + B, end2).unsqueeze(1))
            move = (b2 < end2) & ~(masked2 & inside).any(1)
            b2 = torch.where(move, b2 + B, b2)
        s1 = stage1.unsqueeze(1)
        return Rewrite(
            torch.where(s1, x_s1, x2),
            torch.where(s1, identity_origin(x), src),
            torch.where(s1, none, drawn2),
            torch.where(s1, forced_s1, none),
            {
                "canvas": torch.where(stage1, g1, g2),
                "stage": torch.ones_like(g),
                "block": torch.where(stage1, torch.zeros_like(b), b2),
            },
        )
