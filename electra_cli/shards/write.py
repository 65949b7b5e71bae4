"""Corpora -> packed ELECTRA examples in Arrow IPC stream shards, with a manifest written last.

Documents stream from the corpus reader in the main process, unit by unit (the corpus cut every CHUNK_BYTES of
input, text/corpus.py), are grouped into chunks of about CHUNK_BYTES of text within their unit, and each chunk is
tokenized (`encode_batch_fast`) and packed in a worker process with a random generator seeded by (seed, split,
chunk name). Chunks are written back in order, so the shards and the manifest are the same bytes whatever the
number of workers. The parts of a cluster's job array (shards/parts.py) build the same chunks
with the same code, and merge (shards/merge.py) writes them through the same ShardSink and shards_manifest.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing as mp
import os
import random
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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
from electra_cli.shards.arrow import from_numpy
from electra_cli.text.corpus import Corpus, CorpusOptions, Document
from electra_cli.text.segment import (
    WORDS_COLUMN,
    check_available,
    continuation_flags,
    describe,
    new_segmenter,
    read_user_dict,
)
from electra_cli.shards.unknown import count_unknown, split_counts, unknown_summary
from electra_cli.text.sentences import split_documents
from electra_cli.vocab.load import load_tokenizer, load_vocab_manifest
from electra_cli.vocab.wordpiece import CLS_ID, OUR_SPECIAL_IDS, SEP_ID

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: chunks follow the corpus's byte units (shard --part reads only its share)
SPLITS = ("train", "validation")
SHORT_TARGET_PROB = 0.05  # reference: 5% of examples get a target length drawn from [5, max]
SINGLE_SEGMENT_PROB = 0.1  # reference: 10% of examples have segment A only
MIN_SHORT_TARGET = 5
CHUNK_BYTES = 1 << 18  # text per worker task: enough for encode_batch to pay, small enough to balance workers
BATCH_ROWS = 4096  # rows per Arrow record batch
MIN_SEQ_LEN, MAX_SEQ_LEN = 8, 65535
OVERFLOWS = ("carry", "truncate")  # what happens to the sentence that takes an example past its target


@dataclass
class ShardSettings:
    """What shapes the shards; saved in manifest.json (all but `workers`, which cannot change the output)."""

    max_seq_len: int = 128  # tokens per example, [CLS] and [SEP]s included
    validation_fraction: float = 0.005  # documents chosen by a hash of their text; at least one if there are two
    seed: int = 12345  # seeds the packing randomness (short targets, A/B splits, single segments)
    rows_per_shard: int = 100_000  # examples per Arrow file
    split_sentences: bool = True  # split lines into sentences first (paragraph-per-line corpora; see text/sentences.py)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # tokenizing processes
    segment: str = "none"  # "rjieba": store Chinese word boundaries (column word_continues) for whole-word masking
    user_dict: str = ""  # jieba-format user dictionary (`word [freq] [tag]` per line) for the segmenter
    overflow: str = "carry"  # "carry": the overshoot starts the next example; "truncate": dropped (the reference)

    def __post_init__(self) -> None:
        problems = []
        if not MIN_SEQ_LEN <= self.max_seq_len <= MAX_SEQ_LEN:
            problems.append(f"--max-seq-len must be in [{MIN_SEQ_LEN}, {MAX_SEQ_LEN}], got {self.max_seq_len}")
        if not 0.0 <= self.validation_fraction < 1.0:
            problems.append(f"--validation-fraction must be in [0, 1), got {self.validation_fraction}")
        if self.rows_per_shard < 1:
            problems.append(f"--rows-per-shard must be >= 1, got {self.rows_per_shard}")
        if self.workers < 1:
            problems.append(f"--workers must be >= 1, got {self.workers}")
        if self.overflow not in OVERFLOWS:
            problems.append(f"--overflow must be one of {', '.join(OVERFLOWS)}, got {self.overflow!r}")
        if self.user_dict and self.segment == "none":
            problems.append("--user-dict needs a segmenter: add --segment rjieba")
        if problems:
            raise UsageError("; ".join(problems))
        check_available(self.segment)


# ---- example building (runs in the workers) ------------------------------------------------------------


def pack_document(
    sentences: list[list[int]], max_seq_len: int, rng: random.Random, counts: Counter,
    cls_id: int = CLS_ID, sep_id: int = SEP_ID, overflow: str = "carry",
    continues_word: Callable[[int], bool] | None = None,
) -> Iterator[list[int]]:
    """Pack one document's tokenized sentences into `[CLS] A [SEP] B [SEP]` examples.

    Sentences accumulate until the target length (max_seq_len - 3, or a short target for 5% of examples) is
    reached; the accumulated sentences are divided into A and B as the reference does (`_make_example`).
    `overflow` says what happens to the sentence that takes an example past its target:
    "carry": the part that does not fit starts the next example (cut before a token that begins a word, by
    `continues_word`, when the part that fits has one; else at the word piece), so no token is lost;
    "truncate": the reference's rule, the sentence joins the example whole and the longer side is truncated
    first; a sentence longer than the full target is cut into target-sized pieces first, so that one overlong
    line is not thrown away by truncation.
    """
    if overflow == "carry":
        yield from _pack_carrying(sentences, max_seq_len, rng, counts, cls_id, sep_id, continues_word)
        return
    full_target = max_seq_len - 3
    pieces = [s[i : i + full_target] for s in sentences if s for i in range(0, len(s), full_target)]
    current: list[list[int]] = []
    length = target = 0
    for i, piece in enumerate(pieces):
        if not current:
            target = _next_target(full_target, rng, counts)
        current.append(piece)
        length += len(piece)
        if length >= target or i == len(pieces) - 1:
            yield _make_example(current, max_seq_len, target, rng, counts, cls_id, sep_id)
            current, length = [], 0


def _pack_carrying(
    sentences: list[list[int]], max_seq_len: int, rng: random.Random, counts: Counter,
    cls_id: int, sep_id: int, continues_word: Callable[[int], bool] | None,
) -> Iterator[list[int]]:
    """`pack_document` with overflow "carry": an example is full at its target, and what did not fit of the
    sentence that reached it (however long that sentence is) is the first sentence of the next example."""
    full_target = max_seq_len - 3
    current: list[list[int]] = []
    length = target = 0
    for sentence in sentences:
        rest = sentence
        while rest:
            if not current:
                target = _next_target(full_target, rng, counts)
            room = target - length
            if len(rest) < room:
                current.append(rest)
                length += len(rest)
                break
            cut = room if len(rest) == room else _word_cut(rest, room, bool(current), continues_word)
            if cut:
                current.append(rest[:cut])
            if cut < len(rest):
                counts["carried_sentences"] += 1
            rest = rest[cut:]
            yield _make_example(current, max_seq_len, target, rng, counts, cls_id, sep_id)
            current, length = [], 0
    if current:
        yield _make_example(current, max_seq_len, target, rng, counts, cls_id, sep_id)


def _word_cut(tokens: list[int], room: int, can_defer: bool, continues_word: Callable[[int], bool] | None) -> int:
    """Where to cut `tokens` (longer than `room`) so that the head fits: before the last token within `room`
    that begins a word; 0 (all of it goes to the next example) when none does and the example already has
    something, else `room` (mid-word, at a word piece) so that the example is not empty."""
    if continues_word is None:
        return room
    cut = room
    while cut > 0 and continues_word(tokens[cut]):
        cut -= 1
    return cut if cut or can_defer else room


def _next_target(full_target: int, rng: random.Random, counts: Counter) -> int:
    if rng.random() < SHORT_TARGET_PROB:
        counts["short_target"] += 1
        return rng.randint(min(MIN_SHORT_TARGET, full_target), full_target)
    return full_target


def _make_example(
    sentences: list[list[int]], max_seq_len: int, target: int, rng: random.Random, counts: Counter,
    cls_id: int, sep_id: int,
) -> list[int]:
    """Divide the accumulated sentences into A and B as the reference does: A aims at half the target; a
    sentence joins A while A is empty or stays under that aim, and with probability 1/2 when it would take A
    past it; the rest is B. 10% of examples keep A only. Unlike the reference, a sentence never joins A once B
    has begun, so A and B are contiguous spans of the text in order."""
    single = len(sentences) == 1
    if not single:
        counts["multi_sentence"] += 1
        if rng.random() < SINGLE_SEGMENT_PROB:
            counts["single_segment_drawn"] += 1
            single = True
    a: list[int] = []
    b: list[int] = []
    a_target = target // 2  # the reference's (T - 3) // 2, with its T = our target + 3
    for sentence in sentences:
        joins_a = single or not b and (
            not a or len(a) + len(sentence) < a_target or (len(a) < a_target and rng.random() < 0.5)
        )
        (a if joins_a else b).extend(sentence)
    budget = max_seq_len - 2 if not b else max_seq_len - 3
    counts["input_tokens"] += len(a) + len(b)
    excess = len(a) + len(b) - budget
    if excess > 0:  # truncate the longer side first, from its end
        counts["truncated_tokens"] += excess
        counts["truncated_examples"] += 1
        while len(a) + len(b) > budget:
            (a if len(a) >= len(b) else b).pop()
    counts["examples"] += 1
    if single or not b:
        counts["single_segment"] += 1
        return [cls_id, *a, sep_id]
    return [cls_id, *a, sep_id, *b, sep_id]


_worker_tokenizer = None
_worker_specials = (CLS_ID, SEP_ID)  # the vocabulary's [CLS] and [SEP] ids, found by name
_worker_segmenter = None  # an rjieba segmenter when the shards store word boundaries
_worker_continuations = bytearray()  # 1 at the id of each `##` piece: where carrying avoids cutting
_worker_unk = -1  # the vocabulary's [UNK] id (found by name: 100 in Google's and HFL's, 1 in ours)


def _init_worker(tokenizer_json: str, specials: tuple[int, int], user_entries: list | None = None) -> None:
    global _worker_tokenizer, _worker_specials, _worker_segmenter, _worker_continuations, _worker_unk
    from tokenizers import Tokenizer

    _worker_tokenizer = Tokenizer.from_str(tokenizer_json)
    vocab = _worker_tokenizer.get_vocab()
    _worker_continuations = bytearray(max(vocab.values(), default=0) + 1)
    for token, token_id in vocab.items():
        _worker_continuations[token_id] = token.startswith("##")
    _worker_specials = specials
    _worker_unk = _worker_tokenizer.token_to_id(_worker_tokenizer.model.unk_token)
    _worker_segmenter = new_segmenter(user_entries) if user_entries is not None else None
    # Raw text is text: a literal "[SEP]" or "[PAD]" in the corpus must never become a special id (it would shift
    # the segment ids or hide tokens from attention); it is split like any other text, "[", "sep", "]".
    _worker_tokenizer.encode_special_tokens = True


def build_chunk(task: tuple) -> tuple[str, np.ndarray, np.ndarray, Counter, np.ndarray | None]:
    """Tokenize and pack one chunk of documents: (split, flat token ids, row offsets, counts, flat word flags).

    With a segmenter each token travels through packing as `id << 1 | continues_word`, so the word flags follow
    their tokens through cutting, A/B splitting and truncation, and the packing randomness (hence input_ids) is
    the same as without a segmenter.
    """
    split, place, docs, max_seq_len, seed, by_sentence, overflow = task
    if by_sentence:
        docs = split_documents(docs)
    lines = [line for doc in docs for line in doc]
    cls_id, sep_id = _worker_specials
    if _worker_segmenter is not None:
        encodings = _worker_tokenizer.encode_batch(lines, add_special_tokens=False)  # with offsets: for the flags
        flags = continuation_flags(_worker_segmenter, lines, encodings)  # (T,) all tokens of the chunk
        flat = ((np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=len(flags)) << 1) | flags)
        ends = np.cumsum([len(e.ids) for e in encodings])
        tokens = [flat[a:b].tolist() for a, b in zip(itertools.chain([0], ends), ends)]
        ids = [e.ids for e in encodings]
        cls_id, sep_id = cls_id << 1, sep_id << 1
        continues_word = _continues_shifted  # `##` pieces only, so input_ids stay those of the plain shards
    else:  # the same ids without the character offsets, which cost a third of encode_batch's time
        tokens = ids = [e.ids for e in _worker_tokenizer.encode_batch_fast(lines, add_special_tokens=False)]
        continues_word = _worker_continuations.__getitem__
    rng = random.Random(f"{seed}/{split}/{chunk_name(place)}")
    counts: Counter = Counter()
    count_unknown(_worker_tokenizer, _worker_unk, lines, ids, counts)
    rows: list[list[int]] = []
    position = 0
    for doc in docs:
        sentences = tokens[position : position + len(doc)]
        position += len(doc)
        rows.extend(pack_document(sentences, max_seq_len, rng, counts, cls_id, sep_id, overflow, continues_word))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    values = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.uint32, count=int(offsets[-1]))
    if _worker_segmenter is None:
        return split, values, offsets, counts, None
    return split, values >> 1, offsets, counts, (values & 1).astype(np.uint8)


def _continues_shifted(token: int) -> int:
    """Whether a token that travels as `id << 1 | continues_word` (with a segmenter) is a `##` piece."""
    return _worker_continuations[token >> 1]


# ---- writing -------------------------------------------------------------------------------------------


class ShardWriter:
    """Appends rows to `{split}-00000.arrow`, `{split}-00001.arrow`, ... rolling over every `rows_per_shard`."""

    def __init__(self, folder: Path, split: str, dtype: pa.DataType, rows_per_shard: int, words: bool = False,
                 specials: dict[str, int] | None = None):
        self.folder, self.split, self.rows_per_shard = folder, split, rows_per_shard
        self.specials = specials or OUR_SPECIAL_IDS  # the vocabulary's ids by role: every row is checked with them
        fields = [pa.field("input_ids", pa.list_(dtype))]
        if words:  # one flag per token, same offsets as input_ids
            fields.append(pa.field(WORDS_COLUMN, pa.list_(pa.uint8())))
        self.schema = pa.schema(fields)
        self.numpy_dtype = np.uint16 if dtype == pa.uint16() else np.uint32
        self.shards: list[dict] = []
        self._sink = self._writer = None
        self._rows_in_shard = self._tokens_in_shard = 0
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._pending_rows = 0

    def write(self, values: np.ndarray, offsets: np.ndarray, flags: np.ndarray | None = None) -> None:
        start = 0
        rows = len(offsets) - 1
        while start < rows:
            room = self.rows_per_shard - self._rows_in_shard - self._pending_rows
            end = min(rows, start + room)
            span = slice(offsets[start], offsets[end])
            self._pending.append((values[span], offsets[start : end + 1] - offsets[start],
                                  None if flags is None else flags[span]))
            self._pending_rows += end - start
            if self._pending_rows >= BATCH_ROWS or self._rows_in_shard + self._pending_rows == self.rows_per_shard:
                self._flush()
            if self._rows_in_shard == self.rows_per_shard:
                self._close_shard()
            start = end

    def close(self) -> list[dict]:
        self._flush()
        self._close_shard()
        return self.shards

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        values = np.concatenate([v for v, _, _ in self._pending]).astype(self.numpy_dtype, copy=False)
        lengths = np.concatenate([np.diff(o) for _, o, _ in self._pending])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        arrow_offsets = from_numpy(offsets, pa.int32())
        arrays = [pa.ListArray.from_arrays(arrow_offsets, from_numpy(values, self.schema.field(0).type.value_type))]
        if len(self.schema) > 1:
            flags = np.concatenate([f for _, _, f in self._pending])
            arrays.append(pa.ListArray.from_arrays(arrow_offsets, from_numpy(flags, pa.uint8())))
        name = f"{self.split}-{len(self.shards) - (self._writer is not None):05d}.arrow"
        bad = row_problem(values, offsets, self.specials)
        if bad is not None:  # a tokenizer that pads or adds specials inside rows: never written silently
            raise DataError(f"shard {name}, row {self._rows_in_shard + bad[0]}: {bad[1]} (the vocabulary's tokenizer "
                            "added tokens the packer does not expect)")
        if self._writer is None:
            self._sink = pa.OSFile(str(self.folder / name), "wb")
            self._writer = pa.ipc.new_stream(self._sink, self.schema)
            self.shards.append({"file": name})
        self._writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        self._rows_in_shard += len(lengths)
        self._tokens_in_shard += int(offsets[-1])
        self._pending, self._pending_rows = [], 0

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        info = self.shards[-1]
        path = self.folder / info["file"]
        info.update(rows=self._rows_in_shard, tokens=self._tokens_in_shard, bytes=path.stat().st_size)
        info["sha256"] = sha256_file(path)
        self._writer = self._sink = None
        self._rows_in_shard = self._tokens_in_shard = 0


# ---- the stage -----------------------------------------------------------------------------------------


def document_hash(doc: Document) -> float:
    """A stable number in [0, 1) from the document's text: picks the validation documents."""
    digest = hashlib.blake2b("\n".join(doc).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def chunk_tasks(corpus: Corpus, settings: ShardSettings, on_bytes, units: range | None = None) -> Iterator[tuple]:
    """Group the documents of `units` (all by default; see `Corpus.unit_documents`) into per-split chunks.

    A chunk holds documents of one unit and is cut every CHUNK_BYTES of text (a unit of plain text or JSONL
    holds about that much; a compressed file or a big Parquet row group more); it is named by its unit and its
    place in it, and its packing is seeded by that name, so the chunks do not depend on which process reads
    which units. A document goes to validation by the hash of its text. So that a small corpus has a
    validation set too, the first unit (the first CHUNK_BYTES of the corpus) holds back its train document with
    the smallest hash to its end: if none of the unit's documents (two or more) fell into validation by hash,
    that one does.
    """
    buffers: dict[str, list[Document]] = {s: [] for s in SPLITS}
    sizes = dict.fromkeys(SPLITS, 0)
    places = dict.fromkeys(SPLITS, 0)  # the next chunk's place in its unit, per split
    unit = -1
    held: tuple[float, Document] | None = None  # the first unit's train document with the smallest hash
    first_unit = {"documents": 0, "validation": 0}

    def add(split: str, doc: Document):
        buffers[split].append(doc)
        sizes[split] += sum(map(len, doc))
        if sizes[split] >= CHUNK_BYTES:
            yield from flush(split)

    def flush(split: str):
        if buffers[split]:
            yield (split, (unit, places[split]), buffers[split], settings.max_seq_len, settings.seed,
                   settings.split_sentences, settings.overflow)
            places[split] += 1
            buffers[split], sizes[split] = [], 0

    def end_unit():
        nonlocal held
        if held is not None:
            to_validation = (first_unit["validation"] == 0 and first_unit["documents"] > 1
                             and settings.validation_fraction > 0)
            yield from add("validation" if to_validation else "train", held[1])
            held = None
        for split in SPLITS:
            yield from flush(split)
            places[split] = 0

    for doc_unit, doc in corpus.unit_documents(CHUNK_BYTES, units, on_bytes):
        if doc_unit != unit:
            yield from end_unit()
            unit = doc_unit
        h = document_hash(doc)
        if unit == 0:
            first_unit["documents"] += 1
            first_unit["validation"] += h < settings.validation_fraction
        if h < settings.validation_fraction:
            yield from add("validation", doc)
        elif unit != 0:
            yield from add("train", doc)
        elif held is None:
            held = (h, doc)
        else:
            if h < held[0]:
                held, doc = (h, doc), held[1]
            yield from add("train", doc)
    yield from end_unit()


def chunk_name(place: tuple[int, int]) -> str:
    """A chunk's name from (unit, place in the unit): "7", then "7.1", "7.2" for a unit with more text."""
    unit, index = place
    return f"{unit}.{index}" if index else f"{unit}"


@dataclass
class ShardJob:
    """What every process of a shard run needs, read once from the vocab and the settings."""

    vocab: dict  # load_vocab_manifest's record: sha256, size, special ids
    dtype: pa.DataType  # uint16, or uint32 when the vocab exceeds 65535 ids
    tokenizer_json: str
    specials: tuple[int, int]  # the vocabulary's [CLS] and [SEP] ids
    words: dict | None  # the manifest's `words` entry (segmenter, version, user dict sha256)
    user_entries: list | None  # the user dictionary's entries, when segmenting

    @property
    def init_args(self) -> tuple:
        return self.tokenizer_json, self.specials, self.user_entries


def prepare_job(vocab_dir: Path, settings: ShardSettings) -> ShardJob:
    vocab = load_vocab_manifest(vocab_dir)
    dtype = pa.uint16() if vocab["vocab_size"] - 1 <= 65535 else pa.uint32()
    tokenizer_json = load_tokenizer(vocab_dir).to_str()  # built, never run, in this process: safe to fork
    specials = (vocab["special_ids"]["cls"], vocab["special_ids"]["sep"])
    words = describe(settings.segment, Path(settings.user_dict) if settings.user_dict else None)
    user_entries = None
    if words is not None:
        user_entries = read_user_dict(Path(settings.user_dict)) if settings.user_dict else []
    return ShardJob(vocab, dtype, tokenizer_json, specials, words, user_entries)


class ShardSink:
    """Where built chunks go, in chunk order: the Arrow writers of both splits and the packing counts. The
    one-machine run and `merge` (shards/merge.py) both write through it, so they write the same bytes."""

    def __init__(self, folder: Path, job: ShardJob, settings: ShardSettings):
        self.writers = {s: ShardWriter(folder, s, job.dtype, settings.rows_per_shard, job.words is not None,
                                       job.vocab["special_ids"])
                        for s in SPLITS}
        self.counts: Counter = Counter()

    def collect(self, result) -> None:
        split, values, offsets, chunk_counts, flags = result
        self.writers[split].write(values, offsets, flags)
        self.counts.update(chunk_counts)

    def close(self) -> dict:
        splits = {}
        for split, writer in self.writers.items():
            shards = writer.close()
            splits[split] = {
                "rows": sum(s["rows"] for s in shards),
                "tokens": sum(s["tokens"] for s in shards),
                "shards": shards,
            }
        return splits


def shards_manifest(job: ShardJob, settings: ShardSettings, vocab: dict, splits: dict, counts: Counter,
                    inputs: list[dict], corpus: dict) -> dict:
    """The manifest.json of a shards folder (`vocab` is vocab_record's entry)."""
    packing, unknown = split_counts(counts)
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "vocab": vocab,
        "max_seq_len": settings.max_seq_len,
        "seed": settings.seed,
        "validation_fraction": settings.validation_fraction,
        "dtype": str(job.dtype),
        "packing": {"short_target_prob": SHORT_TARGET_PROB, "single_segment_prob": SINGLE_SEGMENT_PROB,
                    "split_sentences": settings.split_sentences, "special_token_strings": "split as text",
                    "overflow": settings.overflow},
        "words": job.words,
        "splits": splits,
        "examples": dict(sorted({"truncated_examples": 0, "truncated_tokens": 0, **packing}.items())),
        "unknown": unknown,
        "inputs": inputs,
        "corpus": corpus,
    }


