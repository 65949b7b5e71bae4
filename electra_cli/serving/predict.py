"""Batched inference with a fine-tuned folder over CSV/TSV/JSONL/Parquet, streaming, whatever task it was tuned
for: sequence classification (id, label, score) or regression (id, score); token classification (id, tokens,
tags, scores: one tag per word, every word however long the row, with the text and its entities); extractive QA (id, answer, score, start, end: character offsets in the context,
and an empty answer where the folder's qa_config.json says "no answer").

Inputs are cut where fine-tuning cut them: the length the folder records (finetune_config.json or qa_config.json,
and tokenizer_config.json's model_max_length), unless --max-seq-len says otherwise. The model runs in fp32, as
it was saved and validated, unless --precision asks for bf16 or fp16 (for a GPU).

Fast because it knows every row up front: rows are read CHUNK_ROWS at a time, each chunk tokenized in one call of
the fast tokenizer (in Rust, padded into one array), its rows sorted by length so that a batch holds neighbours
and pads little, labelled under `torch.inference_mode`, and written back in input order; memory depends on the
chunk, never on the input's size.

With --out, rows go to a temporary file beside the output, renamed into place only when every row is done: a
run that fails (a bad row, a wrong column, Ctrl-C) leaves an earlier output as it was and no partial file.
A folder without a fine-tuned head is refused: loading it would attach a random head that answers LABEL_0 /
LABEL_1 with confident-looking scores.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from electra_cli.core.atomic import atomic_file, check_output_file
from electra_cli.core.console import log, quiet_transformers
from electra_cli.core.errors import DataError, UsageError
from electra_cli.finetuning import tagging
from electra_cli.finetuning.entities import entity_records
from electra_cli.finetuning.steps import FOLDER_CONFIG_FILE
from electra_cli.pretraining.export import exported_discriminator
from electra_cli.qa.data import QAExample, build_features
from electra_cli.qa.decode import apply_threshold, decode
from electra_cli.qa.train import QA_CONFIG_FILE, window_logits
from electra_cli.text.tables import read_records, require_field
from electra_cli.vocab.published import read_json

MODEL_CLASSES = {"sequence": "AutoModelForSequenceClassification", "token": "AutoModelForTokenClassification",
                 "qa": "AutoModelForQuestionAnswering"}
# input columns with these names are kept as input_<name>
PREDICTION_KEYS = ("id", "label", "score", "tokens", "tags", "scores", "entities", "answer", "start", "end")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CHUNK_ROWS = 8192  # rows read, tokenized, sorted and labelled together (QA: questions, whose windows multiply)
QA_CHUNK_ROWS = 1024
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def predict(
    model_dir: Path,
    input_file: Path,
    out: Path | None = None,
    text_field: str = "text",
    text_pair_field: str = "",
    batch_size: int = 64,
    max_seq_len: int = 0,
    id_field: str = "",
    keep_fields: bool = False,
    overwrite: bool = False,
    question_field: str = "question",
    context_field: str = "context",
    precision: str = "fp32",
) -> int:
    """Write one JSON line per input row, in input order: {"id", "label", "score"} ({"id", "score"} for
    regression; {"id", "tokens", "tags", "scores"} for token classification; {"id", "answer", "score", "start",
    "end"} for QA), the id being the row's index in the input (from 0) or its `id_field`, plus the input's columns
    with `keep_fields`; `max_seq_len` 0 cuts inputs where fine-tuning did; returns the row count."""
    import transformers

    model_dir, input_file = Path(model_dir), Path(input_file)
    kind = check_classifier_folder(model_dir)
    if not input_file.is_file():
        raise UsageError(f"{input_file}: no such file")
    if batch_size < 1 or max_seq_len < 0:
        raise UsageError("--batch-size must be >= 1 and --max-seq-len >= 0 (0: the fine-tuning length)")
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose from {', '.join(PRECISIONS)}")
    if out is not None:
        out = Path(out)
        check_output_file(out, overwrite)
    with quiet_transformers():
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        model = getattr(transformers, MODEL_CLASSES[kind]).from_pretrained(model_dir).eval()
    if not tokenizer.is_fast:
        raise UsageError(f"{model_dir}: predict needs a fast tokenizer (tokenizer.json, or a vocab.txt "
                         f"transformers can convert); {type(tokenizer).__name__} is not one")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device=device, dtype=PRECISIONS[precision])
    writer = {"sequence": write_predictions, "token": write_token_predictions, "qa": write_answers}[kind]
    options = {"id_field": id_field, "keep_fields": keep_fields, "batch_size": batch_size}
    if kind == "qa":
        settings = qa_settings(model_dir)
        if max_seq_len:
            settings["max_seq_len"] = checked_length(max_seq_len, model.config)
        options |= {"question_field": question_field, "context_field": context_field, "settings": settings}
        length = settings["max_seq_len"]
    else:
        length = sequence_length(model_dir, model.config, tokenizer, max_seq_len)
        options |= {"text_field": text_field, "max_seq_len": length}
        if kind == "sequence":
            options["text_pair_field"] = text_pair_field
        else:
            options["characters"] = bool(folder_settings(model_dir).get("characters"))
    log.info("predict: inputs cut at %d tokens (%s), %s on %s", length,
             "--max-seq-len" if max_seq_len else "as fine-tuned", precision, device.type)
    if out is None:
        rows = writer(sys.stdout, model, tokenizer, input_file, device, **options)
        log.info("wrote %d predictions to standard output", rows)
    else:
        with atomic_file(out) as sink:
            rows = writer(sink, model, tokenizer, input_file, device, **options)
        log.info("wrote %s: %d predictions", out, rows)
    return rows


def sequence_length(model_dir: Path, config, tokenizer, requested: int = 0) -> int:
    """Where inputs are cut: `requested`, else the length fine-tuning used (finetune_config.json), else the
    tokenizer's model_max_length (which finetune also records), never past the model's positions."""
    if requested:
        return checked_length(requested, config)
    positions = getattr(config, "max_position_embeddings", None) or 512
    settings = folder_settings(model_dir)
    if settings:
        try:
            recorded = int(settings["max_seq_len"])
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{model_dir / FOLDER_CONFIG_FILE}: no valid max_seq_len ({err})") from None
        return min(recorded, positions)
    limit = tokenizer.model_max_length  # transformers' "no limit" is a huge integer
    return min(int(limit), positions) if limit and limit < 1_000_000 else positions


def folder_settings(model_dir: Path) -> dict:
    """finetune_config.json of a classification/tagging folder (task type, max_seq_len, characters); {} if none."""
    return read_json(Path(model_dir) / FOLDER_CONFIG_FILE)


def checked_length(requested: int, config) -> int:
    positions = getattr(config, "max_position_embeddings", None)
    if positions and requested > positions:
        raise UsageError(f"--max-seq-len {requested}: the model has only {positions} positions")
    return requested


def check_classifier_folder(model_dir: Path) -> str:
    """The kind of fine-tuned head ("sequence", "token" or "qa"); a pretrain run folder and a model folder
    without a fine-tuned head are refused with a hint."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        final = exported_discriminator(model_dir)
        if final is not None:
            raise UsageError(f"{model_dir}: a pretrain run folder, not a fine-tuned model; fine-tune {final} with "
                             "`electra-cli finetune` and predict with its output")
        raise UsageError(f"{model_dir}: not a model folder (no config.json)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"{config_path}: invalid JSON ({err})") from None
    architectures = config.get("architectures") or []
    fine_tune_first = (f"fine-tune it first (electra-cli finetune --model {model_dir} --train ... --validation ... "
                       "--out FOLDER) and predict with FOLDER")
    if any(a.endswith("ForQuestionAnswering") for a in architectures):
        return "qa"
    kind = "token" if any(a.endswith("ForTokenClassification") for a in architectures) else "sequence"
    heads = ("ForSequenceClassification", "ForTokenClassification")
    if architectures and not any(a.endswith(heads) for a in architectures):
        raise UsageError(f"{model_dir}: holds {architectures[0]}, a model with no fine-tuned head; {fine_tune_first}")
    labels = [str(v) for v in (config.get("id2label") or {}).values()]
    regression = config.get("problem_type") == "regression" or len(labels) == 1
    if not regression and all(re.fullmatch(r"LABEL_\d+", label) for label in labels):
        if not architectures:
            raise UsageError(f"{model_dir}: no labels from fine-tuning in config.json (id2label); {fine_tune_first}")
        log.warning("%s: config.json names no labels, so rows get LABEL_0, LABEL_1, ...", model_dir)
    return kind


def _head(index: int, location: str, record: dict, id_field: str, keep_fields: bool) -> dict:
    """The start of an output row: its id and, with keep_fields, the input's columns."""
    row_id = require_field(record, id_field, location) if id_field else index
    kept = {f"input_{k}" if k in PREDICTION_KEYS else k: v for k, v in record.items() if k != id_field}
    return {"id": row_id, **(kept if keep_fields else {})}


def in_chunks(input_file: Path, size: int, id_field: str, keep_fields: bool, read) -> Iterator[tuple[list, list]]:
    """(heads, inputs) of `size` rows at a time, in input order: each row's output head and what
    `read(location, record)` takes from it, so a bad row stops the run before its chunk is written."""
    heads, inputs = [], []
    for index, (location, record) in enumerate(read_records(input_file)):
        heads.append(_head(index, location, record, id_field, keep_fields))
        inputs.append(read(location, record))
        if len(inputs) == size:
            yield heads, inputs
            heads, inputs = [], []
    if inputs:
        yield heads, inputs


@torch.inference_mode()
def sorted_logits(model, encoded, batch_size: int, device) -> torch.Tensor:
    """The logits of every row of `encoded` (arrays padded on the right to the longest row), in its row order:
    (N, labels), or (N, T, labels) for token classification. Rows run longest first in batches of neighbours, so
    a batch is padded only to its own longest row (its first) and the biggest batch shows its memory at once."""
    arrays = {k: encoded[k] for k in MODEL_INPUTS if k in encoded}
    lengths = arrays["attention_mask"].sum(1)  # (N,)
    order = np.argsort(-lengths, kind="stable")
    outputs = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = int(lengths[rows[0]])
        batch = {k: torch.from_numpy(np.ascontiguousarray(v[rows, :width])).to(device) for k, v in arrays.items()}
        logits = model(**batch).logits.float().cpu()  # (B, labels) or (B, width, labels)
        if outputs is None:
            shape = (len(order), *logits.shape[1:]) if logits.dim() == 2 else (len(order), lengths.max(), logits.shape[-1])
            outputs = torch.zeros(shape)
        outputs[torch.from_numpy(rows), : logits.shape[1]] = logits
    return outputs


def encode(tokenizer, first, second=None, max_seq_len: int = 512, **options):
    """One call of the fast tokenizer for a whole chunk, truncated as finetune does, padded on the right into
    numpy arrays."""
    return tokenizer(first, second, truncation=True, max_length=max_seq_len, padding="longest",
                     padding_side="right", return_tensors="np", **options)


def write_predictions(sink, model, tokenizer, input_file: Path, device, text_field: str, text_pair_field: str,
                      id_field: str, keep_fields: bool, batch_size: int, max_seq_len: int) -> int:
    """Stream `input_file` through the model a chunk at a time, one JSON line per row into `sink` in input order;
    returns the count."""
    regression = model.config.problem_type == "regression" or model.config.num_labels == 1
    names = model.config.id2label

    def read(location, record):
        pair = str(require_field(record, text_pair_field, location)) if text_pair_field else None
        return str(require_field(record, text_field, location)), pair

    count = 0
    for heads, rows in in_chunks(input_file, CHUNK_ROWS, id_field, keep_fields, read):
        pairs = [pair for _, pair in rows] if text_pair_field else None
        logits = sorted_logits(model, encode(tokenizer, [text for text, _ in rows], pairs, max_seq_len), batch_size,
                               device)
        if regression:
            records = ({**head, "score": score} for head, score in zip(heads, logits[:, 0].tolist()))
        else:
            best = torch.softmax(logits, -1).max(-1)
            records = ({**head, "label": names[label], "score": round(score, 6)}
                       for head, label, score in zip(heads, best.indices.tolist(), best.values.tolist()))
        sink.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))
        count += len(rows)
    return count


