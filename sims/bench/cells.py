r"""One bench cell: a policy setting on a language at one tier, with its metrics (a work item's function).

A cell is keyed ``tier|language|L=..|policy|setting`` and seeded from its key, so its record does not depend
on which worker ran it or after what. Steps:

1. **The run.** A step-count policy at budget b starts at K = b; if its measured mean NFE misses b by
   more than :data:`K_TOLERANCE` (relative), it is run once more at :math:`K' = \mathrm{round}(K b /
   \mathrm{NFE})` and the run closer to b is kept (fixed-count rules hit b exactly; MDLM's Bernoulli rule
   spends fewer calls than K, particle and corrector wrappers more). An adaptive setting runs as is. A
   run whose batch needs more than the cell's call cap is stopped and recorded as ``over budget``.
2. **Monte Carlo metrics** of the samples: SER (Wilson interval), generative NLL per token of in-support
   samples (t-interval), mean NFE; transition KL/TV rates (Tang et al.) with the data floor (the same
   rates on as many exact samples); for EOS languages the TV distance between the generated content
   lengths and the exact length law; where the tier asks for it, the data-direction excess NLL per token
   (:func:`sims.evaluation.data_direction_excess`: exact by replay, or an upper bound).
3. **Exact tier**: the policy's exact output law (kernel or replay, capped at :data:`EXACT_MAX_STATES`
   partial states), and from it KL both ways, TV and SER exactly (:func:`sims.metrics.exact_law_metrics`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from sims.bench.exact_laws import capped_policy_law
from sims.bench.policies import resolve
from sims.categorical import make_generator
from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.evaluation import data_direction_excess, reference_transitions, transition_rates
from sims.exact import exact_log_joint
from sims.execution.items import key_seed
from sims.languages.eos import EOSLanguage
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.registry import make_language
from sims.stats import mean_estimate
from sims.validation import SuiteError

#: A step-count run is repeated at an adjusted K when its mean NFE misses the budget by more than this.
K_TOLERANCE = 0.15
#: Samples of the data-direction estimate per cell (at most the cell's sample count).
EXCESS_SAMPLES = 256


class BudgetExceeded(SuiteError, RuntimeError):
    """A run needed more batched model calls than its cell allows."""


class CallCap(Denoiser):
    """Passes calls through to ``inner`` and raises :class:`BudgetExceeded` after ``max_calls`` batched calls."""

    def __init__(self, inner: Denoiser, max_calls: int):
        self.inner, self.max_calls, self.calls = inner, max_calls, 0
        self.vocab_size = inner.vocab_size
        self.time_conditioned = inner.time_conditioned

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        self.calls += 1
        if self.calls > self.max_calls:
            raise BudgetExceeded(f"more than {self.max_calls} batched calls")
        return self.inner(tokens, t)

    def passes(self) -> tuple[str, ...]:
        return self.inner.passes()

    def leave_one_out(self, tokens: torch.Tensor):
        """The inner denoiser's leave-one-out pass, capped like a call (``PASS_CONVENTIONS``)."""
        self.calls += 1
        if self.calls > self.max_calls:
            raise BudgetExceeded(f"more than {self.max_calls} batched calls")
        return self.inner.leave_one_out(tokens)

    def describe(self) -> dict:
        return self.inner.describe()


@dataclass(frozen=True)
class CellSpec:
    """What one cell computes (module docstring); ``length`` is the actual sequence length."""

    tier: str
    language: str
    length: int
    policy: str
    setting: str
    num_samples: int
    data_direction: bool
    cap_calls: int
    batch_size: int = 256
    device: str = "cpu"

    @property
    def key(self) -> str:
        return f"{self.tier}|{self.language}|L={self.length}|{self.policy}|{self.setting}"

    @property
    def budget(self) -> int | None:
        return int(self.setting.split("=")[1]) if self.setting.startswith("budget=") else None


def _estimate(e) -> dict | None:
    return None if e is None else e.to_dict()


