"""Corpus reading: every format and compression, every skip reason, --strict, stdin, folders and globs."""

import bz2
import gzip
import io
import json
import lzma
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from electra_cli.core.errors import DataError, UsageError
from electra_cli.text.corpus import Corpus, CorpusOptions

TEXT = "First sentence.\nSecond sentence.\n\nOther document.\n\n\n\nThird document, line one.\nline two.\n"
DOCS = [["First sentence.", "Second sentence."], ["Other document."], ["Third document, line one.", "line two."]]


def read(paths, **options):
    corpus = Corpus([str(p) for p in paths], CorpusOptions(**options))
    return list(corpus.documents()), corpus.stats


COMPRESSORS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_text_with_every_compression_detected_by_magic_bytes(tmp_path, kind):
    path = tmp_path / "corpus.data"  # no telling extension: detection is by content
    path.write_bytes(COMPRESSORS[kind](TEXT.encode()))
    docs, stats = read([path])
    assert docs == DOCS
    assert (stats.files, stats.documents, stats.lines) == (1, 3, 5)
    assert stats.bytes == sum(len(line) + 1 for doc in DOCS for line in doc)
    assert not stats.skipped


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_jsonl_with_every_compression(tmp_path, kind):
    records = [{"text": "one\ntwo"}, {"text": "three", "id": 3}]
    raw = "".join(json.dumps(r) + "\n" for r in records).encode()
    path = tmp_path / "docs.jsonl"
    path.write_bytes(COMPRESSORS[kind](raw))
    docs, _ = read([path])
    assert docs == [["one", "two"], ["three"]]


def test_jsonl_detected_by_content_and_custom_field(tmp_path):
    path = tmp_path / "records"
    path.write_text('{"body": "alpha beta"}\n{"body": "gamma"}\n')
    docs, _ = read([path], text_field="body")
    assert docs == [["alpha beta"], ["gamma"]]


def test_parquet_read_in_batches(tmp_path):
    texts = [f"document number {i}\nsecond line {i}" for i in range(2500)]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"content": texts, "n": list(range(2500))}), path, row_group_size=700)
    docs, stats = read([path], text_field="content")
    assert len(docs) == 2500 and docs[1234] == ["document number 1234", "second line 1234"]
    assert stats.documents == 2500


def test_parquet_without_the_column_is_skipped_or_strict_error(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    docs, stats = read([path])
    assert docs == [] and stats.skipped["missing_field"] == 1
    with pytest.raises(DataError, match=r"data\.parquet.*text"):
        read([path], strict=True)


def test_parquet_null_and_non_string_values(tmp_path):
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["ok", None, ""]}), nulls)
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), ints)
    docs, stats = read([nulls, ints])
    assert docs == [["ok"]]
    assert stats.skipped == {"missing_field": 1, "empty_document": 1, "non_string_field": 1}


def test_folders_recursive_sorted_and_hidden_ignored(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("from a\n")
    (tmp_path / "b" / "c.txt").write_text("from c\n")
    (tmp_path / ".hidden.txt").write_text("hidden\n")
    docs, stats = read([tmp_path])
    assert docs == [["from a"], ["from c"]] and stats.files == 2


def test_globs(tmp_path):
    for name in ("x1.txt", "x2.txt", "y.txt"):
        (tmp_path / name).write_text(f"{name}\n")
    docs, _ = read([tmp_path / "x*.txt"])
    assert docs == [["x1.txt"], ["x2.txt"]]


def test_missing_path_and_unmatched_glob_and_empty_folder_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="nope.txt: no such file"):
        Corpus([str(tmp_path / "nope.txt")])
    with pytest.raises(UsageError, match="no file matches"):
        Corpus([str(tmp_path / "*.zzz")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty: folder contains no files"):
        Corpus([str(tmp_path / "empty")])


def test_stdin(monkeypatch):
    fake = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(TEXT.encode()))))
    monkeypatch.setattr(sys, "stdin", fake)
    docs, stats = read(["-"])
    assert docs == DOCS and stats.files == 1


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "binary": b"abc\x00\x01\x02 binary junk",
        "empty_file": b"",
        "truncated": gzip.compress(("good line\n" * 5000 + "\nnext doc\n").encode() * 3)[:-200],
        "corrupt_zst": b"\x28\xb5\x2f\xfd" + os.urandom(300),
        "fake_gz": b"plain text pretending\n",
        "bad_utf8": b"caf\xe9 au lait\nfine line\n",
        "jsonl": (
            b'{"text": "good record"}\n'
            b'{"other": 1}\n'
            b'{"text": 42}\n'
            b'{"text": "   "}\n'
            b"not json at all\n"
            b'["a list"]\n'
            b'{"text": "lone \\ud800 surrogate"}\n'
        ),
        "long_line": b"short\n" + b"x" * 5000 + b"\nafter\n",
    }
    names = {"fake_gz": "fake.txt.gz", "jsonl": "records.jsonl", "corrupt_zst": "corrupt.zst"}
    paths = {}
    for key, data in files.items():
        paths[key] = folder / names.get(key, f"{key}.txt")
        paths[key].write_bytes(data)
    return paths


