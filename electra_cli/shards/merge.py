"""`electra-cli merge`: parts from `shard --part I/N` -> one shards folder, the same bytes as one machine writes.

The parts are checked first (all of one job, each part once, none missing, none damaged), then their chunks are
streamed, one record batch at a time, through the one-machine writer (shards/write.py `ShardSink`): part 1's,
then part 2's..., which is the one-machine run's order (part I holds the I-th run of units). The corpus counts
are the sums of the parts' (each counted only what its units hold), and the manifest comes from the same
function as one machine's. Hostnames, times and N go to a separate provenance.json, so the shards and the
manifest do not depend on how the work was spread.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from electra_cli.core.atomic import atomic_dir, check_output_dir, write_json_atomic
from electra_cli.core.console import log
from electra_cli.core.errors import DataError, UsageError
from electra_cli.shards.parts import PART_MANIFEST, Part, check_units_file, load_part, read_unit
from electra_cli.shards.write import (
    MANIFEST,
    ShardJob,
    ShardSettings,
    ShardSink,
    shards_manifest,
    vocab_record,
)
from electra_cli.shards.unknown import unknown_summary

PROVENANCE = "provenance.json"


def merge_parts(part_dirs: Sequence[Path], out: Path, overwrite: bool = False) -> dict:
    """Join the parts in `part_dirs` (any order) into the shards folder `out`; returns its manifest."""
    if not part_dirs:
        raise UsageError("merge needs the part folders written by `electra-cli shard --part I/N`")
    out = Path(out)
    records = check_parts([Path(d) for d in part_dirs])
    check_output_dir(out, MANIFEST, overwrite, "shards folder")
    first = records[0][1]
    count = first["parts"]
    settings = ShardSettings(**first["identity"]["settings"], workers=1)
    job = ShardJob(vocab=first["vocab"], dtype=pa.type_for_alias(first["dtype"]), tokenizer_json="",
                   specials=(0, 0), words=first["identity"]["words"], user_entries=None)
    started = time.time()
    with atomic_dir(out) as tmp:
        sink = ShardSink(tmp, job, settings)
        # plain reads, not memory maps: a batch is freed once written, so memory stays flat however big the parts
        for folder, record in records:
            start, stop = record["unit_range"]
            last = start
            with pa.OSFile(str(folder / record["units_file"]["file"])) as source:
                for batch in pa.ipc.open_stream(source):
                    unit, result = read_unit(batch)
                    if not last <= unit < stop:
                        raise DataError(f"{folder}: holds a chunk of unit {unit} out of order or outside its units "
                                        f"{start}-{stop - 1} (damaged part)")
                    last = unit
                    sink.collect(result)
        splits = sink.close()
        corpus = summed([record["corpus"] for _, record in records])
        if not corpus["documents"]:
            raise DataError(f"{records[0][0]}: no text found in the inputs (every file or record was skipped)")
        given = first["vocab"]
        vocab = vocab_record(given, Path(given["absolute"]), out)
        vocab["path"] = given["path"]  # as given to `shard`, as the one-machine run records it
        manifest = shards_manifest(job, settings, vocab, splits, sink.counts, first["identity"]["inputs"], corpus)
        write_json_atomic(tmp / PROVENANCE, {
            "parts": count,
            "merged": {"host": socket.gethostname(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "each": [{"part": f"{r['part']}/{count}", "folder": str(f), **r["provenance"]} for f, r in records],
        })
        write_json_atomic(tmp / MANIFEST, manifest)  # last: no manifest means no shards
    log.info("merge: %s", unknown_summary(manifest["unknown"], manifest["examples"].get("input_tokens", 0)))
    log.info("wrote %s from %d parts: %d train + %d validation examples in %.1fs", out, count,
             splits["train"]["rows"], splits["validation"]["rows"], time.time() - started)
    return manifest


def summed(counts: list[dict]) -> dict:
    """The parts' corpus counts added up field by field (numbers, and tables of numbers by reason, whose keys
    are sorted as CorpusStats.to_dict sorts them)."""
    total: dict = {}
    for part in counts:
        for key, value in part.items():
            if isinstance(value, dict):
                total[key] = summed([total.get(key, {}), value])
                total[key] = dict(sorted(total[key].items()))
            else:
                total[key] = total.get(key, 0) + value
    return total


def check_parts(folders: list[Path]) -> list[tuple[Path, dict]]:
    """The parts' (folder, part.json) in part order, after refusing, with one line each: a folder that holds no
    finished part, parts of different jobs, the same part twice, a missing part, a damaged part."""
    records = [(folder, load_part(folder)) for folder in folders]
    folder0, first = records[0]
    by_index: dict[int, Path] = {}
    for folder, record in records:
        differs = _difference(first, record)
        if differs:
            raise UsageError(f"{folder}: a part of another shard job than {folder0} (its {differs} differs)")
        if record["part"] in by_index:
            raise UsageError(f"part {record['part']}/{record['parts']} given twice: {by_index[record['part']]} and {folder}")
        by_index[record["part"]] = folder
    missing = [f"{i}/{first['parts']}" for i in range(1, first["parts"] + 1) if i not in by_index]
    if missing:
        raise UsageError(f"missing part{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         f"(got {len(records)} of {first['parts']}); run them, then merge again")
    for folder, record in records:
        mine = Part(record["part"], record["parts"]).units(record["units"])
        if record.get("unit_range") != [mine.start, mine.stop]:
            raise DataError(f"{folder / PART_MANIFEST}: its units are not part {record['part']}/{record['parts']}'s "
                            "(damaged part)")
        check_units_file(folder, record)
    return sorted(records, key=lambda item: item[1]["part"])


def _difference(first: dict, other: dict) -> str:
    """The name of the first thing that two parts disagree on ('' when they are parts of one job)."""
    a, b = first["identity"], other["identity"]
    for key in [*a, *(k for k in b if k not in a)]:
        if a.get(key) != b.get(key):
            named = {"inputs": "inputs (paths or sizes)", "vocab_sha256": "vocabulary (vocab.txt sha256)",
                     "modified": "inputs' modification time (a file changed between the parts?)"}
            return named.get(key, key.replace("_", " "))
    if first["parts"] != other["parts"]:
        return f"number of parts (N = {first['parts']} vs {other['parts']})"
    if first["units"] != other["units"]:
        return "number of units"
    return ""
