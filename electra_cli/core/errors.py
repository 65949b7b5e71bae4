"""Typed errors: each maps to an exit code and a one-line message, never a traceback."""

from __future__ import annotations


class ElectraCliError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code = 1


class UsageError(ElectraCliError):
    """The command line, a recipe or an output location is wrong (exit 2)."""

    exit_code = 2


class DataError(ElectraCliError):
    """An input file is unreadable, malformed or inconsistent (exit 3)."""

    exit_code = 3


EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM, after saving a checkpoint
