"""Batched inference with a fine-tuned folder over CSV/TSV/JSONL/Parquet, streaming, whatever task it was tuned
for: sequence classification (id, label, score) or regression (id, score); token classification (id, tokens,
tags, scores: one tag per word); extractive QA (id, answer, score, start, end: character offsets in the context,
and an empty answer where the folder's qa_config.json says "no answer").

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

import torch

from electra_cli.core.atomic import atomic_file, check_output_file
from electra_cli.core.console import log, quiet_transformers
from electra_cli.core.errors import DataError, UsageError
from electra_cli.pretraining.export import exported_discriminator
from electra_cli.text.tables import read_records, require_field

MODEL_CLASSES = {"sequence": "AutoModelForSequenceClassification", "token": "AutoModelForTokenClassification",
                 "qa": "AutoModelForQuestionAnswering"}
# input columns with these names are kept as input_<name>
PREDICTION_KEYS = ("id", "label", "score", "tokens", "tags", "scores", "answer", "start", "end")


def predict(
    model_dir: Path,
    input_file: Path,
    out: Path | None = None,
    text_field: str = "text",
    text_pair_field: str = "",
    batch_size: int = 64,
    max_seq_len: int = 512,
    id_field: str = "",
    keep_fields: bool = False,
    overwrite: bool = False,
    question_field: str = "question",
    context_field: str = "context",
) -> int:
    """Write one JSON line per input row: {"id", "label", "score"} ({"id", "score"} for regression; {"id", "tokens",
    "tags", "scores"} for token classification; {"id", "answer", "score", "start", "end"} for QA), the id being
    the row's index in the input (from 0) or its `id_field`, plus the input's columns with `keep_fields`;
    returns the row count."""
    import transformers

    model_dir, input_file = Path(model_dir), Path(input_file)
    kind = check_classifier_folder(model_dir)
    if not input_file.is_file():
        raise UsageError(f"{input_file}: no such file")
    if out is not None:
        out = Path(out)
        check_output_file(out, overwrite)
    with quiet_transformers():
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        model = getattr(transformers, MODEL_CLASSES[kind]).from_pretrained(model_dir).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    writer = {"sequence": write_predictions, "token": write_token_predictions, "qa": write_answers}[kind]
    options = {"id_field": id_field, "keep_fields": keep_fields, "batch_size": batch_size}
    if kind == "qa":
        options |= {"question_field": question_field, "context_field": context_field, "model_dir": model_dir}
    else:
        options |= {"text_field": text_field, "max_seq_len": max_seq_len}
        if kind == "sequence":
            options["text_pair_field"] = text_pair_field
    if out is None:
        rows = writer(sys.stdout, model, tokenizer, input_file, device, **options)
        log.info("wrote %d predictions to standard output", rows)
    else:
        with atomic_file(out) as sink:
            rows = writer(sink, model, tokenizer, input_file, device, **options)
        log.info("wrote %s: %d predictions", out, rows)
    return rows


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


def in_batches(input_file: Path, batch_size: int, id_field: str, keep_fields: bool, read) -> Iterator[tuple[list, list]]:
    """(heads, inputs) of `batch_size` rows at a time: each row's output head and what `read(location, record)`
    takes from it, so a bad row stops the run before its batch is written."""
    heads, inputs = [], []
    for index, (location, record) in enumerate(read_records(input_file)):
        heads.append(_head(index, location, record, id_field, keep_fields))
        inputs.append(read(location, record))
        if len(inputs) == batch_size:
            yield heads, inputs
            heads, inputs = [], []
    if inputs:
        yield heads, inputs


def write_predictions(sink, model, tokenizer, input_file: Path, device, text_field: str, text_pair_field: str,
                      id_field: str, keep_fields: bool, batch_size: int, max_seq_len: int) -> int:
    """Stream `input_file` through the model in batches, one JSON line per row into `sink`; returns the count."""
    regression = model.config.problem_type == "regression" or model.config.num_labels == 1

    def read(location, record):
        pair = str(require_field(record, text_pair_field, location)) if text_pair_field else None
        return str(require_field(record, text_field, location)), pair

    return sum(_write_batch(sink, model, tokenizer, heads, rows, regression, device, max_seq_len)
               for heads, rows in in_batches(input_file, batch_size, id_field, keep_fields, read))


@torch.no_grad()
def _write_batch(sink, model, tokenizer, heads, rows, regression, device, max_seq_len) -> int:
    texts = [text for text, _ in rows]
    pairs = [pair for _, pair in rows] if rows[0][1] is not None else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=max_seq_len, padding=True, return_tensors="pt")
    logits = model(**{k: v.to(device) for k, v in encoded.items()}).logits.float().cpu()
    for head, row in zip(heads, logits):
        if regression:
            record = {**head, "score": float(row[0])}
        else:
            probs = torch.softmax(row, -1)
            label = model.config.id2label[int(probs.argmax())]
            record = {**head, "label": label, "score": round(float(probs.max()), 6)}
        sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return len(texts)


def write_token_predictions(sink, model, tokenizer, input_file: Path, device, text_field: str, id_field: str,
                            keep_fields: bool, batch_size: int, max_seq_len: int) -> int:
    """One tag per word: a row's `text_field` is a list of words or a string split at whitespace (a row without
    the default "text" field but with "tokens", as finetune's JSONL, reads that). A word's tag is its first word
    piece's, as finetune trains; words cut off by max_seq_len get tag null."""
    def read(location, record):
        field = "tokens" if text_field == "text" and "text" not in record and "tokens" in record else text_field
        value = require_field(record, field, location)
        return [str(w) for w in value] if isinstance(value, list) else str(value).split()

    return sum(_write_token_batch(sink, model, tokenizer, heads, words, device, max_seq_len)
               for heads, words in in_batches(input_file, batch_size, id_field, keep_fields, read))