def build_chunks(tasks: Iterator[tuple], job: ShardJob, workers: int, collect) -> None:
    """Run `build_chunk` over `tasks` (in this process, or in `workers` processes), collecting results in order."""
    if workers == 1:
        _init_worker(*job.init_args)
        for t in tasks:
            collect(build_chunk(t))
    else:
        _run_pool(tasks, job.init_args, workers, collect)


def shard_corpus(
    inputs: Sequence[str],
    vocab_dir: Path,
    out: Path,
    settings: ShardSettings | None = None,
    corpus_options: CorpusOptions | None = None,
    overwrite: bool = False,
) -> dict:
    """Tokenize and pack `inputs` into Arrow shards under `out`; returns the manifest."""
    settings = settings or ShardSettings()
    out = Path(out)
    job = prepare_job(vocab_dir, settings)
    check_output_dir(out, MANIFEST, overwrite, "shards folder")
    corpus = Corpus(inputs, corpus_options)
    started = time.time()

    with atomic_dir(out) as tmp, bytes_progress("shard") as progress:
        sink = ShardSink(tmp, job, settings)
        counts = sink.counts
        task = progress.add_task("tokenizing + packing", total=corpus.total_bytes, status="")

        def on_bytes(n: int) -> None:
            elapsed = max(time.time() - started, 1e-9)
            status = f"{corpus.stats.documents / elapsed:,.0f} docs/s {counts['input_tokens'] / elapsed:,.0f} tok/s"
            progress.update(task, advance=n, status=status)

        build_chunks(chunk_tasks(corpus, settings, on_bytes), job, settings.workers, sink.collect)
        corpus.report("shard: corpus read")
        splits = sink.close()
        manifest = shards_manifest(job, settings, vocab_record(job.vocab, Path(vocab_dir), out), splits, counts,
                                   corpus.describe_inputs(), corpus.stats.to_dict())
        write_json_atomic(tmp / MANIFEST, manifest)  # last: no manifest means no shards
    seconds = time.time() - started
    log.info("shard: %s", tokens_kept(counts, settings.overflow))
    log.info("shard: %s", unknown_summary(manifest["unknown"], counts["input_tokens"]))
    log.info(  # last: every command ends with the line naming what it wrote
        "wrote %s: %d train + %d validation examples, %d tokens in %.1fs",
        out, splits["train"]["rows"], splits["validation"]["rows"], counts["input_tokens"], seconds,
    )
    return manifest


