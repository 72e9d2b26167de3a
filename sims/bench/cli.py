"""``mdm-suite bench``: every registered policy (and researcher plugins) on the standard panel.

Registered by :mod:`sims.cli` (``add_bench_parser``); the work is :func:`sims.bench.runner.run_bench`.
Examples::

    mdm-suite bench --quick                                   # every registered policy, quick preset
    mdm-suite bench --full --workers 8
    mdm-suite bench --quick --plugin docs/examples/bench_plugin.py:LeftToRightSampler
    mdm-suite bench --quick --plugin my_pkg.sampler:MySampler --only-plugins
    mdm-suite bench --quick --installed-plugins      # every sampler installed under mdm_suite.samplers
    mdm-suite bench --preset smoke --policies fixed_max_prob --languages ngram2,parity
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sims.bench.config import PRESETS, preset_config
from sims.bench.plugins import ENTRY_POINT_GROUP, PluginError, installed_plugins, plugin_spec, validate_plugin
from sims.bench.runner import run_bench
from sims.execution import add_executor_arguments, make_executor, spec_from_args
from sims.registry import LANGUAGES, SAMPLERS
from sims.validation import InvalidArgumentError


def _names(choices):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(v for v in text.split(",") if v)
        bad = [n for n in names if n not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {sorted(choices)}")
        return names

    return parse


def add_bench_parser(sub) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command to ``mdm-suite``'s sub-parsers."""
    b = sub.add_parser(
        "bench",
        help="every decoding policy on the standard panel: leaderboard at matched NFE, Pareto fronts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = b.add_mutually_exclusive_group()
    which.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    which.add_argument("--quick", dest="preset", action="store_const", const="quick", help="= --preset quick")
    which.add_argument("--full", dest="preset", action="store_const", const="full", help="= --preset full")
    b.add_argument(
        "--languages", type=_names(LANGUAGES), default=None, help="comma-separated (default: the panel)"
    )
    b.add_argument(
        "--policies", type=_names(SAMPLERS), default=None, help="registered policies (default: every one)"
    )
    b.add_argument(
        "--plugin",
        "--sampler",
        dest="sampler",
        action="append",
        default=[],
        metavar="FILE.py:Class|module:Class|NAME",
        help="a researcher's sampler implementing the contract, or the name of an installed entry point of "
        f"group {ENTRY_POINT_GROUP} (repeatable); validated before running",
    )
    b.add_argument(
        "--installed-plugins",
        action="store_true",
        help=f"add every sampler installed under the entry-point group {ENTRY_POINT_GROUP}",
    )
    b.add_argument("--only-plugins", action="store_true", help="run the plugins and the random baseline only")
    b.add_argument("--validate-only", action="store_true", help="check the --sampler plugins and exit")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--device", default="cpu")
    b.add_argument("--out", type=Path, default=Path("results/bench"))
    b.add_argument(
        "--fresh", action="store_true", help="recompute every cell (default: resume finished cells)"
    )
    b.add_argument("--no-figures", action="store_true")
    b.add_argument("--no-progress", action="store_true")
    add_executor_arguments(b)
    return b


def run_bench_command(args: argparse.Namespace) -> int:
    """Run ``mdm-suite bench`` from parsed arguments; returns the exit status."""
    try:
        plugins = [plugin_spec(name) for name in args.sampler]
        if args.installed_plugins:
            plugins += list(installed_plugins().values())
        if args.validate_only:
            for spec in plugins:
                summary = validate_plugin(spec)
                print(f"{spec}: ok ({summary['class']}, uses K: {summary['uses_steps']})")
            return 0
        overrides = {"plugins": tuple(dict.fromkeys(plugins)), "seed": args.seed, "device": args.device}
        if args.languages:
            overrides["languages"] = args.languages
        if args.only_plugins:
            overrides["policies"] = ()
        elif args.policies:
            overrides["policies"] = args.policies
        config = preset_config(args.preset, **overrides)
    except (PluginError, InvalidArgumentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = spec_from_args(args, args.out / "submitit")
    with make_executor(spec) as executor:
        try:
            result = run_bench(
                config,
                args.out,
                executor,
                progress=not args.no_progress,
                resume=not args.fresh,
                figures=not args.no_figures,
            )
        except PluginError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    timing = f"{result.cpu_seconds:.0f} CPU s over the cells, {result.report.wall_seconds:.0f} s wall"
    print(f"{len(result.records)} cells ({timing}); leaderboard {args.out / 'leaderboard.md'}")
    if not result.report.ok:
        print(result.report.failure_report(), file=sys.stderr)
        return 1
    return 0
