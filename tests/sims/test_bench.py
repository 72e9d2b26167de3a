"""``mdm-suite bench``: matched-NFE analysis, cells, resume and determinism, plugins, the command line."""

import csv
import json
import math
from pathlib import Path

import pytest

from sims.bench import PluginError, Tier, bench_cells, plugins, preset_config, run_bench, validate_plugin
from sims.bench.cells import CellSpec, run_cell
from sims.bench.config import exact_budgets, exact_length
from sims.bench.exact_laws import kernel_law
from sims.bench.leaderboard import build, combine, compare, pareto_front, read_at
from sims.bench.policies import KNOB_GRIDS, QUICK_KNOBS, policy_names, resolve
from sims.cli import main
from sims.denoisers.oracle import OracleDenoiser, sampling_fallback
from sims.exact import exact_log_joint, exact_sampler_law
from sims.execution import InlineExecutor, LocalExecutor
from sims.metrics import exact_law_metrics
from sims.registry import SAMPLERS, make_language
from sims.sampling.fixed_count import FixedCountSampler
from sims.validation import InvalidArgumentError

CURVE = [{"nfe": 2.0, "value": 0.8, "lo": 0.7, "hi": 0.9}, {"nfe": 8.0, "value": 0.2, "lo": 0.1, "hi": 0.3}]


def test_read_at_nearest_interpolation_and_no_extrapolation():
    assert read_at(CURVE, 2.05)["value"] == 0.8  # within 5%: the run itself
    mid = read_at(CURVE, 4.0)  # halfway in log2 NFE
    assert math.isclose(mid["value"], 0.5) and math.isclose(mid["lo"], 0.4) and math.isclose(mid["hi"], 0.6)
    assert read_at(CURVE, 1.0) is None and read_at(CURVE, 16.0) is None and read_at([], 4.0) is None


def test_compare_combine_and_pareto():
    base = {"value": 0.5, "lo": 0.4, "hi": 0.6}
    assert compare({"value": 0.2, "lo": 0.1, "hi": 0.3}, base, False) == "better"
    assert compare({"value": 0.5, "lo": 0.35, "hi": 0.65}, base, False) == "tie"
    assert compare({"value": 0.9, "lo": 0.7, "hi": 1.0}, base, False) == "worse"
    assert compare({"value": 0.5 + 1e-12, "lo": 0, "hi": 1}, base, True) == "tie"
    assert compare({"value": 0.49, "lo": 0.49, "hi": 0.49}, base, True) == "better"
    assert [
        combine(c) for c in ({"better": 2, "tie": 1}, {"worse": 1}, {"better": 1, "worse": 1}, {"tie": 3}, {})
    ] == [
        "beats",
        "loses",
        "mixed",
        "no difference",
        "not comparable",
    ]
    pts = [
        {"nfe": 1, "value": 0.9},
        {"nfe": 2, "value": 0.5},
        {"nfe": 2, "value": 0.7},
        {"nfe": 4, "value": 0.5},
    ]
    assert [(p["nfe"], p["value"]) for p in pareto_front(pts)] == [(1, 0.9), (2, 0.5)]


def test_every_registered_policy_resolves_and_knob_grids_are_valid():
    names = policy_names(None, ())
    assert set(names) == set(SAMPLERS)
    for name in names:
        policy = resolve(name)
        settings = policy.settings((2, 4), "quick")
        assert settings, name
        if policy.uses_steps:
            assert settings == ["budget=2", "budget=4"]
            continue
        registered = type(SAMPLERS[name].make(None))
        for setting in settings:
            assert type(policy.sampler(setting)) is registered, (name, setting)
    for name, quick in QUICK_KNOBS.items():
        assert name in KNOB_GRIDS and set(quick) <= set(KNOB_GRIDS[name]), name
    with pytest.raises(InvalidArgumentError, match="unknown setting"):
        resolve("dus_b2").sampler("base=99")


def test_policies_without_a_metric_are_listed_not_comparable():
    base = {"tier": "exact", "language": "x", "length": 2, "status": "ok", "nfe_mean": 2.0}
    exact = {
        "kl_data_to_sampler": 0.2,
        "kl_sampler_to_data": 0.2,
        "total_variation": 0.1,
        "sequence_error": 0.0,
    }
    records = [
        {
            **base,
            "policy": "fixed_random",
            "setting": "budget=2",
            "key": "a",
            "exact": {**exact, "method": "k"},
        },
        {**base, "policy": "p", "setting": "budget=2", "key": "b", "exact": {**exact, "method": "k"}},
        {**base, "policy": "q", "setting": "budget=2", "key": "c", "exact": None},
    ]
    board = build(records, "fixed_random", {("exact", "x"): [2]}, ["exact"])
    assert board["verdicts"]["p"]["x"]["verdict"] == "no difference"
    assert board["verdicts"]["q"]["x"]["verdict"] == "not comparable" and board["no_exact_law"] == ["c"]
    assert [r["policy"] for r in board["ranking"]] == ["fixed_random", "p"]


