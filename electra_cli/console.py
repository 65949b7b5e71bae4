"""The one rich Console (stderr, so stdout stays clean for data), logging and progress bars."""

from __future__ import annotations

import logging

from rich.console import Console
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


def setup_logging(debug: bool = False) -> None:
    """Route our logger through rich; quiet the libraries unless debugging."""
    level = logging.DEBUG if debug else logging.INFO
    if not any(isinstance(h, RichHandler) for h in log.handlers):
        handler = RichHandler(console=console, show_path=debug, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    for noisy in ("transformers", "accelerate", "datasets", "torch"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)
    try:  # save_pretrained's tqdm bars would interleave with ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if not debug:
            hf_logging.set_verbosity_error()  # e.g. the load report of a new classification head
    except ImportError:  # pragma: no cover
        pass


def bytes_progress(description: str) -> Progress:
    """A progress bar over input bytes (the only size we know before reading a corpus)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def count_progress(description: str) -> Progress:
    """A progress bar over a known number of steps."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
