r"""Factorization error of product samplers: exact identities and exact expected KL for random orders.

A product sampler with ordered blocks :math:`B_1..B_K` (a partition of the positions) draws every
:math:`i \in B_t` independently from :math:`r_i(\cdot \mid x_{B_{<t}})`, so its law is
:math:`p_B(x) = \prod_t \prod_{i \in B_t} r_i(x_i \mid x_{B_{<t}})`. Derivations: research notes
/work/shared/research/feng_ppl_ser.md §1.1-§1.4 (our own, brute-force checked here).

**KL identity** (oracle conditionals :math:`r = q`), per fixed ordered partition:

.. math:: KL(q \Vert p_B) = \sum_t TC(X_{B_t} \mid X_{B_{<t}}).

**Learning error adds exactly** for any model r:

.. math:: KL(q \Vert p^r_B) = KL(q \Vert p^q_B) + \sum_t \sum_{i\in B_t} E_{x\sim q}\,
          KL\big(q(X_i \mid x_{B_{<t}}) \Vert r_i(\cdot \mid x_{B_{<t}})\big),

the learning term being evaluated on *true-data* contexts. Averaged over uniformly random sets of
fixed sizes it is :math:`\sum_t s_t\,\ell(k_{t-1})` with :math:`\ell(k)` the per-token learning error at k
revealed positions (:func:`learning_error_curve_by_enumeration`).

**Expected KL of the fixed-count random-order oracle sampler** (sizes :math:`s_t`, :math:`k_t = s_1+..+s_t`;
Li & Cai's sampler, LLaDA ``remasking='random'``), with the dependence curve D and its running sum G of
:mod:`theory.entropy_profile`:

.. math:: E_M KL(q \Vert p_M) = \sum_t \Big[\sum_{j=k_{t-1}}^{k_t-1} D(j) - s_t D(k_{t-1})\Big]
          = \sum_{t:\,s_t\ge2} \big[G(k_t) - G(k_{t-1}) - s_t D(k_{t-1})\big],

the area between the non-decreasing D and its left-endpoint step function (equivalently between
:math:`\Delta h` and its step approximation). K = 1 gives TC(X); :math:`s_t \equiv 1` gives 0.

**Bernoulli (MDLM ancestral) step assignment**: each position independently gets step t with
probability :math:`w_t` (``schedule.step_weights(grid)``), so the sizes are Multinomial(L; w) and, given
the sizes, the blocks are a uniform ordered partition. Averaging the formula above over the multinomial
(empty steps contribute 0) gives the closed form

.. math:: E\,KL = TC(X) - L \sum_t w_t\, E_{J \sim \mathrm{Bin}(L-1,\, W_{t-1})} D(J),
          \qquad W_{t-1} = w_1 + \dots + w_{t-1},

using :math:`E[s_t 1\{k_{t-1}=j\}] = L\,w_t\,\mathrm{Bin}(j; L-1, W_{t-1})`.

These are expectations over orders of the *per-order* KL. The law a practitioner samples is the
mixture :math:`\bar p = E_M p_M`, and :math:`KL(q \Vert \bar p) \le E_M KL(q \Vert p_M)` by convexity.
Direction: both bound the data-under-sampler direction KL(q || p) (excess per-token cross-entropy
:math:`E_q[-\log p]/L - H(q)/L`), not generative perplexity :math:`E_p[-\log q]`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.special import gammaln
from tqdm.auto import tqdm

from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import all_sequences, exact_log_joint
from sims.metrics import position_kl, teacher_forced_log_likelihood
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.stats import mean_estimate
from sims.validation import InvalidArgumentError
from theory.entropy_profile import EntropyProfile
from theory.information import conditional_total_correlation

# ---------------------------------------------------------------------------------------------------
# fixed ordered partitions (enumeration)


def check_blocks(blocks: Sequence[Sequence[int]], length: int) -> list[list[int]]:
    """Validate that ``blocks`` is an ordered partition of ``range(length)`` (empty blocks allowed)."""
    out = [sorted(int(i) for i in b) for b in blocks]
    flat = [i for b in out for i in b]
    if sorted(flat) != list(range(length)):
        raise InvalidArgumentError(f"blocks {blocks} are not a partition of positions 0..{length - 1}")
    return out


def blocks_to_reveal_steps(blocks: Sequence[Sequence[int]], length: int) -> torch.Tensor:
    """``(L,)`` step index of each position."""
    steps = torch.empty(length, dtype=torch.long)
    for t, b in enumerate(check_blocks(blocks, length)):
        steps[b] = t
    return steps


def block_tc_terms(joint: np.ndarray, blocks: Sequence[Sequence[int]]) -> list[float]:
    r""":math:`TC(X_{B_t} \mid X_{B_{<t}})` for each step (enumeration from the joint table)."""
    blocks = check_blocks(blocks, joint.ndim)
    out, seen = [], []
    for b in blocks:
        out.append(conditional_total_correlation(joint, b, seen) if len(b) > 1 else 0.0)
        seen = seen + b
    return out


def block_log_law(denoiser, sequences: torch.Tensor, blocks: Sequence[Sequence[int]]) -> torch.Tensor:
    r""":math:`\log p_B(x)` of the product sampler driven by ``denoiser`` for each row of ``sequences``.

    Teacher forcing (:func:`sims.metrics.teacher_forced_log_likelihood`): exact per order.
    """

    L = sequences.shape[1]
    steps = blocks_to_reveal_steps(blocks, L).to(sequences.device).expand(sequences.shape[0], -1)
    return teacher_forced_log_likelihood(denoiser, sequences, steps)


def support_sequences(language, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All sequences with q(x) > 0 and their log-probabilities (enumeration)."""

    lq = exact_log_joint(language, length)
    seqs = all_sequences(language.vocab_size, length, language.device)
    keep = torch.isfinite(lq)
    return seqs[keep], lq[keep]


