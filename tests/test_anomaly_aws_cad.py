"""AWS Cost Anomaly Detection as a second opinion, on the sandbox: linked to ours, verdicts sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from finops.cli import app
from tasks.anomalies.aws_cad import get_aws_anomalies, linked_aws
from tasks.anomalies.models import AnomalySummary
from tasks.anomalies.report import stored_record, stored_rows
from tasks.anomalies.store import AnomalyStore
from tasks.notify.render import anomaly_line, render_anomaly_alert
from tests.plugins.sandbox import SandboxHandle
from tests.test_costs_sandbox import use_sandbox


def _increases(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return [t for t in sandbox.ground_truth["anomalies"] if float(t["impact_usd"]) > 0]


def test_boto3_reads_every_page_of_anomalies_and_the_monitor(sandbox: SandboxHandle) -> None:
    ce = sandbox.client("ce", sandbox.management_account_id)
    monitors = ce.get_anomaly_monitors()["AnomalyMonitors"]
    assert [(m["MonitorType"], m["MonitorDimension"]) for m in monitors] == [
        ("DIMENSIONAL", "SERVICE")
    ]
    first = sandbox.ground_truth["first_day"]
    pages = list(
        ce.get_paginator("get_anomalies").paginate(
            DateInterval={"StartDate": first}, PaginationConfig={"PageSize": 1}
        )
    )
    items = [a for page in pages for a in page["Anomalies"]]
    assert len(pages) == len(items) == len(_increases(sandbox))
    assert {a["DimensionValue"] for a in items} == {t["service"] for t in _increases(sandbox)}
    read = get_aws_anomalies(ce, date.fromisoformat(first), date(2100, 1, 1))
    assert sorted(a.aws_anomaly_id for a in read) == sorted(a["AnomalyId"] for a in items)
    with pytest.raises(ClientError) as bad_token:
        ce.get_anomalies(DateInterval={"StartDate": first}, NextPageToken="forged")
    assert bad_token.value.response["Error"]["Code"] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as bad_feedback:
        ce.provide_anomaly_feedback(AnomalyId=items[0]["AnomalyId"], Feedback="MAYBE")
    assert bad_feedback.value.response["Error"]["Code"] == "ValidationException"


@pytest.fixture(scope="module")
def synced(
    sandbox: SandboxHandle, prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The whole export ingested, the final day checked, then AWS's anomalies read in."""
    from flows.check_cost_anomalies import check_cost_anomalies
    from flows.ingest_costs import ingest_costs

    root = tmp_path_factory.mktemp("aws-cad")
    first_day = date.fromisoformat(sandbox.ground_truth["first_day"])
    last_day = date.fromisoformat(sandbox.ground_truth["last_day"])
    monkeypatch = pytest.MonkeyPatch()
    try:
        use_sandbox(sandbox, root / "costs", monkeypatch, (last_day - first_day).days + 1)
        monkeypatch.setenv("FINOPS_DATA_DIR", str(root / "state"))
        monkeypatch.setenv("FINOPS_AWS_ANOMALY_DETECTION__ENABLED", "true")
        ingest_costs(source="export")
        database = f"sqlite:///{root / 'state' / 'findings.db'}"
        checked = check_cost_anomalies(
            date=last_day, cost_store_url=str(root / "costs"), findings_url=database
        )
        result = CliRunner().invoke(
            app,
            [
                "anomalies",
                "aws-sync",
                "--since",
                first_day.isoformat(),
                "--date",
                last_day.isoformat(),
            ],
        )
        yield {"result": result, "store": AnomalyStore(database), "checked": checked}
    finally:
        monkeypatch.undo()


def test_the_daily_check_reads_aws_anomalies_so_its_view_names_both(
    synced: dict[str, Any], sandbox: SandboxHandle
) -> None:
    rds_shift = next(t for t in _increases(sandbox) if t["kind"] == "level_shift")
    summaries = [
        a
        for a in synced["checked"].anomalies
        if a.monitor == f"service: {rds_shift['service']}" and a.direction == "increase"
    ]
    assert summaries and len(summaries[0].aws_anomaly_ids) == 1
    assert "Also seen by AWS Cost Anomaly Detection" in anomaly_line(summaries[0])


def test_an_aws_anomaly_that_overlaps_ours_is_linked_so_one_alert_names_both(
    synced: dict[str, Any], sandbox: SandboxHandle
) -> None:
    result = synced["result"]
    assert result.exit_code == 0, result.output
    store: AnomalyStore = synced["store"]
    rds_shift = next(t for t in _increases(sandbox) if t["kind"] == "level_shift")
    ours = [
        s
        for s in store.list()
        if s.monitor_id == f"service:{rds_shift['service']}" and s.direction == "increase"
    ]
    assert ours, "our detector reports the RDS level shift"
    linked = linked_aws(store, ours[0].anomaly_id)
    assert [a.service for a in linked] == [rds_shift["service"]]
    assert linked[0].start <= ours[0].end_date and ours[0].start_date <= linked[0].end
    assert f"same as ours {ours[0].anomaly_id}" in result.output
    # The day's view (table and Slack) names both.
    last_day = date.fromisoformat(sandbox.ground_truth["last_day"])
    view = {s.anomaly_id: s for s in store.on_day(last_day)}
    shown = view[ours[0].anomaly_id]
    assert shown.aws_anomaly_ids == (linked[0].aws_anomaly_id,)
    row = next(
        r for r in stored_rows(list(view.values()), last_day) if r["anomaly_id"] == shown.anomaly_id
    )
    assert row["also_aws"] == linked[0].aws_anomaly_id[:8]
    summary = AnomalySummary.model_validate(stored_record(shown))
    assert "Also seen by AWS Cost Anomaly Detection" in anomaly_line(summary)
    alert = render_anomaly_alert(summary, "why")
    assert linked[0].aws_anomaly_id in str(alert.blocks)
    # Read again: updated in place, never doubled.
    again = CliRunner().invoke(
        app, ["anomalies", "aws-sync", "--since", sandbox.ground_truth["first_day"]]
    )
    assert again.exit_code == 0, again.output
    assert len(linked_aws(store, ours[0].anomaly_id)) == 1


