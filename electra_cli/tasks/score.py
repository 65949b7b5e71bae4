"""`electra-cli score`: a benchmark's official metric for predictions made anywhere.

References are the datasets' own files (a preset's dev file, CLUENER's dev.json, a SQuAD-layout JSON); predictions
are the official formats (`{qid: answer}` JSON for CMRC 2018 / DRCD / SQuAD, CLUE's JSON lines `{"id", "label"}`,
CLUENER's `{"id", "label": {type: {surface: [[start, end]]}}}`) or `electra-cli predict`'s JSONL (id with label,
tags or answer). A record's id is its `id` field, or its index in the file (from 0) where the file has none, as
`predict` numbers rows. Predictions missing for some references count as wrong and are counted; bad input (broken
JSON, a record without an id, an id not in the reference, an unknown label) stops with the file and record named.
"""

from __future__ import annotations

import json
from pathlib import Path

from electra_cli.tasks import ner
from electra_cli.tasks.presets import ZH_TASKS, label_set
from electra_cli.core.errors import DataError, UsageError
from electra_cli.finetuning.entities import entity_spans
from electra_cli.finetuning import metrics as metriclib
from electra_cli.qa import metrics as qa_metrics
from electra_cli.tasks.glue import GLUE_TASKS, glue_gold, glue_task

QA_LANGUAGES = {"cmrc2018": "zh", "drcd": "zh", "squad-v1": "en", "squad-v2": "en"}
SCORE_TASKS = tuple(f"glue-{name}" for name in GLUE_TASKS) + tuple(ZH_TASKS) + ("cmrc2018", "squad-v1", "squad-v2")