def block_kl_by_enumeration(language, length: int, blocks, denoiser) -> float:
    r""":math:`KL(q \Vert p_B)` exactly: :math:`\sum_{q(x)>0} q(x)(\log q(x) - \log p_B(x))`."""
    seqs, lq = support_sequences(language, length)
    lp = block_log_law(denoiser, seqs, blocks)
    if not bool(torch.isfinite(lp).all()):
        return float("inf")
    return float((lq.exp() * (lq - lp)).sum())


def learning_error_by_enumeration(language, length: int, blocks, oracle, model) -> float:
    r""":math:`\sum_t\sum_{i\in B_t} E_{x\sim q} KL(q(X_i\mid x_{B_{<t}}) \Vert r_i(\cdot\mid x_{B_{<t}}))` exactly."""
    seqs, lq = support_sequences(language, length)
    steps = blocks_to_reveal_steps(blocks, length).to(seqs.device).expand(seqs.shape[0], -1)
    vals = learning_error_samples(oracle, model, seqs, steps)
    return float((lq.exp() * vals).sum())


def learning_error_samples(oracle, model, tokens: torch.Tensor, reveal_step: torch.Tensor) -> torch.Tensor:
    r"""Per sequence: :math:`\sum_t\sum_{i\in B_t} KL(\text{oracle}_i \Vert \text{model}_i)` at the context
    :math:`x_{B_{<t}}` (``(B,)``; average over x ~ q for the learning term)."""

    V = oracle.vocab_size
    total = torch.zeros(tokens.shape[0], dtype=torch.float64, device=tokens.device)
    for k in torch.unique(reveal_step).tolist():
        ctx = torch.where(reveal_step < k, tokens, torch.full_like(tokens, V))
        kl = position_kl(oracle(ctx).log_probs, model(ctx).log_probs.to(tokens.device))
        total += torch.where(reveal_step == k, kl, torch.zeros_like(kl)).sum(1)
    return total


