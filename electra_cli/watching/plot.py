"""`electra-cli plot RUN [RUN ...] --out report/`: the curves of pretraining runs, overlaid, and a page to read them.

Everything comes from each run's `metrics.jsonl` (the source of truth; trackers are only views of it) and
`config.toml`, so a run that is still going, or one whose file was cut or damaged, can be plotted: a line that is
not a JSON record is counted and reported, never fatal. Where a run was resumed, the records an earlier attempt
wrote after the checkpoint it resumed from are replaced by the resumed attempt's (as TensorBoard's purge does).
Figures are drawn with matplotlib's Agg canvas (no display needed); the report folder is written whole, atomically.
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from electra_cli.core import config as configlib
from electra_cli.core.atomic import atomic_dir
from electra_cli.core.console import console, format_duration, log
from electra_cli.core.errors import UsageError
from electra_cli.watching.card import FINETUNE_HEADING
from electra_cli.watching.health import health_report

METRICS = "metrics.jsonl"
INDEX = "index.html"
NEARBY_FINETUNE = Path("ft")  # where the README's examples write fine-tuned folders (relative to the working directory)
PLATEAU_LINES = ((1.0, "plateau (always 'original')"), (0.9, "off the plateau below 0.9"))


@dataclass
class Figure:
    """One PNG: a figure of one metric, against step (left) and tokens seen (right)."""

    name: str  # file stem
    title: str
    key: str  # the field in metrics.jsonl (training and validation records alike)
    lines: tuple = ()  # (y, label) reference lines


FIGURES = (
    Figure("loss", "total loss (generator MLM + 50 x discriminator)", "loss"),
    Figure("gen_loss", "generator loss (MLM cross-entropy)", "gen_loss"),
    Figure("disc_loss", "discriminator loss (dashed: its plateau, the entropy of the replaced share)", "disc_loss"),
    Figure("disc_loss_ratio", "discriminator loss / plateau", "disc_loss_ratio", PLATEAU_LINES),
    Figure("disc_auc", "discriminator AUC on replaced tokens (0.5: guessing)", "disc_auc", ((0.5, "guessing"),)),
    Figure("gen_acc", "generator accuracy at masked positions", "gen_acc"),
    Figure("lr", "learning rate", "lr"),
    Figure("grad_norm", "gradient norm (before clipping)", "grad_norm"),
    Figure("tokens_per_s", "throughput (tokens/s)", "tokens_per_s"),
)

FINETUNE_FIGURE = Figure("finetune", "fine-tuning: validation after each epoch, per setting and seed", "")


@dataclass
class RunData:
    """What one run folder holds, as far as it could be read."""

    path: Path
    label: str = ""
    train: list[dict] = field(default_factory=list)  # training records by step, each step once
    validation: list[dict] = field(default_factory=list)  # validation records by step
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers that were not a record
    wall_clock_s: float | None = None  # training time over all attempts (resumes included)
    config: dict = field(default_factory=dict)
    finetune: list[dict] = field(default_factory=list)  # rows: task, metric, score, random_init, seeds, source

    @property
    def last(self) -> dict:
        return self.train[-1] if self.train else {}


def read_metrics(path: Path) -> tuple[list[dict], list[dict], list[int], float | None]:
    """(training records, validation records, bad line numbers, wall-clock seconds) of one metrics.jsonl.

    A record whose step is not after the previous one starts a resumed attempt: the earlier records from that
    step on are dropped. Wall-clock: each attempt's last `elapsed_s`, summed (None when no record has it).
    """
    train: list[dict] = []
    validation: list[dict] = []
    bad: list[int] = []
    attempts: list[float] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                bad.append(number)
                continue
            inner = record.get("validation") if isinstance(record, dict) else None
            if isinstance(inner, dict) and _is_step(inner.get("step")):
                validation = [r for r in validation if r["step"] < inner["step"]] + [inner]
            elif isinstance(record, dict) and _is_step(record.get("step")):
                step = record["step"]
                resumed = bool(train) and step <= train[-1]["step"]
                if resumed:  # a resumed attempt went back to its checkpoint
                    train = [r for r in train if r["step"] < step]
                    validation = [r for r in validation if r["step"] < step]
                train.append(record)
                elapsed = record.get("elapsed_s")
                if isinstance(elapsed, (int, float)):
                    if not attempts or resumed or elapsed < attempts[-1]:
                        attempts.append(elapsed)  # a new process: its clock restarted
                    else:
                        attempts[-1] = elapsed
            else:
                bad.append(number)
    return train, validation, bad, (sum(attempts) if attempts else None)


def _is_step(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_run(path: Path) -> RunData:
    path = Path(path)
    metrics = path / METRICS
    if not metrics.is_file():
        what = "not a folder" if not path.is_dir() else f"no {METRICS} (not a pretrain run folder)"
        raise UsageError(f"{path}: {what}")
    train, validation, bad, wall = read_metrics(metrics)
    run = RunData(path=path, train=train, validation=validation, bad_lines=bad, wall_clock_s=wall)
    config = path / "config.toml"
    if config.is_file():
        try:
            run.config = configlib.read_toml(config)
        except UsageError as err:
            log.warning("%s; the table leaves its recipe out", err)
    run.finetune = card_results(path / "final" / "discriminator" / "README.md")
    for found in found_finetune(path / "finetune"):
        row = finetune_row(found / "metrics.json")
        if row:
            run.finetune.append(row)
    return run


def card_results(card: Path) -> list[dict]:
    """The fine-tuning results a model card records (watching.card.add_finetune_results' table)."""
    if not card.is_file():
        return []
    text = card.read_text(encoding="utf-8", errors="replace")
    if FINETUNE_HEADING not in text:
        return []
    rows = []
    for line in text.split(FINETUNE_HEADING, 1)[1].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("task", "---"):
            rows.append({"task": cells[0], "metric": cells[1], "score": cells[2], "random_init": cells[3],
                         "seeds": cells[4], "source": str(card)})
    return rows


def finetune_row(metrics_json: Path) -> dict | None:
    """One row from a fine-tuned folder's metrics.json (median over seeds; test score when there is one)."""
    try:
        data = json.loads(metrics_json.read_text(encoding="utf-8"))
        metric = data["metric"]
        row = {"task": str(data.get("task", metrics_json.parent.name)), "metric": f"{metric} (median)",
               "score": _num(data["median"]), "random_init": "", "seeds": str(len(data.get("seeds", [])) or ""),
               "source": str(metrics_json.parent), "model": str(data.get("model", "")),
               "curves": validation_curves(data)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning("%s: cannot read fine-tuning results (%s); left out", metrics_json, err)
        return None
    test = data.get("test")
    if isinstance(test, dict) and isinstance(test.get(metric), (int, float)):
        row["score"] += f" (test {test[metric]:.4f})"
    return row


def validation_curves(data: dict) -> list[dict]:
    """Each setting x seed's validation curve in a fine-tuned folder's metrics.json (epoch, headline metric),
    with its setting's label and whether that setting was chosen; [] for files without curves (older versions,
    question answering). A malformed entry raises, and finetune_row leaves the folder out with a warning."""
    labels = {i: s.get("label", f"setting {i + 1}") for i, s in enumerate(data.get("settings") or [])}
    curves = []
    for run in data.get("runs") or []:
        points = [(p["epoch"], p[data["metric"]]) for p in run.get("curve") or []
                  if _finite(p.get("epoch")) and _finite(p.get(data["metric"]))]
        if points:
            setting = run.get("setting", 0)
            curves.append({"setting": labels.get(setting, ""), "seed": run.get("seed"), "points": points,
                           "chosen": setting == data.get("chosen_setting")})
    return curves


def plot_runs(runs: list[Path], out: Path, finetune: list[Path] | None = None, overwrite: bool = False) -> dict:
    """Write `out/index.html` and one PNG per metric, with every run in `runs` overlaid.

    finetune: fine-tuned folders (with metrics.json); each joins the run it was fine-tuned from (its model is
    that run's final/discriminator), or a table of its own. Returns what was written.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        if not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / INDEX).is_file():
            raise UsageError(f"{out}: folder is not empty and holds no report; pass --overwrite to replace it")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401 - checked here, used below
    except ImportError:
        raise UsageError("plot needs matplotlib: pip install 'electra-cli[plot]'") from None
    loaded = [load_run(path) for path in runs]
    for run, label in zip(loaded, run_labels([r.path for r in loaded])):
        run.label = label
    others = attach_finetune(loaded, finetune or [])
    given = {Path(f).resolve() for f in finetune or []}
    attach_finetune(loaded, [f for f in found_finetune(NEARBY_FINETUNE) if f.resolve() not in given], owned_only=True)
    for run in loaded:
        if run.bad_lines:
            shown = ", ".join(map(str, run.bad_lines[:10])) + (", ..." if len(run.bad_lines) > 10 else "")
            log.warning("%s: %d line(s) are not records and were skipped (line %s)", run.path / METRICS,
                        len(run.bad_lines), shown)
    written = []
    with atomic_dir(out) as tmp:
        for spec in FIGURES:
            if draw(spec, loaded, tmp / f"{spec.name}.png"):
                written.append(spec)
        if draw_finetune([row for r in loaded for row in r.finetune] + others, tmp / f"{FINETUNE_FIGURE.name}.png"):
            written.append(FINETUNE_FIGURE)
        (tmp / INDEX).write_text(index_html(loaded, written, others), encoding="utf-8")
    console.print(f"plot: {len(written)} figures of {len(loaded)} run(s) in {out}/; open {out / INDEX}",
                  highlight=False, soft_wrap=True)
    return {"out": str(out), "index": str(out / INDEX), "figures": [f"{s.name}.png" for s in written],
            "runs": [{"label": r.label, "path": str(r.path), "steps": r.last.get("step", 0),
                      "bad_lines": r.bad_lines} for r in loaded]}


def run_labels(paths: list[Path]) -> list[str]:
    """Short unique names: the folder names, or paths from the deepest common folder where names repeat."""
    names = [p.name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    resolved = [p.resolve() for p in paths]
    common = Path(*_common_parts([r.parts for r in resolved]))
    return [str(r.relative_to(common)) if r != common else str(r) for r in resolved]


def _common_parts(parts: list[tuple]) -> tuple:
    common = []
    for column in zip(*parts):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return tuple(common) or ("/",)


def found_finetune(folder: Path) -> list[Path]:
    """The fine-tuned folders (each with a metrics.json) under `folder`, in sorted order."""
    return [p.parent for p in sorted(folder.glob("**/metrics.json"))] if folder.is_dir() else []


def attach_finetune(runs: list[RunData], folders: list[Path], owned_only: bool = False) -> list[dict]:
    """Give each fine-tuned folder's row to the run whose model it started from; return the others (dropped
    with `owned_only`: folders found nearby, not given, that belong to none of the runs)."""
    others = []
    for folder in folders:
        metrics_json = Path(folder) / "metrics.json"
        if not metrics_json.is_file():
            raise UsageError(f"{folder}: no metrics.json (not a folder written by `electra-cli finetune`)")
        row = finetune_row(metrics_json)
        if row is None:
            continue
        owner = next((r for r in runs if row["model"] and _within(Path(row["model"]), r.path)), None)
        if owner or not owned_only:
            (owner.finetune if owner else others).append(row)
    return others


def _within(model: Path, run: Path) -> bool:
    try:
        model.resolve().relative_to(run.resolve())
    except ValueError:
        return False
    return True


def draw(spec: Figure, runs: list[RunData], path: Path) -> bool:
    """One PNG of `spec.key` against step and tokens seen; False (nothing written) when no run has it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter

    series = [(run, *curve(run, spec.key)) for run in runs]
    if not any(points or val for _, points, val in series):
        return False
    fig = MplFigure(figsize=(12, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    by_step, by_tokens = fig.subplots(1, 2, sharey=True)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    handles = []
    for (run, points, val), color in zip(series, colors):
        for axis, x in ((by_step, 0), (by_tokens, 1)):
            if points:
                axis.plot([p[x] for p in points], [p[2] for p in points], color=color, linewidth=1.4)
            if val:
                axis.plot([p[x] for p in val], [p[2] for p in val], color=color, linestyle=":", marker="o",
                          markersize=5, linewidth=0.8)
            if spec.key == "disc_loss":
                plateau = [(p[x], p[3]) for p in points if p[3] is not None]
                axis.plot([p[0] for p in plateau], [p[1] for p in plateau], color=color, linestyle="--",
                          linewidth=1.0, alpha=0.7)
        if points or val:  # a run without this figure (an MLM run has no discriminator) stays out of the legend
            handles.append(Line2D([], [], color=color, linewidth=1.4, label=run.label))
    for y, label in spec.lines:
        for axis in (by_step, by_tokens):
            axis.axhline(y, color="0.35", linestyle="--", linewidth=0.9)
        by_step.annotate(label, xy=(0, y), xycoords=("axes fraction", "data"), xytext=(4, 3),
                         textcoords="offset points", fontsize=8, color="0.3")
    if spec.key == "disc_loss":
        handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.0, label="plateau"))
    if any(val for _, _, val in series):
        handles.append(Line2D([], [], color="0.3", linestyle=":", marker="o", markersize=5, label="validation"))
    by_step.set_xlabel("step")
    by_tokens.set_xlabel("tokens seen")
    by_tokens.xaxis.set_major_formatter(EngFormatter())
    by_step.set_ylabel(spec.key)
    for axis in (by_step, by_tokens):
        axis.grid(True, alpha=0.3)
    if spec.key == "tokens_per_s":
        by_step.yaxis.set_major_formatter(EngFormatter())
    elif spec.key == "lr":
        by_step.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))  # 1.75e-4 reads better than 175 µ
    by_step.legend(handles=handles, fontsize=8, loc="best")
    fig.suptitle(spec.title)
    fig.savefig(path, format="png")
    return True