def tokens_kept(counts: Counter | dict, overflow: str) -> str:
    """The packing's loss in plain words: tokens kept and dropped as a share of the corpus' tokens."""
    total = counts.get("input_tokens", 0)
    dropped = counts.get("truncated_tokens", 0)
    share = lambda n: f"{n / total:.1%}" if total else "0%"  # noqa: E731
    text = (f"kept {total - dropped:,} of the corpus' {total:,} tokens ({share(total - dropped)}), "
            f"dropped {dropped:,} ({share(dropped)})")
    if overflow == "truncate":
        return text + ": what overshot each example's target (--overflow truncate, as the reference)"
    return text + "; a sentence that overshoots an example's target continues in the next one (--overflow carry)"


def _run_pool(tasks: Iterator[tuple], init_args: tuple, workers: int, collect) -> None:
    """Run `build_chunk` over `tasks` in worker processes, collecting results in task order.

    At most 2 x workers chunks are in flight, so memory stays bounded however long the corpus is.
    """
    # fork starts workers at once (no re-import); safe here because the parent never loaded the tokenizer (whose
    # thread pool would not survive a fork). Elsewhere, or with other threads running (a live progress bar), spawn.
    fork_ok = sys.platform == "linux" and threading.active_count() == 1
    context = mp.get_context("fork" if fork_ok else "spawn")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one thread per worker: processes parallelize
    with context.Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
        pending: deque = deque()
        for t in tasks:
            pending.append(pool.apply_async(build_chunk, (t,)))
            while len(pending) >= 2 * workers:
                collect(pending.popleft().get())
        while pending:
            collect(pending.popleft().get())


