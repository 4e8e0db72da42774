"""The sandbox's Cost Explorer: GetCostAndUsage and GetDimensionValues over the cost ledger.

:func:`handle_cost_explorer` answers the JSON protocol body of a Cost Explorer request
(``X-Amz-Target: AWSInsightsIndexService.<Operation>``) with ``(status, response)`` shaped as
AWS answers, so plain boto3 and the AWS CLI parse it unchanged.

What is served, and how it maps to the ledger (:mod:`sandbox.ledger`):

* ``TimePeriod``: ``Start`` inclusive, ``End`` exclusive, ``YYYY-MM-DD``.  ``Granularity``
  ``DAILY`` or ``MONTHLY`` (a month period is clipped to the request, as AWS does).
* Metrics: ``UnblendedCost``, ``BlendedCost`` and ``NetUnblendedCost`` are the billed cost;
  ``AmortizedCost`` and ``NetAmortizedCost`` the effective cost (the sandbox has no negotiated
  discounts, so net equals gross); ``UsageQuantity`` and ``NormalizedUsageAmount`` the summed
  usage quantity (``Unit`` ``N/A``, summed across units as AWS does).  Amounts are strings.
* Dimensions for ``GroupBy`` and ``Filter``: ``SERVICE``, ``LINKED_ACCOUNT``, ``REGION``
  (global rows are ``NoRegion``), ``USAGE_TYPE``, ``RECORD_TYPE`` (``Usage``,
  ``SavingsPlanCoveredUsage``, ``DiscountedUsage``, ``SavingsPlanRecurringFee``, ``RIFee``,
  ``Support``, ``Tax``, ``Credit``, ``Refund``).  ``TAG`` groups are keyed ``key$value``
  (``key$`` when untagged).  Up to two ``GroupBy``.  Filters: ``Dimensions`` / ``Tags`` with
  ``EQUALS`` / ``CASE_SENSITIVE`` (and ``ABSENT`` for tags), combined with ``And`` / ``Or`` /
  ``Not``.
* Pagination: a page holds at most :data:`PAGE_SIZE` groups (a period without groups counts as
  one).  As in AWS, a period's groups may continue on the next page, where the same
  ``TimePeriod`` appears again with the remaining groups: merge by period when reading.
  ``NextPageToken`` is opaque; a token from a different request gives
  ``RequestChangedException``, a malformed one ``InvalidNextTokenException``.
* ``Estimated`` is true for periods that touch the last :data:`ESTIMATED_DAYS` days before
  ``today`` (or later).
* Errors are ``(400, {"__type": <code>, "Message": ...})``: ``ValidationException`` (bad dates,
  granularity, metrics, group definitions, filters; ``End`` past the 1st of next month; a
  ``Start`` after today; more than 14 months back without starting on the 1st),
  ``DataUnavailableException`` (``Start`` before the ledger's first day),
  ``InvalidNextTokenException``, ``RequestChangedException``, ``UnknownOperationException``.

Example:
    >>> status, page = handle_cost_explorer(ledger, "GetCostAndUsage", {   # doctest: +SKIP
    ...     "TimePeriod": {"Start": "2026-10-01", "End": "2026-11-01"},
    ...     "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"]}, date(2026, 11, 26))
    >>> page["ResultsByTime"][0]["Total"]["UnblendedCost"]["Unit"]         # doctest: +SKIP
    'USD'

Over 400 lines on purpose: request validation, filtering, grouping and paging answer one API and
share its error shapes; a seventh of the file is this description of what is served.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from sandbox.ledger import Ledger

#: Groups per page (AWS pages GetCostAndUsage by a fixed number of groups).
PAGE_SIZE = 1000
#: Days before ``today`` whose cost is still an estimate.
ESTIMATED_DAYS = 3
#: Beyond this many months back, AWS requires ``Start`` on the 1st of a month.
FULL_HISTORY_MONTHS = 14

COST_METRICS: dict[str, str] = {
    "UnblendedCost": "billed",
    "BlendedCost": "billed",
    "NetUnblendedCost": "billed",
    "AmortizedCost": "effective",
    "NetAmortizedCost": "effective",
}
QUANTITY_METRICS: dict[str, str] = {
    "UsageQuantity": "quantity",
    "NormalizedUsageAmount": "quantity",
}
METRICS: dict[str, str] = {**COST_METRICS, **QUANTITY_METRICS}

#: The dimensions the sandbox can group and filter by.
DIMENSIONS: tuple[str, ...] = ("SERVICE", "LINKED_ACCOUNT", "REGION", "USAGE_TYPE", "RECORD_TYPE")
#: Every dimension name AWS knows (others than :data:`DIMENSIONS` are valid but not served).
AWS_DIMENSIONS: frozenset[str] = frozenset(
    {
        "AZ",
        "INSTANCE_TYPE",
        "LINKED_ACCOUNT",
        "PAYER_ACCOUNT",
        "LINKED_ACCOUNT_NAME",
        "OPERATION",
        "PURCHASE_TYPE",
        "REGION",
        "SERVICE",
        "SERVICE_CODE",
        "USAGE_TYPE",
        "USAGE_TYPE_GROUP",
        "RECORD_TYPE",
        "OPERATING_SYSTEM",
        "TENANCY",
        "SCOPE",
        "PLATFORM",
        "SUBSCRIPTION_ID",
        "LEGAL_ENTITY_NAME",
        "DEPLOYMENT_OPTION",
        "DATABASE_ENGINE",
        "CACHE_ENGINE",
        "INSTANCE_TYPE_FAMILY",
        "BILLING_ENTITY",
        "RESERVATION_ID",
        "RESOURCE_ID",
        "RIGHTSIZING_TYPE",
        "SAVINGS_PLANS_TYPE",
        "SAVINGS_PLAN_ARN",
        "PAYMENT_OPTION",
        "INVOICING_ENTITY",
    }
)
NO_REGION = "NoRegion"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Response = tuple[int, dict[str, Any]]


class CostExplorerError(Exception):
    """An AWS-shaped Cost Explorer error (``__type`` and ``Message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> Response:
        """The ``(400, body)`` AWS's JSON protocol answers with."""
        return 400, {"__type": self.code, "Message": self.message}


def _validation(message: str) -> CostExplorerError:
    return CostExplorerError("ValidationException", message)


@dataclass
class _Dimension:
    """One groupable column: an integer code per ledger row and the label of each code."""

    codes: np.ndarray
    labels: np.ndarray  # object array of str


@dataclass
class _View:
    """The ledger prepared for queries (rebuilt when the ledger's revision changes)."""

    day: np.ndarray
    billed: np.ndarray
    effective: np.ndarray
    quantity: np.ndarray
    dimensions: dict[str, _Dimension]
    tags: dict[str, _Dimension]  # per tag key; label '' when the row lacks the key
    account_names: dict[str, str]


def _factorize(values: np.ndarray) -> _Dimension:
    # Hash-based and sorted: label order is key order, which the group layout relies on.
    codes, labels = pd.factorize(np.asarray(values, dtype=object), sort=True)
    return _Dimension(
        codes=np.asarray(codes, dtype=np.int64), labels=np.asarray(labels, dtype=object)
    )


def _view(ledger: Ledger) -> _View:
    cached = ledger.cache.get("ce_view")
    if isinstance(cached, _View):
        return cached
    frame = ledger.frame
    region = frame["region"].to_numpy(dtype=object).copy()
    region[region == ""] = NO_REGION
    dimensions = {
        "SERVICE": _factorize(frame["service"].to_numpy(dtype=object)),
        "LINKED_ACCOUNT": _factorize(frame["sub_account_id"].to_numpy(dtype=object)),
        "REGION": _factorize(region),
        "USAGE_TYPE": _factorize(frame["usage_type"].to_numpy(dtype=object)),
        "RECORD_TYPE": _factorize(ledger.attributes["record_type"].to_numpy(dtype=object)),
    }
    # Tags: parse each distinct JSON text once, then spread per key.
    tag_text = _factorize(frame["tags"].to_numpy(dtype=object))
    parsed = [json.loads(text) for text in tag_text.labels]
    keys = sorted({key for tags in parsed for key in tags})
    tags = {}
    for key in keys:
        per_text = np.asarray([str(t.get(key, "")) for t in parsed], dtype=object)
        tags[key] = _factorize(per_text[tag_text.codes])
    view = _View(
        day=ledger.attributes["day"].to_numpy(dtype=np.int64),
        billed=frame["billed_cost"].to_numpy(dtype=float),
        effective=frame["effective_cost"].to_numpy(dtype=float),
        quantity=np.nan_to_num(frame["usage_quantity"].to_numpy(dtype=float)),
        dimensions=dimensions,
        tags=tags,
        account_names=dict(ledger.account_names),
    )
    ledger.cache["ce_view"] = view
    return view


def _parse_date(value: Any, field_name: str) -> date:
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise _validation(
            f"Invalid {field_name} date {value!r}: expected the format yyyy-MM-dd, e.g. 2026-01-31"
        )
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _validation(f"Invalid {field_name} date {value!r}: {exc}") from exc


def _months_back(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, 1)


def _time_period(body: dict[str, Any], ledger: Ledger, today: date) -> tuple[date, date]:
    period = body.get("TimePeriod")
    if not isinstance(period, dict):
        raise _validation(
            "1 validation error detected: Value null at 'timePeriod' failed to satisfy "
            "constraint: Member must not be null"
        )
    start = _parse_date(period.get("Start"), "start")
    end = _parse_date(period.get("End"), "end")
    if start >= end:
        raise _validation("Start date (and hour) should be before end date (and hour)")
    if start > today:
        raise _validation(
            f"Start date {start.isoformat()} is after the current date {today.isoformat()}"
        )
    next_month = _months_back(today, -1)
    if end > next_month:
        raise _validation("end date past the beginning of next month")
    if start < _months_back(today, FULL_HISTORY_MONTHS) and start.day != 1:
        raise _validation(
            "To retrieve data beyond the past 14 months, your start date needs to be the first "
            "day of the month."
        )
    if start < ledger.first_day:
        raise CostExplorerError(
            "DataUnavailableException",
            f"Data is not available for {start.isoformat()}: cost data starts on "
            f"{ledger.first_day.isoformat()}",
        )
    return start, end


def _metrics(body: dict[str, Any]) -> list[str]:
    metrics = body.get("Metrics")
    if not isinstance(metrics, list) or not metrics:
        raise _validation("Metrics is required: give one or more of " + ", ".join(sorted(METRICS)))
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise _validation(
            f"Metric(s) {unknown} are not valid; valid values are " + ", ".join(sorted(METRICS))
        )
    return list(dict.fromkeys(metrics))


def _group_by(body: dict[str, Any], view: _View) -> list[tuple[str, str]]:
    groups = body.get("GroupBy") or []
    if not isinstance(groups, list):
        raise _validation("GroupBy must be a list of {Type, Key} group definitions")
    if len(groups) > 2:
        raise _validation(
            "You can only group by up to two different groups; got " + str(len(groups))
        )
    result: list[tuple[str, str]] = []
    for group in groups:
        kind = group.get("Type") if isinstance(group, dict) else None
        key = group.get("Key") if isinstance(group, dict) else None
        if kind not in ("DIMENSION", "TAG", "COST_CATEGORY", "PRODUCT_ATTRIBUTE"):
            raise _validation(
                f"Invalid group Type {kind!r}: use DIMENSION, TAG, COST_CATEGORY or "
                "PRODUCT_ATTRIBUTE"
            )
        if not isinstance(key, str) or not key:
            raise _validation("Each GroupBy needs a Key")
        if kind == "DIMENSION":
            if key not in AWS_DIMENSIONS:
                raise _validation(f"Invalid group by dimension {key!r}")
            if key not in DIMENSIONS:
                raise _validation(
                    f"The sandbox does not serve dimension {key}; group by one of "
                    + ", ".join(DIMENSIONS)
                )
        elif kind != "TAG":
            raise _validation(f"The sandbox does not serve {kind} groups; use DIMENSION or TAG")
        if (kind, key) in result:
            raise _validation(f"Group by {kind} {key} is duplicated")
        result.append((kind, key))
    return result


def _group_column(view: _View, kind: str, key: str, n_rows: int) -> _Dimension:
    if kind == "DIMENSION":
        return view.dimensions[key]
    tag = view.tags.get(key)
    if tag is None:  # an unknown tag key: every row is untagged for it
        return _Dimension(codes=np.zeros(n_rows, dtype=np.int64), labels=np.asarray([""], object))
    return tag


def _match_values(dimension: _Dimension, values: list[str], case_sensitive: bool) -> np.ndarray:
    if case_sensitive:
        wanted = set(values)
        allowed = [i for i, label in enumerate(dimension.labels) if label in wanted]
    else:
        wanted = {v.lower() for v in values}
        allowed = [i for i, label in enumerate(dimension.labels) if str(label).lower() in wanted]
    return np.isin(dimension.codes, np.asarray(allowed, dtype=np.int64))


def _filter_mask(expression: Any, view: _View, n_rows: int) -> np.ndarray:
    if not isinstance(expression, dict) or not expression:
        raise _validation("A filter Expression must be an object with one operator")
    roots = [
        k
        for k in ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories", "ProductAttributes")
        if expression.get(k) is not None
    ]
    if len(roots) != 1:
        raise _validation(
            "Expression has more than one roots. Only one root operator is allowed for each "
            "expression: And, Or, Not, Dimensions, Tags, CostCategories"
            if roots
            else "Expression has no root operator: use one of And, Or, Not, Dimensions, Tags"
        )
    root = roots[0]
    operand = expression[root]
    if root in ("And", "Or"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise _validation(f"{root} needs a list of at least two expressions")
        masks = [_filter_mask(sub, view, n_rows) for sub in operand]
        combine = np.logical_and if root == "And" else np.logical_or
        result = masks[0]
        for other in masks[1:]:
            result = combine(result, other)
        return result
    if root == "Not":
        return ~_filter_mask(operand, view, n_rows)
    if root in ("CostCategories", "ProductAttributes"):
        raise _validation(f"The sandbox does not serve {root} filters; use Dimensions or Tags")
    if not isinstance(operand, dict) or not isinstance(operand.get("Key"), str):
        raise _validation(f"{root} needs a Key and Values")
    key = operand["Key"]
    values = operand.get("Values") or []
    options = operand.get("MatchOptions") or ["EQUALS"]
    allowed_options = (
        {"EQUALS", "CASE_SENSITIVE"}
        if root == "Dimensions"
        else {"EQUALS", "ABSENT", "CASE_SENSITIVE"}
    )
    bad = [o for o in options if o not in allowed_options]
    if bad:
        raise _validation(
            f"MatchOptions {bad} are not valid for {root} in GetCostAndUsage; use "
            + ", ".join(sorted(allowed_options))
        )
    if root == "Dimensions":
        if key not in AWS_DIMENSIONS:
            raise _validation(f"Invalid filter dimension {key!r}")
        if key not in DIMENSIONS:
            raise _validation(
                f"The sandbox does not serve dimension {key}; filter by one of "
                + ", ".join(DIMENSIONS)
            )
        if not values:
            raise _validation(f"Dimensions filter on {key} needs at least one value")
        return _match_values(view.dimensions[key], [str(v) for v in values], True)
    column = _group_column(view, "TAG", key, n_rows)
    mask: np.ndarray | None = (
        _match_values(column, [str(v) for v in values], True) if values else None
    )
    if "ABSENT" in options or "" in values:
        absent = np.isin(column.codes, [i for i, label in enumerate(column.labels) if label == ""])
        mask = absent if mask is None else (mask | absent)
    if mask is None:
        raise _validation(f"Tags filter on {key} needs Values or MatchOptions ABSENT")
    return mask


def _amount(value: float) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _metric_block(metrics: list[str], values: dict[str, float]) -> dict[str, Any]:
    return {
        name: {
            "Amount": _amount(values[METRICS[name]]),
            "Unit": "N/A" if name in QUANTITY_METRICS else "USD",
        }
        for name in metrics
    }


@dataclass
class _Result:
    """A computed query, laid out as page slots (one per group, or per period without groups).

    Groups stay as arrays (a cell is one period x group key); only the groups of the page asked
    for become JSON, so a 48,000-group answer costs one page's worth of dicts per request.
    """

    periods: list[tuple[date, date]]
    estimated: list[bool]
    totals: list[dict[str, float]] | None  # per period, when not grouped
    slot_period: np.ndarray  # period index of each slot
    slot_cell: np.ndarray  # cell index of each slot, -1 for a period without groups
    cell_key: np.ndarray  # combined group-key code of each cell
    cell_sums: dict[str, np.ndarray]  # billed / effective / quantity per cell
    columns: list[_Dimension]  # the group-by columns, in request order
    accounts: list[str]  # linked accounts present (for DimensionValueAttributes)

    def group_keys(self, cell: int, group_by: list[tuple[str, str]]) -> list[str]:
        """The ``Keys`` of one cell: labels in request order, tags as ``key$value``."""
        key_code = int(self.cell_key[cell])
        keys: list[str] = []
        for column, (kind, key) in zip(reversed(self.columns), reversed(group_by), strict=True):
            key_code, label_code = divmod(key_code, len(column.labels))
            label = str(column.labels[label_code])
            keys.append(f"{key}${label}" if kind == "TAG" else label)
        keys.reverse()
        return keys


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    periods: list[tuple[date, date]] = []
    cursor = start
    while cursor < end:
        if granularity == "DAILY":
            stop = cursor + timedelta(days=1)
        else:
            stop = min(_months_back(cursor, -1), end)
        periods.append((cursor, stop))
        cursor = stop
    return periods


def _compute(
    ledger: Ledger, body: dict[str, Any], today: date
) -> tuple[_Result, list[str], list[tuple[str, str]]]:
    view = _view(ledger)
    start, end = _time_period(body, ledger, today)
    granularity = body.get("Granularity")
    if granularity == "HOURLY":
        raise _validation(
            "Hourly granularity needs hourly data enabled and covers only the last 14 days; the "
            "sandbox holds daily data: use DAILY or MONTHLY"
        )
    if granularity not in ("DAILY", "MONTHLY"):
        raise _validation(f"Invalid Granularity {granularity!r}: use DAILY or MONTHLY")
    metrics = _metrics(body)
    group_by = _group_by(body, view)
    n_rows = len(view.day)
    periods = _periods(start, end, granularity)
    # Map each ledger day offset to its period index (-1 outside the request).
    n_ledger_days = (ledger.last_day - ledger.first_day).days + 1
    period_of_day = np.full(n_ledger_days, -1, dtype=np.int64)
    for index, (p_start, p_stop) in enumerate(periods):
        lo = max((p_start - ledger.first_day).days, 0)
        hi = min((p_stop - ledger.first_day).days, n_ledger_days)
        if lo < hi:
            period_of_day[lo:hi] = index
    row_period = period_of_day[view.day]
    mask = row_period >= 0
    if body.get("Filter") is not None:
        mask &= _filter_mask(body["Filter"], view, n_rows)
    estimated_from = today - timedelta(days=ESTIMATED_DAYS)
    estimated = [p_stop > estimated_from for _, p_stop in periods]
    arrays = {"billed": view.billed, "effective": view.effective, "quantity": view.quantity}
    accounts_dim = view.dimensions["LINKED_ACCOUNT"]
    accounts = sorted(set(accounts_dim.labels[np.unique(accounts_dim.codes[mask])]))
    no_cells = np.zeros(0, dtype=np.int64)
    if not group_by:
        sums = {
            name: np.bincount(row_period[mask], weights=values[mask], minlength=len(periods))
            for name, values in arrays.items()
        }
        totals = [{name: float(sums[name][i]) for name in arrays} for i in range(len(periods))]
        every_period = np.arange(len(periods), dtype=np.int64)
        result = _Result(
            periods,
            estimated,
            totals,
            every_period,
            np.full(len(periods), -1, dtype=np.int64),
            no_cells,
            {},
            [],
            accounts,
        )
        return result, metrics, group_by
    columns = [_group_column(view, kind, key, n_rows) for kind, key in group_by]
    combined = np.zeros(n_rows, dtype=np.int64)
    for column in columns:
        combined = combined * len(column.labels) + column.codes
    n_keys = int(np.prod([len(column.labels) for column in columns]))
    # Labels are sorted (np.unique), so cells sorted by (period, combined code) are the groups
    # of each period in the order AWS lists them: by their keys.
    cells, inverse = np.unique(row_period[mask] * n_keys + combined[mask], return_inverse=True)
    cell_sums = {
        name: np.bincount(inverse, weights=values[mask], minlength=len(cells))
        for name, values in arrays.items()
    }
    cell_period, cell_key = np.divmod(cells, n_keys)
    counts = np.bincount(cell_period, minlength=len(periods))
    slot_counts = np.maximum(counts, 1)
    slot_period = np.repeat(np.arange(len(periods), dtype=np.int64), slot_counts)
    slot_cell = np.full(len(slot_period), -1, dtype=np.int64)
    first_slot = np.concatenate([[0], np.cumsum(slot_counts)[:-1]])
    first_cell = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(cells)) - first_cell[cell_period]
    slot_cell[first_slot[cell_period] + rank] = np.arange(len(cells))
    result = _Result(
        periods,
        estimated,
        None,
        slot_period,
        slot_cell,
        cell_key,
        cell_sums,
        columns,
        accounts,
    )
    return result, metrics, group_by


def _request_hash(body: dict[str, Any]) -> str:
    canonical = {k: v for k, v in body.items() if k != "NextPageToken"}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:24]


