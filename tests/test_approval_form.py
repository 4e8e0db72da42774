"""The approval a person reads (issue 16, item 2 and 3): labels, totals, protected resources.

Every option of the Resume form says which account, region and resource, the check, the action,
its monthly dollars, risk and owner, and ends with the fingerprint's first 12 characters; the
preview states the dollars at stake per default action and in total in narrow tables; protected
resources are offered nothing that changes them, are not counted, and are listed apart with why.
"""

from __future__ import annotations

import re

from prefect._internal.pydantic.v2_schema import create_v2_schema

from tasks.remediation.approval import build_form, decide, preview_markdown, run_input_for
from tasks.remediation.menu import default_action, menu_for
from tests.test_remediation_logic import ACCOUNT, candidates, finding

PROTECTED = {"finops:protected": "true"}
#: Where the preview's wide table (for the artifact's page) starts; all above fits the dialog.
FULL_TABLE = "#### Every column"


def _schema(cands: list) -> dict:  # type: ignore[type-arg]
    form = build_form(cands)
    return create_v2_schema(form.__name__, model_base=form)


def test_every_label_carries_account_region_resource_check_action_dollars_risk_owner() -> None:
    cands = candidates(
        finding("ebs-unattached", "vol-0ab", "12.5", owner="ana", risk="low"),
        finding("ec2-idle", "i-0cd", None, owner="bo", risk="medium"),
    )
    vol, inst = cands
    assert vol.label == (
        f"{ACCOUNT}/us-east-1 vol-0ab ebs-unattached → snapshot_and_delete $12.50/mo "
        f"risk low owner ana · {vol.fingerprint[:12]}"
    )
    for c, dollars, risk, owner in (
        (vol, "$12.50/mo", "low", "ana"),
        (inst, "unknown $/mo", "medium", "bo"),
    ):
        for part in (f"{ACCOUNT}/us-east-1", c.resource_id, c.check, c.default, dollars):
            assert part in c.label
        assert f"risk {risk}" in c.label and f"owner {owner}" in c.label
        assert c.label.endswith(c.fingerprint[:12])
    schema = _schema(cands)
    assert schema["properties"]["findings"]["items"]["enum"] == [vol.label, inst.label]


def test_a_long_resource_id_is_shortened_in_the_label_and_still_found_by_the_cli() -> None:
    bucket = "a-very-long-bucket-name-for-the-analytics-team-exports"
    (c,) = candidates(finding("s3-stale-multipart", bucket, "3"))
    assert " a-very-long-bucket-name-for-the-analyti… " in c.label and bucket not in c.label
    assert run_input_for(_schema([c]), "Ana", only=[bucket])["findings"] == [c.label]


def test_protected_resources_are_offered_nothing_that_changes_them() -> None:
    # What the scan stores for a protected resource: only "skip" recommended, the tag, evidence.
    by_tag = finding(
        "ebs-unattached", "vol-kept", "100", tags=PROTECTED, recommended_actions=["skip"]
    )
    by_evidence = finding("ec2-idle", "i-kept", "50", evidence={"protected": True})
    plain = finding("ebs-unattached", "vol-free", "10")
    cands = candidates(by_tag, by_evidence, plain)
    kept_tag, kept_evidence, free = cands
    for c in (kept_tag, kept_evidence):
        assert (c.menu, c.default) == (("skip",), "skip")
        assert c.protected
    assert kept_tag.protected == "protected by tag finops:protected=true"
    assert default_action("ec2-idle", ["stop"], protected=True) == "skip"
    assert menu_for("ebs-unattached", ["delete"], protected=True) == ("skip",)
    props = _schema(cands)["properties"]
    assert props["findings"]["items"]["enum"] == [free.label]
    assert all(free.fingerprint[:12] in a for a in props["actions"]["items"]["enum"])
    # An answer that names them anyway (built by hand, past the form) changes nothing.
    decision = decide(
        {
            "decision": "approve",
            "findings": [kept_tag.label, kept_evidence.label, free.label],
            "actions": [kept_tag.action_label("delete"), kept_evidence.action_label("stop")],
            "approver": "Ana",
        },
        cands,
    )
    assert decision.selections == {free.fingerprint: "snapshot_and_delete"}


def test_a_hand_built_tagged_finding_that_still_recommends_changes_is_offered_nothing() -> None:
    # Not what a scan stores (it recommends only skip), yet the tag alone protects it: the form
    # offers it no changing action and does not count its dollars.
    hand = finding("ebs-unattached", "vol-hand", "469.77", tags=PROTECTED)
    free = finding("ebs-unattached", "vol-free", "12.50")
    c, other = candidates(hand, free)
    assert c.protected == "protected by tag finops:protected=true" and c.default == "skip"
    assert c.menu == ("skip",)
    assert _schema([c, other])["properties"]["findings"]["items"]["enum"] == [other.label]
    assert preview_markdown([c, other], dry_run=False, timeout_s=60).splitlines()[0] == (
        "### Remediation approval: 1 finding, $12.50 per month (USD) at stake"
    )


def test_the_preview_totals_what_is_at_stake_per_action_and_lists_protected_apart() -> None:
    cands = candidates(
        finding("ebs-unattached", "vol-1", "12.50"),
        finding("ebs-unattached", "vol-2", "7.25"),
        finding("ec2-idle", "i-1", "30.00"),
        finding("ec2-idle", "i-2", None),
        finding(
            "ebs-unattached", "vol-kept", "469.77", tags=PROTECTED, recommended_actions=["skip"]
        ),
    )
    text = preview_markdown(cands, dry_run=False, timeout_s=3600)
    assert text.splitlines()[0] == (
        "### Remediation approval: 4 findings, $49.75 per month (USD) at stake"
    )
    assert "| snapshot_and_delete | 2 | $19.75 |" in text
    assert "| stop | 2 | $30.00 |" in text
    assert "| **total** | **4** | **$49.75** |" in text
    assert "sum of the `$…/mo` in the labels you pick" in text
    assert "1 finding(s) have an unknown price" in text
    protected = text[text.index("Protected") :]
    assert "1 finding ($469.77/month)" in protected.splitlines()[0]
    assert "protected by tag finops:protected=true" in protected
    assert "vol-kept" in protected and "vol-kept" not in text[: text.index("Protected")]
    assert "$469.77" not in text[: text.index("Protected")]
    assert "vol-kept" not in text.partition(FULL_TABLE)[2]


def test_the_preview_is_narrow_enough_for_the_resume_dialog() -> None:
    # The dialog is about 400 px wide: tables of at most 3 short columns, one line per finding.
    long_id = "vol-0123456789abcdef0123456789"
    cands = candidates(
        finding("ebs-unattached", long_id, "1234.5", owner="platform-team-ana-and-friends"),
        finding("ec2-idle", "i-0123456789abcdef0", "3"),
    )
    whole = preview_markdown(cands, dry_run=True, timeout_s=60)
    text = whole.partition(FULL_TABLE)[0]  # the wide table for the artifact's page comes last
    rows = [line for line in text.splitlines() if line.startswith("|") and "---" not in line]
    assert rows
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) <= 3, row
        assert all(len(cell) <= 24 for cell in cells), row
    assert not re.search(r"\d{12}/us-east-1/", text), "account/region/resource is too wide"
    (line,) = [x for x in text.splitlines() if cands[0].fingerprint[:12] in x]
    assert "vol-0123456789abcdef012…" in line and long_id not in line
    assert "owner platform-team-a…" in line and "$1,234.50" in line
