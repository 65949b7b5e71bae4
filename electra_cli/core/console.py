"""The one rich Console (stderr, so stdout stays clean for data), logging and progress bars.

Without a terminal (a cluster job, a pipe) log records are plain one-line messages and progress bars become a
plain log line every PROGRESS_SECONDS (env ELECTRA_CLI_PROGRESS_SECONDS), so a job log shows that work goes on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.filesize import decimal
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

console = Console(stderr=True)
log = logging.getLogger("electra_cli")
PROGRESS_SECONDS = 10.0  # without a terminal, one progress line this often


class PlainHandler(logging.Handler):
    """One unwrapped line per record, through the console (so it follows sys.stderr even when it is swapped)."""

    last_emit = float("-inf")  # monotonic time of the last line: progress lines are only a heartbeat between lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            PlainHandler.last_emit = time.monotonic()
            console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(debug: bool = False) -> None:
    """Route our logger through rich (plain lines without a terminal); quiet the libraries unless debugging."""
    level = logging.DEBUG if debug else logging.INFO
    if not any(isinstance(h, (RichHandler, PlainHandler)) for h in log.handlers):
        if console.is_terminal:
            handler = RichHandler(console=console, show_path=debug, rich_tracebacks=debug, markup=False)
            handler.setFormatter(logging.Formatter("%(message)s"))
        else:
            handler = PlainHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    for noisy in ("transformers", "accelerate", "datasets", "torch"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)
    if "transformers" not in sys.modules:  # importing it takes ~0.4 s that vocab and shard never need: transformers
        # reads these when a command imports it (its bars would interleave with ours; its load report, e.g. of a
        # new classification head, is noise)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if not debug:
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not debug:
        hf_logging.set_verbosity_error()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' load report (a table of newly initialised head weights, expected when fine-tuning) and
    its progress bars out of the output unless our logger is at DEBUG; for Python callers that never ran
    setup_logging (notebooks, bench scripts), restored on exit."""
    from transformers.utils import logging as hf_logging

    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class LoggingProgress(Progress):
    """A rich Progress that, when disabled (no terminal), logs a plain line per task when nothing was logged for
    `every` seconds (so a stage that logs its own lines, like pretrain, is not doubled): description,
    completed/total, rate and status."""

    def __init__(self, *columns, name: str, in_bytes: bool, every: float | None = None, **kwargs):
        super().__init__(*columns, **kwargs)
        self.name, self.in_bytes = name, in_bytes
        self.every = progress_seconds() if every is None else every
        self._last_line: dict = {}

    def add_task(self, description: str, *args, **kwargs):
        task_id = super().add_task(description, *args, **kwargs)
        self._last_line[task_id] = time.monotonic()
        return task_id

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._maybe_log(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_log(task_id)

    def _maybe_log(self, task_id) -> None:
        if not self.disable or self.every < 0:  # drawn as a bar, or lines turned off
            return
        now = time.monotonic()
        if now - max(self._last_line.get(task_id, now), PlainHandler.last_emit) < self.every:
            return
        self._last_line[task_id] = now
        log.info("%s", self.describe(task_id))

    def describe(self, task_id) -> str:
        """e.g. "shard: tokenizing + packing 12.6 MB / 100.0 MB (13%), 4.2 MB/s, 900 docs/s" """
        task = self._tasks[task_id]
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        if self.in_bytes:
            done = decimal(int(task.completed)) + (f" / {decimal(int(task.total))}" if task.total else "")
            speed = f"{decimal(int(rate))}/s"
        else:
            done = f"{task.completed:,.0f}" + (f"/{task.total:,.0f}" if task.total else "")
            speed = f"{rate:.2f}/s" if rate < 10 else f"{rate:,.0f}/s"
        share = f" ({task.completed / task.total:.0%})" if task.total else ""
        status = task.fields.get("status")
        what = self.name if task.description == self.name else f"{self.name}: {task.description}"
        return f"{what} {done}{share}, {speed}" + (f", {status}" if status else "")


def progress_seconds() -> float:
    """Seconds between plain progress lines: ELECTRA_CLI_PROGRESS_SECONDS, else PROGRESS_SECONDS; 0 logs every
    update, a negative value none."""
    value = os.environ.get("ELECTRA_CLI_PROGRESS_SECONDS", "")
    try:
        return float(value) if value else PROGRESS_SECONDS
    except ValueError:
        return PROGRESS_SECONDS


def bytes_progress(description: str, every: float | None = None) -> Progress:
    """A progress bar over input bytes (the only size we know before reading a corpus)."""
    return LoggingProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
        name=description,
        in_bytes=True,
        every=every,
    )


def count_progress(description: str, every: float | None = None) -> Progress:
    """A progress bar over a known number of steps (`every`: seconds between plain lines without a terminal;
    negative for none, e.g. where the caller logs its own lines)."""
    return LoggingProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
        name=description,
        in_bytes=False,
        every=every,
    )


def format_duration(seconds: float) -> str:
    """e.g. "3m 07s", "2h 05m", "1d 4h"; "?" when not finite (an ETA before the first measurement)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"
