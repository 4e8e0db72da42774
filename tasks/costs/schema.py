"""The FOCUS-aligned cost record schema shared by every cost source, the store and the detectors."""

from __future__ import annotations

import pyarrow as pa

#: Charge categories as FOCUS 1.x names them.
CHARGE_CATEGORIES: tuple[str, ...] = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

#: Where a row came from.
SOURCES: tuple[str, ...] = ("ce", "export")

#: One row is one day x billing account x sub-account x service x region x charge category
#: x usage type x source.  Money columns are USD floats rounded to 1e-6 (sums are rounded to cents
#: only where they are shown to people).
COST_SCHEMA = pa.schema(
    [
        pa.field("charge_date", pa.date32(), nullable=False),  # FOCUS ChargePeriodStart (UTC day)
        pa.field("billing_period", pa.string(), nullable=False),  # 'YYYY-MM' (BillingPeriodStart)
        pa.field("billing_account_id", pa.string(), nullable=False),  # payer / management account
        pa.field("sub_account_id", pa.string(), nullable=False),  # linked (member) account
        pa.field("service", pa.string(), nullable=False),  # FOCUS ServiceName / CE SERVICE
        pa.field("region", pa.string(), nullable=False),  # RegionId; '' when the source has none
        pa.field("charge_category", pa.string(), nullable=False),  # one of CHARGE_CATEGORIES
        pa.field(
            "usage_type", pa.string(), nullable=False
        ),  # CE USAGE_TYPE / x_UsageType; '' if none
        pa.field("billed_cost", pa.float64(), nullable=False),  # FOCUS BilledCost (unblended)
        pa.field("effective_cost", pa.float64(), nullable=False),  # FOCUS EffectiveCost (amortized)
        pa.field("list_cost", pa.float64(), nullable=True),  # FOCUS ListCost, null when unknown
        pa.field("usage_quantity", pa.float64(), nullable=True),  # ConsumedQuantity
        pa.field("usage_unit", pa.string(), nullable=True),  # ConsumedUnit
        pa.field("currency", pa.string(), nullable=False),  # BillingCurrency, e.g. 'USD'
        pa.field("tags", pa.string(), nullable=False),  # JSON object text, '{}' when none
        pa.field("source", pa.string(), nullable=False),  # one of SOURCES
        pa.field("estimated", pa.bool_(), nullable=False),  # CE 'Estimated' flag; False for exports
    ]
)

COST_COLUMNS: list[str] = COST_SCHEMA.names

#: The columns that identify a row; a batch must not repeat a key.
KEY_COLUMNS: list[str] = [
    "charge_date",
    "sub_account_id",
    "service",
    "region",
    "charge_category",
    "usage_type",
    "source",
]

MONEY_COLUMNS: list[str] = ["billed_cost", "effective_cost", "list_cost"]
