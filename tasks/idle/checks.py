"""Every registered idle/waste check, and the IAM read permissions the scan needs.

Importing this module registers the checks (one module per resource area).  The Terraform
read-only scan policy is compared against ``IAM_READ_PERMISSIONS``: nothing the code needs may be
missing from it, nothing unused granted.
"""

from __future__ import annotations

from typing import Any

from tasks.idle import rules_compute, rules_data, rules_network, rules_storage
from tasks.idle.registry import REGISTRY, Check

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
)

#: name -> check.
CHECKS: dict[str, Check[Any]] = {name: REGISTRY[name] for name in ORDER}

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
    "SCAN_PERMISSIONS",
    "rules_compute",
    "rules_data",
    "rules_network",
    "rules_storage",
]
