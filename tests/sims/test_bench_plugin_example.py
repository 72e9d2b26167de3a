"""The one-file plugin example of docs/bench.md, run through ``mdm-suite bench`` as a user would.

The example (``docs/examples/bench_plugin.py``) reveals LLaDA-count blocks left to right. Its law has a
closed form: each block's tokens are drawn independently from their marginals given the revealed prefix,
so :math:`q(x) = \\prod_k \\prod_{i \\in B_k} p(x_i \\mid x_{<s_k})` on every sequence whose prefixes all have
positive probability (the only sequences in the support). The bench's exact-tier record of the plugin must
match the metrics of that law, computed here by enumeration.
"""

import json
import math
from pathlib import Path

import torch

from sims.bench.config import exact_length
from sims.bench.plugins import validate_plugin
from sims.cli import main
from sims.enumeration import all_sequences, sequence_index
from sims.exact import exact_log_joint
from sims.metrics import exact_law_metrics
from sims.registry import make_language
from sims.sampling.fixed_count import llada_counts

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "bench_plugin.py"
SPEC = f"{EXAMPLE}:LeftToRightSampler"


def left_to_right_law(log_joint: torch.Tensor, V: int, L: int, K: int) -> torch.Tensor:
    """The example's law by enumeration (module docstring); the mass that leaves the support is put on
    one out-of-support sequence (SER, TV and KL(q||p) do not depend on where it lies)."""
    seqs = all_sequences(V, L)
    P = log_joint.exp()[sequence_index(seqs, V)]
    starts, s = [], 0
    for c in llada_counts(L, K):
        starts += [s] * c
        s += c
    law = torch.zeros(V**L, dtype=torch.float64)
    for x, px in zip(seqs, P):
        if px == 0:
            continue
        q = 1.0
        for i in range(L):
            prefix = (seqs[:, : starts[i]] == x[: starts[i]]).all(1)
            q *= float(P[prefix & (seqs[:, i] == x[i])].sum() / P[prefix].sum())
        law[int(sequence_index(x, V))] = q
    out = torch.nonzero(log_joint == -math.inf)
    if len(out):
        law[int(out[0])] = 1.0 - float(law.sum())
    return law


def test_example_plugin_passes_the_contract_checks():
    summary = validate_plugin(SPEC)
    assert summary["class"] == "LeftToRightSampler" and summary["uses_steps"] is True


def test_example_plugin_runs_through_the_bench_and_its_exact_law_is_right(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["bench", "--preset", "smoke", "--only-plugins", "--languages", "ngram2", "--plugin", SPEC]
    assert main([*args, "--out", str(out), "--workers", "1", "--no-progress", "--no-figures"]) == 0
    assert "cells" in capsys.readouterr().out
    records = json.loads((out / "bench.json").read_text())["records"]
    assert {r["policy"] for r in records} == {"fixed_random", SPEC}
    lang = make_language("ngram2")
    L = exact_length("ngram2")
    log_joint = exact_log_joint(lang, L)
    exact_records = [r for r in records if r["policy"] == SPEC and r["tier"] == "exact"]
    assert {r["steps"] for r in exact_records} == {1, 2, L}
    for rec in exact_records:
        assert rec["exact"]["method"] == "exact kernel" and rec["nfe_mean"] == rec["steps"]
        m = exact_law_metrics(log_joint, left_to_right_law(log_joint, lang.vocab_size, L, rec["steps"]), L)
        for k in ("kl_data_to_sampler", "sequence_error", "total_variation"):
            assert math.isclose(rec["exact"][k], getattr(m, k), rel_tol=1e-9, abs_tol=1e-12), (rec["key"], k)
    assert any(r["exact"]["sequence_error"] > 0 for r in exact_records)  # parallel blocks leave the support
    md = (out / "leaderboard.md").read_text()
    assert "LeftToRightSampler" in md
    board = json.loads((out / "leaderboard.json").read_text())
    assert SPEC in board["verdicts"]
