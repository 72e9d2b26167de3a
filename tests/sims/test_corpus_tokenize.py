"""Character alphabet and BPE: partition, determinism, round trips, and the encoder against its definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sims.languages.corpus.tokenize import CHAR_VOCAB, OTHER, WORD_PATTERN, Tokenizer, char_ids, train_bpe

ASCII = st.text(alphabet=st.sampled_from(list("ab _(x)\n\t=1:  ")), max_size=60)


def test_character_alphabet():
    assert char_ids(b"\t\n ~").tolist() == [0, 1, 2, 96]
    assert char_ids("é\r".encode()).tolist() == [OTHER, OTHER, OTHER]
    assert Tokenizer().vocab_size == CHAR_VOCAB == 98


@given(st.binary(max_size=200))
def test_word_pattern_partitions_any_bytes(data):
    assert b"".join(WORD_PATTERN.findall(data)) == data


def _reference_encode(tok: Tokenizer, data: bytes) -> list[int]:
    """BPE by definition: in each word, apply the merges in the order they were learned."""
    out = []
    for word in WORD_PATTERN.findall(data):
        w = char_ids(word).tolist()
        for m, (a, b) in enumerate(tok.merges):
            j, merged = 0, []
            while j < len(w):
                if j < len(w) - 1 and w[j] == a and w[j + 1] == b:
                    merged.append(CHAR_VOCAB + m)
                    j += 2
                else:
                    merged.append(w[j])
                    j += 1
            w = merged
        out.extend(w)
    return out


TRAIN = [b"def f(x):\n    return x + x\n", b"class A:\n    def g(self):\n        return self.f(1)\n"] * 3


@given(ASCII)
def test_bpe_encoding_equals_its_definition_and_round_trips(text):
    tok = train_bpe(TRAIN, 120)
    data = text.encode()
    ids = tok.encode(data)
    assert ids.tolist() == _reference_encode(tok, data)
    assert tok.decode(ids) == data
    assert ids.dtype == np.int64 and (ids < tok.vocab_size).all()


def test_bpe_training_is_deterministic_and_exact_in_size():
    a, b = train_bpe(TRAIN, 120), train_bpe(list(TRAIN), 120)
    assert a.merges == b.merges and a.vocab_size == 120 and a.fingerprint() == b.fingerprint()
    # the first merge is the most frequent adjacent pair within words (ties: smallest ids)
    counts: dict = {}
    for t in TRAIN:
        for w in WORD_PATTERN.findall(t):
            ids = char_ids(w).tolist()
            for p in itertools.pairwise(ids):
                counts[p] = counts.get(p, 0) + 1
    best = max(counts.values())
    assert a.merges[0] == min(p for p, c in counts.items() if c == best)
    with pytest.raises(ValueError, match="merges are possible"):
        train_bpe([b"ab"], 200)
    with pytest.raises(ValueError, match="vocab_size must be >= 98"):
        train_bpe(TRAIN, 50)
    with pytest.raises(ValueError, match="does not exist yet"):
        Tokenizer([(5, CHAR_VOCAB)])
