"""Labelled data: CSV, TSV, JSONL and Parquet files as streams of records (dicts), with clear errors.

Format by extension (.csv, .tsv, .jsonl/.ndjson/.json, .parquet), else by content (Parquet magic bytes, a
first line that is a JSON object, a tab in the header line, otherwise comma-separated).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from electra_cli.core.errors import DataError, UsageError

csv.field_size_limit(sys.maxsize)


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet"):
        return suffix[1:]
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"{"):
        return "jsonl"
    return "tsv" if b"\t" in first else "csv"


def read_records(path: Path, columns: list[str] | None = None, header: bool = True) -> Iterator[tuple[str, dict]]:
    """(location, record) pairs, streaming; `location` ("file:line" / "file: row N") names the record in errors.

    With header=False (headerless TSV such as GLUE's CoLA), records are keyed by column index as strings.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    fmt = detect_format(path)
    if fmt == "parquet":
        yield from _parquet(path, columns)
    elif fmt == "jsonl":
        yield from _jsonl(path)
    else:
        yield from _delimited(path, "\t" if fmt == "tsv" else ",", header)


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: a record must be a JSON object")
            yield f"{path}:{lineno}", record


def _delimited(path: Path, delimiter: str, header: bool) -> Iterator[tuple[str, dict]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        # GLUE's TSVs contain unbalanced quotes: TSV is read without quoting, as their readers do.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        names = None
        if header:
            try:
                names = next(reader)
            except StopIteration:
                return
        for row in reader:
            lineno = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if names is None:
                yield f"{path}:{lineno}", {str(i): cell for i, cell in enumerate(row)}
                continue
            if len(row) != len(names):
                raise DataError(f"{path}:{lineno}: {len(row)} fields, the header has {len(names)}")
            yield f"{path}:{lineno}", dict(zip(names, row))


def _parquet(path: Path, columns: list[str] | None) -> Iterator[tuple[str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: invalid Parquet file ({err})") from None
    names = parquet.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    row = 0
    for batch in parquet.iter_batches(batch_size=1024, columns=wanted):
        for record in batch.to_pylist():
            row += 1
            yield f"{path}: row {row}", record


def require_field(record: dict, name: str, where: str):
    if name not in record or record[name] is None:
        available = ", ".join(map(str, record))
        raise DataError(f"{where}: no field {name!r} (fields: {available})")
    return record[name]


