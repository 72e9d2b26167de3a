"""Command-line entry point ``mdm-suite``.

Sub-commands:

* ``sweep``: metric versus steps over languages, lengths and samplers with the oracle denoiser; writes
  ``<out>/sweep.json`` incrementally (resumable), ``<out>/sweep.csv`` and ``<out>/sweep.png``. The cells
  run on ``--workers N`` local processes (default: every core), ``--dask`` or ``--slurm``
  (``docs/scale_out.md``); the results are the same bytes whatever runs them.
* ``plot``: redraw the figure from an existing ``sweep.json``.
* ``list``: the standard languages and samplers.
* ``bench``: every decoding policy on the standard panel (leaderboard, Pareto fronts; ``sims.bench``).

A sampler that ignores the step count K (adaptive rules, first hitting) is run once per (language,
length), not once per K.

Exit status: 0 done; 1 some cells failed (each reported with its traceback; the others are stored, and
running the same command again retries only the failed ones); 2 a usage error (a bad flag, a resumed
sweep with other settings, an output another process is writing, a missing or corrupt file), printed
with what to do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sims.bench.cli import add_bench_parser, run_bench_command
from sims.execution import ItemsFailed, add_executor_arguments, make_executor, spec_from_args
from sims.locking import OutputLock
from sims.plotting import plot_quality_vs_steps
from sims.registry import LANGUAGES, SAMPLERS, make_language
from sims.results import ResultStore
from sims.sweep import SweepConfig, check_cells, default_device, load_rows, run_sweep
from sims.validation import InvalidArgumentError, MissingFileError, SuiteError, check_device


def _ints(text: str) -> list[int]:
    """Comma-separated distinct integers >= 1, at least one."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    bad = [v for v in values if v < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {bad}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} lists a value more than once")
    return values


def _names(choices):
    def parse(text: str) -> list[str]:
        names = [v.strip() for v in text.split(",") if v.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"expected at least one name; choose from {sorted(choices)}")
        bad = [n for n in names if n not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {sorted(choices)}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{text!r} lists a name more than once")
        return names

    return parse


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def _device(text: str) -> str:
    try:
        check_device(text)
    except SuiteError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


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
    s.add_argument("--num-samples", type=_count, default=256)
    s.add_argument("--batch-size", type=_count, default=256)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument(
        "--device", type=_device, default=default_device(), help="cpu or cuda (default: cuda if present)"
    )
    s.add_argument("--out", type=Path, default=Path("results/sweep"), help="output folder")
    s.add_argument("--no-progress", action="store_true")
    add_executor_arguments(s)
    pl = sub.add_parser("plot", help="redraw the figure of a sweep")
    pl.add_argument("results", type=Path, help="a sweep.json written by mdm-suite sweep")
    pl.add_argument("--out", type=Path, default=None, help="figure path (.png, .pdf or .svg)")
    sub.add_parser("list", help="list standard languages and samplers")
    add_bench_parser(sub)
    return p


def list_command(args) -> int:
    for name in sorted(LANGUAGES):
        print(f"language {name:26s} {LANGUAGES[name].description}: {make_language(name).describe()}")
    for name in sorted(SAMPLERS):
        entry = SAMPLERS[name]
        uses = "uses K" if entry.uses_steps else "ignores K"
        print(f"sampler  {name:26s} ({uses}) {entry.description}")
    return 0


def plot_command(args) -> int:
    path = args.results
    if not path.is_file():
        raise MissingFileError(
            path, f"{path} does not exist or is not a file; give the sweep.json of a sweep"
        )
    with ResultStore(path, readonly=True) as store:
        rows = load_rows(store)
    if not rows:
        raise InvalidArgumentError(f"{path} holds no cells yet: nothing to plot")
    print(plot_quality_vs_steps(rows, args.out or path.with_suffix(".png")))
    return 0


def sweep_command(args, parser: argparse.ArgumentParser) -> int:
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a folder (the sweep writes sweep.json, .csv, .png)")
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
    cells = check_cells(cfg)
    ignoring = [s for s in cfg.samplers if not SAMPLERS[s].uses_steps]
    if ignoring:
        print(f"{', '.join(ignoring)}: ignore K, one cell per (language, length) (key suffix K=ignored)")
    spec = spec_from_args(args, args.out / "submitit")
    if args.device.startswith("cuda") and spec.kind == "local":
        if spec.workers is None:
            spec.workers = 1
            print("--device cuda: the cells run in this process (--workers 1); pass --workers N to override")
        elif spec.workers > 1:
            print(
                f"warning: --device cuda with --workers {spec.workers}: every worker holds its own CUDA "
                "context on the same GPU; --workers 1 is recommended",
                file=sys.stderr,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    with OutputLock(args.out, directory=True):
        try:
            executor = make_executor(spec, max_items=len(cells))
        except ImportError as exc:  # an optional engine (--dask, --slurm) that is not installed
            raise InvalidArgumentError(str(exc)) from exc
        with executor:
            store = run_sweep(cfg, args.out / "sweep.json", progress=not args.no_progress, executor=executor)
        store.write_csv(args.out / "sweep.csv", sort_keys=True)  # any executor: same bytes
        fig = plot_quality_vs_steps(load_rows(store), args.out / "sweep.png")
    print(f"{len(store)} cells in {args.out / 'sweep.json'}; figure {fig}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            return run_bench_command(args)
        if args.command == "list":
            return list_command(args)
        if args.command == "plot":
            return plot_command(args)
        return sweep_command(args, parser)
    except ItemsFailed as exc:
        report = exc.report
        print(report.failure_report(), file=sys.stderr)
        print(
            f"mdm-suite: {len(report.failures)} cell(s) failed (tracebacks above); the other cells are "
            f"stored; run the same command again to retry the failed ones",
            file=sys.stderr,
        )
        return 1
    except SuiteError as exc:
        print(f"mdm-suite {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
