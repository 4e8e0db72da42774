"""The Great Expectations (Core 1.x) suite every cost batch passes before it is written.

The batch is validated with GX's own expectations in an ephemeral context over a pandas
datasource.  A few rules need a figure computed from the batch first (a cost that must not be
negative, a day's ratio to its trailing history, the age of an estimated row); those figures are
added as ``check_*`` columns and judged by plain GX expectations, so every failure is reported by
GX with the indices of its offending rows.  Costs and quantities must be finite numbers: an
infinite or NaN figure fails the suite, so it is never stored.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tasks.costs.schema import (
    CHARGE_CATEGORIES,
    COMMITMENT_CATEGORIES,
    COMMITMENT_STATUSES,
    COST_COLUMNS,
    KEY_COLUMNS,
    NULLABLE_KEY_COLUMNS,
    SOURCES,
)

log = logging.getLogger(__name__)

#: Charge categories whose costs may be negative (refunds are usage typed 'Refund...').
NEGATIVE_ALLOWED: tuple[str, ...] = ("Credit", "Adjustment")
STRING_TYPES = ["str"]
FLOAT_TYPES = ["float64", "Float64", "float"]
BOOL_TYPES = ["bool", "boolean", "bool_"]
REQUIRED_TYPES: dict[str, list[str]] = {
    "charge_date": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
    "billed_cost": FLOAT_TYPES,
    "effective_cost": FLOAT_TYPES,
    "list_cost": FLOAT_TYPES,
    "usage_quantity": FLOAT_TYPES,
    "estimated": BOOL_TYPES,
    **{
        c: STRING_TYPES
        for c in (
            "billing_period",
            "billing_account_id",
            "sub_account_id",
            "service",
            "region",
            "charge_category",
            "usage_type",
            "currency",
            "tags",
            "source",
        )
    },
}
#: Figures that must be finite numbers where present: an infinite cost (or a NaN one, which the
#: not-null expectation reports) would be stored and break every sum made from it afterwards.
FINITE = ["billed_cost", "effective_cost", "list_cost", "usage_quantity"]
NON_NULL = [
    *[c for c in KEY_COLUMNS if c not in NULLABLE_KEY_COLUMNS],
    "billing_period",
    "billing_account_id",
    "currency",
    "billed_cost",
    "effective_cost",
    "estimated",
]


@dataclass(frozen=True)
class QualityPolicy:
    """What a batch must satisfy besides its shape.

    Args:
        start: first day of the requested window.
        end: last day of the requested window (inclusive).
        today: the current UTC day (estimated rows are judged against it).
        estimated_recent_days: estimated rows only within this many days before ``today``.
        daily_total_band: a day's usage total must be within [median / band, median x band]
            of its trailing 28 days (judged once at least ``min_history_days`` days are known);
            None turns the band off (for data that is not a time series).
        min_history_days: days of history needed before the band applies.

    Example:
        >>> QualityPolicy(date(2026, 1, 1), date(2026, 1, 31), date(2026, 2, 1)).daily_total_band
        10.0
    """

    start: date
    end: date
    today: date
    estimated_recent_days: int = 5
    daily_total_band: float | None = 10.0
    min_history_days: int = 7
    trailing_days: int = 28


@dataclass
class QualityReport:
    """The outcome of the suite: GX's result and, on failure, a one-paragraph explanation."""

    success: bool
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        """What failed, with a few offending rows per expectation."""
        parts = []
        for failure in self.failures:
            rows = "; ".join(failure["examples"]) or str(failure["observed"])
            parts.append(f"{failure['expectation']} on {failure['column']}: {rows}")
        return "cost batch rejected by data quality: " + " | ".join(parts)

    def markdown(self) -> str:
        """The validation as a markdown table (for a Prefect artifact)."""
        lines = [
            f"**Cost batch quality: {'passed' if self.success else 'FAILED'}** ({self.rows} rows)",
            "",
            "| expectation | column | result | unexpected |",
            "|---|---|---|---|",
        ]
        for item in self.result.get("results", []):
            lines.append(
                f"| {item['expectation']} | {item['column']} | "
                f"{'ok' if item['success'] else 'FAILED'} | {item['unexpected_count']} |"
            )
        for failure in self.failures:
            lines.append("")
            lines.append(
                f"- {failure['expectation']} ({failure['column']}): "
                + "; ".join(failure["examples"])
            )
        return "\n".join(lines)


class QualityError(ValueError):
    """A batch failed the suite; nothing was written.  ``report`` holds the details."""

    def __init__(self, report: QualityReport) -> None:
        super().__init__(report.message())
        self.report = report


