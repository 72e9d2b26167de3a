r"""MDM training-loss estimators: the laws of the rate variable and the exact variance of each estimator.

Source: Jia, Zhou, Liu, Jiang, Jiang, *Bringing Stability to Diffusion: Decomposing and Reducing
Variance of Training Masked Diffusion Models*, arXiv 2511.18159 (ICLR 2026); code
github.com/Qwen-Applications/StableDLLM. Everything here is our own restatement and is computed
exactly (enumeration of sequences and masks, closed forms, Gauss-Legendre quadrature in the rate),
never copied from the paper. What we could and could not confirm in the paper is listed in
``docs/variance_and_training.md``.

This is the base layer the training loop (:mod:`sims.models`) uses. The paper-level results built on it
(closed forms, the reconstructions of the released StableDLLM code, stratified rates, the Monte Carlo
reference) are in :mod:`theory.variance`.

Modules, in dependency order:

* :mod:`sims.estimators.loss_table`: masks as integers and the raw masked-loss table :math:`c(x, m)`;
* :mod:`sims.estimators.moments`: per-mask-size moments :math:`\mu_k, s_k` and MIRROR cross sums;
* :mod:`sims.estimators.rates`: mask probability :math:`\pi(u)`, mask schemes, exact moments given u;
* :mod:`sims.estimators.quadrature`: composite Gauss-Legendre rule in the rate;
* :mod:`sims.estimators.time_samplers`: laws of the rate u (uniform, histogram, density);
* :mod:`sims.estimators.decomposition`: exact A/B/C split of the t-form and exact-k estimators;
* :mod:`sims.estimators.sample_variance`: exact law (mean, standard error) of an n-example Monte Carlo
  measurement of that variance;
* :mod:`sims.estimators.proposal`: P-POTS curves and optimal rate law; the paper's pre-estimation grid;
* :mod:`sims.estimators.mirror`: the MIRROR covariance sign map;
* :mod:`sims.estimators.position_table`: per-position masked losses and eligible-set restriction.
"""

from sims.estimators.decomposition import (
    VarianceDecomposition,
    assemble_decomposition,
    decompose_k_estimator,
    decompose_time_estimator,
)
from sims.estimators.loss_table import (
    MAX_TABLE_ENTRIES,
    MaskLossTable,
    mask_index,
    mask_loss_table,
    mask_matrix,
    masked_losses,
)
from sims.estimators.mirror import MirrorCovarianceMap, mirror_covariance_map
from sims.estimators.moments import MAX_MIRROR_LENGTH, MaskSizeMoments, mask_size_moments, mirror_joint_states
from sims.estimators.position_table import PositionLossTable, position_loss_table
from sims.estimators.proposal import optimal_time_sampler, paper_grid, proposal_curve
from sims.estimators.quadrature import quadrature_integral, quadrature_nodes
from sims.estimators.rates import (
    MASK_SCHEMES,
    ROWS_PER_EXAMPLE,
    MaskScheme,
    RateMoments,
    check_eps,
    conditional_variance,
    mask_probability,
    rate_moments,
)
from sims.estimators.sample_variance import SampleVarianceLaw, sample_variance_law
from sims.estimators.time_samplers import DensityTime, HistogramTime, TimeSampler, UniformTime

__all__ = [
    "MASK_SCHEMES",
    "MAX_MIRROR_LENGTH",
    "MAX_TABLE_ENTRIES",
    "ROWS_PER_EXAMPLE",
    "DensityTime",
    "HistogramTime",
    "MaskLossTable",
    "MaskScheme",
    "MaskSizeMoments",
    "MirrorCovarianceMap",
    "PositionLossTable",
    "RateMoments",
    "SampleVarianceLaw",
    "TimeSampler",
    "UniformTime",
    "VarianceDecomposition",
    "assemble_decomposition",
    "check_eps",
    "conditional_variance",
    "decompose_k_estimator",
    "decompose_time_estimator",
    "mask_index",
    "mask_loss_table",
    "mask_matrix",
    "mask_probability",
    "mask_size_moments",
    "masked_losses",
    "mirror_covariance_map",
    "mirror_joint_states",
    "optimal_time_sampler",
    "paper_grid",
    "position_loss_table",
    "proposal_curve",
    "quadrature_integral",
    "quadrature_nodes",
    "rate_moments",
    "sample_variance_law",
]
