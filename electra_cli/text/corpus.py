"""Reading corpora: paths, folders and globs -> a stream of documents (lists of lines), with skip accounting.

Formats: plain text (one sentence or paragraph per line, a blank line ends a document), JSONL (one document
per record) and Parquet (one document per row, read in record batches). gzip, bz2, xz and zstd are recognised
by their magic bytes, not by the file name. Everything streams: memory stays bounded by one line (capped) or
one Parquet batch, whatever the size of the corpus.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import json
import lzma
import os
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zstandard
from rich.table import Table

from electra_cli.core.errors import DataError, UsageError

Document = list[str]  # the non-blank lines (sentences) of one document, stripped

# Why a file or record was skipped, or a line repaired; the keys of CorpusStats.skipped / .replaced.
SKIP_MESSAGES = {
    "empty_file": "empty file",
    "binary": "binary file (NUL bytes)",
    "unreadable": "unreadable file",
    "truncated": "truncated or corrupt compressed stream",
    "compressed_parquet": "compressed Parquet file (decompress it first)",
    "invalid_parquet": "invalid Parquet file",
    "invalid_json": "invalid JSON record",
    "not_an_object": "JSON record is not an object",
    "missing_field": "record without the text field",
    "non_string_field": "text field is not a string",
    "empty_document": "empty document",
    "line_too_long": "line longer than the line limit",
}
REPLACED_MESSAGES = {
    "invalid_utf8": "invalid UTF-8 replaced with U+FFFD",
    "lone_surrogate": "lone surrogate replaced with '?'",
}

MAGIC = {
    "gzip": b"\x1f\x8b",
    "bz2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}
PARQUET_MAGIC = b"PAR1"
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
COMPRESSION_SUFFIXES = {".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd"}
GLOB_CHARS = set("*?[")
SNIFF_BYTES = 8192
READ_BUFFER = 1 << 20
DECOMPRESSED_BUFFER = 1 << 16  # small, so a cut-off stream loses little before the damage is seen
PARQUET_BATCH_ROWS = 1024
PROGRESS_EVERY = 1 << 20  # report input bytes to the progress callback about every MiB

# Errors a decompressor raises on a damaged or cut-off stream.
STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError, ValueError)


@dataclass
class CorpusOptions:
    """How to read a corpus; shared by `vocab` and `shard`."""

    text_field: str = "text"  # JSONL field / Parquet column holding the document text
    strict: bool = False  # fail on the first bad file or record instead of skipping it
    max_bytes: int | None = None  # stop after this many bytes of kept text (at a document boundary)
    max_line_bytes: int = 1 << 20  # longer lines are skipped, so one huge line cannot exhaust memory
    summary: bool = True  # print the end-of-run summary (off where one command reads the same corpus twice)


@dataclass
class InputFile:
    """One file to read; `path` is None for standard input."""

    name: str
    path: Path | None
    size: int | None  # bytes on disk; None for stdin


@dataclass
class CorpusStats:
    """What a run read and what it skipped, reported at the end of every run and saved in manifests."""

    files: int = 0
    documents: int = 0
    lines: int = 0
    bytes: int = 0  # UTF-8 bytes of the kept lines
    input_bytes: int = 0  # bytes read from disk (compressed size for compressed files)
    skipped: Counter = field(default_factory=Counter)
    replaced: Counter = field(default_factory=Counter)
    first_seen: dict[str, str] = field(default_factory=dict)  # reason -> "file:line" of its first case

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "documents": self.documents,
            "lines": self.lines,
            "bytes": self.bytes,
            "input_bytes": self.input_bytes,
            "skipped": dict(sorted(self.skipped.items())),
            "replaced": dict(sorted(self.replaced.items())),
        }


def resolve_inputs(specs: Sequence[str]) -> list[InputFile]:
    """Expand paths, folders (recursive, sorted, hidden entries ignored) and globs; `-` is stdin.

    A path that does not exist, or a glob that matches nothing, is a usage error naming it.
    """
    if not specs:
        raise UsageError("no corpus given: pass one or more files, folders, globs or '-'")
    files: list[InputFile] = []
    for spec in specs:
        if spec == "-":
            files.append(InputFile(name="<stdin>", path=None, size=None))
            continue
        path = Path(spec).expanduser()
        if path.is_dir():
            found = _walk(path)
            if not found:
                raise UsageError(f"{spec}: folder contains no files")
            files.extend(found)
        elif path.exists():
            files.append(_input_file(path))
        elif GLOB_CHARS & set(spec):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise UsageError(f"{spec}: no file matches this pattern")
            for match in matches:
                match_path = Path(match)
                files.extend(_walk(match_path) if match_path.is_dir() else [_input_file(match_path)])
        else:
            raise UsageError(f"{spec}: no such file or folder")
    return files


def _input_file(path: Path) -> InputFile:
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return InputFile(name=str(path), path=path, size=size)


def _walk(folder: Path) -> list[InputFile]:
    """Files below `folder` in a stable order; unreadable sub-folders surface when read, not here."""
    found: list[InputFile] = []
    unreadable: list[str] = []
    for root, dirs, names in os.walk(folder, onerror=lambda err: unreadable.append(err.filename)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(_input_file(Path(root) / n) for n in sorted(names) if not n.startswith("."))
    # An unreadable folder is reported like an unreadable file: as a skip (or an error under --strict).
    found.extend(InputFile(name=str(u), path=Path(u), size=None) for u in unreadable)
    return found


class Corpus:
    """A corpus to stream: `documents()` yields each document once, `stats` counts what was read and skipped."""

    def __init__(self, specs: Sequence[str], options: CorpusOptions | None = None):
        self.options = options or CorpusOptions()
        self.files = resolve_inputs(specs)
        self.stats = CorpusStats()
        self._done = False  # set when --max-bytes is reached

    @property
    def total_bytes(self) -> int | None:
        """Bytes on disk of all inputs, for a progress bar; None when one is stdin."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)

    def describe_inputs(self) -> list[dict]:
        """Path and size of every input, for manifests."""
        return [{"path": f.name, "bytes": f.size} for f in self.files]

    def documents(self, on_bytes: Callable[[int], None] | None = None) -> Iterator[Document]:
        """Yield documents in input order; `on_bytes(n)` is called as input bytes are consumed."""
        report = on_bytes or (lambda n: None)
        for f in self.files:
            if self._done:
                return
            yield from self._read_file(f, report)

    def lines(self, on_bytes: Callable[[int], None] | None = None, batch: int = 1000) -> Iterator[list[str]]:
        """The kept lines in batches (what a tokenizer trainer wants)."""
        pending: list[str] = []
        for doc in self.documents(on_bytes):
            pending.extend(doc)
            if len(pending) >= batch:
                yield pending
                pending = []
        if pending:
            yield pending

    def report(self, title: str) -> None:
        """Print the end-of-run summary; a corpus that yielded nothing at all is an error."""
        from electra_cli.core.console import console

        if self.options.summary:
            console.print(summary_table(self.stats, title=title))
        if self.stats.documents == 0:
            raise DataError(f"{self.files[0].name}: no text found in the inputs (every file or record was skipped)")

    # ---- bookkeeping ---------------------------------------------------------------------------------

    def _skip(self, f: InputFile, reason: str, where: str = "", detail: str = "") -> None:
        """Count a skipped file or record, or raise under --strict."""
        location = f"{f.name}{where}"
        message = SKIP_MESSAGES[reason] + (f" ({detail})" if detail else "")
        if self.options.strict:
            raise DataError(f"{location}: {message}")
        self.stats.skipped[reason] += 1
        self.stats.first_seen.setdefault(reason, location)

    def _replace(self, f: InputFile, reason: str, where: str) -> None:
        """Count a repaired line or record, or raise under --strict."""
        if self.options.strict:
            raise DataError(f"{f.name}{where}: {REPLACED_MESSAGES[reason].split(' replaced')[0]}")
        self.stats.replaced[reason] += 1
        self.stats.first_seen.setdefault(reason, f"{f.name}{where}")

    def _keep(self, doc: Document, nbytes: int) -> bool:
        """Count a document that will be yielded; False once --max-bytes is reached."""
        self.stats.documents += 1
        self.stats.lines += len(doc)
        self.stats.bytes += nbytes
        limit = self.options.max_bytes
        if limit is not None and self.stats.bytes >= limit:
            self._done = True
        return not self._done

    # ---- reading one file ----------------------------------------------------------------------------

    def _read_file(self, f: InputFile, report: Callable[[int], None]) -> Iterator[Document]:
        self.stats.files += 1
        try:
            raw = _stdin() if f.path is None else open(f.path, "rb", buffering=READ_BUFFER)  # noqa: SIM115
        except OSError as err:
            self._skip(f, "unreadable", detail=err.strerror or str(err))
            return
        position = _position_reader(raw)
        reported = 0

        def progress() -> None:
            nonlocal reported
            now = position()
            if now - reported >= PROGRESS_EVERY:
                report(now - reported)
                reported = now

        try:
            try:
                head = raw.peek(8)[:8]
            except OSError as err:  # e.g. a folder without permission, or EISDIR
                self._skip(f, "unreadable", detail=err.strerror or str(err))
                return
            if not head:
                self._skip(f, "empty_file")
                return
            if head.startswith(PARQUET_MAGIC):
                yield from self._read_parquet(f, progress)
                return
            stream = _decompressed(raw, head)
            try:
                sample = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
            except STREAM_ERRORS:
                self._skip(f, "truncated")
                return
            if sample.startswith(PARQUET_MAGIC):
                self._skip(f, "compressed_parquet")
                return
            if b"\x00" in sample:
                self._skip(f, "binary")
                return
            if not sample:
                self._skip(f, "empty_file")
                return
            reader = self._read_jsonl if _looks_like_jsonl(f.name, sample) else self._read_text
            yield from reader(f, stream, progress)
        finally:
            end = position()
            if end > reported:
                report(end - reported)
            self.stats.input_bytes += end
            if f.path is not None:
                raw.close()

    def _read_lines(self, f: InputFile, stream: io.BufferedReader) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) pairs; over-long lines are drained and skipped, damage ends the file."""
        limit = self.options.max_line_bytes
        lineno = 0
        while True:
            raw_line = stream.readline(limit)
            if not raw_line:
                return
            lineno += 1
            if len(raw_line) >= limit and not raw_line.endswith(b"\n"):
                while (chunk := stream.readline(limit)) and not chunk.endswith(b"\n"):
                    pass
                self._skip(f, "line_too_long", f":{lineno}", f"over {limit} bytes")
                continue
            yield lineno, raw_line

    def _decode(self, f: InputFile, raw_line: bytes, lineno: int) -> str:
        try:
            return raw_line.decode("utf-8")
        except UnicodeDecodeError:
            self._replace(f, "invalid_utf8", f":{lineno}")
            return raw_line.decode("utf-8", "replace")

    def _read_text(self, f: InputFile, stream: io.BufferedReader, progress: Callable[[], None]) -> Iterator[Document]:
        doc: Document = []
        nbytes = 0
        try:
            for lineno, raw_line in self._read_lines(f, stream):
                text = self._decode(f, raw_line, lineno).strip()
                if text:
                    doc.append(text)
                    nbytes += len(raw_line)
                    continue
                if doc:
                    keep_going = self._keep(doc, nbytes)
                    yield doc
                    doc, nbytes = [], 0
                    progress()
                    if not keep_going:
                        return
        except STREAM_ERRORS as err:
            # The document in progress may be cut short: drop it rather than keep half a document.
            self._skip(f, "truncated", detail=str(err) or type(err).__name__)
            return
        if doc:
            self._keep(doc, nbytes)
            yield doc

    def _read_jsonl(self, f: InputFile, stream: io.BufferedReader, progress: Callable[[], None]) -> Iterator[Document]:
        key = self.options.text_field
        try:
            for lineno, raw_line in self._read_lines(f, stream):
                if not raw_line.strip():
                    continue
                where = f":{lineno}"
                try:
                    record = json.loads(self._decode(f, raw_line, lineno))
                except json.JSONDecodeError as err:
                    self._skip(f, "invalid_json", where, err.msg)
                    continue
                if not isinstance(record, dict):
                    self._skip(f, "not_an_object", where)
                    continue
                if key not in record or record[key] is None:
                    self._skip(f, "missing_field", where, f"no {key!r}")
                    continue
                doc = self._document_from_text(f, record[key], where)
                if doc is None:
                    continue
                keep_going = self._keep(doc, sum(len(line.encode()) for line in doc))
                yield doc
                progress()
                if not keep_going:
                    return
        except STREAM_ERRORS as err:
            self._skip(f, "truncated", detail=str(err) or type(err).__name__)

    def _read_parquet(self, f: InputFile, progress: Callable[[], None]) -> Iterator[Document]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = self.options.text_field
        if f.path is None:
            raise UsageError("<stdin>: Parquet cannot be read from standard input; pass the file path")
        try:
            parquet = pq.ParquetFile(f.path)
        except (pa.ArrowException, OSError) as err:
            self._skip(f, "invalid_parquet", detail=str(err).splitlines()[0])
            return
        schema = parquet.schema_arrow
        if key not in schema.names:
            self._skip(f, "missing_field", detail=f"no column {key!r}; columns: {', '.join(schema.names)}")
            return
        column_type = schema.field(key).type
        if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
            self._skip(f, "non_string_field", detail=f"column {key!r} is {column_type}")
            return
        row = 0
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[key]):
                for value in batch.column(0).to_pylist():
                    row += 1
                    where = f": row {row}"
                    if value is None:
                        self._skip(f, "missing_field", where, f"{key!r} is null")
                        continue
                    doc = self._document_from_text(f, value, where)
                    if doc is None:
                        continue
                    keep_going = self._keep(doc, sum(len(line.encode()) for line in doc))
                    yield doc
                    if not keep_going:
                        return
                progress()
        except (pa.ArrowException, OSError) as err:
            self._skip(f, "invalid_parquet", f": row {row}", str(err).splitlines()[0])

    def _document_from_text(self, f: InputFile, value: object, where: str) -> Document | None:
        """A record's text as a document (its non-blank lines), or None when it must be skipped."""
        if not isinstance(value, str):
            self._skip(f, "non_string_field", where, type(value).__name__)
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates such as "\ud800" are legal JSON but not UTF-8
            self._replace(f, "lone_surrogate", where)
            value = value.encode("utf-8", "replace").decode("utf-8")
        doc = [s for line in value.splitlines() if (s := line.strip())]
        if not doc:
            self._skip(f, "empty_document", where)
            return None
        return doc


