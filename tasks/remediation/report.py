"""A remediation run's outcome in numbers and words: attempted, succeeded, skipped, failed (pure).

Every finding included in an approval has one result, so the counts cover them all
(``attempted = succeeded + skipped + failed``): one the approver set to ``skip`` (or whose
default is ``skip``) is a skip with that reason, as is one a safety check left alone.

The automation success rate is ``succeeded / (succeeded + failed)``: a skip is the safety check
doing its job (the resource changed, a cap was reached), not a failure of the automation, so it
is reported with its reason and left out of the rate.  "Already done" counts as succeeded.
The target is 95%.

The savings achieved are the monthly savings of the findings whose action this run carried out
(``succeeded``), in total and per account/region: a dry run, a mark (``tag_for_later``, nothing
saved until its follow-up runs), a pull request (``proposed``: nothing saved until it is merged
and applied) and "already done" (someone else did it) achieve nothing here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from tasks.money import usd, usd_or_unknown

SUCCESS_TARGET = 0.95
SUCCEEDED = frozenset({"succeeded", "already_done", "dry_run", "marked", "proposed"})
#: The results whose finding's monthly savings this run achieved.
ACHIEVED = frozenset({"succeeded"})


@dataclass(frozen=True)
class ActionResult:
    """One action's result as reported to people."""

    fingerprint: str
    resource_id: str
    check: str
    action: str
    result: str  # succeeded | already_done | dry_run | marked | proposed | skipped | failed
    reason: str = ""
    backup_ids: dict[str, str] = field(default_factory=dict)
    account_id: str = ""
    region: str = ""
    #: The finding's monthly savings when this action saves them (None: it saves nothing,
    #: e.g. taking a mark off, or nobody knows).
    monthly_savings_usd: Decimal | None = None

    @property
    def place(self) -> str:
        """``account/region`` (``?`` for a finding no longer in the store)."""
        return f"{self.account_id or '?'}/{self.region or '?'}"

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
    savings_achieved_usd: Decimal = field(default_factory=Decimal)
    savings_achieved_by_place: dict[str, Decimal] = field(default_factory=dict)

    @property
    def meets_target(self) -> bool:
        return self.success_rate is None or self.success_rate >= SUCCESS_TARGET

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target": SUCCESS_TARGET, "meets_target": self.meets_target}


def savings_achieved(
    results: Sequence[ActionResult], dry_run: bool = False
) -> tuple[Decimal, dict[str, Decimal]]:
    """The monthly savings the succeeded actions achieved: in total, and per account/region.

    Example:
        >>> done = ActionResult("f", "vol-1", "ebs-unattached", "delete", "succeeded",
        ...     account_id="1", region="r", monthly_savings_usd=Decimal("2.5"))
        >>> savings_achieved([done, done])
        (Decimal('5.0'), {'1/r': Decimal('5.0')})
        >>> savings_achieved([done], dry_run=True)
        (Decimal('0'), {})
    """
    by_place: dict[str, Decimal] = {}
    if dry_run:
        return Decimal(0), by_place
    for r in results:
        if r.result in ACHIEVED and r.monthly_savings_usd:
            by_place[r.place] = by_place.get(r.place, Decimal(0)) + r.monthly_savings_usd
    return sum(by_place.values(), Decimal(0)), dict(sorted(by_place.items()))


def summarise(results: Sequence[ActionResult], dry_run: bool = False) -> RunSummary:
    """Count a run's results and add up the savings achieved (none in a dry run).

    Example:
        >>> done = ActionResult("f", "vol-1", "ebs-unattached", "delete", "succeeded")
        >>> summarise([done]).success_rate
        1.0
    """
    succeeded = sum(1 for r in results if r.result in SUCCEEDED)
    skipped = [r for r in results if r.result == "skipped"]
    failed = sum(1 for r in results if r.result == "failed")
    judged = succeeded + failed
    total, by_place = savings_achieved(results, dry_run)
    return RunSummary(
        attempted=len(results),
        succeeded=succeeded,
        skipped=len(skipped),
        failed=failed,
        skip_reasons=dict(Counter(r.reason for r in skipped)),
        success_rate=(succeeded / judged) if judged else None,
        savings_achieved_usd=total,
        savings_achieved_by_place=by_place,
    )


def savings_line(summary: RunSummary, dry_run: bool) -> str:
    """What the run saved, in words.

    Example:
        >>> savings_line(summarise([]), dry_run=True)
        'Savings achieved: $0.00 per month (USD) (dry run: nothing changed)'
    """
    line = f"Savings achieved: {usd(summary.savings_achieved_usd)} per month (USD)"
    return f"{line} (dry run: nothing changed)" if dry_run else line


def report_markdown(
    results: Sequence[ActionResult], status: str, approver: str = "", dry_run: bool = True
) -> str:
    """The run's artifact: the decision, the counts, the rate, and one row per action.

    Example:
        >>> report_markdown([], "rejected", "ana").splitlines()[0]
        '### Remediation run: rejected by ana'
    """
    summary = summarise(results, dry_run)
    rate = "n/a" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    who = f" by {approver}" if approver else ""
    lines = [
        f"### Remediation run: {status}{who}",
        "",
        f"Mode: {'dry run' if dry_run else 'live'}. Attempted {summary.attempted}, "
        f"succeeded {summary.succeeded}, skipped {summary.skipped}, failed {summary.failed}. "
        f"Automation success rate: **{rate}** (target {SUCCESS_TARGET:.0%}).",
        "",
        savings_line(summary, dry_run) + (":" if summary.savings_achieved_by_place else "."),
    ]
    lines += [f"- {where}: {usd(n)}" for where, n in summary.savings_achieved_by_place.items()]
    if summary.skip_reasons:
        lines += ["", "Skipped:"] + [
            f"- {n} x {reason}" for reason, n in summary.skip_reasons.items()
        ]
    if results:
        lines += [
            "",
            "| account/region | resource | check | action | result | reason "
            "| monthly savings (USD) | backups |",
            "|---|---|---|---|---|---|---:|---|",
        ]
        for r in results:
            backups = ", ".join(f"{k}={v}" for k, v in r.backup_ids.items()) or "-"
            lines.append(
                f"| {r.place} | {r.resource_id} | {r.check} | {r.action} | {r.result} "
                f"| {r.reason or '-'} | {usd_or_unknown(r.monthly_savings_usd, '-')} "
                f"| {backups} |"
            )
    return "\n".join(lines)
