"""Throughput of exact posterior marginals (the oracle) against reference implementations.

    python benchmarks/bench_oracle.py --quick            # ~1-2 minutes; writes benchmarks/results/bench_oracle_quick.json
    python benchmarks/bench_oracle.py                    # the full grid (many minutes)
    python benchmarks/bench_oracle.py --crossover        # scan vs sequential crossover table
    python benchmarks/bench_oracle.py --accuracy         # float32 / emulated-TF32 accuracy vs float64

For every (batch B, length L, hidden states S) grid point, a random HMM (Dirichlet(1) rows, V = 16
tokens) and B sequences sampled from it with half of the positions masked; every method computes the
token posterior marginals ``(B, L, V)`` of all positions. Printed per method: wall time (best of
``--repeats``, 2 with ``--quick``; the numpy, hmmlearn and original-torch references run once), tokens/second (B*L/time), the ratio to the straightforward numpy reference and to the
original sequential torch engine measured in the same run, the achieved fraction of this machine's
float64 GEMM throughput (measured in the same run) counting the ``4 B (L-1) S^2`` multiply-adds of the
sequential recursions as useful work (the scan executes ~S/2 times more), and the largest
|difference| of token probabilities to the numpy reference.

Methods: ``numpy_ref`` (benchmarks/reference_numpy.py), ``torch_log`` (the original log-space
sequential engine), ``torch_scaled`` (certified scaled sequential), ``torch_scan`` (parallel scan),
``torch_auto`` (what OracleDenoiser uses), ``hmmlearn_log`` / ``hmmlearn_scaling`` (hmmlearn's C++
forward-backward via ``predict_proba``, masked positions emulated by an extra symbol that every state
emits with probability 1/2, which leaves the posterior unchanged; token projection done in numpy;
skipped when hmmlearn is not installed). All single-threaded.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference_numpy import hmm_token_posteriors
from sims.denoisers.oracle import OracleDenoiser
from sims.inference import forward_backward_log
from sims.inference.linear import linear_transition, min_finite, safe_log_range, state_log_evidence
from sims.inference.scaled import forward_backward_scaled
from sims.inference.scan import downsweeps, forward_backward_scan, upsweep
from sims.inference.select import select_method
from sims.languages.random import random_hmm
from sims.results import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def default_json_path(quick: bool) -> Path:
    """Where a run's JSON goes without ``--json`` (committed; read by the claims ledger)."""
    return RESULTS / ("bench_oracle_quick.json" if quick else "bench_oracle.json")


QUICK_GRID = [(256, 1024, 64), (64, 4096, 16), (64, 1024, 16), (8, 4096, 4), (1, 16384, 8)]
FULL_GRID = [(256, 1024, 64), (64, 16384, 16), (64, 1024, 16), (8, 4096, 4), (1, 16384, 8), (1, 100_000, 4)]
VOCAB = 16


