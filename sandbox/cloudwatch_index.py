"""An index over moto's CloudWatch metric store, so metric queries do not grow with the fleet.

Stock moto keeps every datapoint of a region in one Python list and answers each
GetMetricData / GetMetricStatistics query by scanning all of it (minutes of CPU for one idle scan
of a 1,000-instance fleet).  This module keeps the datapoints in numpy arrays per series, keyed by
(account, region, namespace, metric, dimensions), and patches ``CloudWatchBackend`` so that
``put_metric_data``, ``get_metric_data``, ``get_metric_statistics`` and ``list_metrics`` use the
index.  The answers are moto's answers (same periods, statistics, labels, ordering, units); the
cost of a query depends on the datapoints of the series it names, not on the size of the fleet.
GetMetricData's response to JSON-protocol clients is written in bulk (moto's generic serialiser
spends most of a 500-query call walking every timestamp through the service model).

Where the index deliberately differs from stock moto, it follows AWS:

* a GetMetricData query with dimensions matches only series of the query's namespace (moto
  ignores the namespace when dimensions are given);
* a dimensionless metric is listed once by ListMetrics (moto lists it once per datapoint);
* percentile statistics (``p99``, ``p99.9``) are computed from the raw values of the period
  (moto returns no value for them).

**The clock.**  Seeded history must end at the present while the sandbox runs, for hours or days.
Series seeded with :func:`put_metric_series` are stored with the timestamps the seeding gave them
and are *shifted at query time* by the whole hours elapsed since the seeding time
(:func:`set_seeded_at`): an hour after seeding, the newest seeded point is an hour newer.  Whole
hours keep hourly points on the hour, so period boundaries stay aligned.  The fleet's hourly
history ends with the hour before the seeding hour, so at any moment the newest point is the
last complete hour, as with real CloudWatch hourly statistics.  Data put through the API
(PutMetricData) carry real timestamps and are never shifted.

Over 400 lines on purpose: the index, the moto methods it patches and the stock fallbacks it
compares against change together whenever moto's CloudWatch internals do, so they are read and
upgraded as one file.
"""

from __future__ import annotations

import calendar
import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import numpy as np
from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import BaseJSONSerializer

__all__ = [
    "clock_shift_seconds",
    "install",
    "installed",
    "materialize_datums",
    "put_metric_series",
    "set_clock",
    "set_seeded_at",
    "stock_get_metric_data",
    "stock_get_metric_statistics",
    "uninstall",
]

_EPOCH = datetime(1970, 1, 1)
#: GetMetricData accepts at most this many queries per call (as AWS).
MAX_QUERIES = 500
_HOUR = 3600

DimsKey = frozenset[tuple[str, str]]
SeriesKey = tuple[str, str, DimsKey]


# --------------------------------------------------------------------------------------------
# The clock: seeded history is shifted by the whole hours elapsed since seeding.
# --------------------------------------------------------------------------------------------


@dataclass
class _Clock:
    seeded_at: int | None = None  # epoch seconds of the seeding time (hour-aligned)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


_CLOCK = _Clock()


def set_seeded_at(seeded_at: datetime | None) -> None:
    """Declare the seeding time: seeded series are shifted by the whole hours elapsed since.

    ``None`` switches the shift off (seeded series are served at the timestamps they were given).

    Example:
        >>> set_seeded_at(datetime(2026, 1, 1, tzinfo=UTC)); set_seeded_at(None)
    """
    _CLOCK.seeded_at = None if seeded_at is None else _to_epoch(seeded_at)


def set_clock(now: Callable[[], datetime] | None) -> None:
    """Replace the wall clock used for the shift (tests); ``None`` restores the real clock.

    Example:
        >>> set_clock(lambda: datetime(2026, 1, 1, 5, tzinfo=UTC)); set_clock(None)
    """
    _CLOCK.now = now or (lambda: datetime.now(UTC))


