"""The corpus reproduction figures run end to end on tiny languages and feed every corpus claim and block."""

from __future__ import annotations

import pytest

from paper_repro import fig_corpus_feng, fig_corpus_tang
from paper_repro.ledger import VERDICTS, FigureDataFolder, claims_corpus
from sims.languages.sparse_bigram import random_sparse_bigram


def _tiny(name: str):
    return random_sparse_bigram(5, 2, teleport=0.0 if name.endswith("zeros") else 0.1, seed=0)


TANG = {
    "languages": [["tiny", "tiny_zeros"]],
    "lengths": [8],
    "steps_ratios": [1 / 8, 1],
    "num_samples": 16,
    "tf_samples": 32,
    "resamples": 10,
    "batch_size": 32,
    "seed": 0,
}
FENG = {
    "language": ["tiny", "tiny_zeros"],
    "kl_lengths": [8, 16],
    "kl_steps": [1],
    "kl_samples": 32,
    "kl_min_ratio": 8,
    "ser_lengths": [8, 16],
    "ser_ratios": [1 / 2, 1],
    "delta": 0.5,
    "num_samples": 16,
    "seed": 0,
}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    for mod, cfg in ((fig_corpus_tang, TANG), (fig_corpus_feng, FENG)):
        monkeypatch.setattr(mod, "make_language", _tiny)
        monkeypatch.setitem(mod.PRESETS, "quick", cfg)
        paths = mod.run("quick", tmp_path, progress=False)
        assert all(p.exists() for p in paths)
    return FigureDataFolder(tmp_path)


@pytest.mark.slow  # about 3 s of CPU, more on the shared machine
def test_corpus_figures_feed_the_claims(outputs):
    tang = outputs("corpus_tang")
    cells = tang["records"].values()
    assert {c["sampler"] for c in cells} == {"mdlm_ancestral", "llada_random", "low_confidence", "remdm_loop"}
    assert all(c["conventions"] for c in cells)
    exact = [c for c in cells if c["sampler"] == "llada_random" and c["steps"] == 8]
    assert exact and abs(exact[0]["teacher_forced_kl"]["mean"]) <= 1e-12 * 8 and exact[0]["ser"]["p"] == 0.0
    for claim in claims_corpus.CLAIMS:
        v = claim.verdict(outputs)
        assert v.status in VERDICTS and v.key_number
    for name in ("corpus.claims", "corpus.outcomes", "corpus.reading"):
        assert claims_corpus.DOC_BLOCKS[name](outputs).strip()
