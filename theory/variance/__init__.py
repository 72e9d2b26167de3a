r"""Paper-level results on the variance of masked-diffusion training-loss estimators, P-POTS and MIRROR.

Source: Jia, Zhou, Liu, Jiang, Jiang, *Bringing Stability to Diffusion: Decomposing and Reducing
Variance of Training Masked Diffusion Models*, arXiv 2511.18159 (ICLR 2026); code
github.com/Qwen-Applications/StableDLLM. Everything here is our own restatement and is computed
exactly (enumeration of sequences and masks, closed forms, Gauss-Legendre quadrature in the rate),
never copied from the paper. What we could and could not confirm in the paper is listed in
``docs/variance_and_training.md``.

The estimators, the laws of the rate, the exact A/B/C decomposition, the P-POTS optimum and the MIRROR
moments are the base layer :mod:`sims.estimators` (the training loop uses them); import those names from
there. This package builds on it:

* :mod:`theory.variance.closed_forms`: incomplete-Beta closed form of the uniform-rate decomposition,
  the log(1/eps) growth of A, the P-POTS minimum, the optimal exact-k proposal;
* :mod:`theory.variance.released_code`: the released StableDLLM code emulated exactly (grid sampler and
  its bias, EPR family fit, Monte Carlo pre-estimate);
* :mod:`theory.variance.stratified`: exact variance of stratified rates (independent and systematic);
* :mod:`theory.variance.monte_carlo`: nested Monte Carlo draws and z-score checks against the exact values;
* :mod:`theory.variance.gradient` and :mod:`theory.variance.parametric`: the exact A/B/C of the gradient
  (trace of covariance) for a log-linear parametric denoiser;
* :mod:`theory.variance.isad`, :mod:`theory.variance.syrm`, :mod:`theory.variance.control_variate`: ISAD,
  SyRM's theorems and the released bin-wise EMA control variate, exactly;
* :mod:`theory.variance.study`, :mod:`theory.variance.estimator_study`: the studies behind the figures.
"""

from theory.variance.closed_forms import (
    a_term_log_slope,
    optimal_k_proposal,
    optimal_time_variance,
    uniform_time_closed_form,
)
from theory.variance.monte_carlo import (
    MCCheck,
    monte_carlo_checks,
    sample_denoiser_losses,
    sample_nested_losses,
    sample_table_losses,
)
from theory.variance.released_code import EPRFit, ReleasedGridTime, fit_epr, pre_estimate_curve
from theory.variance.stratified import StratifiedVariance, stratified_time_variance

__all__ = [
    "EPRFit",
    "MCCheck",
    "ReleasedGridTime",
    "StratifiedVariance",
    "a_term_log_slope",
    "fit_epr",
    "monte_carlo_checks",
    "optimal_k_proposal",
    "optimal_time_variance",
    "pre_estimate_curve",
    "sample_denoiser_losses",
    "sample_nested_losses",
    "sample_table_losses",
    "stratified_time_variance",
    "uniform_time_closed_form",
]