def learning_error_curve_by_enumeration(language, length: int, oracle, model) -> np.ndarray:
    r""":math:`\ell(k) = E_{S,\,|S|=k}\,\frac{1}{L-k}\sum_{i\notin S} E_{x\sim q} KL(q(X_i\mid x_S)\Vert r_i(\cdot\mid x_S))`,
    k = 0..L-1, exactly (all subsets, all support sequences)."""

    seqs, lq = support_sequences(language, length)
    q = lq.exp()
    V = language.vocab_size
    out = []
    for k in range(length):
        vals = []
        for S in itertools.combinations(range(length), k):
            rev = torch.zeros(length, dtype=torch.bool)
            rev[list(S)] = True
            ctx = torch.where(rev, seqs, torch.full_like(seqs, V))
            kl = position_kl(oracle(ctx).log_probs, model(ctx).log_probs)
            vals.append(float((q * torch.where(rev, torch.zeros_like(kl), kl).sum(1)).sum()) / (length - k))
        out.append(float(np.mean(vals)))
    return np.array(out)


# ---------------------------------------------------------------------------------------------------
# expected KL for random orders (profile formulas)


def check_counts(counts: Sequence[int], length: int) -> np.ndarray:
    c = np.asarray(list(counts), dtype=np.int64)
    if c.ndim != 1 or c.size == 0 or np.any(c < 0) or int(c.sum()) != length:
        raise InvalidArgumentError(
            f"counts must be non-negative integers summing to L={length}, got {list(counts)}"
        )
    return c


def expected_kl_fixed_counts(profile: EntropyProfile, counts: Sequence[int]) -> float:
    """Exact :math:`E_M KL(q \\Vert p_M)` of the fixed-count random-order oracle sampler (area formula)."""
    c = check_counts(counts, profile.length)
    k_prev = np.concatenate([[0], np.cumsum(c)[:-1]])
    big = c >= 2
    if not np.any(big):
        return 0.0
    kp, kn, s = k_prev[big], k_prev[big] + c[big], c[big]
    G = profile.cumulative_dependence(np.concatenate([kp, kn]))
    D = profile.dependence(kp)
    terms = G[len(kp) :] - G[: len(kp)] - s * D
    return float(terms.sum())


