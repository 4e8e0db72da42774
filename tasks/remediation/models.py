"""What a ``remediate-findings`` run returns: typed, frozen, JSON-ready (no Prefect, no AWS).

Persisted by Prefect with the run (a suspended run resumes in a new process and returns it).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from tasks.remediation.report import SUCCESS_TARGET, ActionResult, summarise


class RemediationResult(BaseModel):
    """The decision, who took it, what became of each included finding, and what it saved.

    ``actions`` holds one result per finding included in the approval (a finding set to
    ``skip`` is there as skipped, with why) and per recovered action, so ``attempted`` is
    ``succeeded + skipped + failed``.

    Example:
        >>> RemediationResult.of([], "nothing to approve", "", True).meets_target
        True
    """

    model_config = ConfigDict(frozen=True)

    status: str = Field(
        description="approved, rejected, expired, or 'nothing to approve' (no candidates)."
    )
    approver: str = Field(description="Who decided ('' when nobody did).")
    dry_run: bool = Field(description="True: permissions proven with DryRun, nothing changed.")
    attempted: int = Field(
        description="Findings included (each with its result) plus recovered actions."
    )
    succeeded: int = Field(
        description="Actions that succeeded (or were already done, dry-run, marked)."
    )
    skipped: int = Field(
        description="Included findings left as they are: skip chosen, or a safety check "
        "skipped them (see skip_reasons)."
    )
    failed: int = Field(description="Actions that failed.")
    skip_reasons: dict[str, int] = Field(description="Skip reason -> count.")
    success_rate: float | None = Field(
        description="succeeded / (succeeded + failed); None when nothing succeeded or failed."
    )
    target: float = Field(SUCCESS_TARGET, description="The success rate aimed at.")
    meets_target: bool = Field(description="Whether the success rate meets the target.")
    savings_achieved_usd: Decimal = Field(
        Decimal(0),
        description="Monthly savings (USD) of the findings whose action succeeded; 0 in a dry run.",
    )
    savings_achieved_by_place: dict[str, Decimal] = Field(
        default_factory=dict,
        description="The savings achieved per 'account/region' (only places that saved).",
    )
    actions: list[ActionResult] = Field(
        default_factory=list, description="Every included finding's result, in order."
    )

    @classmethod
    def of(
        cls, results: list[ActionResult], status: str, approver: str, dry_run: bool
    ) -> RemediationResult:
        """The result of a run from its action results."""
        summary = summarise(results, dry_run)
        return cls(
            status=status,
            approver=approver,
            dry_run=dry_run,
            attempted=summary.attempted,
            succeeded=summary.succeeded,
            skipped=summary.skipped,
            failed=summary.failed,
            skip_reasons=summary.skip_reasons,
            success_rate=summary.success_rate,
            meets_target=summary.meets_target,
            savings_achieved_usd=summary.savings_achieved_usd,
            savings_achieved_by_place=summary.savings_achieved_by_place,
            actions=list(results),
        )
