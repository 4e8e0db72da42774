"""Prefect tasks of rightsizing: read AWS's optimisers once, org-wide, before the scan."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tasks.aws.session import AwsAccess, Target
from tasks.costs.store import CostStore
from tasks.rightsizing.model import OptimizerAdvice
from tasks.rightsizing.optimizers import fetch_advice
from tasks.rightsizing.rates import get_effective_rates
from tasks.settings import Settings
from tasks.steps import step


@step("fetch-optimizer-advice", retries=1, retry_delay_seconds=2)
def fetch_optimizer_advice(access: AwsAccess, targets: list[Target]) -> OptimizerAdvice:
    """Compute Optimizer and Cost Optimization Hub recommendations for the scan's targets
    (enrolment checked first; a service not opted in or not readable is a note, not a failure).
    Reads only, so a retry is safe."""
    accounts = sorted({t.account_id for t in targets})
    regions = sorted({t.region for t in targets})
    return fetch_advice(access, accounts, regions)


@step("read-effective-rates")
def effective_rates(settings: Settings, now: datetime) -> dict[tuple[str, str], Decimal]:
    """EC2 compute effective / list rates per account x region from the cost store (empty when
    nothing was ingested: savings then stay at list price, and say so)."""
    return get_effective_rates(CostStore(settings.cost_store_url), now.date())
