"""Exact law of a Monte Carlo loss-variance measurement (sims/estimators/sample_variance.py): its first
two moments are the exact A + B + C decomposition, and its conditional power sums equal a brute-force
enumeration of the MIRROR / single / pair mask laws on a discretised uniform."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.estimators import (
    HistogramTime,
    decompose_time_estimator,
    mask_index,
    mask_loss_table,
    mask_size_moments,
    sample_variance_law,
)
from sims.estimators.sample_variance import conditional_sum_powers
from sims.models import ModelDenoiser, TransformerConfig, TransformerNet
from sims.registry import make_language

L = 3


@pytest.fixture(scope="module")
def table():
    lang = make_language("ngram2")
    net = TransformerNet(TransformerConfig(lang.vocab_size, L, 16, 1, 2, 32), make_generator(0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10.0)
    return mask_loss_table(lang, ModelDenoiser(net), L)


SAMPLERS = {
    "uniform": None,
    "histogram": HistogramTime([0.0, 0.1, 0.4, 1.0], [0.3, 0.3, 0.4]),
}


@pytest.mark.parametrize("masks", ["single", "mirror", "pair"])
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
@pytest.mark.parametrize("eps", [1e-3, 0.05])
def test_law_reproduces_the_exact_decomposition(table, masks, sampler, eps):
    """Mean and variance from the raw moments equal decompose_time_estimator's mean and A + B + C
    (same quadrature; float64 round-off only)."""
    smp = SAMPLERS[sampler]
    dec = decompose_time_estimator(mask_size_moments(table, mirror=masks == "mirror"), eps, smp, masks)
    law = sample_variance_law(table, eps, smp, masks, num_examples=128)
    assert law.mean == pytest.approx(dec.mean, rel=1e-10)
    assert law.variance == pytest.approx(dec.total, rel=1e-9)
    assert law.fourth_central >= law.variance**2 * (1 - 1e-9)  # kurtosis >= 1
    n = 128
    assert law.se**2 == pytest.approx(
        law.fourth_central / n - law.variance**2 * (n - 3) / (n * (n - 1)), rel=1e-12
    )


@pytest.mark.parametrize("cells, a", [(4, 1), (2, 1), (4, 3)])
@pytest.mark.parametrize("masks", ["single", "mirror", "pair"])
def test_conditional_power_sums_match_brute_force(table, cells, a, masks):
    """At pi = a / cells, {U < pi} and {U > 1 - pi} depend only on the cell of each uniform, so the
    joint law of the example's masks is exactly the uniform law on cells**L (cells**(2L) for two
    independent masks) cell vectors."""
    pi = a / cells
    loss = table.loss.double().numpy()
    got = conditional_sum_powers(loss, np.array([pi]), masks)
    mids = (np.arange(cells) + 0.5) / cells
    ref = np.zeros((loss.shape[0], 5))
    if masks == "pair":
        vecs = [(np.array(c[:L]), np.array(c[L:])) for c in itertools.product(mids, repeat=2 * L)]
        rows = [(torch.as_tensor(u1 < pi), torch.as_tensor(u2 < pi)) for u1, u2 in vecs]
    else:
        vecs = [np.array(c) for c in itertools.product(mids, repeat=L)]
        rows = [(torch.as_tensor(u < pi), torch.as_tensor(u > 1 - pi)) for u in vecs]
    for m1, m2 in rows:
        s = loss[:, int(mask_index(m1))] + (loss[:, int(mask_index(m2))] if masks != "single" else 0.0)
        ref += s[:, None] ** np.arange(5)[None, :]
    ref /= len(rows)
    for j in range(5):
        np.testing.assert_allclose(got[j][:, 0], ref[:, j], rtol=1e-12, atol=0)


def test_law_rejects_bad_arguments(table):
    with pytest.raises(ValueError, match="num_examples"):
        sample_variance_law(table, 1e-3, None, "single", num_examples=1)
    with pytest.raises(ValueError, match="masks"):
        sample_variance_law(table, 1e-3, None, "both", num_examples=8)
    with pytest.raises(ValueError, match="eps"):
        sample_variance_law(table, 0.0, None, "single", num_examples=8)


def test_floor_makes_the_measurement_heavy_tailed(table):
    """The fourth moment grows like 1/eps^2 while the variance grows like log(1/eps) (module docstring):
    halving eps nearly quadruples mu_4 once the floor dominates."""
    a, b = (sample_variance_law(table, e, None, "single", 128) for e in (2e-4, 1e-4))
    assert 3.5 < b.fourth_central / a.fourth_central < 4.2
    assert b.variance / a.variance < 1.2
    assert math.isfinite(b.se) and b.se > b.variance
