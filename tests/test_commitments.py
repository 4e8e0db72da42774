"""Commitments end to end on the sandbox: the store and Cost Explorer agree, our recommendation
matches the ground truth, the expiring and the under-used commitments are reported once each, and
an approved purchase plan buys nothing unless the explicit setting is on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from finops.cli import app
from tasks.aws.session import AwsAccess
from tasks.commitments.review import review_commitments
from tasks.costs.export import ExportLocation, discover_periods
from tasks.costs.store import CostStore
from tasks.costs.sync import collect_export_period
from tasks.findings.store import FindingsStore
from tasks.notify.outbox import Outbox
from tasks.remediation.audit import AuditLog
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle

runner = CliRunner()


def fill_store_from_export(store_url: str, periods: int = 3) -> None:
    """The last ``periods`` billing periods of the sandbox's FOCUS export, stored as ingested."""
    location = ExportLocation("s3://finops-sandbox-cur/cur", "finops-focus")
    store = CostStore(store_url)
    for period in sorted(discover_periods(location).values(), key=lambda p: p.start)[-periods:]:
        frame, _ = collect_export_period(location, period)
        store.replace_window(frame, period.start, period.end, "export")


def use(box: SandboxHandle, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in box.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(data))
    for name in ("FINOPS_NOTIFY__SLACK_WEBHOOK_URL", "FINOPS_NOTIFY__JIRA_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def world(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("commitments")
    monkeypatch = pytest.MonkeyPatch()
    try:
        use(sandbox, data, monkeypatch)
        settings = load_settings()
        fill_store_from_export(settings.cost_store_url)
        today = datetime.now(UTC).date()
        review = review_commitments(
            AwsAccess(settings.aws), CostStore(settings.cost_store_url), settings.commitments, today
        )
        yield {"data": data, "review": review, "settings": settings, "monkeypatch": monkeypatch}
    finally:
        monkeypatch.undo()


def test_store_and_cost_explorer_agree_to_the_cent_every_day(world, sandbox) -> None:
    review = world["review"]
    assert review.disagreements == []
    days = {(f.day, f.kind) for f in review.store_days}
    assert len(days) == 2 * 30  # both kinds on every day of the window
    truth = {
        (date.fromisoformat(e["date"]), e["kind"]): e
        for e in sandbox.ground_truth["commitments"]["daily"]
    }
    for figures in review.store_days:
        expected = truth[(figures.day, figures.kind)]
        assert figures.used_usd == Decimal(str(expected["used_usd"])).quantize(Decimal("0.01"))
        assert figures.unused_usd == Decimal(str(expected["unused_usd"])).quantize(Decimal("0.01"))
    hours = review.ri_coverage
    assert hours["store"] == hours["ce"] and hours["store"]["reserved_hours"] > 0
    # coverage is compared too (covered spend and on-demand cost per day): both are present
    plans = [f for f in review.store_days if f.kind == "Savings Plan"]
    assert all(f.covered_usd > 0 and f.on_demand_usd > 0 for f in plans)
    sp = review.store_totals["Savings Plan"]
    assert sp["unused_usd"] == Decimal("72.00")  # $2.40 a day for 30 days, the under-used plan
    # the inventory read from AWS names every commitment with its hourly amount and end
    expected = {
        item["commitment_id"]: item for item in sandbox.ground_truth["commitments"]["inventory"]
    }
    assert {c.commitment_id for c in review.inventory} == set(expected)
    for item in review.inventory:
        truth_item = expected[item.commitment_id]
        assert item.end.isoformat() == truth_item["end"]
        assert item.term_years == truth_item["term_years"]
        assert float(item.hourly_commitment_usd) == pytest.approx(
            truth_item["hourly_commitment_usd"], abs=0.001
        )


def test_our_recommendation_is_within_one_percent_of_the_ground_truth(world, sandbox) -> None:
    best = sandbox.ground_truth["commitments"]["recommendation"]["best_hourly_commitment_usd"]
    ours = world["review"].ours
    assert abs(float(ours.hourly_commitment_usd) - best) <= 0.01 * best
    assert ours.rate == pytest.approx(0.72, abs=1e-4)  # learned from the stored covered usage
    assert ours.estimated_savings_usd > 0
    falls = ours.scenarios
    assert falls["usage -10%"] > falls["usage -25%"] > falls["usage -50%"]
    assert 0 < ours.break_even_fall_pct < 100
    theirs = world["review"].aws
    assert theirs is not None and theirs.hourly_commitment_usd > 0


def test_finops_commitments_reports_expiry_and_waste_once(world, sandbox) -> None:
    first = runner.invoke(app, ["commitments", "--json"])
    assert first.exit_code == 0, first.output
    body = json.loads(first.output)
    truth = sandbox.ground_truth["commitments"]
    assert [a["commitment"]["commitment_id"] for a in body["alerts"]] == truth[
        "expiring_within_30_days"
    ]
    assert body["alerts"][0]["threshold_days"] == 30
    unused = [f for f in body["findings"] if f["check"] == "commitment-unused"]
    assert [f["resource_arn"] for f in unused] == truth["under_utilised"]
    assert Decimal(unused[0]["evidence"]["unused_usd"]) == Decimal("72.00")
    assert len(body["recorded"]["alerts"]) == 1 and len(body["recorded"]["new"]) == 2
    again = runner.invoke(app, ["commitments", "--json"])
    assert again.exit_code == 0, again.output
    recorded = json.loads(again.output)["recorded"]
    assert recorded["alerts"] == [] and recorded["new"] == []  # once each
    settings = world["settings"]
    outbox = Outbox(settings.findings_url)
    notices = [m for m in outbox.messages() if m.kind == "commitment-expiry"]
    assert len(notices) == 1 and "expires on" in notices[0].payload["text"]
    chart = world["data"] / "commitments.png"
    text = runner.invoke(
        app, ["commitments", "--no-record", "--chart", str(chart), "--months", "3"]
    )
    assert text.exit_code == 0, text.output
    assert "store and Cost Explorer agree to the cent on every day" in text.output
    assert "OURS" in text.output and "AWS" in text.output
    assert chart.read_bytes()[:4] == b"\x89PNG"
    months = json.loads(runner.invoke(app, ["commitments", "--no-record", "--json"]).output)[
        "monthly"
    ]
    assert months and all(0 < float(m["sp_utilisation_pct"]) < 100 for m in months)


def test_an_approved_plan_buys_nothing_while_purchases_are_off(world, sandbox) -> None:
    runner.invoke(app, ["commitments"])
    settings = world["settings"]
    store = FindingsStore(settings.findings_url)
    [purchase] = [s for s in store.list() if s.finding.check == "commitment-purchase"]
    result = runner.invoke(app, ["commitments-plan", purchase.fingerprint[:8], "--by", "ana"])
    assert result.exit_code == 0, result.output
    assert "nothing bought" in result.output
    assert sandbox.control("GET", "ground-truth")["savings_plan_purchases"] == []
    approvals = [r for r in AuditLog(settings.audit_log_url).read() if r.kind == "approval"]
    assert approvals[-1].fingerprint == purchase.fingerprint and approvals[-1].dry_run
    jira = [m for m in Outbox(settings.findings_url).messages() if m.channel == "jira"]
    assert [m.key for m in jira] == [f"jira|commitment-purchase|{purchase.fingerprint}"]
    wrong = runner.invoke(app, ["commitments-plan", "zzzz"])
    assert wrong.exit_code == 2 and "no finding" in wrong.output


def test_with_purchases_on_the_sandbox_records_exactly_one(
    fresh_sandbox, tmp_path, monkeypatch
) -> None:
    box = fresh_sandbox(accounts=2, instances=2, volumes=2)
    use(box, tmp_path, monkeypatch)
    settings = load_settings()
    fill_store_from_export(settings.cost_store_url, periods=2)
    assert runner.invoke(app, ["commitments"]).exit_code == 0
    [purchase] = [
        s
        for s in FindingsStore(settings.findings_url).list()
        if s.finding.check == "commitment-purchase"
    ]
    monkeypatch.setenv("FINOPS_COMMITMENTS__PURCHASE_ENABLED", "true")
    bought = runner.invoke(app, ["commitments-plan", purchase.fingerprint])
    assert bought.exit_code == 0, bought.output
    assert "bought Savings Plan" in bought.output
    twice = runner.invoke(app, ["commitments-plan", purchase.fingerprint])
    assert twice.exit_code == 2  # remediated: it cannot be approved again
    purchases = box.control("GET", "ground-truth")["savings_plan_purchases"]
    assert len(purchases) == 1
    assert Decimal(purchases[0]["commitment"]) == Decimal(
        str(purchase.finding.evidence["ours"]["hourly_commitment_usd"])
    )


def test_the_review_commitments_flow_records_idempotently(world, prefect_harness) -> None:
    from flows.review_commitments import review_commitments

    review, _ = review_commitments()
    again, recorded = review_commitments()
    assert review.disagreements == [] and again.disagreements == []
    assert recorded["alerts"] == [] and recorded["new"] == []
    notices = [
        m
        for m in Outbox(world["settings"].findings_url).messages()
        if m.kind == "commitment-expiry"
    ]
    assert len(notices) == 1
