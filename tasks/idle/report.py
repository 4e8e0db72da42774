"""Rendering of idle findings for people: the savings-sorted table, its total, failed targets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from tasks.findings.model import Finding
from tasks.money import usd_per_month as usd_month


class _Error(Protocol):
    @property
    def account_id(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def checks(self) -> tuple[str, ...]: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


def by_savings(findings: Iterable[Finding]) -> list[Finding]:
    """Largest monthly savings first; unknown savings last; ties by fingerprint (stable).

    Example:
        >>> by_savings([])
        []
    """
    return sorted(
        findings,
        key=lambda f: (
            f.monthly_savings_usd is None,
            -(f.monthly_savings_usd or Decimal(0)),
            f.fingerprint,
        ),
    )


def total_savings(findings: Iterable[Finding]) -> tuple[Decimal, int]:
    """(sum of known monthly savings, number of findings whose savings are unknown)."""
    total = Decimal(0)
    unknown = 0
    for finding in findings:
        if finding.monthly_savings_usd is None:
            unknown += 1
        else:
            total += finding.monthly_savings_usd
    return total, unknown


def savings_summary(findings: Sequence[Finding]) -> str:
    """One line: how many findings and what they waste.

    Example:
        >>> savings_summary([])
        'Idle scan: 0 findings, estimated savings $0.00 USD/month.'
    """
    total, unknown = total_savings(findings)
    text = f"Idle scan: {len(findings)} findings, estimated savings {usd_month(total)}."
    if unknown:
        text += f" {unknown} finding(s) with unknown price are not in the total."
    return text


def findings_table(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact, largest savings first, with a TOTAL row last."""
    ordered = by_savings(findings)
    rows: list[dict[str, Any]] = [
        {
            "savings (USD/month)": (
                "unknown" if f.monthly_savings_usd is None else f"{f.monthly_savings_usd:.2f}"
            ),
            "check": f.check,
            "account": f.account_id,
            "region": f.region,
            "resource": f.resource_id,
            "owner": f.owner or "",
            "risk": f.risk,
            "actions": " | ".join(f.recommended_actions),
            "title": f.title,
            "fingerprint": f.fingerprint,
        }
        for f in ordered
    ]
    total, unknown = total_savings(ordered)
    rows.append(
        {
            "savings (USD/month)": f"{total:.2f}",
            "check": "TOTAL",
            "account": "",
            "region": "",
            "resource": f"{len(ordered)} findings",
            "owner": "",
            "risk": "",
            "actions": "",
            "title": f"{unknown} with unknown price" if unknown else "",
            "fingerprint": "",
        }
    )
    return rows


def errors_markdown(errors: Sequence[_Error]) -> str:
    """Failed targets as a markdown list (or a line saying none failed).

    Example:
        >>> errors_markdown([])
        'Every target was scanned.'
    """
    if not errors:
        return "Every target was scanned."
    lines = ["# Targets that could not be scanned", ""]
    lines += [
        f"- `{e.account_id}/{e.region}` ({', '.join(e.checks)}): **{e.code}**: {e.message}"
        for e in errors
    ]
    return "\n".join(lines)


def text_table(findings: Iterable[Finding]) -> str:
    """A plain-text table for the terminal, largest savings first, with the total."""
    ordered = by_savings(findings)
    header = f"{'USD/month':>10}  {'check':<18} {'account':<12} {'region':<14} resource"
    lines = [header, "-" * len(header)]
    for f in ordered:
        money = "unknown" if f.monthly_savings_usd is None else f"{f.monthly_savings_usd:.2f}"
        owner = f"  (owner {f.owner})" if f.owner else ""
        lines.append(
            f"{money:>10}  {f.check:<18} {f.account_id:<12} {f.region:<14} {f.resource_id}{owner}"
        )
    lines.append(savings_summary(ordered))
    return "\n".join(lines)


def merge_usage(*row_lists: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum AWS usage rows (``tasks.aws.usage.RequestCounter.as_rows``) of several runs.

    A sharded scan adds its shards' rows to its own (planning) rows.

    Example:
        >>> a = [{"service": "ec2", "operation": "DescribeInstances", "requests": 2,
        ...       "metrics": 0, "cost_usd": 0.0}]
        >>> merge_usage(a, a)[0]["requests"]
        4
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for rows in row_lists:
        for row in rows:
            key = (str(row["service"]), str(row["operation"]))
            into = merged.setdefault(
                key,
                {
                    "service": key[0],
                    "operation": key[1],
                    "requests": 0,
                    "metrics": 0,
                    "cost_usd": 0.0,
                },
            )
            into["requests"] += int(row.get("requests", 0))
            into["metrics"] += int(row.get("metrics", 0))
            into["cost_usd"] = round(into["cost_usd"] + float(row.get("cost_usd", 0.0)), 6)
    return [merged[key] for key in sorted(merged)]


def usage_cost(rows: Iterable[dict[str, Any]]) -> Decimal:
    """The rows' dollars, to the hundredth of a cent.

    Example:
        >>> usage_cost([{"cost_usd": 0.02664}, {"cost_usd": 0.0}])
        Decimal('0.0266')
    """
    return Decimal(str(sum(float(r.get("cost_usd", 0.0)) for r in rows))).quantize(
        Decimal("0.0001")
    )


def usage_line(rows: Sequence[dict[str, Any]]) -> str:
    """One line on what the scan's own AWS requests were and cost (artifacts, daily summary).

    Example:
        >>> print(usage_line([
        ...     {"service": "ec2", "operation": "DescribeInstances", "requests": 2, "metrics": 0,
        ...      "cost_usd": 0.0},
        ...     {"service": "cloudwatch", "operation": "GetMetricData", "requests": 6,
        ...      "metrics": 2664, "cost_usd": 0.02664}]))  # doctest: +NORMALIZE_WHITESPACE
        AWS requests of the scan: 8 (cloudwatch 6 with 2,664 metrics, ec2 2), $0.0266
        (GetMetricData $0.01 per 1,000 metrics; describes free)
    """
    if not rows:
        return "AWS requests of the scan: none counted"
    per_service: dict[str, list[int]] = {}
    for row in rows:
        counts = per_service.setdefault(str(row["service"]), [0, 0])
        counts[0] += int(row.get("requests", 0))
        counts[1] += int(row.get("metrics", 0))
    parts = [
        f"{service} {requests:,}" + (f" with {metrics:,} metrics" if metrics else "")
        for service, (requests, metrics) in sorted(per_service.items(), key=lambda kv: -kv[1][0])
    ]
    total = sum(requests for requests, _ in per_service.values())
    return (
        f"AWS requests of the scan: {total:,} ({', '.join(parts)}), ${usage_cost(rows)} "
        "(GetMetricData $0.01 per 1,000 metrics; describes free)"
    )
