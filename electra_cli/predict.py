"""Batched inference with a fine-tuned folder over CSV/TSV/JSONL/Parquet, streaming: label and score per row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from electra_cli.console import log
from electra_cli.errors import UsageError
from electra_cli.tables import read_records, require_field


def predict(
    model_dir: Path,
    input_file: Path,
    out: Path | None = None,
    text_field: str = "text",
    text_pair_field: str = "",
    batch_size: int = 64,
    max_seq_len: int = 512,
) -> int:
    """Write one JSON line per input row ({"label", "score"}; {"score"} for regression); returns the row count."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise UsageError(f"{model_dir}: not a model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    regression = model.config.problem_type == "regression" or model.config.num_labels == 1
    id2label = model.config.id2label
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    rows = 0
    try:
        texts, pairs = [], []
        for location, record in read_records(input_file):
            texts.append(str(require_field(record, text_field, location)))
            if text_pair_field:
                pairs.append(str(require_field(record, text_pair_field, location)))
            if len(texts) == batch_size:
                rows += _write_batch(sink, model, tokenizer, texts, pairs, regression, id2label, device, max_seq_len)
                texts, pairs = [], []
        if texts:
            rows += _write_batch(sink, model, tokenizer, texts, pairs, regression, id2label, device, max_seq_len)
    finally:
        if out:
            sink.close()
    if out:
        log.info("wrote %d predictions to %s", rows, out)
    return rows


@torch.no_grad()
def _write_batch(sink, model, tokenizer, texts, pairs, regression, id2label, device, max_seq_len) -> int:
    encoded = tokenizer(texts, pairs or None, truncation=True, max_length=max_seq_len, padding=True, return_tensors="pt")
    logits = model(**{k: v.to(device) for k, v in encoded.items()}).logits.float().cpu()
    for row in logits:
        if regression:
            record = {"score": float(row[0])}
        else:
            probs = torch.softmax(row, -1)
            record = {"label": id2label[int(probs.argmax())], "score": round(float(probs.max()), 6)}
        sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(texts)
