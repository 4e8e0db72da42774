"""`finops findings|dismiss|snooze|approve|audit`: the findings lifecycle from a terminal."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import typer

from finops.commands.errors import fail
from tasks.money import usd_or_unknown
from tasks.settings import load_settings


def list_findings(
    status: list[str] = typer.Option(
        [], "--status", "-s", help="Only these states (repeat): open, notified, approved, ..."
    ),
    check: list[str] = typer.Option([], "--check", "-c", help="Only these checks (repeat)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List stored findings, largest monthly savings first."""
    from tasks.commitments.findings import PURCHASE_CHECK, UNUSED_CHECK
    from tasks.findings.model import FindingStatus
    from tasks.findings.store import FindingsStore
    from tasks.idle.checks import CHECKS

    allowed = [s.value for s in FindingStatus]
    for value in status:
        if value not in allowed:
            raise fail(f"--status {value!r} is not a state; use one of {', '.join(allowed)}")
    known = [*CHECKS, UNUSED_CHECK, PURCHASE_CHECK]
    unknown = [c for c in check if c not in known]
    if unknown:
        raise fail(f"--check {', '.join(unknown)}: no such check; choose from {', '.join(known)}")
    store = FindingsStore(load_settings().findings_url)
    stored = store.list(statuses=status or None, checks=check or None)
    if as_json:
        for s in stored:
            typer.echo(
                json.dumps(
                    {
                        "fingerprint": s.fingerprint,
                        "status": s.status.value,
                        "first_seen": s.first_seen.isoformat(),
                        "last_seen": s.last_seen.isoformat(),
                        "snoozed_until": s.snoozed_until.isoformat() if s.snoozed_until else None,
                        **json.loads(s.finding.model_dump_json()),
                    }
                )
            )
        return
    if not stored:
        typer.echo("no findings" + (f" with status {', '.join(status)}" if status else ""))
        return
    header = (
        f"{'FINGERPRINT':<13}{'STATUS':<12}{'CHECK':<20}{'RESOURCE':<48}{'USD/MONTH':>12}  OWNER"
    )
    typer.echo(header)
    # Savings already made (remediated) or given up (dismissed, resolved) are not still to save.
    settled = {FindingStatus.REMEDIATED, FindingStatus.DISMISSED, FindingStatus.RESOLVED}
    total = Decimal(0)
    apart: dict[str, list[Decimal]] = {}
    for s in stored:
        f = s.finding
        if s.status in settled:
            apart.setdefault(s.status.value, []).append(f.monthly_savings_usd or Decimal(0))
        else:
            total += f.monthly_savings_usd or Decimal(0)
        resource = f"{f.account_id}/{f.region}/{f.resource_id}"
        typer.echo(
            f"{s.fingerprint[:12]:<13}{s.status.value:<12}{f.check:<20}{resource:<48}"
            f"{usd_or_unknown(f.monthly_savings_usd):>12}  {f.owner or '-'}"
        )
    if not apart:
        typer.echo(f"{len(stored)} findings, {usd_or_unknown(total)} per month (USD) in total")
        return
    counted = len(stored) - sum(len(v) for v in apart.values())
    not_counted = ", ".join(
        f"{len(v)} {status} ({usd_or_unknown(sum(v, Decimal(0)))})"
        for status, v in sorted(apart.items())
    )
    typer.echo(
        f"{len(stored)} findings; {counted} still to act on, {usd_or_unknown(total)} per month "
        f"(USD) in total; not counted: {not_counted}"
    )


def _resolve(fingerprint: str) -> tuple[Any, str]:
    from tasks.findings.store import FindingsStore

    store = FindingsStore(load_settings().findings_url)
    try:
        return store, store.resolve(fingerprint)
    except KeyError as error:
        raise fail(str(error.args[0])) from None


def dismiss(
    fingerprint: str = typer.Argument(..., help="Fingerprint (or its first 4+ characters)."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)."),
    actor: str = typer.Option("", "--as", help="Your name; default your login."),
) -> None:
    """Dismiss a finding: it stays dismissed even when later scans see it again."""
    store, full = _resolve(fingerprint)
    # TransitionError (e.g. a remediated finding): one line, exit 2
    store.transition(full, "dismissed", actor=actor or getpass.getuser(), reason=reason)
    typer.echo(f"dismissed {full}")


def snooze(
    fingerprint: str = typer.Argument(..., help="Fingerprint (or its first 4+ characters)."),
    until: str = typer.Option(..., "--until", help="Date (YYYY-MM-DD, UTC) it comes back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)."),
    actor: str = typer.Option("", "--as", help="Your name; default your login."),
) -> None:
    """Snooze a finding until a date; a scan after that date re-raises it if still there."""
    try:
        day = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise fail(f"--until {until!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-31") from None
    store, full = _resolve(fingerprint)
    store.transition(
        full, "snoozed", actor=actor or getpass.getuser(), reason=reason, snoozed_until=day
    )
    typer.echo(f"snoozed {full} until {day.date().isoformat()}")


