r"""Any-process generation (Yang et al., "On Powerful Ways to Generate", arXiv 2510.06190; AP-MDM).

AP-MDM iterates a learned map and a fixed transition :math:`g`: from a state x (variable length, mask id
M) the model proposes a token :math:`y_i` and control bits (remask, insert, delete) per position, and
:math:`g` rewrites the sequence (Algorithm 1, as reconstructed from the paper's ``method.tex`` quoted by
a third-party replication; **not read first-hand**):

* delete position i if its delete bit is set **and** :math:`x_i = M`;
* otherwise write M if its remask bit is set (highest priority), else :math:`y_i` if :math:`x_i = M`
  (unmask), else :math:`x_i` (keep);
* then, if its insert bit is set, append a new M right after it.

So a masked position that should *stay* masked must carry the remask bit. :func:`apply_transition` is
that map on tuples (any length); :func:`apply_transition_fixed` is its vectorised length-preserving case.

What this module builds on top (all exact; the remask-and-resample corrector built on :math:`g` is the
sampler :class:`sims.sampling.remask.RemaskCorrector`):

1. :func:`parity_reduction_controls` / :func:`run_any_process` — the paper's parity task: on
   ``[BOS] a b ...`` remask and delete the first two bits (01 -> M1 -> 1, 10 -> 1M -> 1, 00/11 -> MM ->
   empty) until ``[BOS]`` (even) or ``[BOS] 1`` (odd); a lone final 0 is remasked and deleted (our
   completion of the pair rules); a variable-length process checked exhaustively.
2. :class:`DyckInsertionProcess` — exact variable-length generation by **insertion**: the target law on
   Dyck words of length 2N (:func:`sims.languages.formal.dyck_language`) is noised by deleting a uniformly
   random adjacent "()" pair per step; the exact time reversal inserts a pair with the Bayes kernel
   :math:`P(w' \mid w) = P_{n}(w')R(w' \to w)/P_{n-1}(w)`. Each pair insertion is three :math:`g` steps
   (insert M, remask it and insert another M, unmask both as "(" ")"). The output law equals the target
   exactly; inserting "()" at a uniformly random slot (no oracle) does not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sims.categorical import sample_categorical
from sims.validation import InvalidArgumentError, check_positive_int


# ---- the transition map g -----------------------------------------------------------------------
def apply_transition(
    x: Sequence[int],
    y: Sequence[int],
    remask: Sequence[int],
    insert: Sequence[int],
    delete: Sequence[int],
    mask_id: int,
) -> tuple:
    """AP-MDM's ``g`` on one sequence of any length (see the module docstring); returns a tuple."""
    n = len(x)
    for name, v in (("y", y), ("remask", remask), ("insert", insert), ("delete", delete)):
        if len(v) != n:
            raise InvalidArgumentError(f"{name} has length {len(v)}, expected {n}")
    out = []
    for i in range(n):
        if delete[i] and x[i] == mask_id:
            continue
        if remask[i]:
            out.append(mask_id)
        elif x[i] == mask_id:
            out.append(int(y[i]))
        else:
            out.append(int(x[i]))
        if insert[i]:
            out.append(mask_id)
    return tuple(out)


def apply_transition_fixed(
    x: torch.Tensor, y: torch.Tensor, remask: torch.Tensor, mask_id: int
) -> torch.Tensor:
    """Vectorised ``g`` without insert/delete: ``(B, L)`` tensors, same length out."""
    return torch.where(remask, torch.full_like(x, mask_id), torch.where(x == mask_id, y, x))


# ---- 1. the parity process (variable length: remask + delete) ----------------------------------
@dataclass(frozen=True)
class ParityTokens:
    """Token ids of the parity task: bits 0/1, mask, beginning of sequence."""

    zero: int = 0
    one: int = 1
    mask: int = 2
    bos: int = 3