def daily_usage_totals(frame: pd.DataFrame) -> pd.Series:
    """Effective cost of Usage rows (refunds aside) per charge day (the figure the band judges).

    Usage on amortized cost is smooth across month starts (commitment fees are Purchase rows),
    so a band on it catches broken batches, not billing calendars.

    Example:
        >>> daily_usage_totals(pd.DataFrame({"charge_date": [date(2026, 1, 1)] * 2,
        ...     "charge_category": ["Usage", "Tax"], "effective_cost": [2.0, 9.0]})).tolist()
        [2.0]
    """
    usage = frame[frame["charge_category"] == "Usage"]
    if "usage_type" in usage.columns:
        # Refunds correct past usage; they are not today's consumption.
        usage = usage[~usage["usage_type"].astype(str).str.startswith("Refund")]
    days = pd.to_datetime(usage["charge_date"]).dt.date
    return usage.groupby(days)["effective_cost"].sum().sort_index()


def day_ratios(
    batch_totals: pd.Series, history_totals: pd.Series, policy: QualityPolicy
) -> pd.Series:
    """Each batch day's total over the median of its trailing days (NaN without enough history).

    Batch days override stored ones (the batch is what will be stored).
    """
    combined = pd.concat(
        [history_totals[~history_totals.index.isin(batch_totals.index)], batch_totals]
    ).sort_index()
    ratios: dict[date, float] = {}
    for day, total in batch_totals.items():
        assert isinstance(day, date)
        window = combined[
            (combined.index < day) & (combined.index >= day - timedelta(days=policy.trailing_days))
        ]
        median = float(window.median()) if len(window) >= policy.min_history_days else np.nan
        ratios[day] = float(total) / median if median and median > 0 else np.nan
    return pd.Series(ratios, dtype="float64")


def prepare(frame: pd.DataFrame, history_totals: pd.Series, policy: QualityPolicy) -> pd.DataFrame:
    """The batch as GX sees it: charge date as a timestamp plus the ``check_*`` columns."""
    batch = frame.reset_index(drop=True).copy()
    if "charge_date" in batch.columns:
        # Unreadable dates become nulls, which the not-null expectation then reports by row.
        batch["charge_date"] = pd.to_datetime(batch["charge_date"], errors="coerce")
    # GX compares pandas' string extension dtypes by identity of their options; plain object
    # columns of Python strings are what its "object" type means.
    for column in batch.columns:
        if pd.api.types.is_string_dtype(batch[column]) and not pd.api.types.is_object_dtype(
            batch[column]
        ):
            batch[column] = batch[column].astype(object).where(batch[column].notna(), None)
    if not {"charge_date", "charge_category", "billed_cost", "effective_cost"} <= set(batch):
        return batch
    negative_ok = batch["charge_category"].isin(NEGATIVE_ALLOWED) | batch.get(
        "usage_type", pd.Series("", index=batch.index)
    ).astype(str).str.startswith("Refund")
    # The figures are computed on numeric copies: a text cost column is the type expectation's
    # to report, not a crash here.
    billed = pd.to_numeric(batch["billed_cost"], errors="coerce").to_numpy(float)
    effective = pd.to_numeric(batch["effective_cost"], errors="coerce").to_numpy(float)
    batch["check_cost_sign"] = np.where(negative_ok, 0.0, np.fmin(billed, effective))
    totals = daily_usage_totals(batch.assign(effective_cost=effective))
    ratios = day_ratios(totals, history_totals, policy)
    batch["check_day_total_ratio"] = batch["charge_date"].dt.date.map(ratios).astype("float64")
    if "estimated" in batch.columns:
        age = (pd.Timestamp(policy.today) - batch["charge_date"]).dt.days.astype("float64")
        batch["check_estimated_age_days"] = age.where(batch["estimated"].astype(bool))
    return batch


