"""Every task preset by name and the suites `evaluate` runs: the one door `finetune --task`, `score` and `evaluate`
go through. Each preset is described once, in its family's module: GLUE's in glue.py, the SQuAD layout's in
squad.py, the Chinese benchmarks' in presets.py (files and readers, labels, metric, defaults, submission name);
here they get one name space, their headline metric and their suites."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from electra_cli.core.errors import UsageError
from electra_cli.finetuning import metrics as metriclib
from electra_cli.finetuning.config import FinetuneConfig, load_finetune_config
from electra_cli.qa.train import QA_DEFAULTS, qa_defaults_apply
from electra_cli.tasks.dispatch import finetune as run_finetune
from electra_cli.tasks.glue import GLUE_TASKS, glue_files, glue_setup
from electra_cli.tasks.presets import ZH_QA_TASKS, ZH_TASKS, check_clue_version, clue_test, preset_defaults, split_file
from electra_cli.tasks.run import run_zh_preset
from electra_cli.tasks.squad import QA_TASKS, qa_files, qa_setup


@dataclass(frozen=True)
class Preset:
    name: str
    family: str  # "glue", "squad" or "zh": the module that reads its files
    kind: str  # classification, regression, ner or question-answering
    metric: str  # the headline of `score` and of the report


def _presets() -> dict[str, Preset]:
    presets = {f"glue-{name}": Preset(f"glue-{name}", "glue", spec.task_type, metriclib.headline(spec.metric))
               for name, spec in GLUE_TASKS.items()}
    presets |= {name: Preset(name, "squad", "question-answering", "f1") for name in QA_TASKS}
    for name, spec in ZH_TASKS.items():
        metric = {"question-answering": "f1", "ner": "entity_f1"}.get(spec.kind, "accuracy")  # NER: seqeval's F1
        presets[name] = Preset(name, "zh", spec.kind, metric)
    return presets


PRESETS = _presets()
CLUE_TASKS = ("afqmc", "tnews", "iflytek", "cmnli", "ocnli", "cluewsc2020", "csl")  # CLUE's classification list
SUITES = {
    "clue": CLUE_TASKS + ("cmrc2018", "cluener"),  # CLUE's tasks that have a preset (not CHID and C3)
    "hfl": ("cmrc2018", "drcd", "xnli-zh", "chnsenticorp", "lcqmc", "bq"),  # ymcui/Chinese-ELECTRA's baselines
    "chinese-ner": ("cluener", "msra", "peoples-daily"),
    "glue": tuple(f"glue-{name}" for name in GLUE_TASKS),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UsageError(f"--task {name}: unknown; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def suite_tasks(suite: str | None, tasks: Iterable[str] | None) -> list[str]:
    """The tasks of `--suite NAME` or of `--tasks a,b` (exactly one of them), each a known preset."""
    if bool(suite) == bool(tasks):
        raise UsageError("give --suite NAME or --tasks a,b,... (one of them)")
    if suite and suite not in SUITES:
        raise UsageError(f"--suite {suite}: unknown; choose from {', '.join(SUITES)}")
    names = list(SUITES[suite]) if suite else [t.strip() for t in tasks if t.strip()]
    for name in names:
        preset(name)
    return list(dict.fromkeys(names))


def present(name: str, data_dir: Path) -> bool:
    """Whether preset `name`'s training and dev files are under `data_dir` (MSRA has no dev file: train is enough)."""
    spec = preset(name)
    if spec.family == "glue":
        return all(path.is_file() for path in glue_files(name, data_dir))
    if spec.family == "squad":
        return all(path.is_file() for path in qa_files(name, data_dir))
    splits = [s for s in ("train", "dev") if s in ZH_TASKS[name].files]
    return all(split_file(name, data_dir, split, required=False) is not None for split in splits)


def submission_name(name: str, clue_version: str) -> str:
    """CLUE's submission file of preset `name` for `clue_version` ("" for a task without one)."""
    return clue_test(name, clue_version)[1] if name in ZH_TASKS else ""


def task_config(task: str | None, recipe: str | None, overrides: list[str], task_type: str | None = None,
                train: Path | None = None) -> FinetuneConfig:
    """The run's settings: defaults < the preset's reference settings without a recipe (HFL's for the Chinese
    presets and CMRC 2018; QA's defaults for SQuAD or QA data) < recipe < flags."""
    if task and preset(task).kind == "question-answering":
        task_type = "question-answering"
    if task in (*ZH_TASKS, *ZH_QA_TASKS):
        base = [] if recipe else preset_defaults(task)
    else:
        base = [f"{k}={v}" for k, v in QA_DEFAULTS.items()] if qa_defaults_apply(
            task_type, None if task else train, recipe) else []
    return load_finetune_config(recipe, base + overrides)


def run_task(task: str, data_dir: Path | None, cfg: FinetuneConfig, model: Path, out: Path, *, epochs_set: bool,
             clue_version: str = "1.1", overwrite: bool = False, report_to=None, test_file: Path | None = None) -> dict:
    """Fine-tune `model` on preset `task` read from `data_dir`; returns the run's metrics (as metrics.json).
    `test_file`: a labelled test file for a GLUE or SQuAD preset (a Chinese preset reads its own test set)."""
    spec = preset(task)
    if data_dir is None:
        raise UsageError(f"--task {task} needs --data-dir (the folder with its files as distributed)")
    check_clue_version(clue_version)
    if spec.family == "zh" and test_file is not None:
        raise UsageError(f"--test: --task {task} reads its test set from --data-dir (as distributed); --test is for "
                         "the GLUE and SQuAD presets and your own files")
    if spec.family == "zh":
        return run_zh_preset(task, data_dir, cfg, model, out, run_finetune, epochs_set=epochs_set,
                             clue_version=clue_version, overwrite=overwrite, report_to=report_to)
    header = True
    if spec.family == "squad":
        train, validation = qa_setup(task, data_dir, cfg)
    else:
        train, validation, header = glue_setup(task, data_dir, cfg, epochs_set=epochs_set)
    return run_finetune(cfg, model, train, validation, out, test_file=test_file, header=header, overwrite=overwrite,
                        task_name=task, report_to=report_to)
