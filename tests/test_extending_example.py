"""Runs ``docs/examples/extending.py`` (the worked example of ``docs/extending.md``), so the guide cannot rot.

The example's language and sampler go through the very conformance checks of the registered ones (the
registries are patched for the duration of a test), its denoiser is checked against brute force, and its
figure runs at the example's size.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.exact import BruteForceDenoiser, exact_log_joint
from sims.registry import LANGUAGES, SAMPLERS
from tests.conformance import test_languages as lang_checks
from tests.conformance import test_sampler_contract as contract
from tests.conformance import test_sampler_laws as laws
from tests.conformance.cases import SamplerCase

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "extending_example", ROOT / "docs" / "examples" / "extending.py"
)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

KEY = "strided_s2"


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SAMPLERS, KEY, example.SAMPLER_ENTRY)
    monkeypatch.setitem(LANGUAGES, "noisy_cycle", example.LANGUAGE_ENTRY)


def _cases():
    e = example.SAMPLER_ENTRY
    yield SamplerCase(KEY, KEY, e, lambda: e.make(e.test_steps))
    for name, make in e.variants.items():
        yield SamplerCase(f"{KEY}[{name}]", KEY, e, make)


def test_the_registry_key_is_the_sampler_name():
    assert example.SAMPLER_ENTRY.make(2).name == KEY


@pytest.mark.usefixtures("registered")
def test_sampler_passes_the_conformance_suite():
    contract.test_registry_key_is_the_sampler_name(KEY)
    contract.test_declared_use_of_the_step_count(KEY)
    contract.test_bad_arguments_are_rejected_by_name(KEY)
    for case in _cases():
        contract.test_conventions_are_complete_plain_and_recorded(case)
        contract.test_reproducible_from_the_seed_alone(case)
        contract.test_nfe_counts_the_calls_on_changed_rows(case)
        contract.test_declared_capabilities_hold(case)
        for lang_name in laws.MC_LANGUAGES:
            laws.test_monte_carlo_matches_exact_law(case, lang_name)


@pytest.mark.usefixtures("registered")
def test_language_passes_the_conformance_suite():
    lang_checks.test_log_probabilities_sum_to_one("noisy_cycle")
    lang_checks.test_sampling_frequencies_match_the_exact_law("noisy_cycle")
    lang_checks.test_oracle_equals_enumeration("noisy_cycle")


def test_windowed_oracle_against_brute_force():
    lang = example.noisy_cycle_language()
    L, V = 5, lang.vocab_size
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    brute = BruteForceDenoiser(exact_log_joint(lang, L), V, L, on_impossible="uniform")
    g = torch.Generator().manual_seed(0)
    x = lang.sample(64, L, g)
    x = torch.where(torch.rand(x.shape, generator=g) < 0.5, V, x)
    full = example.WindowedOracle(oracle, window=L - 1)(x).log_probs
    assert torch.allclose(full, oracle(x).log_probs, atol=1e-12, rtol=0)
    w = 1
    got = example.WindowedOracle(oracle, window=w)(x).log_probs
    pos = torch.arange(L)
    for i in range(L):
        seen = torch.where(((pos - i).abs() > w).unsqueeze(0), V, x)
        assert torch.allclose(got[:, i], brute(seen).log_probs[:, i], atol=1e-12, rtol=0)


def test_figure_runs_and_one_token_per_step_is_exact(tmp_path):
    paths = example.run(tmp_path, length=5)
    assert all(p.exists() for p in paths)
    data = json.loads((tmp_path / "extending_example.json").read_text(), parse_constant=float)
    at_l = [r["kl_per_token"] for r in data["rows"] if r["K"] == 5]
    assert all(abs(v) < 1e-12 for v in at_l)  # one token per step with a context-only order: the law q
    one_shot = [r["kl_per_token"] for r in data["rows"] if r["K"] == 1]
    assert all(v > 1e-3 and math.isfinite(v) for v in one_shot)
