"""`--report-to tensorboard,wandb`: views of a run's figures in TensorBoard and Weights & Biases.

Built on Accelerate's tracker classes (`TensorBoardTracker`, `WandBTracker`), started here rather than through
`Accelerator(log_with=...).init_trackers(...)`: fine-tuning builds one Accelerator per seed while its trackers
must span all seeds, `init_trackers` gives every tracker one project name (W&B's project would be the TensorBoard
folder's name), and `accelerator.log` lets one failing tracker stop training and starve the others. Here each
tracker is guarded on its own: the first failure is reported once, that tracker is switched off, training goes
on. `metrics.jsonl` stays the source of truth; trackers only show what is written there.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterable
from pathlib import Path

from electra_cli.core.config import flatten
from electra_cli.core.console import log
from electra_cli.core.errors import UsageError

PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}  # tracker -> the module it needs (= the extra's name)
TENSORBOARD_DIR = "tensorboard"  # RUN/tensorboard/
WANDB_RUN_ID = "wandb-run-id"  # RUN/wandb-run-id: a resumed run continues the same W&B run
DEFAULT_WANDB_PROJECT = "electra-cli"


def parse_report_to(values: Iterable[str] | str | None) -> list[str]:
    """`["tensorboard,wandb"]`, `["tensorboard", "wandb"]` or `"none"` -> the trackers, in order, each once.

    An unknown name or a tracker whose package is missing is a UsageError (before any training starts).
    """
    if isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values or []:
        for name in (part.strip().lower() for part in value.split(",")):
            if name and name not in names:
                names.append(name)
    unknown = [n for n in names if n not in PACKAGES and n != "none"]
    if unknown:
        raise UsageError(f"--report-to {','.join(unknown)}: unknown tracker; choose from tensorboard, wandb, none")
    if "none" in names:
        if len(names) > 1:
            raise UsageError(f"--report-to {','.join(names)}: 'none' cannot be combined with a tracker")
        return []
    missing = [n for n in names if not installed(PACKAGES[n])]
    if missing:
        extras = ",".join(missing)
        raise UsageError(f"--report-to {extras}: the {' and '.join(missing)} package is not installed; "
                         f"pip install 'electra-cli[{extras}]'")
    return names


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


class Trackers:
    """The trackers of one run. `log` and `close` never raise: a tracker that fails is reported once and dropped."""

    def __init__(self, trackers: dict | None = None):
        self.trackers = dict(trackers or {})  # name -> started accelerate GeneralTracker

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log(self, values: dict, step: int) -> None:
        """Log the numbers in `values` at `step`; nested dicts become `a/b` tags, None and text are left out."""
        scalars = flatten_scalars(values)
        if scalars:
            self._each("log", scalars, step=step)

    def close(self) -> None:
        self._each("finish")
        self.trackers = {}

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _each(self, method: str, *args, **kwargs) -> None:
        for name, tracker in list(self.trackers.items()):
            try:
                getattr(tracker, method)(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - a view of the metrics must never stop training
                log.warning("--report-to %s: %s failed (%s: %s); it is off for the rest of this run, metrics.jsonl "
                            "has every figure", name, method, type(err).__name__, err)
                self.trackers.pop(name, None)


def open_trackers(report_to: Iterable[str] | str | None, run_dir: Path, run_name: str, config: dict,
                  resume_step: int | None = None, main_process: bool | None = None,
                  final_dir: Path | None = None) -> Trackers:
    """Start the trackers named in `report_to` for the run in `run_dir`, with `config` as hyperparameters.

    Only the main process logs: `main_process` says whether this is it (None: ask Accelerate's PartialState);
    elsewhere the trackers returned do nothing. `resume_step`: the step the run continues from; TensorBoard then
    hides what an earlier attempt logged after it (purge_step) and W&B continues the run it started (its id is
    kept in RUN/wandb-run-id). A tracker that fails to start is reported and left out; a missing package is a
    UsageError. `final_dir`: the folder `run_dir` is renamed to when done (fine-tuning writes a temporary folder),
    for the messages. Use as `with open_trackers(...) as trackers:` or call `close()`.
    """
    names = parse_report_to(report_to)
    if names and main_process is None:
        from accelerate import PartialState

        main_process = PartialState().is_main_process
    if not names or not main_process:
        return Trackers()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    hparams = hyperparameters(config)
    started = {}
    for name in names:
        try:
            tracker = _START[name](run_dir, run_name, resume_step)
        except Exception as err:  # noqa: BLE001 - a tracker is a view: train without it rather than not at all
            log.warning("--report-to %s: could not start (%s: %s); training without it, metrics.jsonl has every "
                        "figure", name, type(err).__name__, err)
            continue
        started[name] = tracker
    trackers = Trackers(started)
    if "tensorboard" in started:  # final_dir: where the folder ends up when run_dir is a temporary name
        log.info("TensorBoard: tensorboard --logdir %s", Path(final_dir or run_dir) / TENSORBOARD_DIR)
    trackers._each("store_init_configuration", hparams)
    return trackers


def _start_tensorboard(run_dir: Path, run_name: str, resume_step: int | None):
    from accelerate.tracking import TensorBoardTracker

    # purge_step: events an earlier attempt wrote after the checkpoint we resume from are hidden, so every step
    # appears once (tensorboard's reader drops them when it meets the new writer's start marker)
    kwargs = {"purge_step": resume_step + 1} if resume_step else {}
    tracker = TensorBoardTracker(TENSORBOARD_DIR, run_dir, **kwargs)  # writes run_dir/tensorboard/
    tracker.start()
    return tracker


def _start_wandb(run_dir: Path, run_name: str, resume_step: int | None):
    """W&B reads its own environment (WANDB_MODE=offline, WANDB_PROJECT, WANDB_DIR, WANDB_ENTITY, ...)."""
    from accelerate.tracking import WandBTracker

    id_file = run_dir / WANDB_RUN_ID
    kwargs: dict = {"name": run_name}
    if resume_step and id_file.is_file():
        kwargs |= {"id": id_file.read_text().strip(), "resume": "allow"}
    if not os.environ.get("WANDB_DIR"):
        kwargs["dir"] = str(run_dir)  # RUN/wandb/
    tracker = WandBTracker(os.environ.get("WANDB_PROJECT") or DEFAULT_WANDB_PROJECT, **kwargs)
    tracker.start()
    id_file.write_text(tracker.run.id + "\n")
    return tracker


_START = {"tensorboard": _start_tensorboard, "wandb": _start_wandb}


def flatten_scalars(values: dict, prefix: str = "") -> dict:
    """`{"validation": {"loss": 1.0, "note": "x"}, "lr": None}` -> `{"validation/loss": 1.0}` (finite numbers only)."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_scalars(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = value
    return flat


def hyperparameters(config: dict) -> dict:
    """A nested config as flat `group.field` hyperparameters, scalars only (lists joined, None left out)."""
    flat = {}
    for name, value in flatten(config).items():
        if isinstance(value, (list, tuple)):
            flat[name] = ", ".join(map(str, value))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
    return flat
