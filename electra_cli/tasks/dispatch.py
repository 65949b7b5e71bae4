"""Which kind of fine-tuning a run is: classification, regression and tagging (finetuning/) or extractive question
answering (qa/), chosen here, above both, so that neither package imports the other."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from electra_cli.core.errors import UsageError
from electra_cli.finetuning.config import FinetuneConfig
from electra_cli.finetuning.train import ValidationHook
from electra_cli.finetuning.train import finetune as finetune_rows
from electra_cli.finetuning.train import looks_like_tags
from electra_cli.pretraining.export import exported_discriminator
from electra_cli.qa.data import looks_like_qa
from electra_cli.qa.train import finetune_qa


def finetune(
    cfg: FinetuneConfig,
    model_dir: Path,
    train_file: Path,
    validation_file: Path,
    out: Path,
    test_file: Path | None = None,
    header: bool = True,
    overwrite: bool = False,
    task_name: str = "",
    on_validation: ValidationHook | None = None,
    report_to: Iterable[str] | str | None = None,
) -> dict:
    """Fine-tune `model_dir` on labelled files and keep the best model in `out`; returns the run's metrics.

    Question answering when `cfg.task_type` says so, or when it was left at "classification" and the training file
    is SQuAD-layout JSON or HF squad rows; tagging when it was left so and the rows hold token and tag lists
    (`tokens`, `tags`) and no text column; otherwise classification, regression or token tagging as `cfg` says.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        final = exported_discriminator(model_dir)
        hint = f"; it is a pretrain run folder: use --model {final}" if final else ""
        raise UsageError(f"{model_dir}: not a model folder (no config.json){hint}")
    if is_question_answering(cfg, train_file):
        cfg.task_type = "question-answering"
        return finetune_qa(cfg, model_dir, train_file, validation_file, out, test_file, overwrite, task_name,
                           report_to=report_to)
    if cfg.task_type == "classification" and looks_like_tags(train_file, cfg):
        cfg.task_type = "token-classification"
    return finetune_rows(cfg, model_dir, train_file, validation_file, out, test_file=test_file, header=header,
                         overwrite=overwrite, task_name=task_name, on_validation=on_validation, report_to=report_to)


def is_question_answering(cfg: FinetuneConfig, train_file: Path | None) -> bool:
    """QA when asked, or when the task type was left at its default and the training file is SQuAD-layout JSON
    or HF squad rows (question, context, answers)."""
    return cfg.task_type == "question-answering" or (cfg.task_type == "classification" and looks_like_qa(train_file, cfg))
