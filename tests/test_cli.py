"""The CLI front door: --version, and --help on every command and sub-command."""

from __future__ import annotations

import typer
from typer.main import get_command
from typer.testing import CliRunner

from finops import __version__
from finops.cli import app

runner = CliRunner()


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    commands = getattr(command, "commands", None)
    if commands:
        for name, sub in commands.items():
            paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"finops-flows {__version__}"


def test_every_command_has_help() -> None:
    root = get_command(app)
    paths = _command_paths(root)
    assert ("settings",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_settings_lists_every_knob() -> None:
    result = runner.invoke(app, ["settings"])
    assert result.exit_code == 0
    assert "FINOPS_BUDGET__DAILY_USD" in result.output
    assert isinstance(app, typer.Typer)