def best_time(fn, repeats: int) -> tuple[float, object]:
    out, best = None, math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def gemm_flops(dtype=torch.float64, n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` FLOP/s of one n x n x n matmul on one thread."""
    a = torch.rand((n, n), dtype=dtype)
    b = torch.rand((n, n), dtype=dtype)
    t, _ = best_time(lambda: a @ b, repeats)
    return 2 * n**3 / t


def make_case(B: int, L: int, S: int, seed: int = 0, sparse: bool = False):
    """Random HMM and masked sequences; ``sparse``: the registry-style HMM (peaked rows, exact zeros)."""
    lang = (
        random_hmm(
            S,
            VOCAB,
            transition_concentration=0.5,
            emission_concentration=0.5,
            transition_support=4,
            emission_support=3,
            seed=seed,
        )
        if sparse
        else random_hmm(S, VOCAB, seed=seed)
    )
    g = torch.Generator().manual_seed(seed)
    # sampling L steps in Python is slow for huge L; a full-support HMM makes every sequence possible,
    # so uniform tokens are valid evidence too (used beyond 20k positions)
    x = lang.sample(B, L, g) if L <= 20_000 else torch.randint(0, VOCAB, (B, L), generator=g)
    x[torch.rand((B, L), generator=g) < 0.5] = VOCAB
    return lang, x


def hmmlearn_methods():
    try:
        from hmmlearn.hmm import CategoricalHMM
    except ImportError:
        return {}

    def run(lang, x, implementation):
        S, V = lang.num_states, lang.vocab_size
        model = CategoricalHMM(n_components=S, n_features=V + 1, implementation=implementation)
        model.startprob_ = lang.initial.numpy()
        model.transmat_ = lang.transition.numpy()
        half = 0.5 * lang.emission.numpy()
        model.emissionprob_ = np.concatenate([half, np.full((S, 1), 0.5)], 1)  # mask symbol = V
        B, L = x.shape
        post = model.predict_proba(x.reshape(-1, 1).numpy(), lengths=[L] * B)  # (B*L, S)
        with np.errstate(divide="ignore"):
            tok = np.log(post @ lang.emission.numpy())
        return tok.reshape(B, L, V)

    return {
        "hmmlearn_log": lambda lang, x: run(lang, x, "log"),
        "hmmlearn_scaling": lambda lang, x: run(lang, x, "scaling"),
    }


def torch_method(method: str):
    def run(lang, x):
        return OracleDenoiser(lang, method=method, chunk_size=10**9).predict(x).log_probs.numpy()

    return run


def numpy_method(lang, x):
    log_tok, _ = hmm_token_posteriors(
        lang.initial.numpy(), lang.transition.numpy(), lang.emission.numpy(), x.numpy()
    )
    return log_tok


def prob_diff(a: np.ndarray, b: np.ndarray, x: torch.Tensor) -> float:
    masked = (x == VOCAB).numpy()
    return float(np.abs(np.exp(a[masked]) - np.exp(b[masked])).max()) if masked.any() else 0.0


def run_grid(grid, repeats: int, peak: float, skip: set[str], max_ref_tokens: int) -> list[dict]:
    methods = {
        "numpy_ref": numpy_method,
        "torch_log": torch_method("log"),
        "torch_scaled": torch_method("scaled"),
        "torch_scan": torch_method("scan"),
        "torch_auto": torch_method("auto"),
        **hmmlearn_methods(),
    }
    rows = []
    for B, L, S in grid:
        lang, x = make_case(B, L, S)
        useful = 2 * 2 * B * (L - 1) * S * S  # multiply-adds x2 of the two sequential passes
        print(f"\n(B, L, S) = ({B}, {L}, {S})   [{B * L} tokens, V = {VOCAB}]", flush=True)
        results, ref_out = {}, None
        for name, fn in methods.items():
            if name in skip:
                continue
            slow_ref = name == "numpy_ref" or name.startswith("hmmlearn")
            if slow_ref and B * L * S * S > max_ref_tokens:
                print(f"  {name:17s} skipped (B*L*S^2 = {B * L * S * S:.2g} > --max-ref-work)", flush=True)
                continue
            if name == "torch_scan" and B * L * S**3 > 16 * max_ref_tokens:
                print(
                    f"  {name:17s} skipped (B*L*S^3 = {B * L * S**3:.2g}: far beyond its crossover)",
                    flush=True,
                )
                continue
            reps = 1 if slow_ref or name == "torch_log" else repeats
            t, out = best_time(lambda fn=fn: fn(lang, x), reps)  # noqa: B023
            if name == "numpy_ref":
                ref_out = out
            results[name] = {
                "time_s": t,
                "tokens_per_s": B * L / t,
                "gemm_fraction": useful / t / peak,
                "max_prob_diff_vs_numpy": None if ref_out is None else prob_diff(out, ref_out, x),
            }
            print(
                f"  {name:17s} {t:9.3f} s  {B * L / t:12.0f} tok/s  "
                f"useful {useful / t / 1e9:7.3f} GFLOP/s = {100 * useful / t / peak:6.3f}% of GEMM",
                flush=True,
            )
        for base in ("numpy_ref", "torch_log"):
            if base in results:
                for r in results.values():
                    r[f"speedup_vs_{base}"] = results[base]["time_s"] / r["time_s"]
        summary = "  ratios (time of reference / time of method): " + ", ".join(
            f"{n}: x{r['speedup_vs_numpy_ref']:.2f} vs numpy"
            for n, r in results.items()
            if "speedup_vs_numpy_ref" in r and n != "numpy_ref"
        )
        if "speedup_vs_numpy_ref" in next(iter(results.values()), {}):
            print(summary)
        if "torch_log" in results:
            print(
                "  vs original torch engine: "
                + ", ".join(
                    f"{n}: x{r['speedup_vs_torch_log']:.2f}" for n, r in results.items() if n != "torch_log"
                )
            )
        diffs = {
            n: r["max_prob_diff_vs_numpy"]
            for n, r in results.items()
            if r["max_prob_diff_vs_numpy"] is not None and n != "numpy_ref"
        }
        if diffs:
            print("  max |p - p_numpy|: " + ", ".join(f"{n}: {d:.1e}" for n, d in diffs.items()))
        rows.append({"batch": B, "length": L, "states": S, "vocab": VOCAB, "methods": results})
    return rows


def run_crossover(repeats: int) -> list[dict]:
    """Time scaled vs scan over (B, S) at L = 2048 and print where the scan wins."""

    L = 2048
    rows = []
    print(f"\nCrossover (L = {L}): time(scaled) / time(scan); > 1 means the scan is faster")
    Ss = [2, 4, 8, 16, 32, 64]
    print("  B \\ S " + "".join(f"{S:>9d}" for S in Ss))
    for B in (1, 4, 16, 64, 256):
        line = f"  {B:5d} "
        for S in Ss:
            lang, x = make_case(B, L, S, seed=1)
            chain = lang.chain()
            ts, _ = best_time(lambda: forward_backward_scaled(chain, x), repeats)  # noqa: B023
            tp, _ = best_time(lambda: forward_backward_scan(chain, x), repeats)  # noqa: B023
            auto = select_method(B, L, S, "cpu")
            rows.append(
                {
                    "batch": B,
                    "length": L,
                    "states": S,
                    "scaled_s": ts,
                    "scan_s": tp,
                    "work": B * S * S * (S + 8),
                    "auto": auto,
                }
            )
            mark = "*" if (tp < ts) != (auto == "scan") else " "
            line += f"{ts / tp:8.2f}{mark}"
        print(line, flush=True)
    print("  (* = the automatic choice picks the slower engine at this point)")
    return rows


def run_upsweep_share(repeats: int) -> list[dict]:
    """Share of the scan's time spent in the up-sweep: the most an incremental update could save."""

    rows = []
    print("\nScan up-sweep share (upper bound on what reusing the tree between sampling steps can save):")
    for B, L, S in [(8, 4096, 4), (4, 4096, 16), (1, 16384, 8)]:
        lang, x = make_case(B, L, S, seed=2)
        chain = lang.chain()
        lin = linear_transition(chain, torch.float64, force_dense=True)
        first, rest = chain.evidence(x)
        ev = state_log_evidence(chain, rest)
        E = torch.exp(ev).transpose(0, 1).contiguous()
        lo0 = (lin.min_log + min_finite(ev)).T
        safe = safe_log_range(torch.float64, S)
        bad = torch.zeros(B, dtype=torch.bool)
        log_a0 = torch.log_softmax(chain.log_initial + first, -1)
        a0, lo_a0 = torch.exp(log_a0), min_finite(log_a0)
        t_up, (levels, _) = best_time(partial(upsweep, lin.dense, E, lo0, bad, safe), repeats)
        t_down, _ = best_time(
            partial(
                downsweeps,
                lin.dense,
                E,
                lo0,
                levels,
                a0,
                lo_a0,
                torch.zeros(B, dtype=torch.float64),
                bad,
                safe,
            ),
            repeats,
        )
        share = t_up / (t_up + t_down)
        rows.append({"batch": B, "length": L, "states": S, "upsweep_s": t_up, "downsweeps_s": t_down})
        print(
            f"  (B, L, S) = ({B}, {L}, {S}): up-sweep {t_up:.3f} s, down-sweeps {t_down:.3f} s "
            f"-> at most x{1 / (1 - share):.2f} from an incremental tree",
            flush=True,
        )
    return rows


def run_accuracy() -> list[dict]:
    """float32 and emulated-TF32 posteriors against float64 (max abs prob error, max log-evidence error)."""

    rows = []
    print(
        "\nReduced-precision accuracy vs float64 (token posteriors of masked positions; random HMMs, "
        "V = 16, half masked; 'sparse' = peaked rows with exact zeros):"
    )
    for B, L, S, sparse in [
        (16, 256, 16, False),
        (16, 4096, 16, False),
        (4, 4096, 64, False),
        (2, 65536, 8, False),
        (16, 4096, 16, True),
    ]:
        lang, x = make_case(B, L, S, seed=3, sparse=sparse)
        chain = lang.chain()
        ref = forward_backward_log(chain, x) if L <= 4096 else forward_backward_scaled(chain, x)
        ref_tok = torch.exp(chain.token_log_marginals(ref.log_gamma, L))
        f32 = {"dtype": torch.float32, "return_stats": True}
        variants = {
            "float32 scan": partial(forward_backward_scan, chain, x, **f32),
            "float32 scaled": partial(forward_backward_scaled, chain, x, **f32),
            "TF32-emulated scan": partial(forward_backward_scan, chain, x, emulate_tf32=True, **f32),
        }
        for name, fn in variants.items():
            post, stats = fn()
            tok = torch.exp(chain.token_log_marginals(post.log_gamma, L))
            masked = x == VOCAB
            err_p = float((tok - ref_tok)[masked].abs().max())
            rel_z = float(((post.log_evidence - ref.log_evidence) / ref.log_evidence).abs().max())
            rows.append(
                {
                    "batch": B,
                    "length": L,
                    "states": S,
                    "sparse": sparse,
                    "variant": name,
                    "max_abs_prob_err": err_p,
                    "max_rel_log_evidence_err": rel_z,
                    "fallback_rows": stats.fallback_rows,
                }
            )
            print(
                f"  (B, L, S) = ({B}, {L}, {S}){' sparse' if sparse else ''} {name:19s}: max |p32 - p64| = {err_p:.1e}, "
                f"max rel. log-evidence error = {rel_z:.1e}, float64 fallback rows = {stats.fallback_rows}",
                flush=True,
            )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small grid (~1-2 minutes)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--crossover", action="store_true", help="also print the scan/sequential crossover")
    p.add_argument("--accuracy", action="store_true", help="also print float32 / TF32 accuracy")
    p.add_argument("--upsweep", action="store_true", help="also print the scan's up-sweep share")
    p.add_argument("--skip", nargs="*", default=[], help="methods to skip")
    p.add_argument(
        "--max-ref-work",
        type=float,
        default=None,
        help="skip the slow references when B*L*S^2 exceeds this (default 3e8 with --quick, else 4e9)",
    )
    p.add_argument(
        "--json",
        type=Path,
        help="write all results to this strict JSON file (default: benchmarks/results/bench_oracle_quick.json "
        "with --quick, benchmarks/results/bench_oracle.json otherwise; the committed files are what "
        "paper_repro/ledger/claims_oracle.py and docs/oracle_performance.md read)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    peak = gemm_flops(torch.float64)
    peak32 = gemm_flops(torch.float32)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
        f"load average at start {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"GEMM throughput (1024^3, best of 5): float64 {peak / 1e9:.1f} GFLOP/s, "
        f"float32 {peak32 / 1e9:.1f} GFLOP/s"
    )
    out = {
        "gemm_float64_flops": peak,
        "gemm_float32_flops": peak32,
        "load_average_start": load,
        "torch": torch.__version__,
        "threads": 1,
    }
    grid = QUICK_GRID if args.quick else FULL_GRID
    repeats = 2 if args.quick else args.repeats
    t0 = time.perf_counter()
    max_ref = args.max_ref_work if args.max_ref_work is not None else (3e8 if args.quick else 4e9)
    out["grid"] = run_grid(grid, repeats, peak, set(args.skip), max_ref)
    if args.crossover:
        out["crossover"] = run_crossover(repeats)
    if args.upsweep:
        out["upsweep"] = run_upsweep_share(repeats)
    if args.accuracy:
        out["accuracy"] = run_accuracy()
    out["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s; load average at end "
        f"{out['load_average_end']:.1f}"
    )
    write_json(args.json or default_json_path(args.quick), out)
    print(f"wrote {args.json or default_json_path(args.quick)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
