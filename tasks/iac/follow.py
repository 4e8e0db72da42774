"""After a scan: tell each open pull request of the code path which of its findings the scan
still sees (once a day per pull request), so reviewers know the waste is still there.

A merged pull request needs nothing here: once it is applied, the next scan no longer sees the
resource and the findings store resolves the finding (it stayed ``approved`` meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from tasks.findings.model import Finding
from tasks.iac.change import fingerprints_in
from tasks.iac.github import GitHub
from tasks.money import usd_or_unknown


def scan_stamp(scanned_at: datetime) -> str:
    """The marker that makes the comment once a day.

    Example:
        >>> from datetime import UTC
        >>> scan_stamp(datetime(2026, 12, 4, 9, tzinfo=UTC))
        '<!-- finops:scan 2026-12-04 -->'
    """
    return f"<!-- finops:scan {scanned_at.date().isoformat()} -->"


def follow_pull_requests(
    gh: GitHub, base: str, seen: Mapping[str, Finding], scanned_at: datetime
) -> list[int]:
    """Comment on every open pull request whose findings this scan saw again.

    Returns:
        The numbers of the pull requests commented on now.
    """
    stamp = scan_stamp(scanned_at)
    commented: list[int] = []
    for pull in gh.open_pull_requests(base):
        still = [seen[fp] for fp in sorted(fingerprints_in(pull.body)) if fp in seen]
        if not still or any(stamp in body for body in gh.comments(pull.number)):
            continue
        lines = [
            f"The scan of {scanned_at:%Y-%m-%d %H:%M} UTC still sees {len(still)} finding(s) of "
            "this pull request (they resolve once it is merged and applied):",
            "",
            *(
                f"- `{f.resource_id}` ({f.check}, {f.account_id}/{f.region}): "
                f"{usd_or_unknown(f.monthly_savings_usd)} per month (USD)"
                for f in still
            ),
            "",
            stamp,
        ]
        gh.comment(pull.number, "\n".join(lines))
        commented.append(pull.number)
    return commented


__all__ = ["follow_pull_requests", "scan_stamp"]
