"""Request parsing and paging shared by the sandbox's Cost Explorer commitment calls."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd

LOOKBACK = {"SEVEN_DAYS": 7, "THIRTY_DAYS": 30, "SIXTY_DAYS": 60}
EC2 = "Amazon Elastic Compute Cloud - Compute"
Answer = tuple[int, dict[str, Any]]


class Invalid(Exception):
    """A request the sandbox answers with a ValidationException."""

    code = "ValidationException"


class NoData(Invalid):
    """No commitment data in the period: AWS answers DataUnavailableException."""

    code = "DataUnavailableException"


def amount_text(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") if value else "0"


def percent_text(part: float, whole: float) -> str:
    return amount_text(round(100.0 * part / whole, 6)) if whole else "0"


def time_window(body: Mapping[str, Any]) -> tuple[date, date]:
    period = body.get("TimePeriod")
    if not isinstance(period, dict):
        raise Invalid("TimePeriod is required: {'Start': 'YYYY-MM-DD', 'End': 'YYYY-MM-DD'}")
    try:
        start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    except (KeyError, TypeError, ValueError):
        raise Invalid("TimePeriod Start and End must be dates YYYY-MM-DD") from None
    if start >= end:
        raise Invalid(f"Start date {start} must be before End date {end}")
    return start, end


def time_periods(body: Mapping[str, Any], start: date, end: date) -> list[tuple[date, date]]:
    granularity = body.get("Granularity") or "MONTHLY"
    if granularity not in ("DAILY", "MONTHLY"):
        raise Invalid(f"Granularity {granularity} is not supported; use DAILY or MONTHLY")
    out, day = [], start
    while day < end:
        if granularity == "DAILY":
            nxt = day + timedelta(days=1)
        else:
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((day, min(nxt, end)))
        day = min(nxt, end)
    return out


def account_filter(body: Mapping[str, Any]) -> set[str] | None:
    expression = body.get("Filter")
    if not expression:
        return None
    dims = expression.get("Dimensions") if isinstance(expression, dict) else None
    if not isinstance(dims, dict) or dims.get("Key") not in ("LINKED_ACCOUNT", "SERVICE"):
        raise Invalid("the sandbox filters on Dimensions LINKED_ACCOUNT or SERVICE only")
    if dims["Key"] == "SERVICE":
        return None
    return {str(v) for v in dims.get("Values") or []}


def service_filter(body: Mapping[str, Any]) -> str:
    dims = (body.get("Filter") or {}).get("Dimensions") or {}
    if dims.get("Key") == "SERVICE":
        values = dims.get("Values") or []
        if len(values) != 1:
            raise Invalid("filter on exactly one SERVICE for reservation coverage")
        return str(values[0])
    return EC2


def offset_of(body: Mapping[str, Any], name: str) -> int:
    token = body.get(name)
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (ValueError, KeyError, TypeError):
        raise Invalid(
            f"{name} {token!r} is not valid; pass the token of the previous page"
        ) from None


def paged(
    items: list[dict[str, Any]], body: Mapping[str, Any], token_name: str, size_name: str
) -> tuple[list[dict[str, Any]], str | None]:
    offset = offset_of(body, token_name)
    size = int(body.get(size_name) or 20)
    if size < 1:
        raise Invalid(f"{size_name} must be at least 1")
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    token = base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return chunk, token if more else None


def rows_between(ledger: Any, body: Mapping[str, Any], start: date, end: date) -> pd.DataFrame:
    """The ledger rows charged ``start`` (inclusive) to ``end`` (exclusive), account-filtered."""
    frame = ledger.frame
    chosen = frame[(frame["charge_date"] >= start) & (frame["charge_date"] < end)]
    accounts = account_filter(body)
    if accounts is not None:
        chosen = chosen[chosen["sub_account_id"].isin(accounts)]
    return chosen