def draw_finetune(rows: list[dict], path: Path) -> bool:
    """One PNG of fine-tuning's validation curves (headline metric against epoch): a colour per folder and setting,
    a line per seed, the chosen setting solid and the others dashed; False when no folder has curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        for c in row.get("curves", []):
            groups.setdefault((row["task"], c["setting"], row["metric"]), []).append(c)
    if not groups:
        return False
    fig = MplFigure(figsize=(12, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    for i, ((task, setting, metric), curves) in enumerate(groups.items()):
        style = "-" if curves[0]["chosen"] else "--"
        for j, c in enumerate(curves):
            label = f"{Path(task).name}: {setting}{' (chosen)' if c['chosen'] else ''}" if j == 0 else None
            axis.plot(*zip(*c["points"]), color=f"C{i % 10}", linestyle=style, marker="o", markersize=3,
                      linewidth=1.2, alpha=0.85, label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel(", ".join(dict.fromkeys(metric.removesuffix(" (median)") for _, _, metric in groups)))
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    fig.suptitle("fine-tuning: validation after each epoch, a line per seed (dashed: settings not chosen)")
    fig.savefig(path, format="png")
    return True


def curve(run: RunData, key: str) -> tuple[list[tuple], list[tuple]]:
    """(training points, validation points) of `key` as (step, tokens seen, value, plateau); validation points
    get their tokens seen from the training records around them."""
    import numpy as np

    points = [(r["step"], r.get("tokens_seen", math.nan), r[key], r.get("disc_entropy"))
              for r in run.train if _finite(r.get(key))]
    known = [(r["step"], r["tokens_seen"]) for r in run.train if _finite(r.get("tokens_seen"))]
    val = []
    for r in run.validation:
        if _finite(r.get(key)):
            tokens = float(np.interp(r["step"], *zip(*known))) if known else math.nan
            val.append((r["step"], tokens, r[key], r.get("disc_entropy")))
    return points, val


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- the page ----------------------------------------------------------------------------------------------------


def run_row(run: RunData) -> dict[str, str]:
    """The table's cells for one run."""
    cfg, last = run.config, run.last
    model, train, optim = cfg.get("model", {}), cfg.get("train", {}), cfg.get("optim", {})
    recipe = cfg.get("run", {}).get("recipe") or "?"
    if model:
        recipe += (f" ({model.get('objective', '?')}, {model.get('layers', '?')} layers x {model.get('hidden', '?')};"
                   f" lr {optim.get('lr', '?')}, batch {train.get('batch_size', '?')})")
    total = train.get("steps")
    step = last.get("step", 0)
    steps = f"{step:,}" + (f" / {total:,}" if isinstance(total, int) else "")
    finished = isinstance(total, int) and step >= total and (run.path / "final").is_dir()
    if finished:
        status = "finished"
    else:
        age = time.time() - (run.path / METRICS).stat().st_mtime
        status = f"not finished (last record {_duration(age)} ago)"
    tokens = last.get("tokens_seen")
    return {
        "run": run.label,
        "recipe": recipe,
        "steps": steps,
        "tokens": _si(tokens) if _finite(tokens) else "n/a",
        "wall-clock": _duration(run.wall_clock_s) if run.wall_clock_s is not None else "n/a",
        "health": health(run),
        "status": status + (f"; {len(run.bad_lines)} bad line(s) in {METRICS} skipped" if run.bad_lines else ""),
    }


