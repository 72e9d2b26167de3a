"""Command-line entry point ``mdm-suite``.

Sub-commands:

* ``sweep``: metric versus steps over languages, lengths and samplers with the oracle denoiser; writes
  ``<out>/sweep.json`` incrementally (resumable), ``<out>/sweep.csv`` and ``<out>/sweep.png``.
* ``plot``: redraw the figure from an existing ``sweep.json``.
* ``list``: the standard languages and samplers.
* ``bench``: every decoding policy on the standard panel (leaderboard, Pareto fronts; ``sims.bench``).

A sampler that ignores the step count K (adaptive rules, first hitting) is run once per (language,
length), not once per K.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from sims.bench.cli import add_bench_parser, run_bench_command
from sims.plotting import plot_quality_vs_steps
from sims.registry import LANGUAGES, SAMPLERS, make_language
from sims.results import ResultStore
from sims.sweep import SweepConfig, default_device, load_rows, run_sweep


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _names(choices):
    def parse(text: str) -> list[str]:
        names = [v for v in text.split(",") if v]
        bad = [n for n in names if n not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {sorted(choices)}")
        return names

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mdm-suite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sweep", help="quality vs steps with the oracle denoiser")
    s.add_argument("--languages", type=_names(LANGUAGES), default=["ngram2", "hmm"])
    s.add_argument("--lengths", type=_ints, default=[64, 256])
    s.add_argument("--samplers", type=_names(SAMPLERS), default=["ancestral", "fixed_random"])
    s.add_argument("--steps", type=_ints, default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    s.add_argument("--num-samples", type=int, default=256)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default=default_device())
    s.add_argument("--out", type=Path, default=Path("results/sweep"))
    s.add_argument("--no-progress", action="store_true")
    pl = sub.add_parser("plot", help="redraw the figure of a sweep")
    pl.add_argument("results", type=Path)
    pl.add_argument("--out", type=Path, default=None)
    sub.add_parser("list", help="list standard languages and samplers")
    add_bench_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return run_bench_command(args)
    if args.command == "list":
        for name in sorted(LANGUAGES):
            print(f"language {name:26s} {LANGUAGES[name].description}: {make_language(name).describe()}")
        for name in sorted(SAMPLERS):
            entry = SAMPLERS[name]
            uses = "uses K" if entry.uses_steps else "ignores K"
            print(f"sampler  {name:26s} ({uses}) {entry.description}")
        return 0
    if args.command == "plot":
        store = ResultStore(args.results)
        out = args.out or args.results.with_suffix(".png")
        print(plot_quality_vs_steps(load_rows(store), out))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2
    cfg = SweepConfig(
        languages=args.languages,
        lengths=args.lengths,
        samplers=args.samplers,
        steps=args.steps,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    ignoring = [s for s in cfg.samplers if not SAMPLERS[s].uses_steps]
    if ignoring:
        print(f"{', '.join(ignoring)}: ignore K, one cell per (language, length) (key suffix K=ignored)")
    args.out.mkdir(parents=True, exist_ok=True)
    store = run_sweep(cfg, args.out / "sweep.json", progress=not args.no_progress)
    store.write_csv(args.out / "sweep.csv")
    fig = plot_quality_vs_steps(load_rows(store), args.out / "sweep.png")
    print(f"{len(store)} cells in {args.out / 'sweep.json'}; figure {fig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
