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
        # Commitment discounts (FOCUS 1.2 CommitmentDiscount*; null on rows no commitment touches).
        pa.field("commitment_discount_id", pa.string(), nullable=True),  # RI / Savings Plan ARN
        pa.field("commitment_discount_category", pa.string(), nullable=True),  # 'Spend' | 'Usage'
        pa.field("commitment_discount_type", pa.string(), nullable=True),  # provider's kind
        pa.field("commitment_discount_status", pa.string(), nullable=True),  # 'Used' | 'Unused'
    ]
)

COST_COLUMNS: list[str] = COST_SCHEMA.names

#: The store's schema version: 1 had no commitment columns, 2 adds the CommitmentDiscount* ones.
#: :meth:`tasks.costs.store.CostStore.upgrade` rewrites older partitions in place.
SCHEMA_VERSION = 2

#: The FOCUS column each commitment column is read from (FOCUS 1.0 and 1.2 share these names).
COMMITMENT_COLUMNS: dict[str, str] = {
    "commitment_discount_id": "CommitmentDiscountId",
    "commitment_discount_category": "CommitmentDiscountCategory",
    "commitment_discount_type": "CommitmentDiscountType",
    "commitment_discount_status": "CommitmentDiscountStatus",
}

#: FOCUS CommitmentDiscountCategory / Status values.
COMMITMENT_CATEGORIES: tuple[str, ...] = ("Spend", "Usage")
COMMITMENT_STATUSES: tuple[str, ...] = ("Used", "Unused")

#: The columns that identify a row; a batch must not repeat a key.
KEY_COLUMNS: list[str] = [
    "charge_date",
    "sub_account_id",
    "service",
    "region",
    "charge_category",
    "usage_type",
    "source",
    # One usage type can be partly covered by a commitment and partly on demand on the same day
    # (or covered by two): those are different rows.  Null where no commitment applies.
    "commitment_discount_id",
    "commitment_discount_status",
]
#: Key columns that may be null (every other key column must hold a value).
NULLABLE_KEY_COLUMNS: tuple[str, ...] = ("commitment_discount_id", "commitment_discount_status")

MONEY_COLUMNS: list[str] = ["billed_cost", "effective_cost", "list_cost"]
