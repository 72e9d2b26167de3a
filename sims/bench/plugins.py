"""A researcher's sampler as a bench policy: loading ``file.py:Class`` / ``module:Class`` and checking it.

A plugin is named by a spec ``path/to/file.py:Class`` or ``package.module:Class``, or by the name of an
installed entry point of the group :data:`ENTRY_POINT_GROUP` (a package declares, in its
``pyproject.toml``, ``[project.entry-points."mdm_suite.samplers"] my_policy = "my_pkg.sampler:MySampler"``);
:func:`plugin_spec` turns an entry-point name into its ``module:Class`` spec, so the workers of a bench
load plugins by spec alone.

The plugin is any subclass of :class:`sims.sampling.base.Sampler` (the contract of ``docs/extending.md``):

* constructed as ``Class()`` when it ignores the step count, ``Class(K)`` when its
  ``capabilities.uses_steps`` is True;
* optionally a class method ``bench_grid() -> {label: sampler}``: the knob grid of an adaptive plugin.

:func:`validate_plugin` runs the contract checks before anything is benched (a failing check raises
:class:`PluginError` naming it): the class is a ``Sampler``; ``capabilities`` is a ``Capabilities``;
``conventions()`` is complete and plain JSON; a tiny run (a bigram of 3 tokens, L = 4) ends fully revealed
with at least one counted call per row, and is reproducible from the seed; a declared reveal schedule has
the right shape and range; a declared exact kernel gives a law that sums to one. Example:
``docs/examples/bench_plugin.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import math
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.languages import NGramLanguage
from sims.languages.eos import EOSLanguage
from sims.sampling.base import Capabilities, Conventions, Sampler
from sims.validation import InvalidArgumentError

#: The tiny language of the checks (a sparse 3-token bigram: parallel reveals can break it).
CHECK_LANGUAGE = ((1 / 3, 1 / 3, 1 / 3), ((0.2, 0.8, 0.0), (0.0, 0.3, 0.7), (0.6, 0.0, 0.4)))
CHECK_LENGTH = 4
#: Entry-point group through which installed packages offer samplers to the bench.
ENTRY_POINT_GROUP = "mdm_suite.samplers"


class PluginError(InvalidArgumentError):
    """A plugin could not be loaded or breaks the sampler contract (the message names the check)."""


def installed_plugins() -> dict[str, str]:
    """``{entry-point name: "module:Class"}`` of the samplers installed under :data:`ENTRY_POINT_GROUP`."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def plugin_spec(name: str) -> str:
    """The ``file.py:Class`` / ``module:Class`` spec of a plugin given as a spec or an entry-point name."""
    if ":" in name:
        return name
    installed = installed_plugins()
    if name not in installed:
        raise PluginError(
            f"plugin {name!r}: not 'path/to/file.py:Class' or 'module:Class', and no installed entry point "
            f"of group {ENTRY_POINT_GROUP!r} has that name (installed: {sorted(installed)})"
        )
    return installed[name]


def load_plugin(spec: str) -> type:
    """The class named by ``path/to/file.py:Class`` or ``package.module:Class``."""
    target, sep, cls_name = spec.rpartition(":")
    if not sep or not target or not cls_name:
        raise PluginError(f"plugin {spec!r}: expected 'path/to/file.py:Class' or 'module:Class'")
    path = Path(target)
    if target.endswith(".py") or path.exists():
        if not path.is_file():
            raise PluginError(f"plugin {spec!r}: no file {path}")
        name = "mdm_bench_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # any error of the user's file, reported with the file
            raise PluginError(
                f"plugin {spec!r}: importing {path} failed: {type(exc).__name__}: {exc}"
            ) from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise PluginError(f"plugin {spec!r}: cannot import module {target!r}: {exc}") from exc
    cls = getattr(module, cls_name, None)
    if not inspect.isclass(cls) or not issubclass(cls, Sampler):
        raise PluginError(f"plugin {spec!r}: {cls_name} is not a subclass of sims.sampling.base.Sampler")
    return cls


def _construct(cls: type, *args) -> Sampler:
    try:
        return cls(*args)
    except TypeError as exc:
        raise PluginError(f"{cls.__name__}{args if args else '()'}: cannot construct ({exc})") from exc


def plugin_factory(cls: type) -> tuple[Callable[[int], Sampler], bool]:
    """``(K -> sampler, uses_steps)``: ``Class()`` decides whether the plugin uses K, else ``Class(K)``."""
    try:
        probe = cls()
    except TypeError:
        probe = _construct(cls, 2)
    uses = _capabilities(probe).uses_steps
    if uses:
        return (lambda k: _construct(cls, k)), True
    return (lambda k: _construct(cls)), False


