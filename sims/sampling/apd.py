r"""Adaptive parallel decoding (APD; Israel, Van den Broeck and Grover, "Accelerating Diffusion LLMs via
Adaptive Parallel Decoding", arXiv 2506.00413, NeurIPS 2025; official code ``danielmisrael/apd``,
``dream/generation_utils.py::apd_sample`` and ``apd_accept_criterion``, read at commit 1a3ee2e).

Left to right (:mod:`sims.sampling.draft_verify`). Each step drafts the first ``m`` masked positions
(``max_lookahead``, the paper's M) in parallel from the diffusion model's marginals
:math:`d_j \sim p_D(x_{w_j} \mid x_R)^{1/T}`, scores the draft with a small autoregressive helper in one causal
pass, :math:`p_{AR}(x_{w_j} = \cdot \mid x_{<w_j}, d_{<j})`, and forms the multiplicative mixture of the two
(weight ``mixture_weight``, the paper's R) at every drafted position,

.. math::
    \log \tilde p_j(v) = R \log p_D(x_{w_j} = v \mid x_R) + (1 - R) \log p_{AR}(x_{w_j} = v \mid x_{<w_j}, d_{<j})
    \quad (+\text{const}).

Acceptance (the released code): the target token of position j is :math:`t_j = \arg\max_v \log\tilde p_j(v)`;
the first drafted token is always accepted, and the longest prefix with :math:`d_j = t_j` is committed. The
code passes the draft's Gumbel noise to the target's sampler, but that sampler is called at its default
temperature 0, so the noise is discarded and the target is the argmax (a code quirk; a shared-noise
coupling, where the target is a sample of :math:`\tilde p_j`, is the evident intent and is **not**
implemented here: its exact law needs the joint law of two Gumbel-argmaxes with shared noise). Mixture
scores are rounded to 40 fractional bits before the argmax, ties to the lowest token id.

The helper (``helper``):

* ``"exact"``: the exact language itself through the denoiser's ``draft_log_prob`` pass with
  ``laws=True`` (the oracle gives the exact left-to-right conditionals: a perfect "small AR model");
* ``"perturbed"``: those laws perturbed as :mod:`sims.denoisers.perturbed` perturbs an oracle,
  :math:`(1 - \lambda)\, \mathrm{softmax}(\log p / \tau) + \lambda / V` (``helper_temperature`` τ,
  ``helper_uniform_mix`` λ): a controlled imperfect helper.

With R = 1 the helper is not consulted (no pass) and the target is the diffusion argmax; with R = 0 the
target is the helper's argmax. The output law is not the language's law (it is a mixture-guided rule);
its exact law is :func:`sims.sampling.draft_verify.exact_draft_law` (the step is deterministic given the
draft).

Defaults: R = 0.7 and M = 100 (the demo's defaults and the README's example, confirmed in
``demo.py``); the KV window W = 16 of the code only limits the recomputed keys of a KV cache (the exact
oracle has no cache: not applicable). The code drafts at the demo's temperature 0.2 with top-p 0.95; here
``temperature`` defaults to the suite's 1 (the law the theory is about; unconfirmed as a paper default) and
there is no top-p. The code truncates the input after the lookahead window; for the suite's languages the
masked positions to the right carry no evidence, so the marginals are the same. The paper's method
section was not read (abstract and the code only).

Calls: one marginal call (the dLLM) per step plus one helper pass (1 call per row,
:data:`sims.denoisers.passes.PASS_CONVENTIONS`) per step whose window has at least two positions and R < 1;
the code's ``num_forward_evals`` counts the dLLM calls only (``nfe`` minus the helper passes).
"""

from __future__ import annotations

import math

import torch

from sims.categorical import Precision
from sims.sampling.base import Conventions, adaptive_conventions
from sims.sampling.draft_verify import DRAFT_PASSES, DraftVerifySampler
from sims.sampling.ranking import quantize
from sims.validation import check_choice, check_probability, check_temperature

APD_HELPERS = ("exact", "perturbed")


def perturb_laws(log_probs: torch.Tensor, temperature: float, uniform_mix: float) -> torch.Tensor:
    """:math:`(1 - \\lambda)\\,\\mathrm{softmax}(\\log p/\\tau) + \\lambda/V` in log space (the formula of
    :class:`sims.denoisers.perturbed.PerturbedDenoiser`)."""
    lp = log_probs.to(torch.float64)
    if temperature != 1.0:
        lp = torch.log_softmax(lp / temperature, dim=-1)
    if uniform_mix > 0:
        uniform = torch.full_like(lp, math.log(uniform_mix / lp.shape[-1]))
        lp = torch.logaddexp(lp + math.log1p(-uniform_mix), uniform) if uniform_mix < 1 else uniform
    return lp


