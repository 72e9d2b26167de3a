"""The energy paper's Fig. 4 toy (theory/energy/toy.py) against independent brute force.

References used:
* sims.exact.exact_sampler_law (plain propagation of the samplers' one-step kernels) driven by the
  brute-force denoiser (summation over all 32 sentences), for the fixed-count and ancestral samplers;
* explicit enumeration of the (d+1)^n partial states for the support constant C_k.
No expected number is typed in: every value is compared with a second, independent computation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sims.exact import BruteForceDenoiser, exact_sampler_law
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from theory.energy.toy import (
    NAMED,
    PAPER_GRID,
    best_cells,
    fig4_targets,
    law_metrics,
    schedule_spec,
    support_constants,
    toy_grid,
    toy_laws,
)

N, STEPS = 5, 3
SPECS = [schedule_spec(*NAMED["Beta(0.9,0.3)"]), schedule_spec(0.2, 0.7)]


@pytest.mark.parametrize("target", ["extremes", "two_or_three_a"])
def test_toy_laws_equal_the_samplers_exact_laws(target):
    lq = fig4_targets(N)[target]
    den = BruteForceDenoiser(lq, 2, N, on_impossible="uniform")
    ours = toy_laws(lq, N, STEPS, SPECS)
    for spec in SPECS:
        ref_fc = exact_sampler_law(
            FixedCountSampler(STEPS, count_rule="schedule", schedule=spec), den, N
        ).numpy()
        ref_an = exact_sampler_law(AncestralSampler(STEPS, schedule=spec), den, N).numpy()
        np.testing.assert_allclose(ours["fixed_count"][spec], ref_fc, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(ours["ancestral"][spec], ref_an, rtol=1e-10, atol=1e-15)
        for law in (ref_fc, ref_an):
            m = law_metrics(lq, law)
            assert m["p_legal"] == pytest.approx(float(law[np.isfinite(lq.numpy())].sum()), rel=1e-12)


def test_support_constant_by_enumerating_partial_states():
    """C_k = sum of m(z) over the partial states consistent with some sentence of the support."""
    consts = support_constants(N)
    for name, lq in fig4_targets(N).items():
        support = [s for s, v in zip(itertools.product((0, 1), repeat=N), lq.numpy()) if np.isfinite(v)]
        ck = 0
        for z in itertools.product((0, 1, 2), repeat=N):  # 2 = mask
            if any(all(zi == 2 or zi == si for zi, si in zip(z, s)) for s in support):
                ck += sum(zi == 2 for zi in z)
        assert consts[name]["C_k_support"] == ck
        assert consts[name]["C_k_full_support"] == N * 3 ** (N - 1)
        assert ck < consts[name]["C_k_full_support"]


def test_the_two_targets_prefer_disjoint_grid_cells():
    """Fig. 4's message on the paper's grid: the best schedules of the two targets do not overlap, for both
    samplers and both metrics (what the ledger records)."""
    res = toy_grid(N, STEPS, PAPER_GRID)
    for sampler in ("fixed_count", "ancestral"):
        for metric in ("p_legal", "kl_data_to_sampler"):
            a = best_cells(res["targets"]["extremes"][sampler], metric)
            b = best_cells(res["targets"]["two_or_three_a"][sampler], metric)
            assert a and b and not (a & b)
