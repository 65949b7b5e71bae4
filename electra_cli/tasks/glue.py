"""GLUE's presets: each task read from its folder in GLUE's standard TSV layout (CoLA/, SST-2/, ...), with its
columns, its official metric and the paper's epochs; `finetune --task glue-NAME --data-dir DIR`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from electra_cli.core.errors import DataError, UsageError
from electra_cli.finetuning.config import FinetuneConfig, TaskType
from electra_cli.text.tables import read_records, require_field

# GLUE's standard TSV layout: folder, dev file, text columns, label column, metric, epochs, header row, and
# whether the two sentences' order carries no meaning (the reference then trains on both orders: double_unordered).
@dataclass(frozen=True)
class GlueTask:
    folder: str
    text: str
    pair: str
    label: str
    metric: str
    task_type: TaskType = "classification"
    epochs: float = 3.0
    dev: str = "dev.tsv"
    header: bool = True
    unordered: bool = False


GLUE_TASKS = {
    "cola": GlueTask("CoLA", "3", "", "1", "mcc", header=False),
    "sst2": GlueTask("SST-2", "sentence", "", "label", "accuracy"),
    "mrpc": GlueTask("MRPC", "#1 String", "#2 String", "Quality", "f1_accuracy", unordered=True),
    "qqp": GlueTask("QQP", "question1", "question2", "is_duplicate", "f1_accuracy"),
    "stsb": GlueTask("STS-B", "sentence1", "sentence2", "score", "pearson_spearman", "regression", epochs=10,
                     unordered=True),
    "mnli": GlueTask("MNLI", "sentence1", "sentence2", "gold_label", "accuracy", dev="dev_matched.tsv"),
    "qnli": GlueTask("QNLI", "question", "sentence", "label", "accuracy"),
    "rte": GlueTask("RTE", "sentence1", "sentence2", "label", "accuracy", epochs=10),
}


def glue_task(task: str) -> GlueTask:
    name = task.removeprefix("glue-")
    if name not in GLUE_TASKS:
        raise UsageError(f"--task {task}: unknown; choose from {', '.join('glue-' + t for t in GLUE_TASKS)}")
    return GLUE_TASKS[name]


def glue_files(task: str, data_dir: Path) -> tuple[Path, Path]:
    """The train and dev files of `glue-<task>` under `data_dir` (in its GLUE folder, or `data_dir` itself)."""
    spec = glue_task(task)
    folder = Path(data_dir) / spec.folder
    if not folder.is_dir():
        folder = Path(data_dir)  # the task folder itself was given
    return folder / "train.tsv", folder / spec.dev


def glue_setup(task: str, data_dir: Path, cfg: FinetuneConfig, epochs_set: bool) -> tuple[Path, Path, bool]:
    """Train/dev paths and whether they have a header row, for `glue-<task>` in a local GLUE folder; sets the
    task's columns, metric and epochs on `cfg`."""
    spec = glue_task(task)
    train, dev = glue_files(task, data_dir)
    for path in (train, dev):
        if not path.is_file():
            raise UsageError(f"{path}: not found (expected GLUE's {spec.folder}/ layout under --data-dir)")
    cfg.task_type, cfg.text_field, cfg.text_pair_field, cfg.label_field = spec.task_type, spec.text, spec.pair, spec.label
    cfg.metric = cfg.metric or spec.metric
    if not epochs_set:
        cfg.epochs = spec.epochs
    if cfg.double_unordered is None:
        cfg.double_unordered = spec.unordered
    return train, dev, spec.header


def glue_gold(task: str, reference: Path) -> dict[str, str]:
    """Row id (its index from 0, as `predict` numbers rows) -> gold label of a GLUE dev file as distributed."""
    spec = glue_task(task)
    gold = {}
    for index, (location, record) in enumerate(read_records(Path(reference), header=spec.header)):
        gold[str(index)] = str(require_field(record, spec.label, location)).strip()
    if not gold:
        raise DataError(f"{reference}: no rows")
    return gold
