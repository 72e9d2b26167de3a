"""Sparse token-chain oracle against the peer's design and the dense engine, measured in the same run.

    python benchmarks/bench_sparse.py --quick     # a few minutes
    python benchmarks/bench_sparse.py             # (B, L) = (256, 1024) at V = 4096, K = 64 and V = 27
    python benchmarks/bench_sparse.py --markdown docs/data/bench_sparse.json   # the docs table

Configurations (the grid of Tang et al., arXiv 2602.19619, code LuhanTang/dllm_sampler):

* ``V4096_K64``: a first-order chain over V = 4096 tokens with top-64 rows plus a rank-1 teleport. By
  default the fitted corpus language ``stdlib_bpe4k2_eps`` (BPE-4096 on the Python standard library,
  top-64, teleport 1e-4 towards the unigram law: the peer's OpenWebText recipe on our corpus; fitted on
  first use, then cached); ``--language random`` uses a random chain of the same shape.
* ``V27_dense``: a dense first-order chain over V = 27 tokens (K = V, no teleport: the peer's text8
  shape), random Dirichlet(0.5) rows.

Inputs: B sequences sampled from the language, each row masked with its own rate drawn from U(0, 1)
(the states a random-order sampler passes through, from all masked to all revealed); the sparse engine
is also timed on all-masked rows and on rows with half of the positions masked. Every method computes the
token posteriors ``(B, L, V)`` (float64 unless stated) of all positions.

Methods:

* ``sparse``: the suite's oracle (``token_posteriors``, ``method="auto"`` = the sparse engine,
  :mod:`sims.inference.sparse`), float64; ``sparse_f32``: the same in float32 (certified; uncertified
  rows redone in float64).
* ``peer_ref``: a straightforward sequential log-domain forward-backward over all positions in the
  peer's style, written here (:func:`peer_style_posteriors`): forward by exponentiating the previous log
  message and scattering it along the K out-edges (``scatter_add``), backward by gathering the K
  successors and a log-sum-exp, the teleport as one log-sum-exp per step; O(B L V K); float64 (the peer
  stores fp16 and computes fp32).
* ``dense``: the suite's dense scaled engine (:mod:`sims.inference.scaled`) on the same language written
  as a dense order-2 n-gram (O(B L V^2)).

At V = 4096 the slow methods run on the first ``--ref-rows`` / ``--dense-rows`` rows only (one chunk;
their time is proportional to the number of chunks and independent of the masks, so tokens/s is their
throughput); all methods process rows in chunks of ``--chunk`` (the dense engine's throughput grows with
the rows per call: 51, 80 and 92 tokens/s at 8, 16 and 32 rows, so it is timed at the full chunk). Each method runs in a fresh process (spawn): the peak
memory is the peak resident set during the timed calls minus the resident set before them (Linux
``/proc/self/clear_refs``), or ``torch.cuda.max_memory_allocated`` on a GPU. Time: best of ``--repeats``
for the sparse engine, one run for the others. Accuracy: largest |difference| of token probabilities
to ``sparse`` (float64) on the rows both computed. Threads: ``--threads`` (default 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import multiprocessing as mp
import platform
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sims.categorical import make_generator
from sims.inference import token_posteriors
from sims.inference.chain import SparseTokenTransition
from sims.inference.scaled import token_posteriors_scaled
from sims.languages import random_sparse_bigram
from sims.languages.corpus import corpus_language
from sims.results import atomic_write_text

SEED = 123
CHECK_ROWS = 2  # rows whose probabilities are compared across methods


# ---- the reference column: the peer's design, written here -----------------------------------------
def _log_phi(col: torch.Tensor, V: int, dtype) -> torch.Tensor:
    """Hard evidence of one position: 0 everywhere for a mask, 0 at the token and -inf elsewhere."""
    out = torch.zeros((col.shape[0], V), dtype=dtype, device=col.device)
    rev = col < V
    out[rev] = -math.inf
    out[rev, col[rev]] = 0.0
    return out


def peer_style_posteriors(
    tr: SparseTokenTransition, tokens: torch.Tensor, dtype=torch.float64
) -> torch.Tensor:
    """Sequential log-domain forward-backward over all L positions, O(B L V K) (module docstring)."""
    B, L = tokens.shape
    V = tr.indices.shape[0]
    idx = tr.indices
    vals = tr.values.to(dtype)
    log_vals = torch.log(vals)
    flat_idx = idx.reshape(1, -1).expand(B, -1)
    lam, nu = tr.teleport_weight.to(dtype), tr.teleport.to(dtype)
    log_lam, log_nu = torch.log(lam), torch.log(nu)
    log_alpha = torch.empty((B, L, V), dtype=dtype, device=tokens.device)
    a = torch.log(tr.initial.to(dtype)) + _log_phi(tokens[:, 0], V, dtype)
    log_alpha[:, 0] = a - torch.logsumexp(a, 1, keepdim=True)
    for t in range(1, L):
        p = torch.exp(log_alpha[:, t - 1])
        s = torch.zeros((B, V), dtype=dtype, device=tokens.device)
        s.scatter_add_(1, flat_idx, (p.unsqueeze(-1) * vals).reshape(B, -1))
        s += (p @ lam).unsqueeze(1) * nu  # the rank-1 teleport
        a = torch.log(s) + _log_phi(tokens[:, t], V, dtype)
        log_alpha[:, t] = a - torch.logsumexp(a, 1, keepdim=True)
    out = torch.empty_like(log_alpha)
    log_beta = torch.zeros((B, V), dtype=dtype, device=tokens.device)
    out[:, L - 1] = log_alpha[:, L - 1]
    for t in range(L - 2, -1, -1):
        log_w = _log_phi(tokens[:, t + 1], V, dtype) + log_beta
        log_a = torch.logsumexp(log_vals + log_w[:, idx], 2)  # (B, V, K) gather
        log_c = torch.logsumexp(log_nu + log_w, 1, keepdim=True)
        log_beta = torch.logaddexp(log_a, log_lam + log_c)
        log_beta = log_beta - torch.logsumexp(log_beta, 1, keepdim=True)
        post = log_alpha[:, t] + log_beta
        out[:, t] = post - torch.logsumexp(post, 1, keepdim=True)
    return out


# ---- set-up shared by all processes --------------------------------------------------------------------
def build_language(config: str, source: str):
    if config == "V27_dense":
        return random_sparse_bigram(27, 27, teleport=0.0, concentration=0.5, seed=0)
    if source == "random":
        return random_sparse_bigram(4096, 64, teleport=1e-4, concentration=0.5, seed=0)
    return corpus_language("stdlib_bpe4k2_eps").language


def build_inputs(lang, rows: int, length: int, masks: str) -> torch.Tensor:
    g = make_generator(SEED)
    x = lang.sample(rows, length, g)
    V = lang.vocab_size
    if masks == "all":
        return torch.full_like(x, V)
    rate = (
        torch.full((rows, 1), 0.5)
        if masks == "half"
        else torch.rand((rows, 1), generator=g, dtype=torch.float64)
    )
    return torch.where(torch.rand((rows, length), generator=g, dtype=torch.float64) < rate, V, x)


def _rss_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def run_task(task: dict) -> dict:
    """One method on one configuration, in a fresh process (module docstring)."""
    torch.set_num_threads(task["threads"])
    device = torch.device(task["device"])
    lang = build_language(task["config"], task["source"]).to(device)
    # inputs for all B rows, then the first ``rows`` (so every method sees the same first rows)
    x = build_inputs(lang, task["batch"], task["length"], task["masks"])[: task["rows"]].to(device)
    method, chunk = task["method"], task["chunk"]
    chain = lang.chain()
    if method == "dense":
        dense_chain = lang.to_dense().chain()

    def call(rows: torch.Tensor) -> torch.Tensor:
        if method == "sparse":
            return token_posteriors(chain, rows).log_probs
        if method == "sparse_f32":
            return token_posteriors(chain, rows, precision="float32").log_probs
        if method == "peer_ref":
            return peer_style_posteriors(lang.tr, rows)
        if method == "dense":
            return token_posteriors_scaled(dense_chain, rows).log_probs
        raise ValueError(method)

    call(x[:1, : min(8, x.shape[1])])  # one-time set-up (sparse operators, dense matrix) outside the timing
    cuda = device.type == "cuda"
    best, check = math.inf, None
    for _ in range(task["repeats"]):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident set
            base = _rss_kib("VmRSS") * 1024
        t0 = time.perf_counter()
        for s in range(0, x.shape[0], chunk):
            out = call(x[s : s + chunk])
            if s == 0:
                check = torch.exp(out[:CHECK_ROWS]).to("cpu", torch.float64).clone()
            del out
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        peak = (torch.cuda.max_memory_allocated() if cuda else _rss_kib("VmHWM") * 1024) - base
    return {
        **task,
        "seconds": best,
        "tokens_per_second": x.numel() / best,
        "peak_bytes": peak,
        "check": check,
    }


def run_isolated(task: dict) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(run_task, (task,))


def markdown_table(data: dict) -> str:
    """The benchmark table of docs/corpus_languages.md from a JSON file written by this script."""
    lines = [
        "| config | method | masks | rows timed | tokens/s | x peer_ref | x dense | peak MiB | max abs dp |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        lines.append(
            f"| {r['config']} | {r['method']} | {r['masks']} | {r['rows']} | {r['tokens_per_second']:.1f} | "
            f"{r['ratio_vs_peer_ref']:.2f} | {r['ratio_vs_dense']:.2f} | {r['peak_bytes'] / 2**20:.0f} | "
            f"{r['max_abs_diff_vs_sparse']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="B = 32, L = 256 (a few minutes)")
    p.add_argument(
        "--language", choices=("corpus", "random"), default="corpus", help="source of the V=4096 chain"
    )
    p.add_argument("--rows", type=int, help="B (default 256, quick 32)")
    p.add_argument("--length", type=int, help="L (default 1024, quick 256)")
    p.add_argument("--chunk", type=int, default=32, help="rows per engine call")
    p.add_argument("--ref-rows", type=int, help="rows timed for peer_ref at V = 4096 (default 32, quick 8)")
    p.add_argument("--dense-rows", type=int, help="rows timed for dense at V = 4096 (default 32, quick 4)")
    p.add_argument("--repeats", type=int, default=1, help="repeats of the sparse engine (best of)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=Path("results/bench_sparse.json"))
    p.add_argument("--markdown", type=Path, help="print the Markdown table of an earlier JSON file and exit")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(args.markdown.read_text())))
        return
    B = args.rows or (32 if args.quick else 256)
    L = args.length or (256 if args.quick else 1024)
    ref_rows = args.ref_rows or (8 if args.quick else 32)
    dense_rows = args.dense_rows or (4 if args.quick else 32)
    base = {"batch": B, "length": L, "chunk": args.chunk, "threads": args.threads, "device": args.device}
    base["source"] = args.language
    plan = []
    for config in ("V4096_K64", "V27_dense"):
        small = config == "V27_dense"
        plan += [
            {"config": config, "method": "sparse", "masks": "uniform", "rows": B, "repeats": args.repeats},
            {"config": config, "method": "sparse", "masks": "all", "rows": B, "repeats": args.repeats},
            {"config": config, "method": "sparse", "masks": "half", "rows": B, "repeats": args.repeats},
            {
                "config": config,
                "method": "sparse_f32",
                "masks": "uniform",
                "rows": B,
                "repeats": args.repeats,
            },
            {"config": config, "method": "peer_ref", "masks": "uniform", "rows": B if small else ref_rows},
            {"config": config, "method": "dense", "masks": "uniform", "rows": B if small else dense_rows},
        ]
    results = []
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}, "
        f"device {args.device}, B = {B}, L = {L}, chunk {args.chunk}"
    )
    header = f"{'config':10s} {'method':11s} {'masks':8s} {'rows':>5s} {'tok/s':>11s} {'x peer_ref':>10s} "
    print(header + f"{'x dense':>9s} {'peak MiB':>9s} {'max|dp|':>9s}")
    ref_check: dict = {}
    for task in plan:
        r = run_isolated({**base, "repeats": 1, **task})
        key = (r["config"], r["masks"])
        if r["method"] == "sparse":
            ref_check[key] = r["check"]
        results.append(r)
        same = [q for q in results if q["config"] == r["config"]]
        tps = {q["method"]: q["tokens_per_second"] for q in same if q["masks"] == "uniform"}
        base_check = ref_check.get(key)
        diff = float((r["check"] - base_check).abs().max()) if base_check is not None else math.nan
        r["max_abs_diff_vs_sparse"] = diff
        r.pop("check")
        vs_ref = r["tokens_per_second"] / tps["peer_ref"] if "peer_ref" in tps else math.nan
        vs_dense = r["tokens_per_second"] / tps["dense"] if "dense" in tps else math.nan
        print(
            f"{r['config']:10s} {r['method']:11s} {r['masks']:8s} {r['rows']:5d} {r['tokens_per_second']:11.1f} "
            f"{vs_ref:10.2f} {vs_dense:9.2f} {r['peak_bytes'] / 2**20:9.1f} {diff:9.2e}",
            flush=True,
        )
    # ratios of every row against the methods measured later in the same run
    for r in results:
        tps = {
            q["method"]: q["tokens_per_second"]
            for q in results
            if q["config"] == r["config"] and q["masks"] == "uniform"
        }
        r["ratio_vs_peer_ref"] = r["tokens_per_second"] / tps["peer_ref"]
        r["ratio_vs_dense"] = r["tokens_per_second"] / tps["dense"]
    print("\nratios against methods timed later in the same run:")
    for r in results:
        print(
            f"{r['config']:10s} {r['method']:11s} {r['masks']:8s} x peer_ref {r['ratio_vs_peer_ref']:8.2f} "
            f"x dense {r['ratio_vs_dense']:8.2f}"
        )
    meta = {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "device": args.device,
        "rows": B,
        "length": L,
        "language_source": args.language,
        "quick": args.quick,
    }
    atomic_write_text(args.json, json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
