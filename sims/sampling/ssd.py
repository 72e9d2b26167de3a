r"""Self-speculative decoding (SSD; Gao, Ji, Wang, Qi, Xu and Zhang, "Self Speculative Decoding for Diffusion
Large Language Models", arXiv 2510.04147).

The model is its own drafter and verifier. Each step (left to right, :mod:`sims.sampling.draft_verify`):
draft the first ``m`` masked positions :math:`w_0 < \dots < w_{m-1}` in parallel from the marginals,
:math:`d_j \sim q_j = p(x_{w_j} \mid x_R)^{1/T}` (normalised; ``draft_temperature`` T), then verify the draft
with the model's own sequential laws :math:`\pi_j = p(x_{w_j} = \cdot \mid x_R, d_{<j})` (one causal pass,
``draft_log_prob`` with ``laws=True``; :math:`\pi_0` is the marginal) by the speculative-sampling rule
(Leviathan et al. 2023; Chen et al. 2023):

.. math::
    \text{accept } d_j \text{ with probability } \alpha_j = \min\Big(1, \frac{\pi_j(d_j)}{q_j(d_j)}\Big),
    \quad j = 0, 1, \dots

and at the first rejection :math:`j = a` commit :math:`d_{<a}` and a token drawn from the residual law
:math:`(\pi_a - q_a)_+ / \lVert (\pi_a - q_a)_+ \rVert_1`; if every drafted token is accepted, commit them all.
Given the accepted prefix, the token committed at :math:`w_a` has law exactly :math:`\pi_a` (the speculative
sampling identity :math:`q \min(1, \pi/q) + (1 - \sum \min(\pi, q)) (\pi - q)_+ / \lVert\cdot\rVert = \pi`), so
**the output law is the verifier's left-to-right chain rule for every draft law**: with the exact oracle,
the language's exact law (tested exactly: ``tests/sims/test_policy_draft_ssd.py``). The draft temperature
and ``m`` change only the number of calls. With ``T = 1`` the first drafted token is always accepted
(:math:`q_0 = \pi_0`).

What the paper says and what is reconstructed here. The paper (abstract and introduction read; method
section not read; code "will be released", not found) drafts several masked positions in one pass and
verifies them with a hierarchical verification tree in a single forward pass, so that the output is
*identical to stepwise (one token per step) decoding*, greedy in its experiments. Here the verification
tree is the causal ``draft_log_prob`` pass on the draft prefixes (the nodes of the tree along the draft),
the order is left to right (the oracle's "stepwise decoding" whose law is known exactly), and the
lossless property is the law identity above at temperature 1 (speculative sampling), which includes the
greedy identity as the limit of one-hot laws. The paper's draft size, tree shape and decoding order
(confidence order within blocks in LLaDA/Dream) are **not confirmed**; ``draft_length`` defaults to 4
(unconfirmed).

Calls: one marginal call per step plus one ``draft_log_prob`` pass per step whose window has at least two
positions (1 call per row, :data:`sims.denoisers.passes.PASS_CONVENTIONS`). The paper counts the draft
and the tree in one forward pass; a merged count is ``nfe - passes`` and is not what is reported here.
"""

from __future__ import annotations

import torch

from sims.categorical import Precision, sample_categorical
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.draft_verify import DRAFT_PASSES, DraftVerifySampler


def residual_probs(target_log: torch.Tensor, draft_log: torch.Tensor) -> torch.Tensor:
    """:math:`(\\pi - q)_+` normalised over the last axis (``π`` itself where the residual is zero: then a
    rejection has probability zero)."""
    r = (torch.exp(target_log) - torch.exp(draft_log)).clamp(min=0.0)
    total = r.sum(-1, keepdim=True)
    return torch.where(total > 0, r / total.clamp(min=1e-300), torch.exp(target_log))


