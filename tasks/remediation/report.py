"""A remediation run's outcome in numbers and words: attempted, succeeded, skipped, failed (pure).

The automation success rate is ``succeeded / (succeeded + failed)``: a skip is the safety check
doing its job (the resource changed, a cap was reached), not a failure of the automation, so it
is reported with its reason and left out of the rate.  "Already done" counts as succeeded.
The target is 95%.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SUCCESS_TARGET = 0.95
SUCCEEDED = frozenset({"succeeded", "already_done", "dry_run", "marked"})


@dataclass(frozen=True)
class ActionResult:
    """One action's result as reported to people."""

    fingerprint: str
    resource_id: str
    check: str
    action: str
    result: str  # succeeded | already_done | dry_run | marked | skipped | failed
    reason: str = ""
    backup_ids: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """Counts and rate of a run."""

    attempted: int
    succeeded: int
    skipped: int
    failed: int
    skip_reasons: dict[str, int]
    success_rate: float | None

    @property
    def meets_target(self) -> bool:
        return self.success_rate is None or self.success_rate >= SUCCESS_TARGET

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target": SUCCESS_TARGET, "meets_target": self.meets_target}


def summarise(results: Sequence[ActionResult]) -> RunSummary:
    """Count a run's results.

    Example:
        >>> done = ActionResult("f", "vol-1", "ebs-unattached", "delete", "succeeded")
        >>> summarise([done]).success_rate
        1.0
    """
    succeeded = sum(1 for r in results if r.result in SUCCEEDED)
    skipped = [r for r in results if r.result == "skipped"]
    failed = sum(1 for r in results if r.result == "failed")
    judged = succeeded + failed
    return RunSummary(
        attempted=len(results),
        succeeded=succeeded,
        skipped=len(skipped),
        failed=failed,
        skip_reasons=dict(Counter(r.reason for r in skipped)),
        success_rate=(succeeded / judged) if judged else None,
    )


def report_markdown(
    results: Sequence[ActionResult], status: str, approver: str = "", dry_run: bool = True
) -> str:
    """The run's artifact: the decision, the counts, the rate, and one row per action.

    Example:
        >>> report_markdown([], "rejected", "ana").splitlines()[0]
        '### Remediation run: rejected by ana'
    """
    summary = summarise(results)
    rate = "n/a" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    who = f" by {approver}" if approver else ""
    lines = [
        f"### Remediation run: {status}{who}",
        "",
        f"Mode: {'dry run' if dry_run else 'live'}. Attempted {summary.attempted}, "
        f"succeeded {summary.succeeded}, skipped {summary.skipped}, failed {summary.failed}. "
        f"Automation success rate: **{rate}** (target {SUCCESS_TARGET:.0%}).",
    ]
    if summary.skip_reasons:
        lines += ["", "Skipped:"] + [
            f"- {n} x {reason}" for reason, n in summary.skip_reasons.items()
        ]
    if results:
        lines += [
            "",
            "| resource | check | action | result | reason | backups |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            backups = ", ".join(f"{k}={v}" for k, v in r.backup_ids.items()) or "-"
            lines.append(
                f"| {r.resource_id} | {r.check} | {r.action} | {r.result} "
                f"| {r.reason or '-'} | {backups} |"
            )
    return "\n".join(lines)