def test_every_skip_reason_is_counted(tmp_path):
    paths = write_bad_inputs(tmp_path / "bad")
    docs, stats = read([tmp_path / "bad"], max_line_bytes=1000)
    assert stats.skipped == {
        "binary": 1,
        "empty_file": 1,
        "truncated": 2,  # the cut gzip and the corrupt zstd
        "missing_field": 1,
        "non_string_field": 1,
        "empty_document": 1,
        "invalid_json": 1,
        "not_an_object": 1,
        "line_too_long": 1,
    }
    assert stats.replaced == {"invalid_utf8": 1, "lone_surrogate": 1}
    flat = [line for doc in docs for line in doc]
    assert "plain text pretending" in flat  # a .gz name with plain content is read as text
    assert "caf\ufffd au lait" in flat and "good record" in flat and "lone ? surrogate" in flat
    assert ["short"] in docs and ["after"] in docs or ["short", "after"] in docs
    assert stats.first_seen["invalid_json"] == f"{paths['jsonl']}:5"


@pytest.mark.parametrize(
    "key, message",
    [
        ("binary", r"binary\.txt: binary file"),
        ("truncated", r"truncated\.txt: truncated or corrupt"),
        ("bad_utf8", r"bad_utf8\.txt:1: invalid UTF-8"),
        ("jsonl", r"records\.jsonl:2: record without the text field"),
        ("long_line", r"long_line\.txt:2: line longer"),
        ("empty_file", r"empty_file\.txt: empty file"),
    ],
)
def test_strict_names_file_and_line(tmp_path, key, message):
    paths = write_bad_inputs(tmp_path / "bad")
    with pytest.raises(DataError, match=message):
        read([paths[key]], strict=True, max_line_bytes=1000)


def test_truncated_file_keeps_complete_documents_only(tmp_path):
    docs_in = [f"doc {i} line a\ndoc {i} line b" for i in range(60000)]
    data = gzip.compress("\n\n".join(docs_in).encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    docs, stats = read([path])
    assert 0 < len(docs) < 60000 and stats.skipped["truncated"] == 1
    assert all(len(d) == 2 for d in docs)  # no half document kept


def test_max_bytes_stops_at_a_document_boundary(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join(f"document {i} has some words" for i in range(1000)))
    docs, stats = read([path], max_bytes=500)
    assert 500 <= stats.bytes < 600 and len(docs) == stats.documents < 1000


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_skipped(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hidden\n")
    path.chmod(0)
    docs, stats = read([path])
    assert docs == [] and stats.skipped["unreadable"] == 1


def test_a_folder_given_as_a_file_is_unreadable(tmp_path):
    from electra_cli.text.corpus import InputFile

    corpus = Corpus([str(tmp_path)] if any(tmp_path.iterdir()) else [__file__])
    corpus.files = [InputFile(name=str(tmp_path), path=tmp_path, size=None)]
    assert list(corpus.documents()) == [] and corpus.stats.skipped["unreadable"] == 1