def test_a_persons_verdict_on_ours_reaches_aws(
    synced: dict[str, Any], sandbox: SandboxHandle
) -> None:
    store: AnomalyStore = synced["store"]
    rds_shift = next(t for t in _increases(sandbox) if t["kind"] == "level_shift")
    ours = next(
        s
        for s in store.list()
        if s.monitor_id == f"service:{rds_shift['service']}" and s.direction == "increase"
    )
    aws_id = linked_aws(store, ours.anomaly_id)[0].aws_anomaly_id
    result = CliRunner().invoke(
        app,
        [
            "anomalies",
            "set-status",
            ours.anomaly_id,
            "acknowledged",
            "--planned",
            "--reason",
            "bigger DB class",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"sent planned to AWS Cost Anomaly Detection for {aws_id}" in result.output
    received = sandbox.control("GET", "ground-truth")["anomaly_detection"]["feedback"]
    assert {"anomaly_id": aws_id, "feedback": "PLANNED_ACTIVITY"}.items() <= received[-1].items()
    ce = sandbox.client("ce", sandbox.management_account_id)
    shown = ce.get_anomalies(
        DateInterval={"StartDate": rds_shift["start"]}, Feedback="PLANNED_ACTIVITY"
    )
    assert [a["AnomalyId"] for a in shown["Anomalies"]] == [aws_id]
    assert linked_aws(store, ours.anomaly_id)[0].feedback == "PLANNED_ACTIVITY"


def test_planned_goes_only_with_acknowledged() -> None:
    result = CliRunner().invoke(
        app, ["anomalies", "set-status", "abc", "false_positive", "--planned"]
    )
    assert result.exit_code == 2
    assert "--planned goes with the status acknowledged" in result.output


def _ours(monitor_id: str, start: str, end: str, direction: str = "increase") -> Any:
    from datetime import UTC, datetime
    from decimal import Decimal

    from tasks.anomalies.store import AnomalyStatus, StoredAnomaly

    now = datetime(2026, 11, 1, tzinfo=UTC)
    kind, value = monitor_id.split(":", 1)
    return StoredAnomaly(
        anomaly_id=f"id-{monitor_id}-{start}",
        monitor_id=monitor_id,
        monitor_type=kind,
        monitor_value=value,
        direction=direction,
        kind=direction,
        status=AnomalyStatus.OPEN,
        start_date=date.fromisoformat(start),
        end_date=date.fromisoformat(end),
        peak_date=date.fromisoformat(start),
        last_judged=date.fromisoformat(end),
        days=1,
        total_actual_usd=Decimal("300"),
        total_expected_usd=Decimal("100"),
        total_impact_usd=Decimal("200"),
        impact_pct=200.0,
        max_score=0.99,
        alert=True,
        root_causes=[],
        first_seen=now,
        updated_at=now,
        alerted_at=None,
    )


def test_the_match_is_the_same_dimension_on_overlapping_dates_and_rises_only() -> None:
    from tasks.anomalies.aws_cad import AwsAnomaly, matching_anomaly
    from tasks.anomalies.monitors import PAIR_SEPARATOR

    aws = AwsAnomaly(
        "a1", "arn", "AWS Lambda", "111111111111", date(2026, 5, 3), date(2026, 5, 6), 150.0, 80.0
    )
    pair = f"account_service:111111111111{PAIR_SEPARATOR}AWS Lambda"
    service = _ours("service:AWS Lambda", "2026-05-05", "2026-05-09")
    assert matching_anomaly(aws, [_ours(pair, "2026-05-01", "2026-05-03"), service]) is service
    assert matching_anomaly(aws, [_ours(pair, "2026-05-01", "2026-05-03")]).monitor_id == pair
    assert matching_anomaly(aws, [_ours("service:AWS Lambda", "2026-05-07", "2026-05-09")]) is None
    assert matching_anomaly(aws, [_ours("service:Amazon S3", "2026-05-03", "2026-05-06")]) is None
    drop = _ours("service:AWS Lambda", "2026-05-03", "2026-05-06", direction="decrease")
    assert matching_anomaly(aws, [drop]) is None


def test_aws_sync_refuses_a_range_that_ends_before_it_starts() -> None:
    result = CliRunner().invoke(
        app, ["anomalies", "aws-sync", "--since", "2026-06-01", "--date", "2026-05-01"]
    )
    assert result.exit_code == 2
    assert "error: --since 2026-06-01 is after --date 2026-05-01" in result.output
