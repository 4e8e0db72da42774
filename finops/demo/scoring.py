"""The demo's scores against the sandbox's ground truth: anomalies found vs injected, findings
vs the resources the sandbox flags."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks.settings import AnomalySettings


def findings_vs_truth(
    findings: list[tuple[str, str, str, str]], truth: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Per check: resources the sandbox's ground truth flags, how many of them were found, and
    findings the ground truth does not flag.

    Args:
        findings: (check, account id, region, resource id) of each finding.
        truth: the sandbox ground truth (its ``resources`` carry ``expected`` per check).

    Example:
        >>> truth = {"resources": [{"account_id": "1", "region": "r", "resource_id": "i-1",
        ...     "arn": "", "expected": {"ec2-idle": True, "ec2-stopped": False}}]}
        >>> findings_vs_truth([("ec2-idle", "1", "r", "i-1")], truth)["ec2-idle"]
        {'expected': 1, 'found': 1, 'unexpected': 0}
    """
    flagged: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    aliases: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for record in truth.get("resources", []):
        key = (str(record["account_id"]), str(record["region"]), str(record["resource_id"]))
        if record.get("arn"):
            aliases[(key[0], key[1], str(record["arn"]))] = key
        for check, expected in (record.get("expected") or {}).items():
            if expected:
                flagged[check].add(key)
    reported: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for check, account, region, resource in findings:
        key = (account, region, resource)
        reported[check].add(aliases.get(key, key))
    return {
        check: {
            "expected": len(flagged[check]),
            "found": len(flagged[check] & reported[check]),
            "unexpected": len(reported[check] - flagged[check]),
        }
        for check in sorted(set(flagged) | set(reported))
    }


def anomaly_backtest(
    cost_store_url: str, truth: dict[str, Any], anomaly_settings: AnomalySettings
) -> dict[str, Any]:
    """Injected anomalies found by the daily detector judged causally over the whole history."""
    from tasks.anomalies.backtest import backtest_store

    return backtest_store(cost_store_url, truth.get("anomalies", []), anomaly_settings).as_dict()


@dataclass
class FindingsScore:
    """The findings store judged against the ground truth, on the checks the scan ran."""

    savings_by_check: dict[str, list[Decimal]] = field(default_factory=dict)
    judged: dict[str, dict[str, int]] = field(default_factory=dict)


def score_findings(findings_url: str, truth: dict[str, Any], ran: set[str]) -> FindingsScore:
    """Every stored finding's monthly savings by check, and each check the scan ran judged
    against the resources the sandbox flags (the ground truth also holds variants of some
    checks, which are not judged)."""
    from tasks.findings.store import FindingsStore

    by_check: dict[str, list[Decimal]] = defaultdict(list)
    keys: list[tuple[str, str, str, str]] = []
    for stored in FindingsStore(findings_url).list():
        finding = stored.finding
        by_check[finding.check].append(finding.monthly_savings_usd or Decimal(0))
        keys.append((finding.check, finding.account_id, finding.region, finding.resource_id))
    judged = {c: j for c, j in findings_vs_truth(keys, truth).items() if c in ran}
    return FindingsScore(savings_by_check=dict(by_check), judged=judged)
