r"""AP-MDM's parity task (Yang et al., arXiv 2510.06190) on the official test format ``[BOS] bits [EOS]``.

Source: the official generator ``dataset/parity/parity_generator.py`` (upstream code in the fork
cl-1-koi/AP-MDM, read; ``paper_statements.md`` §7 A3): the training data are exactly 7 transitions on the
window ``[BOS] a b`` (:data:`OFFICIAL_TRANSITIONS`: 01 -> M1 -> 1, 10 -> 1M -> 1, 00 / 11 -> MM -> empty),
the test inputs are ``[BOS] + random bits + [EOS]`` and the expected final state is ``[BOS]`` (even number
of ones) or ``[BOS] 1`` (odd), **without** EOS. No training transition contains EOS.

Our reading (labelled; how the length-3 model is applied to long inputs was not read): the policy acts on
the prefix window ``x[:3]``; where the window is the start state of one of the 7 transitions it returns
that transition's controls (remask where the target is M, delete the masks that disappear, as the
generator's ``_compute_apmdm_signals``), otherwise it stops. AP-MDM's map g
(:func:`sims.sampling.any_process.apply_transition`) deletes only masks, so EOS is never removed.
Conventions (:data:`EOS_CONVENTIONS`):

* ``"official"``: the 7 transitions only;
* ``"lone_zero_completion"``: plus ``[BOS] 0 [EOS] -> [BOS] M [EOS] -> [BOS] [EOS]`` (the project's
  completion of the pair rules, :func:`sims.sampling.any_process.parity_reduction_controls`, with EOS).

Terminal states are compared with the expected final state literally and modulo a trailing EOS. The pair
rules act as a three-state automaton on the bits read left to right (state: nothing pending, a pending 0,
a pending 1; 0 then 0 -> nothing, 1 then 1 -> nothing, 0 then 1 or 1 then 0 -> pending 1), so under
``"official"`` an input gets stuck at ``[BOS] 0 [EOS]`` exactly when that automaton ends in "pending 0"
(:func:`pending_state_counts` counts them by dynamic programming, the tests compare it with the g runs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sims.sampling.any_process import ParityTokens, run_any_process
from sims.validation import InvalidArgumentError, check_positive_int

#: Token ids: the suite's ParityTokens (0, 1, mask 2, BOS 3) plus EOS = 4 (the official ids differ:
#: BOS 0, EOS 1, MASK 2, ZERO 3, ONE 4; a relabelling).
TOK = ParityTokens()
EOS = 4
_B, _M, _0, _1 = TOK.bos, TOK.mask, TOK.zero, TOK.one

#: The official generator's 7 training transitions (x_k -> x_{k+1}), in its order.
OFFICIAL_TRANSITIONS = (
    ((_B, _0, _1), (_B, _M, _1)),
    ((_B, _M, _1), (_B, _1)),
    ((_B, _1, _0), (_B, _1, _M)),
    ((_B, _1, _M), (_B, _1)),
    ((_B, _0, _0), (_B, _M, _M)),
    ((_B, _1, _1), (_B, _M, _M)),
    ((_B, _M, _M), (_B,)),
)
#: The project's completion for a lone final 0, written with EOS.
LONE_ZERO_TRANSITIONS = (
    ((_B, _0, EOS), (_B, _M, EOS)),
    ((_B, _M, EOS), (_B, EOS)),
)
EOS_CONVENTIONS = ("official", "lone_zero_completion")


def transition_controls(x_k: tuple, x_next: tuple) -> tuple[list, list, list, list]:
    """Controls ``(y, remask, insert, delete)`` that turn ``x_k`` into ``x_next`` (the generator's rule:
    shorter -> delete the masks that do not align; same length -> remask where the target is M)."""
    n = len(x_k)
    y, remask, insert, delete = list(x_k), [0] * n, [0] * n, [0] * n
    if len(x_next) < n:
        j = 0
        for i in range(n):
            if j < len(x_next) and x_k[i] == x_next[j]:
                j += 1
            elif x_k[i] == _M:
                delete[i] = 1
    elif len(x_next) == n:
        for i in range(n):
            if x_k[i] != x_next[i] and x_next[i] == _M:
                remask[i] = 1
            elif x_k[i] != x_next[i] and x_k[i] == _M:
                y[i] = x_next[i]
    else:
        raise InvalidArgumentError(f"x_next must not be longer than x_k: {x_k} -> {x_next}")
    return y, remask, insert, delete


def _table(convention: str) -> dict:
    if convention not in EOS_CONVENTIONS:
        raise InvalidArgumentError(f"convention must be one of {EOS_CONVENTIONS}, got {convention!r}")
    pairs = OFFICIAL_TRANSITIONS + (LONE_ZERO_TRANSITIONS if convention == "lone_zero_completion" else ())
    return {a: transition_controls(a, b) for a, b in pairs}


def window_policy(convention: str):
    """The policy of a convention: controls of the matching transition on the window ``x[:3]``, zeros on
    the rest of the sequence; None (stop) when no transition starts at the window."""
    table = _table(convention)

    def controls(x: tuple):
        c = table.get(tuple(x[:3]))
        if c is None:
            return None
        pad = [0] * (len(x) - 3)
        y, r, i, d = c
        return [*y, *x[3:]], [*r, *pad], [*i, *pad], [*d, *pad]

    return controls


@dataclass
class ParityEosRow:
    """Outcome counts over all ``2**length`` inputs ``[BOS] bits [EOS]`` of one length."""

    length: int
    strings: int
    literal_correct: int  # terminal == expected final state exactly (no EOS)
    correct_modulo_eos: int  # terminal with a trailing EOS dropped == expected final state
    stuck_lone_zero: int  # terminal == [BOS] 0 [EOS]
    max_g_steps: int


def parity_eos_row(length: int, convention: str) -> ParityEosRow:
    """Run the window policy of ``convention`` on every input of ``length`` bits (2**length runs)."""
    n = int(length)
    if n < 0:
        raise InvalidArgumentError(f"length must be >= 0, got {length!r}")
    policy = window_policy(convention)
    lit = mod = stuck = steps = 0
    for bits in itertools.product((_0, _1), repeat=n):
        traj = run_any_process((_B, *bits, EOS), policy, _M, max_steps=4 * n + 4)
        end = traj[-1]
        expected = (_B, _1) if sum(b == _1 for b in bits) % 2 else (_B,)
        lit += end == expected
        mod += (end[:-1] if end and end[-1] == EOS else end) == expected
        stuck += end == (_B, _0, EOS)
        steps = max(steps, len(traj) - 1)
    return ParityEosRow(n, 2**n, lit, mod, stuck, steps)


def pending_state_counts(length: int) -> dict:
    """Numbers of bit strings of ``length`` after which the pair automaton is in each state
    (``"none"``, ``"zero"``, ``"one"``), by dynamic programming over the length."""
    n = int(length)
    if n < 0:
        raise InvalidArgumentError(f"length must be >= 0, got {length!r}")
    c = {"none": 1, "zero": 0, "one": 0}
    for _ in range(n):
        c = {
            "none": c["zero"] + c["one"],  # 00 and 11 cancel
            "zero": c["none"],  # a fresh 0
            "one": c["none"] + c["zero"] + c["one"],  # a fresh 1, 0 then 1, 1 then 0
        }
    return c


def parity_eos_study(max_length: int) -> dict:
    """Rows of both conventions for lengths 0..``max_length`` and the automaton counts (JSON-ready)."""
    L = check_positive_int(max_length, "max_length")
    return {
        "max_length": L,
        "conventions": {
            conv: [vars(parity_eos_row(n, conv)) for n in range(L + 1)] for conv in EOS_CONVENTIONS
        },
        "pending_zero": [pending_state_counts(n)["zero"] for n in range(L + 1)],
    }
