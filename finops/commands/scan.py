"""`finops scan`: run the scan-idle-resources flow and print its findings (table or JSON)."""

from __future__ import annotations

import json
import re
from enum import StrEnum

import typer

from finops.commands.errors import fail, quiet_flow_errors, require_aws
from tasks.settings import known_regions, load_settings

_ACCOUNT = re.compile(r"^\d{12}$")


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def split_list(value: str | None) -> list[str]:
    """A comma-separated option as a list (blank items dropped).

    Example:
        >>> split_list("ec2-idle, ebs-gp2,")
        ['ec2-idle', 'ebs-gp2']
    """
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""

    @app.command("scan")
    def scan(
        checks: str = typer.Option("", "--checks", help="Comma-separated checks; default all."),
        accounts: str = typer.Option("", "--accounts", help="Comma-separated account ids."),
        regions: str = typer.Option("", "--regions", help="Comma-separated regions."),
        output: OutputFormat = typer.Option(
            OutputFormat.TABLE, "--format", help="table (people) or json (an array of findings)."
        ),
    ) -> None:
        """Scan every account x region for idle and wasted resources (scan-idle-resources).

        Exit status: 0 when every target was scanned, 3 when some could not be (they are listed
        on stderr; the findings of the others are printed and stored), 2 on bad input.
        """
        from tasks.idle.checks import CHECKS, select_checks
        from tasks.idle.registry import resolve_params

        check_list, account_list, region_list = (
            split_list(checks),
            split_list(accounts),
            split_list(regions),
        )
        unknown = [c for c in check_list if c not in CHECKS]
        if unknown:
            raise fail(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
        bad_accounts = [a for a in account_list if not _ACCOUNT.match(a)]
        if bad_accounts:
            raise fail(f"malformed account id(s) {', '.join(bad_accounts)}; use 12 digits")
        bad_regions = [r for r in region_list if r not in known_regions()]
        if bad_regions:
            raise fail(
                f"unknown region(s) {', '.join(bad_regions)}; use AWS names such as us-east-1"
            )

        # What the flow would find wrong only after Prefect started, found now (one line, no
        # run): the checks and their parameters from the settings, then AWS itself.
        settings = load_settings()
        resolve_params(select_checks(check_list or settings.idle.checks), settings.idle.params)
        require_aws(settings)

        from flows.scan_idle_resources import scan_idle_resources
        from tasks.idle.report import text_table, usage_line
        from tasks.idle.tasks import as_json

        with quiet_flow_errors():
            result = scan_idle_resources(
                checks=check_list or None,
                accounts=account_list or None,
                regions=region_list or None,
            )
        if output is OutputFormat.JSON:
            typer.echo(json.dumps(as_json(result.findings), indent=2))
        else:
            typer.echo(text_table(result.findings))
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo(usage_line(result.aws_usage), err=True)
        for failed in result.errors:
            typer.echo(
                f"not scanned: {failed['account_id']}/{failed['region']} "
                f"[{', '.join(failed['checks'])}]: {failed['code']}: {failed['message']}",
                err=True,
            )
        if result.errors:
            raise typer.Exit(3)
