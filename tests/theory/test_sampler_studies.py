"""The sampler studies behind the ``samplers_*`` figures, against independent computations."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.point_mass import PointMassDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, total_variation
from sims.languages.formal import parity_language
from sims.languages.random import random_ngram
from sims.metrics import exact_law_metrics
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.remdm_exact import exact_remdm_laws, final_sequence_law
from theory.sampler_studies import (
    best_of_n_law,
    best_of_n_table,
    corrector_trajectory,
    deterministic_margins,
    dyck_insertion_table,
    exact_fallback_ser,
    exact_output_law,
    exact_quality_cell,
    float32_race_table,
    law_summary,
    monte_carlo_cell,
    monte_carlo_fallback_ser,
    parity_process_check,
    remdm_schedule_deviation,
)


def _bigram():
    return random_ngram(2, 3, concentration=0.5, support_size=2, stationary=True, seed=0)


def _oracle(lang):
    return OracleDenoiser(lang, on_impossible="min_violation")


def test_exact_output_law_follows_the_contract_and_matches_the_dense_remdm_propagation():
    lang, L = _bigram(), 3
    den = _oracle(lang)
    s = ReMDMSampler(4, "cap", eta=0.3)
    law = exact_output_law(s, den, L)
    dense = final_sequence_law(exact_remdm_laws(s, den, L)[-1], 3, L)
    assert float((law - dense).abs().max()) < 1e-13
    with pytest.raises(ValueError, match="exact_kernel"):
        exact_output_law(ReMDMSampler(4, "conf"), den, L)


def test_exact_quality_cell_is_the_exact_metric_of_the_law():
    lang, L = _bigram(), 3
    den, lj = _oracle(lang), exact_log_joint(lang, 3)
    cell = exact_quality_cell(FixedCountSampler(2), den, lj, L, 200, "k")
    m = exact_law_metrics(lj, exact_sampler_law(FixedCountSampler(2), den, L), L)
    assert cell["metrics"] == m.to_dict()
    assert cell["nfe_mean"] == 2.0 and cell["nfe_stderr"] == 0.0


def test_corrector_trajectory_is_monotone_and_r_equal_l_is_exact_after_one_round():
    lang, L = _bigram(), 3
    den = _oracle(lang)
    q = torch.exp(exact_log_joint(lang, L))
    base = FixedCountSampler(2)
    rows = corrector_trajectory(base, den, q, L, 2, 3)
    assert rows[0] == {"r": 2, "rounds": 0, "calls": 2, **law_summary(exact_sampler_law(base, den, L), q)}
    assert [r["calls"] for r in rows] == [2, 4, 6, 8]
    for a, b in itertools.pairwise(rows):
        for key in ("tv", "kl_data_to_sampler", "sequence_error"):
            assert b[key] <= a[key] + 1e-12
    full = corrector_trajectory(base, den, q, L, L, 1)
    assert full[1]["tv"] < 1e-12 and full[1]["calls"] == 2 + L
    # the corrector's own exact law agrees with p0 K^n
    two = exact_sampler_law(RemaskCorrector(base, 2, 2), den, L)
    assert abs(total_variation(two, q) - rows[2]["tv"]) < 1e-12


def test_remdm_schedule_deviation():
    assert remdm_schedule_deviation(ReMDMSampler(20, "cap", eta=0.3))["max_abs_deviation"] < 1e-14
    assert remdm_schedule_deviation(ReMDMSampler(30, "loop", eta=0.1))["max_abs_deviation"] > 1e-3
    conf = remdm_schedule_deviation(ReMDMSampler(10, "conf"), PointMassDenoiser((0, 2, 1), 3), 3)
    assert conf["max_abs_deviation"] > 0.1 and len(conf["t"]) == 10
    with pytest.raises(ValueError, match="state-dependent"):
        remdm_schedule_deviation(ReMDMSampler(10, "conf"))


def test_point_mass_denoiser_rejects_bad_input():
    with pytest.raises(ValueError):
        PointMassDenoiser((0, 3), 3)
    with pytest.raises(ValueError, match="length"):
        PointMassDenoiser((0, 1), 3)(torch.full((1, 3), 3))


def test_ap_mdm_processes():
    rows = dyck_insertion_table(3)
    assert all(r["tv"] < 1e-12 for r in rows if r["oracle"])
    assert all(r["tv"] > 0.1 for r in rows if not r["oracle"] and r["pairs"] >= 2)
    check = parity_process_check(6)
    assert check["strings"] == 2**7 - 1 and check["wrong"] == 0 and check["max_g_steps_per_bit"] <= 2


def test_best_of_n_table_starts_at_the_base_law():
    lang, L = _bigram(), 3
    den, lj = _oracle(lang), exact_log_joint(lang, L)
    rows = best_of_n_table(FixedCountSampler(L), den, lj, L, [1, 4])
    assert rows[0]["kl_data_to_sampler"] < 1e-12 and rows[0]["calls"] == 3.0
    assert rows[1]["kl_data_to_sampler"] > 1e-3 and rows[1]["calls"] == 12.0
    law = best_of_n_law(FixedCountSampler(L), den, L, 1)
    assert float((law - torch.exp(lj)).abs().max()) < 1e-12
    h = rows[0]["sampler_entropy_per_token"] * L
    assert math.isclose(h, float(-(torch.exp(lj)[lj > -math.inf] * lj[lj > -math.inf]).sum()), rel_tol=1e-12)


def test_fallback_moves_only_revisiting_and_selecting_samplers_exactly():
    lang, L = _bigram(), 4
    never = exact_fallback_ser(lambda d: exact_sampler_law(EBSampler(1.0), d, L), lang, L)
    assert abs(never["difference"]) < 1e-12 and never["ser"]["uniform"] > 0.01
    remask = exact_fallback_ser(
        lambda d: exact_sampler_law(RemaskCorrector(FixedCountSampler(2), 2, 2), d, L), lang, L
    )
    assert abs(remask["difference"]) > 1e-3
    bon = exact_fallback_ser(lambda d: best_of_n_law(FixedCountSampler(2), d, L, 4), lang, L)
    assert abs(bon["difference"]) > 1e-3


def test_paired_monte_carlo_fallback_keeps_a_non_revisiting_sampler_unchanged():
    lang, L = _bigram(), 6
    row = monte_carlo_fallback_ser(AncestralSampler(2), lang, L, 400, "paired")
    assert row["discordant"] == 0 and row["difference"] == 0.0
    assert row["ser"]["uniform"]["p"] > 0.05
    assert row["token_error_rate"]["uniform"]["mean"] >= row["token_error_rate"]["min_violation"]["mean"]


def test_float32_race_table():
    (row,) = float32_race_table([1e-9])
    assert row["exact"] == 1e-9 / (1 + 1e-9)
    assert row["ratio"] == row["float32"] / row["exact"] and row["ratio"] < 0.05


def test_deterministic_margins_on_parity():
    lang, L = parity_language(), 4
    den = OracleDenoiser(lang, on_impossible="uniform")
    m = deterministic_margins(EBSampler(0.8, tie_break="lowest_index"), exact_log_joint(lang, L), den, L)
    assert m["identity_gap"] < 1e-12
    assert abs(m["kl"] - math.log(2)) < 1e-12 and m["eb_certificate_ratio"] == pytest.approx(2.0)
    exact = deterministic_margins(EBSampler(0.0, tie_break="lowest_index"), exact_log_joint(lang, L), den, L)
    assert exact["eb_certificate_ratio"] is None


def test_monte_carlo_cell_is_reproducible_and_adds_the_bound_only_for_value_independent_orders():
    lang, L = _bigram(), 6
    den = _oracle(lang)
    a = monte_carlo_cell(FixedCountSampler(3), den, lang, L, 64, "key", data_nll=True)
    b = monte_carlo_cell(FixedCountSampler(3), den, lang, L, 64, "key", data_nll=True)
    assert a == b and "data_nll" in a and a["nfe_mean"] == 3.0
    c = monte_carlo_cell(FixedCountSampler(3, score="max_prob"), den, lang, L, 64, "key", data_nll=True)
    assert "data_nll" not in c
