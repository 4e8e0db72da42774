"""The report reads the anomaly flow's and the idle scan's results as they are produced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tasks.anomalies.budget import evaluate_budget
from tasks.anomalies.grouping import Anomaly
from tasks.anomalies.models import AnomalyCheckResult, AnomalySummary
from tasks.anomalies.monitors import Monitor
from tasks.anomalies.report import anomaly_record
from tasks.findings.store import FindingsStore
from tasks.notify.inputs import digest_from_results, resolved_since, spend_figures
from tasks.notify.render import render_digest
from tasks.notify.texts import template_summary
from tests.plugins.fake_services import sample_finding

DAY = date(2026, 11, 25)


def _anomaly() -> Anomaly:
    return Anomaly(
        anomaly_id="a" * 20,
        monitor=Monitor("service", "Amazon EC2"),
        direction="increase",
        kind="increase",
        start=DAY - timedelta(days=2),
        end=DAY,
        peak=DAY - timedelta(days=1),
        last_judged=DAY,
        days=3,
        total_actual=1650.0,
        total_expected=1200.0,
        total_impact=450.0,
        impact_pct=37.5,
        max_score=0.98,
        ongoing=True,
        meets_threshold=True,
        alert=True,
        root_causes=(
            {
                "dimension": "account",
                "value": "222222222222",
                "actual_usd": 900.0,
                "baseline_usd": 562.5,
                "change_usd": 337.5,
                "share_pct": 75.0,
            },
        ),
    )


def _totals() -> dict[date, float]:
    totals = {DAY - timedelta(days=d): 1000.0 + (d % 7) for d in range(1, 40)}
    totals[DAY] = 1234.56
    return totals


def test_anomaly_flow_records_and_budgets_map_onto_the_digest() -> None:
    budget = evaluate_budget(
        "daily", "daily", DAY.isoformat(), Decimal("1000"), Decimal("1234.56"), None, [80, 100]
    )
    result = AnomalyCheckResult(
        date=DAY,
        anomalies=[AnomalySummary.model_validate(anomaly_record(_anomaly(), "open", True))],
        budgets=[budget],
    )
    digest = digest_from_results(DAY, _totals(), result, [sample_finding(1)])

    [anomaly] = digest.anomalies
    assert anomaly.monitor == "service: Amazon EC2" and anomaly.impact_usd == Decimal("450.0")
    assert anomaly.causes[0].share == 0.75 and anomaly.alert is True
    [state] = digest.budgets
    assert state.budget_usd == Decimal("1000") and state.effective_status == "exceeded"
    text = str(render_digest(digest, template_summary(digest)).blocks)
    assert "impact +$450.00 USD (+37.5%)" in text and ":red_circle: daily: $1,234.56 of" in text


def test_spend_expected_is_causal_and_the_chart_has_thirty_days() -> None:
    spend, expected, series = spend_figures(_totals(), DAY)
    assert spend == Decimal("1234.56")
    # Same weekday over the four weeks before: 7, 14, 21 and 28 days back -> 1000 each.
    assert expected == Decimal("1000.00")
    assert len(series) == 30 and series[-1].day == DAY and series[0].day == DAY - timedelta(29)


def test_findings_resolved_since_the_scan_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FindingsStore(f"sqlite:///{tmp_path / 'findings.db'}")
    kept, gone = sample_finding(1), sample_finding(2)
    yesterday = datetime(2026, 11, 24, 6, tzinfo=UTC)
    today = datetime(2026, 11, 25, 6, tzinfo=UTC)
    scope = [("ebs-unattached", "111111111111", "us-east-1")]
    store.record_scan([kept, gone], scope=scope, now=yesterday)
    store.record_scan([kept], scope=scope, now=today)

    assert [f.fingerprint for f in resolved_since(store, today)] == [gone.fingerprint]
    assert resolved_since(store, today + timedelta(hours=1)) == []