def clock_shift_seconds() -> int:
    """Seconds added to seeded timestamps right now: whole hours since the seeding time.

    Example:
        >>> clock_shift_seconds() >= 0
        True
    """
    if _CLOCK.seeded_at is None:
        return 0
    elapsed = _to_epoch(_CLOCK.now()) - _CLOCK.seeded_at
    return max(0, elapsed // _HOUR * _HOUR)


def _to_epoch(moment: datetime) -> int:
    """Epoch seconds of a datetime; naive datetimes are UTC (moto's convention)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return int((moment - _EPOCH).total_seconds() // 1)


def _from_epoch(seconds: int) -> datetime:
    """Naive UTC datetime (what moto's serialisers expect)."""
    return _EPOCH + timedelta(seconds=int(seconds))


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """Datapoints appended in one call: timestamps plus either plain values or statistic sets."""

    ts: np.ndarray  # int64 epoch seconds
    values: np.ndarray | None  # float64 plain values (sum=min=max=value, count=1)
    stats: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None  # sum, min, max, count
    unit: str | None
    seeded: bool  # shifted by the clock at query time


@dataclass
class _Arrays:
    """One series' datapoints merged and sorted by time (stable: insertion order on ties)."""

    ts: np.ndarray
    sums: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    counts: np.ndarray
    plain: bool  # every point is a plain value (percentiles are computable)
    units: list[str | None]  # distinct units, index = code
    unit_codes: np.ndarray | None  # per point, only when more than one unit


class _Series:
    """All datapoints of one (namespace, metric, dimensions)."""

    __slots__ = ("_listing", "_live", "_seeded", "chunks", "dimensions", "key")

    def __init__(self, key: SeriesKey, dimensions: list[dict[str, str]]) -> None:
        self.key = key
        self.dimensions = dimensions  # as first given, order kept for ListMetrics
        self.chunks: list[_Chunk] = []
        self._seeded: _Arrays | None = None
        self._live: _Arrays | None = None
        self._listing: MetricDatum | None = None

    def add(self, chunk: _Chunk) -> None:
        self.chunks.append(chunk)
        if chunk.seeded:
            self._seeded = None
        else:
            self._live = None

    def arrays(self, seeded: bool) -> _Arrays | None:
        cached = self._seeded if seeded else self._live
        if cached is not None:
            return cached
        chunks = [c for c in self.chunks if c.seeded is seeded]
        if not chunks:
            return None
        merged = _merge(chunks)
        if seeded:
            self._seeded = merged
        else:
            self._live = merged
        return merged

    def listing(self) -> MetricDatum:
        if self._listing is None:
            self._listing = MetricDatum(
                self.key[0], self.key[1], 0.0, self.dimensions, _EPOCH, None
            )
        return self._listing


def _merge(chunks: list[_Chunk]) -> _Arrays:
    units: list[str | None] = []
    for chunk in chunks:
        if chunk.unit not in units:
            units.append(chunk.unit)
    plain = all(c.values is not None for c in chunks)
    if len(chunks) == 1 and plain:
        only = chunks[0]
        assert only.values is not None
        if only.ts.size < 2 or bool(np.all(only.ts[1:] >= only.ts[:-1])):
            values = only.values
            return _Arrays(only.ts, values, values, values, np.ones(values.size), True, units, None)
    ts = np.concatenate([c.ts for c in chunks])
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for chunk in chunks:
        if chunk.values is not None:
            v = chunk.values
            parts.append((v, v, v, np.ones(v.size)))
        else:
            assert chunk.stats is not None
            parts.append(chunk.stats)
    sums, mins, maxs, counts = (np.concatenate([p[i] for p in parts]) for i in range(4))
    codes = (
        np.concatenate([np.full(c.ts.size, units.index(c.unit), dtype=np.int16) for c in chunks])
        if len(units) > 1
        else None
    )
    order = np.argsort(ts, kind="stable")
    return _Arrays(
        ts[order],
        sums[order],
        mins[order],
        maxs[order],
        counts[order],
        plain,
        units,
        None if codes is None else codes[order],
    )


class RegionIndex:
    """The metric series of one account x region, with look-ups by metric and by dimension."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.series: dict[SeriesKey, _Series] = {}
        self.by_metric: dict[tuple[str, str], list[_Series]] = {}
        self.by_dimension: dict[tuple[str, str, str, str], list[_Series]] = {}
        self._shared_ts: dict[tuple[int, int, int, int], np.ndarray] = {}

    def _series_for(self, namespace: str, name: str, dimensions: list[dict[str, str]]) -> _Series:
        dims_key: DimsKey = frozenset((d["Name"], d["Value"]) for d in dimensions)
        key: SeriesKey = (namespace, name, dims_key)
        series = self.series.get(key)
        if series is None:
            series = _Series(key, [{"Name": d["Name"], "Value": d["Value"]} for d in dimensions])
            self.series[key] = series
            self.by_metric.setdefault((namespace, name), []).append(series)
            for dim_name, dim_value in dims_key:
                self.by_dimension.setdefault((namespace, name, dim_name, dim_value), []).append(
                    series
                )
        return series

    def shared_timestamps(self, ts: np.ndarray) -> np.ndarray:
        """One read-only array per distinct timestamp grid: a fleet's series share their grid."""
        if ts.size == 0:
            return ts
        digest = (int(ts.size), int(ts[0]), int(ts[-1]), hash(ts.tobytes()))
        shared = self._shared_ts.get(digest)
        if shared is None or not np.array_equal(shared, ts):
            shared = ts.copy()
            shared.setflags(write=False)
            self._shared_ts[digest] = shared
        return shared

    def add(
        self,
        namespace: str,
        name: str,
        dimensions: list[dict[str, str]],
        chunk: _Chunk,
    ) -> None:
        with self.lock:
            self._series_for(namespace, name, dimensions).add(chunk)

    def add_datum(self, datum: MetricDatumBase) -> None:
        """Index one moto datum (PutMetricData through the API, or moto's own providers)."""
        ts = np.array([_to_epoch(datum.timestamp)], dtype=np.int64)
        dims = [{"Name": str(d.name), "Value": str(d.value)} for d in datum.dimensions]
        if isinstance(datum, MetricAggregatedDatum):
            stats = tuple(
                np.array([float(x)]) for x in (datum.sum, datum.min, datum.max, datum.sample_count)
            )
            chunk = _Chunk(ts, None, stats, datum.unit, seeded=False)  # type: ignore[arg-type]
        else:
            assert isinstance(datum, MetricDatum)
            chunk = _Chunk(ts, np.array([float(datum.value)]), None, datum.unit, seeded=False)
        self.add(datum.namespace, datum.name, dims, chunk)

    # ---- look-ups -----------------------------------------------------------------------

    def exact(self, namespace: str, name: str, dimensions: list[dict[str, Any]]) -> list[_Series]:
        """GetMetricData matching: the one series with exactly these dimensions; none = all."""
        if not dimensions:
            return list(self.by_metric.get((namespace, name), ()))
        key: SeriesKey = (
            namespace,
            name,
            frozenset((d["Name"], d["Value"]) for d in dimensions),
        )
        # moto compares the sorted lists, so a repeated dimension must be repeated in the datum
        if len(key[2]) != len(dimensions):
            return []
        series = self.series.get(key)
        return [series] if series is not None else []

    def matching(
        self, namespace: str | None, name: str | None, dimensions: list[dict[str, Any]]
    ) -> list[_Series]:
        """GetMetricStatistics / ListMetrics matching: every series carrying these dimensions.

        A dimension without a value matches any value of that name (moto's ``Dimension``
        equality).  Results keep the order in which the series first appeared.
        """
        if namespace and name and dimensions:
            valued = [d for d in dimensions if d.get("Value") is not None]
            if valued:
                postings: list[list[_Series]] = [
                    self.by_dimension.get((namespace, name, d["Name"], d["Value"]), [])
                    for d in valued
                ]
                smallest: list[_Series] = min(postings, key=len)
                candidates: Iterable[_Series] = smallest
            else:
                candidates = self.by_metric.get((namespace, name), [])
        elif namespace and name:
            candidates = self.by_metric.get((namespace, name), [])
        else:
            candidates = self.series.values()
        out = []
        for series in candidates:
            if namespace and series.key[0] != namespace:
                continue
            if name and series.key[1] != name:
                continue
            if dimensions and not all(_has_dimension(series.key[2], d) for d in dimensions):
                continue
            out.append(series)
        order = {id(s): i for i, s in enumerate(self.series.values())} if len(out) > 1 else {}
        return sorted(out, key=lambda s: order.get(id(s), 0)) if order else out


def _has_dimension(dims: DimsKey, wanted: dict[str, Any]) -> bool:
    value = wanted.get("Value")
    if value is None:
        return any(n == wanted["Name"] for n, _ in dims)
    return (wanted["Name"], value) in dims


# --------------------------------------------------------------------------------------------
# Per-backend indexes
# --------------------------------------------------------------------------------------------

_ATTR = "_finops_metric_index"
_BACKEND_LOCK = threading.Lock()


def _index_of(backend: CloudWatchBackend) -> RegionIndex:
    """The index that lives on a moto backend (so moto's reset drops it with the backend)."""
    index: RegionIndex | None = getattr(backend, _ATTR, None)
    if index is None:
        with _BACKEND_LOCK:
            index = getattr(backend, _ATTR, None)
            if index is None:
                index = RegionIndex()
                setattr(backend, _ATTR, index)
    if backend.metric_data:
        # datapoints stored before the patch was installed: move them into the index once
        with index.lock:
            pending, backend.metric_data = backend.metric_data, []
            for datum in pending:
                index.add_datum(datum)
    return index


def put_metric_series(
    account_id: str,
    region: str,
    namespace: str,
    metric_name: str,
    dimensions: dict[str, str],
    timestamps: np.ndarray,
    values: np.ndarray,
    unit: str = "None",
) -> None:
    """Bulk-insert one metric series into the sandbox's CloudWatch (no API round trip).

    The series is part of the seeded history: it is shifted with the clock (see the module
    docstring), so it keeps ending at the present while the sandbox runs.

    Args:
        account_id: the account the metric belongs to.
        region: its region.
        namespace: e.g. ``AWS/EC2``.
        metric_name: e.g. ``CPUUtilization``.
        dimensions: e.g. ``{"InstanceId": "i-0123"}``.
        timestamps: ``datetime64`` (any unit, UTC) or int64 epoch seconds, one per value.
        values: the datapoints (float).
        unit: CloudWatch unit, e.g. ``Percent``, ``Bytes``.

    Example:
        >>> ts = np.arange("2026-01-01T00", "2026-01-02T00", dtype="datetime64[h]")
        >>> put_metric_series("123456789012", "us-east-1", "AWS/EC2", "CPUUtilization",
        ...                   {"InstanceId": "i-1"}, ts, np.full(ts.size, 2.0), "Percent")
    """
    ts = np.asarray(timestamps)
    if np.issubdtype(ts.dtype, np.datetime64):
        ts = ts.astype("datetime64[s]").astype(np.int64)
    else:
        ts = ts.astype(np.int64)
    vals = np.array(values, dtype=np.float64)  # a copy: the caller may reuse its array
    vals.setflags(write=False)
    if ts.shape != vals.shape or ts.ndim != 1:
        raise ValueError(
            f"timestamps and values must be 1-d of equal length, got {ts.shape} and {vals.shape}"
        )
    if np.isnan(vals).any():
        raise ValueError(f"{namespace}/{metric_name}: values must not contain NaN")
    backend = cloudwatch_backends[account_id][region]
    index = _index_of(backend)
    dims = [{"Name": k, "Value": str(v)} for k, v in dimensions.items()]
    with index.lock:
        shared = index.shared_timestamps(ts)
        index.add(namespace, metric_name, dims, _Chunk(shared, vals, None, unit, seeded=True))


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


@dataclass
class _Window:
    """Datapoints of some series inside [start, end), merged and sorted by time."""

    ts: np.ndarray
    sums: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    counts: np.ndarray
    plain: bool
    units: list[str | None]  # unit per point, only filled when asked for (GetMetricStatistics)


def _window(
    series: list[_Series],
    start: int,
    end: int,
    unit: str | None,
    shift: int,
    with_units: bool = False,
) -> _Window | None:
    pieces: list[tuple[np.ndarray, ...]] = []
    unit_pieces: list[list[str | None]] = []
    plain = True
    for one in series:
        for seeded in (True, False):
            arrays = one.arrays(seeded)
            if arrays is None:
                continue
            offset = shift if seeded else 0
            lo = int(np.searchsorted(arrays.ts, start - offset, side="left"))
            hi = int(np.searchsorted(arrays.ts, end - offset, side="left"))
            if hi <= lo:
                continue
            sl = slice(lo, hi)
            mask: np.ndarray | None = None
            if unit:
                if arrays.unit_codes is None:
                    if arrays.units[0] != unit:
                        continue
                elif unit in arrays.units:
                    mask = arrays.unit_codes[sl] == arrays.units.index(unit)
                else:
                    continue
            cols = [
                arrays.ts[sl] + offset,
                arrays.sums[sl],
                arrays.mins[sl],
                arrays.maxs[sl],
                arrays.counts[sl],
            ]
            codes = arrays.unit_codes[sl] if arrays.unit_codes is not None else None
            if mask is not None:
                cols = [c[mask] for c in cols]
                codes = codes[mask] if codes is not None else None
            if cols[0].size == 0:
                continue
            pieces.append(tuple(cols))
            plain = plain and arrays.plain
            if with_units:
                if codes is None:
                    unit_pieces.append([arrays.units[0]] * cols[0].size)
                else:
                    unit_pieces.append([arrays.units[int(c)] for c in codes])
    if not pieces:
        return None
    if len(pieces) == 1:
        ts, sums, mins, maxs, counts = pieces[0]
        units = unit_pieces[0] if with_units else []
    else:
        ts, sums, mins, maxs, counts = (np.concatenate([p[i] for p in pieces]) for i in range(5))
        order = np.argsort(ts, kind="stable")
        ts, sums, mins, maxs, counts = (
            ts[order],
            sums[order],
            mins[order],
            maxs[order],
            counts[order],
        )
        units = []
        if with_units:
            flat = [u for piece in unit_pieces for u in piece]
            units = [flat[int(i)] for i in order]
    return _Window(ts, sums, mins, maxs, counts, plain, units)


@dataclass
class _Buckets:
    starts: np.ndarray  # epoch seconds of each non-empty period, ascending
    bounds: np.ndarray  # index of each period's first point in the window
    window: _Window

    def stat(self, stat: str) -> list[float | None]:
        w, b = self.window, self.bounds
        if stat == "Sum":
            return list(np.add.reduceat(w.sums, b).tolist())
        if stat == "SampleCount":
            return list(np.add.reduceat(w.counts, b).tolist())
        if stat == "Minimum":
            return list(np.minimum.reduceat(w.mins, b).tolist())
        if stat == "Maximum":
            return list(np.maximum.reduceat(w.maxs, b).tolist())
        if stat == "Average":
            sums = np.add.reduceat(w.sums, b)
            counts = np.add.reduceat(w.counts, b)
            averages: list[float | None] = list(
                np.divide(sums, counts, out=np.zeros_like(sums), where=counts != 0).tolist()
            )
            for i in np.flatnonzero(counts == 0):
                averages[int(i)] = None  # moto: no average without samples
            return averages
        percentile = _percentile(stat)
        if percentile is not None and w.plain:
            ends = [*b[1:].tolist(), w.sums.size]
            return [
                float(np.percentile(w.sums[lo:hi], percentile))
                for lo, hi in zip(b.tolist(), ends, strict=True)
            ]
        return [None] * int(b.size)


def _percentile(stat: str) -> float | None:
    if len(stat) > 1 and stat[0] == "p":
        try:
            value = float(stat[1:])
        except ValueError:
            return None
        return value if 0 <= value <= 100 else None
    return None


def _bucket(window: _Window, origin: int, period: int) -> _Buckets:
    """Group a window's points into periods [origin + k*period, origin + (k+1)*period)."""
    k = (window.ts - origin) // period
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(k)) + 1))
    return _Buckets(origin + k[bounds] * period, bounds, window)


