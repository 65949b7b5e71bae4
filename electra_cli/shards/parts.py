"""One part of a shard run (`electra-cli shard ... --part I/N`), for a cluster's job array.

The work units are the chunks that the one-machine run builds (shards/write.py `chunk_tasks`): documents in
corpus order, cut at document boundaries every CHUNK_BYTES of text, each packed with a generator seeded by
(seed, split, chunk index). None of that depends on N or on the worker count. Every part reads the whole corpus
(cheap next to tokenizing and packing), numbers the chunks in the order the one-machine run emits them, and
builds only those whose number is I-1 modulo N, with the same `build_chunk` code. It stores each built chunk
as it came out of the packer (one Arrow record batch per chunk), so `merge` can replay them through the
one-machine writer in chunk order and write the same bytes.
"""

from __future__ import annotations

import hashlib
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
from electra_cli.shards.write import (
    ShardSettings,
    build_chunks,
    chunk_tasks,
    prepare_job,
)
from electra_cli.text.corpus import Corpus, CorpusOptions

PART_MANIFEST = "part.json"
UNITS_FILE = "units.arrow"
PART_FORMAT = 1
UNIT_SCHEMA = pa.schema([
    pa.field("unit", pa.int64()),  # the chunk's number in the one-machine run's order
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

    def owns(self, unit: int) -> bool:
        return unit % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def job_identity(inputs: list[dict], vocab: dict, settings: ShardSettings, options: CorpusOptions,
                 words: dict | None) -> dict:
    """Everything that shapes the shards, and nothing else (not N, not the workers, not the host): parts that
    agree on it belong to one job."""
    shaping = {k: v for k, v in asdict(settings).items() if k != "workers"}
    reading = {k: v for k, v in asdict(options).items() if k != "summary"}
    return {"part_format": PART_FORMAT, "tool_version": __version__, "inputs": inputs,
            "vocab_sha256": vocab["vocab_sha256"], "settings": shaping, "corpus_options": reading,
            "words": words, "chunk_bytes": write.CHUNK_BYTES}


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
    identity = job_identity(corpus.describe_inputs(), job.vocab, settings, corpus_options, job.words)
    if not overwrite and _already_done(out, part, identity):
        log.info("part %s in %s is already complete for these inputs and settings: skipped", part, out)
        return load_part(out)
    check_output_dir(out, PART_MANIFEST, overwrite, "part (the same inputs and settings skip it)")
    started = time.time()
    units: deque = deque()  # numbers of the chunks in flight, in order
    digest = hashlib.sha256()  # of every chunk's documents, mine or not: the corpus's content, for merge
    tally = {"units": 0, "mine": 0}

    def my_tasks(tasks: Iterator[tuple]) -> Iterator[tuple]:
        for number, task in enumerate(tasks):
            split, _, docs = task[:3]
            digest.update(f"{number}/{split}/{len(docs)}\0".encode())
            for doc in docs:
                digest.update("\n".join(doc).encode("utf-8") + b"\0")
            tally["units"] = number + 1
            if part.owns(number):
                units.append(number)
                tally["mine"] += 1
                yield task

    with atomic_dir(out) as tmp, bytes_progress(f"shard part {part}") as progress:
        bar = progress.add_task("reading; tokenizing + packing my chunks", total=corpus.total_bytes, status="")
        path = tmp / UNITS_FILE
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, UNIT_SCHEMA) as stream:

            def collect(result) -> None:
                stream.write_batch(unit_batch(units.popleft(), result))

            tasks = chunk_tasks(corpus, settings, lambda n: progress.update(bar, advance=n))
            build_chunks(my_tasks(tasks), job, settings.workers, collect)
        corpus.report(f"shard part {part}: corpus read")
        vocab_dir = Path(vocab_dir)
        record = {
            "part": part.index,
            "parts": part.count,
            "units": tally["units"],
            "units_here": tally["mine"],
            "units_file": {"file": UNITS_FILE, "bytes": path.stat().st_size, "sha256": sha256_file(path)},
            "identity": identity,
            "corpus_sha256": digest.hexdigest(),
            "vocab": {"path": str(vocab_dir), "absolute": str(vocab_dir.resolve()),
                      "vocab_sha256": job.vocab["vocab_sha256"], "vocab_size": job.vocab["vocab_size"],
                      "special_ids": job.vocab["special_ids"],
                      **{k: job.vocab[k] for k in ("tokenizer", "ignored") if k in job.vocab}},  # a published folder's
            "dtype": str(job.dtype),
            "corpus": corpus.stats.to_dict(),
            "provenance": {"host": socket.gethostname(), "pid": os.getpid(), "workers": settings.workers,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                           "seconds": round(time.time() - started, 3)},
        }
        write_json_atomic(tmp / PART_MANIFEST, record)  # last: no part.json means no finished part
    log.info("wrote part %s to %s: %d of %d chunks in %.1fs", part, out, tally["mine"], tally["units"],
             time.time() - started)
    return record


def unit_batch(unit: int, result: tuple) -> pa.RecordBatch:
    """One built chunk (build_chunk's result) as a one-row record batch."""
    split, values, offsets, counts, flags = result

    def one_row(array: np.ndarray | None, kind: pa.DataType) -> pa.Array:
        if array is None:
            return pa.nulls(1, pa.large_list(kind))
        return pa.LargeListArray.from_arrays(pa.array([0, len(array)], pa.int64()), pa.array(array, kind))

    return pa.record_batch(
        [pa.array([unit], pa.int64()), pa.array([split]), one_row(values, pa.uint32()), one_row(offsets, pa.int64()),
         one_row(flags, pa.uint8()), pa.array([json.dumps(dict(counts), sort_keys=True)])],
        schema=UNIT_SCHEMA,
    )


def read_unit(batch: pa.RecordBatch) -> tuple[int, tuple]:
    """A units-file batch back as (unit number, build_chunk's result)."""

    def array(name: str) -> np.ndarray | None:
        column = batch.column(name)
        return None if column.null_count else column.flatten().to_numpy(zero_copy_only=False)

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
