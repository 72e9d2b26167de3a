"""Generated blocks of ``docs/sampler_performance.md``: the sampler benchmark (issue 11, item 3).

Every number comes from ``benchmarks/results/bench_samplers.json`` (committed), written by
``benchmarks/bench_samplers.py --json`` (each mode merges its part: the grid rows, ``--confidence`` and
``--faults``). ``python -m paper_repro`` (or :func:`paper_repro.ledger.publish.refresh_docs`) rewrites the
blocks; ``tests/paper_repro/test_docs_numbers.py`` compares them with the file. Timings are CPU seconds of
one thread on a shared machine; the full path is timed over a few steps and extrapolated (``~``).
The issue's targets are shown against the measurements in the ``targets`` block (no claims: a target is a
goal of the code, not a statement of a paper).
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger.data import MissingFigureData
from sims.results import read_json

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "bench_samplers.json"
#: The issue's targets: (language, sampler, B, L, K) -> least ratio full / incremental in the same run.
GRID_TARGETS = {
    ("bigram", "fixed_random", 256, 4096, 4096): 1000.0,
    ("hmm64", "fixed_random", 64, 4096, 4096): 20.0,
}
#: Full-pass rule (fixed_max_prob at (256, 1024, K = 64)): least ratio baseline CPU / this tree CPU.
CONFIDENCE_TARGET = 2.0


def bench(_data=None) -> dict:
    """The committed sampler benchmark (MissingFigureData when absent)."""
    if not BENCH.exists():
        raise MissingFigureData(
            f"{BENCH} does not exist; run `python benchmarks/bench_samplers.py --json {BENCH}`"
        )
    return read_json(BENCH)


def _rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else (f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}")


def _bytes(x: int) -> str:
    return f"{x / 2**30:.2f} GiB" if x >= 2**30 else f"{x / 2**20:.0f} MiB"


def _ratio(x: float) -> str:
    return f"x{x:.0f}" if x >= 10 else f"x{x:.2g}"


def _gemm(r: dict) -> tuple[str, str]:
    """GEMM fractions of one row against the GEMM rate measured in the row's own run (incremental: evidence
    tree only; the nearest-neighbour engine is a few gathers per step, with no meaningful rate)."""
    peak = r["gemm_flops_at_run"]
    full = 4 * r["B"] * (r["L"] - 1) * r["states"] ** 2 / r["full_step_s"] / peak
    inc = r.get("incremental_gemm_fraction")
    return ("n/a" if inc is None else f"{100 * inc:.1f}%"), f"{100 * full:.1f}%"


def _engine(r: dict) -> str:
    """The engine; pinned walks (n-grams) with the step from which they replace the tree."""
    if "walk_from" in r:
        return f"{r['engine']}, pinned walks from step {r['walk_from']}"
    return r["engine"]


def _auto_agreement(rows: list[dict]) -> str:
    """How often ``auto`` took the path that measured faster (rows with a clear winner: ratio outside
    [2/3, 3/2])."""
    clear = [r for r in rows if "auto_path" in r and not 2 / 3 <= r["ratio"] <= 1.5]
    right = sum((r["auto_path"] == "incremental") == (r["ratio"] > 1) for r in clear)
    return f"`auto` took the measured faster path on {right} of the {len(clear)} rows with a clear winner."


def _model(r: dict) -> str:
    m = r.get("model_ratio")
    return "n/a" if m is None else _ratio(m)


def grid_block(_data=None) -> str:
    b = bench()
    rates = [r["gemm_flops_at_run"] / 1e9 for r in b["rows"]]
    lines = [
        f"`benchmarks/results/{BENCH.name}`: torch {b.get('torch', '?')}, one thread; GEMM % against the float64 "
        f"1024^3 GEMM rate of each row's run ({min(rates):.1f} to {max(rates):.1f} GFLOP/s, CPU time). `~` = extrapolated (full path: always, from the steps timed; "
        "incremental: from construction plus the first steps, when a whole run exceeds the budget). `model` = the "
        "`auto` rule's predicted full / tree ratio (`sims.inference.scheduled.predicted_speedup`: multiply-adds per "
        "row and step times the calibrated tree efficiency; the tree is taken at >= 1; n/a for the nearest-neighbour "
        f"engine, which is always taken). {_auto_agreement(b['rows'])}",
        "",
        "| language | sampler | (B, L, K) | engine | incremental tok/s | full tok/s | full / incremental | model"
        " | `auto` takes | full steps timed | peak mem inc / full | GEMM % inc / full |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in b["rows"]:
        inc_g, full_g = _gemm(r)
        tilde = "~" if r["incremental_extrapolated"] else ""
        lines.append(
            f"| {r['language']} | {r['sampler']} | ({r['B']}, {r['L']}, {r['K']}) | {_engine(r)} | "
            f"{tilde}{_rate(r['incremental_tokens_per_s'])} | ~{_rate(r['full_tokens_per_s'])} | "
            f"{_ratio(r['ratio'])} | {_model(r)} | {r.get('auto_path', '—')} | {len(r['full_steps_timed'])} of {r['K']} | "
            f"{_bytes(r['incremental_peak_bytes'])} / {_bytes(r['full_peak_bytes'])} | {inc_g} / {full_g} |"
        )
    return "\n".join(lines)


def full_pass_block(_data=None) -> str:
    b = bench()
    lines = []
    conf = b.get("confidence")
    if conf:
        by = {(r["tree"], r["language"]): r for r in conf}
        label = b.get("confidence_baseline", "baseline")
        lines += [
            f"Full-pass rule `FixedCountSampler(64, score='max_prob')` at (256, 1024, K = 64), one whole run per "
            f"tree in a fresh process, best of the runs; baseline: {label}.",
            "",
            "| language | baseline CPU s | this tree CPU s | ratio (CPU) | ratio (wall) | same sum of tokens |",
            "|---|---|---|---|---|---|",
        ]
        for lang in dict.fromkeys(r["language"] for r in conf):
            a, t = by.get(("baseline", lang)), by[("this tree", lang)]
            if a is None:
                lines.append(f"| {lang} | — | {t['cpu']:.1f} | — | — | — |")
                continue
            same = "yes" if a["tokens"] == t["tokens"] else "no"
            lines.append(
                f"| {lang} | {a['cpu']:.1f} | {t['cpu']:.1f} | x{a['cpu'] / t['cpu']:.2f} | "
                f"x{a['wall'] / t['wall']:.2f} | {same} |"
            )
    faults = b.get("faults")
    if faults:
        lines += [
            "",
            "| one oracle call (256, 1024, S = 16), mean of 5 | minor page faults | user CPU s | system CPU s |",
            "|---|---|---|---|",
        ]
        for r in faults:
            name = "`keep_freed_memory`" if r["keep_freed_memory"] else "glibc defaults"
            lines.append(f"| {name} | {r['minor_faults']:.0f} | {r['user_s']:.3f} | {r['sys_s']:.3f} |")
    return "\n".join(lines).strip() or "No full-pass measurement in the committed results."


def targets_block(_data=None) -> str:
    """The issue's targets against the measured ratios (``not measured`` when the file lacks the row)."""
    b = bench()
    rows = {(r["language"], r["sampler"], r["B"], r["L"], r["K"]): r for r in b["rows"]}
    lines = ["| target | measured | met |", "|---|---|---|"]
    for key, least in GRID_TARGETS.items():
        name = f"{key[1]} on {key[0]} at ({key[2]}, {key[3]}, K = {key[4]}): full / incremental >= {least:g}"
        r = rows.get(key)
        if r is None:
            lines.append(f"| {name} | not measured | — |")
            continue
        tilde = "~" if r["incremental_extrapolated"] else ""
        lines.append(f"| {name} | {tilde}{_ratio(r['ratio'])} | {'yes' if r['ratio'] >= least else 'no'} |")
    by = {(r["tree"], r["language"]): r for r in b.get("confidence", [])}
    for lang in dict.fromkeys(r["language"] for r in b.get("confidence", [])):
        name = f"`fixed_max_prob` on {lang} at (256, 1024, K = 64): baseline / this tree >= {CONFIDENCE_TARGET:g}"
        if ("baseline", lang) not in by:
            lines.append(f"| {name} | not measured | — |")
            continue
        ratio = by[("baseline", lang)]["cpu"] / by[("this tree", lang)]["cpu"]
        lines.append(f"| {name} | x{ratio:.2f} (CPU) | {'yes' if ratio >= CONFIDENCE_TARGET else 'no'} |")
    return "\n".join(lines)


CLAIMS: list = []

DOC_BLOCKS = {
    "sampler_speed.grid": grid_block,
    "sampler_speed.full_pass": full_pass_block,
    "sampler_speed.targets": targets_block,
}
