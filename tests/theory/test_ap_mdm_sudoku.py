"""AP-MDM self-correction on 4x4 Sudoku (theory/ap_mdm_sudoku.py).

References used: the posterior against a brute-force enumeration of every completion of the masked cells
(checked by sudoku_valid / Latin validity, not by the grid tables); the exact propagation against an
independent recursion over every path that writes tokens directly (no apply_transition); the exact
denoiser's output law against the uniform law on the puzzle's solutions.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from sims.languages.puzzles import sudoku_peers, sudoku_valid
from sims.validation import InvalidArgumentError
from theory.ap_mdm_sudoku import (
    CELLS,
    MASK,
    REMASK_RULES,
    TABLES,
    Process,
    V,
    completion_law,
    make_puzzle,
    posteriors,
    propagate,
    sudoku_study,
)


def _valid(grid, table):
    return bool(sudoku_valid(torch.tensor([grid]), box=2 if table == "sudoku" else 0)[0])


def _brute_posterior(state, table):
    masked = [i for i in range(CELLS) if state[i] == MASK]
    fills = torch.tensor(list(itertools.product(range(V), repeat=len(masked))), dtype=torch.long)
    grids = torch.tensor([state], dtype=torch.long).repeat(fills.shape[0], 1)
    if masked:
        grids[:, masked] = fills
    ok = grids[sudoku_valid(grids, box=2 if table == "sudoku" else 0)]
    return [[int((ok[:, i] == v).sum()) for v in range(V)] for i in range(CELLS)]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_posterior_matches_brute_force_completions(table, seed):
    pz = make_puzzle(5, seed)
    state = list(pz.start)
    # corrupt one clue-free cell sometimes so that states without any completion are covered too
    if seed == 2:
        state[pz.blanks[0]] = (pz.solution[pz.blanks[0]] + 1) % V
    counts = _brute_posterior(tuple(state), table)
    law, fallback = posteriors(tuple(state), table)
    n = sum(counts[0])
    assert fallback == (n == 0)
    for i in range(CELLS):
        expected = [c / n for c in counts[i]] if n else [1.0 / V] * V
        assert law[i].tolist() == pytest.approx(expected, abs=1e-15)


def _brute_curves(pz, table, noise, rule, horizon):
    """P(valid by T), P(invalid by T) by recursion over every path, tokens written directly."""
    allowed = [{g[i] for g in pz.solutions()} for i in range(CELLS)]
    peers = sudoku_peers()

    def flags(s):
        gen = [i for i in pz.blanks if s[i] != MASK]
        if rule == "none":
            return set()
        if rule == "conflict":
            return {i for i in gen if any(s[j] == s[i] for j in peers[i])}
        return {i for i in gen if s[i] not in allowed[i]}

    memo, post = {}, {}

    def rec(s, t):
        if (s, t) in memo:
            return memo[(s, t)]
        f = flags(s)
        masked = [i for i in range(CELLS) if s[i] == MASK]
        if not masked and not f:
            out = (1.0, 0.0) if _valid(s, "sudoku") else (0.0, 1.0)
        elif t == 0:
            out = (0.0, 0.0)
        elif not masked:
            out = rec(tuple(MASK if i in f else s[i] for i in range(CELLS)), t - 1)
        else:
            if s not in post:
                post[s] = _brute_posterior(s, table)
            counts = post[s]
            n = sum(counts[0])
            acc_v = acc_i = 0.0
            for j in masked:
                for v in range(V):
                    p = counts[j][v] / n if n else 1.0 / V
                    q = ((1 - noise) * p + noise / V) / len(masked)
                    if q == 0:
                        continue
                    nxt = [MASK if i in f else s[i] for i in range(CELLS)]
                    nxt[j] = v
                    a, b = rec(tuple(nxt), t - 1)
                    acc_v += q * a
                    acc_i += q * b
            out = (acc_v, acc_i)
        memo[(s, t)] = out
        return out

    return rec(pz.start, horizon)


@pytest.mark.parametrize("rule", REMASK_RULES)
@pytest.mark.parametrize("table,noise", [("sudoku", 0.3), ("latin", 0.0), ("latin", 0.2)])
def test_propagation_matches_path_recursion(rule, table, noise):
    pz = make_puzzle(3, 4)
    T = 6
    r = propagate(Process(pz, table, noise, rule), T)
    v, i = _brute_curves(pz, table, noise, rule, T)
    assert r.valid[-1] == pytest.approx(v, abs=1e-13)
    assert r.invalid[-1] == pytest.approx(i, abs=1e-13)
    assert r.valid[-1] + r.invalid[-1] + r.running[-1] == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("rule", REMASK_RULES)
def test_exact_denoiser_outputs_the_uniform_law_on_the_puzzles_solutions(rule):
    pz = make_puzzle(8, 0)
    sols = pz.solutions()
    assert len(sols) >= 2
    proc = Process(pz, "sudoku", 0.0, rule)
    law = completion_law(proc, 8)
    assert set(law) == set(sols)
    for g in sols:
        assert law[g] == pytest.approx(1 / len(sols), abs=1e-13)
    r = propagate(proc, 16)
    assert r.expected_steps == pytest.approx(8, abs=1e-12)  # remask never fires: exactly k steps
    assert r.valid[8] == pytest.approx(1.0, abs=1e-13)


def test_remask_rules_never_stop_on_a_wrong_grid_and_plain_mdm_always_stops_after_k_steps():
    pz = make_puzzle(4, 1)
    for rule in ("conflict", "oracle"):
        r = propagate(Process(pz, "sudoku", 0.25, rule), 30)
        assert max(r.invalid) == 0.0
        assert all(b >= a for a, b in zip(r.valid, r.valid[1:]))
        assert r.running[-1] < r.running[10]
    plain = propagate(Process(pz, "sudoku", 0.25, "none"), 8)
    assert plain.running[4] == pytest.approx(0.0, abs=1e-15)
    assert plain.valid[4] + plain.invalid[4] == pytest.approx(1.0, abs=1e-13)
    assert plain.invalid[4] > 0


def test_transitions_are_a_probability_law():
    pz = make_puzzle(5, 3)
    proc = Process(pz, "latin", 0.1, "conflict")
    s = list(pz.start)
    s[pz.blanks[0]] = (pz.solution[pz.blanks[0]] + 1) % V
    trans = proc.transitions(tuple(s))
    assert sum(q for q, _ in trans) == pytest.approx(1.0, abs=1e-14)
    assert all(len(x) == CELLS for _, x in trans)


@pytest.mark.parametrize(
    "kwargs,word",
    [({"table": "nope"}, "table"), ({"rule": "gibbs"}, "rule"), ({"noise": 1.5}, "noise")],
)
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises((ValueError, InvalidArgumentError), match=word):
        Process(make_puzzle(3, 0), **kwargs)


def test_study_shape():
    d = sudoku_study(3, (0,), (0.0, 0.2), horizon_factor=2, tables=("sudoku",))
    assert d["horizon"] == 6
    runs = d["puzzles"][0]["runs"]
    assert len(runs) == 2 * len(REMASK_RULES)
    assert all(len(r["valid"]) == 7 for r in runs)