# ---- reading back and verifying ------------------------------------------------------------------------


def vocab_record(vocab: dict, vocab_dir: Path, out: Path) -> dict:
    """The manifest's vocab entry: its identity (sha256, size) and where it is, so that the shards find it from
    any working directory: the path as given, the absolute path, and the path relative to the shards folder
    (which survives moving the two folders together)."""
    absolute = vocab_dir.resolve()
    try:
        relative = os.path.relpath(absolute, out.resolve())
    except ValueError:  # another drive (Windows): no relative path
        relative = None
    record = {"sha256": vocab["vocab_sha256"], "size": vocab["vocab_size"], "special_ids": vocab["special_ids"],
              "path": str(vocab_dir), "absolute": str(absolute), "relative_to_shards": relative}
    if "tokenizer" in vocab:  # a published folder: the tokenizer transformers built for it, and what was switched off
        record.update(tokenizer=vocab["tokenizer"], ignored=vocab.get("ignored", []))
    return record


def recorded_vocab_dir(shards_folder: Path, manifest: dict) -> Path | None:
    """The vocab folder recorded in a shards manifest, looked up relative to the shards folder, then by absolute
    path, then by the path as given to `shard` (all that older manifests have); a folder whose vocab.txt has the
    recorded sha256 wins, else the first that exists; None when none does."""
    entry = manifest.get("vocab") or {}
    candidates = []
    if entry.get("relative_to_shards"):
        candidates.append(Path(os.path.normpath(Path(shards_folder) / entry["relative_to_shards"])))
    candidates += [Path(entry[key]) for key in ("absolute", "path") if entry.get(key)]
    existing = [c for c in candidates if c.is_dir()]
    for folder in existing:
        vocab_txt = folder / "vocab.txt"
        if vocab_txt.is_file() and sha256_file(vocab_txt) == entry.get("sha256"):
            return folder
    return existing[0] if existing else None


