"""One part of a shard run (`electra-cli shard ... --part I/N`), for a cluster's job array.

The units of work are those of the one-machine run (text/corpus.py `Corpus.unit_documents`): the inputs laid
end to end, cut every CHUNK_BYTES at the next document boundary (plain text, JSONL), by Parquet row group, a
compressed file whole. Their number comes from the file sizes alone, so every part knows it without reading.
Part I takes the I-th of N runs of consecutive units and reads only them (plus each touched file's first 8 KB and
a few lines past its end); it builds their chunks with the one-machine run's code (shards/write.py `chunk_tasks`,
`build_chunk`: chunks seeded by their unit, not by N nor the worker count) and stores each as it came out of the
packer (one Arrow record batch per chunk), so `merge` can replay parts 1..N through the one-machine writer and
write the same bytes.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from electra_cli import __version__
from electra_cli.core.atomic import (
    atomic_dir,
    check_output_dir,
    sha256_file,
    write_json_atomic,
)
from electra_cli.core.console import bytes_progress, log
from electra_cli.core.errors import DataError, UsageError
from electra_cli.shards import write
from electra_cli.shards.arrow import from_numpy, to_numpy
from electra_cli.shards.write import (
    ShardSettings,
    build_chunks,
    chunk_tasks,
    prepare_job,
)
from electra_cli.text.corpus import Corpus, CorpusOptions

PART_MANIFEST = "part.json"
# What a part keeps of the vocabulary's record, so that merge writes the manifest's vocab entry as one machine does
VOCAB_FIELDS = ("vocab_sha256", "vocab_size", "special_ids", "tokenizer", "ignored")
UNITS_FILE = "units.arrow"
PART_FORMAT = 2  # 2: parts hold runs of the corpus's byte units
UNIT_SCHEMA = pa.schema([
    pa.field("unit", pa.int64()),  # the corpus unit the chunk's documents come from
    pa.field("split", pa.string()),
    pa.field("values", pa.large_list(pa.uint32())),  # the packer's flat token ids, as built
    pa.field("offsets", pa.large_list(pa.int64())),  # row offsets into values
    pa.field("flags", pa.large_list(pa.uint8())),  # word-continuation flags (null without a segmenter)
    pa.field("counts", pa.string()),  # the chunk's packing counts, JSON
])


@dataclass(frozen=True)
class Part:
    """Part `index` of `count` (1-based, as a SLURM array task counts)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Part:
        try:
            index, count = (int(x) for x in text.split("/"))
        except ValueError:
            raise UsageError(f"--part must be I/N (e.g. 2/8), got {text!r}") from None
        if not 1 <= index <= count:
            raise UsageError(f"--part {text}: I must be in 1..N")
        return cls(index, count)

    def units(self, count: int) -> range:
        """This part's units out of `count`: the I-th of N runs of consecutive units, as even as can be."""
        return range((self.index - 1) * count // self.count, self.index * count // self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def job_identity(corpus: Corpus, vocab: dict, settings: ShardSettings, options: CorpusOptions,
                 words: dict | None) -> dict:
    """Everything that shapes the shards, and nothing else (not N, not the workers, not the host): parts that
    agree on it belong to one job. The inputs' modification times stand in for their content, which no part
    reads whole: a file rewritten between two parts, even to the same size, makes them parts of different jobs."""
    shaping = {k: v for k, v in asdict(settings).items() if k != "workers"}
    reading = {k: v for k, v in asdict(options).items() if k != "summary"}
    return {"part_format": PART_FORMAT, "tool_version": __version__, "inputs": corpus.describe_inputs(),
            "modified": [_modified(f.path) for f in corpus.files], "vocab_sha256": vocab["vocab_sha256"],
            "settings": shaping, "corpus_options": reading, "words": words, "chunk_bytes": write.CHUNK_BYTES}


