"""Throughput of whole sampler runs: the incremental oracle path against the full-recompute path.

    python benchmarks/bench_samplers.py --quick          # small grid, a few minutes
    python benchmarks/bench_samplers.py                  # the issue's grid (long; see --budget)
    python benchmarks/bench_samplers.py --confidence     # full-pass rule (fixed_max_prob), this tree only
    python benchmarks/bench_samplers.py --confidence --baseline /path/to/other/tree   # and that tree
    python benchmarks/bench_samplers.py --faults         # page faults of one oracle call, allocator off/on
    python benchmarks/bench_samplers.py --grid 256x4096x4096 --languages bigram --samplers fixed_random

``--json PATH`` merges the run's part into PATH (grid rows by (language, sampler, B, L, K); the
``--confidence`` and ``--faults`` parts whole). The committed ``benchmarks/results/bench_samplers.json``
feeds the generated blocks of ``docs/sampler_performance.md``
(:mod:`paper_repro.ledger.claims_sampler_speed`; rewritten by ``python -m paper_repro``).

For each language (bigram and trigram over V = 8 with 4 successors per context, random HMMs with S = 16
and S = 64 hidden states over V = 16, Dirichlet(1) rows, and an automaton language: balanced brackets of
depth at most 8, ``dyck8``, whose lifted chain has 20 states and its acceptance on the last node), each
(B, L, K) and each value-independent
sampler (fixed-count random order, ancestral), the same seeded run on both paths of
:mod:`sims.sampling.scheduled`:

* ``incremental``: the oracle's scheduled session (what ``oracle_path="auto"`` takes), cold (the chain's
  cached tables are cleared first). The whole run is timed when a probe predicts that it fits
  ``--budget`` seconds; otherwise the session's construction plus ``--probe`` steps extrapolated linearly
  to K steps (marked ``~``).
* ``full``: the full forward-backward at every step (``oracle_path="full"``), timed through the public
  step API at steps k = 0, K/2 and K-1, each started from the same run's state at that step (the two
  paths are identical given the seed, so the incremental run's tokens give the full path's states), and
  extrapolated to K steps (always marked ``~``: a full run at these sizes takes hours).

Times are CPU seconds of this process (``time.process_time``, user + system, single-threaded), so the
ratios stay meaningful on a loaded machine. Columns: tokens/s (B*L / run time), the ratio full time / incremental time (same run, same machine
state), the peak resident memory added by each path (VmHWM, reset before each measurement), and for the
evidence-tree path the fraction of this machine's float64 GEMM rate (measured in the same run) achieved by
its block and tree products (ceil(b/g) - 1 + log2(n/b) products of S x S matrices per revealed token, g the
factors per chunk-table entry; none for rows where pinned walks replace the tree); the
nearest-neighbour path is a few gathers per step (dispatch-bound: no meaningful rate), the full path's
``4 B (L-1) S^2`` multiply-adds per step against the same GEMM rate. Single-threaded.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import ctypes
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sims.categorical import make_generator, sample_from_log_probs
from sims.denoisers.oracle import OracleDenoiser
from sims.inference.evidence_tree import DEFAULT_TREE_BYTES
from sims.inference.incremental import position_layout
from sims.inference.scheduled import predicted_speedup
from sims.inference.separable import pinned_states
from sims.languages.formal import dyck_language
from sims.languages.random import random_hmm, random_ngram
from sims.results import read_json, write_json
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.scheduled import AUTO_MIN_LENGTH

#: Seconds of this process's CPU time (user + system): on a shared machine this is what a run costs, while
#: wall time also counts the time other jobs held the cores.
CLOCK = time.process_time
GRID = [(256, 1024, 1024), (256, 4096, 4096), (64, 4096, 64), (64, 4096, 4096)]
QUICK_GRID = [(64, 1024, 1024), (64, 1024, 64)]
LANGUAGES = {
    "bigram": lambda: random_ngram(2, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
    "trigram": lambda: random_ngram(3, 8, concentration=0.5, support_size=4, seed=0),
    "hmm16": lambda: random_hmm(num_states=16, vocab_size=16, seed=0),
    "hmm64": lambda: random_hmm(num_states=64, vocab_size=16, seed=0),
    "dyck8": lambda: dyck_language(8),
}
#: How the oracle answers impossible evidence: the minimum-violation fallback where the language has one
#: (n-grams, HMMs); automaton languages have none (their zeros are the automaton's, not smoothable tables).
ON_IMPOSSIBLE = {"dyck8": "uniform"}
SAMPLERS = {
    "fixed_random": lambda K, path: FixedCountSampler(K, oracle_path=path),
    "ancestral": lambda K, path: AncestralSampler(K, oracle_path=path),
}


def gemm_flops(n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` float64 FLOP/s of one n x n x n matmul, in CPU time (like every time here)."""
    a, b = torch.rand((n, n), dtype=torch.float64), torch.rand((n, n), dtype=torch.float64)
    best = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        a @ b
        best = min(best, CLOCK() - t0)
    return 2 * n**3 / best