def _provider_index(backend: CloudWatchBackend) -> RegionIndex | None:
    """Metrics moto computes on the fly (S3 bucket sizes), indexed per request (few series)."""
    provided = backend.aws_metric_data
    if not provided:
        return None
    index = RegionIndex()
    for datum in provided:
        index.add_datum(datum)
    return index


def _indexes_for(backend: CloudWatchBackend, namespaces: Iterable[str | None]) -> list[RegionIndex]:
    indexes = [_index_of(backend)]
    # providers only publish AWS/S3; skip computing them unless a query can reach them
    if any(ns in (None, "", "AWS/S3") for ns in namespaces):
        provider = _provider_index(backend)
        if provider is not None:
            indexes.append(provider)
    return indexes


_EPOCHS = "_epoch_seconds"


def _datetimes(epochs: list[int]) -> list[datetime]:
    """Naive UTC datetimes for epoch seconds (numpy converts in C: fast for 100k stamps)."""
    if not epochs:
        return []
    converted: list[datetime] = np.array(epochs, dtype="datetime64[s]").astype(object).tolist()
    return converted


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _indexed_put_metric_data(
    self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]
) -> None:
    # moto validates and builds its datums; we move them from its list into the index
    index = _index_of(self)
    with index.lock:
        _ORIGINAL["put_metric_data"](self, namespace, metric_data)
        pending, self.metric_data = self.metric_data, []
        for datum in pending:
            index.add_datum(datum)