def approve(
    run_id: str = typer.Argument(..., help="The waiting remediate-findings flow run id."),
    approver: str = typer.Option(..., "--as", help="Your name (recorded in the audit log)."),
    reject: bool = typer.Option(False, "--reject", help="Reject: nothing is done."),
    only: list[str] = typer.Option(
        [], "--only", help="Finding to approve (fingerprint prefix or resource id; repeat)."
    ),
    action: list[str] = typer.Option(
        [], "--action", help="FP=ACTION: another action from the finding's menu (repeat)."
    ),
    comment: str = typer.Option("", "--comment", help="Free text for the audit log."),
) -> None:
    """Answer a waiting remediation run, exactly as the Prefect UI's Resume form does."""
    from tasks.remediation.approval import clean_approver

    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        raise fail(f"{run_id!r} is not a flow run id; copy it from the run's page") from None
    try:
        # checked before the server is asked anything: a bad name is never sent or recorded
        approver = clean_approver(approver)
    except ValueError as error:
        raise fail(f"--as NAME: {error}") from None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    from tasks.remediation.approval import run_input_for

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            server = PREFECT_API_URL.value()
            where = (
                f"on {server}; copy the waiting run's id from its page in the Prefect UI"
                if server
                else "on Prefect's temporary server (PREFECT_API_URL is unset); set "
                "PREFECT_API_URL to the API of the server the run waits on"
            )
            raise fail(f"no flow run {run_id} {where}") from None
        state = run.state
        if state is None or not state.is_paused():
            name = state.name if state else "no state"
            raise fail(f"run {run_id} is not waiting for approval (it is {name})")
        keyset = state.state_details.run_input_keyset
        if not keyset:
            raise fail(f"run {run_id} is paused but has no approval form")
        schema = json.loads(client.read_flow_run_input(flow_run_id, keyset["schema"]))
        # FormError (an --only or --action that is not on the form): one line, exit 2
        run_input = run_input_for(
            schema, approver, reject=reject, only=only, actions=action, comment=comment
        )
        if not reject and not run_input["findings"]:
            typer.echo("note: no findings chosen (--only); the run will do nothing", err=True)
        result = client.resume_flow_run(flow_run_id, run_input=run_input)
    if result.status != SetStateStatus.ACCEPT:
        reason = getattr(result.details, "reason", "") or result.status.value
        raise fail(f"Prefect refused the answer: {reason}")
    verb = "rejected" if reject else f"approved {len(run_input['findings'])} findings in"
    typer.echo(f"{verb} run {run_id} as {approver}")


def audit(
    run_id: str = typer.Option("", "--run", help="Only this flow run."),
    fingerprint: str = typer.Option("", "--fingerprint", help="Only this finding (prefix)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Newest N records."),
    as_json: bool = typer.Option(False, "--json", help="Raw JSON Lines."),
) -> None:
    """List the audit trail: every approval and every action, oldest first.

    Free text (names, comments, reasons) is printed with control characters escaped, so a
    record cannot forge a line or rewrite the terminal; ``--json`` gives it exactly as stored.
    A damaged line is skipped with one warning naming the file and line.
    """
    from tasks.remediation.audit import AuditLog, printable

    records, damaged = AuditLog(load_settings().audit_log_url).read_with_damage()
    for line in damaged:
        typer.echo(f"warning: {line.warning}", err=True)
    records = [
        r
        for r in records
        if (not run_id or r.run_id == run_id)
        and (not fingerprint or r.fingerprint.startswith(fingerprint.lower()))
    ][-limit:]
    if as_json:
        for record in records:
            typer.echo(record.model_dump_json())
        return
    if not records:
        typer.echo("no audit records")
        return
    for r in records:
        when = r.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        mode = "dry-run" if r.dry_run else "live"
        by = printable(r.approver) or "-"
        if r.kind == "approval":
            typer.echo(
                f"{when}  approval  run={printable(r.run_id)}  {printable(r.decision)} by {by}  "
                f"{len(r.after.get('selections', {}))} actions  {printable(r.comment)}".rstrip()
            )
        else:
            backups = ",".join(
                f"{printable(str(k))}={printable(str(v))}" for k, v in r.backup_ids.items()
            )
            typer.echo(
                f"{when}  action    {printable(r.action)} {printable(r.resource_id)} "
                f"({printable(r.fingerprint[:12])})  {printable(r.result)}  [{mode}]  by {by}"
                + (f"  backups: {backups}" if backups else "")
                + (f"  - {printable(r.reason)}" if r.reason else "")
            )


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.command("findings")(list_findings)
    app.command("dismiss")(dismiss)
    app.command("snooze")(snooze)
    app.command("approve")(approve)
    app.command("audit")(audit)
