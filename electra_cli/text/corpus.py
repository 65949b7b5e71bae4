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
READ_BUFFER = 1 << 18  # also what a share's reader may read ahead past its end
UNIT_BYTES = 1 << 18  # the unit of work when the caller names none (shards/write.py names its CHUNK_BYTES)
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


@dataclass
class Reading:
    """One reading of one input file for the units `units`: where the file sits in the corpus's byte space
    (inputs laid end to end, cut every `unit_bytes`), and where the reading stands."""

    start: int  # the file's first byte in the corpus's byte space
    unit_bytes: int
    last: int  # the corpus's last unit
    units: range  # the units to read
    begin: int = 0  # where this reading's share of the file begins (bytes into the file)
    pos: int = 0  # bytes of the file consumed as lines so far
    splits: bool = True  # False where the file is read whole (compressed, stdin): one unit
    unit: int = -1  # the unit of the documents read now

    def __post_init__(self) -> None:
        self.unit = self.unit_at(0)

    def unit_at(self, offset: int) -> int:
        """The unit that a cut place `offset` bytes into the file begins."""
        return min((self.start + offset) // self.unit_bytes, self.last)

    @property
    def owner(self) -> bool:
        """Whether the file's head is this reading's: it reads the file from the start and counts it."""
        return self.unit_at(0) in self.units

    def touches(self, size: int) -> bool:
        """Whether the file can hold documents of `units` (from its size alone)."""
        return self.owner or len(self.units) > 0 and self.unit_at(0) < self.units.start <= self.unit_at(size - 1)

    def where(self, lineno: int) -> str:
        """A line's location for messages (line numbers count from where this reading began)."""
        return f":{lineno}" if self.begin == 0 else f":{lineno} (counting lines from byte {self.begin})"


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

    def unit_count(self, unit_bytes: int) -> int:
        """How many units of work the corpus has: its inputs laid end to end, cut every `unit_bytes` (from the
        sizes alone, so every process of a job counts the same without reading anything)."""
        total = sum(f.size or 0 for f in self.files)
        return max(1, -(-total // unit_bytes))

    def share_bytes(self, unit_bytes: int, units: range) -> int | None:
        """About how many input bytes `units` covers, for a progress bar; None when an input is stdin."""
        total = self.total_bytes
        if total is None:
            return None
        return max(0, min(units.stop * unit_bytes, total) - min(units.start * unit_bytes, total))

    def documents(self, on_bytes: Callable[[int], None] | None = None) -> Iterator[Document]:
        """Yield documents in input order; `on_bytes(n)` is called as input bytes are consumed."""
        for _, doc in self.unit_documents(UNIT_BYTES, None, on_bytes):
            yield doc

    def unit_documents(self, unit_bytes: int, units: range | None = None,
                       on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[int, Document]]:
        """(unit, document) for the documents of `units` (all by default), in input order, reading only them.

        The inputs laid end to end form one byte space, cut every `unit_bytes` into units. A document belongs to
        the unit where its place in that space begins: in plain text a unit's place is moved forward to just
        after the first blank line at or after its cut, in JSONL to the next line start; a Parquet row group
        belongs to the unit of its first byte; a compressed file (or stdin) is read whole, in the unit of its
        first byte. Reading units a..b thus opens only the files they touch, and reads only their bytes plus the
        head of each file (8 KB, to know its format) and a few lines past each end, to find the next cut.
        """
        report = on_bytes or (lambda n: None)
        count = self.unit_count(unit_bytes)
        units = range(count) if units is None else units
        start = 0
        for f in self.files:
            reading = Reading(start, unit_bytes, count - 1, units)
            start += f.size or 0
            if self._done:
                return
            if reading.touches(f.size or 0):
                yield from self._read_file(f, report, reading)

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

    def report(self, title: str, require_text: bool = True) -> None:
        """Print the end-of-run summary; a corpus that yielded nothing at all is an error (unless it is one part's
        share, which may hold no text)."""
        from electra_cli.core.console import console

        if self.options.summary:
            console.print(summary_table(self.stats, title=title))
        if require_text and self.stats.documents == 0:
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

    def _read_file(self, f: InputFile, report: Callable[[int], None],
                   reading: Reading) -> Iterator[tuple[int, Document]]:
        """The documents of one file that belong to `reading.units`: from its head when the file's first unit is
        one of them (this reading then counts the file and its whole-file skips), else from the first cut."""
        if not reading.owner:
            yield from self._read_share(f, report, reading)
            return
        self.stats.files += 1
        try:
            raw = _stdin() if f.path is None else open(f.path, "rb", buffering=READ_BUFFER)  # noqa: SIM115
        except OSError as err:
            self._skip(f, "unreadable", detail=err.strerror or str(err))
            return
        position = _position_reader(raw)
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
                yield from self._read_parquet(f, reading)
                return
            stream = _decompressed(raw, head)
            if stream is raw and f.path is not None:
                position = lambda: reading.pos  # noqa: E731  # lines consumed, not what the buffer read ahead
            else:  # compressed, or stdin: read whole, in the unit of its first byte
                reading.splits = False
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
            yield from self._counted(reader(f, stream, reading), position, report)
        finally:
            self.stats.input_bytes += position()
            if f.path is not None:
                raw.close()

    def _read_share(self, f: InputFile, report: Callable[[int], None],
                    reading: Reading) -> Iterator[tuple[int, Document]]:
        """The documents of `reading.units` in a file whose head belongs to an earlier unit: the format from the
        file's first 8 KB, then from the first cut on. What is read whole (compressed files) or skipped whole
        (binary, empty, unreadable) is left to the reading that holds the head."""
        try:
            with open(f.path, "rb", buffering=0) as probe:
                head = probe.read(SNIFF_BYTES)
        except OSError:
            return
        if head.startswith(PARQUET_MAGIC):
            yield from self._read_parquet(f, reading)
            return
        if not head or b"\x00" in head or any(head.startswith(magic) for magic in MAGIC.values()):
            return
        jsonl = _looks_like_jsonl(f.name, head)
        try:
            raw = open(f.path, "rb", buffering=READ_BUFFER)  # noqa: SIM115
        except OSError:
            return
        with raw:
            if not self._seek_cut(raw, reading, jsonl):
                return
            reader = self._read_jsonl if jsonl else self._read_text
            try:
                yield from self._counted(reader(f, raw, reading), lambda: reading.pos, report)
            finally:
                self.stats.input_bytes += reading.pos - reading.begin

    def _seek_cut(self, raw: io.BufferedReader, reading: Reading, jsonl: bool) -> bool:
        """Move `raw` to where `reading`'s first unit begins in this file: the start of the first line at or after
        the unit's cut (JSONL), or just after the first blank line that starts there (plain text: a document
        boundary). False when the file ends first."""
        cut = reading.units.start * reading.unit_bytes - reading.start
        raw.seek(cut - 1)
        reading.pos = cut - 1
        while chunk := raw.readline(self.options.max_line_bytes):  # the rest of the line holding the byte before
            reading.pos += len(chunk)
            if chunk.endswith(b"\n"):
                break
        if jsonl:
            reading.begin = reading.pos
            return True
        for _, at, raw_line in self._read_lines(None, raw, reading):
            if not raw_line.strip():
                reading.unit = reading.unit_at(at)
                reading.begin = reading.pos
                return reading.unit < reading.units.stop
        return False

    def _counted(self, documents: Iterator[tuple[int, Document]], position: Callable[[], int],
                 report: Callable[[int], None]) -> Iterator[tuple[int, Document]]:
        """`documents`, reporting the input bytes consumed as they go."""
        reported = position()
        try:
            for item in documents:
                yield item
                now = position()
                if now - reported >= PROGRESS_EVERY:
                    report(now - reported)
                    reported = now
        finally:
            end = position()
            if end > reported:
                report(end - reported)

    def _read_lines(self, f: InputFile | None, stream: io.BufferedReader,
                    reading: Reading) -> Iterator[tuple[int, int, bytes]]:
        """(line number, offset, raw line) triples, keeping `reading.pos` after the last line; over-long lines are
        drained and skipped (counted when `f` is given), damage ends the file."""
        limit = self.options.max_line_bytes
        lineno = 0
        while True:
            at = reading.pos
            raw_line = stream.readline(limit)
            if not raw_line:
                return
            reading.pos += len(raw_line)
            lineno += 1
            if len(raw_line) >= limit and not raw_line.endswith(b"\n"):
                while (chunk := stream.readline(limit)) and not chunk.endswith(b"\n"):
                    reading.pos += len(chunk)
                reading.pos += len(chunk)
                if f is not None:
                    self._skip(f, "line_too_long", reading.where(lineno), f"over {limit} bytes")
                continue
            yield lineno, at, raw_line

    def _decode(self, f: InputFile, raw_line: bytes, where: str) -> str:
        try:
            return raw_line.decode("utf-8")
        except UnicodeDecodeError:
            self._replace(f, "invalid_utf8", where)
            return raw_line.decode("utf-8", "replace")

    def _read_text(self, f: InputFile, stream: io.BufferedReader, reading: Reading) -> Iterator[tuple[int, Document]]:
        doc: Document = []
        nbytes = 0
        try:
            for lineno, at, raw_line in self._read_lines(f, stream, reading):
                text = self._decode(f, raw_line, reading.where(lineno)).strip()
                if text:
                    doc.append(text)
                    nbytes += len(raw_line)
                    continue
                if doc:
                    keep_going = self._keep(doc, nbytes)
                    yield reading.unit, doc
                    doc, nbytes = [], 0
                    if not keep_going:
                        return
                if reading.splits and not raw_line.strip():  # a unit begins after a blank line (ASCII blank)
                    reading.unit = reading.unit_at(at)
                    if reading.unit >= reading.units.stop:
                        return
        except STREAM_ERRORS as err:
            # The document in progress may be cut short: drop it rather than keep half a document.
            self._skip(f, "truncated", detail=str(err) or type(err).__name__)
            return
        if doc:
            self._keep(doc, nbytes)
            yield reading.unit, doc

    def _read_jsonl(self, f: InputFile, stream: io.BufferedReader, reading: Reading) -> Iterator[tuple[int, Document]]:
        key = self.options.text_field
        try:
            for lineno, at, raw_line in self._read_lines(f, stream, reading):
                if reading.splits:  # a unit begins at a line start
                    reading.unit = reading.unit_at(at)
                    if reading.unit >= reading.units.stop:
                        reading.pos = at  # that line is the next unit's
                        return
                if not raw_line.strip():
                    continue
                where = reading.where(lineno)
                try:
                    record = json.loads(self._decode(f, raw_line, where))
                except json.JSONDecodeError as err:
                    self._skip(f, "invalid_json", where, err.msg)
                    continue
                if not isinstance(record, dict):
                    self._skip(f, "not_an_object", where)
                    continue
                if key not in record or record[key] is None:
                    self._skip(f, "missing_field", where, f"no {key!r}")
                    continue
                doc = self._kept_record(f, record[key], where)
                if doc is not None:
                    yield reading.unit, doc
                    if self._done:
                        return
        except STREAM_ERRORS as err:
            self._skip(f, "truncated", detail=str(err) or type(err).__name__)

    def _read_parquet(self, f: InputFile, reading: Reading) -> Iterator[tuple[int, Document]]:
        """The rows of the row groups that belong to `reading.units` (a row group belongs to the unit of its first
        byte); file-level problems are counted by the reading that holds the file's head."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = self.options.text_field
        skip_file = self._skip if reading.owner else _ignore
        if f.path is None:
            raise UsageError("<stdin>: Parquet cannot be read from standard input; pass the file path")
        try:
            parquet = pq.ParquetFile(f.path)
        except (pa.ArrowException, OSError) as err:
            skip_file(f, "invalid_parquet", detail=str(err).splitlines()[0])
            return
        schema = parquet.schema_arrow
        if key not in schema.names:
            skip_file(f, "missing_field", detail=f"no column {key!r}; columns: {', '.join(schema.names)}")
            return
        column_type = schema.field(key).type
        if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
            skip_file(f, "non_string_field", detail=f"column {key!r} is {column_type}")
            return
        metadata = parquet.metadata
        row = 0
        try:
            for group in range(metadata.num_row_groups):
                rows = metadata.row_group(group).num_rows
                reading.unit = reading.unit_at(_row_group_offset(metadata.row_group(group), key))
                if reading.unit >= reading.units.stop:
                    return
                if reading.unit < reading.units.start:
                    row += rows
                    continue
                for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group], columns=[key]):
                    for value in batch.column(0).to_pylist():
                        row += 1
                        where = f": row {row}"
                        if value is None:
                            self._skip(f, "missing_field", where, f"{key!r} is null")
                            continue
                        doc = self._kept_record(f, value, where)
                        if doc is not None:
                            yield reading.unit, doc
                            if self._done:
                                return
        except (pa.ArrowException, OSError) as err:
            self._skip(f, "invalid_parquet", f": row {row}", str(err).splitlines()[0])

    def _kept_record(self, f: InputFile, value: object, where: str) -> Document | None:
        """A JSONL record's or Parquet row's text as a document, counted as kept; None when it is skipped."""
        doc = self._document_from_text(f, value, where)
        if doc is not None:
            self._keep(doc, sum(len(line.encode()) for line in doc))
        return doc

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


def _ignore(*args, **kwargs) -> None:
    """A whole-file skip seen by a reading that does not hold the file's head: that reading counts it."""


def _row_group_offset(group, column: str) -> int:
    """Where a Parquet row group's `column` begins in the file (its dictionary page, else its first data page)."""
    for i in range(group.num_columns):
        chunk = group.column(i)
        if chunk.path_in_schema == column:
            return chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    return group.column(0).data_page_offset


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
