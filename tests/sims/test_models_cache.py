"""Model cache and training guards (issue 13): checked model files, refused hyperparameters, divergence.

* every bad model file (truncated, foreign, old format, corrupted weights, another configuration) raises
  :class:`ModelFileError` naming the file and what to do;
* configurations that cannot train are refused before any work;
* a run whose loss becomes non-finite, or that leaves the weights untouched, raises and caches nothing.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from sims.models import make_config, train
from sims.models.cache import get_trained, load_trained, model_path
from sims.models.store import FORMAT, ModelFileError, read_model_file, state_checksum
from sims.models.training import TrainingDiverged

TINY = {"steps": 3, "eval_every": 3, "num_val": 16}


def _cfg(seed=0, **kw):
    return make_config("ngram2", 4, "test", seed=seed, **{**TINY, **kw})


@pytest.fixture()
def cached(tmp_path):
    cfg = _cfg()
    model = get_trained(cfg, cache_dir=tmp_path, device="cpu")
    return cfg, model, model_path(cfg, tmp_path)


def test_file_records_config_checksum_and_provenance(cached):
    cfg, model, path = cached
    payload = read_model_file(path, cfg.to_dict())
    assert payload["format"] == FORMAT and payload["config"] == cfg.to_dict()
    assert payload["checksum"] == state_checksum(model.net.state_dict())
    assert {"torch", "python", "cache_version", "config_digest"} <= set(payload["provenance"])
    again = load_trained(path, "cpu", expected=cfg)
    for p, q in zip(model.net.parameters(), again.net.parameters()):
        assert torch.equal(p, q)


def test_file_of_another_model_is_refused(cached, tmp_path):
    _, _, path = cached
    other = _cfg(seed=1)
    shutil.copy(path, model_path(other, tmp_path))  # a stale or copied file under the other's name
    with pytest.raises(ModelFileError, match="different configuration") as err:
        get_trained(other, cache_dir=tmp_path, device="cpu")
    assert str(model_path(other, tmp_path)) in str(err.value) and "delete" in str(err.value)


def test_truncated_file_is_named(cached):
    _, _, path = cached
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cannot be read") as err:
        load_trained(path, "cpu")
    assert str(path) in str(err.value) and "delete" in str(err.value)


def test_foreign_and_old_format_files_are_named(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    with pytest.raises(ModelFileError, match=str(junk)):
        load_trained(junk, "cpu")
    old = tmp_path / "old.pt"
    torch.save({"state_dict": {}, "config": {}}, old)  # cache version 2 layout: no format, no checksum
    with pytest.raises(ModelFileError, match="older cache format"):
        load_trained(old, "cpu")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_trained(tmp_path / "missing.pt", "cpu")


def test_corrupted_weights_fail_the_checksum(cached):
    _, _, path = cached
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = payload["state_dict"][name] + 1e-3
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="checksum"):
        load_trained(path, "cpu")


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": 0},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": math.nan},
        {"lr": math.inf},
        {"grad_clip": 0.0},
        {"grad_clip": -1.0},
        {"grad_clip": math.nan},
        {"weight_decay": -0.1},
        {"warmup_frac": 1.0},
        {"eps": 0.0},
        {"measure_every": -1},
    ],
)
def test_untrainable_settings_are_refused(bad):
    with pytest.raises(ValueError):
        _cfg(**bad)


def test_clipping_can_be_disabled():
    assert _cfg(grad_clip=None).grad_clip is None


def test_divergence_stops_at_the_first_nonfinite_loss(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = torch.nn.functional.cross_entropy

    def poisoned(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * math.nan if calls["n"] == 2 else out

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match="diverged at step 2"):
        get_trained(_cfg(), cache_dir=tmp_path, device="cpu")
    assert not list(tmp_path.glob("*.pt"))


def test_untouched_weights_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, closure=None: None)
    with pytest.raises(TrainingDiverged, match="initial value"):
        get_trained(_cfg(), cache_dir=tmp_path, device="cpu")
    assert not list(tmp_path.glob("*.pt"))


def test_exact_curve_records_the_gap():
    m = train(_cfg(steps=4, eval_every=2, exact_every=2), device="cpu")
    curve = m.history["exact_curve"]
    assert [p["step"] for p in curve] == [0, 2, 4] and all(p["gap"] > 0 for p in curve)
    assert "exact_every" in m.config.to_dict() and "exact_every" not in _cfg().to_dict()
