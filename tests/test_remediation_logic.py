"""Remediation rules and stores: menus, the approval form, caps, summaries, ledger, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prefect._internal.pydantic.v2_schema import create_v2_schema

from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore
from tasks.remediation.approval import (
    Candidate,
    FormError,
    build_form,
    candidate_from,
    decide,
    preview_markdown,
    run_input_for,
)
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.remediation.engine import Caps
from tasks.remediation.ledger import RemediationLedger
from tasks.remediation.menu import default_action, is_actionable, menu_for
from tasks.remediation.report import ActionResult, report_markdown, summarise
from tests.plugins.remediation import AwsWorld, menu_of

ACCOUNT = "111111111111"


def finding(check: str, resource_id: str, savings: str | None = "10.00", **kw: Any) -> Finding:
    kw.setdefault("recommended_actions", menu_of(check))  # what the check's scan recommends
    return Finding(
        check=check,
        account_id=ACCOUNT,
        region="us-east-1",
        resource_id=resource_id,
        resource_arn=f"arn:aws:ec2:us-east-1:{ACCOUNT}:{resource_id}",
        resource_type="x",
        monthly_savings_usd=None if savings is None else Decimal(savings),
        **kw,
    )


def candidates(*findings: Finding) -> list[Candidate]:
    store = FindingsStore("sqlite://")
    store.record_scan(findings)
    return [candidate_from(store.get(f.fingerprint)) for f in findings]


def test_menus_never_default_to_terminate_or_skip() -> None:
    assert default_action("ec2-idle", menu_of("ec2-idle")) == "stop"
    assert default_action("ec2-stopped", menu_of("ec2-stopped")) == "tag_for_later"
    assert default_action("ec2-idle", ["terminate"]) == "skip"
    assert menu_for("ebs-unattached", ["delete", "nonsense"]) == ("delete", "skip")
    assert menu_for("elb-idle", ["delete", "skip"]) == ("skip",)  # delete is for EBS volumes
    assert not is_actionable("made-up-check", [])
    # One vocabulary: what a check recommends is what the form offers, in the check's order.
    assert menu_for("snapshot-stale", menu_of("snapshot-stale")) == (
        "delete_snapshot",
        "tag_for_later",
        "skip",
    )
    assert menu_for("ec2-stopped", menu_of("ec2-stopped")) == ("tag_for_later", "terminate", "skip")
    assert default_action("s3-stale-multipart", menu_of("s3-stale-multipart")) == (
        "add_abort_multipart_rule"
    )
    assert menu_for("elb-idle", menu_of("elb-idle")) == ("tag_for_later", "skip")
    # Names no action registers (the old per-check vocabulary) are never offered.
    assert menu_for("snapshot-stale", ["delete", "archive", "skip"]) == ("skip",)
    assert menu_for("s3-stale-multipart", ["abort_uploads_and_add_lifecycle_rule"]) == ("skip",)


def test_form_schema_is_ui_friendly_and_nothing_is_approved_by_default() -> None:
    volume, instance = finding("ebs-unattached", "vol-1"), finding("ec2-idle", "i-1")
    cands = candidates(volume, instance)
    form = build_form(cands)
    schema = create_v2_schema(form.__name__, model_base=form)
    props = schema["properties"]
    assert props["decision"] == {
        "default": "reject",
        "description": "Approve or reject.",
        "enum": ["reject", "approve"],
        "title": "Decision",
        "type": "string",
    }
    assert props["findings"]["items"]["enum"] == [c.label for c in cands]
    assert f"{cands[1].label} -> terminate" in props["actions"]["items"]["enum"]
    assert schema["required"] == ["approver"]
    answer = form(approver="ana")
    assert decide(answer.model_dump(), cands).decision == "rejected"
    approved_nothing = decide(form(approver="ana", decision="approve").model_dump(), cands)
    assert approved_nothing.selections == {}


def test_one_finding_still_renders_as_an_enum() -> None:
    cands = candidates(finding("ebs-unattached", "vol-1"))
    schema = create_v2_schema("F", model_base=build_form(cands))
    assert schema["properties"]["findings"]["items"]["enum"] == [cands[0].label]


def test_decide_uses_defaults_explicit_picks_and_refuses_ambiguity() -> None:
    vol, idle, other = (
        finding("ebs-unattached", "vol-1"),
        finding("ec2-idle", "i-1"),
        finding("ebs-unattached", "vol-2"),
    )
    a, b, c = candidates(vol, idle, other)
    decision = decide(
        {
            "decision": "approve",
            "findings": [a.label, b.label, c.label],
            "actions": [
                b.action_label("terminate"),
                c.action_label("delete"),
                c.action_label("snapshot_and_delete"),
            ],
            "approver": " Ana ",
            "comment": "FIN-1",
        },
        [a, b, c],
    )
    assert decision.approver == "Ana"
    assert decision.selections == {a.fingerprint: "snapshot_and_delete", b.fingerprint: "terminate"}
    assert any("several actions" in note for note in decision.notes)


def test_an_action_for_a_finding_not_included_is_ignored() -> None:
    a, b = candidates(finding("ebs-unattached", "vol-1"), finding("ebs-unattached", "vol-2"))
    decision = decide(
        {
            "decision": "approve",
            "findings": [a.label],
            "actions": [b.action_label("delete")],
            "approver": "x",
        },
        [a, b],
    )
    assert decision.selections == {a.fingerprint: "snapshot_and_delete"}
    assert any("not included" in note for note in decision.notes)


def test_cli_answers_fill_the_same_form() -> None:
    vol, idle = finding("ebs-unattached", "vol-1"), finding("ec2-idle", "i-1")
    cands = candidates(vol, idle)
    form = build_form(cands)
    schema = create_v2_schema(form.__name__, model_base=form)
    answer = run_input_for(
        schema, "Ana", only=[vol.fingerprint[:6]], actions=["i-1=terminate"], comment="c"
    )
    assert answer["findings"] == [cands[0].label, cands[1].label]
    assert answer["actions"] == [cands[1].action_label("terminate")]
    form.model_validate(answer)  # the server validates the same way against the schema
    assert decide(answer, cands).selections == {
        vol.fingerprint: "snapshot_and_delete",
        idle.fingerprint: "terminate",
    }
    assert run_input_for(schema, "Ana", reject=True)["decision"] == "reject"
    with pytest.raises(FormError, match="not on this finding's menu; choose from"):
        run_input_for(schema, "Ana", actions=[f"{vol.fingerprint[:8]}=stop"])
    with pytest.raises(FormError, match="not offered by this run"):
        run_input_for(schema, "Ana", only=["vol-404"])
    with pytest.raises(FormError, match="FP=ACTION"):
        run_input_for(schema, "Ana", actions=["vol-1"])
    with pytest.raises(FormError, match="--as NAME"):
        run_input_for(schema, " ")


def test_preview_table_shows_money_risk_owner() -> None:
    cands = candidates(
        finding("ebs-unattached", "vol-1", "1234.5", owner="team-a", risk="medium"),
        finding("ec2-idle", "i-1", None),
    )
    text = preview_markdown(
        cands, dry_run=True, timeout_s=3 * 86400, run_id="r-1", ui_url="http://ui:4200/"
    )
    assert "Approve in the Prefect UI: http://ui:4200/runs/flow-run/r-1 (Resume)." in text
    vol, inst = cands
    assert "#### snapshot_and_delete: 1 finding, $1,234.50/month" in text
    assert (
        f"- `{vol.fingerprint[:12]}` **$1,234.50** · vol-1 · ebs-unattached · …1111/us-east-1 "
        "· risk medium · owner team-a"
    ) in text
    assert f"- `{inst.fingerprint[:12]}` **unknown** · i-1 · ec2-idle" in text  # never $0
    assert "$1,234.50 per month (USD) at stake" in text.splitlines()[0]
    assert "DRY RUN" in text and "expires in 72 h" in text and "finops approve r-1" in text
    assert "RDS starts a stopped DB instance" not in text  # no RDS finding offered
    with_db = preview_markdown(
        candidates(finding("rds-idle", "orders-db", recommended_actions=["stop_db_instance"])),
        dry_run=False,
        timeout_s=60,
    )
    assert "#### stop_db_instance: 1 finding" in with_db
    assert "`stop_db_instance`: RDS starts a stopped DB instance again by itself after 7 days" in (
        with_db
    )


def test_caps_stop_at_resources_and_dollars() -> None:
    caps = Caps(max_resources=2, max_monthly_usd=Decimal("25"))
    assert caps.admit(finding("ebs-unattached", "vol-1", "20")) is None
    assert "monthly" in (caps.admit(finding("ebs-unattached", "vol-2", "10")) or "")
    assert caps.admit(finding("ebs-unattached", "vol-3", "5")) is None
    assert "2 resources" in (caps.admit(finding("ebs-unattached", "vol-4", "0")) or "")


def test_success_rate_leaves_skips_out_and_counts_already_done() -> None:
    def result(outcome: str, reason: str = "") -> ActionResult:
        return ActionResult("f", "vol-1", "ebs-unattached", "delete", outcome, reason)

    results = [result("succeeded")] * 18 + [result("already_done"), result("failed", "boom")]
    results += [result("skipped", "volume attached")] * 3
    summary = summarise(results)
    assert (summary.attempted, summary.succeeded, summary.skipped, summary.failed) == (23, 19, 3, 1)
    assert summary.success_rate == 0.95 and summary.meets_target
    assert summary.skip_reasons == {"volume attached": 3}
    text = report_markdown(results, "approved", "Ana", dry_run=False)
    assert "Automation success rate: **95.0%** (target 95%)" in text
    assert "- 3 x volume attached" in text
    assert summarise([]).success_rate is None


def test_ledger_is_idempotent_per_approval_and_keeps_checkpoints(findings_db_url: str) -> None:
    ledger = RemediationLedger(findings_db_url)
    entry = ledger.approve("run-1", "fp1", "snapshot_and_delete", "ana", "c")
    assert ledger.approve("run-1", "fp1", "snapshot_and_delete", "ana").id == entry.id
    ledger.start(entry.id)
    ledger.checkpoint(entry.id, "snapshot_id", "snap-1")
    (unfinished,) = ledger.unfinished()
    assert (unfinished.status, unfinished.checkpoints, unfinished.attempts) == (
        "in_progress",
        {"snapshot_id": "snap-1"},
        1,
    )
    due = datetime(2026, 12, 1, tzinfo=UTC)
    ledger.finish(entry.id, "marked", {"result": "marked"}, due_at=due)
    assert ledger.unfinished() == [] and ledger.marked()[0].due_at == due
    assert ledger.approve("run-2", "fp1", "snapshot_and_delete", "bo").id != entry.id


def test_local_audit_log_appends_json_lines(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "deep" / "audit.jsonl"))
    log.append(AuditRecord(kind="approval", run_id="r1", approver="Ana", decision="approved"))
    log.append(
        AuditRecord(kind="action", run_id="r1", approver="Ana", action="delete", result="succeeded")
    )
    lines = (tmp_path / "deep" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"approver":"Ana"' in lines[0]
    assert [r.kind for r in log.read()] == ["approval", "action"]


def test_s3_audit_log_writes_one_object_per_record(remediation_aws: AwsWorld) -> None:
    s3 = remediation_aws.client("s3", account_id="123456789012")
    s3.create_bucket(Bucket="finops-audit")
    log = AuditLog("s3://finops-audit/audit/prod", s3_client=s3)
    for n in range(3):
        log.append(AuditRecord(kind="action", run_id=f"r{n}", approver="Ana", result="succeeded"))
    assert [r.run_id for r in log.read()] == ["r0", "r1", "r2"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="finops-audit")["Contents"]]
    assert len(keys) == 3 and all(
        k.startswith("audit/prod/") and k.endswith(".jsonl") for k in keys
    )
    with pytest.raises(ValueError, match="names no bucket"):
        AuditLog("s3:///x")


def test_a_finding_dismissed_while_the_approval_waited_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.findings.model import FindingStatus
    from tasks.remediation.approval import ApprovalDecision
    from tasks.remediation.engine import Remediator
    from tasks.settings import load_settings

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    store = FindingsStore(settings.findings_url)
    volume = finding("ebs-unattached", "vol-1")
    store.record_scan([volume])
    store.transition(volume.fingerprint, "dismissed", actor="bo", reason="kept for DR")

    def no_aws(service: str, account_id: str, region: str) -> Any:
        raise AssertionError("nothing may reach AWS for a dismissed finding")

    audit = AuditLog(settings.audit_log_url)
    engine = Remediator(
        settings, store, RemediationLedger(settings.findings_url), audit, no_aws, "r1", False
    )
    decision = ApprovalDecision("approved", "Ana", "", {volume.fingerprint: "delete"})
    (result,) = engine.execute(engine.record_approval(decision))
    assert (result.result, result.reason) == ("skipped", "finding is dismissed now; left as it is")
    assert store.get(volume.fingerprint).status is FindingStatus.DISMISSED
    assert [r.result for r in audit.read() if r.kind == "action"] == ["skipped"]


def test_caps_skip_the_rest_and_a_failure_is_reported_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.findings.model import FindingStatus
    from tasks.remediation.approval import ApprovalDecision
    from tasks.remediation.engine import Remediator
    from tasks.settings import load_settings

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINOPS_REMEDIATION__MAX_RESOURCES", "1")
    settings = load_settings()
    store = FindingsStore(settings.findings_url)
    first, second = finding("ebs-unattached", "vol-1", "90"), finding("ebs-unattached", "vol-2")
    store.record_scan([first, second])

    def unreachable(service: str, account_id: str, region: str) -> Any:
        raise ConnectionError("endpoint unreachable")

    engine = Remediator(
        settings,
        store,
        RemediationLedger(settings.findings_url),
        AuditLog(settings.audit_log_url),
        unreachable,
        "r1",
        False,
    )
    decision = ApprovalDecision(
        "approved", "Ana", "", {first.fingerprint: "delete", second.fingerprint: "delete"}
    )
    results = engine.execute(engine.record_approval(decision))
    assert [(r.resource_id, r.result) for r in results] == [
        ("vol-1", "failed"),
        ("vol-2", "skipped"),
    ]
    assert results[0].reason == "ConnectionError: endpoint unreachable"
    assert results[1].reason == "per-run cap reached: 1 resources"
    assert store.get(first.fingerprint).status is FindingStatus.FAILED
    assert store.get(second.fingerprint).status is FindingStatus.OPEN
    summary = summarise(results)
    assert (summary.failed, summary.skipped, summary.success_rate) == (1, 1, 0.0)
    assert not summary.meets_target