@torch.no_grad()
def _write_token_batch(sink, model, tokenizer, heads, words, device, max_seq_len) -> int:
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_seq_len, padding=True,
                        return_tensors="pt")
    inputs = {k: v.to(device) for k, v in encoded.items()}
    probs = torch.softmax(model(**inputs).logits.float().cpu(), -1)  # (B, T, labels)
    for row, (head, sentence) in enumerate(zip(heads, words)):
        tags, scores = [None] * len(sentence), [None] * len(sentence)
        for position, word in enumerate(encoded.word_ids(row)):
            if word is not None and tags[word] is None:  # the first piece of each word
                best = int(probs[row, position].argmax())
                tags[word], scores[word] = model.config.id2label[best], round(float(probs[row, position, best]), 6)
        sink.write(json.dumps({**head, "tokens": sentence, "tags": tags, "scores": scores}, ensure_ascii=False,
                              default=str) + "\n")
    return len(words)


def write_answers(sink, model, tokenizer, input_file: Path, device, question_field: str, context_field: str,
                  id_field: str, keep_fields: bool, batch_size: int, model_dir: Path) -> int:
    """Answer each row's question from its context, with the settings the folder was tuned with (qa_config.json;
    HF's defaults for a folder without one: 384 tokens, stride 128, every question answerable)."""
    from electra_cli.qa.data import QAExample

    settings = qa_settings(model_dir)

    def read(location, record):
        return QAExample(location, str(require_field(record, question_field, location)),
                         str(require_field(record, context_field, location)), [], [], location)

    return sum(_write_answer_batch(sink, model, tokenizer, heads, examples, device, settings)
               for heads, examples in in_batches(input_file, batch_size, id_field, keep_fields, read))


def qa_settings(model_dir: Path) -> dict:
    from electra_cli.qa.train import QA_CONFIG_FILE

    settings = {"null_answers": False, "null_threshold": 0.0, "max_seq_len": 384, "doc_stride": 128,
                "max_query_len": 64, "n_best": 20, "max_answer_len": 30}
    path = Path(model_dir) / QA_CONFIG_FILE
    if path.is_file():
        try:
            settings |= json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise DataError(f"{path}: invalid JSON ({err})") from None
    return settings


def _write_answer_batch(sink, model, tokenizer, heads, examples, device, settings) -> int:
    from electra_cli.qa.data import build_features
    from electra_cli.qa.decode import apply_threshold, decode
    from electra_cli.qa.train import window_logits

    features = build_features(examples, tokenizer, settings["max_seq_len"], settings["doc_stride"],
                              settings["max_query_len"])
    starts, ends = window_logits(model, features, 64, tokenizer.pad_token_id or 0, device)
    answers = decode(examples, features, starts, ends, settings["n_best"], settings["max_answer_len"])
    for head, answer in zip(heads, answers):
        text = apply_threshold(answer, settings["null_answers"], settings["null_threshold"])
        record = {**head, "answer": text, "score": round(answer.probability if text else answer.null_probability, 6),
                  "start": answer.start if text else None, "end": answer.end if text else None}
        sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return len(examples)
