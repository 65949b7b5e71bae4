"""`evaluate`'s report: per task the headline metric over seeds (mean, sample standard deviation, median, maximum;
percentages, as papers print them), the kept seed's test scores or submission, the suite's average (the mean of
the tasks' means), missing and failed tasks; report.json, report.md, CLUE's submission zip, and `--compare`."""

from __future__ import annotations

import json
import math
import os
import statistics
import zipfile
from pathlib import Path

from electra_cli.core.atomic import write_json_atomic, write_text_atomic
from electra_cli.core.errors import UsageError
from electra_cli.tasks.registry import SUITES

REPORT_JSON, REPORT_MD, CLUE_ZIP = "report.json", "report.md", "clue_submission.zip"


def percentages(metrics: dict, task_type: str) -> dict:
    """The float metrics of a run as percentages: fine-tuning's are fractions, QA's (the official scripts') are
    percentages already; counts are left out."""
    scale = 1.0 if task_type == "question-answering" else 100.0
    return {k: round(v * scale, 4) for k, v in metrics.items() if isinstance(v, float) and not math.isnan(v)}


def task_entry(task: str, runs: dict[int, dict], kept_seed: int) -> dict:
    """One task's report entry from its runs (seed -> metrics.json of a one-seed run) and the seed kept."""
    first = next(iter(runs.values()))
    metric, task_type = first["metric"], first["task_type"]
    seeds = [{"seed": seed, **percentages(runs[seed]["seeds"][0], task_type)} for seed in sorted(runs)]
    values = [s.get(metric, float("nan")) for s in seeds]
    kept = runs[kept_seed]
    test = percentages(kept["test"], task_type) if isinstance(kept.get("test"), dict) else None
    if kept.get("submission"):
        test = {"submission": kept["submission"], "clue_version": kept.get("clue_version")}
    return {"metric": metric, "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "median": round(statistics.median(values), 4), "max": round(max(values), 4),
            "seeds": seeds, "test": test, "folder": f"{task}/seed-{kept_seed}"}


def build(suite: str | None, model: Path, complete: dict[str, dict[int, dict]], kept: dict[str, int],
          missing: list[str], failed: dict[str, str]) -> dict:
    """The report: per task its entry, the average of the tasks' means, what was missing and what failed."""
    tasks = {task: task_entry(task, runs, kept[task]) for task, runs in complete.items()}
    metrics = {entry["metric"] for entry in tasks.values()}
    average = None
    if tasks:
        average = {"metric": metrics.pop() if len(metrics) == 1 else "mean of the tasks' metrics",
                   "value": round(statistics.fmean(e["mean"] for e in tasks.values()), 4)}
    return {"suite": suite, "model": str(model), "tasks": tasks, "average": average, "missing": missing,
            "failed": failed}


def markdown(result: dict) -> str:
    """The report as papers print it: mean ± std, and HFL's "average (maximum)"."""
    title = f"suite {result['suite']}" if result["suite"] else "tasks " + ", ".join(result["tasks"])
    lines = [f"# {title}: {result['model']}", "",
             "| task | metric | mean ± std | average (maximum) | seeds | test |", "| --- | --- | --- | --- | --- | --- |"]
    for task, e in result["tasks"].items():
        test = e["test"]
        if test and "submission" in test:
            test_text = f"CLUE {test['clue_version']}: {test['submission']}"
        elif test:
            test_text = f"{test.get(e['metric'], float('nan')):.2f}"
        else:
            test_text = "-"
        lines.append(f"| {task} | {e['metric']} | {e['mean']:.2f} ± {e['std']:.2f} | {e['mean']:.2f} ({e['max']:.2f}) "
                     f"| {len(e['seeds'])} | {test_text} |")
    if result["average"]:
        lines.append(f"| **average** | {result['average']['metric']} | {result['average']['value']:.2f} | | | |")
    lines.append("")
    if result["missing"]:
        lines.append("Missing (no files under --data-dir): " + ", ".join(result["missing"]))
    for task, error in result["failed"].items():
        lines.append(f"Failed: {task}: {error}")
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, result: dict) -> None:
    write_json_atomic(Path(out) / REPORT_JSON, result)
    write_text_atomic(Path(out) / REPORT_MD, markdown(result))


def write_clue_zip(out: Path, result: dict) -> Path | None:
    """OUT/clue_submission.zip with every kept folder's CLUE submission file at its root; None when there is none."""
    files = [Path(out) / e["folder"] / e["test"]["submission"] for e in result["tasks"].values()
             if e["test"] and "submission" in e["test"]]
    files = [f for f in files if f.is_file()]
    if not files:
        return None
    path = Path(out) / CLUE_ZIP
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files):
            archive.write(file, file.name)
    os.replace(tmp, path)  # complete or absent, never half-written
    return path


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def closing_line(out: Path, result: dict) -> str:
    average = result["average"]
    head = f"average {average['value']:.2f} ({average['metric']})" if average else "no task finished"
    return (f"wrote {Path(out) / REPORT_MD}: {len(result['tasks'])} task(s), {head}; "
            f"{len(result['missing'])} missing, {len(result['failed'])} failed")


def load(folder: Path) -> dict:
    path = Path(folder) / REPORT_JSON
    if not path.is_file():
        raise UsageError(f"{path}: no such file (--compare takes two evaluate output folders)")
    return json.loads(path.read_text(encoding="utf-8"))


def compare(folder_a: Path, folder_b: Path) -> str:
    """Two reports side by side: per task both means, B - A, and whether the difference exceeds the seeds'
    spread (the standard deviation of a difference of two runs, sqrt(std_a² + std_b²))."""
    a, b = load(folder_a), load(folder_b)
    order = [t for t in SUITES.get(a["suite"] or "", ()) if t in a["tasks"] or t in b["tasks"]]
    order += [t for t in list(a["tasks"]) + list(b["tasks"]) if t not in order]
    lines = [f"A: {folder_a} ({a['model']})", f"B: {folder_b} ({b['model']})", "",
             f"{'task':<16} {'metric':<10} {'A':>14} {'B':>14} {'B - A':>8}  beyond the spread"]
    for task in dict.fromkeys(order):
        ea, eb = a["tasks"].get(task), b["tasks"].get(task)
        if not ea or not eb:
            lines.append(f"{task:<16} {'':<10} {_cell(ea):>14} {_cell(eb):>14} {'':>8}  (not in both)")
            continue
        diff = eb["mean"] - ea["mean"]
        spread = math.hypot(ea["std"], eb["std"])
        verdict = "yes" if abs(diff) > spread else "no"
        lines.append(f"{task:<16} {ea['metric']:<10} {_cell(ea):>14} {_cell(eb):>14} {diff:>+8.2f}  {verdict}")
    if a["average"] and b["average"]:
        diff = b["average"]["value"] - a["average"]["value"]
        lines.append(f"{'average':<16} {'':<10} {a['average']['value']:>14.2f} {b['average']['value']:>14.2f} "
                     f"{diff:>+8.2f}")
    return "\n".join(lines)


def _cell(entry: dict | None) -> str:
    return f"{entry['mean']:.2f} ± {entry['std']:.2f}" if entry else "-"