def parity_reduction_controls(x: tuple, tok: ParityTokens = ParityTokens()):
    """Oracle controls ``(y, remask, insert, delete)`` of the parity task for state ``x`` (None = stop).

    State ``[BOS] b1 b2 ...``. If masks are present, delete them. Otherwise with at least two bits:
    01 -> remask b1, 10 -> remask b2, 00 / 11 -> remask both (they cancel); a lone 0 is remasked (and
    then deleted). Stops at ``[BOS]`` (even) or ``[BOS] 1`` (odd).
    """
    n = len(x)
    if n == 0 or x[0] != tok.bos:
        raise InvalidArgumentError(f"state must start with BOS={tok.bos}: {x}")
    zeros = [0] * n
    if tok.mask in x:
        return list(x), zeros, zeros, [int(v == tok.mask) for v in x]
    remask = list(zeros)
    if n == 2 and x[1] == tok.zero:
        remask[1] = 1
        return list(x), remask, zeros, zeros
    if n < 3:
        return None
    a, b = x[1], x[2]
    if a == tok.zero and b == tok.one:
        remask[1] = 1
    elif a == tok.one and b == tok.zero:
        remask[2] = 1
    else:
        remask[1] = remask[2] = 1
    return list(x), remask, zeros, zeros


def run_any_process(x0: tuple, controls: Callable, mask_id: int, max_steps: int = 10**6) -> list[tuple]:
    """Iterate ``x <- g(x, controls(x))`` until ``controls`` returns None; returns the trajectory."""
    traj = [tuple(x0)]
    for _ in range(max_steps):
        c = controls(traj[-1])
        if c is None:
            return traj
        traj.append(apply_transition(traj[-1], *c, mask_id=mask_id))
    raise RuntimeError(f"no stop within {max_steps} steps")


# ---- 2. exact insertion process on Dyck words ---------------------------------------------------
OPEN, CLOSE = 0, 1


def dyck_words(n_pairs: int) -> list[tuple]:
    """All balanced words with ``n_pairs`` pairs (token 0 = "(", 1 = ")"), in lexicographic order."""
    out = []

    def rec(prefix, opened, depth):
        if len(prefix) == 2 * n_pairs:
            out.append(tuple(prefix))
            return
        if opened < n_pairs:
            rec(prefix + [OPEN], opened + 1, depth + 1)
        if depth > 0:
            rec(prefix + [CLOSE], opened, depth - 1)

    rec([], 0, 0)
    return out


def pair_deletions(w: tuple) -> list[tuple]:
    """Words obtained by deleting one adjacent "()" pair, one entry per pair (with multiplicity)."""
    return [w[:i] + w[i + 2 :] for i in range(len(w) - 1) if w[i] == OPEN and w[i + 1] == CLOSE]


def pair_insertions(w: tuple) -> list[tuple]:
    """Words obtained by inserting "()" at each of the len(w)+1 slots (with multiplicity)."""
    return [w[:i] + (OPEN, CLOSE) + w[i:] for i in range(len(w) + 1)]