def load_manifest(folder: Path) -> dict:
    """A shards folder's manifest; no manifest means no (complete) shards."""
    import json

    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UsageError(f"{folder}: no {MANIFEST}, so no complete shards here; build them with `electra-cli shard`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["splits"]["train"]["shards"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: invalid shards manifest ({err})") from None
    return manifest


def verify_shards(folder: Path) -> dict:
    """Recompute every shard's sha256, row and token counts against the manifest and check every row's shape
    (`row_problem`); DataError naming the first bad shard (and row)."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    specials = (manifest.get("vocab") or {}).get("special_ids") or OUR_SPECIAL_IDS  # older manifests: our own ids
    checked = 0
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            path = folder / shard["file"]
            if not path.is_file():
                raise DataError(f"{path}: shard listed in the manifest is missing")
            if path.stat().st_size != shard["bytes"] or sha256_file(path) != shard["sha256"]:
                raise DataError(f"{path}: sha256 does not match the manifest (corrupted or modified)")
            rows, tokens = check_shard_rows(path, specials)
            if rows != shard["rows"]:
                raise DataError(f"{path}: row count does not match the manifest")
            if "tokens" in shard and tokens != shard["tokens"]:
                raise DataError(f"{path}: {tokens} tokens, the manifest says {shard['tokens']}")
            checked += 1
    return {"shards": checked, "rows": sum(s["rows"] for s in manifest["splits"].values())}


def row_problem(values: np.ndarray, offsets: np.ndarray, specials: dict[str, int]) -> tuple[int, str] | None:
    """(index, what is wrong) of the first row that is not `[CLS] A [SEP] (B [SEP])` without `[PAD]`, else None.
    `values` (T,) flat token ids, `offsets` (R + 1,) row boundaries."""
    if len(offsets) < 2:
        return None
    cls, sep, pad = specials["cls"], specials["sep"], specials["pad"]
    flat = np.append(np.asarray(values, dtype=np.int64), -1)  # (T + 1,): a sentinel keeps every index in range
    starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    short = ends - starts < 2  # flagged first; the other checks may misread such a row, never a longer one
    seps = np.add.reduceat(flat == sep, starts)
    pads = np.add.reduceat(flat == pad, starts)
    problems = np.select(
        [short, flat[starts] != cls, flat[np.maximum(ends - 1, 0)] != sep, seps > 2, pads > 0],
        [1, 2, 3, 4, 5], 0)
    bad = np.flatnonzero(problems)
    if not len(bad):
        return None
    why = {1: "fewer than 2 tokens", 2: f"does not start with [CLS] ({cls})", 3: f"does not end with [SEP] ({sep})",
           4: "more than two [SEP]", 5: f"[PAD] ({pad}) inside the row"}
    return int(bad[0]), why[int(problems[bad[0]])]


def check_shard_rows(path: Path, specials: dict[str, int]) -> tuple[int, int]:
    """(rows, tokens) of one shard, every row checked by `row_problem`; DataError naming the shard and row."""
    rows = tokens = 0
    try:
        with pa.memory_map(str(path)) as source:
            for batch in pa.ipc.open_stream(source):
                column = batch.column("input_ids")
                offsets = np.asarray(column.offsets) - column.offsets[0].as_py()
                values = np.asarray(column.values)[column.offsets[0].as_py() : column.offsets[-1].as_py()]
                bad = row_problem(values, offsets, specials)
                if bad is not None:
                    raise DataError(f"{path}: row {rows + bad[0]}: {bad[1]}")
                rows += batch.num_rows
                tokens += int(offsets[-1])
    except (pa.ArrowInvalid, KeyError) as err:
        raise DataError(f"{path}: not a readable Arrow stream of shards ({err})") from None
    return rows, tokens