F = TypeVar("F", bound=Callable[..., Any])


def _holding_index_lock(function: F) -> F:
    """Run a query with the backend's index locked: series caches are filled while reading."""

    @functools.wraps(function)
    def locked(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        with _index_of(self).lock:
            return function(self, *args, **kwargs)

    return cast(F, locked)


@_holding_index_lock
def _indexed_get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    start_dt, end_dt = _naive(start_time), _naive(end_time)
    if start_dt > end_dt:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start_dt == end_dt:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
    start, end = _to_epoch(start_dt), _to_epoch(end_dt)
    shift = clock_shift_seconds()

    stat_queries = [q for q in queries if "MetricStat" in q]
    other_queries = [q for q in queries if "MetricStat" not in q]
    indexes = _indexes_for(self, [q["MetricStat"]["Metric"].get("Namespace") for q in stat_queries])
    results: list[dict[str, Any]] = []
    to_return: list[dict[str, Any]] = []
    for query in stat_queries:
        metric_stat = query["MetricStat"]
        metric = metric_stat["Metric"]
        name = metric["MetricName"]
        stat = metric_stat["Stat"]
        period = int(metric_stat["Period"])
        dims = metric.get("Dimensions", [])
        matched: list[_Series] = []
        for index in indexes:
            with index.lock:
                matched.extend(index.exact(metric["Namespace"], name, dims))
        window = _window(matched, start, end, metric_stat.get("Unit"), shift)
        values: list[float | None] = []
        epochs: list[int] = []
        if window is not None:
            buckets = _bucket(window, start, period)
            values = buckets.stat(stat)
            epochs = buckets.starts.tolist()
        if scan_by == "TimestampDescending":
            values.reverse()
            epochs.reverse()
        entry = {
            "id": query["Id"],
            "label": query.get("Label") or f"{name} {stat}",
            "values": values,
            "timestamps": _datetimes(epochs),
            "status_code": "Complete",
            _EPOCHS: epochs,  # for the fast JSON response; moto's serialiser ignores it
        }
        results.append(entry)
        if query.get("ReturnData", True):
            to_return.append(dict(entry))
    if other_queries:
        # metric math runs over the results above (moto's parser); Metrics Insights SELECT
        # queries aggregate everything, so they take moto's own path over materialised data
        from moto.cloudwatch.metric_data_expression_parser import parse_expression

        math = [q for q in other_queries if not q["Expression"].startswith("SELECT")]
        for query in math:
            vals, stamps = parse_expression(query["Expression"], results)
            to_return.append(
                {
                    "id": query["Id"],
                    "label": query.get("Label") or query["Id"],
                    "values": vals,
                    "timestamps": stamps,
                    "status_code": "Complete",
                }
            )
        insights = [q for q in other_queries if q["Expression"].startswith("SELECT")]
        if insights:
            to_return.extend(stock_get_metric_data(self, insights, start_dt, end_dt, scan_by))
    return to_return


class _Datapoint:
    """One GetMetricStatistics datapoint, with the attributes moto's serialiser reads."""

    __slots__ = ("average", "maximum", "minimum", "sample_count", "sum", "timestamp", "unit")

    def __init__(self, timestamp: datetime, unit: str | None) -> None:
        self.timestamp = timestamp
        self.unit = unit
        self.sum: float | None = None
        self.average: float | None = None
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.sample_count: float | None = None


_STAT_ATTRS = {
    "Sum": "sum",
    "Average": "average",
    "Minimum": "minimum",
    "Maximum": "maximum",
    "SampleCount": "sample_count",
}


@_holding_index_lock
def _indexed_get_metric_statistics(
    self: CloudWatchBackend,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
) -> list[_Datapoint]:
    start_dt, end_dt = _naive(start_time), _naive(end_time)
    if start_dt >= end_dt:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )
    start, end = _to_epoch(start_dt), _to_epoch(end_dt)
    matched: list[_Series] = []
    for index in _indexes_for(self, [namespace]):
        with index.lock:
            matched.extend(index.matching(namespace, metric_name, dimensions))
    window = _window(matched, start, end, unit, clock_shift_seconds(), with_units=True)
    if window is None:
        return []
    # moto starts the periods at the first datapoint, not at StartTime
    buckets = _bucket(window, int(window.ts[0]), int(period))
    ends = [*list(buckets.bounds[1:]), window.ts.size]
    points = [
        _Datapoint(_from_epoch(int(t)), window.units[int(last) - 1])
        for t, last in zip(buckets.starts, ends, strict=True)
    ]
    for stat in stats:
        attr = _STAT_ATTRS.get(stat)
        if attr is None:
            continue
        for point, value in zip(points, buckets.stat(stat), strict=True):
            setattr(point, attr, value)
    return points