def _suite_expectations(policy: QualityPolicy) -> list[Any]:
    import great_expectations.expectations as gxe

    expectations: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(COST_COLUMNS), exact_match=False)
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=t)
        for c, t in REQUIRED_TYPES.items()
    ]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in NON_NULL]
    # Between the largest finite floats: exactly the finite numbers (infinities are outside).
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column=c, min_value=-sys.float_info.max, max_value=sys.float_info.max
        )
        for c in FINITE
    ]
    expectations += [
        gxe.ExpectColumnValueLengthsToBeBetween(column="sub_account_id", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(
            column="charge_category", value_set=list(CHARGE_CATEGORIES)
        ),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=list(SOURCES)),
        # FOCUS allows only these (null where no commitment applies, which the set check skips).
        gxe.ExpectColumnValuesToBeInSet(
            column="commitment_discount_category", value_set=list(COMMITMENT_CATEGORIES)
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="commitment_discount_status", value_set=list(COMMITMENT_STATUSES)
        ),
        gxe.ExpectColumnUniqueValueCountToBeBetween(column="currency", min_value=1, max_value=1),
        gxe.ExpectColumnValuesToBeBetween(
            column="charge_date",
            min_value=pd.Timestamp(policy.start),
            max_value=pd.Timestamp(policy.end),
        ),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(KEY_COLUMNS)),
        gxe.ExpectColumnValuesToBeBetween(column="check_cost_sign", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(
            column="check_estimated_age_days", max_value=float(policy.estimated_recent_days)
        ),
    ]
    if policy.daily_total_band is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="check_day_total_ratio",
                min_value=1.0 / policy.daily_total_band,
                max_value=policy.daily_total_band,
            )
        )
    return expectations


_GX_LOCK = threading.Lock()
_GX_STATE: dict[str, Any] = {}


def _batch_definition() -> Any:
    # One ephemeral context per process: GX's import and context are the slow part.
    if "definition" not in _GX_STATE:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("finops_costs")
        asset = source.add_dataframe_asset("cost_batch")
        _GX_STATE["context"] = context
        _GX_STATE["definition"] = asset.add_batch_definition_whole_dataframe("whole_batch")
    return _GX_STATE["definition"]


def _column_of(config: Any) -> str:
    kwargs = config.kwargs
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return "+".join(kwargs["column_list"])
    return ""


def _examples(batch: pd.DataFrame, indices: list[Any], column: str, limit: int = 3) -> list[str]:
    shown = [
        c
        for c in [
            "charge_date",
            "sub_account_id",
            "service",
            "region",
            "charge_category",
            "usage_type",
        ]
        if c in batch.columns
    ]
    for extra in column.split("+"):
        if extra in batch.columns and extra not in shown:
            shown.append(extra)
    out = []
    for index in indices[:limit]:
        if index in batch.index:
            row = batch.loc[index, shown]
            out.append(", ".join(f"{k}={_show(v)}" for k, v in row.items()))
    return out


def _show(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def validate_batch(
    frame: pd.DataFrame,
    policy: QualityPolicy,
    history_totals: pd.Series | None = None,
) -> QualityReport:
    """Run the suite over a cost batch.

    Args:
        frame: the batch (COST_COLUMNS).
        policy: window, clock and thresholds.
        history_totals: stored daily usage totals before the batch (for the band).

    Returns:
        The report; ``success`` False when any expectation failed.

    Example:
        >>> report = validate_batch(frame, QualityPolicy(start, end, today))  # doctest: +SKIP
        >>> report.success  # doctest: +SKIP
        True
    """
    import great_expectations as gx

    history = history_totals if history_totals is not None else pd.Series(dtype="float64")
    batch = prepare(frame, history, policy)
    with _GX_LOCK:
        definition = _batch_definition()
        suite = gx.ExpectationSuite(name="cost_batch", expectations=_suite_expectations(policy))
        gx_batch = definition.get_batch(batch_parameters={"dataframe": batch})
        result = gx_batch.validate(suite, result_format={"result_format": "COMPLETE"})
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for item in result.results:
        config = item.expectation_config
        column = _column_of(config)
        details = item.result or {}
        indices = list(details.get("unexpected_index_list") or [])
        entry = {
            "expectation": config.type,
            "column": column,
            "success": bool(item.success),
            "unexpected_count": int(details.get("unexpected_count") or 0),
            "observed": details.get("observed_value"),
        }
        results.append(entry)
        if not item.success:
            examples = _examples(batch, indices, column)
            mismatched = (details.get("details") or {}).get("mismatched") or {}
            if mismatched.get("missing"):
                entry["column"] = "+".join(mismatched["missing"])
                examples = [f"missing columns {mismatched['missing']}"]
            failures.append({**entry, "examples": examples})
    summary = {"success": bool(result.success), "rows": len(batch), "results": results}
    return QualityReport(bool(result.success), len(batch), failures, summary)


def check_batch(
    frame: pd.DataFrame, policy: QualityPolicy, history_totals: pd.Series | None = None
) -> QualityReport:
    """Validate and raise :class:`QualityError` on failure (the store must not be touched)."""
    report = validate_batch(frame, policy, history_totals)
    if not report.success:
        raise QualityError(report)
    return report
