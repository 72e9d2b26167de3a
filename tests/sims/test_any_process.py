"""Any-process generation (sims/sampling/any_process.py): the transition map g, the parity reduction process
(exhaustive), and the exact insertion process on Dyck words. The remask-and-resample corrector built on g
is tested in tests/sims/test_remask.py."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.categorical import make_generator
from sims.languages.formal import dyck_language
from sims.sampling.any_process import (
    DyckInsertionProcess,
    ParityTokens,
    apply_transition,
    apply_transition_fixed,
    dyck_words,
    law_distance,
    parity_reduction_controls,
    run_any_process,
)
from tests.helpers import P_MIN, grouped_chi_square_pvalue

M = 9  # mask id used in the g tests


# ---- the transition map ---------------------------------------------------------------------------
def test_g_on_the_papers_parity_example():
    bos = ParityTokens().bos
    mask = ParityTokens().mask
    x = (bos, 0, 1)
    x1 = apply_transition(x, x, [0, 1, 0], [0, 0, 0], [0, 0, 0], mask)
    assert x1 == (bos, mask, 1)
    assert apply_transition(x1, x1, [0, 0, 0], [0, 0, 0], [0, 1, 0], mask) == (bos, 1)
    # insert appends a mask after the position; remask has priority over unmasking
    assert apply_transition((5, M), (0, 7), [0, 0], [1, 0], [0, 0], M) == (5, M, 7)
    assert apply_transition((5, M), (0, 7), [0, 1], [0, 1], [0, 0], M) == (5, M, M)
    # delete acts only on masked positions
    assert apply_transition((5, M), (0, 7), [0, 0], [0, 0], [1, 1], M) == (5,)
    with pytest.raises(ValueError):
        apply_transition((5,), (5, 5), [0], [0], [0], M)


@settings(max_examples=50)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(0, 2**16))
def test_fixed_length_g_matches_the_general_map(x, seed):
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    xs = torch.tensor([[v if v < 3 else M for v in x]])
    y = torch.randint(0, 3, (1, n), generator=g)
    remask = torch.rand((1, n), generator=g) < 0.4
    fixed = apply_transition_fixed(xs, y, remask, M)[0].tolist()
    assert tuple(fixed) == apply_transition(
        xs[0].tolist(), y[0].tolist(), remask[0].tolist(), [0] * n, [0] * n, M
    )


# ---- parity reduction -------------------------------------------------------------------------------
def test_parity_reduction_is_correct_on_every_string_up_to_length_10():
    tok = ParityTokens()
    for n in range(11):
        for bits in itertools.product([0, 1], repeat=n):
            traj = run_any_process((tok.bos,) + bits, parity_reduction_controls, tok.mask)
            expected = (tok.bos, 1) if sum(bits) % 2 else (tok.bos,)
            assert traj[-1] == expected
            assert len(traj) - 1 <= 2 * n  # two g steps per reduction (and for a final lone 0)
            assert all(len(b) <= len(a) for a, b in itertools.pairwise(traj))


# ---- exact insertion process ------------------------------------------------------------------------
def test_dyck_words_match_the_dyck_language():
    for n in range(1, 5):
        words = dyck_words(n)
        assert len(words) == math.comb(2 * n, n) // (n + 1)  # Catalan numbers
        lang = dyck_language(n)
        assert bool(lang.accepts(torch.tensor(words)).all())
        assert math.isclose(lang.entropy(2 * n), math.log(len(words)), rel_tol=1e-12)


@pytest.mark.parametrize("n_pairs", [1, 2, 3, 4])
def test_insertion_with_the_exact_reverse_kernel_reproduces_the_target(n_pairs):
    proc = DyckInsertionProcess(n_pairs)
    tv, kl = law_distance(proc.exact_law(), proc.target)
    assert tv < 1e-12 and abs(kl) < 1e-12
    g = torch.Generator().manual_seed(n_pairs)
    words = dyck_words(n_pairs)
    w = torch.rand(len(words), generator=g, dtype=torch.float64) + 0.05
    target = {v: float(p) for v, p in zip(words, w / w.sum())}
    tv, kl = law_distance(DyckInsertionProcess(n_pairs, target).exact_law(), target)
    assert tv < 1e-12 and abs(kl) < 1e-12


def test_uniform_slot_insertion_is_not_uniform_and_monte_carlo_matches_exact():
    naive = DyckInsertionProcess(3, oracle=False)
    tv, _ = law_distance(naive.exact_law(), naive.target)
    assert tv > 0.05
    proc = DyckInsertionProcess(3)
    samples, steps = proc.sample(3000, make_generator(0))
    assert steps == 9
    words = dyck_words(3)
    counts = torch.tensor([sum(1 for s in samples if s == w) for w in words], dtype=torch.float64)
    idx = torch.repeat_interleave(torch.arange(len(words)), counts.long()).unsqueeze(1)
    law = torch.full((len(words),), 1 / len(words), dtype=torch.float64)
    assert grouped_chi_square_pvalue(idx, law, len(words)) > P_MIN


def test_bad_input():
    with pytest.raises(ValueError):
        DyckInsertionProcess(2, target={(0, 1, 0, 1): 0.5})
    with pytest.raises(ValueError):
        parity_reduction_controls((0, 1))
