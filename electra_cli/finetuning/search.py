"""The fine-tuning search: settings from list-valued fields, the choice of a setting, and the table of results.

A list in lr, layer_decay, weight_decay, epochs, warmup_ratio or batch_size (config.SEARCHABLE) is a search:
every combination is one setting, each setting is trained once per seed, and the setting whose validation median
is highest wins (ties: the one listed first). lr = 0 (the default when nothing says otherwise) is the built-in
search over `auto_lrs`: the paper's rate for the model's size and the next one up, since small or briefly
pretrained models often need the larger one (bench/finetune.md).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from electra_cli.finetuning import collapse


@dataclass
class Setting:
    """One point of the search: a config whose searchable fields are single numbers, and its resolved lr and
    layer decay."""

    index: int
    cfg: object  # a FinetuneConfig
    lr: float
    decay: float
    searched: dict  # the values of the fields that vary across settings, e.g. {"lr": 0.001}

    def values(self) -> dict:
        """Every searchable field's value in this setting (for metrics.json and trackers)."""
        return {"lr": self.lr, "layer_decay": self.decay, "weight_decay": self.cfg.weight_decay,
                "epochs": self.cfg.epochs, "warmup_ratio": self.cfg.warmup_ratio, "batch_size": self.cfg.batch_size}

    def tag(self) -> str:
        """The searched fields as a tracker name, e.g. "lr=1e-3,epochs=3"; "" for a single setting."""
        return tag(self.searched)

    def label(self) -> str:
        """e.g. "lr 1e-03, epochs 3" (the searched fields only), or "lr 3e-04" for a single setting."""
        shown = self.searched or {"lr": self.lr}
        return ", ".join(f"{name} {number(value)}" for name, value in shown.items())


def tag(values: dict) -> str:
    return ",".join(f"{name}={number(value)}" for name, value in values.items())


def summary_fields(settings: list[Setting], summaries: list[dict], runs: list[dict], chosen: int) -> dict:
    """What metrics.json says of a search: every setting with its median, every run (setting x seed) with its
    validation figures, and the chosen setting's index."""
    return {"chosen_setting": chosen,
            "settings": [s.values() | {"label": s.label()} | summaries[s.index] for s in settings],
            "runs": [{k: v for k, v in r.items() if k != "validation"} | r["validation"] for r in runs]}


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def number(value) -> str:
    if isinstance(value, float) and value and (value < 0.01 or value >= 1000):
        return f"{value:.0e}".replace("e-0", "e-")
    return f"{value:g}"


def default_lr(hidden: int) -> float:
    """The paper's fine-tuning rate by model size: 3e-4 small, 1e-4 base, 5e-5 large."""
    return 3e-4 if hidden <= 256 else 1e-4 if hidden <= 768 else 5e-5


def auto_lrs(hidden: int) -> list[float]:
    """The built-in search's rates: the paper's rate for this size and the next one up (x 3.3 or x 2)."""
    paper = default_lr(hidden)
    return [paper, {3e-4: 1e-3, 1e-4: 3e-4, 5e-5: 1e-4}[paper]]


def expand(cfg, hidden: int, layers: int, searchable: tuple[str, ...]) -> list[Setting]:
    """Every combination of the searchable fields' values, in the order given (lr varies slowest)."""
    grid = {name: _values(getattr(cfg, name)) for name in searchable}
    if grid["lr"] == [0.0]:
        grid["lr"] = auto_lrs(hidden)
    decay_rule = 0.9 if layers >= 24 else 0.8
    varying = [name for name, options in grid.items() if len(options) > 1]
    settings = []
    for index, combo in enumerate(itertools.product(*grid.values())):
        chosen = dict(zip(grid, combo))
        concrete = dataclasses.replace(cfg, **chosen)
        decay = chosen["layer_decay"] or decay_rule
        settings.append(Setting(index, concrete, chosen["lr"], decay, {name: chosen[name] for name in varying}))
    return settings


def _values(value) -> list:
    return list(dict.fromkeys(value)) if isinstance(value, (list, tuple)) else [value]


def search_overrides(overrides: list[str], searchable: tuple[str, ...]) -> list[str]:
    """`--set lr=1e-4,3e-4` -> `lr=[1e-4,3e-4]` for the searchable fields (a TOML list, what the config reads);
    other fields' values are left as they are (`seeds` is a list of seeds, never a search)."""
    rewritten = []
    for pair in overrides:
        key, sep, raw = pair.partition("=")
        if sep and key.strip() in searchable and "," in raw and not raw.strip().startswith("["):
            pair = f"{key.strip()}=[{raw.strip()}]"
        rewritten.append(pair)
    return rewritten


