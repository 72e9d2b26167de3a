r"""KLASS, KL-adaptive stability sampling (Kim et al., arXiv 2511.05664; official ``shkim0116/KLASS``).

At step k (one denoiser call, law :math:`p^{(k)}_l` at every position) KLASS tracks, per position, the KL
divergence between consecutive outputs,

.. math::  D^{(k)}_l = \mathrm{KL}\big(p^{(k)}_l \,\Vert\, p^{(k-1)}_l\big),

and calls a masked candidate l of the current block **ready** when it is confident and stable:

.. math::  c^{(k)}_l = \max_v p^{(k)}_l(v) \ge \tau \quad\text{and}\quad
           D^{(j)}_l < \epsilon_{KL} \ \text{ for } j = k-h+1, \dots, k.

Every ready candidate is unmasked (``unmask_strategy="all"``, the released default); when none is ready the
most confident candidate is unmasked. Tokens are drawn at ``temperature``.

Run state (carried in ``RunState.extra``, so the rule is a Markov kernel on the augmented state): the
previous output :math:`p^{(k-1)}` and the last h divergences per position. Before h divergences exist (the
first h steps) no position is stable: the code's zero initial ``p_prev`` gives a first divergence of about
:math:`-\log 10^{-12} \approx 27.6` nats, which we write as :math:`+\infty`. The history runs across blocks,
as in the code.

Released code versus this implementation (both files of the repository):

* ``src/model/dream_klass.py`` (Dream) tests :math:`c \ge \tau`, falls back to the single most confident
  token and decodes greedily (argmax values); ``src/model/llada_klass.py`` (LLaDA) tests :math:`c > \tau`,
  additionally requires ``step >= h - 1`` inside the block, and falls back to the ``count`` most confident
  tokens of LLaDA's fixed-count plan (K steps per block). With the released scripts (K = L) that plan
  reveals one token per step, the same as the Dream fallback; with K < L the LLaDA loop can leave masks
  in a block, which the suite forbids, so only the one-token fallback is implemented. We use
  :math:`c \ge \tau` (the two differ only on exact ties).
* The code computes KL with :math:`10^{-12}` added inside both logarithms; we use the exact KL
  (:math:`0 \log 0 = 0`, :math:`+\infty` when :math:`p^{(k-1)}` has a zero where :math:`p^{(k)}` has
  mass), rounded to 40 fractional bits. At temperature > 0 the LLaDA file computes both confidence and
  KL from Gumbel-perturbed probabilities; here they come from the untempered output.

Defaults: :math:`\tau = 0.9`, :math:`\epsilon_{KL} = 0.01`, h = 2 (the defaults of both evaluation
scripts' argument parsers and of Dream's generation config; the task scripts use
:math:`\tau \in [0.6, 0.9]`, :math:`\epsilon_{KL} \in [0.001, 0.015]`, h = 2). Calls: one per step while
masks remain; at most L steps (every step unmasks at least one token).
"""

from __future__ import annotations

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.policy import Decision, PolicySampler
from sims.sampling.ranked import block_candidates, check_block_length
from sims.sampling.ranking import quantize
from sims.validation import check_optional_positive_int, check_positive_int, check_probability, check_real


def kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` over the last axis, exact: :math:`0 \\log 0 = 0`, :math:`+\\infty` off q's support."""
    p = log_p.exp()
    terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
    return terms.sum(-1)


class KLASSSampler(PolicySampler):
    """KL-adaptive stability sampling (module docstring).

    Args:
        conf_threshold: tau in [0, 1].
        kl_threshold: epsilon_KL > 0 (nats).
        history: h >= 1, the number of consecutive small divergences required.
        block_length: semi-AR block size (None = whole sequence).
        temperature: token temperature (1 = exact law, 0 = argmax, the released setting).
        tie_break: ``"random"`` (default) or ``"lowest_index"`` (ties of the fallback).
        categorical_precision: categorical sampling precision.

    Name: ``"klass_c<tau>_kl<eps>_h<h>"`` (``"_block<b>"`` appended with blocks).
    """

    has_history = True

    def __init__(
        self,
        conf_threshold: float = 0.9,
        kl_threshold: float = 0.01,
        history: int = 2,
        block_length: int | None = None,
        temperature: float = 1.0,
        tie_break: str = "random",
        categorical_precision: Precision = "float64",
    ):
        super().__init__(temperature, tie_break, categorical_precision)
        self.conf_threshold = check_probability(conf_threshold, "conf_threshold")
        self.kl_threshold = check_real(kl_threshold, "kl_threshold", minimum=0.0, open_min=True)
        self.history = check_positive_int(history, "history")
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.name = f"klass_c{conf_threshold:g}_kl{kl_threshold:g}_h{history}" + (
            "" if block_length is None else f"_block{block_length}"
        )

    def num_steps(self, length: int) -> int:
        check_block_length(self.block_length, length)
        return length

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule="KLASS: unmask every candidate with max prob >= tau and KL(p_k || p_{k-1}) < eps for the "
            "last h steps; else the most confident one",
            position_rule="masked positions of the current block; fallback ranked by max prob (untempered)",
            tie_break=f"{self.tie_break} (scores rounded to 40 fractional bits)",
            source="arXiv 2511.05664; shkim0116/KLASS src/model/{dream,llada}_klass.py",
            extras={
                "conf_threshold": self.conf_threshold,
                "kl_threshold_nats": self.kl_threshold,
                "history": self.history,
                "block_length": self.block_length,
                "first_divergence": "+inf (no previous output)",
                "unmask_strategy": "all",
            },
        )

    # ---- the rule -------------------------------------------------------------------------------
    def init_extra(self, batch, length, vocab_size, device):
        return {
            "prev_log_probs": torch.full(
                (batch, length, vocab_size), torch.nan, dtype=torch.float64, device=device
            ),
            "kl_history": torch.full(
                (batch, length, self.history), torch.inf, dtype=torch.float64, device=device
            ),
        }

    def ranking(self, log_probs, value_log_probs, values, x, extra, k):
        return log_probs.max(-1).values.exp(), block_candidates(x, log_probs.shape[-1], self.block_length)

    def decide(self, log_probs, value_log_probs, values, order, x, extra, k):
        prev = extra["prev_log_probs"]
        kl = quantize(kl_rows(log_probs, prev))
        kl = torch.where(torch.isnan(prev).any(-1), torch.full_like(kl, torch.inf), kl)
        hist = torch.cat([extra["kl_history"][..., 1:], kl.unsqueeze(-1)], -1)
        stable = (hist < self.kl_threshold).all(-1)
        conf = quantize(log_probs.max(-1).values.exp())
        cand = block_candidates(x, log_probs.shape[-1], self.block_length)
        ready = cand & stable & (conf >= self.conf_threshold)
        top = torch.zeros_like(cand)
        top.scatter_(1, order[:, :1], True)
        reveal = torch.where(ready.any(1, keepdim=True), ready, top & cand)
        return Decision(
            reveal, torch.zeros_like(reveal), {"prev_log_probs": log_probs.clone(), "kl_history": hist}
        )