def mixture_targets(log_probs: torch.Tensor, helper_laws: torch.Tensor, weight: float) -> torch.Tensor:
    """:math:`\\arg\\max_v R \\log p_D(v) + (1 - R) \\log p_{AR}(v)` (40-bit rounding, lowest id on ties)."""
    if weight == 1:
        mix = log_probs.to(torch.float64)
    elif weight == 0:
        mix = helper_laws
    else:
        mix = weight * log_probs.to(torch.float64) + (1 - weight) * helper_laws
    mix = torch.where(torch.isnan(mix), torch.full_like(mix, -math.inf), mix)
    return quantize(mix).argmax(-1)


def accepted_length(draft: torch.Tensor, targets: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``(n,)`` length of the committed prefix: the first window position always, then while
    ``draft == target`` (``window`` is a left-aligned run of positions in each row)."""
    rank = torch.cumsum(window.long(), 1) - 1
    agree = (draft == targets) | (rank == 0)
    ok = torch.where(window, agree, torch.ones_like(agree))
    return torch.where(window, torch.cumprod(ok.long(), 1), torch.zeros_like(rank)).sum(1)


class APDSampler(DraftVerifySampler):
    """Adaptive parallel decoding (module docstring).

    Args:
        mixture_weight: R in [0, 1] (default 0.7, confirmed in the demo).
        max_lookahead: M, the window size (default 100, confirmed in the demo).
        helper: ``"exact"`` or ``"perturbed"``.
        helper_temperature, helper_uniform_mix: the perturbation of the ``"perturbed"`` helper.
        temperature: the draft temperature (0: argmax).
        categorical_precision: how drafts are drawn (:mod:`sims.categorical`).
    """

    def __init__(
        self,
        mixture_weight: float = 0.7,
        max_lookahead: int = 100,
        helper: str = "exact",
        helper_temperature: float = 1.0,
        helper_uniform_mix: float = 0.0,
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(max_lookahead, temperature, categorical_precision, ("max_lookahead", "temperature"))
        self.mixture_weight = check_probability(mixture_weight, "mixture_weight")
        self.helper = check_choice(helper, APD_HELPERS, "helper")
        self.helper_temperature = check_temperature(
            helper_temperature, "helper_temperature", allow_zero=False
        )
        self.helper_uniform_mix = check_probability(helper_uniform_mix, "helper_uniform_mix")
        self.temperature = self.draft_temperature
        name = f"apd_r{self.mixture_weight:g}_m{self.draft_length}"
        if self.helper == "perturbed":
            name += f"_ht{self.helper_temperature:g}_hu{self.helper_uniform_mix:g}"
        self.name = name + ("" if self.temperature == 1 else f"_T{self.temperature:g}")

    def needs_pass(self, window_size: torch.Tensor) -> torch.Tensor:
        return (window_size >= 2) & (self.mixture_weight < 1)

    def verifier_laws(self, laws: torch.Tensor) -> torch.Tensor:
        if self.helper == "exact":
            return laws
        return perturb_laws(laws, self.helper_temperature, self.helper_uniform_mix)

    def decide(self, log_probs, draft_log_probs, draft, laws, window, generator):
        targets = mixture_targets(log_probs, laws, self.mixture_weight)
        a = accepted_length(draft, targets, window)
        rank = torch.cumsum(window.long(), 1) - 1
        commit = window & (rank < a.unsqueeze(1))
        return commit, draft, draft_log_probs

    def outcomes(self, log_probs, draft_log_probs, draft, laws):
        d = torch.tensor([draft])
        targets = mixture_targets(log_probs.unsqueeze(0), laws.unsqueeze(0), self.mixture_weight)
        a = int(accepted_length(d, targets, torch.ones_like(d, dtype=torch.bool))[0])
        return [(a, None, 1.0)]

    def conventions(self) -> Conventions:
        return adaptive_conventions(
            self,
            step_rule=(
                f"draft the first M = {self.draft_length} masked positions in parallel from p_D^(1/T); "
                f"commit the first drafted token and then the longest prefix whose draft equals the argmax of "
                f"R log p_D + (1 - R) log p_AR, R = {self.mixture_weight:g}"
            ),
            position_rule="left to right (the first masked positions)",
            tie_break="argmax of the mixture: 40-bit rounding, lowest token id",
            source=(
                "Israel et al. arXiv 2506.00413; danielmisrael/apd dream/generation_utils.py "
                "(apd_sample, apd_accept_criterion; commit 1a3ee2e)"
            ),
            nfe_rule=(
                "one marginal call (dLLM) per step + one helper draft_log_prob pass (1 call per row) per step "
                "whose window has >= 2 positions and R < 1 (the code counts dLLM calls only)"
            ),
            extras={
                "mixture_weight": self.mixture_weight,
                "max_lookahead": self.draft_length,
                "helper": self.helper,
                "helper_temperature": self.helper_temperature,
                "helper_uniform_mix": self.helper_uniform_mix,
                "acceptance": "code: target = argmax of the mixture (the shared Gumbel noise is discarded)",
                "kv_window": "not applicable (exact oracle, no KV cache)",
                "defaults": (
                    "R = 0.7, M = 100 confirmed (demo.py); temperature 1 is the suite's (demo: 0.2, top-p 0.95)"
                ),
                "passes": DRAFT_PASSES,
            },
        )