# ---- memory -------------------------------------------------------------------------------------------
def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> int:
    """Hand freed memory back to the OS (the oracle raises glibc's trim threshold, so freed blocks would
    otherwise stay resident and hide the next phase's peak), reset the peak-RSS mark (Linux
    ``clear_refs``); returns the current RSS."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status("VmRSS:")


def peak_since(base: int) -> int:
    return max(0, _status("VmHWM:") - base)


# ---- timing -------------------------------------------------------------------------------------------
def probe_incremental(sampler, oracle, B, L, steps):
    """CPU seconds of the session's construction (cold: the chain's cached tables are cleared first) and
    of its first ``steps`` steps (query, draw, reveal)."""
    oracle.language.chain().engine_cache.clear()
    g = make_generator(0)
    t0 = CLOCK()
    sched = sampler.reveal_schedule(B, L, g)
    K = sampler.num_steps(L)
    sess = oracle.scheduled_session(sched, K)
    t1 = CLOCK()
    for k in range(min(steps, K)):
        q = sess.query(k)
        if q.rows.numel():
            sess.reveal(sample_from_log_probs(q.log_probs, g))
    return t1 - t0, CLOCK() - t1, sess


def full_step_seconds(sampler, oracle, schedule, states, steps):
    """Mean seconds of full-path steps k (public step API) started from the run's state at each k."""
    B, L = schedule.shape
    total = 0.0
    for k in steps:
        state = sampler.begin(oracle, B, L, torch.device("cpu"))
        state.extra["schedule"] = schedule
        state.x = states(k)
        t0 = CLOCK()
        sampler.step(state, k, make_generator(k))
        total += CLOCK() - t0
    return total / len(steps)


def auto_path(lang_name: str, B: int, L: int, K: int) -> str:
    """The path ``oracle_path="auto"`` takes for this case (the oracle's cost model; no timing)."""
    oracle = OracleDenoiser(
        LANGUAGES[lang_name](), on_impossible=ON_IMPOSSIBLE.get(lang_name, "min_violation")
    )
    return "incremental" if L >= AUTO_MIN_LENGTH and oracle.prefers_scheduled_session(B, L, K) else "full"


def model_ratio(lang_name: str, B: int, L: int, K: int) -> float | None:
    """The cost model's predicted full / evidence-tree time for this case
    (:func:`sims.inference.scheduled.predicted_speedup`), or None where the tree is not the engine."""
    layout = position_layout(LANGUAGES[lang_name]().chain(), L)
    if layout is None or pinned_states(layout) is not None:
        return None
    return predicted_speedup(layout, B, L, K, DEFAULT_TREE_BYTES)


