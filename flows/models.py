"""What ``finops-daily`` returns: each stage's typed result (no Prefect import).

Each stage's model lives beside its capability; this module only gathers them.
``model_dump(mode="json")`` is the JSON the demo and the run's artifacts show.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from tasks.anomalies.models import AnomalyCheckResult
from tasks.costs.models import IngestResult
from tasks.idle.models import IdleScanResult
from tasks.notify.models import ReportResult


class DailyResult(BaseModel):
    """One ``finops-daily`` run: the stages' results (None when a stage failed or did not run).

    Example:
        >>> DailyResult(day=date(2026, 11, 25)).model_dump(mode="json")["day"]
        '2026-11-25'
    """

    model_config = ConfigDict(frozen=True)

    day: date = Field(description="The day reported on.")
    ingest: IngestResult | None = Field(None, description="What ingest-costs did.")
    anomalies: AnomalyCheckResult | None = Field(
        None, description="What check-cost-anomalies found (runs only after a good ingest)."
    )
    scan: IdleScanResult | None = Field(None, description="What scan-idle-resources found.")
    report: ReportResult | None = Field(None, description="What the report delivered.")
    approval_flow_run_id: str | None = Field(
        None, description="The remediation run started to wait for approval, if any."
    )
    awaiting_approval: int = Field(0, description="Findings waiting for a person's decision.")
    timings_s: dict[str, float] = Field(
        default_factory=dict, description="Seconds per stage, in the order they finished."
    )
    failures: dict[str, str] = Field(
        default_factory=dict, description="Stage -> its error ('Type: message')."
    )