def test_exact_tier_sizes_and_budgets():
    assert exact_length("dyck4") % 2 == 0 and exact_length("parity") == 6
    assert exact_budgets(6) == (1, 2, 4, 6) and exact_budgets(4) == (1, 2, 4)
    assert exact_length("modsum3") >= 2  # languages outside the table follow the rule


def test_cell_k_adjustment_and_over_budget():
    anc = run_cell(CellSpec("L=32", "ngram2", 32, "ancestral", "budget=32", 64, False, 64, 64))
    # MDLM's Bernoulli rule spends fewer calls than K (about 20 at K = L = 32): the cell reruns at a larger K
    assert anc["status"] == "ok" and anc["steps"] > 32 and anc["nfe_mean"] > 22
    fh = run_cell(CellSpec("L=32", "ngram2", 32, "first_hitting", "registered", 16, False, 8, 16))
    assert fh["status"] == "over budget"


def test_exact_cell_is_the_exact_law():
    lang = make_language("ngram2")
    rec = run_cell(CellSpec("exact", "ngram2", 3, "fixed_max_prob", "budget=2", 64, True, 8, 64), seed=1)
    oracle = OracleDenoiser(lang, on_impossible=sampling_fallback(lang))
    law = exact_sampler_law(FixedCountSampler(2, score="max_prob"), oracle, 3)
    m = exact_law_metrics(exact_log_joint(lang, 3), law, 3)
    assert rec["exact"]["method"] == "exact kernel"
    for k in ("kl_data_to_sampler", "kl_sampler_to_data", "sequence_error", "total_variation"):
        assert math.isclose(rec["exact"][k], getattr(m, k), abs_tol=1e-12)
    assert kernel_law(FixedCountSampler(2), oracle, 3, max_transitions=1) is None


def test_one_token_per_call_is_exact_for_every_fixed_order():
    # the chain rule: one token per call from the exact conditional marginals is the language's law
    L = exact_length("ngram2")
    for policy in ("fixed_random", "fixed_max_prob", "fixed_margin", "fixed_entropy", "halton"):
        rec = run_cell(CellSpec("exact", "ngram2", L, policy, f"budget={L}", 8, False, 2 * L, 8))
        assert rec["steps"] == L and rec["exact"]["method"] == "exact kernel", policy
        assert abs(rec["exact"]["kl_data_to_sampler"]) <= 1e-12 and rec["exact"]["sequence_error"] <= 1e-12
    # a parallel step is not: two tokens per call leave the support of the sparse bigram; nor is a position
    # chosen by the value drawn there (LLaDA's sampled-token confidence), even one token per call
    rec = run_cell(CellSpec("exact", "ngram2", L, "fixed_random", "budget=2", 8, False, 4, 8))
    assert rec["exact"]["sequence_error"] > 1e-3
    rec = run_cell(CellSpec("exact", "ngram2", L, "fixed_sampled_prob", f"budget={L}", 8, False, 2 * L, 8))
    assert rec["steps"] == L and rec["exact"]["kl_data_to_sampler"] > 1e-3


def _tiny(**kw):
    return preset_config(
        "smoke",
        languages=("ngram2",),
        policies=("fixed_max_prob", "eb_entropy_g0.3"),
        tiers=(Tier(0, (), 0), Tier(12, (4, 12), 24)),
        **kw,
    )


