"""The `finops` command line: the user's front door; the flows are the engine behind it."""

from __future__ import annotations

import importlib

import typer

from finops import __version__
from finops.settings import SettingsError, load_settings, settings_markdown, settings_table

app = typer.Typer(
    name="finops",
    help="FinOps automation for AWS on Prefect 3: costs, anomalies, idle resources, remediation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Each module registers its commands with ``register(app)``; one module per capability.
COMMAND_MODULES: tuple[str, ...] = (
    "finops.commands.sandbox",
    "finops.commands.costs",
    "finops.commands.anomalies",
    "finops.commands.scan",
    "finops.commands.findings",
    "finops.commands.notify",
    "finops.commands.deploy",
    "finops.commands.demo",
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


@app.command("settings")
def show_settings(
    check: bool = typer.Option(False, "--check", help="Only validate the settings."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
) -> None:
    """Validate the settings (environment and finops.toml) and list every knob with its default."""
    try:
        load_settings()
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if check:
        typer.echo("settings are valid")
        return
    if markdown:
        typer.echo(settings_markdown())
        return
    for name, default, description in settings_table():
        typer.echo(f"{name:<48} {default:<28} {description}")


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def run() -> None:
    """Entry point that turns a settings error anywhere into a one-line message and exit 2."""
    try:
        app()
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