def _stdin() -> io.BufferedReader:
    """Standard input as a buffered binary stream that can peek (some harnesses give a plain BytesIO)."""
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    return stream if hasattr(stream, "peek") else io.BufferedReader(stream)


def _position_reader(raw) -> Callable[[], int]:
    """How far into the (possibly compressed) input we are; stdin counts nothing."""
    try:
        raw.tell()
    except (OSError, ValueError):
        return lambda: 0
    return raw.tell


def _decompressed(raw: io.BufferedReader, head: bytes) -> io.BufferedReader:
    """Wrap `raw` in the decompressor its magic bytes call for (or none), buffered for readline and peek."""
    if head.startswith(MAGIC["gzip"]):
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head.startswith(MAGIC["bz2"]):
        inner = bz2.BZ2File(raw, mode="rb")
    elif head.startswith(MAGIC["xz"]):
        inner = lzma.LZMAFile(raw, mode="rb")
    elif head.startswith(MAGIC["zstd"]):
        inner = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
    else:
        return raw
    return io.BufferedReader(inner, buffer_size=DECOMPRESSED_BUFFER)


def _looks_like_jsonl(name: str, sample: bytes) -> bool:
    """JSONL by file name (ignoring compression suffixes), else by a first line that is a JSON object."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    while suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    if suffixes and suffixes[-1] in JSONL_SUFFIXES:
        return True
    first = sample.lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def summary_table(stats: CorpusStats, title: str = "corpus") -> Table:
    """The end-of-run summary: what was read, and every skip and repair by reason."""
    rows = [("files", stats.files, ""), ("documents", stats.documents, ""), ("lines", stats.lines, ""),
            ("text bytes", stats.bytes, "")]
    rows += [(f"[yellow]skipped: {SKIP_MESSAGES[reason]}", count, stats.first_seen.get(reason, ""))
             for reason, count in sorted(stats.skipped.items())]
    rows += [(f"[yellow]{REPLACED_MESSAGES[reason]}", count, stats.first_seen.get(reason, ""))
             for reason, count in sorted(stats.replaced.items())]
    where = any(at for _, _, at in rows)  # a clean corpus has nothing to locate: no empty column
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    if where:
        table.add_column("first seen at")
    for what, count, at in rows:
        table.add_row(what, f"{count:,}", *([at] if where else []))
    return table