def _encode_token(offset: int, request_hash: str) -> str:
    raw = json.dumps({"offset": offset, "request": request_hash}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any, request_hash: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset = int(payload["offset"])
        token_hash = str(payload["request"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CostExplorerError(
            "InvalidNextTokenException",
            "The pagination token is invalid. Try again without a pagination token.",
        ) from exc
    if offset <= 0:
        raise CostExplorerError(
            "InvalidNextTokenException",
            "The pagination token is invalid. Try again without a pagination token.",
        )
    if token_hash != request_hash:
        raise CostExplorerError(
            "RequestChangedException",
            "Your request parameters changed between pages. Try again with the old parameters "
            "or without a pagination token.",
        )
    return offset


def _cached_compute(
    ledger: Ledger, body: dict[str, Any], today: date, request_hash: str
) -> tuple[_Result, list[str], list[tuple[str, str]]]:
    # Pages of one request are computed once; the cache is cleared when the ledger changes.
    key = f"gcu:{request_hash}:{today.isoformat()}"
    cached = ledger.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    computed = _compute(ledger, body, today)
    stale = [k for k in ledger.cache if k.startswith("gcu:")]
    for old in stale[:-7]:
        del ledger.cache[old]
    ledger.cache[key] = computed
    return computed


def get_cost_and_usage(ledger: Ledger, body: dict[str, Any], today: date) -> Response:
    """Answer ``GetCostAndUsage`` (see the module docstring for what is served).

    Args:
        ledger: the cost ledger.
        body: the request JSON (``TimePeriod``, ``Granularity``, ``Metrics``, optional
            ``GroupBy``, ``Filter``, ``NextPageToken``).
        today: the current UTC day (for ``Estimated`` and date validation).

    Returns:
        ``(200, response)`` or ``(400, error)``.

    Example:
        >>> status, page = get_cost_and_usage(ledger, {"TimePeriod": {"Start": "2026-11-01",
        ...     "End": "2026-11-02"}, "Granularity": "DAILY",
        ...     "Metrics": ["AmortizedCost"]}, date(2026, 11, 26))   # doctest: +SKIP
    """
    request_hash = _request_hash(body)
    try:
        result, metrics, group_by = _cached_compute(ledger, body, today, request_hash)
        token = body.get("NextPageToken")
        offset = 0 if token in (None, "") else _decode_token(token, request_hash)
    except CostExplorerError as error:
        return error.response()
    n_slots = len(result.slot_period)
    if offset > n_slots:
        return CostExplorerError(
            "InvalidNextTokenException",
            "The pagination token is invalid. Try again without a pagination token.",
        ).response()
    results_by_time: list[dict[str, Any]] = []
    current = -1
    page_periods = result.slot_period[offset : offset + PAGE_SIZE].tolist()
    page_cells = result.slot_cell[offset : offset + PAGE_SIZE].tolist()
    for period_index, cell in zip(page_periods, page_cells, strict=True):
        if period_index != current:
            current = period_index
            p_start, p_stop = result.periods[period_index]
            entry: dict[str, Any] = {
                "TimePeriod": {"Start": p_start.isoformat(), "End": p_stop.isoformat()},
                "Total": (
                    _metric_block(metrics, result.totals[period_index])
                    if result.totals is not None
                    else {}
                ),
                "Groups": [],
                "Estimated": result.estimated[period_index],
            }
            results_by_time.append(entry)
        if cell >= 0:
            values = {name: float(sums[cell]) for name, sums in result.cell_sums.items()}
            results_by_time[-1]["Groups"].append(
                {
                    "Keys": result.group_keys(cell, group_by),
                    "Metrics": _metric_block(metrics, values),
                }
            )
    response: dict[str, Any] = {"ResultsByTime": results_by_time, "DimensionValueAttributes": []}
    if group_by:
        response["GroupDefinitions"] = [{"Type": kind, "Key": key} for kind, key in group_by]
        if ("DIMENSION", "LINKED_ACCOUNT") in group_by:
            names = _view(ledger).account_names
            response["DimensionValueAttributes"] = [
                {"Value": account, "Attributes": {"description": names.get(account, account)}}
                for account in result.accounts
            ]
    if offset + PAGE_SIZE < n_slots:
        response["NextPageToken"] = _encode_token(offset + PAGE_SIZE, request_hash)
    return 200, response


def get_dimension_values(ledger: Ledger, body: dict[str, Any], today: date) -> Response:
    """Answer ``GetDimensionValues`` for the served dimensions (context ``COST_AND_USAGE``).

    Args:
        ledger: the cost ledger.
        body: ``TimePeriod``, ``Dimension``, optional ``SearchString`` (case-insensitive
            substring), ``Filter``, ``Context``.
        today: the current UTC day.

    Returns:
        ``(200, {"DimensionValues": [...], "ReturnSize": n, "TotalSize": n})`` or an error.
        ``LINKED_ACCOUNT`` values carry ``{"description": <account name>}``.

    Example:
        >>> get_dimension_values(ledger, {"TimePeriod": {"Start": "2026-11-01",
        ...     "End": "2026-11-02"}, "Dimension": "LINKED_ACCOUNT"}, date(2026, 11, 26))
        ... # doctest: +SKIP
    """
    try:
        view = _view(ledger)
        start, end = _time_period(body, ledger, today)
        dimension = body.get("Dimension")
        context = body.get("Context", "COST_AND_USAGE")
        if context != "COST_AND_USAGE":
            raise _validation(f"The sandbox serves the COST_AND_USAGE context only, not {context}")
        if dimension not in AWS_DIMENSIONS:
            raise _validation(f"Invalid Dimension {dimension!r}")
        if dimension not in DIMENSIONS:
            raise _validation(
                f"The sandbox does not serve dimension {dimension}; use one of "
                + ", ".join(DIMENSIONS)
            )
        lo = (start - ledger.first_day).days
        hi = (end - ledger.first_day).days
        mask = (view.day >= lo) & (view.day < hi)
        if body.get("Filter") is not None:
            mask &= _filter_mask(body["Filter"], view, len(view.day))
    except CostExplorerError as error:
        return error.response()
    column = view.dimensions[str(dimension)]
    values = [str(column.labels[code]) for code in np.unique(column.codes[mask])]
    search = body.get("SearchString")
    if search:
        values = [v for v in values if str(search).lower() in v.lower()]
    entries = [
        {
            "Value": value,
            "Attributes": (
                {"description": view.account_names.get(value, value)}
                if dimension == "LINKED_ACCOUNT"
                else {}
            ),
        }
        for value in values
    ]
    return 200, {"DimensionValues": entries, "ReturnSize": len(entries), "TotalSize": len(entries)}


OPERATIONS: dict[str, Callable[[Ledger, dict[str, Any], date], Response]] = {
    "GetCostAndUsage": get_cost_and_usage,
    "GetDimensionValues": get_dimension_values,
}


def handle_cost_explorer(
    ledger: Ledger, operation: str, body: dict[str, Any], today: date
) -> Response:
    """Answer one Cost Explorer JSON-protocol request from the ledger.

    Args:
        ledger: the cost ledger.
        operation: the operation name from ``X-Amz-Target: AWSInsightsIndexService.<Operation>``.
        body: the decoded request JSON.
        today: the current UTC day.

    Returns:
        ``(status, response_json)``; errors are ``(400, {"__type": ..., "Message": ...})``.

    Example:
        >>> handle_cost_explorer(ledger, "GetCostAndUsage", {}, date(2026, 11, 26))[0]
        ... # doctest: +SKIP
        400
    """
    handler = OPERATIONS.get(operation)
    if handler is None:
        return CostExplorerError(
            "UnknownOperationException",
            f"The sandbox Cost Explorer does not implement {operation}; it serves "
            + ", ".join(sorted(OPERATIONS)),
        ).response()
    if not isinstance(body, dict):
        return _validation("The request body must be a JSON object").response()
    return handler(ledger, body, today)
