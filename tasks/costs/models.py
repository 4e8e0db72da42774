"""What an ``ingest-costs`` run returns: typed, frozen, JSON-ready (no Prefect, no AWS).

``model_dump(mode="json")`` is the JSON ``finops ingest --json`` prints: dates as ISO days,
money as strings of Decimal cents.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class IngestBatch(BaseModel):
    """One window (Cost Explorer) or billing period (export) fetched, validated and written."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="Where the batch came from: 'ce' or 'export'.")
    rows: int = Field(description="Cost rows written.")
    days: int = Field(description="Distinct charge days in the batch.")
    billed_cost: Decimal = Field(description="Sum of billed cost, cents.")
    effective_cost: Decimal = Field(description="Sum of effective cost, cents.")
    currency: str = Field(description="Currency of the costs ('/'-joined if several).")
    detail: str = Field("", description="What was read, e.g. '3 files, 1200 line items'.")
    start: date = Field(description="First day of the batch.")
    end: date = Field(description="Last day of the batch (inclusive).")


class SourceTotals(BaseModel):
    """Billed and effective cost of one source over the run."""

    model_config = ConfigDict(frozen=True)

    billed_cost: Decimal = Field(description="Billed cost, cents.")
    effective_cost: Decimal = Field(description="Effective cost, cents.")
    currency: str = Field(description="Currency of the costs.")


class IngestResult(BaseModel):
    """What an ``ingest-costs`` run did: batches, totals per source and the Cost Explorer bill.

    Example:
        >>> IngestResult(source="ce").model_dump(mode="json")["ce_cost_usd"]
        '0.00'
    """

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The source ingested: 'ce' or 'export'.")
    rows: int = Field(0, description="Cost rows written over all batches.")
    days: int = Field(0, description="Charge days written over all batches.")
    totals: dict[str, SourceTotals] = Field(
        default_factory=dict, description="Billed and effective cost per source."
    )
    ce_requests: int = Field(0, description="Cost Explorer requests made (each is billed).")
    ce_throttled_retries: int = Field(0, description="Cost Explorer requests retried on throttle.")
    ce_cost_usd: Decimal = Field(Decimal("0.00"), description="What the requests cost, USD.")
    export_line_items: int = Field(0, description="Line items read from the data export.")
    batches: list[IngestBatch] = Field(default_factory=list, description="Batches written.")
    skipped: list[str] = Field(
        default_factory=list, description="Notes on billing periods left alone (unchanged)."
    )
    aws_requests: dict[str, int] = Field(
        default_factory=dict,
        description="AWS requests the run made through boto3, by 'service:Operation' (retries "
        "included).",
    )
    aws_cost_usd: dict[str, Decimal] = Field(
        default_factory=dict,
        description="What those requests (and Athena's scanned bytes) cost, USD, per service and "
        "'total'.",
    )
    athena_bytes_scanned: int = Field(0, description="Bytes Athena scanned for the run.")
