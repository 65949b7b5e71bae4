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


def test_unknown_option_is_a_usage_error():
    assert run_cli("vocab", "--no-such-flag").exit_code == 2
