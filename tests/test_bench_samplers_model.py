"""The ``auto`` cost model against the committed sampler benchmark (``benchmarks/results/bench_samplers.json``).

The model's efficiency factor (:data:`sims.inference.scheduled.TREE_EFFICIENCY`) was calibrated on these
rows; recomputed with the current code, ``auto`` must take the measured faster path on every row with a
clear winner (measured ratio outside [2/3, 3/2]), and the stored choice must be the current one (else the
docs' table is stale: ``python benchmarks/bench_samplers.py --refresh-auto --json ...``).
"""

from pathlib import Path

import pytest

from benchmarks.bench_samplers import LANGUAGES, auto_path, model_ratio
from sims.results import read_json

ROOT = Path(__file__).resolve().parents[1]
ROWS = read_json(ROOT / "benchmarks" / "results" / "bench_samplers.json")["rows"]
CLEAR = [r for r in ROWS if not 2 / 3 <= r["ratio"] <= 1.5 and r["language"] in LANGUAGES and r["L"] <= 4096]


@pytest.mark.parametrize(
    "row", CLEAR, ids=lambda r: f"{r['language']}-{r['sampler']}-{r['B']}x{r['L']}x{r['K']}"
)
def test_auto_takes_the_measured_faster_path(row):
    B, L, K = row["B"], row["L"], row["K"]
    path = auto_path(row["language"], B, L, K)
    assert path == ("incremental" if row["ratio"] > 1 else "full")
    assert path == row["auto_path"]
    stored, now = row.get("model_ratio"), model_ratio(row["language"], B, L, K)
    assert (stored is None) == (now is None) and (now is None or abs(now - stored) <= 1e-9 * now)