def read_predictions(path: Path) -> list[tuple[str, str, dict | str]]:
    """(location, id, record) per prediction: a JSON object {id: value} (one record per key), or JSON lines."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "id" not in whole:
        return [(f"{path}: key {key!r}", str(key), value) for key, value in whole.items()]
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except ValueError as err:
            raise DataError(f"{where}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict) or "id" not in record:
            raise DataError(f"{where}: expected a JSON object with an 'id'")
        out.append((where, str(record["id"]), record))
    return out


def _field(record, name: str, where: str):
    if not isinstance(record, dict) or name not in record:
        fields = ", ".join(record) if isinstance(record, dict) else type(record).__name__
        raise DataError(f"{where}: no field {name!r} ({fields})")
    return record[name]


def _match(predictions, reference: dict, reference_path: Path, dropped: frozenset = frozenset()) -> tuple[dict, int]:
    """(id -> (location, record) for the predictions, each id known to the reference and given once; the number of
    predictions skipped because their id is a row the reference drops)."""
    found, skipped = {}, 0
    for where, key, record in predictions:
        if key in dropped:
            skipped += 1
            continue
        if key not in reference:
            raise DataError(f"{where}: id {key!r} is not in {reference_path}")
        if key in found:
            raise DataError(f"{where}: id {key!r} predicted twice (first at {found[key][0]})")
        found[key] = (where, record)
    return found, skipped


def _pct(value: float) -> float:
    return round(100.0 * value, 3)


def score_classification(task: str, reference: Path, predictions: Path) -> dict:
    spec = ZH_TASKS[task]
    gold, dropped = {}, set()
    for _, row in spec.reader(Path(reference), "dev"):
        if row["label"] is None:
            raise DataError(f"{reference}: has no labels (CLUE's test labels are hidden: score a dev file)")
        if row["label"].strip() == "-":  # not scored, as CLUE's baseline drops them
            dropped.add(str(row["id"]))
        else:
            gold[str(row["id"])] = row["label"]
    labels = set(label_set(task, Path(reference).parent))
    found, skipped = _match(read_predictions(predictions), gold, Path(reference), frozenset(dropped))
    right = 0
    for key, (where, record) in found.items():
        label = str(_field(record, "label", where) if isinstance(record, dict) else record)
        if labels and label not in labels:
            raise DataError(f"{where}: label {label!r} is not one of {task}'s labels")
        right += label == gold[key]
    return {"accuracy": _pct(right / len(gold)), "total": len(gold), "missing": len(gold) - len(found),
            "skipped_dropped": skipped}


def _predicted_entities(task: str, record, text: str, where: str) -> tuple[list, dict, list]:
    """(spans as CLUE's baseline reads them, {type: set of strings}, spans as seqeval reads them) of one NER
    prediction: CLUENER's label dict (its spans, both ways) or predict's tags."""
    if isinstance(record, dict) and "label" in record:
        label = record["label"]
        if task == "cluener":
            unknown = sorted(set(label) - set(ner.CLUENER_TYPES)) if isinstance(label, dict) else []
            if unknown:
                raise DataError(f"{where}: entity type {unknown[0]!r} is not one of CLUENER's ten")
        spans = ner.label_dict_spans(label, "", where)
        return spans, {kind: set(surfaces) for kind, surfaces in label.items() if surfaces}, spans
    tags = _field(record, "tags", where)
    if not isinstance(tags, list):
        raise DataError(f"{where}: 'tags' must be a list")
    spans = ner.tags_to_spans(tags)
    return spans, ner.strings_by_type(text, spans), entity_spans(tags)


def score_ner(task: str, reference: Path, predictions: Path) -> dict:
    spec = ZH_TASKS[task]
    rows = {str(row["id"]): row for _, row in spec.reader(Path(reference), "dev")}
    if any(row["tags"] is None for row in rows.values()):
        raise DataError(f"{reference}: has no labels (CLUENER's test labels are hidden: score dev.json)")
    found, _ = _match(read_predictions(predictions), rows, Path(reference))
    texts, gold_spans, gold_strings, pred_spans, pred_strings, gold_strict, pred_strict = [], [], [], [], [], [], []
    for key, row in rows.items():
        spans = ner.tags_to_spans(row["tags"])
        texts.append(row["text"])
        gold_spans.append(spans)
        gold_strings.append(ner.strings_by_type(row["text"], spans))
        gold_strict.append(entity_spans(row["tags"]))
        if key in found:
            where, record = found[key]
            spans, strings, strict = _predicted_entities(task, record, row["text"], where)
        else:
            spans, strings, strict = [], {}, []
        pred_spans.append(spans)
        pred_strings.append(strings)
        pred_strict.append(strict)
    types = ner.CLUENER_TYPES if task == "cluener" else sorted({k for s in gold_spans for k, _, _ in s})
    macro = ner.cluener_macro_f1(gold_strings, pred_strings, types)
    micro = ner.span_micro_f1(gold_spans, pred_spans)
    strict = ner.span_micro_f1(gold_strict, pred_strict)  # seqeval's entity F1: the runs' headline
    return {"entity_f1": _pct(strict["micro_f1"]), "macro_f1": _pct(macro["macro_f1"]), "micro_f1": _pct(micro["micro_f1"]),
            "per_type_f1": {k: _pct(v["f1"]) for k, v in macro["per_type"].items()},
            "total": len(rows), "missing": len(rows) - len(found)}


def squad_golds(reference: Path) -> dict[str, list[str]]:
    """qid -> gold answer texts of a SQuAD-layout file (SQuAD, CMRC 2018, DRCD)."""
    try:
        data = json.loads(Path(reference).read_text(encoding="utf-8-sig"))
    except ValueError as err:
        raise DataError(f"{reference}: invalid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{reference}: not in the SQuAD layout (a top-level 'data' list)")
    golds = {}
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            for q, qa in enumerate(paragraph.get("qas", [])):
                where = f"{reference}: data[{a}].paragraphs[{p}].qas[{q}]"
                key = str(_field(qa, "id", where))
                golds[key] = [str(_field(x, "text", where)) for x in qa.get("answers", [])]
    return golds


def score_qa(task: str, reference: Path, predictions: Path) -> dict:
    golds = squad_golds(reference)
    found, _ = _match(read_predictions(predictions), golds, Path(reference))
    answers = {}
    for key, (where, record) in found.items():
        value = _field(record, "answer", where) if isinstance(record, dict) else record
        if not isinstance(value, str):
            raise DataError(f"{where}: the answer must be a string")
        answers[key] = value
    result = qa_metrics.evaluate(golds, answers, language=QA_LANGUAGES[task])
    out = {"em": round(result["exact_match"], 3), "f1": round(result["f1"], 3)}
    if "average" in result:
        out["average"] = round(result["average"], 3)
    return out | {"total": len(golds), "missing": len(golds) - len(found)}


def score_glue(task: str, reference: Path, predictions: Path) -> dict:
    """GLUE's metric of `task` (Matthews correlation, F1 and accuracy, Pearson and Spearman, accuracy) for
    predictions keyed by the dev file's row index (`predict`'s numbering): `label`, or `score` for STS-B. A missing
    classification counts as wrong (a label of its own); regression needs every row."""
    spec = glue_task(task)
    gold = glue_gold(task, reference)
    found, _ = _match(read_predictions(predictions), gold, Path(reference))
    regression = spec.task_type == "regression"
    if regression and len(found) < len(gold):
        raise DataError(f"{predictions}: {len(gold) - len(found)} of {len(gold)} rows of {reference} have no score")
    golds, predicted = [], []
    for key, label in gold.items():
        where, record = found.get(key, ("", None))
        if regression:
            golds.append(float(label))
            predicted.append(float(_field(record, "score", where) if isinstance(record, dict) else record))
        else:
            value = (_field(record, "label", where) if isinstance(record, dict) else record) if record is not None else None
            golds.append(label)
            predicted.append("<missing>" if value is None else str(value).strip())
    if spec.metric == "f1_accuracy":  # F1 of the positive class, "1" in MRPC and QQP
        golds, predicted = [g == "1" for g in golds], [p == "1" for p in predicted]
    result = metriclib.compute(spec.metric, golds, predicted)
    return {name: _pct(value) for name, value in result.items()} | {"total": len(gold),
                                                                    "missing": len(gold) - len(found)}


def score_files(task: str, reference: Path, predictions: Path) -> dict:
    """The official metric of `task` for `predictions` against `reference`, as percentages, with `total` and
    `missing` (references without a prediction, counted as wrong)."""
    if task not in SCORE_TASKS:
        raise UsageError(f"--task {task}: unknown; choose from {', '.join(SCORE_TASKS)}")
    if not Path(reference).is_file():
        raise UsageError(f"{reference}: no such file")
    if task in QA_LANGUAGES:
        return score_qa(task, reference, predictions)
    if task.startswith("glue-"):
        return score_glue(task, reference, predictions)
    if ZH_TASKS[task].kind == "ner":
        return score_ner(task, reference, predictions)
    return score_classification(task, reference, predictions)


def format_scores(task: str, result: dict) -> str:
    """One line: the metrics, then total, missing and (CLUE's dropped rows) skipped."""
    head = ", ".join(f"{k} {v:.3f}" for k, v in result.items() if isinstance(v, float))
    skipped = result.get("skipped_dropped", 0)
    tail = f"; {skipped} prediction{'s' if skipped != 1 else ''} for rows labelled '-' skipped" if skipped else ""
    return f"{task}: {head} ({result['total']} references, {result['missing']} without a prediction{tail})"
