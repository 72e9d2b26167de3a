"""``python -m paper_repro`` on several workers: the same bytes as one worker, declared dependencies,
resume of an interrupted run, failures reported without losing the other modules."""

from __future__ import annotations

import json

import pytest

import paper_repro.fig_energy_support as energy_support
import paper_repro.fig_samplers_calls_quality as samplers_calls_quality
from paper_repro import samplers_common
from paper_repro.__main__ import main
from paper_repro.scheduling import MODEL_CONFIGS, dependencies, discover, figure_items, item_store
from sims.execution import ItemResult
from sims.execution.training_items import training_key
from sims.models.cache import make_config
from sims.models.experiments import TRAINING_SUITES

CHEAP = ["energy_support", "orders_invariance"]


RUN_RECORDS = ("timings_", "provenance_", "README")  # the run's own records: seconds, workers, executor


def outputs(folder):
    return {
        p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(RUN_RECORDS)
    }


def test_declared_dependencies():
    deps = dependencies(discover())
    assert deps["variance_decomposition"] == ("training_curves",)
    assert deps["variance_ppots_mirror"] == ("training_curves",)
    assert deps["denoising_entropy_variants"] == ("training_curves",)
    users = ("variance_decomposition", "variance_ppots_mirror", "denoising_entropy_variants")
    assert all(not d for name, d in deps.items() if name not in users)
    # what they reuse is a model of the training_curves suite
    for preset, suite in TRAINING_SUITES.items():
        assert any(c.kind == "mdm" and c.method == "standard" and c.seed == 0 for c in suite.configs()), (
            preset
        )
    items = {it.key: it for it in figure_items(list(discover()), discover(), "quick", "out")}
    assert items["variance_decomposition"].depends_on == ("training_curves",)
    trains = [training_key(c) for c in TRAINING_SUITES["quick"].configs()]
    assert items["training_curves"].depends_on == tuple(trains) and set(trains) <= set(items)
    assert len(items) == len(discover()) + 15 + 3 + 2  # training suite, quality suite, samplers models


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_model_items_are_the_models_the_samplers_figure_loads(preset, monkeypatch):
    loaded = []

    def record(language, length, model_preset, **overrides):
        loaded.append(make_config(language, length, model_preset, **overrides))

    monkeypatch.setattr(samplers_common, "get_trained_denoiser", record)
    cfg = samplers_calls_quality.PRESETS[preset]
    for name, factory in samplers_common.oracle_and_trained(cfg["length"], preset).items():
        if name != "oracle":
            for lang in cfg["languages"]:
                factory(lang, None)
    assert loaded == MODEL_CONFIGS["samplers_calls_quality"](preset)


def test_one_and_two_workers_write_the_same_bytes(tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["--only", *CHEAP, "--out", str(one), "--workers", "1", "--no-progress"]) == 0
    assert main(["--only", *CHEAP, "--out", str(two), "--workers", "2", "--no-progress"]) == 0
    assert outputs(one) == outputs(two)
    assert {"energy_support.json", "energy_support.png", "orders_invariance.json"} <= set(outputs(one))
    timings = json.loads((two / "timings_quick.json").read_text())
    assert set(timings["seconds"]) == set(CHEAP) and timings["workers"] == 2
    assert "local (2 processes" in timings["executor"]
    assert not (two / ".partial" / "quick" / "_items").exists()  # a finished run leaves no records


def test_a_run_publishes_its_provenance_and_gallery(tmp_path):
    out = tmp_path / "fig"
    flags = ["--workers", "1", "--no-progress", "--pdf"]
    assert main(["--only", "energy_support", "--out", str(out), *flags]) == 0
    assert (out / "energy_support.pdf").read_bytes().startswith(b"%PDF")  # --pdf: a copy beside the PNG
    assert not list((out / ".partial").rglob("*.pdf"))  # moved with the figure, nothing left in staging
    provenance = json.loads((out / "provenance_quick.json").read_text())
    assert provenance["preset"] == "quick" and provenance["workers"] == 1
    gallery = (out / "README.md").read_text()
    assert gallery.startswith("# Figure gallery and claims ledger")
    spec = energy_support.FIGURE
    assert spec.claims and all(f"(`{cid}`)" in gallery for cid in spec.claims)
    # the module's own claims get verdicts from its data; claims of figures not run stay "not covered"
    rows = [line for line in gallery.splitlines() if any(f"(`{cid}`)" in line for cid in spec.claims)]
    assert all("not covered" not in row for row in rows)
    assert "not covered" in gallery


def test_resume_skips_the_modules_an_interrupted_run_finished(tmp_path):
    out = tmp_path / "figs"
    assert main(["--only", "energy_support", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    # the interrupted run's file: the same data in other bytes (the gallery reads it, so it stays valid JSON)
    interrupted = json.dumps(json.loads((out / "energy_support.json").read_text()), indent=3)
    (out / "energy_support.json").write_text(interrupted)
    item = figure_items(["energy_support"], discover(), "quick", out, resume=True)[0]
    record = ItemResult("energy_support", {"files": ["energy_support.json"]}, fingerprint=item.fingerprint())
    item_store(out, "quick").write(record)
    assert main(["--only", *CHEAP, "--out", str(out), "--workers", "1", "--resume", "--no-progress"]) == 0
    assert (out / "energy_support.json").read_text() == interrupted  # skipped
    assert (out / "orders_invariance.json").exists()  # ran
    # without --resume everything is recomputed
    assert main(["--only", "energy_support", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert (out / "energy_support.json").read_text() != interrupted


def test_a_failing_module_is_reported_and_the_others_finish(tmp_path, monkeypatch, capsys):
    def broken(preset, out_dir, progress=True):
        raise RuntimeError("energy_support is broken")

    monkeypatch.setattr(energy_support, "run", broken)
    out = tmp_path / "figs"
    assert main(["--only", *CHEAP, "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "item 'energy_support' failed" in err and "RuntimeError: energy_support is broken" in err
    assert (out / "orders_invariance.json").exists()
    assert (out / ".partial" / "quick" / "_items").exists()  # kept for --resume


def test_list_shows_dependencies(capsys):
    assert main(["--list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("variance_decomposition"))
    assert line.endswith("[after training_curves]")


@pytest.mark.parametrize("flags", [["--dask", "local", "--slurm"]])
def test_one_place_to_run(flags, capsys):
    with pytest.raises(SystemExit):
        main(["--only", "energy_support", *flags])
