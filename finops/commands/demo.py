"""`finops demo`: the one-command journey (see the finops/demo/ package)."""

from __future__ import annotations

import os

import typer

from tasks.settings import load_settings


def demo(
    stop: bool = typer.Option(False, "--stop", help="Stop a running demo and exit."),
    auto_approve: bool = typer.Option(
        False,
        "--auto-approve",
        help="Approve the safe actions without asking (also DEMO_AUTO_APPROVE=1).",
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the Prefect UI and sandbox running after the summary."
    ),
) -> None:
    """Run the whole pipeline on a local Prefect server and the sandbox, up to an approval."""
    from finops.demo import run_demo, stop_demo

    data_dir = load_settings().data_dir
    if stop:
        stopped = stop_demo(data_dir)
        typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "no demo is running")
        return
    auto = auto_approve or os.environ.get("DEMO_AUTO_APPROVE", "") not in ("", "0", "false")
    # DemoError (a port taken, a server that does not start ...): one line, exit 1
    code = run_demo(data_dir, auto_approve=auto, keep_running=keep or not auto, echo=typer.echo)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `finops demo`."""
    app.command("demo")(demo)
