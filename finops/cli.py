"""The `finops` command line: the user's front door; the flows are the engine behind it."""

from __future__ import annotations

import importlib

import typer

from finops import __version__
from finops.commands.errors import OneLineErrorsGroup
from tasks.settings import SettingsError, load_settings, unknown_variables

#: The root group turns a user's mistake in any command (a wrong option, setting, file or id)
#: into one line on stderr and exit status 2 (1 when the environment is at fault).
app = typer.Typer(
    name="finops",
    cls=OneLineErrorsGroup,
    help="FinOps automation for AWS on Prefect 3: costs, anomalies, idle resources, remediation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Each module registers its commands with ``register(app)``; one module per capability.
COMMAND_MODULES: tuple[str, ...] = (
    "finops.commands.settings",
    "finops.commands.sandbox",
    "finops.commands.costs",
    "finops.commands.anomalies",
    "finops.commands.scan",
    "finops.commands.findings",
    "finops.commands.notify",
    "finops.commands.deploy",
    "finops.commands.demo",
    "finops.commands.commitments",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finops-flows {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """FinOps automation for AWS on Prefect 3."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def _prepare_runtime() -> None:
    """Prefect's API and telemetry for this process, before any command imports Prefect."""
    from finops.runtime import prepare_environment

    try:
        data_dir = load_settings().data_dir
    except SettingsError:
        return  # the command itself reports the wrong setting in one line
    prepare_environment(data_dir)


def run() -> None:
    """Entry point that turns a settings error anywhere into a one-line message and exit 2.

    A ``FINOPS_`` variable that is no setting (a misspelt one) is named on stderr first, one line
    each, with the nearest setting: the settings would otherwise ignore it without a word.
    """
    for line in unknown_variables():
        typer.echo(line, err=True)
    _prepare_runtime()
    try:
        app()
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