def write_token_predictions(sink, model, tokenizer, input_file: Path, device, text_field: str, id_field: str,
                            keep_fields: bool, batch_size: int, max_seq_len: int, characters: bool = False) -> int:
    """One tag per word, read as finetune trained (finetuning/tagging.py): a row's `text_field` is a list of words
    or a string, split into characters for a character-level folder (every character one position, itself or
    [UNK]) and at whitespace otherwise (a row without the default "text" field but with "tokens", as finetune's
    JSONL, reads that). Words past max_seq_len are read from overlapping windows, so every word is tagged. Each
    row also gets its text and its entities (type, start, end inclusive, text): for characters, offsets into the
    text, so text[start:end + 1] is the entity."""
    def read(location, record):
        field = "tokens" if text_field == "text" and "text" not in record and "tokens" in record else text_field
        value = require_field(record, field, location)
        if isinstance(value, list):
            words = [str(w) for w in value]
            return words, ("" if characters else " ").join(words)
        return (list(str(value)) if characters else str(value).split()), str(value)

    names = model.config.id2label
    count = 0
    for heads, rows in in_chunks(input_file, CHUNK_ROWS, id_field, keep_fields, read):
        sentences = [words for words, _ in rows]
        cut = tagging.windows(tokenizer, sentences, max_seq_len, characters)
        width = max(len(w.input_ids) for w in cut)
        ids = np.full((len(cut), width), tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(cut), width), dtype=np.int64)
        for row, window in enumerate(cut):
            ids[row, : len(window.input_ids)] = window.input_ids
            mask[row, : len(window.input_ids)] = 1
        encoded = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": mask}
        logits = sorted_logits(model, encoded, batch_size, device)  # (windows, T, labels)
        per_word = tagging.word_logits(cut, list(logits), [len(words) for words in sentences])
        lines = []
        for head, (words, text), word_logits in zip(heads, rows, per_word):
            best = torch.softmax(word_logits, -1).max(-1)
            tags = [names[i] for i in best.indices.tolist()]
            record = {**head, "tokens": words, "tags": tags, "scores": [round(x, 6) for x in best.values.tolist()],
                      "text": text, "entities": entity_records(words, tags, characters)}
            lines.append(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        sink.write("".join(lines))
        count += len(rows)
    return count


def write_answers(sink, model, tokenizer, input_file: Path, device, question_field: str, context_field: str,
                  id_field: str, keep_fields: bool, batch_size: int, settings: dict) -> int:
    """Answer each row's question from its context, with the settings the folder was tuned with (qa_config.json;
    HF's defaults for a folder without one: 384 tokens, stride 128, every question answerable)."""
    def read(location, record):
        return QAExample(location, str(require_field(record, question_field, location)),
                         str(require_field(record, context_field, location)), [], [], location)

    count = 0
    for heads, examples in in_chunks(input_file, QA_CHUNK_ROWS, id_field, keep_fields, read):
        features = build_features(examples, tokenizer, settings["max_seq_len"], settings["doc_stride"],
                                  settings["max_query_len"])
        starts, ends = window_logits(model, features, batch_size, tokenizer.pad_token_id or 0, device)
        answers = decode(examples, features, starts, ends, settings["n_best"], settings["max_answer_len"],
                         settings["null_answers"])
        lines = []
        for head, answer in zip(heads, answers):
            text = apply_threshold(answer, settings["null_answers"], settings["null_threshold"])
            record = {**head, "answer": text, "score": round(answer.probability if text else answer.null_probability, 6),
                      "start": answer.start if text else None, "end": answer.end if text else None}
            lines.append(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        sink.write("".join(lines))
        count += len(examples)
    return count


def qa_settings(model_dir: Path) -> dict:
    settings = {"null_answers": False, "null_threshold": 0.0, "max_seq_len": 384, "doc_stride": 128,
                "max_query_len": 64, "n_best": 20, "max_answer_len": 30}
    path = Path(model_dir) / QA_CONFIG_FILE
    if path.is_file():
        try:
            settings |= json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise DataError(f"{path}: invalid JSON ({err})") from None
    return settings
