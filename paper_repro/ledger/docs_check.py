"""Numbers in the docs come from data: generated blocks, and a check of every number quoted in prose.

Two mechanisms keep ``README.md`` and ``docs/*.md`` honest:

* **Generated blocks.** A doc may contain

  .. code-block:: text

      <!-- generated: NAME -->
      ...
      <!-- end generated -->

  whose body is produced by the generator ``NAME`` of :data:`paper_repro.ledger.registry.DOC_BLOCKS`
  from the figure data. ``python -m paper_repro`` rewrites the bodies; a test compares them with the data.
* **No results in prose.** Every decimal number in a doc's prose (outside code, inline code, link
  targets, arXiv ids and generated blocks) must be declared a constant of the doc -- a parameter,
  tolerance or convention value, not a result -- in a comment ``<!-- constants: 0.9 1e-5 -->``. Results
  are quoted only inside generated blocks (or by linking the gallery), so a result whose data changed,
  or that was typed by hand, fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

BLOCK_RE = re.compile(r"(<!-- generated: ([\w.-]+) -->\n)(.*?)(<!-- end generated -->)", re.S)
CONSTANTS_RE = re.compile(r"<!-- constants:(.*?)-->", re.S)
ARXIV_RE = re.compile(r"\b\d{4}\.\d{4,5}(?:v\d+)?\b")
FENCE_RE = re.compile(r"```.*?```", re.S)
INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
LINK_TARGET_RE = re.compile(r"\]\([^)]*\)")
#: Decimal numbers (``0.074``, ``1.7``) and scientific notation (``2.5e-8``, ``1e-12``).
NUMBER_RE = re.compile(r"(?<![\w.])(\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+)(?![\w.]*\d)", re.I)


def render_blocks(text: str, generators: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with the body of every generated block replaced by its generator's output."""

    def body(m: re.Match) -> str:
        name = m.group(2)
        if name not in generators:
            raise KeyError(f"unknown generated block {name!r}; registered: {sorted(generators)}")
        out = generators[name]().rstrip("\n") + "\n"
        return m.group(1) + out + m.group(4)

    return BLOCK_RE.sub(body, text)


def prose(text: str) -> str:
    """``text`` without code fences, inline code, link targets and generated blocks."""
    for pattern in (BLOCK_RE, FENCE_RE, INLINE_CODE_RE, LINK_TARGET_RE, CONSTANTS_RE, ARXIV_RE):
        text = pattern.sub(" ", text)
    return text


def declared_constants(text: str) -> set[str]:
    return {tok for m in CONSTANTS_RE.finditer(text) for tok in m.group(1).replace(",", " ").split()}


def quoted_numbers(text: str) -> list[str]:
    return NUMBER_RE.findall(prose(text))


def unsupported_numbers(text: str) -> list[str]:
    """Numbers quoted in ``text``'s prose that are not declared constants of the doc (results belong in
    generated blocks)."""
    constants = declared_constants(text)
    return [n for n in quoted_numbers(text) if n not in constants]
