"""One Monte Carlo cell of a sampler study: samples, quality with intervals, model calls, conventions.

The seed of a cell is derived from its key (:func:`sims.sweep.cell_seed`), so results do not depend on
the order in which cells run and a resumed study reproduces the same numbers.

* :func:`monte_carlo_cell`: a sampler over a denoiser; optionally also the data-direction bound
  :math:`E_{x \\sim q} E_M[-\\log p_M(x)]/L` by teacher forcing along the sampler's own orders (only for
  samplers with a value-independent schedule, :attr:`Capabilities.value_independent_schedule`);
* :func:`autoregressive_cell`: the same quality metrics for an autoregressive model, with its exact
  log-likelihood of data samples.
"""

from __future__ import annotations

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser
from sims.languages.base import Language
from sims.metrics import evaluate_samples, mean_estimate, order_conditional_data_nll
from sims.sampling.base import Sampler
from sims.sweep import cell_seed


def monte_carlo_cell(
    sampler: Sampler,
    denoiser: Denoiser,
    language: Language,
    length: int,
    num_samples: int,
    seed_key: str,
    batch_size: int | None = None,
    optimal_nll_per_token: float | None = None,
    data_nll: bool = False,
) -> dict:
    """Sample ``num_samples`` sequences and evaluate them under ``language``.

    Returns ``{"quality": SampleQuality dict (SER with Wilson interval, generative NLL of all and of the
    in-support samples with t-intervals, token error rate for n-grams), "nfe_mean", "nfe_std",
    "conventions": the sampler's conventions dict}``; with ``data_nll`` and a sampler whose schedule is
    value-independent, also ``"data_nll"``: the teacher-forced bound (t-interval), drawn from the same
    generator after the samples.
    """
    g = make_generator(cell_seed(seed_key, 0))
    res = sampler.sample(denoiser, num_samples, length, g, batch_size=batch_size or num_samples)
    quality = evaluate_samples(language, res.tokens, nfe=res.nfe, optimal_nll_per_token=optimal_nll_per_token)
    out = {
        "quality": quality.to_dict(),
        "nfe_mean": res.mean_nfe,
        "nfe_std": float(res.nfe.double().std()),
        "conventions": res.conventions,
    }
    if data_nll and sampler.capabilities.value_independent_schedule:
        out["data_nll"] = order_conditional_data_nll(
            language, denoiser, sampler, length, num_samples, g
        ).to_dict()
    return out


def autoregressive_cell(model, language: Language, length: int, num_samples: int, seed_key: str) -> dict:
    """Samples of an autoregressive ``model`` (``sample``, ``log_prob``) evaluated under ``language``, and
    its exact NLL per token of ``num_samples`` data sequences (``"data_nll"``, t-interval)."""
    g = make_generator(cell_seed(seed_key, 0))
    x = model.sample(num_samples, length, g)
    quality = evaluate_samples(language, x, optimal_nll_per_token=language.entropy_per_token(length))
    data = mean_estimate(-model.log_prob(language.sample(num_samples, length, g)) / length)
    return {"quality": quality.to_dict(), "data_nll": data.to_dict()}
