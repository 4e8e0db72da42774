"""The one action registry: menus name registered actions, checks all run, the demo's set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tasks.idle.checks import CHECKS, ORDER, ordered, validate_menus
from tasks.idle.registry import REGISTRY
from tasks.permissions import declared_permissions
from tasks.remediation.actions import (
    ACTIONS,
    explicit_actions,
    required_permissions,
    safe_actions,
    validate_menu,
)
from tasks.remediation.menu import default_action


def test_every_check_menu_names_registered_actions_for_its_resource_type() -> None:
    validate_menus(CHECKS.values())
    for check in CHECKS.values():
        assert check.actions[-1] == "skip"
        for name in check.actions[:-1]:
            assert check.resource_type in ACTIONS[name].resource_types, (check.name, name)


def test_a_wrong_action_name_on_a_menu_fails_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"'ebs-unattached' offers 'archive'.*not a registered"):
        validate_menu("ebs-unattached", "ec2:volume", ("snapshot_and_delete", "archive", "skip"))
    # "delete" deletes EBS volumes: a load balancer's menu may not offer it.
    with pytest.raises(ValueError, match=r"'elb-idle' offers 'delete' for elasticloadbalancing"):
        validate_menu("elb-idle", "elasticloadbalancing:loadbalancer", ("delete", "skip"))
    with pytest.raises(ValueError, match="must end with 'skip'"):
        validate_menu("ebs-gp2", "ec2:volume", ("modify_to_gp3",))
    broken = replace(REGISTRY["ebs-gp2"], actions=("release", "skip"))
    with pytest.raises(ValueError, match="'ebs-gp2' offers 'release'"):
        validate_menus([broken])


def test_a_registered_check_missing_from_order_fails() -> None:
    with pytest.raises(
        ValueError, match=r"ebs-gp2 registered but missing from tasks\.idle\.checks\.ORDER"
    ):
        ordered(REGISTRY, [n for n in ORDER if n != "ebs-gp2"])
    with pytest.raises(ValueError, match="unregistered"):
        ordered(REGISTRY, [*ORDER, "made-up"])
    assert list(ordered(REGISTRY, ORDER)) == list(ORDER)


def test_safe_actions_keep_what_the_demo_auto_approves() -> None:
    """The demo auto-approves a finding whose default action is safe (reversible or backup)."""
    demo_before = {
        "snapshot_and_delete",
        "modify_to_gp3",
        "add_abort_multipart_rule",
        "stop",
        "tag_for_later",
    }
    assert demo_before <= safe_actions()
    assert not safe_actions() & explicit_actions()
    assert explicit_actions() == {"terminate"}
    for check in CHECKS.values():
        default = default_action(check.name, check.actions)
        assert (default in safe_actions()) == (default in demo_before), check.name


def test_the_remediation_policy_is_the_registry_union() -> None:
    assert set(declared_permissions()["remediation"]) == set(required_permissions())
    assert all(spec.permissions and spec.description for spec in ACTIONS.values())


def test_a_follow_up_must_be_on_the_menu() -> None:
    broken = replace(REGISTRY["ec2-idle"], follow_up="release")
    with pytest.raises(ValueError, match="follow_up 'release'"):
        validate_menus([broken])


def test_the_engine_checks_origin_states_once_before_the_action_runs() -> None:
    """Outside the valid states: skipped with the reason; in an end state: already done."""
    from datetime import UTC, datetime
    from typing import Any

    from tasks.findings.model import Finding
    from tasks.remediation.actions import ActionContext, ActionOutcome, AlreadyDone, Skip
    from tasks.remediation.engine import carry_out

    ran: list[str] = []

    def act(ctx: ActionContext, before: dict[str, Any]) -> ActionOutcome:
        ran.append(before["state"])
        return ActionOutcome("succeeded", before)

    finding = Finding(
        check="ec2-idle",
        account_id="111111111111",
        region="us-east-1",
        resource_id="i-1",
        resource_arn="arn:aws:ec2:us-east-1:111111111111:instance/i-1",
        resource_type="ec2:instance",
        detected_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    cases: list[tuple[str, type[Exception] | None, str]] = [
        ("pending", Skip, "instance is pending; stop needs running"),
        ("stopped", AlreadyDone, "instance already stopped"),
        ("running", None, ""),
    ]
    for state, expected, message in cases:
        spec = replace(ACTIONS["stop"], apply=act, read=lambda ctx, s=state: {"state": s})
        ctx = ActionContext(finding=finding, client=lambda service: None)
        if expected is None:
            assert carry_out(spec, ctx).result == "succeeded"
        else:
            with pytest.raises(expected) as raised:
                carry_out(spec, ctx)
            assert str(raised.value) == message
    assert ran == ["running"]
    protected = replace(
        ACTIONS["stop"], apply=act, read=lambda ctx: {"state": "running", "tags": {"p": "1"}}
    )
    with pytest.raises(Skip, match="protected tag p=1 present"):
        carry_out(protected, ActionContext(finding=finding, client=print, protected_tag=("p", "1")))
    assert ran == ["running"]
