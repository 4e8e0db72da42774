"""Hostile approvals and a damaged audit log (issue 15, item 5).

An approver's name is recorded and printed, so a name of only spaces, one with a newline or an
ANSI escape, or one of 10,000 characters is refused before anything is recorded: by the Prefect
form (the model, and the JSON schema the Prefect server checks a UI Resume against), by
``finops approve`` and by the engine.  A comment is stored as given and printed escaped.
``finops audit`` reads past a torn line with one warning naming the file and line.  The CLI
cases run the real ``python -m finops`` in a fresh folder, as ``tests/test_cli_errors.py`` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pydantic
import pytest
from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.utilities.schema_tools import ValidationError as SchemaError
from prefect.utilities.schema_tools import validate

from tasks.findings.store import FindingsStore
from tasks.remediation.approval import (
    ApprovalDecision,
    FormError,
    build_form,
    decide,
    preview_markdown,
    run_input_for,
)
from tasks.remediation.audit import AuditLog, AuditRecord
from tasks.remediation.engine import Remediator
from tasks.remediation.ledger import RemediationLedger
from tasks.settings import load_settings
from tests.plugins.cli import isolated_env
from tests.test_remediation_logic import candidates, finding

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_NAMES = {
    "spaces": "   ",
    "newline": "Mallory\n2026-12-04 09:00:00Z  approval  run=r9  approved by Ana",
    "ansi": "Mallory\x1b[2K\x1b[1GAna",
    "carriage-return": "Mallory\rAna",
    "bidi-override": "Ana\u202eyrollaM",
    "very-long": "A" * 10_000,
}
HOSTILE_COMMENT = (
    "looks fine\r\x1b[2J\x1b[31mdeleted everything\x1b[0m\napproved by root"
    "\u2028line separator\x85next line"  # JSON leaves these raw; they must not split a record
)


def _env(tmp_path: Path) -> dict[str, str]:
    # PYTHONPATH: this checkout's code, whatever the venv's install points at
    return isolated_env(
        tmp_path,
        PYTHONPATH=str(ROOT),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


def _finops(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finops", *args],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _form() -> tuple[type[Any], dict[str, Any], list[Any]]:
    cands = candidates(finding("ebs-unattached", "vol-1"))
    form = build_form(cands)
    return form, create_v2_schema(form.__name__, model_base=form), cands


@pytest.mark.parametrize("name", list(HOSTILE_NAMES))
def test_the_prefect_form_refuses_a_hostile_approver(name: str) -> None:
    form, schema, cands = _form()
    answer = {"decision": "approve", "findings": [cands[0].label], "approver": HOSTILE_NAMES[name]}
    # The flow reading the answer (RunInput.load validates with the model) ...
    with pytest.raises(pydantic.ValidationError, match="approver"):
        form(**answer)
    # ... and the Prefect server, which checks a UI Resume against the saved JSON schema.
    with pytest.raises(SchemaError, match="approver"):
        validate(answer, schema, raise_on_error=True)
    # A hand-built answer that skipped both is refused before it becomes a decision.
    with pytest.raises(ValueError, match="approver's name"):
        decide(answer, cands)


def test_plain_names_still_pass_everywhere() -> None:
    form, schema, cands = _form()
    for name in ("Ana", "  Zoë Ødegård ", "李雷", "O'Brien-Smith (ops)", "x" * 100):
        answer = {"decision": "approve", "findings": [cands[0].label], "approver": name}
        validate(answer, schema, raise_on_error=True)
        assert decide(form(**answer).model_dump(), cands).approver == name.strip()


@pytest.mark.parametrize("name", list(HOSTILE_NAMES))
def test_the_engine_records_nothing_for_a_hostile_approver(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    store = FindingsStore(settings.findings_url)
    volume = finding("ebs-unattached", "vol-1")
    store.record_scan([volume])
    ledger = RemediationLedger(settings.findings_url)
    audit = AuditLog(settings.audit_log_url)

    def no_aws(service: str, account_id: str, region: str) -> Any:
        raise AssertionError("nothing may reach AWS for a refused approval")

    engine = Remediator(settings, store, ledger, audit, no_aws, "r1", dry_run=False)
    decision = ApprovalDecision("approved", HOSTILE_NAMES[name], "", {volume.fingerprint: "delete"})
    with pytest.raises(ValueError, match="approver's name"):
        engine.record_approval(decision)
    assert audit.read() == []
    assert ledger.unfinished() == []
    assert store.get(volume.fingerprint).status.value == "open"


@pytest.mark.parametrize("name", list(HOSTILE_NAMES))
def test_run_input_for_refuses_a_hostile_approver(name: str) -> None:
    _form_cls, schema, _cands = _form()
    with pytest.raises(FormError, match="--as NAME: the approver's name"):
        run_input_for(schema, HOSTILE_NAMES[name], only=["vol-1"])


@pytest.mark.parametrize("name", list(HOSTILE_NAMES))
def test_finops_approve_refuses_a_hostile_name_in_one_line_before_asking_prefect(
    name: str, tmp_path: Path
) -> None:
    result = _finops(tmp_path, "approve", str(uuid.uuid4()), "--as", HOSTILE_NAMES[name])
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --as NAME: "), shown
    assert "\x1b" not in result.stderr and "\r" not in result.stderr, shown
    assert len(lines[0]) < 200, shown  # the 10,000 characters are not echoed back
    assert not (tmp_path / "data" / "audit.jsonl").exists()


def _write_log(tmp_path: Path, records: list[AuditRecord]) -> Path:
    path = tmp_path / "data" / "audit.jsonl"
    log = AuditLog(str(path))
    for record in records:
        log.append(record)
    return path


def test_finops_audit_prints_comments_and_old_names_escaped(tmp_path: Path) -> None:
    # Records written before names were checked still hold whatever they were given.
    _write_log(
        tmp_path,
        [
            AuditRecord(
                kind="approval",
                run_id="r1",
                approver=HOSTILE_NAMES["newline"],
                decision="approved",
                comment=HOSTILE_COMMENT,
            ),
            AuditRecord(
                kind="action",
                run_id="r1",
                approver=HOSTILE_NAMES["ansi"],
                action="delete",
                resource_id="vol-1",
                result="skipped",
                reason="busy\r\x1b[1Asucceeded",
            ),
        ],
    )
    result = _finops(tmp_path, "audit")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout  # one line per record: nothing forged
    assert "approved by Mallory\\n2026-12-04" in lines[0]
    assert "looks fine\\r\\x1b[2J\\x1b[31mdeleted everything\\x1b[0m\\napproved by root" in lines[0]
    assert "\\u2028line separator\\u0085next line" in lines[0]
    assert "by Mallory\\x1b[2K\\x1b[1GAna" in lines[1] and "busy\\r\\x1b[1Asucceeded" in lines[1]
    # --json gives the records exactly as stored.
    raw = _finops(tmp_path, "audit", "--json").stdout.split("\n")
    assert json.loads(raw[0])["comment"] == HOSTILE_COMMENT


def test_a_comment_is_stored_as_given(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    log.append(AuditRecord(kind="approval", run_id="r1", approver="Ana", comment=HOSTILE_COMMENT))
    assert [r.comment for r in log.read()] == [HOSTILE_COMMENT]


def test_finops_audit_reads_past_a_torn_last_line(tmp_path: Path) -> None:
    path = _write_log(
        tmp_path,
        [
            AuditRecord(kind="approval", run_id="r1", approver="Ana", decision="approved"),
            AuditRecord(kind="action", run_id="r1", approver="Ana", action="delete"),
        ],
    )
    whole = path.read_bytes()
    # A crash mid-write: the third record got half written.
    third = AuditRecord(kind="action", run_id="r1", approver="Bo", action="stop")
    path.write_bytes(whole + third.model_dump_json().encode()[:37])
    result = _finops(tmp_path, "audit")
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.returncode == 0, shown
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), shown
    assert str(path) in warnings[0] and "line 3" in warnings[0], shown
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "approval" in lines[0] and "delete" in lines[1], shown


def test_a_garbled_middle_line_is_skipped_and_the_next_append_starts_a_new_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.append(AuditRecord(kind="approval", run_id="r1", approver="Ana"))
    with path.open("ab") as handle:
        handle.write(b'{"kind": "action", "run_id": "r1", "appro')  # torn, no newline
    log.append(AuditRecord(kind="action", run_id="r2", approver="Bo"))
    records, damaged = log.read_with_damage()
    assert [r.run_id for r in records] == ["r1", "r2"]  # the new record was not swallowed
    assert [(d.source, d.number) for d in damaged] == [(str(path), 2)]
    assert "line 2" in damaged[0].warning and str(path) in damaged[0].warning
    assert [r.run_id for r in log.read()] == ["r1", "r2"]


def test_a_hostile_owner_tag_never_breaks_a_label_or_the_preview() -> None:
    owner = "a\n|x\r\x1b*b*[l](h)"
    (cand,) = candidates(finding("ebs-unattached", "vol-1", owner=owner))
    assert "\n" not in cand.label and "\r" not in cand.label and "\x1b" not in cand.label
    assert cand.label.endswith(cand.fingerprint[:12])
    text = preview_markdown([cand], dry_run=True, timeout_s=60)
    (line,) = [x for x in text.splitlines() if x.startswith(f"- `{cand.fingerprint[:12]}`")]
    assert "\x1b" not in text and "\n| x" not in text
    assert all(row.count(" | ") == 7 for row in text.splitlines() if row.startswith("| 1111"))
    assert "owner a \\|x \\*b\\*\\[l\\](h)" in line


def test_a_protected_finding_cannot_be_approved_by_the_cli_or_a_hand_built_answer() -> None:
    kept, free = candidates(
        finding(
            "ec2-idle", "i-kept", tags={"finops:protected": "true"}, recommended_actions=["skip"]
        ),
        finding("ec2-idle", "i-free"),
    )
    form = build_form([kept, free])
    schema = create_v2_schema(form.__name__, model_base=form)
    with pytest.raises(FormError, match="not offered by this run"):
        run_input_for(schema, "Ana", only=[kept.fingerprint[:8]])
    with pytest.raises(FormError, match="not offered by this run"):
        run_input_for(schema, "Ana", actions=[f"{kept.fingerprint[:8]}=terminate"])
    with pytest.raises(pydantic.ValidationError):
        form(approver="Ana", decision="approve", findings=[kept.label])
    answer = {
        "decision": "approve",
        "findings": [kept.label],
        "actions": [f"{kept.label} -> terminate", f"{kept.label} -> stop"],
        "approver": "Ana",
    }
    decision = decide(answer, [kept, free])
    assert decision.selections == {}
    assert any("protected by tag finops:protected=true" in n for n in decision.notes)
