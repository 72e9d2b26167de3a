"""The project's layering, enforced: imports go one way and modules stay small.

* ``sims/`` is the base layer: it never imports ``theory``, ``paper_repro`` or ``benchmarks``.
* ``theory/`` may import ``sims``, never ``paper_repro`` or ``benchmarks``.
* ``paper_repro/`` and ``benchmarks/`` sit on top: no package of the library imports them.
* The inference engines (``sims/inference``) know no language, denoiser or sampler.
* No import inside a function or class body, except lazy imports of the optional heavy dependencies in
  :data:`OPTIONAL_LAZY` (each documented where it is made).
* No module of ``sims/`` or ``theory/`` is longer than :data:`MAX_LINES` lines (one idea per module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sims", "theory", "paper_repro", "benchmarks")
#: What each top-level package may import from the project.
ALLOWED = {
    "sims": {"sims"},
    "theory": {"sims", "theory"},
    "paper_repro": {"sims", "theory", "paper_repro"},
    "benchmarks": {"sims", "theory", "benchmarks"},
}
#: Optional dependencies that may be imported lazily (inside a function), so the core install works
#: without them.
OPTIONAL_LAZY = {"hmmlearn", "tokenizers", "transformers", "dask", "distributed", "submitit", "dask_jobqueue"}
#: "About 400 lines" (developers' guide), with a small margin for docstrings.
MAX_LINES = 420
#: Base-layer packages the inference engines may use.
INFERENCE_MAY_IMPORT = ("sims.inference", "sims.validation")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """``(module, nested, line)`` for every import in ``path``; ``nested`` = inside a def or class."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, nested, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.append((child.module, nested, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return out


ALL_FILES = [(pkg, p) for pkg in PACKAGES for p in _modules(pkg)]


@pytest.mark.parametrize("pkg,path", ALL_FILES, ids=[str(p.relative_to(ROOT)) for _, p in ALL_FILES])
def test_imports_go_one_way(pkg, path):
    for module, _, line in _imports(path):
        top = module.split(".")[0]
        if top in PACKAGES:
            assert top in ALLOWED[pkg], f"{path.relative_to(ROOT)}:{line} imports {module} ({pkg} may not)"


@pytest.mark.parametrize("pkg,path", ALL_FILES, ids=[str(p.relative_to(ROOT)) for _, p in ALL_FILES])
def test_no_import_inside_a_function(pkg, path):
    for module, nested, line in _imports(path):
        if nested:
            assert module.split(".")[0] in OPTIONAL_LAZY, (
                f"{path.relative_to(ROOT)}:{line} imports {module} inside a function or class; import it at "
                f"module top (only optional dependencies {sorted(OPTIONAL_LAZY)} may be imported lazily)"
            )


@pytest.mark.parametrize("path", _modules("sims/inference"), ids=lambda p: p.name)
def test_inference_engines_know_no_language(path):
    for module, _, line in _imports(path):
        if module.split(".")[0] == "sims":
            assert module.startswith(INFERENCE_MAY_IMPORT), (
                f"{path.relative_to(ROOT)}:{line} imports {module}: the engines may only use "
                f"{INFERENCE_MAY_IMPORT}; what they need from a chain is a LiftedChain method"
            )


SIZED = [p for pkg in ("sims", "theory") for p in _modules(pkg)]


@pytest.mark.parametrize("path", SIZED, ids=[str(p.relative_to(ROOT)) for p in SIZED])
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (at most {MAX_LINES}): split it by idea"
