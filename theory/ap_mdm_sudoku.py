r"""AP-MDM self-correction on 4x4 Sudoku, exactly (Yang et al., "On Powerful Ways to Generate", arXiv 2510.06190).

The paper's claim (its Sudoku experiment and Sec. 3; ``paper_statements.md`` §7 A5): an any-process MDM,
whose model predicts per position a token :math:`y_i` *and* control bits (remask, insert, delete) that the
fixed map g applies (Algorithm 1, :func:`sims.sampling.any_process.apply_transition`), can **undo** its
errors by remasking, which a plain MDM (unmask only: a revealed token is final) cannot. The audit of the
official code says only remask + unmask are used on Sudoku, so insert and delete bits are 0 here.

Setting (all exact; our construction on the suite's 4x4 Sudoku language
:func:`sims.languages.puzzles.sudoku_language`, the uniform law on the 288 solved grids):

* a puzzle = a solved grid with ``k`` blank cells; clues are never touched;
* **denoiser** for the cell being unmasked: the exact posterior of the cell given every revealed cell (the
  clues and the generated ones) under a *grid table* (``"sudoku"``: the 288 grids, the exact oracle;
  ``"latin"``: the 576 Latin squares, a structured model error that ignores the boxes), mixed with noise
  :math:`q_\varepsilon = (1-\varepsilon)\,p + \varepsilon/V`. When no grid of the table agrees with the
  revealed cells the posterior is undefined and the uniform law is used (labelled fallback);
* **order**: one masked cell per g step, uniformly at random (a masked cell that is not unmasked carries the
  remask bit, as g requires);
* **remask head** (:data:`REMASK_RULES`): ``"none"`` (a plain MDM), ``"conflict"`` (remask every generated
  cell that repeats a digit of a revealed cell in its row, column or box: a local verifier, our choice),
  ``"oracle"`` (remask every generated cell whose digit no solution of the puzzle has there: the remask head
  trained by token corruption, learned perfectly; our reading). Flags and the new token are predicted from
  the same state, in one g step.

A run stops when no cell is masked and no cell is flagged; it is **valid** iff the grid is a solved Sudoku
(the clues are kept, so it solves the puzzle). :func:`propagate` pushes the exact law of the state through
T g steps (a finite Markov chain on at most :math:`5^k` states) and returns :math:`P(\text{valid by } t)`,
:math:`P(\text{invalid by } t)` and the mass still running; with remask the last bounds the limit exactly:
:math:`P_\text{valid}(T) \le P_\text{valid}(\infty) \le P_\text{valid}(T) + \text{running}(T)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import torch

from sims.languages.puzzles import SUDOKU_SIZE, sudoku_peers, sudoku_solutions, sudoku_units
from sims.sampling.any_process import apply_transition
from sims.validation import InvalidArgumentError, check_choice, check_positive_int, check_probability

V = SUDOKU_SIZE
MASK = V
CELLS = SUDOKU_SIZE * SUDOKU_SIZE
REMASK_RULES = ("none", "conflict", "oracle")
TABLES = ("sudoku", "latin")


@cache
def grid_table(name: str) -> np.ndarray:
    """The grids of a denoiser table, ``(S, 16)``: ``"sudoku"`` (288 solved grids) or ``"latin"`` (576 Latin
    squares). Read-only."""
    check_choice(name, TABLES, "table")
    out = sudoku_solutions(SUDOKU_SIZE, 2 if name == "sudoku" else 0).numpy()
    out.setflags(write=False)
    return out


def posteriors(state: tuple, table: str) -> tuple[np.ndarray, bool]:
    r"""``(16, V)`` posterior of every cell given the revealed cells of ``state`` under ``table``, and whether
    the uniform fallback was used (no grid of the table agrees with the revealed cells).

    Exact by enumeration of the table: :math:`p(x_i = v \mid x_R) = \#\{g : g_R = x_R, g_i = v\} /
    \#\{g : g_R = x_R\}`.
    """
    grids = grid_table(table)
    x = np.asarray(state)
    rev = np.flatnonzero(x != MASK)
    ok = (grids[:, rev] == x[rev]).all(axis=1)
    n = int(ok.sum())
    if n == 0:
        return np.full((CELLS, V), 1.0 / V), True
    counts = (grids[ok][:, :, None] == np.arange(V)).sum(axis=0)
    return counts / n, False


@dataclass(frozen=True)
class Puzzle:
    """A 4x4 puzzle: the solved grid it comes from and its blank cells (clues = the other cells)."""

    solution: tuple[int, ...]
    blanks: tuple[int, ...]

    @property
    def start(self) -> tuple[int, ...]:
        return tuple(MASK if i in self.blanks else v for i, v in enumerate(self.solution))

    def solutions(self) -> list[tuple[int, ...]]:
        """Every solved grid that agrees with the clues (by enumeration of the 288)."""
        clues = [(i, v) for i, v in enumerate(self.start) if v != MASK]
        return [tuple(g) for g in grid_table("sudoku").tolist() if all(g[i] == v for i, v in clues)]


def make_puzzle(num_blanks: int, seed: int) -> Puzzle:
    """A puzzle with ``num_blanks`` blank cells: grid and blanks drawn with ``torch.Generator(seed)``."""
    k = check_positive_int(num_blanks, "num_blanks")
    if k > CELLS:
        raise InvalidArgumentError(f"num_blanks must be <= {CELLS}, got {k}")
    gen = torch.Generator().manual_seed(int(seed))
    grids = grid_table("sudoku")
    grid = tuple(grids[int(torch.randint(len(grids), (1,), generator=gen))].tolist())
    blanks = tuple(sorted(torch.randperm(CELLS, generator=gen)[:k].tolist()))
    return Puzzle(grid, blanks)


def remask_flags(state: tuple, puzzle: Puzzle, rule: str) -> frozenset:
    """Generated cells the remask head flags in ``state`` under ``rule`` (see the module docstring)."""
    check_choice(rule, REMASK_RULES, "rule")
    if rule == "none":
        return frozenset()
    generated = [i for i in puzzle.blanks if state[i] != MASK]
    if rule == "conflict":
        peers = sudoku_peers()
        return frozenset(i for i in generated if any(state[j] == state[i] for j in peers[i]))
    allowed = _allowed_digits(puzzle)
    return frozenset(i for i in generated if state[i] not in allowed[i])


@cache
def _allowed_digits(puzzle: Puzzle) -> tuple[frozenset, ...]:
    sols = puzzle.solutions()
    return tuple(frozenset(g[i] for g in sols) for i in range(CELLS))


@dataclass(frozen=True)
class Process:
    """One AP-MDM configuration on a puzzle: denoiser table, noise level and remask rule."""

    puzzle: Puzzle
    table: str = "sudoku"
    noise: float = 0.0
    rule: str = "none"

    def __post_init__(self):
        grid_table(self.table)
        check_probability(self.noise, "noise")
        remask_flags(self.puzzle.start, self.puzzle, self.rule)

    def transitions(self, state: tuple) -> list[tuple[float, tuple]] | None:
        """``[(probability, next state)]`` of one g step from ``state``; None when the run stops.

        Every next state is built by :func:`~sims.sampling.any_process.apply_transition` from the control
        vectors (y, remask, insert = 0, delete = 0).
        """
        flags = remask_flags(state, self.puzzle, self.rule)
        masked = [i for i in range(CELLS) if state[i] == MASK]
        if not masked and not flags:
            return None
        zeros = [0] * CELLS
        if not masked:
            remask = [int(i in flags) for i in range(CELLS)]
            return [(1.0, apply_transition(state, state, remask, zeros, zeros, MASK))]
        out = []
        law_all, _ = posteriors(state, self.table)
        for j in masked:
            law = law_all[j]
            remask = [int(i in flags or (i in masked and i != j)) for i in range(CELLS)]
            for v in range(V):
                q = ((1 - self.noise) * float(law[v]) + self.noise / V) / len(masked)
                if q > 0:
                    y = list(state)
                    y[j] = v
                    out.append((q, apply_transition(state, y, remask, zeros, zeros, MASK)))
        return out


@dataclass
class PropagationResult:
    """Exact outcome curves of a :class:`Process` over g steps ``t = 0..T``."""

    valid: list[float]  # P(stopped by t with a solved grid)
    invalid: list[float]  # P(stopped by t with a wrong grid)
    running: list[float]  # P(not stopped by t)
    expected_steps: float  # E[min(stopping step, T)]
    states: int  # distinct states visited
    fallback_states: int  # visited states where some posterior used the uniform fallback


def _solved(grid: tuple) -> bool:
    return all(len({grid[i] for i in unit}) == V for unit in sudoku_units())


def _successors(process: Process, state: tuple) -> tuple[dict, float, float]:
    """One g step from a running ``state``: ``({running next state: probability}, P(stop solved),
    P(stop wrong))``, duplicates merged."""
    running: dict = {}
    solved = wrong = 0.0
    for q, s2 in process.transitions(state):
        if MASK not in s2 and not remask_flags(s2, process.puzzle, process.rule):  # it stops there
            if _solved(s2):
                solved += q
            else:
                wrong += q
        else:
            running[s2] = running.get(s2, 0.0) + q
    return running, solved, wrong


def propagate(process: Process, horizon: int) -> PropagationResult:
    """Push the exact law of the state through ``horizon`` g steps from the puzzle's start state.

    ``valid[t]`` / ``invalid[t]``: probability of having stopped within ``t`` g steps on a solved / wrong
    grid; ``running[t]`` the rest.
    """
    T = check_positive_int(horizon, "horizon")
    start = process.puzzle.start
    if process.transitions(start) is None:
        ok = float(_solved(start))
        return PropagationResult([ok] * (T + 1), [1 - ok] * (T + 1), [0.0] * (T + 1), 0.0, 1, 0)
    memo: dict = {}
    valid, invalid, running = [0.0], [0.0], [1.0]
    dist = {start: 1.0}
    steps = 0.0
    for _ in range(T):
        nxt: dict = {}
        v_add = i_add = 0.0
        for s, p in dist.items():
            if s not in memo:
                memo[s] = _successors(process, s)
            succ, solved, wrong = memo[s]
            steps += p
            v_add += p * solved
            i_add += p * wrong
            for s2, q in succ.items():
                nxt[s2] = nxt.get(s2, 0.0) + p * q
        dist = nxt
        valid.append(valid[-1] + v_add)
        invalid.append(invalid[-1] + i_add)
        running.append(sum(dist.values()))
    fallback = sum(1 for s in memo if MASK in s and posteriors(s, process.table)[1])
    return PropagationResult(valid, invalid, running, steps, len(memo), fallback)


def completion_law(process: Process, horizon: int) -> dict[tuple, float]:
    """Exact law of the stopped grid within ``horizon`` g steps (mass still running is left out)."""
    T = check_positive_int(horizon, "horizon")
    dist = {process.puzzle.start: 1.0}
    law: dict = {}
    for _ in range(T + 1):
        nxt: dict = {}
        for s, p in dist.items():
            trans = process.transitions(s)
            if trans is None:
                law[s] = law.get(s, 0.0) + p
                continue
            for q, s2 in trans:
                nxt[s2] = nxt.get(s2, 0.0) + p * q
        dist = nxt
    return law


def sudoku_study(
    num_blanks: int,
    seeds: tuple[int, ...],
    noises: tuple[float, ...],
    horizon_factor: int = 4,
    tables: tuple[str, ...] = TABLES,
) -> dict:
    """Every (puzzle, table, noise, rule): final P(valid), P(invalid), running mass and curves (JSON-ready).

    Horizon ``horizon_factor * num_blanks`` g steps (a plain MDM stops after exactly ``num_blanks``).
    """
    k = check_positive_int(num_blanks, "num_blanks")
    T = check_positive_int(horizon_factor, "horizon_factor") * k
    puzzles = []
    for seed in seeds:
        pz = make_puzzle(k, seed)
        runs = []
        for table in tables:
            for noise in noises:
                for rule in REMASK_RULES:
                    r = propagate(Process(pz, table, float(noise), rule), T)
                    runs.append({"table": table, "noise": float(noise), "rule": rule, **asdict(r)})
        puzzles.append(
            {
                "seed": int(seed),
                "solution": list(pz.solution),
                "blanks": list(pz.blanks),
                "num_solutions": len(pz.solutions()),
                "runs": runs,
            }
        )
    return {"num_blanks": k, "horizon": T, "noises": [float(e) for e in noises], "puzzles": puzzles}
