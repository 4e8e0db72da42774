"""The flow role's IAM grants equal what the code declares, and remediation never touches protected
resources: the Terraform policy documents (parsed HCL) against ``tasks.permissions``."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.permissions import declared_permissions, is_read_only
from tests.test_infra_structure import INFRA, blocks, named

IAM_MAIN = INFRA / "modules" / "iam" / "main.tf"


def policy(name: str) -> list[dict[str, Any]]:
    """Statements of a policy document of the iam module, each with effect/actions/conditions."""
    body = blocks(IAM_MAIN, "data")[("aws_iam_policy_document", name)]
    statements = []
    for statement in body["statement"]:
        statements.append(
            {
                "sid": statement.get("sid", ""),
                "effect": statement.get("effect", "Allow"),
                "actions": set(statement["actions"]),
                "conditions": [
                    (c["test"], c["variable"], tuple(c["values"]))
                    for c in statement.get("condition", [])
                ],
            }
        )
    return statements


def allowed(name: str) -> set[str]:
    return {a for s in policy(name) if s["effect"] == "Allow" for a in s["actions"]}


@pytest.mark.parametrize("name", ["scan", "pipeline", "remediation"])
def test_granted_actions_equal_the_declared_ones(name: str) -> None:
    declared = declared_permissions()[name]
    granted = allowed(name)
    missing = sorted(declared - granted)
    unused = sorted(granted - declared)
    assert not missing, f"{name} policy lacks actions the code calls: {missing}"
    assert not unused, f"{name} policy grants actions no code calls: {unused}"


def test_scan_policy_is_read_only() -> None:
    writes = sorted(a for a in allowed("scan") if not is_read_only(a))
    assert writes == []
    (assume,) = [s for s in policy("scan") if "sts:AssumeRole" in s["actions"]]
    assert assume["actions"] == {"sts:AssumeRole"}


def test_every_flow_role_policy_is_attached() -> None:
    resources = blocks(IAM_MAIN, "resource")
    attached = {
        body["policy"]
        for (kind, _), body in resources.items()
        if kind == "aws_iam_role_policy" and body["role"] == "${aws_iam_role.flow.id}"
    }
    assert attached == {
        f"${{data.aws_iam_policy_document.{name}.json}}"
        for name in ("scan", "pipeline", "remediation")
    }


def test_remediation_writes_are_tag_conditioned_and_denied_on_protected() -> None:
    statements = policy("remediation")
    writes = {a for a in allowed("remediation") if not is_read_only(a)}
    assert writes, "remediation must grant its write actions"
    protected_key, protected_value = "finops:protected", "true"
    variable = named(INFRA / "modules" / "iam" / "variables.tf", "variable")["protected_tag"]
    assert variable["default"] == f"{protected_key}={protected_value}"
    for statement in statements:
        if statement["effect"] != "Allow" or not statement["actions"] & writes:
            continue
        # Every Allow carrying a write is conditioned on the protection tag not being set.
        assert (
            "StringNotEquals",
            "aws:ResourceTag/${local.protected_key}",
            ("${local.protected_value}",),
        ) in statement["conditions"], statement["sid"]
        assert statement["actions"] <= writes, f"{statement['sid']} mixes reads into writes"
    denies = [s for s in statements if s["effect"] == "Deny"]
    protected_deny = [
        s
        for s in denies
        if (
            "StringEquals",
            "aws:ResourceTag/${local.protected_key}",
            ("${local.protected_value}",),
        )
        in s["conditions"]
    ]
    assert len(protected_deny) == 1
    assert protected_deny[0]["actions"] == writes, "the Deny must cover every write action"
    # The role cannot remove the protection tag either.
    (unprotect,) = [s for s in denies if s is not protected_deny[0]]
    assert unprotect["actions"] == {"ec2:CreateTags", "ec2:DeleteTags"}
    assert unprotect["conditions"] == [
        ("ForAnyValue:StringEquals", "aws:TagKeys", ("${local.protected_key}",))
    ]


def test_the_protected_tag_matches_the_code_default() -> None:
    from tasks.settings import IdleSettings

    variable = named(INFRA / "modules" / "iam" / "variables.tf", "variable")["protected_tag"]
    assert variable["default"] == IdleSettings().protected_tag


def test_listener_role_can_only_consume_and_dead_letter() -> None:
    statements = policy("listener")
    assert {a for s in statements for a in s["actions"]} == {
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    (dead_letter,) = [s for s in statements if s["sid"] == "DeadLetter"]
    assert dead_letter["actions"] == {"sqs:SendMessage"}
