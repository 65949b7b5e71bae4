"""A Chinese preset's run: its files converted, fine-tuning, then, in the fine-tuned folder: CLUE's submission file for an unlabelled test set
(JSON lines `{"id", "label"}`, TNEWS and IFLYTEK with the label's description, CLUENER with its label dict), and
for NER the official span scores (CLUENER's macro-F1 and the baseline's micro-F1) added to metrics.json.
The fine-tuning function is passed in (the CLI's dispatcher, which sits above this package)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from electra_cli.tasks import ner
from electra_cli.tasks.presets import (
    ZH_TASKS,
    Prepared,
    label_descriptions,
    zh_setup,
)
from electra_cli.core.atomic import atomic_file, write_json_atomic
from electra_cli.core.console import log
from electra_cli.finetuning.entities import entity_scores
from electra_cli.serving.predict import predict

METRICS_FILE = "metrics.json"


def predicted_rows(model_dir: Path, rows_file: Path, kind: str, pair: bool = False) -> list[dict]:
    """`predict`'s output rows for a converted split (ids kept): characters for NER, text (and pair) otherwise."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "predictions.jsonl"
        options = {"text_field": "tokens"} if kind == "ner" else {
            "text_field": "text", "text_pair_field": "text_pair" if pair else ""}
        predict(model_dir, rows_file, target, id_field="id", **options)
        return [json.loads(line) for line in target.open(encoding="utf-8")]


def write_submission(prepared: Prepared, out: Path, data_dir: Path) -> Path:
    """CLUE's submission file for the unlabelled test split, in `out`; returns its path."""
    spec = ZH_TASKS[prepared.task]
    rows = predicted_rows(out, prepared.unlabelled, spec.kind, spec.pair)
    descriptions = label_descriptions(prepared.task, data_dir)
    texts = {}
    if spec.kind == "ner":
        texts = {r["id"]: r["text"] for r in map(json.loads, prepared.unlabelled.open(encoding="utf-8"))}
    path = Path(out) / prepared.submission
    with atomic_file(path) as sink:
        for row in rows:
            if spec.kind == "ner":
                text = texts[row["id"]]
                record = {"id": row["id"], "label": ner.spans_to_label_dict(text, ner.tags_to_spans(row["tags"]))}
            else:
                record = {"id": row["id"], "label": row["label"]}
                if row["label"] in descriptions:
                    record["label_desc"] = descriptions[row["label"]]
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def ner_official_scores(model_dir: Path, split_file: Path, types=None) -> dict:
    """CLUENER's macro-F1 and the CLUE baseline's micro span F1 (fractions) of the model in `model_dir` on a
    converted split, with the strict (seqeval) entity F1 beside."""
    gold_rows = [json.loads(line) for line in split_file.open(encoding="utf-8")]
    predicted = {r["id"]: r for r in predicted_rows(model_dir, split_file, "ner")}
    texts = ["".join(r["tokens"]) for r in gold_rows]
    gold = [ner.tags_to_spans(r["tags"]) for r in gold_rows]
    found = [ner.tags_to_spans(predicted[r["id"]]["tags"]) for r in gold_rows]
    strict = entity_scores([r["tags"] for r in gold_rows], [predicted[r["id"]]["tags"] for r in gold_rows])
    return ner.ner_scores(texts, gold, found, types) | {"entity_f1": strict["entity_f1"]}


def finish(prepared: Prepared, out: Path, data_dir: Path) -> list[Path]:
    """Everything a preset adds to the fine-tuned folder after training; returns the files written."""
    spec = ZH_TASKS[prepared.task]
    written = []
    out = Path(out)
    metrics_path = out / METRICS_FILE
    summary = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    summary["preset"] = {"task": prepared.task, "counts": prepared.counts}
    if spec.kind == "ner":
        types = None if prepared.task != "cluener" else ner.CLUENER_TYPES
        official = {}
        for split, path in (("validation", prepared.validation), ("test", prepared.test)):
            if path is not None:
                scores = ner_official_scores(out, path, types)
                if types is None:
                    scores.pop("per_type")
                official[split] = scores
        summary["official"] = official
    if prepared.unlabelled is not None and prepared.submission:
        written.append(write_submission(prepared, out, data_dir))
        summary["submission"] = prepared.submission
        summary["clue_version"] = prepared.clue_version
    write_json_atomic(metrics_path, summary)
    return written


def run_zh_preset(task: str, data_dir: Path, cfg, model_dir: Path, out: Path, finetune: Callable[..., dict],
                  epochs_set: bool = False, clue_version: str = "1.1", **options) -> dict:
    """Convert preset `task`'s files, fine-tune with `finetune(cfg, model, train, validation, out, test_file=...,
    task_name=..., **options)`, then write the submission file and official scores; returns the metrics."""
    with tempfile.TemporaryDirectory(prefix=f"electra-cli-{task}-") as scratch:
        prepared = zh_setup(task, data_dir, cfg, model_dir, Path(scratch), epochs_set, clue_version)
        if prepared.counts.get("dev_carved_from_train"):
            log.info("%s has no dev split: %d training sentences (CRC-32 of the text = 0 mod 10) are the dev set",
                     task, prepared.counts["dev_carved_from_train"])
        dropped = sum(prepared.counts.get("dropped", {}).values())
        if dropped:
            log.info("%s: %d rows labelled '-' dropped (%s)", task, dropped, prepared.counts["dropped"])
        finetune(cfg, model_dir, prepared.train, prepared.validation, out, test_file=prepared.test, task_name=task,
                 **options)
        if ZH_TASKS[task].kind == "question-answering":
            return json.loads((Path(out) / METRICS_FILE).read_text(encoding="utf-8"))
        written = finish(prepared, out, data_dir)
        for path in written:
            log.info("wrote %s: CLUE %s's submission file, predicted from %s", path, clue_version,
                     prepared.test_source)
        return json.loads((Path(out) / METRICS_FILE).read_text(encoding="utf-8"))
