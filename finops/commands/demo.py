"""`finops demo`: the one-command journey (see the finops/demo/ package)."""

from __future__ import annotations

import os

import typer

from tasks.settings import load_settings


def demo(
    action: str = typer.Argument(
        "", metavar="[stop]", help="'stop': the same as --stop.", show_default=False
    ),
    stop: bool = typer.Option(
        False,
        "--stop",
        help="Stop every running demo of this user (whatever its data folder) and exit.",
    ),
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
    from finops.demo import run_demo
    from finops.demo.processes import stop_all_demos

    if action not in ("", "stop"):
        typer.echo(f"error: unknown action {action!r}; the only one is 'stop'", err=True)
        raise typer.Exit(2)
    data_dir = load_settings().data_dir
    if stop or action == "stop":
        # This data folder's demo and every demo recorded in ~/.finops/demos/.
        stopped = stop_all_demos(data_dir.resolve())
        typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "no demo is running")
        return
    auto = auto_approve or os.environ.get("DEMO_AUTO_APPROVE", "") not in ("", "0", "false")
    # DemoError (a port taken, a server that does not start ...): one line, exit 1
    code = run_demo(data_dir, auto_approve=auto, keep_running=keep or not auto, echo=typer.echo)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `finops demo`."""
    app.command("demo")(demo)
