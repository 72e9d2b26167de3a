"""The stdlib corpus: selection rule, split, hash and mismatch reporting (on synthetic library trees)."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from sims.languages.corpus import source
from sims.languages.corpus.source import (
    REFERENCE_HASHES,
    CorpusError,
    CorpusMismatchWarning,
    corpus_hash,
    stdlib_corpus,
)


def _tree(tmp_path, files: dict[str, bytes]):
    for rel, data in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return tmp_path


FILES = {
    "a.py": b"import os\n",
    "pkg/__init__.py": b"",
    "pkg/mod.py": b"def f(x):\n    return x\n",
    "test/test_a.py": b"excluded\n",
    "pkg/tests/t.py": b"excluded\n",
    "site-packages/x.py": b"excluded\n",
    "_sysconfigdata__linux.py": b"excluded\n",
    "config-3.11-x86_64/python-config.py": b"excluded\n",
    "notes.txt": b"not python\n",
    "big.py": b"#" * (source.MAX_FILE_BYTES + 1),
}


def test_selection_rule_and_sorting(tmp_path):
    c = stdlib_corpus(_tree(tmp_path, FILES), warn=False)
    assert [f.path for f in c.files] == ["a.py", "pkg/__init__.py", "pkg/mod.py"]
    assert all(f.sha256 == hashlib.sha256(FILES[f.path]).hexdigest() for f in c.files)
    assert sorted(c.train_files + c.held_out_files, key=lambda f: f.path) == c.files
    # the split depends on the path alone
    for f in c.files:
        assert f.held_out == (hashlib.sha256(f.path.encode()).digest()[0] < source.HELD_OUT_BYTE)
    assert c.read(c.files[0]) == FILES["a.py"]


def test_hash_tracks_contents_and_mismatch_is_flagged(tmp_path):
    root = _tree(tmp_path, FILES)
    c1 = stdlib_corpus(root, warn=False)
    assert c1.corpus_hash == corpus_hash(c1.files)
    assert not c1.matches_reference
    with pytest.warns(CorpusMismatchWarning, match="not the reference corpus"):
        stdlib_corpus(root)
    (root / "pkg/mod.py").write_bytes(b"def f(x):\n    return x + 1\n")
    c2 = stdlib_corpus(root, warn=False)
    assert c2.corpus_hash != c1.corpus_hash
    with pytest.raises(CorpusError, match=r"mod\.py changed since the corpus was listed"):
        c1.read(next(f for f in c1.files if f.path == "pkg/mod.py"))
    assert c2.provenance()["matches_reference"] is False


def test_take_caps_bytes_but_always_takes_one_file(tmp_path):
    c = stdlib_corpus(_tree(tmp_path, FILES), warn=False)
    assert len(c.take(c.files, max_bytes=1)) == 1
    assert len(c.take(c.files)) == len(c.files)


def test_missing_or_empty_library_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        stdlib_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match=r"no \.py files"):
        stdlib_corpus(tmp_path)


def test_local_standard_library_is_listed_reproducibly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorpusMismatchWarning)
        a, b = stdlib_corpus(), stdlib_corpus()
    assert a.corpus_hash == b.corpus_hash and len(a.files) > 100
    assert a.matches_reference == (a.corpus_hash in REFERENCE_HASHES.values())
    assert 0.05 < len(a.held_out_files) / len(a.files) < 0.2
