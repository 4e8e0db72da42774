"""Cost Explorer ``GetCostAndUsage`` into the FOCUS-aligned cost frame: get_* pages, transform_*.

``GetCostAndUsage`` has no boto3 paginator, so :func:`get_cost_and_usage` follows
``NextPageToken`` itself.  Every request costs $0.01, so the requests are counted.  Cost Explorer
allows two GroupBy keys; REGION / RECORD_TYPE detail (when configured) is gathered by extra
passes: one discovery pass grouping by the detail dimension, then one pass per detail value
filtered on it and grouped by the configured pair.  An answer that does not hold what the API
promises (a result without TimePeriod, a day that is not a date, an amount that is not a number)
is one :class:`CostExplorerError` line saying what AWS returned.

Over 400 lines (about 500 with its documentation, 340 of code): the requests, their paging and
backoff, the checks of what the pages hold and their transform into the cost frame are one API's
adapter.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError

from tasks.aws.common import error_code, error_message
from tasks.costs.schema import COST_COLUMNS, KEY_COLUMNS
from tasks.costs.window import DayRange

log = logging.getLogger(__name__)

#: Cost Explorer is a global service answered in us-east-1 only.
CE_REGION = "us-east-1"
#: AWS price of one Cost Explorer API request (each page is a request), USD.
CE_REQUEST_USD = 0.01

#: IAM actions this adapter calls (collected by tasks.permissions for the Terraform policy).
IAM_PERMISSIONS: tuple[str, ...] = ("ce:GetCostAndUsage",)
METRICS: tuple[str, ...] = ("UnblendedCost", "AmortizedCost", "NetAmortizedCost", "UsageQuantity")

#: CE dimension -> the cost-frame column it fills.
DIMENSION_COLUMNS: dict[str, str] = {
    "LINKED_ACCOUNT": "sub_account_id",
    "SERVICE": "service",
    "REGION": "region",
    "RECORD_TYPE": "charge_category",
    "USAGE_TYPE": "usage_type",
}
DETAIL_DIMENSIONS: tuple[str, ...] = ("REGION", "RECORD_TYPE")

#: CE RECORD_TYPE -> FOCUS ChargeCategory (fees and support are purchases, refunds adjustments).
RECORD_TYPE_CATEGORY: dict[str, str] = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Adjustment",
    "BundledDiscount": "Credit",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "Support": "Purchase",
    "Other": "Adjustment",
    "Adjustment": "Adjustment",
}

#: CE RECORD_TYPE -> FOCUS (CommitmentDiscountCategory, CommitmentDiscountType,
#: CommitmentDiscountStatus).  CE does not name the commitment, so the id stays null; a fee row
#: carries the commitment's category and type but no status (FOCUS leaves purchases' status null).
RECORD_TYPE_COMMITMENT: dict[str, tuple[str, str, str | None]] = {
    "SavingsPlanCoveredUsage": ("Spend", "Savings Plan", "Used"),
    "SavingsPlanNegation": ("Spend", "Savings Plan", "Used"),
    "DiscountedUsage": ("Usage", "Reserved Instance", "Used"),
    "SavingsPlanRecurringFee": ("Spend", "Savings Plan", None),
    "SavingsPlanUpfrontFee": ("Spend", "Savings Plan", None),
    "RIFee": ("Usage", "Reserved Instance", None),
}

NO_REGION = "NoRegion"
THROTTLE_CODES = frozenset({"LimitExceededException", "ThrottlingException"})
#: Errors a person must act on; each gets a one-line explanation.
FATAL_HINTS: dict[str, str] = {
    "DataUnavailableException": (
        "Cost Explorer has no data for this range yet (new account, or Cost Explorer enabled "
        "less than 24 hours ago); retry later or ingest from the data export"
    ),
    "AccessDeniedException": (
        "the caller may not call ce:GetCostAndUsage (Cost Explorer not enabled, or a member "
        "account without Cost Explorer access); run from the management account or grant "
        "ce:GetCostAndUsage"
    ),
    "AccessDenied": (
        "the caller may not call ce:GetCostAndUsage; run from the management account or grant "
        "ce:GetCostAndUsage"
    ),
    "BillExpirationException": "the requested range is older than Cost Explorer keeps (14 months)",
    "ValidationException": "Cost Explorer rejected the request",
}


class CostExplorerError(RuntimeError):
    """A Cost Explorer call failed in a way retries do not fix; the message is one line."""


@dataclass
class RequestCounter:
    """Cost Explorer requests made (each page is one billed request).

    Example:
        >>> counter = RequestCounter(); counter.requests = 3; counter.cost_usd
        0.03
    """

    requests: int = 0
    throttled: int = 0

    @property
    def cost_usd(self) -> float:
        return round(self.requests * CE_REQUEST_USD, 2)


@dataclass(frozen=True)
class CePass:
    """One series of GetCostAndUsage pages: a GroupBy pair, an optional filter, fixed columns."""

    group_by: tuple[str, ...]
    filter: dict[str, Any] | None = None
    fixed: dict[str, str] = field(default_factory=dict)  # column -> value implied by the filter


def group_by_spec(keys: Sequence[str]) -> list[dict[str, str]]:
    """CE ``GroupBy`` request entries for dimension names.

    Example:
        >>> group_by_spec(["LINKED_ACCOUNT", "SERVICE"])[0]
        {'Type': 'DIMENSION', 'Key': 'LINKED_ACCOUNT'}
    """
    for key in keys:
        if key not in DIMENSION_COLUMNS:
            raise ValueError(
                f"GroupBy {key!r} is not supported by the cost store; use two of "
                f"{', '.join(DIMENSION_COLUMNS)}"
            )
    return [{"Type": "DIMENSION", "Key": key} for key in keys]


def _call_with_backoff(
    call: Callable[[], dict[str, Any]],
    counter: RequestCounter,
    max_attempts: int,
    base_delay_s: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    # botocore's standard mode already retries both throttling codes a few times; CE's
    # per-account request rate is low, so a bounded outer retry with longer, growing waits
    # covers bursts that outlast botocore's attempts.
    for attempt in range(1, max_attempts + 1):
        try:
            counter.requests += 1
            return call()
        except ClientError as error:
            code, message = error_code(error), error_message(error)
            if code in THROTTLE_CODES and attempt < max_attempts:
                counter.throttled += 1
                delay = base_delay_s * 2 ** (attempt - 1)
                log.warning(
                    "Cost Explorer %s (attempt %d); retrying in %.1fs", code, attempt, delay
                )
                sleep(delay)
                continue
            if code in THROTTLE_CODES:
                raise CostExplorerError(
                    f"Cost Explorer still throttling ({code}) after {max_attempts} attempts; "
                    "run again later or fetch a shorter range"
                ) from None
            hint = FATAL_HINTS.get(code)
            if hint is None:
                raise
            raise CostExplorerError(f"Cost Explorer {code}: {hint} ({message})") from None
    raise AssertionError("unreachable")  # pragma: no cover


def get_cost_and_usage(
    client: Any,
    window: DayRange,
    group_by: Sequence[str],
    counter: RequestCounter,
    cost_filter: dict[str, Any] | None = None,
    metrics: Sequence[str] = METRICS,
    max_attempts: int = 5,
    base_delay_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Every page of a DAILY GetCostAndUsage over a window, following ``NextPageToken``.

    Args:
        client: a boto3 ``ce`` client (us-east-1).
        window: the days; CE's End is exclusive, as is ``window.end``.
        group_by: one or two dimension names.
        counter: counts requests (and throttled retries) for the run's cost report.
        cost_filter: an optional CE ``Filter`` expression.
        metrics: the metrics requested.
        max_attempts: attempts per page when throttled.
        base_delay_s: first backoff delay; doubled per attempt.
        sleep: the wait function (tests pass a no-op).

    Yields:
        The raw response pages.

    Example:
        >>> january = DayRange(date(2026, 1, 1), date(2026, 2, 1))
        >>> pages = get_cost_and_usage(ce, january, ["SERVICE"], RequestCounter())  # doctest: +SKIP
    """
    request: dict[str, Any] = {
        "TimePeriod": {"Start": window.start.isoformat(), "End": window.end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": list(metrics),
        "GroupBy": group_by_spec(group_by),
    }
    if cost_filter:
        request["Filter"] = cost_filter
    token: str | None = None
    while True:
        kwargs = dict(request, NextPageToken=token) if token else request
        page = _call_with_backoff(
            lambda kwargs=kwargs: client.get_cost_and_usage(**kwargs),  # type: ignore[misc]
            counter,
            max_attempts,
            base_delay_s,
            sleep,
        )
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


#: What a malformed answer's error adds: the user cannot fix AWS, only retry or fix a stand-in.
MALFORMED_HINT = (
    "run again later; if it persists, check AWS_ENDPOINT_URL (a proxy or stand-in answering "
    "for Cost Explorer)"
)


def _malformed(what: str) -> CostExplorerError:
    return CostExplorerError(f"Cost Explorer returned {what}; {MALFORMED_HINT}")


def _listed(container: Any, name: str, where: str) -> list[Any]:
    # A list member of the answer ([] when absent); anything else is a malformed answer.
    value = container.get(name, []) if isinstance(container, dict) else None
    if not isinstance(value, list):
        raise _malformed(f"{name} that is not a list ({type(value).__name__}) in {where}")
    return value


def _result_day(result: Any) -> date:
    """The day of one ``ResultsByTime`` entry (its ``TimePeriod.Start``)."""
    period = result.get("TimePeriod") if isinstance(result, dict) else None
    if not isinstance(period, dict):
        raise _malformed("a ResultsByTime entry without TimePeriod")
    start = period.get("Start")
    if not isinstance(start, str):
        raise _malformed("a ResultsByTime entry without TimePeriod.Start")
    try:
        return date.fromisoformat(start[:10])
    except ValueError:
        raise _malformed(f"TimePeriod.Start {start!r}, which is not a date (YYYY-MM-DD)") from None


def _group_keys(group: Any, count: int, where: str) -> list[str]:
    """A group's ``Keys``: one string per GroupBy dimension."""
    keys = group.get("Keys") if isinstance(group, dict) else None
    if (
        not isinstance(keys, list)
        or len(keys) != count
        or not all(isinstance(k, str) for k in keys)
    ):
        raise _malformed(f"Keys {keys!r} for {count} GroupBy dimension(s) on {where}")
    return keys


def _amount(metrics: dict[str, Any], name: str, where: str) -> float | None:
    # A metric's Amount as a float (None when absent).  "Infinity" and "NaN" parse: whether a
    # figure is an acceptable cost is the quality suite's decision, which refuses them.
    value = metrics.get(name)
    if value is None:
        return None
    amount = value.get("Amount") if isinstance(value, dict) else value
    if amount in (None, ""):
        return None
    try:
        return float(amount)
    except (TypeError, ValueError):
        raise _malformed(
            f"{name} Amount {amount!r} on {where}, which is not a number like '12.34'"
        ) from None


def transform_pages(
    pages: Sequence[dict[str, Any]],
    group_by: Sequence[str],
    billing_account_id: str,
    fixed: dict[str, str] | None = None,
) -> pd.DataFrame:
    """CE response pages -> cost frame rows (source='ce', ``Estimated`` kept per row).

    Rows whose grouping leaves the charge category unknown are 'Usage', except the CE service
    'Tax' ('Tax') and a net-negative group ('Credit': without RECORD_TYPE detail CE nets credits
    into their service).  RECORD_TYPE values map to FOCUS charge categories; types that map to the
    same category are summed.  Effective cost is NetAmortizedCost (FOCUS EffectiveCost is after
    negotiated discounts), falling back to AmortizedCost.

    Raises:
        CostExplorerError: the answer is malformed (a result without TimePeriod, a day that is
            not a date, an amount that is not a number, Keys not matching the GroupBy); one line
            saying what AWS returned.

    Example:
        >>> page = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-01-01", "End": "2026-01-02"},
        ...   "Estimated": True, "Groups": [{"Keys": ["111111111111", "Amazon S3"], "Metrics": {
        ...   "UnblendedCost": {"Amount": "1.5", "Unit": "USD"}}}]}]}
        >>> frame = transform_pages([page], ["LINKED_ACCOUNT", "SERVICE"], "123456789012")
        >>> frame[["service", "billed_cost", "estimated"]].values.tolist()
        [['Amazon S3', 1.5, True]]
    """
    fixed = dict(fixed or {})
    records: list[dict[str, Any]] = []
    for page in pages:
        for result in _listed(page, "ResultsByTime", "a GetCostAndUsage page"):
            day = _result_day(result)
            estimated = bool(result.get("Estimated", False))
            for group in _listed(result, "Groups", f"the result of {day}"):
                keys = _group_keys(group, len(group_by), str(day))
                where = f"{day} for {keys}"
                metrics = group.get("Metrics") or {}
                if not isinstance(metrics, dict):
                    raise _malformed(f"Metrics {metrics!r} on {where}")
                billed = _amount(metrics, "UnblendedCost", where)
                if billed is None:
                    continue
                amortized = _amount(metrics, "AmortizedCost", where)
                net_amortized = _amount(metrics, "NetAmortizedCost", where)
                effective = net_amortized if net_amortized is not None else amortized
                quantity = _amount(metrics, "UsageQuantity", where)
                unit = (metrics.get("UsageQuantity") or {}).get("Unit") or None
                record: dict[str, Any] = {
                    "charge_date": day,
                    "billing_period": day.strftime("%Y-%m"),
                    "billing_account_id": billing_account_id,
                    "sub_account_id": billing_account_id,
                    "service": "",
                    "region": "",
                    "charge_category": "",
                    "usage_type": "",
                    "billed_cost": billed,
                    "effective_cost": billed if effective is None else effective,
                    "list_cost": None,
                    "usage_quantity": quantity,
                    "usage_unit": None if unit in (None, "N/A") else unit,
                    "currency": metrics["UnblendedCost"].get("Unit") or "USD",
                    "tags": "{}",
                    "source": "ce",
                    "estimated": estimated,
                }
                for key, value in zip(group_by, keys, strict=True):
                    # CE names global charges' region 'NoRegion'; the store says ''.
                    record[DIMENSION_COLUMNS[key]] = "" if value == NO_REGION else value
                record.update(fixed)
                records.append(record)
    frame = pd.DataFrame.from_records(records, columns=COST_COLUMNS)
    if frame.empty:
        return frame
    kinds = [RECORD_TYPE_COMMITMENT.get(kind) for kind in frame["charge_category"]]
    for position, column in enumerate(
        ("commitment_discount_category", "commitment_discount_type", "commitment_discount_status")
    ):
        frame[column] = [kind[position] if kind else None for kind in kinds]
    frame["charge_category"] = _category(frame)
    return aggregate_keys(frame)


def _category(frame: pd.DataFrame) -> pd.Series:
    known = frame["charge_category"].map(RECORD_TYPE_CATEGORY)
    inferred = pd.Series("Usage", index=frame.index, dtype=object)
    inferred[frame["service"] == "Tax"] = "Tax"
    inferred[(frame["service"] != "Tax") & (frame["billed_cost"] < 0)] = "Credit"
    unknown = frame["charge_category"].ne("") & known.isna()
    result = known.where(known.notna(), inferred)
    # An unforeseen RECORD_TYPE is kept visible as an Adjustment rather than dropped.
    result[unknown] = "Adjustment"
    return result


def aggregate_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per key: costs and quantities summed, estimated if any part was.

    Example:
        >>> aggregate_keys(pd.DataFrame(columns=COST_COLUMNS)).empty
        True
    """
    if frame.empty:
        return frame
    numeric = ["billed_cost", "effective_cost", "usage_quantity"]
    firsts = [c for c in COST_COLUMNS if c not in KEY_COLUMNS and c not in numeric]
    # min_count=1 keeps an all-null quantity null instead of 0.
    aggregated = frame.groupby(KEY_COLUMNS, sort=True, as_index=False, dropna=False).agg(
        {**{c: "first" for c in firsts}, **{c: "sum" for c in numeric[:2]}}
    )
    quantity = frame.groupby(KEY_COLUMNS, sort=True, dropna=False)["usage_quantity"].sum(
        min_count=1
    )
    aggregated["usage_quantity"] = quantity.to_numpy()
    # pandas sums skip NaN: a key with a NaN part stays NaN, for the quality suite to refuse,
    # rather than quietly losing that part of its cost.
    costs = numeric[:2]
    missing = frame.assign(**{c: frame[c].isna() for c in costs})
    poisoned = missing.groupby(KEY_COLUMNS, sort=True, dropna=False)[costs].any()
    for column in costs:
        aggregated.loc[poisoned[column].to_numpy(), column] = np.nan
    # Estimated if any contributing day result was.
    aggregated["estimated"] = (
        frame.groupby(KEY_COLUMNS, sort=True, dropna=False)["estimated"].any().to_numpy()
    )
    return aggregated[COST_COLUMNS].reset_index(drop=True)


def plan_passes(
    client: Any,
    window: DayRange,
    group_by: Sequence[str],
    detail: Sequence[str],
    counter: RequestCounter,
    **retry: Any,
) -> list[CePass]:
    """The passes one window needs: the pair alone, or one filtered pass per detail value.

    With detail dimensions, one discovery pass per dimension (grouped by it) finds the values
    present in the window; then each combination of values is a filtered pass.
    """
    unknown = [d for d in detail if d not in DETAIL_DIMENSIONS]
    if unknown:
        raise ValueError(f"detail {unknown} not supported; use any of {list(DETAIL_DIMENSIONS)}")
    detail = [d for d in detail if d not in group_by]
    if not detail:
        return [CePass(tuple(group_by))]
    values: list[list[str]] = []
    for dimension in detail:
        found: set[str] = set()
        for page in get_cost_and_usage(
            client, window, [dimension], counter, metrics=("UnblendedCost",), **retry
        ):
            for result in _listed(page, "ResultsByTime", "a GetCostAndUsage page"):
                groups = _listed(result, "Groups", f"the {dimension} discovery")
                found.update(_group_keys(g, 1, f"the {dimension} discovery")[0] for g in groups)
        values.append(sorted(found))
    passes: list[CePass] = []
    for combination in itertools.product(*values):
        clauses = [
            {"Dimensions": {"Key": dim, "Values": [value]}}
            for dim, value in zip(detail, combination, strict=True)
        ]
        expression = clauses[0] if len(clauses) == 1 else {"And": clauses}
        fixed = {
            DIMENSION_COLUMNS[d]: "" if v == NO_REGION else v
            for d, v in zip(detail, combination, strict=True)
        }
        passes.append(CePass(tuple(group_by), expression, fixed))
    return passes


def sync_cost_explorer(
    client: Any,
    window: DayRange,
    billing_account_id: str,
    group_by: Sequence[str] = ("LINKED_ACCOUNT", "SERVICE"),
    detail: Sequence[str] = (),
    counter: RequestCounter | None = None,
    **retry: Any,
) -> pd.DataFrame:
    """Fetch and transform one window from Cost Explorer into a cost frame.

    Raises:
        CostExplorerError: a one-line reason for DataUnavailable, AccessDenied, persistent
            throttling or an empty answer.

    Example:
        >>> frame = sync_cost_explorer(ce, DayRange(date(2026, 1, 1), date(2026, 1, 8)),
        ...                            "123456789012")  # doctest: +SKIP
    """
    counter = counter if counter is not None else RequestCounter()
    frames = []
    for ce_pass in plan_passes(client, window, group_by, detail, counter, **retry):
        pages = list(
            get_cost_and_usage(client, window, ce_pass.group_by, counter, ce_pass.filter, **retry)
        )
        frames.append(transform_pages(pages, ce_pass.group_by, billing_account_id, ce_pass.fixed))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COST_COLUMNS)
    if frame.empty:
        raise CostExplorerError(
            f"Cost Explorer returned no cost for {window}; check the dates (is the range in the "
            "future or before the account existed?) and that Cost Explorer is enabled"
        )
    if len(frames) > 1:
        frame = aggregate_keys(frame)
    return frame


def tags_json(tags: dict[str, str]) -> str:
    """Tags as the cost frame stores them: compact JSON with sorted keys.

    Example:
        >>> tags_json({"b": "2", "a": "1"})
        '{"a":"1","b":"2"}'
    """
    return json.dumps(tags, sort_keys=True, separators=(",", ":"))
