"""The Jira adapter against a local server speaking Jira's REST API (Cloud and Server/DC)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tasks.notify.issues import group_issue
from tasks.notify.jira_client import JiraDeliveryError, JiraOptions, JiraTracker
from tasks.notify.models import group_findings
from tests.plugins.fake_services import (
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    JIRA_PAT,
    FakeJira,
    sample_finding,
)

OPTIONS = JiraOptions(
    project="FINOPS",
    issue_type="Task",
    labels=("finops", "cost"),
    components=("platform",),
    priorities=(("high", "Highest"), ("medium", "Medium"), ("low", "Low")),
)


def _cloud(jira: FakeJira, token: str = JIRA_API_TOKEN) -> JiraTracker:
    return JiraTracker(
        jira.url, OPTIONS, email=JIRA_EMAIL, api_token=SecretStr(token), max_retries=0
    )


def _spec(count: int = 2, savings: str = "700.00"):  # type: ignore[no-untyped-def]
    [group] = group_findings([sample_finding(i, savings=savings) for i in range(count)])
    return group_issue(group, high_usd=1000, medium_usd=100)


def test_cloud_creates_one_issue_then_comments_on_it(fake_jira: FakeJira) -> None:
    tracker = _cloud(fake_jira)
    spec = _spec()
    first = tracker.upsert(spec)
    second = tracker.upsert(spec)

    assert (first.action, second.action) == ("created", "commented")
    [issue] = fake_jira.issues.values()
    fields = issue["fields"]
    assert fields["summary"] == spec.summary and fields["description"] == spec.description
    assert fields["labels"] == ["finops", "cost", spec.label]
    assert fields["priority"] == {"name": "Highest"}
    assert fields["components"] == [{"name": "platform"}]
    assert [c["body"] for c in issue["comments"]] == [spec.comment]
    assert all(spec.label in jql and "statusCategory != Done" in jql for jql in fake_jira.searches)


def test_server_dc_uses_the_personal_access_token(fake_jira_server: FakeJira) -> None:
    tracker = JiraTracker(fake_jira_server.url, OPTIONS, pat=SecretStr(JIRA_PAT), max_retries=0)
    assert not tracker.cloud
    assert tracker.upsert(_spec()).action == "created"
    assert tracker.upsert(_spec()).action == "commented"
    assert len(fake_jira_server.issues) == 1


def test_resolving_transitions_the_open_issue_to_done(fake_jira: FakeJira) -> None:
    tracker = _cloud(fake_jira)
    spec = _spec()
    created = tracker.upsert(spec)
    outcome = tracker.resolve(spec.label, "no longer seen")
    assert outcome.action == "transitioned" and outcome.key == created.key
    assert fake_jira.issues[created.key or ""]["status"] == "Done"
    # Nothing open any more: resolving again does nothing, a new occurrence opens a new issue.
    assert tracker.resolve(spec.label, "again").action == "none"
    assert tracker.upsert(spec).action == "created" and len(fake_jira.issues) == 2


def test_wrong_credentials_are_refused_without_showing_them(fake_jira: FakeJira) -> None:
    with pytest.raises(JiraDeliveryError) as raised:
        _cloud(fake_jira, token="not-the-token-123").upsert(_spec())
    assert "401" in str(raised.value) and "not-the-token-123" not in str(raised.value)
    assert not raised.value.permanent  # fixed by configuration, then delivered
    assert fake_jira.issues == {}


def test_missing_required_fields_are_a_permanent_error(fake_jira: FakeJira) -> None:
    tracker = JiraTracker(
        fake_jira.url,
        JiraOptions(project="FINOPS", issue_type="Epicish"),
        email=JIRA_EMAIL,
        api_token=SecretStr(JIRA_API_TOKEN),
        max_retries=0,
    )
    with pytest.raises(JiraDeliveryError) as raised:
        tracker.upsert(_spec())
    assert raised.value.permanent and "400" in str(raised.value)


def test_cloud_needs_email_and_token() -> None:
    with pytest.raises(ValueError, match="JIRA_EMAIL"):
        JiraTracker("http://127.0.0.1:9", OPTIONS, deployment="cloud", pat=SecretStr("pat-1"))
    with pytest.raises(ValueError, match="JIRA_PAT"):
        JiraTracker("http://127.0.0.1:9", OPTIONS)