class DyckInsertionProcess:
    r"""Exact insertion-based generation of a law on Dyck words of length 2N (see the module docstring).

    Args:
        target: ``{word: probability}`` on the Dyck words with N pairs (None = uniform).
        n_pairs: N.
        oracle: True = exact Bayes reverse kernel; False = insert "()" at a uniformly random slot.

    Tokens: 0 = "(", 1 = ")", 2 = mask, 3 = BOS (an anchor at position 0 so that insertion after
    position 0 puts a pair at the front).
    """

    MASK, BOS = 2, 3

    def __init__(self, n_pairs: int, target: dict | None = None, oracle: bool = True):
        self.n_pairs = check_positive_int(n_pairs, "n_pairs")
        words = dyck_words(self.n_pairs)
        if target is None:
            target = {w: 1.0 / len(words) for w in words}
        total = sum(target.values())
        if abs(total - 1) > 1e-9 or any(p < 0 for p in target.values()) or set(target) - set(words):
            raise InvalidArgumentError("target must be a probability law on Dyck words with n_pairs pairs")
        self.target = {w: target.get(w, 0.0) for w in words}
        self.oracle = oracle
        # marginals of the deletion (noising) process P_n, n = N..0
        self.marginals = {self.n_pairs: dict(self.target)}
        for n in range(self.n_pairs, 0, -1):
            nxt: dict = defaultdict(float)
            for w, p in self.marginals[n].items():
                dels = pair_deletions(w)
                for v in dels:
                    nxt[v] += p / len(dels)
            self.marginals[n - 1] = dict(nxt)

    def reverse_kernel(self, w: tuple) -> dict:
        """``{w': P(w' | w)}`` for one pair insertion into ``w`` (Bayes or uniform slot)."""
        n = len(w) // 2 + 1
        if not self.oracle:
            ins = pair_insertions(w)
            out: dict = defaultdict(float)
            for v in ins:
                out[v] += 1.0 / len(ins)
            return dict(out)
        pw = self.marginals[n - 1].get(w, 0.0)
        if pw <= 0:
            raise InvalidArgumentError(f"{w} has probability zero under the noising marginal")
        out = {}
        for v in set(pair_insertions(w)):
            dels = pair_deletions(v)
            r = sum(1 for d in dels if d == w) / len(dels)
            p = self.marginals[n].get(v, 0.0) * r / pw
            if p > 0:
                out[v] = p
        return out

    def exact_law(self) -> dict:
        """Exact law of the generated word (propagating the reverse kernel from the empty word)."""
        law = {(): 1.0}
        for _ in range(self.n_pairs):
            nxt: dict = defaultdict(float)
            for w, p in law.items():
                for v, q in self.reverse_kernel(w).items():
                    nxt[v] += p * q
            law = dict(nxt)
        return law

    def insertion_steps(self, w: tuple, v: tuple, slot: int) -> list[tuple]:
        """The three ``g`` steps turning ``[BOS] + w`` into ``[BOS] + v`` by inserting "()" after ``slot``."""
        M, B = self.MASK, self.BOS
        x = (B,) + w
        n = len(x)
        z = [0] * n
        ins = list(z)
        ins[slot] = 1
        x1 = apply_transition(x, x, z, ins, z, M)  # one mask after the slot
        n1 = len(x1)
        rem, ins2 = [0] * n1, [0] * n1
        rem[slot + 1] = ins2[slot + 1] = 1
        x2 = apply_transition(x1, x1, rem, ins2, [0] * n1, M)  # keep it masked and add a second mask
        y = list(x2)
        y[slot + 1], y[slot + 2] = OPEN, CLOSE
        x3 = apply_transition(x2, y, [0] * len(x2), [0] * len(x2), [0] * len(x2), M)  # unmask both
        if x3 != (B,) + v:
            raise AssertionError(f"insertion steps produced {x3}, expected {(B,) + v}")
        return [x1, x2, x3]

    def sample(self, num_samples: int, generator: torch.Generator) -> tuple[list[tuple], int]:
        """Monte Carlo: ``num_samples`` words (without BOS) and the number of ``g`` steps per word (3N)."""
        out = []
        for _ in range(check_positive_int(num_samples, "num_samples")):
            w: tuple = ()
            for _ in range(self.n_pairs):
                kern = self.reverse_kernel(w)
                opts = sorted(kern)
                probs = torch.tensor([kern[v] for v in opts], dtype=torch.float64)
                v = opts[int(sample_categorical(probs.unsqueeze(0) / probs.sum(), generator)[0])]
                slots = [i for i in range(len(w) + 1) if w[:i] + (OPEN, CLOSE) + w[i:] == v]
                slot = slots[int(torch.randint(len(slots), (1,), generator=generator))]
                self.insertion_steps(w, v, slot)
                w = v
            out.append(w)
        return out, 3 * self.n_pairs


def law_distance(p: dict, q: dict) -> tuple[float, float]:
    """(TV, KL(q || p)) between two laws on hashable outcomes (KL infinite if p misses q's support)."""
    keys = set(p) | set(q)
    tv = 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)
    kl = 0.0
    for k, qk in q.items():
        if qk > 0:
            pk = p.get(k, 0.0)
            if pk <= 0:
                return tv, math.inf
            kl += qk * math.log(qk / pk)
    return tv, kl