def measure(lang_name, sampler_name, B, L, K, budget, probe, full_steps, peak_flops):
    lang = LANGUAGES[lang_name]()
    oracle = OracleDenoiser(lang, on_impossible=ON_IMPOSSIBLE.get(lang_name, "min_violation"))
    inc = SAMPLERS[sampler_name](K, "incremental")
    base = reset_peak()
    t_build, t_probe, sess = probe_incremental(inc, oracle, B, L, probe)
    mem_inc = peak_since(base)
    est = t_build + t_probe / min(probe, K) * K
    engine = sess.engine
    b, g = getattr(sess, "b", None), getattr(sess, "g", 1)
    walk_from = getattr(sess, "walk_from", None)  # pinned walks (n-grams): from this step on, no tree
    del sess
    schedule = inc.reveal_schedule(B, L, make_generator(0))  # the run's schedule (first draw of seed 0)
    if est <= budget:
        lang.chain().engine_cache.clear()  # cold: the run pays for the chain's tables
        base = reset_peak()
        t0 = CLOCK()
        res = inc.sample(oracle, B, L, make_generator(0), batch_size=B)
        t_inc, extrapolated = CLOCK() - t0, False
        mem_inc = max(mem_inc, peak_since(base))
        assert res.conventions["extras"]["oracle_path"] == f"incremental:{engine}"
        assert torch.equal(res.reveal_step, schedule)
        tokens = res.tokens  # the full path's states are the same run's states (seeded identity)
    else:
        t_inc, extrapolated = est, True
        tokens = lang.sample(B, L, make_generator(1))  # K = L here: no row leaves the support anyway
    V = lang.vocab_size
    states = lambda k: torch.where(schedule < k, tokens, torch.full_like(tokens, V))  # noqa: E731
    ks = sorted({0, K // 2, K - 1})[:full_steps] if full_steps < 3 else sorted({0, K // 2, K - 1})
    base = reset_peak()
    per_step = full_step_seconds(SAMPLERS[sampler_name](K, "full"), oracle, schedule, states, ks)
    mem_full = peak_since(base)
    t_full = per_step * K
    S = lang.chain().num_states
    row = {
        "language": lang_name,
        "sampler": sampler_name,
        "B": B,
        "L": L,
        "K": K,
        "engine": engine,
        "incremental_s": t_inc,
        "incremental_build_s": t_build,
        "incremental_extrapolated": extrapolated,
        "full_s_extrapolated": t_full,
        "full_step_s": per_step,
        "full_steps_timed": ks,
        "ratio": t_full / t_inc,
        "incremental_tokens_per_s": B * L / t_inc,
        "full_tokens_per_s": B * L / t_full,
        "incremental_peak_bytes": mem_inc,
        "full_peak_bytes": mem_full,
        "full_gemm_fraction": 4 * B * (L - 1) * S**2 / per_step / peak_flops,
        "states": S,
        "gemm_flops_at_run": peak_flops,
        "auto_path": auto_path(lang_name, B, L, K),
        "model_ratio": model_ratio(lang_name, B, L, K),
    }
    if walk_from is not None and walk_from < K:
        row["walk_from"] = walk_from  # the tree's flop count does not describe the walks: no GEMM %
    elif engine == "evidence_tree":
        levels = max(0, (-(-(L - 1) // b) - 1).bit_length())
        products = -(-b // g) - 1 + levels  # block from ceil(b / g) table entries, then the path
        row["incremental_gemm_fraction"] = B * L * products * 2 * S**3 / t_inc / peak_flops
    return row


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else (f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}")


def fmt_bytes(x: int) -> str:
    return f"{x / 2**30:.2f} GiB" if x >= 2**30 else f"{x / 2**20:.0f} MiB"


def table(rows: list[dict], peak_flops: float | None = None) -> str:
    out = [
        "| language | sampler | (B, L, K) | engine | incremental tok/s | full tok/s | ratio | peak mem inc / full"
        " | GEMM % inc / full |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if peak_flops is not None:  # recompute the fractions against the given GEMM rate
            S = r["states"]
            r = dict(r)
            r["full_gemm_fraction"] = 4 * r["B"] * (r["L"] - 1) * S**2 / r["full_step_s"] / peak_flops
            if "incremental_gemm_fraction" in r:
                r["incremental_gemm_fraction"] *= r["gemm_flops_at_run"] / peak_flops
        tilde = "~" if r["incremental_extrapolated"] else ""
        gi = f"{100 * r['incremental_gemm_fraction']:.1f}%" if "incremental_gemm_fraction" in r else "n/a"
        out.append(
            f"| {r['language']} | {r['sampler']} | ({r['B']}, {r['L']}, {r['K']}) | {r['engine']} | "
            f"{tilde}{fmt_rate(r['incremental_tokens_per_s'])} | ~{fmt_rate(r['full_tokens_per_s'])} | "
            f"x{r['ratio']:.0f} | {fmt_bytes(r['incremental_peak_bytes'])} / {fmt_bytes(r['full_peak_bytes'])} |"
            f" {gi} / {100 * r['full_gemm_fraction']:.1f}% |"
        )
    return "\n".join(out)


# ---- full-pass rules (no incremental path): this tree vs another tree -----------------------------------
CONFIDENCE_SNIPPET = """
import os, sys, time, json, resource
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, {tree!r})
import torch
torch.set_num_threads(1)
from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.languages.random import random_hmm, random_ngram
from sims.sampling.fixed_count import FixedCountSampler
lang = {{"bigram": lambda: random_ngram(2, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
         "hmm16": lambda: random_hmm(num_states=16, vocab_size=16, seed=0)}}[{lang!r}]()
o = OracleDenoiser(lang, on_impossible="min_violation")
s = FixedCountSampler({K}, score={score!r})
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
res = s.sample(o, {B}, {L}, make_generator(0), batch_size={B})
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
print(json.dumps({{"wall": t1 - t0, "cpu": r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime,
                  "sys": r1.ru_stime - r0.ru_stime, "tokens": res.tokens.sum().item()}}))
"""


FAULTS_SNIPPET = """
import os, sys, time, json, resource
sys.path.insert(0, {tree!r})
import torch
torch.set_num_threads(1)
import sims.denoisers.oracle as oracle_module
from sims.denoisers.oracle import OracleDenoiser
if not {keep}:
    oracle_module.keep_freed_memory = lambda *a, **k: False  # the allocator as glibc sets it
from sims.categorical import make_generator
from sims.languages.random import random_hmm
lang = random_hmm(num_states=16, vocab_size=16, seed=0)
o = OracleDenoiser(lang, on_impossible="min_violation")
g = make_generator(0)
x = lang.sample(256, 1024, g)
x[torch.rand(x.shape, generator=g) < 0.5] = 16
o(x)
r0 = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(5):
    o(x)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"minor_faults": (r1.ru_minflt - r0.ru_minflt) / 5, "user_s": (r1.ru_utime - r0.ru_utime) / 5,
                  "sys_s": (r1.ru_stime - r0.ru_stime) / 5}}))
"""


def fault_rows(tree: str) -> list[dict]:
    """Per oracle call at (256, 1024, 16): minor page faults, user and system CPU seconds, with glibc's
    default allocator thresholds and with :func:`sims.inference.memory.keep_freed_memory`."""
    out = []
    for keep in (False, True):
        proc = subprocess.run(
            [sys.executable, "-c", FAULTS_SNIPPET.format(tree=tree, keep=keep)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append({"keep_freed_memory": keep} | json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def confidence_rows(trees: dict[str, str], B=256, L=1024, K=64, repeats=2, score="max_prob") -> list[dict]:
    """Best-of-``repeats`` wall and CPU time of one full-pass run per (tree, language), interleaved so
    that every tree sees the same machine load; CPU time (user + system) is the robust measure on a
    loaded machine."""
    best: dict = {}
    for _ in range(repeats):
        for lang in ("bigram", "hmm16"):
            for label, tree in trees.items():
                code = CONFIDENCE_SNIPPET.format(tree=tree, lang=lang, B=B, L=L, K=K, score=score)
                proc = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                )
                out = json.loads(proc.stdout.strip().splitlines()[-1])
                key = (label, lang)
                old = best.get(key)
                best[key] = (
                    out
                    if old is None
                    else {k: min(old[k], out[k]) for k in ("wall", "cpu", "sys")} | {"tokens": out["tokens"]}
                )
    return [{"tree": k[0], "language": k[1]} | v for k, v in best.items()]


def measure_in_subprocess(lang, sampler, B, L, K, args, peak) -> dict:
    """:func:`measure` in a fresh process: its peak memory and the chain's caches are its own."""
    cmd = [
        sys.executable,
        __file__,
        "--one",
        f"{lang},{sampler},{B},{L},{K},{peak!r}",
        "--budget",
        str(args.budget),
    ]
    cmd += ["--probe", str(args.probe), "--full-steps", str(args.full_steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"measurement {lang} {sampler} {(B, L, K)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row_key(r: dict) -> tuple:
    return (r["language"], r["sampler"], r["B"], r["L"], r["K"])


def update_results(path: str, **parts) -> dict:
    """Merge ``parts`` into the JSON at ``path`` (written atomically): grid rows replace the stored rows of
    the same (language, sampler, B, L, K), in grid order; other parts replace the stored part."""
    data = read_json(path) if Path(path).exists() else {}
    rows = parts.pop("rows", None)
    if rows is not None:
        merged = {row_key(r): r for r in data.get("rows", [])} | {row_key(r): r for r in rows}
        order = {(B, L, K): i for i, (B, L, K) in enumerate(GRID)}
        data["rows"] = sorted(
            merged.values(),
            key=lambda r: (order.get((r["B"], r["L"], r["K"]), len(order)), r["B"], r["L"], r["K"],
                           list(LANGUAGES).index(r["language"]), r["sampler"]),
        )  # fmt: skip
    data.update(parts)
    write_json(path, data, indent=1)
    return data


def parse_grid(text: str) -> list[tuple[int, int, int]]:
    """``"256x4096x4096,64x4096x64"`` -> [(B, L, K), ...]."""
    out = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SystemExit(f"--grid: expected BxLxK items of positive integers, got {item!r}")
        out.append(tuple(int(p) for p in parts))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--languages", default=",".join(LANGUAGES))
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument(
        "--budget", type=float, default=300.0, help="seconds per incremental run before extrapolating"
    )
    ap.add_argument("--probe", type=int, default=16, help="incremental steps timed before deciding")
    ap.add_argument("--full-steps", type=int, default=3, help="full-path steps timed (k = 0, K/2, K-1)")
    ap.add_argument("--confidence", action="store_true", help="fixed_max_prob at (256, 1024, 64) instead")
    ap.add_argument("--baseline", default=None, help="another source tree for the --confidence comparison")
    ap.add_argument("--baseline-label", default="baseline", help="how the docs name the baseline tree")
    ap.add_argument("--faults", action="store_true", help="page faults of one oracle call, allocator off/on")
    ap.add_argument("--repeats", type=int, default=2, help="--confidence: best of this many runs")
    ap.add_argument(
        "--refresh-auto",
        action="store_true",
        help="recompute auto_path and model_ratio of the rows in --json (the current cost model)",
    )
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # lang,sampler,B,L,K,flops: one row
    ap.add_argument("--grid", default=None, help="BxLxK items, comma-separated (default: the issue's grid)")
    ap.add_argument("--json", default=None, help="merge this run's part into this JSON (atomic)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    here = str(Path(__file__).resolve().parents[1])
    if args.faults:
        rows = fault_rows(here)
        print(json.dumps(rows, indent=1))
        if args.json:
            update_results(args.json, faults=rows)
        return 0
    if args.confidence:
        trees = {"this tree": here} | ({"baseline": args.baseline} if args.baseline else {})
        rows = confidence_rows(trees, repeats=args.repeats)
        print(json.dumps(rows, indent=1))
        if args.baseline:
            by = {(r["tree"], r["language"]): r for r in rows}
            for lang in ("bigram", "hmm16"):
                a, b = by[("baseline", lang)], by[("this tree", lang)]
                same = "same tokens" if a["tokens"] == b["tokens"] else "different tokens"
                print(
                    f"fixed_max_prob {lang} (256, 1024, 64): baseline / this tree = x{a['wall'] / b['wall']:.2f} "
                    f"wall, x{a['cpu'] / b['cpu']:.2f} CPU ({same})"
                )
        if args.json:
            update_results(args.json, confidence=rows, confidence_baseline=args.baseline_label)
        return 0
    if args.refresh_auto:  # the stored rows' automatic choice under the current cost model
        rows = [
            r
            | {
                "auto_path": auto_path(r["language"], r["B"], r["L"], r["K"]),
                "model_ratio": model_ratio(r["language"], r["B"], r["L"], r["K"]),
            }
            for r in read_json(args.json)["rows"]
        ]
        update_results(args.json, rows=rows)
        return 0
    if args.one:
        lang, sampler, B, L, K, peak = args.one.split(",")
        row = measure(
            lang, sampler, int(B), int(L), int(K), args.budget, args.probe, args.full_steps, float(peak)
        )
        print(json.dumps(row))
        return 0
    peak = gemm_flops()
    print(f"float64 GEMM rate (1 thread, this run): {peak / 1e9:.1f} GFLOP/s; load average {os.getloadavg()}")
    rows = []
    grid = parse_grid(args.grid) if args.grid else (QUICK_GRID if args.quick else GRID)
    for B, L, K in grid:
        for lang in args.languages.split(","):
            for sampler in args.samplers.split(","):
                row = measure_in_subprocess(lang, sampler, B, L, K, args, peak)
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
                if args.json:  # after every row: an interrupted run keeps what it measured
                    meta = {"gemm_flops": peak, "load_average": os.getloadavg(), "torch": torch.__version__}
                    update_results(args.json, rows=[row], **meta)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
