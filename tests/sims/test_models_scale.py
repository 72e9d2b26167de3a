"""Multi-seed training studies (sims/models/scale.py, aggregate.py, quality.py).

* intervals: the chi-square s.d. interval and the F ratio interval equal their textbook formulas and
  cover at their level (Monte Carlo, normal values); paired differences are t-intervals of differences;
* a tiny study end to end: one JSON record per model (atomic), resumed without retraining, bad record
  files named; the summary and the training claims' verdicts compute on it;
* the presets: at least five seeds per method, every method, matched AR models; ``auto`` picks the GPU
  preset only with CUDA;
* exact sample quality: the oracle at one token per step reproduces the language (SER 0, KL 0); an AR
  model's law sums to one.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from paper_repro.ledger.claims_training import CLAIMS
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.models import aggregate
from sims.models.aggregate import paired_difference, scale_summary, spread_ratio, spread_with_interval
from sims.models.cache import make_config
from sims.models.quality import ar_quality, denoiser_quality
from sims.models.scale import SCALE_PRESETS, ScalePreset, resolve_preset, result_path, run_scale
from sims.models.training import train
from sims.registry import make_language


def test_spread_interval_formula_and_coverage():
    v = [0.1, 0.13, 0.09, 0.12, 0.11]
    iv = spread_with_interval(v)
    s = float(torch.tensor(v, dtype=torch.float64).std())
    assert math.isclose(iv.value, s, rel_tol=1e-12)
    assert math.isclose(iv.low, s * math.sqrt(4 / stats.chi2.ppf(0.975, 4)), rel_tol=1e-12)
    assert math.isclose(iv.high, s * math.sqrt(4 / stats.chi2.ppf(0.025, 4)), rel_tol=1e-12)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 5, generator=g, dtype=torch.float64) * 0.3
    cover = sum(spread_with_interval(row.tolist()).excludes(0.3) is False for row in x) / 1000
    assert abs(cover - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 1000)  # 4 binomial sigma
    with pytest.raises(ValueError):
        spread_with_interval([1.0])


def test_paired_difference_and_spread_intervals():
    a, b = [1.0, 2.0, 3.5, 4.0, 5.5], [0.5, 1.8, 3.0, 3.1, 5.0]
    d = paired_difference(a, b)
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    diffs = ta - tb
    half = stats.t.ppf(0.975, 4) * float(diffs.std()) / math.sqrt(5)
    assert math.isclose(d.value, float(diffs.mean()), rel_tol=1e-12)
    assert math.isclose(d.high - d.value, half, rel_tol=1e-9)
    r = spread_ratio(a, b)
    ratio = float(ta.std() / tb.std())
    assert math.isclose(r.value, ratio, rel_tol=1e-12)
    assert math.isclose(r.low, ratio / math.sqrt(stats.f.ppf(0.975, 4, 4)), rel_tol=1e-12)
    # coverage of the F interval for independent normal samples with s.d. ratio 2
    g = torch.Generator().manual_seed(1)
    xa = torch.randn(1000, 5, generator=g, dtype=torch.float64) * 2
    xb = torch.randn(1000, 5, generator=g, dtype=torch.float64)
    cover = sum(not spread_ratio(p.tolist(), q.tolist()).excludes(2.0) for p, q in zip(xa, xb)) / 1000
    assert abs(cover - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 1000)
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        aggregate.mean_with_interval([1.0, math.nan])


def _tiny_preset():
    over = {
        "steps": 4,
        "eval_every": 2,
        "exact_every": 2,
        "measure_every": 2,
        "measure_examples": 8,
        "num_val": 16,
        "exact_eval": True,
    }
    return ScalePreset("tiny", "ngram2", 3, (0, 1), (1, 3), "test", over, ("standard", "ppots_mirror"))


def test_scale_summary_on_a_tiny_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_SUITE_MODEL_DIR", str(tmp_path / "models_cache"))
    preset = _tiny_preset()
    lines = []
    first, _ = run_scale(preset, tmp_path / "study", device="cpu", log=lines.append, methods=("ar",))
    assert [r["method"] for r in first] == ["ar", "ar"]  # a subset first: only the AR models computed
    records, oracle = run_scale(preset, tmp_path / "study", device="cpu", log=lines.append)
    assert len(records) == 6 and len(lines) == 6 and "eta" in lines[-1]
    for cfg in preset.configs():
        assert result_path(tmp_path / "study", cfg).exists()
    rec = next(r for r in records if r["method"] == "ppots_mirror")
    assert [p["step"] for p in rec["exact_curve"]] == [0, 2, 4]
    assert [q["steps"] for q in rec["quality"]] == [1, 3] and 0 <= rec["quality"][0]["sequence_error"] <= 1
    assert rec["final_exact"]["decomposition"]["own"]["rows_per_example"] == 2
    assert oracle["quality"][-1]["sequence_error"] < 1e-12  # one token per step with the oracle

    def boom(*a, **k):
        raise AssertionError("resumed study must not train")

    monkeypatch.setattr("sims.models.scale.get_trained", boom)
    again, _ = run_scale(preset, tmp_path / "study", device="cpu", log=None)
    assert [r["name"] for r in again] == [r["name"] for r in records]
    summary = scale_summary(records, oracle)
    assert summary["methods"] == ["standard", "ppots_mirror", "ar"]
    fg = summary["final_gap"]
    assert fg["ppots_mirror"]["diff_vs_reference"]["n"] == 2 and fg["standard"]["diff_vs_reference"] is None
    assert fg["ar"]["sd_ratio_vs_ar"] is None and fg["standard"]["sd_ratio_vs_ar"] is not None
    assert summary["gap_curve"]["ar"]["step"] == [0, 2, 4]
    data = {"training_scale": {"summary": summary, "scale_preset": preset.describe()}}
    for claim in CLAIMS:
        v = claim.verdict(data.__getitem__)
        assert v.status in ("holds", "contradicted", "qualified", "unverifiable")
    # a damaged record is named
    path = result_path(tmp_path / "study", preset.configs()[0])
    path.write_text("{broken")
    with pytest.raises(ValueError, match=str(path)):
        run_scale(preset, tmp_path / "study", device="cpu", log=None)


def test_presets_have_five_seeds_every_method_and_ar():
    for name, p in SCALE_PRESETS.items():
        cfgs = p.configs()
        assert len(p.seeds) >= 5 and set(p.methods) == {"standard", "ppots", "mirror", "ppots_mirror", "pair"}
        assert len(cfgs) == len(p.seeds) * (len(p.methods) + 1)
        ar = [c for c in cfgs if c.kind == "ar"]
        mdm = [c for c in cfgs if c.kind == "mdm" and c.method == "standard"]
        for a, m in zip(ar, mdm):  # matched: same network, rows, schedule, seed
            for f in ("d_model", "n_layers", "n_heads", "d_ff", "steps", "batch_rows", "lr", "seed"):
                assert getattr(a, f) == getattr(m, f), (name, f)
        assert all(c.exact_eval and c.exact_every for c in cfgs)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert resolve_preset("auto").name == expected
    with pytest.raises(ValueError):
        resolve_preset("nope")


def test_exact_quality_of_oracle_and_ar():
    lang = make_language("ngram2")
    rows = denoiser_quality(lang, OracleDenoiser(lang, on_impossible="uniform"), 3, (1, 3))
    assert rows[0]["sequence_error"] > 0.1 and rows[1]["sequence_error"] < 1e-12
    assert abs(rows[1]["kl_per_token"]) < 1e-12
    m = train(make_config("ngram2", 3, "test", kind="ar", steps=3, eval_every=3, num_val=8), device="cpu")
    q = ar_quality(lang, m.ar(), 3)
    x = make_language("ngram2").sample(4, 3, make_generator(0))
    assert q["kl_per_token"] > 0 and 0 < q["sequence_error"] < 1 and x.shape == (4, 3)
