r"""AP-MDM's length-variable generation on two-sided Dyck-k, exactly (Yang et al., arXiv 2510.06190).

The paper (Thm. on two-sided Dyck-k, as stated in secondary notes; ``paper_statements.md`` §7 A6) says an
any-process MDM generates the two-sided Dyck-k language (words over :math:`a_1..a_k` and their inverses that
freely reduce to the identity, :mod:`sims.languages.free_group`), of **every** length, which a fixed-length
MDM cannot: its canvas length is fixed before generation.

Construction (ours, exact): a target law :math:`P` on two-sided Dyck-k words of lengths :math:`0, 2, ..,
2N`. Noising deletes a uniformly random adjacent cancelling pair (:math:`a a^{-1}` or :math:`a^{-1} a`);
every non-empty word has one, so it reaches the empty word. Let :math:`Q(w)` be the probability that the
noising chain started from :math:`x \sim P` passes through :math:`w`, so
:math:`Q(w) = P(w) + \sum_{w'} Q(w')\,R(w' \to w)` (:math:`R` = deletion kernel). The exact time reversal
from the empty word **stops** at :math:`w` with probability :math:`P(w)/Q(w)` and otherwise **inserts** a
pair, moving to :math:`w'` with probability :math:`Q(w') R(w' \to w) / Q(w)`; its output law is :math:`P`
exactly (every path through :math:`w` either ends there or came from some :math:`w'`). One insertion of
:math:`(a, a^{-1})` after position ``slot`` is three steps of AP-MDM's map g
(:func:`sims.sampling.any_process.apply_transition`): insert a mask; keep it masked (remask) and insert a
second one; unmask both (:func:`insertion_steps`).

Baselines: ``"uniform"`` inserts a uniformly random pair at a uniformly random slot and stops with the exact
length hazard :math:`P(N = n)/P(N \ge n)` (it reaches the right *length* law but not the content law); a
fixed-length MDM with canvas length :math:`2n` and the exact oracle of
:func:`sims.languages.free_group.two_sided_dyck_language` outputs the target conditioned on that length, so
its total variation to :math:`P` is :math:`1 - P(N = n)` at best.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from functools import cache

import torch

from sims.languages.free_group import free_reduce, inverse_token, two_sided_dyck_language
from sims.sampling.any_process import apply_transition, law_distance
from sims.validation import InvalidArgumentError, check_choice, check_positive_int

MODES = ("oracle", "uniform")


@cache
def dyck2_words(k: int, n_pairs: int) -> tuple[tuple[int, ...], ...]:
    """Two-sided Dyck-k words with ``n_pairs`` pairs, built by pair insertion from the empty word (sorted).

    Tokens: i < k is :math:`a_i`, i + k its inverse. The tests compare this closure with a brute-force
    filter of :math:`(2k)^{2n}` words by free reduction.
    """
    k = check_positive_int(k, "k")
    words = {()}
    for _ in range(int(n_pairs)):
        words = {v for w in words for v in pair_insertions(w, k)}
    return tuple(sorted(words))


def pair_insertions(w: tuple, k: int) -> list[tuple]:
    """Every word obtained by inserting :math:`(t, t^{-1})` at one of the ``len(w) + 1`` slots, with
    multiplicity (one entry per slot and letter t in ``0..2k-1``)."""
    return [w[:i] + (t, inverse_token(t, k)) + w[i:] for i in range(len(w) + 1) for t in range(2 * k)]


def pair_deletions(w: tuple, k: int) -> list[tuple]:
    """Every word obtained by deleting one adjacent cancelling pair, one entry per pair."""
    return [w[:i] + w[i + 2 :] for i in range(len(w) - 1) if w[i + 1] == inverse_token(w[i], k)]


def brute_force_words(k: int, n_pairs: int) -> list[tuple]:
    """All words of length ``2 n_pairs`` over ``2k`` letters that freely reduce to the identity."""
    return [w for w in itertools.product(range(2 * k), repeat=2 * n_pairs) if free_reduce(w, k) == ()]


def uniform_target(k: int, max_pairs: int) -> dict[tuple, float]:
    """Length uniform on ``0..max_pairs`` pairs, then uniform on the words of that length."""
    N = check_positive_int(max_pairs, "max_pairs")
    out = {}
    for n in range(N + 1):
        words = dyck2_words(k, n)
        out.update({w: 1.0 / ((N + 1) * len(words)) for w in words})
    return out


class InsertionProcess:
    """The stop-or-insert process of the module docstring on a target law (``mode`` = oracle | uniform)."""

    def __init__(self, k: int, target: dict[tuple, float], mode: str = "oracle"):
        self.k = check_positive_int(k, "k")
        self.mode = check_choice(mode, MODES, "mode")
        total = sum(target.values())
        if abs(total - 1) > 1e-12 or any(p < 0 for p in target.values()):
            raise InvalidArgumentError("target must be a probability law (non-negative, sums to 1)")
        bad = [w for w in target if len(w) % 2 or free_reduce(w, self.k) != ()]
        if bad:
            raise InvalidArgumentError(f"target must live on two-sided Dyck-{self.k} words, got {bad[0]}")
        self.target = {w: p for w, p in target.items() if p > 0}
        self.max_pairs = max(len(w) // 2 for w in self.target)
        self.mask_id = 2 * self.k
        self.length_law = [0.0] * (self.max_pairs + 1)
        for w, p in self.target.items():
            self.length_law[len(w) // 2] += p
        self.passage = self._passage()

    def _passage(self) -> dict[tuple, float]:
        """Q(w): probability that the noising chain from x ~ P passes through w (longest words first)."""
        q: dict = defaultdict(float)
        for n in range(self.max_pairs, -1, -1):
            for w in dyck2_words(self.k, n):
                q[w] += self.target.get(w, 0.0)
                if q[w] > 0 and n > 0:
                    dels = pair_deletions(w, self.k)
                    for v in dels:
                        q[v] += q[w] / len(dels)
        return {w: p for w, p in q.items() if p > 0}

    def kernel(self, w: tuple) -> tuple[float, dict[tuple, float]]:
        """``(stop probability, {w': probability})`` of one stop-or-insert decision at ``w``."""
        n = len(w) // 2
        if self.mode == "uniform":
            tail = sum(self.length_law[n:])
            stop = self.length_law[n] / tail if tail > 0 else 1.0
            out: dict = defaultdict(float)
            ins = pair_insertions(w, self.k)
            for v in ins:
                out[v] += (1 - stop) / len(ins)
            return stop, dict(out) if stop < 1 else {}
        qw = self.passage.get(w, 0.0)
        if qw <= 0:
            raise InvalidArgumentError(f"{w} is never visited by the noising chain of the target")
        moves = {}
        for v in set(pair_insertions(w, self.k)):
            qv = self.passage.get(v, 0.0)
            if qv > 0:
                dels = pair_deletions(v, self.k)
                moves[v] = qv * sum(d == w for d in dels) / len(dels) / qw
        return self.target.get(w, 0.0) / qw, moves

    def exact_law(self) -> dict[tuple, float]:
        """Exact law of the generated word (propagation of :meth:`kernel` from the empty word)."""
        law: dict = defaultdict(float)
        cur = {(): 1.0}
        for _ in range(self.max_pairs + 1):
            nxt: dict = defaultdict(float)
            for w, p in cur.items():
                stop, moves = self.kernel(w)
                if stop > 0:
                    law[w] += p * stop
                for v, q in moves.items():
                    nxt[v] += p * q
            cur = nxt
        if cur and sum(cur.values()) > 1e-12:
            raise AssertionError("mass left after max_pairs insertions")
        return dict(law)

    def insertion_steps(self, w: tuple, slot: int, letter: int) -> list[tuple]:
        """The three g steps inserting ``(letter, letter^{-1})`` after ``slot`` of ``[anchor] + w``
        (anchor = the mask id + 1 at position 0, as BOS); returns the three states."""
        M, B = self.mask_id, self.mask_id + 1
        x = (B, *w)
        z = [0] * len(x)
        ins = list(z)
        ins[slot] = 1
        x1 = apply_transition(x, x, z, ins, z, M)
        z1 = [0] * len(x1)
        rem = list(z1)
        rem[slot + 1] = 1
        x2 = apply_transition(x1, x1, rem, rem, z1, M)
        y = list(x2)
        y[slot + 1], y[slot + 2] = letter, inverse_token(letter, self.k)
        z2 = [0] * len(x2)
        x3 = apply_transition(x2, y, z2, z2, z2, M)
        return [x1, x2, x3]


def fixed_length_law(k: int, n_pairs: int) -> dict[tuple, float]:
    """Exact law a fixed-length MDM with the exact oracle of two-sided Dyck-k generates on a canvas of
    ``2 n_pairs`` tokens: the law of :func:`two_sided_dyck_language` at that length, evaluated on
    :func:`dyck2_words` (its mass there must be 1 to float64 rounding, so nothing lies outside)."""
    if n_pairs == 0:
        return {(): 1.0}
    words = dyck2_words(k, n_pairs)
    p = two_sided_dyck_language(k, n_pairs).log_prob(torch.tensor(words, dtype=torch.long)).exp()
    if abs(float(p.sum()) - 1) > 1e-12:
        raise AssertionError(
            f"the language puts mass {float(p.sum())} on the Dyck words of length {2 * n_pairs}"
        )
    return {w: float(q) for w, q in zip(words, p.tolist()) if q > 0}


def _length_tv(law: dict, target: dict) -> float:
    a: dict = defaultdict(float)
    b: dict = defaultdict(float)
    for w, p in law.items():
        a[len(w)] += p
    for w, p in target.items():
        b[len(w)] += p
    return 0.5 * sum(abs(a[n] - b[n]) for n in set(a) | set(b))


def dyck2_study(cases: tuple[tuple[int, int], ...]) -> dict:
    """For each ``(k, N)`` case: support counts, and TV (total and of the length law) to the uniform target of the
    oracle process, the uniform-insertion process and every fixed-length MDM (JSON-ready)."""
    rows = []
    for k, N in cases:
        if True:
            target = uniform_target(k, N)
            row = {
                "k": int(k),
                "max_pairs": int(N),
                "words_per_length": [len(dyck2_words(k, n)) for n in range(N + 1)],
            }
            for mode in MODES:
                law = InsertionProcess(k, target, mode).exact_law()
                tv, kl = law_distance(law, target)
                row[mode] = {
                    "tv": tv,
                    "kl": kl if math.isfinite(kl) else "inf",
                    "length_tv": _length_tv(law, target),
                    "support": len(law),
                    "g_steps_max": 3 * max(len(w) // 2 for w in law),
                }
            fixed = []
            for n in range(N + 1):
                law = fixed_length_law(k, n)
                fixed.append({"pairs": n, "tv": law_distance(law, target)[0], "support": len(law)})
            row["fixed_length"] = fixed
            rows.append(row)
    return {"rows": rows}
