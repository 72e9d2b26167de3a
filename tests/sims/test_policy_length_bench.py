"""The length policies in the bench and sweeps: declared through ``capabilities.needs_eos``, run on the EOS languages of
the panel only, and their cells record the content-length law against the language's."""

from sims.bench import Tier, bench_cells, preset_config
from sims.bench.cells import CellSpec, run_cell
from sims.bench.plugins import check_sampler
from sims.bench.policies import resolve
from sims.registry import SAMPLERS
from sims.registry_policies_length import LENGTH_POLICY_SAMPLERS
from sims.sweep import SweepConfig


def test_needs_eos_is_declared_by_exactly_the_length_policies():
    for key, entry in SAMPLERS.items():
        needs = entry.make(entry.test_steps).capabilities.needs_eos
        assert needs == (key in LENGTH_POLICY_SAMPLERS), key
        assert resolve(key).needs_eos == needs


def test_the_bench_runs_length_policies_on_eos_languages_only():
    cfg = preset_config(
        "smoke",
        languages=("ngram2", "ngram2_eos", "dyck4_eos"),
        policies=tuple(LENGTH_POLICY_SAMPLERS),
        tiers=(Tier(0, (), 0), Tier(8, (2, 8), 16)),
    )
    cells = bench_cells(cfg)
    by_policy = {}
    for c in cells:
        by_policy.setdefault(c.policy, set()).add(c.language)
    for key in LENGTH_POLICY_SAMPLERS:
        assert by_policy[key] == {"ngram2_eos", "dyck4_eos"}, key
    assert by_policy["fixed_random"] == {"ngram2", "ngram2_eos", "dyck4_eos"}  # the baseline everywhere


def test_a_length_policy_cell_records_its_length_law_and_exact_law():
    cell = CellSpec("exact", "ngram2_eos", 3, "eotp", "budget=3", 64, False, 6, 64)
    rec = run_cell(cell)
    assert rec["status"] == "ok" and rec["capabilities"]["needs_eos"]
    assert set(rec["eos"]) == {"length_tv", "mean_length", "mean_length_exact"}
    assert rec["exact"]["method"] == "exact kernel"


def test_a_sweep_leaves_out_length_policies_on_languages_without_eos():
    cfg = SweepConfig(
        languages=["ngram2", "ngram2_eos"],
        lengths=[4],
        samplers=["fixed_random", "eotp", "daedal_init1_exp2_check2"],
        steps=[2],
    )
    assert sorted(cfg.cells()) == [
        ("ngram2", 4, "fixed_random", 2),
        ("ngram2_eos", 4, "daedal_init1_exp2_check2", None),
        ("ngram2_eos", 4, "eotp", 2),
        ("ngram2_eos", 4, "fixed_random", 2),
    ]


def test_the_plugin_contract_check_runs_a_length_policy_on_an_eos_language():
    for entry in LENGTH_POLICY_SAMPLERS.values():
        sampler = entry.make(entry.test_steps)
        assert check_sampler(sampler)["sampler"] == sampler.name
