r"""Small puzzle languages with exact oracles: 4x4 Sudoku, Latin squares and DFS mazes.

All three are :class:`~sims.languages.support.SupportLanguage` instances (explicit support, exact oracle by
enumeration of the support; the law at a shorter length is the prefix marginal):

* :func:`sudoku_language`: the uniform law on the 288 solved 4x4 Sudoku grids ("Shidoku"), row-major, tokens
  = digits 0..3 (V = 4, L = 16). A grid is valid iff every row, column and 2x2 box holds each digit once.
  The EB-sampler paper (arXiv 2505.24857 §6.2) and AP-MDM (arXiv 2510.06190) solve 9x9 Sudoku with trained
  models; 4x4 is the largest size whose every partial state the exact oracle handles in microseconds.
* :func:`latin_square_language`: the uniform law on the 576 4x4 Latin squares (rows and columns only). Its
  oracle is a *model that ignores the box constraints* when used on Sudoku (a structured learning error).
* :func:`maze_language`: mazes on an ``rows x cols`` grid drawn by randomized depth-first search (the
  "recursive backtracker": from a uniformly random start cell, move to a uniformly random unvisited
  neighbour, backtrack when there is none), tokenized as one bit per interior grid edge (1 = open passage,
  0 = wall; horizontal edges row by row, then vertical edges). The exact law is the sum over every DFS run
  (:func:`dfs_maze_law`). The EB paper's mazes are "DFS mazes" (Nolte et al. 2024) on 10x10 grids given as
  shuffled edge lists; the generator's details there (start cell, tokenization) are not confirmed: this is
  our small exact stand-in. Every DFS maze is a spanning tree (``rows * cols - 1`` open edges).

Validity checks (:func:`sudoku_valid`, :func:`maze_is_spanning_tree`) are independent of the support lists
(tests compare them).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import torch

from sims.languages.support import SupportLanguage
from sims.validation import check_positive_int

SUDOKU_SIZE = 4
SUDOKU_BOX = 2


@cache
def sudoku_units(size: int = SUDOKU_SIZE, box: int = SUDOKU_BOX) -> tuple[tuple[int, ...], ...]:
    """Rows, columns and boxes of a ``size x size`` grid (cell index = row * size + column)."""
    rows = [tuple(r * size + c for c in range(size)) for r in range(size)]
    cols = [tuple(r * size + c for r in range(size)) for c in range(size)]
    if not box:
        return tuple(rows + cols)
    boxes = [
        tuple((br * box + i) * size + bc * box + j for i in range(box) for j in range(box))
        for br in range(size // box)
        for bc in range(size // box)
    ]
    return tuple(rows + cols + boxes)


@cache
def sudoku_peers(size: int = SUDOKU_SIZE, box: int = SUDOKU_BOX) -> tuple[frozenset, ...]:
    """For every cell, the other cells sharing a unit with it."""
    peers = [set() for _ in range(size * size)]
    for unit in sudoku_units(size, box):
        for a in unit:
            peers[a].update(b for b in unit if b != a)
    return tuple(frozenset(p) for p in peers)


def _fill_grids(size: int, box: int) -> torch.Tensor:
    peers = sudoku_peers(size, box)
    grid = [-1] * (size * size)
    out = []

    def rec(i):
        if i == size * size:
            out.append(list(grid))
            return
        for v in range(size):
            if all(grid[p] != v for p in peers[i] if p < i):
                grid[i] = v
                rec(i + 1)
        grid[i] = -1

    rec(0)
    return torch.tensor(out, dtype=torch.long)


@cache
def _solutions(size: int, box: int) -> torch.Tensor:
    return _fill_grids(size, box)


def sudoku_solutions(size: int = SUDOKU_SIZE, box: int = SUDOKU_BOX) -> torch.Tensor:
    """``(S, size**2)`` every solved grid, in lexicographic order (``box = 0``: Latin squares)."""
    return _solutions(size, box).clone()


def sudoku_valid(grids: torch.Tensor, size: int = SUDOKU_SIZE, box: int = SUDOKU_BOX) -> torch.Tensor:
    """Boolean ``(B,)``: every unit of each fully revealed grid holds each digit exactly once."""
    g = torch.as_tensor(grids).long()
    ok = torch.ones(g.shape[0], dtype=torch.bool, device=g.device)
    target = torch.arange(size, device=g.device)
    for unit in sudoku_units(size, box):
        ok &= (torch.sort(g[:, list(unit)], dim=1).values == target).all(1)
    return ok


def sudoku_language(device: torch.device | str | None = None) -> SupportLanguage:
    """Uniform law on the 288 solved 4x4 Sudoku grids (V = 4, L = 16; prefix marginals at L < 16)."""
    return SupportLanguage(sudoku_solutions(), vocab_size=SUDOKU_SIZE, name="sudoku4", device=device)


def latin_square_language(device: torch.device | str | None = None) -> SupportLanguage:
    """Uniform law on the 576 4x4 Latin squares (rows and columns only; no box constraint)."""
    return SupportLanguage(
        sudoku_solutions(SUDOKU_SIZE, 0), vocab_size=SUDOKU_SIZE, name="latin4", device=device
    )


# ---- mazes ------------------------------------------------------------------------------------------
@cache
def maze_edges(rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """Interior edges ``(cell a, cell b)`` of the grid: horizontal edges row by row, then vertical ones."""
    rows, cols = check_positive_int(rows, "rows"), check_positive_int(cols, "cols")
    horiz = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    vert = [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    return tuple(horiz + vert)


@cache
def dfs_maze_law(rows: int, cols: int) -> dict[tuple, float]:
    """Exact law ``{edge bits: probability}`` of randomized DFS from a uniformly random start cell."""
    edges = maze_edges(rows, cols)
    index = {e: i for i, e in enumerate(edges)}
    nbrs = defaultdict(list)
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    n = rows * cols
    law: dict[tuple, float] = defaultdict(float)

    def rec(stack: tuple, visited: frozenset, opened: frozenset, p: float):
        while stack:
            free = [m for m in nbrs[stack[-1]] if m not in visited]
            if free:
                break
            stack = stack[:-1]
        if not stack:
            law[tuple(int(i in opened) for i in range(len(edges)))] += p
            return
        cur = stack[-1]
        for m in free:
            e = index[(min(cur, m), max(cur, m))]
            rec(stack + (m,), visited | {m}, opened | {e}, p / len(free))

    for start in range(n):
        rec((start,), frozenset([start]), frozenset(), 1.0 / n)
    return dict(law)


def _find(parent: list, a: int) -> int:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def maze_is_spanning_tree(bits: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Boolean ``(B,)``: the open edges form a spanning tree of the grid (n - 1 edges, connected)."""
    edges = maze_edges(rows, cols)
    b = torch.as_tensor(bits).long().cpu()
    out = []
    for row in b.tolist():
        parent = list(range(rows * cols))
        ok = sum(row) == rows * cols - 1
        for (a, c), bit in zip(edges, row):
            if bit and ok:
                ra, rc = _find(parent, a), _find(parent, c)
                ok = ra != rc
                parent[ra] = rc
        out.append(ok)
    return torch.tensor(out, dtype=torch.bool)


def maze_language(rows: int = 3, cols: int = 3, device: torch.device | str | None = None) -> SupportLanguage:
    """DFS mazes on a ``rows x cols`` grid as edge bits (V = 2, L = number of interior edges)."""
    law = dfs_maze_law(rows, cols)
    words = sorted(law)
    return SupportLanguage(
        torch.tensor(words, dtype=torch.long),
        torch.tensor([law[w] for w in words], dtype=torch.float64),
        vocab_size=2,
        name=f"maze{rows}x{cols}",
        device=device,
    )
