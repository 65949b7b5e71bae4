"""The SQuAD-layout presets (SQuAD 1.1, SQuAD 2.0, CMRC 2018): their files in a folder as distributed, and whether
questions may have no answer; `finetune --task squad-v2 --data-dir DIR`. DRCD, also in the layout, is a Chinese
preset (presets.py)."""

from __future__ import annotations

from pathlib import Path

from electra_cli.core.errors import UsageError

# --task presets: the folder's standard file names (train, dev) and whether questions may have no answer.
QA_TASKS = {
    "squad-v1": ("train-v1.1.json", "dev-v1.1.json", False),
    "squad-v2": ("train-v2.0.json", "dev-v2.0.json", True),
    "cmrc2018": ("cmrc2018_train.json", "cmrc2018_dev.json", False),
}
# where under --data-dir the files may lie: the folder itself, or the task's folder in a folder of benchmarks
QA_FOLDERS = {"squad-v1": ("", "squad", "SQuAD"), "squad-v2": ("", "squad", "SQuAD"),
              "cmrc2018": ("", "cmrc2018", "cmrc2018_public", "CMRC2018")}


def qa_folder(task: str, data_dir: Path) -> Path:
    """The folder under `data_dir` that holds the preset's training file (`data_dir` itself when none does)."""
    for name in QA_FOLDERS[task]:
        if (Path(data_dir) / name / QA_TASKS[task][0]).is_file():
            return Path(data_dir) / name
    return Path(data_dir)


# CLUE's copies (cmrc2018_public.zip; `cmrc/` from CLUE's download script) and HFL's fine-tuning layout
# (finetuning_data/cmrc2018/) name the files train.json and dev.json
CLUE_COPIES = {"cmrc2018": ("", "cmrc2018_public", "cmrc", "cmrc2018")}


def qa_files(task: str, data_dir: Path) -> tuple[Path, Path]:
    """The preset's train and dev files under `data_dir`: its own file names in one of its folders, else CLUE's or
    HFL's copy (train.json, dev.json); the own names, missing, when neither is there."""
    train_name, dev_name, _ = QA_TASKS[task]
    folder = qa_folder(task, data_dir)
    train, dev = folder / train_name, folder / dev_name
    if not train.is_file():
        copies = [Path(data_dir) / name for name in CLUE_COPIES.get(task, ())]
        copy = next((f for f in copies if (f / "train.json").is_file() and (f / "dev.json").is_file()), None)
        if copy is not None:
            return copy / "train.json", copy / "dev.json"
    return train, dev


def qa_setup(task: str, data_dir: Path, cfg) -> tuple[Path, Path]:
    """Train/dev paths of a QA preset in `data_dir`; sets the task type and (unless set) the no-answer mode."""
    train_name, dev_name, null_answers = QA_TASKS[task]
    train, dev = qa_files(task, data_dir)
    for path in (train, dev):
        if not path.is_file():
            raise UsageError(f"{path}: not found (--task {task} reads {train_name} and {dev_name} from --data-dir)")
    cfg.task_type = "question-answering"
    if cfg.null_answers is None:
        cfg.null_answers = null_answers
    if task == "cmrc2018" and cfg.language == "auto":
        cfg.language = "zh"
    return train, dev
