"""Result storage (atomic, resumable) and the mdm-suite CLI end to end on a tiny sweep."""

import json
import math

import pytest

from sims.cli import main
from sims.results import ResultStore


def test_store_roundtrip_resume_and_clash(tmp_path):
    path = tmp_path / "r.json"
    s = ResultStore(path, meta={"seed": 1})
    s.put("a", {"x": 1.5, "inf": math.inf, "nan": math.nan, "nested": {"t": (1, 2)}})
    s2 = ResultStore(path, meta={"seed": 1})
    assert "a" in s2 and s2.get("a")["inf"] == math.inf and math.isnan(s2.get("a")["nan"])
    assert s2.get("a")["nested"]["t"] == [1, 2]
    with pytest.raises(ValueError, match="different settings"):
        ResultStore(path, meta={"seed": 2})
    assert not list(tmp_path.glob("*.tmp"))
    s2.write_csv(tmp_path / "r.csv")
    assert "nested.t" in (tmp_path / "r.csv").read_text().splitlines()[0]


def test_cli_sweep_writes_and_resumes(tmp_path, capsys):
    args = [
        "sweep",
        "--languages",
        "ngram2",
        "--lengths",
        "8",
        "--samplers",
        "ancestral,fixed_random",
        "--steps",
        "1,8",
        "--num-samples",
        "16",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert len(data["records"]) == 4
    rec = data["records"]["ngram2|L=8|fixed_random|K=8"]
    assert rec["quality"]["sequence_error"]["p"] == 0.0  # one token per step with the oracle is exact
    assert rec["conventions"]["sampler"] == "fixed_random"
    assert rec["conventions"]["extras"]["count_rule"] == "llada"
    assert (tmp_path / "sweep.png").stat().st_size > 1000 and (tmp_path / "sweep.csv").exists()
    before = (tmp_path / "sweep.json").read_text()
    assert main(args) == 0  # resume: nothing recomputed, identical file
    assert (tmp_path / "sweep.json").read_text() == before
    assert main(["plot", str(tmp_path / "sweep.json"), "--out", str(tmp_path / "again.png")]) == 0
    assert main(["list"]) == 0


def test_sweep_runs_a_sampler_that_ignores_k_once(tmp_path, capsys):
    args = [
        "sweep",
        "--languages",
        "ngram2",
        "--lengths",
        "6,8",
        "--samplers",
        "first_hitting,eb_entropy_g0.3,ancestral",
        "--steps",
        "1,2,4",
        "--num-samples",
        "8",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert "first_hitting, eb_entropy_g0.3: ignore K" in capsys.readouterr().out
    records = json.loads((tmp_path / "sweep.json").read_text())["records"]
    assert len(records) == 2 * (1 + 1 + 3)  # lengths x (first hitting + EB once, ancestral per K)
    for L in (6, 8):
        rec = records[f"ngram2|L={L}|first_hitting|K=ignored"]
        assert rec["steps"] is None and rec["quality"]["mean_nfe"] == L
        assert rec["order_conditional_excess_nll_per_token"] is not None  # value-independent order
        assert (
            records[f"ngram2|L={L}|eb_entropy_g0.3|K=ignored"]["order_conditional_excess_nll_per_token"]
            is None
        )
    assert (tmp_path / "sweep.png").stat().st_size > 1000


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--languages", "nonexistent"])
    assert "unknown" in capsys.readouterr().err