def health(run: RunData) -> str:
    """The discriminator against its plateau at the last validation (else the last training window), judged by
    the same function as the end of `pretrain`."""
    figures = run.validation[-1] if run.validation else run.last
    if not figures:
        return "no records yet"
    where = f"{'validation' if run.validation else 'training'} at step {figures['step']:,}"
    gen = f"generator accuracy {_fmt(figures.get('gen_acc'), '.2f')} ({where})"
    if not (_finite(figures.get("disc_loss")) and _finite(figures.get("disc_entropy"))):
        return f"generator loss {_fmt(figures.get('gen_loss'), '.3f')}, {gen}"
    verdict = ""
    if run.config:
        try:  # the run's own config.toml (written by pretrain from the resolved recipe)
            objective, warmup = run.config["model"]["objective"], int(run.config["optim"]["warmup_steps"])
            verdict = health_report(figures, objective, warmup, figures["step"])["verdict"] + ": "
        except (KeyError, TypeError, ValueError):  # a config from another version: no verdict
            pass
    ratio = figures["disc_loss"] / max(figures["disc_entropy"], 1e-9)
    auc = f", AUC {_fmt(figures['disc_auc'], '.2f')}" if _finite(figures.get("disc_auc")) else ""
    return f"{verdict}ratio {ratio:.2f}{auc}, {gen}"


