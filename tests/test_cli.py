import re
import subprocess
import sys

import pytest

from electra_cli import __version__
from electra_cli.cli import app
from tests.conftest import run_cli

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "electra_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_top_level_help_lists_every_command():
    result = run_cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize("command", [*COMMANDS, None])
def test_help_reads_like_a_well_made_cli(command):
    """Metavars, not Typer's <type> placeholders; no {braces} in usage; defaults one way; an example up top."""
    output = run_cli(*([command] if command else []), "--help").output
    assert not re.search(r"<(bool|int|float|str|path|list|file|dir)", output), output
    assert "{" not in output and "}" not in output, output
    assert "(default" not in output, output  # defaults show as [default: x], never also in prose
    example = f"Example: electra-cli {command}" if command else "Start with: electra-cli demo"
    assert example in " ".join(output.split()), output
    head = output.split("──")[0]  # the example comes before the panels of options
    assert example.split(":")[0] in head, output


def test_usage_names_arguments_and_flags_take_no_value():
    output = run_cli("vocab", "--help").output
    assert "vocab [OPTIONS] CORPUS..." in output
    line = next(line for line in output.splitlines() if "--overwrite" in line)
    assert line.split("--overwrite")[1].split()[0] == "Replace", line


def test_unknown_option_is_a_usage_error():
    assert run_cli("vocab", "--no-such-flag").exit_code == 2
