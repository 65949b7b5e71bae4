"""Batched inference with a fine-tuned folder over CSV/TSV/JSONL/Parquet, streaming: id, label and score per row.

With --out, rows go to a temporary file beside the output, renamed into place only when every row is done: a
run that fails (a bad row, a wrong column, Ctrl-C) leaves an earlier output as it was and no partial file.
A folder without a fine-tuned head is refused: loading it would attach a random head that answers LABEL_0 /
LABEL_1 with confident-looking scores.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch

from electra_cli.atomic import atomic_file, check_output_file
from electra_cli.console import log, quiet_transformers
from electra_cli.errors import DataError, UsageError
from electra_cli.export import exported_discriminator
from electra_cli.tables import read_records, require_field

PREDICTION_KEYS = ("id", "label", "score")  # input columns with these names are kept as input_<name>


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
) -> int:
    """Write one JSON line per input row: {"id", "label", "score"} ({"id", "score"} for regression), the id being
    the row's index in the input (from 0) or its `id_field`, plus the input's columns with `keep_fields`;
    returns the row count."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir, input_file = Path(model_dir), Path(input_file)
    check_classifier_folder(model_dir)
    if not input_file.is_file():
        raise UsageError(f"{input_file}: no such file")
    if out is not None:
        out = Path(out)
        check_output_file(out, overwrite)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    options = {"text_field": text_field, "text_pair_field": text_pair_field, "id_field": id_field,
               "keep_fields": keep_fields, "batch_size": batch_size, "max_seq_len": max_seq_len}
    if out is None:
        rows = write_predictions(sys.stdout, model, tokenizer, input_file, device, **options)
        log.info("wrote %d predictions to standard output", rows)
    else:
        with atomic_file(out) as sink:
            rows = write_predictions(sink, model, tokenizer, input_file, device, **options)
        log.info("wrote %s: %d predictions", out, rows)
    return rows


def check_classifier_folder(model_dir: Path) -> None:
    """Refuse a pretrain run folder and a model folder without a fine-tuned classification head, with a hint."""
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
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        if any(a.endswith("ForTokenClassification") for a in architectures):
            raise UsageError(f"{model_dir}: a token-classification model ({architectures[0]}); predict serves "
                             "sequence classification and regression")
        raise UsageError(f"{model_dir}: holds {architectures[0]}, a model with no fine-tuned head; {fine_tune_first}")
    labels = [str(v) for v in (config.get("id2label") or {}).values()]
    regression = config.get("problem_type") == "regression" or len(labels) == 1
    if not regression and all(re.fullmatch(r"LABEL_\d+", label) for label in labels):
        if not architectures:
            raise UsageError(f"{model_dir}: no labels from fine-tuning in config.json (id2label); {fine_tune_first}")
        log.warning("%s: config.json names no labels, so rows get LABEL_0, LABEL_1, ...", model_dir)


def write_predictions(sink, model, tokenizer, input_file: Path, device, text_field: str, text_pair_field: str,
                      id_field: str, keep_fields: bool, batch_size: int, max_seq_len: int) -> int:
    """Stream `input_file` through the model in batches, one JSON line per row into `sink`; returns the count."""
    regression = model.config.problem_type == "regression" or model.config.num_labels == 1
    rows = 0
    heads, texts, pairs = [], [], []
    for index, (location, record) in enumerate(read_records(input_file)):
        row_id = require_field(record, id_field, location) if id_field else index
        kept = {f"input_{k}" if k in PREDICTION_KEYS else k: v for k, v in record.items() if k != id_field}
        heads.append({"id": row_id, **(kept if keep_fields else {})})
        texts.append(str(require_field(record, text_field, location)))
        if text_pair_field:
            pairs.append(str(require_field(record, text_pair_field, location)))
        if len(texts) == batch_size:
            rows += _write_batch(sink, model, tokenizer, heads, texts, pairs, regression, device, max_seq_len)
            heads, texts, pairs = [], [], []
    if texts:
        rows += _write_batch(sink, model, tokenizer, heads, texts, pairs, regression, device, max_seq_len)
    return rows


@torch.no_grad()
def _write_batch(sink, model, tokenizer, heads, texts, pairs, regression, device, max_seq_len) -> int:
    encoded = tokenizer(texts, pairs or None, truncation=True, max_length=max_seq_len, padding=True, return_tensors="pt")
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