def _sample(policy, cell: CellSpec, oracle, generator, steps):
    sampler = policy.sampler(cell.setting, steps)
    batches = math.ceil(cell.num_samples / cell.batch_size)
    guard = CallCap(oracle, cell.cap_calls * batches)
    res = sampler.sample(guard, cell.num_samples, cell.length, generator, batch_size=cell.batch_size)
    return sampler, res


def _run(policy, cell: CellSpec, oracle, generator):
    """The run of the cell (step 1 of the module docstring): ``(sampler, result, K)``."""
    b = cell.budget
    if b is None:
        sampler, res = _sample(policy, cell, oracle, generator, None)
        return sampler, res, None
    sampler, res = _sample(policy, cell, oracle, generator, b)
    nfe = float(res.nfe.double().mean())
    if abs(nfe - b) <= K_TOLERANCE * b:
        return sampler, res, b
    k1 = max(1, min(4 * cell.length, round(b * b / max(nfe, 1e-9))))
    if k1 == b:
        return sampler, res, b
    try:
        s1, r1 = _sample(policy, cell, oracle, generator, k1)
    except BudgetExceeded:
        return sampler, res, b
    if abs(float(r1.nfe.double().mean()) - b) < abs(nfe - b):
        return s1, r1, k1
    return sampler, res, b


def _eos_length_tv(lang: EOSLanguage, tokens: torch.Tensor) -> dict:
    law = lang.length_law(tokens.shape[1])
    n = lang.content_lengths(tokens)
    emp = torch.bincount(n.cpu(), minlength=law.numel() + 1)[: law.numel()].double() / n.numel()
    mean_exact = float((torch.arange(law.numel(), dtype=torch.float64) * law.cpu()).sum())
    return {
        "length_tv": float(
            0.5 * (emp - law.cpu()).abs().sum() + 0.5 * float((n >= law.numel()).double().mean())
        ),
        "mean_length": float(n.double().mean()),
        "mean_length_exact": mean_exact,
    }


def run_cell(cell: CellSpec, seed: int = 0) -> dict:
    """The record of one cell (module docstring): plain JSON."""
    device = torch.device(cell.device)
    g = make_generator(key_seed(cell.key, seed), device)
    lang = make_language(cell.language, cell.device)
    oracle = OracleDenoiser(lang, on_impossible=sampling_fallback(lang))
    policy = resolve(cell.policy)
    record = {**asdict(cell), "key": cell.key, "budget": cell.budget, "policy_source": policy.source}
    try:
        sampler, res, steps = _run(policy, cell, oracle, g)
    except BudgetExceeded as exc:
        return {**record, "status": "over budget", "detail": str(exc)}
    L = cell.length
    nfe = res.nfe.double()
    quality = evaluate_samples(lang, res.tokens, nfe=res.nfe)
    record |= {
        "status": "ok",
        "steps": steps,
        "sampler": sampler.name,
        "nfe_mean": float(nfe.mean()),
        "nfe_ci": [mean_estimate(nfe).ci_low, mean_estimate(nfe).ci_high] if nfe.numel() > 1 else None,
        "nfe_max": int(res.nfe.max()),
        "ser": quality.sequence_error.to_dict(),
        "gen_nll_in_support": _estimate(quality.gen_nll_per_token_in_support),
        "conventions": res.conventions,
        "capabilities": asdict(sampler.capabilities),
    }
    if L >= 2:
        ref = reference_transitions(lang, L)
        floor = transition_rates(lang.sample(cell.num_samples, L, g), ref)
        record["transitions"] = transition_rates(res.tokens, ref).to_dict() | {"data_floor": floor.to_dict()}
    if isinstance(lang, EOSLanguage):
        record["eos"] = _eos_length_tv(lang, res.tokens)
    if cell.data_direction:
        n = min(EXCESS_SAMPLES, cell.num_samples)
        record["excess"] = _estimate(data_direction_excess(lang, oracle, sampler, L, n, g, cell.batch_size))
    if cell.tier == "exact":
        law = capped_policy_law(sampler, oracle, L, g)
        if law is not None:
            m = exact_law_metrics(exact_log_joint(lang, L), law.law, L)
            record["exact"] = {"method": law.method, **m.to_dict()}
        else:
            record["exact"] = None
    return record