class _MetricDataResult(ActionResult):
    """GetMetricData's result, serialised fast for JSON-protocol clients.

    moto's generic serialiser walks every timestamp and value through the service model (about
    15 s of CPU for 500 queries of 14 days hourly); here moto serialises only the envelope (ids,
    labels, status) and the numbers are written in bulk.  Other protocols take moto's path.
    """

    def execute_result(self, context: ActionContext) -> TYPE_RESPONSE:
        if not issubclass(context.serializer_class, BaseJSONSerializer):
            return super().execute_result(context)
        results: list[dict[str, Any]] = self.result["MetricDataResults"]  # type: ignore[index]
        envelope = {"MetricDataResults": [{**r, "values": [], "timestamps": []} for r in results]}
        status, headers, body = ActionResult(envelope).execute_result(context)
        document = json.loads(body)
        for entry, result in zip(document["MetricDataResults"], results, strict=True):
            epochs = result.get(_EPOCHS)
            if epochs is None:  # metric math and Insights results carry datetimes only
                epochs = [calendar.timegm(t.timetuple()) for t in result["timestamps"]]
            entry["Timestamps"] = epochs
            entry["Values"] = result["values"]
        return status, headers, json.dumps(document)


def _response_get_metric_data(self: CloudWatchResponse) -> ActionResult:
    """moto's CloudWatchResponse.get_metric_data, answering with :class:`_MetricDataResult`."""
    params = self._get_params()
    queries = params.get("MetricDataQueries", [])
    if len(queries) > MAX_QUERIES:
        raise ValidationError(
            f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
        )
    for query in queries:
        if "MetricStat" not in query and "Expression" not in query:
            # AWS also returns the empty line
            raise ValidationError(
                "The parameter MetricDataQueries.member.1.MetricStat is required.\n"
            )
    results = self.cloudwatch_backend.get_metric_data(
        start_time=params["StartTime"],
        end_time=params["EndTime"],
        queries=queries,
        scan_by=params.get("ScanBy") or "TimestampDescending",
    )
    return _MetricDataResult({"MetricDataResults": results})