def rank(score: float) -> float:
    """A score for comparing settings and seeds: NaN (e.g. Pearson of constant predictions) ranks lowest."""
    return -math.inf if score is None or math.isnan(score) else score


def aggregate(runs: list[dict], key: str) -> dict:
    scores = [r["validation"][key] for r in runs]
    return {"median": statistics.median(scores), "mean": statistics.fmean(scores)}


def keep_if_best(store: Path, summaries: list[dict], index: int, best: int | None) -> int:
    """After setting `index` has run (its models in store/setting-<index>/): keep them if its median beats the best
    so far, whose models go, else drop them, so that at most two settings' models are on disk; the best index."""
    if best is None or rank(summaries[index]["median"]) > rank(summaries[best]["median"]):
        if best is not None:
            shutil.rmtree(store / f"setting-{best}")
        return index
    shutil.rmtree(store / f"setting-{index}")
    return best


def move_kept(store: Path, folder: Path, best: int, seed: int) -> None:
    """Move the kept run's files (store/setting-<best>/seed-<seed>/) into `folder` and remove the store."""
    for item in (store / f"setting-{best}" / f"seed-{seed}").iterdir():
        shutil.move(str(item), folder / item.name)
    shutil.rmtree(store)


def kept_run(runs: list[dict], key: str, keep: str) -> int:
    """Index of the seed to keep: the median one (the lower middle for an even count) or the best."""
    ordered = sorted(range(len(runs)), key=lambda i: rank(runs[i]["validation"][key]))
    return ordered[-1] if keep == "best" else ordered[(len(ordered) - 1) // 2]


def results_table(settings: list[Setting], runs: list[dict], summaries: list[dict], chosen: int, key: str,
                  select: str) -> Table:
    """Every setting x seed: the validation metrics, where the kept state was taken, the collapse check; a
    median row per setting; the chosen setting marked."""
    metric_names = list(runs[0]["validation"])
    table = Table(title=f"fine-tuning: {len(settings)} setting(s) x {len(runs) // len(settings)} seed(s), "
                  f"validation {key}; chosen: setting {chosen + 1}")
    table.add_column("setting")
    table.add_column("seed", justify="right")
    for name in metric_names:
        table.add_column(name.replace("_", "-"), justify="right")
    table.add_column("best epoch" if select == "best-epoch" else "epochs", justify="right")
    table.add_column("collapse")
    table.add_column("time", justify="right")
    for setting in settings:
        mark = "* " if setting.index == chosen else "  "
        own = [r for r in runs if r["setting"] == setting.index]
        for i, run in enumerate(own):
            table.add_row(f"{mark}{setting.index + 1}: {setting.label()}" if i == 0 else "", str(run["seed"]),
                          *(f"{run['validation'][m]:.4f}" for m in metric_names), f"{run['epoch']:g}",
                          collapse.describe(run["collapse"]), duration(run["seconds"]))
        summary = summaries[setting.index]
        table.add_row("", "median", *(f"{statistics.median(r['validation'][m] for r in own):.4f}"
                                      for m in metric_names), "", f"{summary['collapsed']} collapsed" if summary[
                          "collapsed"] else "", "", end_section=True, style="bold" if setting.index == chosen else None)
    return table


def describe_search(cfg, settings: list) -> str:
    """e.g. "lr 3e-4, layer decay 0.8, 3 epochs" or "search: lr 3e-4, 1e-3 (built in), ... = 2 settings"."""
    first = settings[0]
    parts = []
    for name, label in (("lr", "lr"), ("layer_decay", "layer decay"), ("epochs", "epochs"),
                        ("batch_size", "batch"), ("warmup_ratio", "warmup"), ("weight_decay", "weight decay")):
        options = list(dict.fromkeys(s.values()[name] for s in settings))
        if len(options) > 1 or name in ("lr", "layer_decay", "epochs"):
            text = f"{label} {', '.join(number(v) for v in options)}"
            parts.append(text + (" (built in: lr=0)" if name == "lr" and not cfg.lr else ""))
    described = ", ".join(parts)
    if len(settings) == 1:
        return described
    return f"search over {described} = {len(settings)} settings (first: {first.label()})"
