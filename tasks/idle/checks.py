"""Every registered idle/waste check, the order they run in, and the IAM read permissions.

This is the one module that imports the rules (one module per resource area); the rules
register into ``tasks.idle.registry``, which imports none of them.  When this module loads it
refuses, with one line saying what to fix:

* a registered check missing from ``ORDER`` (it would be accepted in settings and never run),
  or a name in ``ORDER`` that no rule registered;
* a check whose action menu names an action that is not registered
  (``tasks.remediation.actions``) or does not apply to the check's resource type, or whose
  ``follow_up`` (what a due ``tag_for_later`` mark does) is not on its menu.

The Terraform read-only scan policy is compared against ``IAM_READ_PERMISSIONS``: nothing the
code needs may be missing from it, nothing unused granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tasks.idle import rules_compute, rules_data, rules_network, rules_storage
from tasks.idle.registry import REGISTRY, Check, CheckConfigError

# Importing the registry module runs the package tasks.remediation.actions first, which
# registers every action; the registry module itself is pure (no boto3).
from tasks.remediation.actions.registry import validate_menu
from tasks.rightsizing import rules as rightsizing_rules
from tasks.rightsizing import rules_ebs as rightsizing_rules_ebs

#: The order checks are listed and run in (the issue's order: compute, storage, network, data).
ORDER: tuple[str, ...] = (
    "ec2-idle",
    "ec2-stopped",
    "ebs-unattached",
    "ebs-gp2",
    "ebs-idle",
    "snapshot-stale",
    "eip-unassociated",
    "elb-idle",
    "nat-idle",
    "rds-idle",
    "s3-stale-multipart",
    "ec2-rightsize",
    "ebs-rightsize",
)

#: Checks that run only when named (``--checks`` or ``settings.idle.checks``): rightsizing reads
#: AWS's optimisers org-wide first and proposes restarts, so it is asked for, not implied.
OPT_IN: frozenset[str] = frozenset({rightsizing_rules.CHECK, rightsizing_rules_ebs.CHECK})


def ordered(registry: Mapping[str, Check[Any]], order: Iterable[str]) -> dict[str, Check[Any]]:
    """The registered checks in ``order``; every registered check must be in it, and only those.

    Raises:
        ValueError: a check is registered but not ordered (it would never run), or the reverse.

    Example:
        >>> list(ordered(REGISTRY, ORDER))[:2]
        ['ec2-idle', 'ec2-stopped']
    """
    order = tuple(order)
    missing = [name for name in registry if name not in order]
    if missing:
        raise ValueError(
            f"check(s) {', '.join(missing)} registered but missing from tasks.idle.checks.ORDER;"
            " add them there or they would never run"
        )
    unknown = [name for name in order if name not in registry]
    if unknown:
        raise ValueError(f"tasks.idle.checks.ORDER names unregistered check(s) {unknown}")
    return {name: registry[name] for name in order}


def validate_menus(checks: Iterable[Check[Any]]) -> None:
    """Every check's menu names registered actions for its resource type, ending with skip.

    Raises:
        ValueError: one line naming the check and the wrong action.
    """
    for check in checks:
        validate_menu(check.name, check.resource_type, check.actions)
        if check.follow_up is not None and (
            check.follow_up not in check.actions or "tag_for_later" not in check.actions
        ):
            raise ValueError(
                f"check {check.name!r}: follow_up {check.follow_up!r} needs both it and "
                f"'tag_for_later' on the menu {list(check.actions)}"
            )


#: name -> check, in ORDER.
CHECKS: dict[str, Check[Any]] = ordered(REGISTRY, ORDER)
validate_menus(CHECKS.values())


def select_checks(names: Iterable[str] | None) -> list[Check[Any]]:
    """The checks to run, by name (empty or None = all but the :data:`OPT_IN` ones), in ``ORDER``.

    Raises:
        CheckConfigError: a name is not a registered check.
    """
    wanted = [n.strip() for n in (names or []) if n.strip()]
    unknown = [n for n in wanted if n not in CHECKS]
    if unknown:
        raise CheckConfigError(
            f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}"
        )
    if not wanted:
        return [c for n, c in CHECKS.items() if n not in OPT_IN]
    return [c for n, c in CHECKS.items() if n in wanted]


#: What the scan itself needs besides the checks: assuming member roles, discovering accounts
#: and regions, and (optionally) asking the AWS Pricing API.
SCAN_PERMISSIONS: frozenset[str] = frozenset(
    {
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
        "organizations:ListAccounts",
        "ec2:DescribeRegions",
        "pricing:GetProducts",
    }
)

#: Every IAM action the scan-idle-resources flow calls, read-only.
IAM_READ_PERMISSIONS: frozenset[str] = frozenset(
    {p for check in CHECKS.values() for p in check.permissions} | SCAN_PERMISSIONS
)

__all__ = [
    "CHECKS",
    "IAM_READ_PERMISSIONS",
    "OPT_IN",
    "ORDER",
    "SCAN_PERMISSIONS",
    "ordered",
    "rightsizing_rules",
    "rightsizing_rules_ebs",
    "rules_compute",
    "rules_data",
    "rules_network",
    "rules_storage",
    "select_checks",
    "validate_menus",
]
