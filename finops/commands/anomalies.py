"""`finops` commands for the anomalies capability."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
