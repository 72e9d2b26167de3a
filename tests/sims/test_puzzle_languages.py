"""Support, puzzle and free-group languages against independent definitions (brute force, counts)."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.enumeration import all_sequences
from sims.exact import exact_log_joint
from sims.languages.free_group import free_reduce, is_two_sided_dyck, two_sided_dyck_language
from sims.languages.puzzles import (
    dfs_maze_law,
    latin_square_language,
    maze_edges,
    maze_is_spanning_tree,
    maze_language,
    sudoku_language,
    sudoku_solutions,
    sudoku_valid,
)
from sims.languages.support import SupportLanguage
from sims.validation import InvalidArgumentError
from tests.helpers import P_MIN, grouped_chi_square


def test_sudoku_and_latin_counts_and_validity():
    sols = sudoku_solutions()
    assert sols.shape == (288, 16)  # the number of 4x4 Sudoku grids
    assert latin_square_language().words.shape == (576, 16)  # the number of 4x4 Latin squares
    assert bool(sudoku_valid(sols).all())
    g = make_generator(0)
    noise = torch.randint(0, 4, (4000, 16), generator=g)
    valid = sudoku_valid(noise)
    member = torch.tensor([tuple(r) in set(map(tuple, sols.tolist())) for r in noise.tolist()])
    assert torch.equal(valid, member)
    # one swap of two cells of a row breaks a column or a box
    bad = sols.clone()
    bad[:, [0, 1]] = bad[:, [1, 0]]
    assert not bool(sudoku_valid(bad).any())


def _direct_posterior(words: list, probs: list, x: list, V: int) -> torch.Tensor | None:
    """Posterior marginals by looping over the support (independent of the chain code)."""
    out = torch.zeros(len(x), V, dtype=torch.float64)
    total = 0.0
    for w, p in zip(words, probs):
        if all(v == V or v == w[i] for i, v in enumerate(x)):
            total += p
            for i in range(len(x)):
                out[i, w[i]] += p
    return None if total == 0 else out / total


@pytest.mark.parametrize("make", [sudoku_language, lambda: maze_language(3, 3)])
def test_oracle_at_full_length_equals_direct_enumeration(make):
    lang = make()
    V, L = lang.vocab_size, lang.word_length
    words, probs = lang.words.tolist(), lang.weights.tolist()
    g = make_generator(3)
    x = lang.sample(40, L, g)
    x = torch.where(torch.rand(x.shape, generator=g) < 0.6, V, x)
    x[0] = V
    out = OracleDenoiser(lang, on_impossible="uniform")(x)
    for b in range(x.shape[0]):
        ref = _direct_posterior(words, probs, x[b].tolist(), V)
        masked = x[b] == V
        assert torch.allclose(out.probs[b][masked], ref[masked], atol=1e-13, rtol=0)
    # an impossible partial grid (two equal digits in a row)
    y = torch.full((1, L), V)
    y[0, 0] = y[0, 1] = 0
    if make is sudoku_language:
        assert bool(OracleDenoiser(lang, on_impossible="uniform")(y).impossible[0])


@pytest.mark.parametrize("L", [1, 4, 7])
def test_prefix_law_is_the_marginal_of_the_full_law(L):
    lang = sudoku_language()
    law = torch.exp(exact_log_joint(lang, L))
    ref = Counter()
    for w in lang.words.tolist():
        ref[tuple(w[:L])] += 1 / 288
    seqs = all_sequences(4, L)
    for i, s in enumerate(seqs.tolist()):
        assert abs(float(law[i]) - ref.get(tuple(s), 0.0)) < 1e-14
    assert abs(lang.entropy(L) - (-sum(p * math.log(p) for p in ref.values()))) < 1e-12


def test_support_language_merges_duplicates_and_rejects_bad_input():
    lang = SupportLanguage([[0, 1], [0, 1], [1, 0]], [1.0, 1.0, 2.0])
    assert lang.words.tolist() == [[0, 1], [1, 0]] and torch.allclose(
        lang.weights, torch.tensor([0.5, 0.5]).double()
    )
    with pytest.raises(InvalidArgumentError):
        SupportLanguage([[0, 1]], [0.0])
    with pytest.raises(InvalidArgumentError):
        SupportLanguage([[0.5, 1.0]])
    with pytest.raises(InvalidArgumentError):
        lang.check_length(3)


def _random_dfs_maze(rows: int, cols: int, rng: random.Random) -> tuple:
    """Recursive backtracker written independently (adjacency from coordinates)."""
    edges = maze_edges(rows, cols)
    start = rng.randrange(rows * cols)
    visited, stack, opened = {start}, [start], set()
    while stack:
        r, c = divmod(stack[-1], cols)
        free = [
            (r + dr) * cols + c + dc
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
            if 0 <= r + dr < rows and 0 <= c + dc < cols and (r + dr) * cols + c + dc not in visited
        ]
        if not free:
            stack.pop()
            continue
        m = rng.choice(free)
        opened.add((min(stack[-1], m), max(stack[-1], m)))
        visited.add(m)
        stack.append(m)
    return tuple(int(e in opened) for e in edges)


def test_dfs_maze_law_against_simulation_and_spanning_trees():
    law = dfs_maze_law(3, 3)
    assert abs(sum(law.values()) - 1) < 1e-12
    words = torch.tensor(list(law))
    assert bool(maze_is_spanning_tree(words, 3, 3).all())
    # Kirchhoff: the 3x3 grid has 192 spanning trees; count them by brute force over 8-edge subsets
    trees = [
        s
        for s in itertools.combinations(range(12), 8)
        if bool(maze_is_spanning_tree(torch.tensor([[int(i in s) for i in range(12)]]), 3, 3)[0])
    ]
    assert len(trees) == 192 and len(law) < 192  # DFS reaches only some spanning trees
    rng = random.Random(0)
    draws = torch.tensor([_random_dfs_maze(3, 3, rng) for _ in range(20000)])
    lang = maze_language(3, 3)
    test = grouped_chi_square(draws, torch.exp(exact_log_joint(lang, 12)), 2)
    assert test.pvalue > P_MIN


def test_two_sided_dyck_counts_and_membership():
    lang = two_sided_dyck_language(2, 4)
    for L, count in ((2, 4), (4, 28), (6, 232)):  # words of F_2 reducing to the identity
        assert abs(math.exp(lang.entropy(L)) - count) < 1e-9
    seqs = all_sequences(4, 6)
    member = is_two_sided_dyck(seqs, 2)
    assert torch.equal(member, torch.isfinite(lang.log_prob(seqs)))
    assert free_reduce((0, 2, 3, 1), 2) == () and free_reduce((0, 1), 2) == (0, 1)
    # ")(" style words are in the two-sided language but not in the one-sided one
    assert bool(is_two_sided_dyck(torch.tensor([[2, 0]]), 2)[0])


def test_two_sided_dyck_oracle_and_sampling():
    lang = two_sided_dyck_language(2, 3)
    law = torch.exp(exact_log_joint(lang, 6))
    x = lang.sample(20000, 6, make_generator(5))
    assert grouped_chi_square(x, law, 4).pvalue > P_MIN
