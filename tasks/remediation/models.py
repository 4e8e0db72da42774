"""What a ``remediate-findings`` run returns: typed, frozen, JSON-ready (no Prefect, no AWS).

Persisted by Prefect with the run (a suspended run resumes in a new process and returns it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tasks.remediation.report import SUCCESS_TARGET, ActionResult, summarise


class RemediationResult(BaseModel):
    """The decision, who took it, and what each approved action did.

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
    attempted: int = Field(description="Actions attempted (this run's and recovered ones).")
    succeeded: int = Field(description="Actions that succeeded (or were already done).")
    skipped: int = Field(description="Actions a safety check skipped (see skip_reasons).")
    failed: int = Field(description="Actions that failed.")
    skip_reasons: dict[str, int] = Field(description="Skip reason -> count.")
    success_rate: float | None = Field(
        description="succeeded / (succeeded + failed); None when nothing succeeded or failed."
    )
    target: float = Field(SUCCESS_TARGET, description="The success rate aimed at.")
    meets_target: bool = Field(description="Whether the success rate meets the target.")
    actions: list[ActionResult] = Field(
        default_factory=list, description="Every action's result, in order."
    )

    @classmethod
    def of(
        cls, results: list[ActionResult], status: str, approver: str, dry_run: bool
    ) -> RemediationResult:
        """The result of a run from its action results."""
        summary = summarise(results)
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
            actions=list(results),
        )