def expected_kl_bernoulli(
    profile: EntropyProfile, weights: Sequence[float], dependence_curve: np.ndarray | None = None
) -> float:
    """Exact :math:`E\\,KL(q \\Vert p_M)` for i.i.d. step assignment with step probabilities ``weights``.

    ``dependence_curve`` (D(0..L-1)) may be passed to reuse it across many schedules.
    """
    w = np.asarray(list(weights), np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or abs(w.sum() - 1) > 1e-9:
        raise InvalidArgumentError("weights must be non-negative and sum to 1")
    L = profile.length
    D = profile.dependence_curve() if dependence_curve is None else np.asarray(dependence_curve)
    if D.shape != (L,):
        raise InvalidArgumentError("dependence_curve must have length L")
    W_prev = np.clip(np.concatenate([[0.0], np.cumsum(w)[:-1]]), 0.0, 1.0)
    acc = 0.0
    chunk = max(1, 2**22 // L)
    for a in range(0, w.size, chunk):
        pmf = binomial_pmf_matrix(L - 1, W_prev[a : a + chunk])
        acc += float(w[a : a + chunk] @ (pmf @ D))
    return profile.total_correlation - L * acc


def binomial_pmf_matrix(n: int, p: np.ndarray) -> np.ndarray:
    """``(len(p), n+1)`` Binomial(n, p_i) probabilities of 0..n (log space, exact endpoints p = 0, 1)."""

    p = np.asarray(p, np.float64)
    j = np.arange(n + 1, dtype=np.float64)
    logc = gammaln(n + 1) - gammaln(j + 1) - gammaln(n - j + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp, lq = np.log(p)[:, None], np.log1p(-p)[:, None]
        t1 = np.where(j[None, :] > 0, j[None, :] * lp, 0.0)
        t2 = np.where(j[None, :] < n, (n - j[None, :]) * lq, 0.0)
    return np.exp(logc[None, :] + t1 + t2)


def sampler_counts(sampler, length: int) -> list[int]:
    """Per-step counts of a single-block, random-order, temperature-1 ``FixedCountSampler``."""

    if not isinstance(sampler, FixedCountSampler):
        raise TypeError("expected a FixedCountSampler")
    if sampler.score != "random" or sampler.temperature != 1.0 or len(sampler.blocks(length)) != 1:
        raise InvalidArgumentError(
            "the area formula needs score='random', temperature 1 and a single block "
            f"(got score={sampler.score!r}, temperature={sampler.temperature}, "
            f"block_length={sampler.block_length})"
        )
    return [c for _, _, c in sampler.plan(length)]


def sampler_weights(sampler) -> np.ndarray:
    """Step probabilities ``w_k = schedule.step_weights(grid)`` of an exact ``AncestralSampler``."""

    if not isinstance(sampler, AncestralSampler):
        raise TypeError("expected an AncestralSampler")
    if sampler.t_min != 0.0 or sampler.temperature != 1.0 or sampler.categorical_precision != "float64":
        raise InvalidArgumentError(
            "the Bernoulli formula needs t_min=0 (no argmax fill), temperature 1 and float64 sampling"
        )
    w = sampler.schedule.step_weights(sampler.grid).cpu().numpy()
    return w / w.sum()


def expected_kl_for_sampler(profile: EntropyProfile, sampler, dependence_curve=None) -> float:
    """Dispatch: fixed-count random order -> area formula; ancestral -> Bernoulli formula."""

    if isinstance(sampler, AncestralSampler):
        return expected_kl_bernoulli(profile, sampler_weights(sampler), dependence_curve)
    return expected_kl_fixed_counts(profile, sampler_counts(sampler, profile.length))


# ---------------------------------------------------------------------------------------------------
# Monte Carlo (paired differences)


@dataclass
class ExcessCrossEntropyEstimate:
    """Monte Carlo :math:`E_{x\\sim q, M}[\\log q(x) - \\log p_M(x)]` (nats per *sequence*), split exactly into
    factorization (oracle) and learning (oracle vs model) parts, each a paired per-sample mean."""

    length: int
    num_samples: int
    total: object  # MeanEstimate: E[log q - log p^model_M]
    factorization: object  # MeanEstimate: E[log q - log p^oracle_M]
    learning: object | None  # MeanEstimate: E[log p^oracle_M - log p^model_M] (None for the oracle)
    infinite_fraction: float  # fraction of (x, M) with p^model_M(x) = 0

    def to_dict(self) -> dict:
        out = asdict(self)
        for k in ("total", "factorization", "learning"):
            v = getattr(self, k)
            out[k] = v.to_dict() if v is not None else None
        return out


def monte_carlo_expected_kl(
    language,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    model=None,
    oracle=None,
    batch_size: int = 256,
    progress: bool = False,
) -> ExcessCrossEntropyEstimate:
    r"""Estimate :math:`E_M KL(q \Vert p_M)` by paired differences with x ~ q and M ~ the sampler's order law.

    ``sampler`` must provide ``reveal_schedule`` (random-order samplers). Per pair (x, M):
    :math:`\log q(x)` exactly and :math:`\log p_M(x)` by teacher forcing (one call per distinct step), so
    the only randomness is (x, M). With ``model`` (e.g. a :class:`~sims.denoisers.perturbed.PerturbedDenoiser`)
    the total, factorization and learning parts share the same (x, M).
    """

    oracle = oracle or OracleDenoiser(language)
    tot, fac, lea = [], [], []
    remaining = num_samples
    it = None
    if progress:
        it = tqdm(total=num_samples, desc="mc kl", leave=False)
    while remaining > 0:
        b = min(batch_size, remaining)
        x = language.sample(b, length, generator)
        steps = sampler.reveal_schedule(b, length, generator).to(x.device)
        lq = language.log_prob(x)
        lo = teacher_forced_log_likelihood(oracle, x, steps)
        fac.append(lq - lo)
        if model is not None:
            lm = teacher_forced_log_likelihood(model, x, steps)
            lea.append(lo - lm)
            tot.append(lq - lm)
        remaining -= b
        if it is not None:
            it.update(b)
    if it is not None:
        it.close()
    fac = torch.cat(fac)
    if model is None:
        est = mean_estimate(fac)
        return ExcessCrossEntropyEstimate(length, num_samples, est, est, None, 0.0)
    tot, lea = torch.cat(tot), torch.cat(lea)
    inf_frac = float((~torch.isfinite(tot)).double().mean())
    return ExcessCrossEntropyEstimate(
        length, num_samples, mean_estimate(tot), mean_estimate(fac), mean_estimate(lea), inf_frac
    )


class _ReplayDenoiser(Denoiser):
    """Returns a stored oracle output for the contexts it was computed on (lets several perturbed models
    share one oracle call; the perturbation itself is done by the real wrapper class). A ``Denoiser``, so
    calling it goes through the output check like any other."""

    time_conditioned = False

    def __init__(self, output):
        self.output = output
        self.vocab_size = output.log_probs.shape[-1]

    def predict(self, tokens, t=None):
        return self.output


def monte_carlo_learning_sweep(
    language,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    wrappers: dict,
    oracle=None,
    batch_size: int = 256,
) -> dict:
    r"""Like :func:`monte_carlo_expected_kl` for several models at once, all of the form ``wrap(oracle)``
    (e.g. ``lambda d: PerturbedDenoiser(d, temperature=1.2)``) and sharing the same (x, M) and one oracle
    call per distinct step. Returns ``{name: ExcessCrossEntropyEstimate}`` (plus ``"oracle"``)."""

    oracle = oracle or OracleDenoiser(language)
    V = language.vocab_size
    names = list(wrappers)
    fac, lea = [], {n: [] for n in names}
    remaining = num_samples
    while remaining > 0:
        b = min(batch_size, remaining)
        x = language.sample(b, length, generator)
        steps = sampler.reveal_schedule(b, length, generator).to(x.device)
        lq = language.log_prob(x)
        lo = torch.zeros(b, dtype=torch.float64, device=x.device)
        lm = {n: torch.zeros_like(lo) for n in names}
        for k in torch.unique(steps).tolist():
            ctx = torch.where(steps < k, x, torch.full_like(x, V))
            out = oracle(ctx)
            sel = steps == k
            tok = x.unsqueeze(-1)
            lo += torch.where(sel, out.log_probs.gather(-1, tok).squeeze(-1), 0.0).sum(1)
            for n in names:
                mp = wrappers[n](_ReplayDenoiser(out))(ctx).log_probs
                lm[n] += torch.where(sel, mp.gather(-1, tok).squeeze(-1), 0.0).sum(1)
        fac.append(lq - lo)
        for n in names:
            lea[n].append((lq - lo, lo - lm[n], lq - lm[n]))
        remaining -= b
    fac_t = torch.cat(fac)
    out = {
        "oracle": ExcessCrossEntropyEstimate(
            length, num_samples, mean_estimate(fac_t), mean_estimate(fac_t), None, 0.0
        )
    }
    for n in names:
        f = torch.cat([a for a, _, _ in lea[n]])
        le = torch.cat([c for _, c, _ in lea[n]])
        tot = torch.cat([c for _, _, c in lea[n]])
        out[n] = ExcessCrossEntropyEstimate(
            length,
            num_samples,
            mean_estimate(tot),
            mean_estimate(f),
            mean_estimate(le),
            float((~torch.isfinite(tot)).double().mean()),
        )
    return out
