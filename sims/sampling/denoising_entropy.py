r"""Denoising entropy of a decoding path, best-of-N selection and entropy-guided particles (arXiv 2512.21336).

Chen et al., "Optimizing Decoding Paths in Masked Diffusion Models by Quantifying Uncertainty".
What is confirmed and what is not (the paper's main text and code could not be read here):

* **State entropy** :math:`h_{DE}(z) = \frac{1}{|M(z)|}\sum_{l \in M(z)} H(p(x^l \mid z))` over *all*
  masked positions M(z) of the state, from the same denoiser output used for the step, 0 when nothing is
  masked. Source: a third-party copy of the official ``_compute_mask_conditional_entropy`` (which uses
  bits and clamps p at 1e-10). Here: nats by default (``unit="bits"`` divides by ln 2), no clamp
  (0 log 0 = 0), ``state_reduce="mean"`` (official) or ``"sum"``.
* **Path entropy** :math:`H_{DE}`: "accumulates" the state entropy over the steps. The normalisation is
  **unconfirmed**; ``aggregate="sum"`` (default) or ``"mean"`` over the steps at which the denoiser was
  evaluated (steps without a call have no state entropy in the trace). For ranking paths of one sampler
  with a fixed number of steps the two agree. (A third-party reimplementation integrates over diffusion
  time with the trapezoid rule; not implemented.)
* **E-BoN** (post-hoc): run the base sampler N times, keep the run with the lowest path entropy. N is a
  free parameter (paper's value unconfirmed). Cost: N times the base calls (reported as such).
* **E-SMC** (real-time guidance, :class:`sims.sampling.entropy_smc.EntropySMCSampler`): P particles per
  output; after every ``resample_every`` steps resample them with weights
  :math:`\propto \exp(-\lambda\, h_{DE}(\text{current state}))` (multinomial, float64), return the particle
  with the lowest path entropy. The weight function, :math:`\lambda`, P, the
  resampling schedule and the resampling scheme are **unconfirmed** (our choices: ``lam=1`` per nat,
  ``num_particles=4``, ``resample_every=1``, multinomial).

Per-step values are rounded to 40 fractional bits before they are added, so path entropies are exact
sums and ties are reproducible (needed to compare Monte Carlo selection with the exact law of
:func:`exact_best_of_n_law`).

Exactness note (why the oracle cannot gain): with the exact oracle and one token per step every
unmasking order gives exactly the language's law, so selecting paths can only *tilt* the output towards
low-entropy (typically high-probability) sequences; :func:`exact_best_of_n_law` measures that tilt exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch

from sims.denoisers.base import Denoiser
from sims.enumeration import sequence_index
from sims.sampling.base import Sampler
from sims.sampling.ranking import quantize
from sims.sampling.result import SampleResult
from sims.sampling.scores import entropy_of_log_probs
from sims.validation import InvalidArgumentError, SizeLimitError, check_choice, check_positive_int

UNITS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}


def check_entropy_options(state_reduce: str, aggregate: str, unit: str) -> None:
    check_choice(state_reduce, ("mean", "sum"), "state_reduce")
    check_choice(aggregate, ("sum", "mean"), "aggregate")
    check_choice(unit, sorted(UNITS), "unit")


def state_entropy(result: SampleResult, state_reduce: str = "mean", unit: str = "nats") -> torch.Tensor:
    """``(B, K)`` state entropy per step (NaN where the denoiser was not evaluated, 0 if nothing masked)."""
    check_entropy_options(state_reduce, "sum", unit)
    if str(result.conventions.get("extras", {}).get("oracle_path", "")).startswith("incremental"):
        raise InvalidArgumentError(
            "this run took the incremental oracle path, which computes the marginals of the revealed "
            "positions only and records no state entropy; rerun the sampler with oracle_path='full'"
        )
    s = result.step_entropy_sum.to(torch.float64)
    n = result.step_num_masked.to(torch.float64)
    h = s / n.clamp(min=1) if state_reduce == "mean" else s
    h = torch.where(n == 0, torch.where(torch.isnan(s), s, torch.zeros_like(s)), h)
    return quantize(h) * UNITS[unit]


def path_entropy(
    result: SampleResult, state_reduce: str = "mean", aggregate: str = "sum", unit: str = "nats"
) -> torch.Tensor:
    """``(B,)`` path entropy: sum (or mean) of the state entropies over the evaluated steps."""
    check_entropy_options(state_reduce, aggregate, unit)
    h = state_entropy(result, state_reduce, "nats")
    used = ~torch.isnan(h)
    total = torch.where(used, h, torch.zeros_like(h)).sum(1)
    if aggregate == "mean":
        total = total / used.sum(1).clamp(min=1)
    return total * UNITS[unit]


@dataclass
class BestOfN:
    """Output of :func:`best_of_n`: the selected runs (``result.nfe`` = calls of all N runs of the group)."""

    result: SampleResult
    path_entropy: torch.Tensor  # (num_samples,) of the selected runs
    group_path_entropy: torch.Tensor = field(repr=False)  # (num_samples, N)


def best_of_n(
    sampler: Sampler,
    denoiser: Denoiser,
    n: int,
    num_samples: int,
    length: int,
    generator: torch.Generator,
    *,
    state_reduce: str = "mean",
    aggregate: str = "sum",
    select: str = "lowest",
    batch_size: int = 1024,
    device=None,
) -> BestOfN:
    """E-BoN: for each output, run ``sampler`` ``n`` times and keep the lowest (or highest) path entropy.

    Ties go to the lowest run index (the runs are i.i.d., so this is the same law as a uniform tie-break).
    """
    n = check_positive_int(n, "n")
    check_choice(select, ("lowest", "highest"), "select")
    res = sampler.sample(denoiser, num_samples * n, length, generator, batch_size=batch_size, device=device)
    H = path_entropy(res, state_reduce, aggregate).reshape(num_samples, n)
    key = H if select == "lowest" else -H
    pick = key.argmin(1)  # first minimum = lowest index
    rows = torch.arange(num_samples, device=H.device) * n + pick
    nfe = res.nfe.reshape(num_samples, n).sum(1)
    out = res.select_rows(rows.to(res.tokens.device), nfe)
    out.conventions.update(
        {
            "selection": f"E-BoN N={n} ({select} path entropy)",
            "state_reduce": state_reduce,
            "aggregate": aggregate,
            "nfe": "sum over the N runs",
        }
    )
    return BestOfN(out, H[torch.arange(num_samples), pick], H)


def exact_path_entropy_law(
    sampler: Sampler,
    denoiser: Denoiser,
    length: int,
    state_reduce: str = "mean",
    aggregate: str = "sum",
    weights=None,
) -> dict:
    """Exact joint law ``{(sequence tuple, path entropy): probability}`` of output and path entropy.

    Propagates (partial sequence, accumulated path entropy, number of evaluated steps) through
    ``exact_transitions``. ``weights`` (one per step; ``None``: all 1) weight step k's rounded state
    entropy in the sum (the time-integral variants of :mod:`theory.path_entropy_variants`). Only for samplers with an exact kernel that use the denoiser output at every
    step that starts with a masked position (``sampler.evaluates_every_masked_step(length)``; e.g. a
    fixed-count plan must have no empty step), so the trace's state entropies are the ones enumerated here.
    """
    check_entropy_options(state_reduce, aggregate, "nats")
    if not sampler.capabilities.exact_kernel:
        raise InvalidArgumentError(
            f"{sampler.name}: no exact transition kernel (capabilities.exact_kernel is False)"
        )
    if not sampler.evaluates_every_masked_step(length):
        raise InvalidArgumentError(
            f"{sampler.name}: exact path entropy needs a sampler that uses the denoiser output at every "
            f"step with masks (evaluates_every_masked_step({length}) is False; e.g. an empty fixed-count "
            "step, or a Bernoulli step that reveals nothing, records no state entropy)"
        )
    V = denoiser.vocab_size
    if (V + 1) ** length > 2**16:
        raise SizeLimitError(
            f"(V+1)**L = {(V + 1) ** length} partial sequences: too large for exact enumeration"
        )
    K = sampler.num_steps(length)
    w = [1.0] * K if weights is None else [float(x) for x in weights]
    if len(w) != K:
        raise InvalidArgumentError(f"weights must have one entry per step (K = {K}), got {len(w)}")
    states: dict = {(tuple([V] * length), 0.0, 0): 1.0}
    read = sampler.kernel_denoiser(denoiser)  # equal to the marginals at masked positions
    for step in range(K):
        keys = sorted({k[0] for k in states})
        outs = read(torch.tensor(keys, dtype=torch.long)).log_probs.cpu()
        lp_of = dict(zip(keys, outs))
        nxt: dict = defaultdict(float)
        for (tokens, hsum, count), pr in states.items():
            lp = lp_of[tokens]
            masked = torch.tensor([v == V for v in tokens])
            if bool(masked.any()):
                h = torch.where(masked, entropy_of_log_probs(lp.unsqueeze(0))[0], 0.0).sum()
                if state_reduce == "mean":
                    h = h / masked.sum()
                hsum2, count2 = hsum + w[step] * float(quantize(h)), count + 1
            else:
                hsum2, count2 = hsum, count
            for new, q in sampler.exact_transitions(tokens, step, lp, length):
                if q > 0:
                    nxt[(new, hsum2, count2)] += pr * q
        states = dict(nxt)
    out: dict = defaultdict(float)
    for (tokens, hsum, count), pr in states.items():
        if V in tokens:
            raise AssertionError(f"trajectory ended with masked positions: {tokens}")
        H = hsum / max(count, 1) if aggregate == "mean" else hsum
        out[(tokens, H)] += pr
    return dict(out)


def law_of_sequences(joint: dict, vocab_size: int, length: int) -> torch.Tensor:
    """Marginal ``(V**L,)`` law of the sequences from ``{(sequence, H): p}``."""
    law = torch.zeros(vocab_size**length, dtype=torch.float64)
    for (tokens, _), p in joint.items():
        law[int(sequence_index(torch.tensor(tokens), vocab_size))] += p
    return law


def exact_best_of_n_law(
    joint: dict, n: int, vocab_size: int, length: int, select: str = "lowest"
) -> torch.Tensor:
    r"""Exact output law of E-BoN with N i.i.d. runs whose (sequence, path entropy) law is ``joint``.

    With :math:`m(h) = P(H = h)` and :math:`F(h) = P(H < h)` (``"lowest"``), the selected run has
    :math:`H = h` with probability :math:`(1-F(h))^N - (1-F(h)-m(h))^N`, and given that it is distributed
    as :math:`P(x, H=h)/m(h)` (exchangeable runs: lowest-index and uniform tie-breaks agree).
    """
    n = check_positive_int(n, "n")
    check_choice(select, ("lowest", "highest"), "select")
    mass: dict = defaultdict(float)
    for (_, h), p in joint.items():
        mass[h] += p
    hs = sorted(mass, reverse=(select == "highest"))
    sel, before = {}, 0.0
    for h in hs:
        m = mass[h]
        sel[h] = max(0.0, 1 - before) ** n - max(0.0, 1 - before - m) ** n
        before += m
    law = torch.zeros(vocab_size**length, dtype=torch.float64)
    for (tokens, h), p in joint.items():
        law[int(sequence_index(torch.tensor(tokens), vocab_size))] += sel[h] * p / mass[h]
    return law
