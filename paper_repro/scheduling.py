"""Figure modules as work items: discovery, declared dependencies, staging folders, the worker side.

Every ``paper_repro/fig_*.py`` module is one :class:`~sims.execution.WorkItem` keyed by its short name.
A module that needs what another one produces says so at module level, e.g.
``DEPENDS_ON = ("training_curves",)`` in the variance figures (they load the model that
``training_curves`` trains into the shared cache ``results/models/``); the runner starts it only after
that module finished, whatever the number of workers. The declaration is about order, not correctness:
run alone (``--only``), a module trains whatever model it misses itself.

:func:`run_figure` is what a worker runs: the module in its staging folder
``<out>/.partial/<preset>/<name>``, then each produced file moved into ``<out>`` with an atomic rename.
Before each module the matplotlib state is reset and the global RNGs are seeded from the module's name
(by :func:`sims.execution.task.execute`), so a module's files are the same bytes whether it ran first in
a fresh worker or after others in the same process. Finished modules are recorded in
``<out>/.partial/<preset>/_items/`` so that ``--resume`` skips them. The moves into ``<out>`` follow a
journal (``<out>/.partial/<preset>/<name>.moving.json``) that the next run completes if a kill
interrupted them, so a new PNG never stays paired with old data.

The models a module trains are items of their own (:data:`MODEL_CONFIGS`, one
:func:`sims.execution.training_items` item per config, keyed by the config), and the module depends on
them: several workers train the seeds and models of one figure at once instead of one after the other,
and a module whose models are in the cache (``results/models/``) starts at once (loading a cached model
is the same bytes as training it: the run is seeded by its config).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType

import matplotlib
import matplotlib.pyplot as plt

import paper_repro
import paper_repro.fig_samplers_calls_quality as samplers_calls_quality
from paper_repro.samplers_common import TRAINED_MODEL
from sims.execution import ItemStore, WorkItem
from sims.execution.training_items import training_items
from sims.models.cache import make_config
from sims.models.experiments import QUALITY_SUITES, TRAINING_SUITES
from sims.models.training import TrainConfig
from sims.plotting import FIGURE_FORMATS, also_save
from sims.results import read_json, write_json
from sims.validation import CorruptFileError


def _samplers_models(preset: str) -> list[TrainConfig]:
    """The transformer of ``samplers_common.oracle_and_trained`` for each language of the figure."""
    cfg = samplers_calls_quality.PRESETS[preset]
    model_preset, overrides = TRAINED_MODEL[preset]
    return [make_config(lang, cfg["length"], model_preset, **overrides) for lang in cfg["languages"]]


#: Module -> the training configs it loads from the model cache (trained first, as items of their own).
#: A module missing here still works: it trains what it needs itself, inside its own item.
MODEL_CONFIGS = {
    "training_curves": lambda preset: list(TRAINING_SUITES[preset].configs()),
    "training_quality_vs_steps": lambda preset: [
        *QUALITY_SUITES[preset].configs(),
        *QUALITY_SUITES[preset].ar_configs(),
    ],
    "samplers_calls_quality": _samplers_models,
}


def discover() -> dict[str, ModuleType]:
    """All ``paper_repro.fig_*`` modules, by short name (without the ``fig_`` prefix)."""
    mods = {}
    for info in pkgutil.iter_modules(paper_repro.__path__):
        if info.name.startswith("fig_"):
            mods[info.name[4:]] = importlib.import_module(f"paper_repro.{info.name}")
    return dict(sorted(mods.items()))


def dependencies(mods: dict[str, ModuleType]) -> dict[str, tuple[str, ...]]:
    """``DEPENDS_ON`` of every module (checked: each names another figure module)."""
    deps = {}
    for name, mod in mods.items():
        declared = tuple(getattr(mod, "DEPENDS_ON", ()))
        unknown = [d for d in declared if d not in mods or d == name]
        if unknown:
            raise ValueError(f"fig_{name}.DEPENDS_ON names unknown figure modules {unknown}")
        deps[name] = declared
    return deps


def staging_root(out: Path, preset: str) -> Path:
    return Path(out) / ".partial" / preset


def item_store(out: Path, preset: str) -> ItemStore:
    """Records of the modules finished by an interrupted run (``--resume`` skips them)."""
    return ItemStore(staging_root(out, preset) / "_items")


def moving_journal(out: Path, preset: str, name: str) -> Path:
    """The plan of the files module ``name`` is moving from its staging folder into ``out``."""
    return staging_root(out, preset) / f"{name}.moving.json"


def finish_moves(journal: Path) -> list[str]:
    """Carry out (or complete, after a kill) the moves a journal lists, then delete it; returns the names.

    A file still in the staging folder is moved (atomic rename); one already moved is left. So a run
    killed between two renames -- a new PNG beside the old data file -- is completed by the next run
    instead of leaving the pair mismatched."""
    plan = read_json(journal, remedy="delete it and rerun the figure module it names")
    moves = plan.get("moves") if isinstance(plan, dict) else None
    if not isinstance(moves, list) or not all(isinstance(m, list) and len(m) == 2 for m in moves):
        raise CorruptFileError(
            journal, f"{journal} is not a move plan; delete it and rerun its figure module"
        )
    for src, dst in moves:
        if Path(src).exists():
            os.replace(src, dst)
    journal.unlink()
    return [Path(dst).name for _, dst in moves]


def recover_moves(out: Path) -> list[str]:
    """Complete the moves that runs killed while moving files into ``out`` left unfinished (every preset);
    returns the modules whose files were completed."""
    done = []
    for journal in sorted(Path(out).glob(".partial/*/*.moving.json")):
        finish_moves(journal)
        done.append(journal.name[: -len(".moving.json")])
    return done


def run_figure(
    name: str, preset: str, out: str, progress: bool = False, resume: bool = False, formats: tuple = ()
) -> dict:
    """Run one figure module in its staging folder and move its files into ``out`` (worker side);
    ``formats`` (e.g. ``("pdf",)``) are extra figure formats written beside every figure
    (:func:`sims.plotting.also_save`) and moved with it.

    The modules store results incrementally and skip cells already present. Staging keeps that from
    silently reusing the committed data files: by default the staging folder starts empty (everything
    is recomputed); with ``resume`` it keeps what an interrupted run left there. Files are moved only
    after the module finished, each with an atomic rename, as listed in a journal written first
    (:func:`finish_moves`): a kill between two renames is completed by the next run, so a new figure is
    never left beside old data.
    """
    mod = importlib.import_module(f"paper_repro.fig_{name}")
    out = Path(out)
    staging = staging_root(out, preset) / name
    journal = moving_journal(out, preset, name)
    if journal.exists():  # a run killed while moving this module's files: complete it first
        finish_moves(journal)
    if not resume:
        shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    plt.close("all")
    matplotlib.rc_file_defaults()
    with also_save(formats):
        produced = [Path(p) for p in mod.run(preset, staging, progress)]
    copies = [p.with_suffix("." + f) for p in produced if p.suffix[1:] in FIGURE_FORMATS for f in formats]
    produced += [c for c in copies if c.exists() and c not in produced]
    write_json(journal, {"module": name, "moves": [[str(p), str(out / p.name)] for p in produced]})
    moved = finish_moves(journal)
    shutil.rmtree(staging, ignore_errors=True)
    return {"files": moved}


def figure_items(
    names: list[str],
    mods: dict[str, ModuleType],
    preset: str,
    out: Path,
    progress: bool = False,
    resume: bool = False,
    train_first: bool = True,
    formats: tuple = (),
) -> list[WorkItem]:
    """One item per module of ``names`` with its declared dependencies (among ``names``), preceded by
    one item per model those modules train (``train_first``; see :data:`MODEL_CONFIGS`)."""
    deps = dependencies(mods)
    out = Path(out).resolve()  # workers elsewhere (Dask, Slurm) need no particular working directory
    models: list[WorkItem] = []
    figures = []
    for name in names:
        trains = training_items(MODEL_CONFIGS[name](preset)) if train_first and name in MODEL_CONFIGS else []
        models += trains
        figures.append(
            WorkItem(
                name,
                run_figure,
                {
                    "name": name,
                    "preset": preset,
                    "out": str(out),
                    "progress": progress,
                    "resume": resume,
                    "formats": tuple(formats),
                },
                depends_on=deps[name] + tuple(it.key for it in trains),
                identity=f"{name}|{preset}|{out}",
            )
        )
    unique = {it.key: it for it in models}
    return [*unique.values(), *figures]