def plugin_grid(cls: type) -> dict[str, Callable[[], Sampler]]:
    """The knob grid of an adaptive plugin (``bench_grid()``), or its default construction."""
    grid_fn = getattr(cls, "bench_grid", None)
    if grid_fn is None:
        return {"default": lambda: _construct(cls)}
    grid = grid_fn()
    if not isinstance(grid, dict) or not grid:
        raise PluginError(f"{cls.__name__}.bench_grid() must return a non-empty dict {{label: sampler}}")
    for label, sampler in grid.items():
        if not isinstance(label, str) or not isinstance(sampler, Sampler):
            raise PluginError(f"{cls.__name__}.bench_grid(): {label!r} must map a label to a Sampler")
    return {label: (lambda c=cls, lab=label: c.bench_grid()[lab]) for label in grid}


def _capabilities(sampler: Sampler) -> Capabilities:
    caps = sampler.capabilities
    if not isinstance(caps, Capabilities):
        raise PluginError(
            f"{type(sampler).__name__}.capabilities must be a Capabilities, got {type(caps).__name__}"
        )
    return caps


def _check_conventions(sampler: Sampler) -> dict:
    conv = sampler.conventions()
    if not isinstance(conv, Conventions):
        raise PluginError(f"{sampler.name}: conventions() must return a Conventions")
    if conv.missing():
        raise PluginError(f"{sampler.name}: conventions() leaves fields empty: {conv.missing()}")
    try:
        return json.loads(json.dumps(conv.to_dict(), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{sampler.name}: conventions are not plain JSON ({exc})") from exc


def check_sampler(sampler: Sampler) -> dict:
    """The contract checks of the module docstring on one sampler; returns its conventions."""
    init, trans = CHECK_LANGUAGE
    lang = NGramLanguage(2, 3, init, trans)
    caps = _capabilities(sampler)
    if caps.needs_eos:  # a length policy: its EOS-padded version
        lang = EOSLanguage(lang, 1 / 4)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    conventions = _check_conventions(sampler)
    L = CHECK_LENGTH
    try:
        sampler.num_steps(L)
        runs = [sampler.sample(oracle, 16, L, make_generator(11), batch_size=16) for _ in range(2)]
    except Exception as exc:  # the user's step code: report which check failed and why
        raise PluginError(
            f"{sampler.name}: a run of 16 sequences of length {L} failed: {type(exc).__name__}: {exc}"
        ) from exc
    a, b = runs
    if bool((a.tokens == lang.vocab_size).any()) or tuple(a.tokens.shape) != (16, L):
        raise PluginError(f"{sampler.name}: the run must end with (16, {L}) fully revealed tokens")
    if not bool((a.nfe >= 1).all()):
        raise PluginError(f"{sampler.name}: every sequence needs at least one counted model call (nfe)")
    if not (torch.equal(a.tokens, b.tokens) and torch.equal(a.nfe, b.nfe)):
        raise PluginError(
            f"{sampler.name}: two runs from the same seed differ (use only the given generator)"
        )
    if caps.value_independent_schedule:
        sched = sampler.reveal_schedule(8, L, make_generator(0))
        if tuple(sched.shape) != (8, L) or int(sched.min()) < 0 or int(sched.max()) >= sampler.num_steps(L):
            raise PluginError(f"{sampler.name}: reveal_schedule must give (B, L) steps in [0, K)")
    if caps.exact_kernel:
        try:
            total = float(exact_sampler_law(sampler, oracle, L).sum())
        except Exception as exc:  # the user's kernel code
            raise PluginError(
                f"{sampler.name}: exact_transitions failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise PluginError(f"{sampler.name}: the exact kernel's law sums to {total}, not 1")
    return conventions


def validate_plugin(spec: str) -> dict:
    """Load a plugin and run :func:`check_sampler` on each of its configurations (K = 1, 2 and L for a
    step-count plugin; every grid setting otherwise). Returns a summary (name, uses_steps, conventions)."""
    cls = load_plugin(spec)
    make, uses_steps = plugin_factory(cls)
    if uses_steps:
        samplers = [make(k) for k in (1, 2, CHECK_LENGTH)]
    else:
        samplers = [f() for f in plugin_grid(cls).values()]
    conventions = [check_sampler(s) for s in samplers]
    return {"plugin": spec, "class": cls.__name__, "uses_steps": uses_steps, "conventions": conventions[0]}
