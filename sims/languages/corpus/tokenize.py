r"""Tokenizers for the stdlib corpus: a fixed character alphabet and a byte-pair encoding trained locally.

Character level (``"char"``, V = 98): tab, newline and the 95 printable ASCII bytes (32..126) are
tokens 0..96; every other byte (carriage return, form feed, each byte of a non-ASCII UTF-8 character)
is token 97, ``OTHER``. Nothing is fitted, so the alphabet is the same everywhere.

Subword level (``"bpe"``): byte-pair encoding (Sennrich, Haddow and Birch, "Neural machine translation of
rare words with subword units", ACL 2016) over the character alphabet, trained here in pure Python so
that the same merges come out on every machine (no optional dependency; a tokenizer library would add
its own version-dependent tie-breaking). Text is first split into words by :data:`WORD_PATTERN`
(identifiers with an optional leading space, digit runs, punctuation runs, whitespace runs; the GPT-2
pre-tokenizer adapted to ASCII source code); merges never cross a word boundary. Each merge joins the
most frequent adjacent pair of the training words, ties broken by the smaller pair of token ids; token
``98 + m`` is the m-th merge. Encoding applies the merges in rank order within each word (cached per
distinct word), the standard BPE encoding.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from sims.validation import InvalidArgumentError

#: Size of the character alphabet (tab, newline, printable ASCII, OTHER).
CHAR_VOCAB = 98
OTHER = 97
#: Pre-tokenizer: every byte of a text belongs to exactly one match.
WORD_PATTERN = re.compile(rb" ?[A-Za-z_][A-Za-z0-9_]*| ?[0-9]+| ?[^\sA-Za-z0-9_]+|\s+(?!\S)|\s+")

_BYTE_TO_CHAR = np.full(256, OTHER, dtype=np.int64)
_BYTE_TO_CHAR[9], _BYTE_TO_CHAR[10] = 0, 1
_BYTE_TO_CHAR[32:127] = np.arange(2, 97)
_CHAR_TO_BYTE = [9, 10, *range(32, 127), ord("?")]


def char_ids(data: bytes) -> np.ndarray:
    """Character-level token ids of ``data`` (int64)."""
    return _BYTE_TO_CHAR[np.frombuffer(data, dtype=np.uint8)]


@dataclass
class Tokenizer:
    """A character-level (no merges) or BPE tokenizer (module docstring).

    Attributes:
        merges: the ordered merges ``(left id, right id)``; token ``98 + m`` is merge m.
    """

    merges: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        self.merges = [(int(a), int(b)) for a, b in self.merges]
        for m, (a, b) in enumerate(self.merges):
            if not (0 <= a < CHAR_VOCAB + m and 0 <= b < CHAR_VOCAB + m):
                raise InvalidArgumentError(
                    f"merge {m} = ({a}, {b}) refers to a token that does not exist yet"
                )
        self._rank = {pair: m for m, pair in enumerate(self.merges)}
        self._cache: dict[bytes, list[int]] = {}

    @property
    def kind(self) -> str:
        return "bpe" if self.merges else "char"

    @property
    def vocab_size(self) -> int:
        return CHAR_VOCAB + len(self.merges)

    def fingerprint(self) -> str:
        """sha256 of the merge list (identifies the tokenizer in provenance records)."""
        return hashlib.sha256(repr(self.merges).encode()).hexdigest()

    def encode(self, data: bytes) -> np.ndarray:
        """Token ids of ``data`` (int64)."""
        if not self.merges:
            return char_ids(data)
        out: list[int] = []
        for word in WORD_PATTERN.findall(data):
            ids = self._cache.get(word)
            if ids is None:
                ids = self._cache[word] = self._merge_word(char_ids(word).tolist())
            out.extend(ids)
        return np.asarray(out, dtype=np.int64)

    def _merge_word(self, w: list[int]) -> list[int]:
        rank = self._rank
        while len(w) > 1:
            best, pos = None, -1
            for j in range(len(w) - 1):
                r = rank.get((w[j], w[j + 1]))
                if r is not None and (best is None or r < best):
                    best, pos = r, j
            if best is None:
                break
            a, b = w[pos], w[pos + 1]
            new, j, out = CHAR_VOCAB + best, 0, []
            while j < len(w):
                if j < len(w) - 1 and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            w = out
        return w

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for (``OTHER`` shown as ``?``)."""
        if token < CHAR_VOCAB:
            return bytes([_CHAR_TO_BYTE[token]])
        a, b = self.merges[token - CHAR_VOCAB]
        return self.token_bytes(a) + self.token_bytes(b)

    def decode(self, ids) -> bytes:
        return b"".join(self.token_bytes(int(t)) for t in ids)


def train_bpe(texts: list[bytes], vocab_size: int) -> Tokenizer:
    """Train ``vocab_size - 98`` merges on ``texts`` (module docstring); raises if fewer are possible."""
    num_merges = vocab_size - CHAR_VOCAB
    if num_merges < 0:
        raise InvalidArgumentError(
            f"vocab_size must be >= {CHAR_VOCAB} (the character alphabet), got {vocab_size}"
        )
    counts = Counter(w for t in texts for w in WORD_PATTERN.findall(t))
    words = [char_ids(w).tolist() for w in counts]
    freqs = list(counts.values())
    pair_count: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for wi, w in enumerate(words):
        for p in itertools.pairwise(w):
            pair_count[p] += freqs[wi]
            where[p].add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        while heap and (-heap[0][0] != pair_count.get(heap[0][1], 0) or heap[0][0] == 0):
            heapq.heappop(heap)  # stale entry (the pair's count changed since it was pushed)
        if not heap:
            raise InvalidArgumentError(
                f"only {len(merges)} merges are possible on this text; vocab_size {vocab_size} is too large"
            )
        _, pair = heapq.heappop(heap)
        new = CHAR_VOCAB + len(merges)
        merges.append(pair)
        changed: set[tuple[int, int]] = set()
        for wi in list(where[pair]):
            w, f = words[wi], freqs[wi]
            old_pairs = list(itertools.pairwise(w))
            merged, j = [], 0
            while j < len(w):
                if j < len(w) - 1 and (w[j], w[j + 1]) == pair:
                    merged.append(new)
                    j += 2
                else:
                    merged.append(w[j])
                    j += 1
            new_pairs = list(itertools.pairwise(merged))
            for p in old_pairs:
                pair_count[p] -= f
                changed.add(p)
            for p in new_pairs:
                pair_count[p] += f
                changed.add(p)
            for p in set(old_pairs) - set(new_pairs):
                where[p].discard(wi)
            for p in new_pairs:
                where[p].add(wi)
            words[wi] = merged
        pair_count[pair] = 0
        where.pop(pair, None)
        for p in changed:
            if pair_count[p] > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return Tokenizer(merges)
