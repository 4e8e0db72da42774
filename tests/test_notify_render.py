"""Pure rendering and planning: what people read, within Slack's limits, with stable keys."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tasks.notify.issues import group_issue, impact_level
from tasks.notify.models import DigestLinks, group_findings
from tasks.notify.narrate import figures_of_anomaly, figures_of_digest, unverified_numbers
from tasks.notify.plan import PlanOptions, plan_report
from tasks.notify.render import render_anomaly_alert, render_digest
from tasks.notify.texts import template_explanation, template_summary
from tests.plugins.fake_services import _block_error, sample_anomaly, sample_digest, sample_finding


def _texts(blocks: list[dict]) -> str:
    parts = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            parts.append(text["text"] if isinstance(text, dict) else str(text or ""))
    return "\n".join(parts)


def test_digest_says_spend_budgets_anomalies_findings_savings_and_links() -> None:
    links = DigestLinks(
        run_url="http://prefect.local/runs/flow-run/run-1",
        approval_url="http://prefect.local/runs/flow-run/approve-1",
    )
    digest = sample_digest(findings=3, anomalies=1, links=links)
    message = render_digest(digest, template_summary(digest))
    text = _texts(message.blocks)

    assert message.blocks[0]["type"] == "header"
    assert "FinOps daily digest: 2026-11-25" in text
    assert "$1,234.56 USD vs expected $1,100.00 USD (+$134.56, +12.2%)" in text
    assert ":red_circle: daily: $1,234.56 of $1,000.00 USD (123.5% used): exceeded" in text
    assert "forecast $31,000.00 USD (103.3%): warning" in text
    assert (
        "The monthly budget of $30,000.00 USD is forecast to be exceeded: $31,000.00 USD "
        "(103.3%), 80.0% used so far."
    ) in text
    assert "impact +$400.00 USD" in text and "account 222222222222 (75.0%" in text
    assert "`vol-00000002` ebs-unattached in 111111111111/us-east-1: $10.00 USD/month" in text
    assert "*Savings available:* $27.00 USD per month across 3 resources" in text
    buttons = next(b for b in message.blocks if b["type"] == "actions")["elements"]
    assert [b["url"] for b in buttons] == [links.run_url, links.approval_url]
    assert _block_error(message.blocks) is None


def test_digest_states_the_tools_own_aws_bill_when_the_day_counted_it() -> None:
    from flows.finops_daily import own_bill
    from tasks.costs.models import IngestResult
    from tasks.idle.models import IdleScanResult

    scan = IdleScanResult(
        targets=1,
        aws_usage=[
            {
                "service": "cloudwatch",
                "operation": "GetMetricData",
                "requests": 6,
                "metrics": 2664,
                "cost_usd": 0.02664,
            },
        ],
    )
    ingest = IngestResult(
        source="ce",
        aws_requests={"cost-explorer:GetCostAndUsage": 14},
        aws_cost_usd={"cost-explorer": Decimal("0.14"), "total": Decimal("0.14")},
    )
    lines = own_bill(ingest, scan)
    assert lines[0] == "AWS requests of the ingest: 14, $0.14"
    assert lines[1].startswith("AWS requests of the scan: 6 (cloudwatch 6 with 2,664 metrics)")
    text = _texts(render_digest(sample_digest(own_bill=lines), "ok").blocks)
    assert "AWS requests of the ingest: 14, $0.14" in text and "GetMetricData $0.01" in text
    # a day whose runs counted nothing says nothing about it
    assert "AWS requests" not in _texts(render_digest(sample_digest(), "ok").blocks)


def test_long_lists_stay_within_slack_limits_and_continue_in_the_thread() -> None:
    digest = sample_digest(findings=500, anomalies=120)
    message = render_digest(digest, template_summary(digest), top_n=10)

    assert len(message.blocks) <= 50
    assert _block_error(message.blocks) is None
    text = _texts(message.blocks)
    assert "and 110 more in the thread" in text
    assert "and 490 more in the thread" in text
    # Every anomaly and every resource is somewhere in the thread, each message valid.
    thread_text = "\n".join(_texts(reply.blocks) for reply in message.thread)
    for reply in message.thread:
        assert len(reply.blocks) <= 50 and _block_error(reply.blocks) is None
    assert all(f"vol-{i:08d}" in thread_text for i in range(500))
    assert thread_text.count("*service: Amazon Elastic Compute Cloud - Compute*") == 120


def test_long_names_are_clipped_and_mrkdwn_is_escaped() -> None:
    anomaly = sample_anomaly(monitor="tag: team=<" + "x" * 300 + ">&co")
    alert = render_anomaly_alert(anomaly, template_explanation(anomaly), "http://p/run")
    header = alert.blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    assert (
        "&lt;" in alert.blocks[1]["text"]["text"] and "&amp;co" in alert.blocks[1]["text"]["text"]
    )
    assert _block_error(alert.blocks) is None


def test_unknown_prices_are_said_not_counted_as_zero() -> None:
    findings = [sample_finding(1, savings="5.00"), sample_finding(2, savings=None)]
    digest = sample_digest(findings=0, anomalies=0).model_copy(update={"findings": findings})
    text = _texts(render_digest(digest, "s").blocks)
    assert "`vol-00000002` ebs-unattached in 111111111111/us-east-1: price unknown" in text
    assert "$5.00 USD per month across 2 resources (1 with an unknown price, not counted)" in text


def test_anomaly_alert_has_impact_causes_explanation_and_run_button() -> None:
    anomaly = sample_anomaly(impact="412.50")
    alert = render_anomaly_alert(anomaly, template_explanation(anomaly), "http://p/run/9")
    text = _texts(alert.blocks)
    assert "impact +$412.50 USD (+34.4%)" in text
    assert "account `222222222222`: +$309.38 USD (75.0%)" in text
    assert "The largest contributor is account 222222222222 with 75.0% of the change." in text
    assert alert.blocks[-2]["elements"][0]["url"] == "http://p/run/9"


def test_group_issue_has_a_table_of_resources_and_priority_from_savings() -> None:
    findings = [sample_finding(i, savings="600.00") for i in range(3)]
    [group] = group_findings(findings)
    spec = group_issue(group, high_usd=1000, medium_usd=100)
    assert (
        spec.summary == "ebs-unattached: 3 resources in account 111111111111, $1,800.00 USD/month"
    )
    assert (
        "||Resource||Region||Savings (USD/month)||Owner||Recommended actions||" in spec.description
    )
    assert "|vol-00000000|us-east-1|$600.00|data-team|snapshot_and_delete, delete, skip|" in (
        spec.description
    )
    assert spec.impact == "high" and spec.label == f"finops-{group.fingerprint}"
    assert impact_level(Decimal("99.99"), 1000, 100) == "low"


def test_planned_keys_are_stable_and_change_only_with_content() -> None:
    digest = sample_digest(findings=3, anomalies=1)
    first = [m.key for m in plan_report(digest, "summary A", {}, PlanOptions())]
    again = [m.key for m in plan_report(digest, "summary B (reworded)", {}, PlanOptions())]
    assert first == again
    assert "slack|alert|anom-0" in first and "slack|digest|2026-11-25" in first
    assert "sns|summary|2026-11-25" in first and "slack|digest|2026-11-25|chart" in first

    grown = digest.model_copy(update={"anomalies": [sample_anomaly("anom-0", impact="900")]})
    changed = {m.key for m in plan_report(grown, "summary A", {}, PlanOptions())}
    new_keys = changed - set(first)
    assert {k.split("|")[1] for k in new_keys} == {"alert-update", "anomaly"}

    more = digest.model_copy(update={"findings": [*digest.findings, sample_finding(99)]})
    group_keys = {
        m.key for m in plan_report(more, "s", {}, PlanOptions()) if m.key.startswith("jira|group")
    }
    assert group_keys.isdisjoint(first)


def test_alert_thresholds_and_resolutions() -> None:
    small = sample_anomaly("small", impact="50")
    drop = sample_anomaly("drop", impact="-500", direction="drop")
    gone = sample_finding(7, check="eip-unassociated")
    digest = sample_digest(findings=1, anomalies=0).model_copy(
        update={"anomalies": [small, drop], "resolved_findings": [gone, sample_finding(0)]}
    )
    keys = [m.key for m in plan_report(digest, "s", {}, PlanOptions())]
    assert not any(k.startswith("slack|alert") for k in keys)
    resolves = [k for k in keys if k.startswith("jira|group-resolve")]
    # The eip group is gone entirely; the ebs group still has an open finding: no resolve.
    assert len(resolves) == 1
    with_drops = [m.key for m in plan_report(digest, "s", {}, PlanOptions(alert_drops=True))]
    assert "slack|alert|drop" in with_drops


def test_template_texts_pass_the_figure_check_and_invented_numbers_do_not() -> None:
    digest = sample_digest(findings=4, anomalies=2)
    figures = figures_of_digest(digest)
    assert unverified_numbers(template_summary(digest), figures) == []
    anomaly = digest.anomalies[0]
    assert unverified_numbers(template_explanation(anomaly), figures_of_anomaly(anomaly)) == []

    assert unverified_numbers("Spend was $1,234.56, about 1.2k over budget.", figures) == []
    assert unverified_numbers("Spend rose 37% to $1,300.", figures) == ["37", "1,300"]
    assert unverified_numbers("Since 2026-11-20 costs rose.", figures) == ["2026-11-20"]
    assert unverified_numbers(f"Spend on {date(2026, 11, 25)} was normal.", figures) == []