def _indexed_get_filtered_metrics(
    self: CloudWatchBackend,
    metric_name: str,
    namespace: str,
    dimensions: list[dict[str, str]],
) -> list[MetricDatumBase]:
    listed: list[MetricDatumBase] = []
    for index in _indexes_for(self, [namespace]):
        with index.lock:
            listed.extend(s.listing() for s in index.matching(namespace, metric_name, dimensions))
    return listed


# --------------------------------------------------------------------------------------------
# Installing the patch, and moto's stock answers for comparison
# --------------------------------------------------------------------------------------------

_ORIGINAL: dict[str, Callable[..., Any]] = {
    "put_metric_data": CloudWatchBackend.put_metric_data,
    "get_metric_data": CloudWatchBackend.get_metric_data,
    "get_metric_statistics": CloudWatchBackend.get_metric_statistics,
    "get_filtered_metrics": CloudWatchBackend.get_filtered_metrics,
}
_PATCHED: dict[str, Callable[..., Any]] = {
    "put_metric_data": _indexed_put_metric_data,
    "get_metric_data": _indexed_get_metric_data,
    "get_metric_statistics": _indexed_get_metric_statistics,
    "get_filtered_metrics": _indexed_get_filtered_metrics,
}


_ORIGINAL_RESPONSE = CloudWatchResponse.get_metric_data


