"""The findings store's lifecycle on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore, TransitionError

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
ACCOUNT = "111111111111"


def volume_finding(volume_id: str, savings: str = "8.00", region: str = "us-east-1") -> Finding:
    return Finding(
        check="ebs-unattached",
        account_id=ACCOUNT,
        region=region,
        resource_id=volume_id,
        resource_arn=f"arn:aws:ec2:{region}:{ACCOUNT}:volume/{volume_id}",
        resource_type="ebs-volume",
        monthly_savings_usd=Decimal(savings),
        recommended_actions=["snapshot_and_delete", "delete"],
        owner="team-a",
        detected_at=T0,
    )


SCOPE = [("ebs-unattached", ACCOUNT, "us-east-1")]


def test_scan_opens_keeps_and_resolves(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    first = store.record_scan([volume_finding("vol-1"), volume_finding("vol-2")], SCOPE, now=T0)
    assert sorted(first.new) == sorted(
        [volume_finding("vol-1").fingerprint, volume_finding("vol-2").fingerprint]
    )

    later = T0 + timedelta(days=1)
    second = store.record_scan([volume_finding("vol-1", "9.50")], SCOPE, now=later)
    fp1, fp2 = volume_finding("vol-1").fingerprint, volume_finding("vol-2").fingerprint
    assert second.still_open == [fp1]
    assert second.resolved == [fp2]
    one = store.get(fp1)
    assert one.status is FindingStatus.OPEN
    assert one.first_seen == T0 and one.last_seen == later
    assert one.finding.monthly_savings_usd == Decimal("9.50")
    assert store.get(fp2).status is FindingStatus.RESOLVED
    assert [h["to"] for h in store.history(fp2)] == ["open", "resolved"]


def test_findings_outside_the_scope_are_not_resolved(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    eu = volume_finding("vol-eu", region="eu-west-1")
    store.record_scan([eu], [("ebs-unattached", ACCOUNT, "eu-west-1")], now=T0)
    # A scan whose eu-west-1 target failed leaves eu-west-1 out of its scope.
    outcome = store.record_scan([], SCOPE, now=T0 + timedelta(days=1))
    assert outcome.resolved == []
    assert store.get(eu.fingerprint).status is FindingStatus.OPEN


def test_snooze_hides_until_the_date_then_reraises(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    store.record_scan([finding], SCOPE, now=T0)
    until = T0 + timedelta(days=7)
    store.transition(
        finding.fingerprint, "snoozed", actor="ana", reason="busy", snoozed_until=until, now=T0
    )

    during = store.record_scan([finding], SCOPE, now=T0 + timedelta(days=3))
    assert during.reraised == []
    assert store.get(finding.fingerprint).status is FindingStatus.SNOOZED
    assert store.get(finding.fingerprint).snoozed_until == until

    after = store.record_scan([finding], SCOPE, now=T0 + timedelta(days=8))
    assert after.reraised == [finding.fingerprint]
    stored = store.get(finding.fingerprint)
    assert stored.status is FindingStatus.OPEN and stored.snoozed_until is None
    assert store.history(finding.fingerprint)[-1]["reason"] == "snooze expired"


def test_snooze_needs_a_future_date(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    store.record_scan([finding], SCOPE, now=T0)
    with pytest.raises(TransitionError, match="future"):
        store.transition(finding.fingerprint, "snoozed", actor="ana", snoozed_until=T0, now=T0)


def test_dismissed_stays_dismissed_when_seen_again(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    store.record_scan([finding], SCOPE, now=T0)
    store.transition(finding.fingerprint, "dismissed", actor="ana", reason="kept for DR")
    store.record_scan([finding], SCOPE, now=T0 + timedelta(days=1))
    assert store.get(finding.fingerprint).status is FindingStatus.DISMISSED


def test_full_remediation_lifecycle_and_history(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    fp = finding.fingerprint
    store.record_scan([finding], SCOPE, now=T0)
    for status, actor in [
        ("notified", "report"),
        ("approved", "ana"),
        ("remediating", "remediate"),
        ("remediated", "remediate"),
    ]:
        store.transition(fp, status, actor=actor, reason=f"to {status}")
    history = store.history(fp)
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [
        (None, "open", "scan"),
        ("open", "notified", "report"),
        ("notified", "approved", "ana"),
        ("approved", "remediating", "remediate"),
        ("remediating", "remediated", "remediate"),
    ]
    assert all(h["at"].tzinfo is not None for h in history)
    # The resource is gone: a later scan that does not see it keeps it remediated.
    store.record_scan([], SCOPE, now=T0 + timedelta(days=2))
    assert store.get(fp).status is FindingStatus.REMEDIATED


def test_disallowed_transition_names_both_states(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    store.record_scan([finding], SCOPE, now=T0)
    with pytest.raises(TransitionError, match="is open; it cannot become remediated"):
        store.transition(finding.fingerprint, "remediated", actor="x")
    with pytest.raises(KeyError, match="finops findings"):
        store.transition("0" * 20, "dismissed", actor="x")


def test_list_filters_and_orders_by_savings(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    small, large = volume_finding("vol-s", "1.00"), volume_finding("vol-l", "120.00")
    store.record_scan([small, large], SCOPE, now=T0)
    store.transition(small.fingerprint, "dismissed", actor="ana")
    assert [s.finding.resource_id for s in store.list()] == ["vol-l", "vol-s"]
    assert [s.finding.resource_id for s in store.list(statuses=["open"])] == ["vol-l"]
    assert store.list(checks=["ec2-idle"]) == []
    assert [s.fingerprint for s in store.list(fingerprints=[small.fingerprint])] == [
        small.fingerprint
    ]


def test_resolve_fingerprint_prefix(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    finding = volume_finding("vol-1")
    store.record_scan([finding], SCOPE, now=T0)
    assert store.resolve(finding.fingerprint[:8].upper()) == finding.fingerprint
    with pytest.raises(KeyError, match="too short"):
        store.resolve("ab")
    with pytest.raises(KeyError, match="no finding"):
        store.resolve("zzzzzzzz")


def test_observations_remember_first_seen_until_forgotten(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    key = f"unattached|{ACCOUNT}|us-east-1|vol-1"
    assert store.observe([key], now=T0) == {key: T0}
    assert store.observe([key], now=T0 + timedelta(days=3)) == {key: T0}
    store.forget([key])
    later = T0 + timedelta(days=5)
    assert store.observe([key], now=later) == {key: later}


def test_naive_datetimes_are_refused(findings_db_url: str) -> None:
    store = FindingsStore(findings_db_url)
    with pytest.raises(Exception, match="naive datetime"):
        store.record_scan([volume_finding("vol-1")], SCOPE, now=datetime(2026, 11, 1))