def _fmt(value, spec: str) -> str:
    return format(value, spec) if _finite(value) else "n/a"


def index_html(runs: list[RunData], figures: list[Figure], others: list[dict]) -> str:
    """A self-contained page: the runs' table, fine-tuning results, and the figures (relative links)."""
    e = html.escape
    rows = [run_row(r) for r in runs]
    head = "".join(f"<th>{e(k)}</th>" for k in rows[0]) if rows else ""
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    finetune = [(r.label, row) for r in runs for row in r.finetune] + [("", row) for row in others]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>electra-cli report: {e(', '.join(r.label for r in runs))}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1250px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
        "vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}"
        ".note{color:#555;font-size:90%}</style></head><body>",
        "<h1>electra-cli report</h1>",
        f'<p class="note">Written {e(time.strftime("%Y-%m-%d %H:%M:%S"))} from each run\'s {METRICS} and '
        "config.toml. Lines: training figures (means over each logging window); dotted with dots: validation. "
        "Health: the discriminator loss against its plateau (the entropy of the replaced share); a ratio at most "
        "0.9 is off the plateau.</p>",
        "<h2>Runs</h2>", f"<table><tr>{head}</tr>{body}</table>",
        "<table><tr><th>run</th><th>folder</th></tr>"
        + "".join(f"<tr><td>{e(r.label)}</td><td>{e(str(r.path))}</td></tr>" for r in runs) + "</table>",
    ]
    if finetune:
        parts += ["<h2>Fine-tuning</h2>", "<table><tr><th>run</th><th>task</th><th>metric</th><th>score</th>"
                  "<th>random initialisation</th><th>seeds</th><th>from</th></tr>"]
        parts += ["<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in (label, row["task"], row["metric"], row["score"],
                                                                   row["random_init"], row["seeds"],
                                                                   row.get("model") or row["source"])) + "</tr>"
                  for label, row in finetune]
        parts.append("</table>")
    parts.append("<h2>Curves</h2>")
    if not figures:
        parts.append("<p>No figures: no run has training records yet.</p>")
    for spec in figures:
        against = "epoch" if spec is FINETUNE_FIGURE else "step and tokens seen"
        parts += [f"<h3>{e(spec.title)}</h3>", f'<img src="{e(spec.name)}.png" alt="{e(spec.title)} against {against}">']
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def _si(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:,.0f}"


def _num(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