def acceptance_probs(target_log: torch.Tensor, draft_log: torch.Tensor, draft: torch.Tensor) -> torch.Tensor:
    """:math:`\\min(1, \\pi(d)/q(d))` per position (``draft`` indexes the last axis)."""
    d = draft.clamp(max=target_log.shape[-1] - 1).unsqueeze(-1)
    lt, lq = target_log.gather(-1, d).squeeze(-1), draft_log.gather(-1, d).squeeze(-1)
    return torch.exp(torch.clamp(lt - lq, max=0.0))


class SelfSpeculativeSampler(DraftVerifySampler):
    """Self-speculative decoding over any denoiser with a ``draft_log_prob`` pass (module docstring).

    Args:
        draft_length: window size ``m`` (default 4, unconfirmed).
        draft_temperature: the draft law :math:`p^{1/T}` (0: argmax); the output law does not depend on it.
        categorical_precision: how drafts and residual tokens are drawn (:mod:`sims.categorical`).
    """

    def __init__(
        self,
        draft_length: int = 4,
        draft_temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(draft_length, draft_temperature, categorical_precision)
        self.temperature = 1.0
        self.name = f"ssd_m{self.draft_length}" + (
            "" if self.draft_temperature == 1 else f"_dt{self.draft_temperature:g}"
        )

    def needs_pass(self, window_size: torch.Tensor) -> torch.Tensor:
        return window_size >= 2

    def decide(self, log_probs, draft_log_probs, draft, laws, window, generator):
        n, L = log_probs.shape[:2]
        alpha = acceptance_probs(laws, draft_log_probs, draft)
        u = torch.rand((n, L), generator=generator, dtype=torch.float64, device=log_probs.device)
        rejected = window & ~(u < alpha)
        # first rejected window position (L where none)
        pos = torch.arange(L, device=log_probs.device).expand(n, L)
        first = torch.where(rejected, pos, torch.full_like(pos, L)).min(1).values
        commit = window & (pos < first.unsqueeze(1))
        values = draft.clone()
        used = torch.where(window.unsqueeze(-1), laws, log_probs)
        rows = (first < L).nonzero().flatten()
        if rows.numel():
            at = first[rows]
            probs = residual_probs(laws[rows, at], draft_log_probs[rows, at])
            values[rows, at] = sample_categorical(probs, generator, self.categorical_precision)
            commit[rows, at] = True
        return commit, values, used

    def outcomes(self, log_probs, draft_log_probs, draft, laws):
        m = len(draft)
        d = torch.tensor(draft)
        alpha = acceptance_probs(laws, draft_log_probs, d).tolist()
        out, reach = [], 1.0
        for a in range(m):
            reject = reach * (1.0 - alpha[a])
            if reject > 0:
                res = residual_probs(laws[a], draft_log_probs[a]).tolist()
                out.extend((a, c, reject * r) for c, r in enumerate(res) if r > 0)
            reach *= alpha[a]
            if reach == 0:
                break
        if reach > 0:
            out.append((m, None, reach))
        return out

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule=(
                f"draft the first m = {self.draft_length} masked positions in parallel from p^(1/T), "
                f"T = {self.draft_temperature:g}; accept d_j with probability min(1, pi_j(d_j)/q_j(d_j)) "
                "left to right; at the first rejection commit a token from the residual (pi - q)_+"
            ),
            position_rule="left to right (the first masked positions)",
            tie_break="none",
            source=(
                "Gao et al. arXiv 2510.04147 (abstract; method section and code not read) + speculative "
                "sampling (Leviathan et al. 2023); verifier = the denoiser's own draft_log_prob laws"
            ),
            nfe_rule=(
                "one marginal call per step + one draft_log_prob pass (1 call per row) per step whose window "
                "has >= 2 positions"
            ),
            extras={
                "draft_length": self.draft_length,
                "draft_temperature": self.draft_temperature,
                "target": "the verifier's left-to-right chain rule (the exact language for the oracle)",
                "defaults": "draft_length = 4 unconfirmed (paper's tree size not read)",
                "passes": DRAFT_PASSES,
            },
        )


__all__ = ["SelfSpeculativeSampler", "acceptance_probs", "residual_probs"]
