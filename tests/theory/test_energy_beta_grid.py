"""The Beta-CDF schedule search of theory.energy.beta_grid on a tiny language: exact cells against the samplers'
own exact laws, expected calls against enumeration, the summary, and the count rule's tie-break."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law
from sims.languages import random_ngram
from sims.metrics import exact_law_metrics
from sims.sampling.fixed_count import schedule_counts
from theory.elbo import exact_subset_log_conditionals
from theory.energy.beta_grid import (
    exact_grid_records,
    expected_calls,
    grid_sampler,
    grid_schedules,
    grid_summary,
    mc_grid_record,
)
from theory.orders import composition_laws

L, V = 4, 3


@pytest.fixture(scope="module")
def tiny():
    lang = random_ngram(2, V, concentration=0.5, support_size=2, stationary=True, seed=0)
    lq = exact_log_joint(lang, L)
    return lang, lq, composition_laws(exact_subset_log_conditionals(lq, V, L))


def test_grid_summary_on_a_tiny_language(tiny):
    lang, lq, laws = tiny
    scheds = grid_schedules([0.5, 1.0])
    exact = {}
    for smp in ("ancestral", "fixed_count_schedule"):
        for K in (2, 3):
            recs = exact_grid_records("tiny", lq, laws, scheds, smp, K, L)
            exact.update(recs)
            for name in ("linear", "beta(1,1)"):
                r = recs[f"tiny|{smp}|K={K}|{name}"]
                ref = exact_sampler_law(
                    grid_sampler(smp, K, scheds[name]), OracleDenoiser(lang, on_impossible="uniform"), L
                )
                want = exact_law_metrics(lq, ref, L).to_dict()
                assert r["metrics"]["kl_data_to_sampler"] == pytest.approx(
                    want["kl_data_to_sampler"], rel=1e-9, abs=1e-12
                )
    s = grid_summary(exact, {})
    cell = s["exact"]["tiny|ancestral|K=2"]
    assert cell["best_kl"] == min(
        r["metrics"]["kl_data_to_sampler"]
        for r in exact.values()
        if "a" in r and r["steps"] == 2 and r["sampler"] == "ancestral"
    )
    # Beta(1/2, 1/2) is linear and Beta(1, 1) is sin^2 (Prop. 3.7): identical cells
    assert cell["baselines"]["linear"]["kl"] == pytest.approx(
        exact["tiny|ancestral|K=2|beta(0.5,0.5)"]["metrics"]["kl_data_to_sampler"], rel=1e-12
    )
    assert cell["baselines"]["sin2"]["kl"] == pytest.approx(
        exact["tiny|ancestral|K=2|beta(1,1)"]["metrics"]["kl_data_to_sampler"], rel=1e-12
    )
    assert s["mc"] == {}


@pytest.mark.parametrize("spec", ["linear", "cosine", "beta:0.9,0.3"])
@pytest.mark.parametrize("K", [2, 3])
def test_expected_calls_count_non_empty_steps(spec, K):
    """Ancestral: E[#non-empty steps] over all K^L step assignments weighted by the step weights; fixed counts:
    the number of non-zero counts."""
    sampler = grid_sampler("ancestral", K, spec)
    w = sampler.schedule.step_weights(sampler.grid).cpu().numpy()
    w = w / w.sum()
    brute = sum(np.prod([w[k] for k in a]) * len(set(a)) for a in itertools.product(range(K), repeat=L))
    assert expected_calls("ancestral", K, spec, L) == pytest.approx(brute, rel=1e-12)
    assert expected_calls("fixed_count_schedule", K, spec, L) == sum(
        c > 0 for c in schedule_counts(L, K, spec)
    )


def test_count_rule_gives_equal_schedules_equal_plans():
    """At an exact half (7 alpha(1/2) = 3.5) sin^2, whose alpha(1/2) is 0.4999999999999999 in float64, and
    linear get the same plan (rounded half up with a tolerance)."""
    assert schedule_counts(7, 2, "sin2") == schedule_counts(7, 2, "linear") == [4, 3]
    assert schedule_counts(7, 2, "beta:1,1") == [4, 3]


def test_mc_record_reports_counts_and_calls(tiny):
    lang = tiny[0]
    sched = grid_schedules([], ["linear"])["linear"]
    rec = mc_grid_record(
        lang,
        OracleDenoiser(lang, on_impossible="uniform"),
        "fixed_count_schedule",
        2,
        "linear",
        sched,
        L,
        64,
        make_generator(0),
    )
    assert rec["counts"] == schedule_counts(L, 2, "linear") and rec["quality"]["mean_nfe"] == 2
    assert 0 <= rec["quality"]["sequence_error"]["p"] <= 1
    with pytest.raises(ValueError):
        grid_sampler("first_hitting", 2, sched)
    assert torch.isfinite(exact_log_joint(lang, L)).any()