def test_bench_writes_leaderboard_resumes_and_is_seeded(tmp_path):
    cfg = _tiny()
    res = run_bench(cfg, tmp_path / "a", InlineExecutor(), progress=False)
    names = {p.name for p in res.files}
    assert {
        "bench.json",
        "leaderboard.json",
        "leaderboard.csv",
        "leaderboard.md",
        "pareto.csv",
        "leaderboard.png",
        "runs.csv",
    } <= names
    assert len(res.records) == len(bench_cells(cfg)) and res.report.ok
    board = json.loads((tmp_path / "a" / "leaderboard.json").read_text())
    assert {r["policy"] for r in board["ranking"]} == {"fixed_random", "fixed_max_prob", "eb_entropy_g0.3"}
    with open(tmp_path / "a" / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == len(res.records)
    fixed = [r for r in runs if r["policy"] == "fixed_max_prob" and r["status"] == "ok"]
    assert all(r["exact_kl_data_to_sampler"] for r in fixed if r["tier"] == "exact")
    mc = [r for r in fixed if r["tier"] == "L=12"]
    # both perplexity directions with intervals (confidence ties are drawn at random: a replay bound)
    for col in ("gen_nll", "excess_nll"):
        assert mc and all(float(r[col + "_lo"]) <= float(r[col]) <= float(r[col + "_hi"]) for r in mc)
    assert all(r["excess_kind"].startswith("replay") for r in mc)
    md = (tmp_path / "a" / "leaderboard.md").read_text()
    assert "Beats random order at equal NFE" in md and "`fixed_max_prob`" in md
    first = (tmp_path / "a" / "leaderboard.json").read_bytes()
    again = run_bench(cfg, tmp_path / "a", InlineExecutor(), progress=False, figures=False)
    assert len(again.report.resumed) == len(res.records)  # every cell came from its file
    assert (tmp_path / "a" / "leaderboard.json").read_bytes() == first


@pytest.mark.slow
def test_bench_records_do_not_depend_on_the_workers(tmp_path):
    cfg = _tiny()
    run_bench(cfg, tmp_path / "one", InlineExecutor(), progress=False, figures=False)
    with LocalExecutor(2) as ex:
        run_bench(cfg, tmp_path / "two", ex, progress=False, figures=False)
    a = json.loads((tmp_path / "one" / "bench.json").read_text())["records"]
    b = json.loads((tmp_path / "two" / "bench.json").read_text())["records"]
    assert a == b
    assert (tmp_path / "one" / "leaderboard.json").read_bytes() == (
        tmp_path / "two" / "leaderboard.json"
    ).read_bytes()


BAD_PLUGINS = """
import torch
from sims.sampling.base import Capabilities, Conventions, NO_TIME, Sampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.validation import InvalidArgumentError

class NotASampler:
    pass

class Unlabelled(FixedCountSampler):
    def conventions(self):
        from dataclasses import replace
        return replace(super().conventions(), source="")

class GlobalRandom(FixedCountSampler):
    def step(self, state, k, generator):
        super().step(state, k, torch.Generator().manual_seed(int(torch.randint(0, 10**6, (1,)))))

class Adaptive(FixedCountSampler):
    def __init__(self):
        super().__init__(2, score="max_prob")

    @property
    def capabilities(self):
        from dataclasses import replace
        return replace(super().capabilities, uses_steps=False)

    @classmethod
    def bench_grid(cls):
        return {"one": cls()}
"""


def test_plugin_contract_checks(tmp_path):
    path = tmp_path / "plugins.py"
    path.write_text(BAD_PLUGINS)
    with pytest.raises(PluginError, match="not a subclass"):
        validate_plugin(f"{path}:NotASampler")
    with pytest.raises(PluginError, match="empty"):
        validate_plugin(f"{path}:Unlabelled")
    with pytest.raises(PluginError, match="same seed"):
        validate_plugin(f"{path}:GlobalRandom")
    with pytest.raises(PluginError, match="no file"):
        validate_plugin("missing/file.py:X")
    with pytest.raises(PluginError, match="cannot import"):
        validate_plugin("no_such_module_xyz:X")
    ok = validate_plugin(f"{path}:Adaptive")
    assert ok["uses_steps"] is False
    assert list(resolve(f"{path}:Adaptive").grid) == ["one"]
    assert validate_plugin("sims.sampling.fixed_count:FixedCountSampler")["uses_steps"] is True


def test_entry_point_plugins(monkeypatch):
    class EP:
        name, value = "my_policy", "sims.sampling.fixed_count:FixedCountSampler"

    monkeypatch.setattr(
        plugins, "entry_points", lambda group: [EP] if group == plugins.ENTRY_POINT_GROUP else []
    )
    assert plugins.installed_plugins() == {"my_policy": EP.value}
    assert plugins.plugin_spec("my_policy") == EP.value and plugins.plugin_spec("a.py:X") == "a.py:X"
    cfg = _tiny(plugins=("my_policy",))
    assert cfg.plugins == (EP.value,)
    assert {c.policy for c in bench_cells(cfg)} >= {EP.value, "fixed_random"}
    with pytest.raises(PluginError, match="no installed entry point"):
        plugins.plugin_spec("not_installed")


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "bench",
        "--preset",
        "smoke",
        "--languages",
        "ngram2",
        "--policies",
        "fixed_margin",
        "--out",
        str(out),
    ]
    assert main([*args, "--workers", "1", "--no-progress", "--no-figures"]) == 0
    assert (out / "leaderboard.md").exists() and "cells" in capsys.readouterr().out
    assert main(["bench", "--validate-only", "--sampler", "nope.py:X"]) == 2
    assert main(["bench", "--validate-only", "--plugin", "not_an_entry_point"]) == 2
    assert main(["bench", "--sampler", str(Path(__file__)) + ":X", "--out", str(out)]) == 2