def install() -> None:
    """Make moto's CloudWatch answer from the index (idempotent; process-wide).

    Example:
        >>> install(); uninstall()
    """
    for name, function in _PATCHED.items():
        setattr(CloudWatchBackend, name, function)
    CloudWatchResponse.get_metric_data = _response_get_metric_data  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's stock CloudWatch (datapoints already indexed stay in the index)."""
    for name, function in _ORIGINAL.items():
        setattr(CloudWatchBackend, name, function)
    CloudWatchResponse.get_metric_data = _ORIGINAL_RESPONSE  # type: ignore[method-assign]


@contextmanager
def installed() -> Iterator[None]:
    """The patch for the duration of a ``with`` block (tests).

    Example:
        >>> with installed():
        ...     pass
    """
    install()
    try:
        yield
    finally:
        uninstall()


def materialize_datums(backend: CloudWatchBackend) -> list[MetricDatumBase]:
    """The indexed datapoints as moto datums, timestamps shifted by the clock (tests, Insights).

    One Python object per datapoint: only for small data.
    """
    index = _index_of(backend)
    shift = clock_shift_seconds()
    datums: list[tuple[int, int, MetricDatumBase]] = []
    seq = 0
    with index.lock:
        for series in index.series.values():
            ns, name, _ = series.key
            for chunk in series.chunks:
                offset = shift if chunk.seeded else 0
                for i in range(chunk.ts.size):
                    when = _from_epoch(int(chunk.ts[i]) + offset)
                    datum: MetricDatumBase
                    if chunk.values is not None:
                        datum = MetricDatum(
                            ns, name, float(chunk.values[i]), series.dimensions, when, chunk.unit
                        )
                    else:
                        assert chunk.stats is not None
                        s, lo, hi, n = (float(a[i]) for a in chunk.stats)
                        datum = MetricAggregatedDatum(
                            ns, name, lo, hi, n, s, series.dimensions, when, chunk.unit
                        )
                    datums.append((seq, 0, datum))
                    seq += 1
    return [d for _, _, d in datums]


def _stock_backend(backend: CloudWatchBackend) -> CloudWatchBackend:
    stock = CloudWatchBackend.__new__(CloudWatchBackend)
    stock.__dict__.update({k: v for k, v in backend.__dict__.items() if k != _ATTR})
    stock.metric_data = materialize_datums(backend)
    return stock


def stock_get_metric_data(
    backend: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    """moto's own GetMetricData over the indexed data (the reference the index must match)."""
    result: list[dict[str, Any]] = _ORIGINAL["get_metric_data"](
        _stock_backend(backend), queries, start_time, end_time, scan_by
    )
    return result


def stock_get_metric_statistics(
    backend: CloudWatchBackend,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
) -> list[Any]:
    """moto's own GetMetricStatistics over the indexed data (the reference for tests)."""
    result: list[Any] = _ORIGINAL["get_metric_statistics"](
        _stock_backend(backend),
        namespace,
        metric_name,
        start_time,
        end_time,
        period,
        stats,
        dimensions,
        unit,
    )
    return result
