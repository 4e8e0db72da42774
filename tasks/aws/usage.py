"""The tool's own AWS bill: the requests a run makes, per service and operation, and their price.

A :class:`RequestCounter` listens to botocore's ``before-send`` event, which fires once per HTTP
attempt, so retries are counted (AWS bills each one).  Keys are ``(service, operation)`` with the
service named as botocore's hyphenated service id (``"cost-explorer"``, ``"cloudwatch"``,
``"athena"``, ``"s3"``, ``"ec2"``) and the operation as the API names it (``"GetCostAndUsage"``).

Two ways to count:

* ``counter.attach(client_or_session)``: one client, or every client made from a session *after*
  the call (botocore copies a session's event handlers into a client when the client is built).
* ``with count_requests() as counter:``: every client built through :mod:`tasks.aws.session`
  (``AwsAccess``), whenever it was built, for the requests sent while the context is open, from
  any thread (the scan fans out over a thread pool, so this is a process-wide registry, not a
  context variable).  Two contexts open at once in one process each count every request.

:data:`PRICES_USD` is the public price list the counts are priced with (us-east-1, December
2026); :meth:`RequestCounter.cost_usd` applies it.  Operations not listed (EC2/RDS/ELB describes,
STS, Organizations, Pricing, Compute Optimizer, Cost Optimization Hub) are free to call.

Example:
    >>> counter = RequestCounter()
    >>> counter.record("cost-explorer", "GetCostAndUsage", 3)
    >>> counter.record("s3", "GetObject", 1000)
    >>> counter.cost_usd(athena_bytes_scanned=10**12)
    {'athena': 5.0, 'cost-explorer': 0.03, 's3': 0.0004, 'total': 5.0304}
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: Unique id of the process-wide handler that :func:`install` registers on a session.
_HANDLER_ID = "finops-flows-request-usage"


@dataclass(frozen=True)
class Price:
    """What AWS charges for a kind of request.

    Attributes:
        usd: the price of one ``per`` units.
        per: how many units ``usd`` buys (1 request, 1,000 requests, 1,000 metrics).
        unit: ``"request"`` or ``"metric"`` (GetMetricData is billed per metric requested).
    """

    usd: float
    per: int = 1
    unit: str = "request"

    def cost(self, units: int) -> float:
        return self.usd * units / self.per


#: Prices per (service, operation); ``"*"`` is any other operation of that service.
PRICES_USD: dict[tuple[str, str], Price] = {
    # Cost Explorer: $0.01 per API request, each page of a paginated answer is a request
    ("cost-explorer", "*"): Price(0.01),
    # CloudWatch: GetMetricData $0.01 per 1,000 metrics requested; other API calls per 1,000
    ("cloudwatch", "GetMetricData"): Price(0.01, 1000, "metric"),
    ("cloudwatch", "GetMetricWidgetImage"): Price(0.02, 1000, "metric"),
    ("cloudwatch", "*"): Price(0.01, 1000),
    # S3 Standard: GET/HEAD $0.0004 per 1,000; PUT/COPY/POST/LIST $0.005 per 1,000
    ("s3", "GetObject"): Price(0.0004, 1000),
    ("s3", "HeadObject"): Price(0.0004, 1000),
    ("s3", "PutObject"): Price(0.005, 1000),
    ("s3", "CopyObject"): Price(0.005, 1000),
    ("s3", "ListObjectsV2"): Price(0.005, 1000),
    ("s3", "ListObjects"): Price(0.005, 1000),
    ("s3", "ListBuckets"): Price(0.005, 1000),
    ("s3", "CreateMultipartUpload"): Price(0.005, 1000),
    ("s3", "UploadPart"): Price(0.005, 1000),
    ("s3", "CompleteMultipartUpload"): Price(0.005, 1000),
}

#: Athena SQL: $5 per TB (10^12 bytes) scanned, each query billed for at least 10 MB.
ATHENA_USD_PER_TB = 5.0
ATHENA_MIN_BYTES_PER_QUERY = 10 * 1000**2


def price_of(service: str, operation: str) -> Price | None:
    """The price of one request kind, or ``None`` when it is free.

    Example:
        >>> price_of("cost-explorer", "GetCostAndUsage")
        Price(usd=0.01, per=1, unit='request')
        >>> price_of("ec2", "DescribeInstances") is None
        True
    """
    return PRICES_USD.get((service, operation)) or PRICES_USD.get((service, "*"))


def athena_billed_bytes(bytes_scanned: int) -> int:
    """Bytes Athena bills for one query: what it scanned, at least 10 MB.

    Example:
        >>> athena_billed_bytes(1234)
        10000000
    """
    return max(int(bytes_scanned), ATHENA_MIN_BYTES_PER_QUERY)


def athena_cost_usd(bytes_scanned: int) -> float:
    """Athena's charge for that many billed bytes ($5 per TB).

    Example:
        >>> athena_cost_usd(2 * 10**12)
        10.0
    """
    return ATHENA_USD_PER_TB * bytes_scanned / 1e12


def _split_event(event_name: str) -> tuple[str, str]:
    # "before-send.cost-explorer.GetCostAndUsage" -> ("cost-explorer", "GetCostAndUsage")
    _, _, rest = event_name.partition(".")
    service, _, operation = rest.rpartition(".")
    return service, operation


class RequestCounter:
    """Requests per (service, operation), retries included; thread-safe.

    Example:
        >>> import boto3
        >>> counter = RequestCounter()
        >>> session = boto3.Session(region_name="us-east-1")
        >>> counter.attach(session) is counter
        True
        >>> counter.counts()
        {}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._metrics: Counter[tuple[str, str]] = Counter()

    # -- recording ------------------------------------------------------------------------------
    def record(self, service: str, operation: str, requests: int = 1, metrics: int = 0) -> None:
        """Add requests (and metrics requested, for GetMetricData) by hand or from a hook."""
        with self._lock:
            self._requests[(service, operation)] += requests
            if metrics:
                self._metrics[(service, operation)] += metrics

    def on_before_send(self, event_name: str = "", **_: Any) -> None:
        """botocore ``before-send`` handler: one HTTP attempt of an operation."""
        service, operation = _split_event(event_name)
        self.record(service, operation)

    def on_parameters(self, event_name: str = "", params: Any = None, **_: Any) -> None:
        """botocore ``provide-client-params`` handler: metrics of a GetMetricData call."""
        if isinstance(params, dict):
            queries = params.get("MetricDataQueries") or []
            metrics = sum(
                1 for query in queries if isinstance(query, dict) and "MetricStat" in query
            )
            if metrics:
                service, operation = _split_event(event_name)
                with self._lock:
                    self._metrics[(service, operation)] += metrics

    def attach(self, client_or_session: Any) -> RequestCounter:
        """Count the requests of a boto3 client, or of the clients a session builds from now on.

        Args:
            client_or_session: a boto3 client, a ``boto3.Session`` or a botocore session.

        Returns:
            This counter, for chaining.
        """
        events = _events_of(client_or_session)
        events.register("before-send", self.on_before_send, unique_id=f"usage-send-{id(self)}")
        events.register(
            "provide-client-params.cloudwatch.GetMetricData",
            self.on_parameters,
            unique_id=f"usage-params-{id(self)}",
        )
        return self

    # -- reading --------------------------------------------------------------------------------
    def counts(self) -> dict[tuple[str, str], int]:
        """Requests sent so far per (service, operation), sorted by key."""
        with self._lock:
            return dict(sorted(self._requests.items()))

    def metrics(self) -> dict[tuple[str, str], int]:
        """Metrics requested so far per (service, operation) (GetMetricData bills per metric)."""
        with self._lock:
            return dict(sorted(self._metrics.items()))

    def total_requests(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    def cost_usd(self, athena_bytes_scanned: int = 0) -> dict[str, float]:
        """What the counted requests cost, per service and ``"total"``, in US dollars.

        Args:
            athena_bytes_scanned: bytes Athena billed for the run's queries (its queries'
                ``DataScannedInBytes``, each rounded up by :func:`athena_billed_bytes`); Athena's
                requests themselves are free.

        Returns:
            Dollars per service that has requests (free services show 0.0), plus ``"total"``.
        """
        with self._lock:
            requests = dict(self._requests)
            metrics = dict(self._metrics)
        per_service: dict[str, float] = {}
        for (service, operation), count in requests.items():
            price = price_of(service, operation)
            units = count
            if price is not None and price.unit == "metric":
                units = metrics.get((service, operation), 0)
            per_service[service] = per_service.get(service, 0.0) + (
                price.cost(units) if price else 0.0
            )
        if athena_bytes_scanned or "athena" in per_service:
            per_service["athena"] = per_service.get("athena", 0.0) + athena_cost_usd(
                athena_bytes_scanned
            )
        result = {service: round(per_service[service], 6) for service in sorted(per_service)}
        result["total"] = round(sum(per_service.values()), 6)
        return result

    def as_rows(self, athena_bytes_scanned: int = 0) -> list[dict[str, Any]]:
        """One row per (service, operation) with requests, metrics and dollars, for artifacts."""
        counts = self.counts()
        metrics = self.metrics()
        rows: list[dict[str, Any]] = []
        for (service, operation), count in counts.items():
            price = price_of(service, operation)
            units = (
                metrics.get((service, operation), 0) if price and price.unit == "metric" else count
            )
            rows.append(
                {
                    "service": service,
                    "operation": operation,
                    "requests": count,
                    "metrics": metrics.get((service, operation), 0),
                    "cost_usd": round(price.cost(units), 6) if price else 0.0,
                }
            )
        if athena_bytes_scanned:
            rows.append(
                {
                    "service": "athena",
                    "operation": "(data scanned)",
                    "requests": 0,
                    "metrics": 0,
                    "bytes_scanned": int(athena_bytes_scanned),
                    "cost_usd": round(athena_cost_usd(athena_bytes_scanned), 6),
                }
            )
        return rows


def _events_of(client_or_session: Any) -> Any:
    meta = getattr(client_or_session, "meta", None)
    if meta is not None and hasattr(meta, "events"):  # a boto3/botocore client
        return meta.events
    core = getattr(client_or_session, "_session", None)  # a boto3.Session
    if core is not None and hasattr(core, "get_component"):
        return core.get_component("event_emitter")
    if hasattr(client_or_session, "get_component"):  # a botocore session
        return client_or_session.get_component("event_emitter")
    raise TypeError(f"cannot count requests of {type(client_or_session).__name__}")


# -- the process-wide registry behind count_requests() ------------------------------------------
_active_lock = threading.Lock()
_active: list[RequestCounter] = []


def _dispatch_send(event_name: str = "", **kwargs: Any) -> None:
    with _active_lock:
        counters = list(_active)
    for counter in counters:
        counter.on_before_send(event_name=event_name, **kwargs)


def _dispatch_params(event_name: str = "", **kwargs: Any) -> None:
    with _active_lock:
        counters = list(_active)
    for counter in counters:
        counter.on_parameters(event_name=event_name, **kwargs)


def install(client_or_session: Any) -> None:
    """Route a session's (or client's) requests to every open :func:`count_requests` context.

    :mod:`tasks.aws.session` calls this on each session it builds; it is idempotent.
    """
    events = _events_of(client_or_session)
    events.register("before-send", _dispatch_send, unique_id=_HANDLER_ID)
    events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        _dispatch_params,
        unique_id=f"{_HANDLER_ID}-params",
    )


@contextmanager
def count_requests() -> Iterator[RequestCounter]:
    """Count every request sent through :mod:`tasks.aws.session`'s clients while open.

    Example:
        >>> with count_requests() as counter:
        ...     pass
        >>> counter.counts()
        {}
    """
    counter = RequestCounter()
    with _active_lock:
        _active.append(counter)
    try:
        yield counter
    finally:
        with _active_lock:
            _active.remove(counter)
