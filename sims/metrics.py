r"""Metrics of sampled sequences against the true language, with Monte Carlo uncertainty.

Two perplexity directions, always labelled (they answer different questions):

* **Generative perplexity** (samples under the true language):
  :math:`\exp\big(E_{x \sim p}[-\log q(x)]/L\big) = \exp\big((H(p) + KL(p \Vert q))/L\big)`. Infinite as
  soon as one sample lies outside the support of q, so it is reported together with the same quantity
  restricted to in-support samples (clearly named ``..._in_support``).
* **Data perplexity under the sampler**: :math:`\exp\big(E_{x \sim q}[-\log p(x)]/L\big) =
  \exp\big((H(q) + KL(q \Vert p))/L\big)`, the direction the theory bounds. The sampler's law p is a
  mixture over unmasking orders, so :math:`\log p(x)` is only available exactly by enumeration
  (:func:`exact_law_metrics`). For value-independent orders, :func:`order_conditional_data_nll`
  estimates :math:`E_{x\sim q} E_M[-\log p_M(x)] = H(q) + E_M KL(q \Vert p_M) \ge H(q) + KL(q \Vert \bar p)`
  by teacher forcing (exact per order, Monte Carlo over x and M).

Sequence error rate (SER): fraction of samples with :math:`q(x) = 0`, with a Wilson interval.
Token error rate (n-grams): fraction of positions that break the support locally
(:meth:`~sims.languages.ngram.NGramLanguage.token_violations`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from sims.denoisers.base import Denoiser
from sims.exact import kl_divergence, total_variation
from sims.languages.base import Language
from sims.languages.ngram import NGramLanguage
from sims.sampling.base import Sampler
from sims.sampling.scheduled import AUTO_MIN_LENGTH, check_oracle_path
from sims.stats import MeanEstimate, ProportionEstimate, mean_estimate, proportion_estimate
from sims.validation import (
    InvalidArgumentError,
    as_float64,
    check_generator,
    check_int,
    check_prob_rows,
    check_real,
    check_tokens,
    check_type,
)

_LANGUAGE = "a sims Language (sims.languages.base.Language)"
_DENOISER = "a sims Denoiser (subclass sims.denoisers.base.Denoiser)"


@dataclass
class SampleQuality:
    """Quality of B samples of length L under the true language (see module docstring)."""

    length: int
    num_samples: int
    sequence_error: ProportionEstimate
    gen_nll_per_token: MeanEstimate
    gen_perplexity: float
    gen_perplexity_ci: tuple[float, float]
    gen_nll_per_token_in_support: MeanEstimate | None
    gen_perplexity_in_support: float
    optimal_nll_per_token: float | None
    token_error_rate: MeanEstimate | None
    mean_nfe: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_samples(
    language: Language,
    tokens: torch.Tensor,
    *,
    nfe: torch.Tensor | None = None,
    level: float = 0.95,
    optimal_nll_per_token: float | None = None,
) -> SampleQuality:
    """Generative NLL/perplexity, SER and (n-grams) token error rate of ``tokens`` under ``language``."""
    check_type(language, Language, "language", _LANGUAGE)
    tokens = check_tokens(tokens, language.vocab_size, allow_mask=False)
    B, L = tokens.shape
    if nfe is not None:
        nfe = check_type(nfe, torch.Tensor, "nfe", "a tensor of call counts per sample")
        if nfe.numel() != B or not bool(torch.isfinite(nfe.double()).all()):
            raise InvalidArgumentError(f"nfe must hold {B} finite call counts, got shape {tuple(nfe.shape)}")
    if optimal_nll_per_token is not None:
        optimal_nll_per_token = check_real(optimal_nll_per_token, "optimal_nll_per_token", minimum=0.0)
    lp = language.log_prob(tokens)
    nll = -lp / L
    bad = ~torch.isfinite(lp)
    ser = proportion_estimate(int(bad.sum()), B, level)
    gen = mean_estimate(nll, level)
    ok = nll[~bad]
    gen_ok = mean_estimate(ok, level) if ok.numel() else None
    ter = None
    if isinstance(language, NGramLanguage):
        ter = mean_estimate(language.token_violations(tokens).double().mean(1), level)
    return SampleQuality(
        length=L,
        num_samples=B,
        sequence_error=ser,
        gen_nll_per_token=gen,
        gen_perplexity=math.exp(gen.mean) if math.isfinite(gen.mean) else math.inf,
        gen_perplexity_ci=(_safe_exp(gen.ci_low), _safe_exp(gen.ci_high)),
        gen_nll_per_token_in_support=gen_ok,
        gen_perplexity_in_support=math.exp(gen_ok.mean) if gen_ok else math.nan,
        optimal_nll_per_token=optimal_nll_per_token,
        token_error_rate=ter,
        mean_nfe=None if nfe is None else float(nfe.double().mean()),
    )


def _safe_exp(v: float) -> float:
    return math.inf if v >= 709 else math.exp(v)


def teacher_forced_log_likelihood(
    denoiser: Denoiser, tokens: torch.Tensor, reveal_step: torch.Tensor, oracle_path: str = "auto"
) -> torch.Tensor:
    r"""``log p_M(x) = sum_k sum_{i in B_k} log p(x_i | x_{B_<k})`` for given data and step assignments.

    ``reveal_step`` ``(B, L)`` gives the step of each position; positions revealed at the same step are
    predicted from the same context. ``oracle_path``: ``"full"`` makes one denoiser call per distinct step
    (all L marginals each); ``"incremental"`` asks the denoiser's scheduled session
    (:mod:`sims.inference.incremental`) for the marginals of the predicted positions only; ``"auto"``
    (default) takes it when offered and L >= :data:`sims.sampling.scheduled.AUTO_MIN_LENGTH`. Both are
    exact; they agree to float64 rounding.
    """
    L = tokens.shape[1]
    if _teacher_forcing_session(denoiser, L, oracle_path):
        return _teacher_forced_incremental(denoiser, tokens, reveal_step)
    V = denoiser.vocab_size
    total = torch.zeros(tokens.shape[0], dtype=torch.float64, device=tokens.device)
    for k in torch.unique(reveal_step).tolist():
        ctx = torch.where(reveal_step < k, tokens, torch.full_like(tokens, V))
        lp = denoiser(ctx).log_probs.to(tokens.device)
        tok_lp = lp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        total += torch.where(reveal_step == k, tok_lp, torch.zeros_like(tok_lp)).sum(1)
    return total


def _teacher_forcing_session(denoiser: Denoiser, length: int, oracle_path: str) -> bool:
    """Whether :func:`teacher_forced_log_likelihood` asks the denoiser's scheduled session (raises when
    ``oracle_path="incremental"`` is not offered)."""
    check_oracle_path(oracle_path)
    offered = oracle_path != "full" and denoiser.offers_scheduled_session(length)
    if oracle_path == "incremental" and not offered:
        raise InvalidArgumentError(
            f"oracle_path='incremental': {type(denoiser).__name__} offers no scheduled session"
        )
    return offered and (oracle_path == "incremental" or length >= AUTO_MIN_LENGTH)


def teacher_forcing_path(denoiser: Denoiser, length: int, oracle_path: str = "auto") -> str:
    """The path :func:`teacher_forced_log_likelihood` takes at this length: ``"full"`` or
    ``"incremental:<engine>"`` (the engine the denoiser's session picks, as the samplers record it)."""
    if not _teacher_forcing_session(denoiser, length, oracle_path):
        return "full"
    probe = torch.zeros(1, length, dtype=torch.long)  # the engine depends on the chain and L only
    return f"incremental:{denoiser.scheduled_session(probe, 1).engine}"


def _teacher_forced_incremental(denoiser: Denoiser, tokens: torch.Tensor, reveal_step: torch.Tensor):
    steps = torch.unique(reveal_step, return_inverse=True)[1]  # dense step ids, same order
    session = denoiser.scheduled_session(steps, int(steps.max()) + 1)
    tokens = tokens.to(session.device)
    total = torch.zeros(tokens.shape[0], dtype=torch.float64, device=tokens.device)
    for k in range(int(steps.max()) + 1):
        q = session.query(k)
        values = tokens[q.rows, q.positions]
        total.index_add_(0, q.rows, q.log_probs.gather(-1, values.unsqueeze(-1)).squeeze(-1))
        session.reveal(values)
    return total


def _order_conditional_values(
    language: Language,
    denoiser: Denoiser,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int,
    paired: bool,
) -> torch.Tensor:
    """Per-sample ``-log p_M(x)/L`` (or ``(log q(x) - log p_M(x))/L`` if ``paired``) for x ~ q and random M."""
    check_type(language, Language, "language", _LANGUAGE)
    check_type(denoiser, Denoiser, "denoiser", _DENOISER)
    check_type(sampler, Sampler, "sampler", "a sims Sampler")
    length = language.check_length(check_int(length, "length", minimum=1))
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_generator(generator)
    if not sampler.capabilities.value_independent_schedule:
        raise InvalidArgumentError(
            f"sampler {sampler.name!r}: teacher forcing needs a value-independent reveal schedule "
            "(capabilities.value_independent_schedule is False)"
        )
    vals = []
    remaining = num_samples
    while remaining > 0:
        b = min(batch_size, remaining)
        x = language.sample(b, length, generator)
        steps = sampler.reveal_schedule(b, length, generator).to(x.device)
        value = -teacher_forced_log_likelihood(denoiser, x, steps)
        if paired:
            value = value + language.log_prob(x)
        vals.append(value / length)
        remaining -= b
    return torch.cat(vals)


def order_conditional_data_nll(
    language: Language,
    denoiser: Denoiser,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int = 256,
    level: float = 0.95,
) -> MeanEstimate:
    r"""Monte Carlo :math:`E_{x \sim q} E_M[-\log p_M(x)]/L` (nats/token) for a value-independent order rule.

    ``sampler`` must declare ``capabilities.value_independent_schedule`` (random-order samplers do); its
    ``reveal_schedule(batch, length, generator)`` draws M.
    Subtract :math:`H(q)/L` to get the excess :math:`E_M KL(q \Vert p_M)/L`.
    """
    return mean_estimate(
        _order_conditional_values(
            language, denoiser, sampler, length, num_samples, generator, batch_size, paired=False
        ),
        level,
    )


def order_conditional_excess_nll(
    language: Language,
    denoiser: Denoiser,
    sampler,
    length: int,
    num_samples: int,
    generator: torch.Generator,
    batch_size: int = 256,
    level: float = 0.95,
) -> MeanEstimate:
    r"""Monte Carlo :math:`E_{x\sim q} E_M[\log q(x) - \log p_M(x)]/L = E_M KL(q \Vert p_M)/L` (nats/token).

    Paired differences on the same x (exact :math:`\log q` and exact teacher-forced :math:`\log p_M`), so
    the variance is far below that of two separate estimates; needs no entropy of q (works for HMMs). For
    the oracle denoiser this is the factorisation error the Feng / Li & Cai theory bounds; it
    upper-bounds the excess of the mixture law, :math:`KL(q \Vert \bar p)/L`.
    """
    return mean_estimate(
        _order_conditional_values(
            language, denoiser, sampler, length, num_samples, generator, batch_size, paired=True
        ),
        level,
    )


@dataclass
class ExactLawMetrics:
    """Exact comparison of a sampler law p with the language q over all V^L sequences (nats)."""

    kl_data_to_sampler: float  # KL(q || p): the direction the theory bounds
    kl_sampler_to_data: float  # KL(p || q): the generative-perplexity direction
    total_variation: float
    sequence_error: float  # p(q(x) = 0)
    data_nll_per_token: float  # E_q[-log p]/L
    gen_nll_per_token: float  # E_p[-log q]/L
    entropy_per_token: float  # H(q)/L

    def to_dict(self) -> dict:
        return asdict(self)


def exact_law_metrics(log_q: torch.Tensor, law: torch.Tensor, length: int) -> ExactLawMetrics:
    """All metrics from the exact laws ``log_q`` (language) and ``law`` (sampler) over V^L sequences.

    Both must be laws of the same shape (``law``: finite, >= 0, summing to 1; ``log_q``: no NaN or +inf,
    logsumexp 0), within :data:`sims.validation.LAW_ROW_ATOL`; a NaN anywhere raises instead of giving
    NaN or finite-looking metrics. Valid inputs are used unchanged."""
    length = check_int(length, "length", minimum=1)
    log_q, p = as_float64(log_q, "log_q"), as_float64(law, "law")
    if log_q.ndim != 1 or log_q.shape != p.shape:
        raise InvalidArgumentError(
            f"log_q and law must be vectors over the same V**L sequences, got shapes {tuple(log_q.shape)} "
            f"and {tuple(p.shape)}"
        )
    check_prob_rows(p, "law")
    check_prob_rows(log_q, "log_q", log=True)
    q = torch.exp(log_q)

    def xent(a, log_b):  # E_a[-log b] with 0 log 0 = 0
        mask = a > 0
        return float(-(a[mask] * log_b[mask]).sum()) if bool(torch.isfinite(log_b[mask]).all()) else math.inf

    return ExactLawMetrics(
        kl_data_to_sampler=kl_divergence(q, p),
        kl_sampler_to_data=kl_divergence(p, q),
        total_variation=total_variation(p, q),
        sequence_error=float(p[q == 0].sum()),
        data_nll_per_token=xent(q, torch.log(p)) / length,
        gen_nll_per_token=xent(p, log_q) / length,
        entropy_per_token=xent(q, log_q) / length,
    )


def position_kl(log_p: torch.Tensor, log_r: torch.Tensor) -> torch.Tensor:
    r"""Per-position :math:`KL(p \Vert r)` along the last axis (e.g. oracle vs perturbed oracle)."""
    p = torch.exp(log_p)
    diff = torch.where(p > 0, log_p - log_r, torch.zeros_like(log_p))
    return (p * diff).sum(-1)
