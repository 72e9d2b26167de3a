"""The Feng SER and TER figure modules end to end at a tiny size: every sampled cell records the oracle path
that ran and carries a confidence interval; the exact-law checks are compared with their reference cells."""

import json

from paper_repro import fig_feng_ser_vs_steps as ser_fig
from paper_repro import fig_feng_ter_vs_steps as ter_fig

PATHS = {"full", "incremental:nearest_neighbour", "incremental:evidence_tree"}


def test_ser_figure_at_tiny_size_records_paths_and_intervals(tmp_path, monkeypatch):
    cfg = {
        "lengths": [16, 64],
        "rb_lengths": [16, 64],
        "rb_samples": 64,
        "rb_samples_large": 16,
        "mc_lengths": [16],
        "mc_ratios": [1 / 2, 1],
        "mc_samples": 16,
        "oracle_cells": [("pair", "fixed", 64, 1 / 4), ("parity", "bernoulli", 64, 1 / 4)],
        "oracle_samples": 24,
        "seed": 0,
    }
    monkeypatch.setitem(ser_fig.PRESETS, "tiny", cfg)
    png, data = ser_fig.run("tiny", tmp_path, progress=False)
    assert png.exists() and data.exists()
    d = json.loads(data.read_text())
    sampled = {k: r for k, r in d["records"].items() if r["kind"] == "sampled"}
    assert {k.split("|")[0] for k in sampled} == {"oracle", "sparse"}
    for r in sampled.values():
        assert r["oracle_path"] in PATHS and r["ci_low"] <= r["ser"] <= r["ci_high"] and r["n"] > 0
    checks = d["meta"]["oracle_checks"]
    assert set(checks) == {"pair|fixed|64|16", "parity|bernoulli|64|16"}
    assert checks["pair|fixed|64|16"]["oracle_path"] == "incremental:nearest_neighbour"
    assert checks["parity|bernoulli|64|16"]["reference_method"] == "exact closed form"
    assert set(d["meta"]["oracle_paths"]) <= PATHS


def test_ter_figure_at_tiny_size_records_the_teacher_forcing_path(tmp_path, monkeypatch):
    cfg = {
        "exact_lengths": [16, 256],
        "mc": {"ngram2": [16], "hmm": [16]},
        "mc_steps": [1, 4],
        "mc_samples": 8,
        "mc_extra": {"hmm": [64]},
        "mc_extra_steps": [4],
        "mc_extra_samples": 4,
        "info_samples": 16,
        "seed": 0,
    }
    monkeypatch.setitem(ter_fig.PRESETS, "tiny", cfg)
    png, data = ter_fig.run("tiny", tmp_path, progress=False)
    assert png.exists()
    mc = {k: r for k, r in json.loads(data.read_text())["records"].items() if r["kind"] == "mc"}
    assert {r["oracle_path"] for r in mc.values() if r["length"] == 16} == {"full"}
    assert {r["oracle_path"] for r in mc.values() if r["length"] == 64} == {"incremental:evidence_tree"}
    assert {k for k in mc if k.startswith("mc|hmm|")} >= {"mc|hmm|fixed|64|4", "mc|hmm|bernoulli|64|4"}
    assert all(r["ci_low"] <= r["kl_per_token"] <= r["ci_high"] for r in mc.values())
