"""The day's anomaly view on the sandbox: every anomaly open on the day, each with its chart, and
the digest reads the same open set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tasks.anomalies.backtest import monitor_id_of
from tasks.notify.inputs import digest_from_results
from tasks.notify.texts import open_anomalies
from tests.plugins.sandbox import SandboxHandle
from tests.test_costs_sandbox import use_sandbox


@pytest.fixture(scope="module")
def day_view(
    sandbox: SandboxHandle, prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The sandbox's whole export ingested, then the final day checked on a fresh store."""
    from flows.check_cost_anomalies import check_cost_anomalies
    from flows.ingest_costs import ingest_costs

    root = tmp_path_factory.mktemp("anomaly-view")
    first_day = date.fromisoformat(sandbox.ground_truth["first_day"])
    last_day = date.fromisoformat(sandbox.ground_truth["last_day"])
    monkeypatch = pytest.MonkeyPatch()
    try:
        use_sandbox(sandbox, root / "costs", monkeypatch, (last_day - first_day).days + 1)
        monkeypatch.setenv("FINOPS_DATA_DIR", str(root / "state"))
        ingest_costs(source="export")
        database = f"sqlite:///{root / 'findings.db'}"
        result = check_cost_anomalies(
            date=last_day, cost_store_url=str(root / "costs"), findings_url=database
        )
        again = check_cost_anomalies(
            date=last_day, cost_store_url=str(root / "costs"), findings_url=database
        )
        from flows.report import report

        delivered = report(day=last_day, anomaly_result=again, findings=[])
        yield {
            "result": result,
            "again": again,
            "last_day": last_day,
            "report": delivered,
            "state": root / "state",
        }
    finally:
        monkeypatch.undo()


def _lasting(sandbox: SandboxHandle, last_day: date) -> list[dict[str, Any]]:
    return [
        t
        for t in sandbox.ground_truth["anomalies"]
        if date.fromisoformat(t["end"]) >= last_day and date.fromisoformat(t["start"]) <= last_day
    ]


def test_the_day_lists_every_anomaly_lasting_to_the_final_day_with_a_chart(
    sandbox: SandboxHandle, day_view: dict[str, Any]
) -> None:
    result, last_day = day_view["result"], day_view["last_day"]
    lasting = _lasting(sandbox, last_day)
    assert len(lasting) >= 3  # the S3 drift, the RDS level shift, the new SageMaker service
    opened = [a for a in result.anomalies if a.status in {"open", "acknowledged"}]
    by_monitor = {a.monitor.replace(": ", ":", 1): a for a in opened}
    charts = {Path(p).stem for p in result.charts}
    for truth in lasting:
        wanted = monitor_id_of(truth)
        assert wanted in by_monitor, f"{truth['kind']} on {wanted} not open on {last_day}"
        anomaly = by_monitor[wanted]
        assert abs((anomaly.start - date.fromisoformat(truth["start"])).days) <= 1
        assert anomaly.end == last_day  # still going on: dated to the day judged
        assert anomaly.id in charts, f"no chart for {wanted}"
    assert {a.id for a in opened} <= charts  # every open anomaly has its chart
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in result.charts)
    # Old anomalies that ended long ago are not shown as open.
    assert all(a.start <= last_day for a in result.anomalies)


def test_a_second_check_of_the_day_keeps_them_open_and_alerts_none_again(
    day_view: dict[str, Any],
) -> None:
    first, again = day_view["result"], day_view["again"]
    assert again.new_alerts == []
    assert {a.id for a in again.anomalies if a.status == "open"} == {
        a.id for a in first.anomalies if a.status == "open"
    }
    assert all(not a.is_new for a in again.anomalies)


def test_the_digest_reads_the_same_open_anomalies(day_view: dict[str, Any]) -> None:
    result, last_day = day_view["result"], day_view["last_day"]
    digest = digest_from_results(last_day, {last_day: 1.0}, result)
    view = {a.id for a in result.anomalies if a.status in {"open", "acknowledged"}}
    assert view and {a.id for a in open_anomalies(digest)} == view


def test_the_slack_digest_lists_them_as_open_anomalies(day_view: dict[str, Any]) -> None:
    from tasks.notify.outbox import Outbox
    from tasks.settings import load_settings

    again = day_view["again"]
    opened = [a for a in again.anomalies if a.status in {"open", "acknowledged"}]
    assert day_view["report"] is not None
    monkeypatch = pytest.MonkeyPatch()
    try:
        monkeypatch.setenv("FINOPS_DATA_DIR", str(day_view["state"]))
        outbox = Outbox(load_settings().findings_url)
    finally:
        monkeypatch.undo()
    [digest] = [m for m in outbox.messages() if m.kind == "digest"]
    text = str(digest.payload)
    assert f"Open anomalies ({len(opened)})" in text and "Open anomalies:* none" not in text
