"""Prefect tasks of rightsizing: read AWS's optimisers once, org-wide, before the scan."""

from __future__ import annotations

from tasks.aws.session import AwsAccess, Target
from tasks.rightsizing.model import OptimizerAdvice
from tasks.rightsizing.optimizers import fetch_advice
from tasks.steps import step


@step("fetch-optimizer-advice", retries=1, retry_delay_seconds=2)
def fetch_optimizer_advice(access: AwsAccess, targets: list[Target]) -> OptimizerAdvice:
    """Compute Optimizer and Cost Optimization Hub recommendations for the scan's targets
    (enrolment checked first; a service not opted in or not readable is a note, not a failure).
    Reads only, so a retry is safe."""
    accounts = sorted({t.account_id for t in targets})
    regions = sorted({t.region for t in targets})
    return fetch_advice(access, accounts, regions)
