"""`electra-cli evaluate`: a benchmark suite in one command. Every task x seed is one fine-tuning run in
OUT/TASK/seed-S/, recorded in OUT/TASK/seed-S.json (its settings and metrics) when it ends, so a rerun keeps the
finished runs whose settings match and runs the rest; a task whose settings changed runs again, and the log says
why. A task without files is listed as missing; a task that fails is reported with its error while the suite goes
on. The kept seed's folder (the median seed, as `finetune` keeps) stays; the other seeds' folders are removed once
the task is complete, their metrics kept. The report is report.py's."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from electra_cli.core.atomic import write_json_atomic
from electra_cli.core.console import format_duration, log
from electra_cli.core.errors import ElectraCliError, UsageError
from electra_cli.finetuning.config import describe_seeds
from electra_cli.finetuning.search import default_lr, kept_run
from electra_cli.tasks import registry, report
from electra_cli.tasks.presets import model_hidden_size

SETTING_FLAGS = ("lr", "epochs", "batch_size", "max_seq_len")  # finetune's flags that evaluate applies to every task


@dataclass
class Plan:
    """What one evaluate call does: the tasks found, the settings and seeds, the runs still to do."""

    model: Path
    data_dir: Path
    out: Path
    tasks: list[str]
    missing: list[str]
    seeds: list[int]
    flags: dict  # SETTING_FLAGS -> the value given, or None (the preset's own)
    clue_version: str
    failed: dict[str, str] = field(default_factory=dict)


def run_record(out: Path, task: str, seed: int) -> Path:
    return out / task / f"seed-{seed}.json"


def task_settings(plan: Plan, task: str) -> dict:
    """What a finished run must match to be kept: the model, the flags and, for CLUE's renewed test sets, the
    version."""
    settings = {"model": str(plan.model.resolve()), **plan.flags}
    if registry.submission_name(task, "1.0") != registry.submission_name(task, "1.1"):
        settings["clue_version"] = plan.clue_version
    return settings


def finished_runs(plan: Plan, task: str) -> dict[int, dict]:
    """seed -> metrics of the task's recorded runs; a task whose recorded settings differ is cleared, saying why."""
    settings = task_settings(plan, task)
    records = {}
    for path in sorted((plan.out / task).glob("seed-*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["settings"] != settings:
            changed = [f"{k} {record['settings'].get(k)} -> {settings.get(k)}" for k in sorted(settings | record["settings"])
                       if record["settings"].get(k) != settings.get(k)]
            log.info("%s: settings changed (%s): running it again", task, ", ".join(changed))
            shutil.rmtree(plan.out / task)
            return {}
        records[record["seed"]] = record["metrics"]
    return records


def run_seed(plan: Plan, task: str, seed: int) -> dict:
    """One fine-tuning run of `task` with `seed` into OUT/TASK/seed-S; returns its metrics.json."""
    overrides = [f"{k}={v}" for k, v in plan.flags.items() if v is not None] + [f"seeds=[{seed}]"]
    cfg = registry.task_config(task, None, overrides)
    if plan.flags["lr"] is None and registry.preset(task).kind != "question-answering":
        cfg.lr = default_lr(model_hidden_size(plan.model))  # the paper's rate by size, not finetune's 2-rate search
    metrics = registry.run_task(task, plan.data_dir, cfg, plan.model, plan.out / task / f"seed-{seed}",
                                epochs_set=plan.flags["epochs"] is not None, clue_version=plan.clue_version,
                                overwrite=True)
    write_json_atomic(run_record(plan.out, task, seed), {"seed": seed, "settings": task_settings(plan, task),
                                                          "metrics": metrics})
    return metrics


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, ElectraCliError) else f"{type(err).__name__}: {text}"


def run_plan(plan: Plan) -> dict[str, dict[int, dict]]:
    """Run every pending task x seed (progress: task, seed, ETA); returns task -> seed -> metrics of the tasks
    that completed. A failing task is recorded in plan.failed and the others go on."""
    done = {task: finished_runs(plan, task) for task in plan.tasks}
    pending = [(task, seed) for task in plan.tasks for seed in plan.seeds if seed not in done[task]]
    kept_already = sum(len(runs) for runs in done.values())
    log.info("evaluate: %d task(s) x %s: %d run(s) to do, %d kept from before", len(plan.tasks),
             describe_seeds(plan.seeds), len(pending), kept_already)
    started, finished = time.time(), 0
    for index, (task, seed) in enumerate(pending, 1):
        if task in plan.failed:
            continue
        eta = "" if not finished else f", ETA {format_duration((time.time() - started) / finished * (len(pending) - index + 1))}"
        log.info("evaluate [%d/%d]: %s, seed %d%s", index, len(pending), task, seed, eta)
        try:
            done[task][seed] = run_seed(plan, task, seed)
        except Exception as err:  # noqa: BLE001 - bad rows, out of memory: the task is reported, the suite goes on
            plan.failed[task] = one_line(err)
            log.warning("%s failed: %s; going on with the other tasks", task, plan.failed[task])
        finished += 1
    complete = {}
    for task in plan.tasks:
        if task in plan.failed:
            continue
        runs = {seed: done[task][seed] for seed in plan.seeds}
        keep_kept_folder(plan, task, runs)
        complete[task] = runs
    return complete


def kept_seed(runs: dict[int, dict]) -> int:
    """The median seed of the task's runs by their headline metric, as `finetune` keeps it."""
    seeds = sorted(runs)
    entries = [{"validation": {"score": runs[s]["seeds"][0][runs[s]["metric"]]}} for s in seeds]
    return seeds[kept_run(entries, "score", "median")]


def keep_kept_folder(plan: Plan, task: str, runs: dict[int, dict]) -> None:
    """Remove the fine-tuned folders of the seeds not kept; bring back the kept one's if an earlier call removed it
    (more seeds since can move the median)."""
    kept = kept_seed(runs)
    if not (plan.out / task / f"seed-{kept}" / "config.json").is_file():
        log.info("%s: seed %d is now the kept one and its folder was removed: running it again", task, kept)
        runs[kept] = run_seed(plan, task, kept)
    for folder in (plan.out / task).glob("seed-*"):
        if folder.is_dir() and folder.name != f"seed-{kept}":
            shutil.rmtree(folder)


def evaluate(model: Path, data_dir: Path, out: Path, suite: str | None, tasks: list[str] | None, seeds: list[int],
             flags: dict, clue_version: str = "1.1") -> dict:
    """Fine-tune `model` on every task of the suite (or list) found under `data_dir`, once per seed; write
    OUT/report.json, report.md and, for CLUE's tasks, clue_submission.zip; returns the report."""
    model, data_dir, out = Path(model), Path(data_dir), Path(out)
    names = registry.suite_tasks(suite, tasks)
    registry.check_clue_version(clue_version)
    if not (model / "config.json").is_file():
        raise UsageError(f"{model}: not a model folder (no config.json) (--model)")
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: no such folder (--data-dir)")
    if any(isinstance(v, str) and "," in v for v in flags.values()):
        raise UsageError("evaluate takes one value per setting (a search is finetune's: run it per task)")
    found = [name for name in names if registry.present(name, data_dir)]
    missing = [name for name in names if name not in found]
    if not found:
        raise UsageError(f"{data_dir}: none of the tasks' files are there ({', '.join(names)})")
    for name in missing:
        log.warning("%s: no files under %s: skipped (missing)", name, data_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan(model, data_dir, out, found, missing, seeds, {k: flags.get(k) for k in SETTING_FLAGS}, clue_version)
    complete = run_plan(plan)
    result = report.build(suite, model, complete, {t: kept_seed(r) for t, r in complete.items()}, missing,
                          plan.failed)
    report.write(out, result)
    archive = report.write_clue_zip(out, result)
    if archive:
        log.info("wrote %s: CLUE %s's submission files (%s)", archive, clue_version,
                 ", ".join(report.zip_names(archive)))
    log.info("%s", report.closing_line(out, result))
    if plan.failed:
        raise ElectraCliError(f"{len(plan.failed)} task(s) failed ({', '.join(plan.failed)}); each error is in "
                              f"{out / report.REPORT_JSON}")
    return result