def _modified(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def load_part(folder: Path) -> dict:
    """A finished part's part.json; a folder without one holds no finished part."""
    path = Path(folder) / PART_MANIFEST
    if not path.is_file():
        raise UsageError(f"{folder}: no {PART_MANIFEST}, so not a finished part; (re)run its `electra-cli shard --part`")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["part"], record["identity"], record["units_file"]["sha256"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: invalid part manifest ({err})") from None
    return record


def check_units_file(folder: Path, record: dict) -> Path:
    """The part's units file, after checking its size and sha256 against part.json (DataError if damaged)."""
    info = record["units_file"]
    path = Path(folder) / info["file"]
    if not path.is_file():
        raise DataError(f"{path}: missing; the part is damaged, rerun it with --overwrite")
    if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
        raise DataError(f"{path}: sha256 does not match {PART_MANIFEST} (damaged part); rerun it with --overwrite")
    return path


def shard_part(
    inputs: Sequence[str],
    vocab_dir: Path,
    out: Path,
    part: Part,
    settings: ShardSettings | None = None,
    corpus_options: CorpusOptions | None = None,
    overwrite: bool = False,
) -> dict:
    """Build part `part` of the shard job into `out` (a part folder); returns its part.json record. A part that
    is already complete for the same job is kept as it is (a requeued array task does no work twice)."""
    settings = settings or ShardSettings()
    corpus_options = corpus_options or CorpusOptions()
    out = Path(out)
    job = prepare_job(vocab_dir, settings)
    corpus = Corpus(inputs, corpus_options)
    if any(f.path is None for f in corpus.files):
        raise UsageError("--part cannot read standard input ('-'): every part must be able to open the files")
    if corpus_options.max_bytes is not None:
        raise UsageError("--part cannot be combined with --max-bytes (where the limit falls depends on every "
                         "part before); shard on one machine, or pass fewer files")
    identity = job_identity(corpus, job.vocab, settings, corpus_options, job.words)
    if not overwrite and _already_done(out, part, identity):
        log.info("part %s in %s is already complete for these inputs and settings: skipped", part, out)
        return load_part(out)
    check_output_dir(out, PART_MANIFEST, overwrite, "part (the same inputs and settings skip it)")
    started = time.time()
    unit_count = corpus.unit_count(write.CHUNK_BYTES)
    mine = part.units(unit_count)
    units: deque = deque()  # the units of the chunks in flight, in order

    def noted(tasks: Iterator[tuple]) -> Iterator[tuple]:
        for task in tasks:
            units.append(task[1][0])
            yield task

    with atomic_dir(out) as tmp, bytes_progress(f"shard part {part}") as progress:
        bar = progress.add_task("reading my units; tokenizing + packing", status="",
                                total=corpus.share_bytes(write.CHUNK_BYTES, mine))
        path = tmp / UNITS_FILE
        chunks = 0
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, UNIT_SCHEMA) as stream:

            def collect(result) -> None:
                nonlocal chunks
                stream.write_batch(unit_batch(units.popleft(), result))
                chunks += 1

            tasks = chunk_tasks(corpus, settings, lambda n: progress.update(bar, advance=n), mine)
            build_chunks(noted(tasks), job, settings.workers, collect)
        corpus.report(f"shard part {part}: my share of the corpus read", require_text=False)
        vocab_dir = Path(vocab_dir)
        record = {
            "part": part.index,
            "parts": part.count,
            "units": unit_count,
            "unit_range": [mine.start, mine.stop],
            "chunks": chunks,
            "units_file": {"file": UNITS_FILE, "bytes": path.stat().st_size, "sha256": sha256_file(path)},
            "identity": identity,
            "vocab": {"path": str(vocab_dir), "absolute": str(vocab_dir.resolve()),
                      **{k: job.vocab[k] for k in VOCAB_FIELDS if k in job.vocab}},
            "dtype": str(job.dtype),
            "corpus": corpus.stats.to_dict(),
            "provenance": {"host": socket.gethostname(), "pid": os.getpid(), "workers": settings.workers,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                           "seconds": round(time.time() - started, 3)},
        }
        write_json_atomic(tmp / PART_MANIFEST, record)  # last: no part.json means no finished part
    log.info("wrote part %s to %s: units %d-%d of %d, %d chunks in %.1fs", part, out, mine.start, mine.stop - 1,
             unit_count, chunks, time.time() - started)
    return record


def unit_batch(unit: int, result: tuple) -> pa.RecordBatch:
    """One built chunk (build_chunk's result) as a one-row record batch."""
    split, values, offsets, counts, flags = result

    def one_row(array: np.ndarray | None, kind: pa.DataType) -> pa.Array:
        if array is None:
            return pa.nulls(1, pa.large_list(kind))
        return pa.LargeListArray.from_arrays(from_numpy([0, len(array)], pa.int64()), from_numpy(array, kind))

    def text(value: str) -> pa.Array:
        data = value.encode("utf-8")
        return pa.StringArray.from_buffers(1, pa.py_buffer(np.array([0, len(data)], np.int32)), pa.py_buffer(data))

    return pa.RecordBatch.from_arrays(
        [from_numpy([unit], pa.int64()), text(split), one_row(values, pa.uint32()), one_row(offsets, pa.int64()),
         one_row(flags, pa.uint8()), text(json.dumps(dict(counts), sort_keys=True))],
        schema=UNIT_SCHEMA,
    )


def read_unit(batch: pa.RecordBatch) -> tuple[int, tuple]:
    """A units-file batch back as (unit number, build_chunk's result)."""

    def array(name: str) -> np.ndarray | None:
        column = batch.column(name)
        return None if column.null_count else to_numpy(column.flatten())

    counts = Counter(json.loads(batch.column("counts")[0].as_py()))
    result = (batch.column("split")[0].as_py(), array("values"), array("offsets"), counts, array("flags"))
    return batch.column("unit")[0].as_py(), result


def _already_done(out: Path, part: Part, identity: dict) -> bool:
    """True when `out` holds this very part of this job, intact."""
    if not (out / PART_MANIFEST).is_file():
        return False
    record = load_part(out)
    if record["identity"] != identity or (record["part"], record["parts"]) != (part.index, part.count):
        raise UsageError(
            f"{out}: holds part {record['part']}/{record['parts']} of another shard job or of another part; "
            "pass --overwrite to replace it"
        )
    check_units_file(out, record)
    return True
