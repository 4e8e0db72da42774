"""Write the cost ledger to S3 as an AWS Data Exports FOCUS 1.0 Parquet export with manifests.

Layout (AWS Data Exports, "create new export file" delivery: every execution gets its own
folder, so an older version's files stay but only the manifest says which files are current):

.. code-block:: text

    s3://<bucket>/<prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/<execution-id>/
        <export-name>-00001.snappy.parquet, <export-name>-00002.snappy.parquet, ...
    s3://<bucket>/<prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/<execution-id>/
        <export-name>-Manifest.json          (the manifest of that execution, kept)
    s3://<bucket>/<prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/
        <export-name>-Manifest.json          (the current manifest, replaced by each execution)

One billing period per ``BILLING_PERIOD=`` partition, as AWS delivers CUR 2.0 and FOCUS.  The
manifest is written after the period's data files (so a reader never sees a manifest pointing at
missing files) and holds, as AWS's ``Manifest.json`` does: ``executionId``, ``exportArn``,
``columns`` (``name``, ``type``), ``dataFiles`` (full ``s3://`` URIs) and
``additionalOutputFiles``; plus ``billingPeriod`` (``start``/``end``, ISO UTC), ``exportTime``
and ``version`` (the period's export version: 1, then +1 per restatement) for the sandbox's
readers.  A reader replaces a billing period wholesale when the current manifest's
``executionId`` differs from the one it ingested, and reads only the files the manifest lists.

Data files are FOCUS 1.0 columns (``BilledCost``, ``EffectiveCost``, ``ListCost``,
``ChargePeriodStart`` ... ``Tags``) plus AWS's ``x_UsageType``; one row per ledger row (a UTC day:
``ChargePeriodStart`` midnight, ``ChargePeriodEnd`` the next midnight); money is ``double`` USD,
periods are ``timestamp[ms, UTC]``, ``Tags`` is ``map<string, string>``; ``RegionId`` is null for
global rows (support, tax, Savings Plan fees).

Execution ids are derived from the seed, the period and its version, so the same seed writes the
same keys; :func:`write_export` skips a period whose current manifest already has that execution,
so calling it again after :meth:`sandbox.ledger.Ledger.restate` rewrites only the restated period.

Example:
    >>> s3 = boto3.client("s3", endpoint_url=endpoint)                 # doctest: +SKIP
    >>> info = write_export(s3, ledger, "finops-sandbox-cur", "cur", "finops-focus",
    ...                     datetime.now(UTC))                          # doctest: +SKIP
    >>> info["periods"]["2026-10"]["data_files"][0]                     # doctest: +SKIP
    'cur/finops-focus/data/BILLING_PERIOD=2026-10/<execution-id>/finops-focus-00001.snappy.parquet'

A little over 400 lines: the FOCUS and CUR 2.0 layouts, manifests and restatements are written by
one function each over shared column maps; about 80 lines are documentation.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from sandbox.ledger import REGION_NAME, SERVICE_CATEGORY, Ledger

#: Rows per Parquet file: a default ledger period (~3,800 rows) spans two files.
ROWS_PER_FILE = 2000
EXPORT_NAMESPACE = uuid.UUID("6f1c3b52-7d0e-4f55-9a43-2b4f0c1e9d11")

TIMESTAMP = pa.timestamp("ms", tz="UTC")
TAGS_TYPE = pa.map_(pa.string(), pa.string())

#: The data files' schema: FOCUS 1.0 columns plus AWS's x_UsageType.
FOCUS_SCHEMA = pa.schema(
    [
        pa.field("AvailabilityZone", pa.string()),
        pa.field("BilledCost", pa.float64()),
        pa.field("BillingAccountId", pa.string()),
        pa.field("BillingAccountName", pa.string()),
        pa.field("BillingCurrency", pa.string()),
        pa.field("BillingPeriodEnd", TIMESTAMP),
        pa.field("BillingPeriodStart", TIMESTAMP),
        pa.field("ChargeCategory", pa.string()),
        pa.field("ChargeClass", pa.string()),
        pa.field("ChargeDescription", pa.string()),
        pa.field("ChargeFrequency", pa.string()),
        pa.field("ChargePeriodEnd", TIMESTAMP),
        pa.field("ChargePeriodStart", TIMESTAMP),
        pa.field("CommitmentDiscountCategory", pa.string()),
        pa.field("CommitmentDiscountId", pa.string()),
        pa.field("CommitmentDiscountName", pa.string()),
        pa.field("CommitmentDiscountStatus", pa.string()),
        pa.field("CommitmentDiscountType", pa.string()),
        pa.field("ConsumedQuantity", pa.float64()),
        pa.field("ConsumedUnit", pa.string()),
        pa.field("ContractedCost", pa.float64()),
        pa.field("ContractedUnitPrice", pa.float64()),
        pa.field("EffectiveCost", pa.float64()),
        pa.field("InvoiceIssuerName", pa.string()),
        pa.field("ListCost", pa.float64()),
        pa.field("ListUnitPrice", pa.float64()),
        pa.field("PricingCategory", pa.string()),
        pa.field("PricingQuantity", pa.float64()),
        pa.field("PricingUnit", pa.string()),
        pa.field("ProviderName", pa.string()),
        pa.field("PublisherName", pa.string()),
        pa.field("RegionId", pa.string()),
        pa.field("RegionName", pa.string()),
        pa.field("ResourceId", pa.string()),
        pa.field("ResourceName", pa.string()),
        pa.field("ResourceType", pa.string()),
        pa.field("ServiceCategory", pa.string()),
        pa.field("ServiceName", pa.string()),
        pa.field("SkuId", pa.string()),
        pa.field("SkuPriceId", pa.string()),
        pa.field("SubAccountId", pa.string()),
        pa.field("SubAccountName", pa.string()),
        pa.field("Tags", TAGS_TYPE),
        pa.field("x_UsageType", pa.string()),
    ]
)

_FREQUENCY = {
    "Usage": "Usage-Based",
    "SavingsPlanCoveredUsage": "Usage-Based",
    "DiscountedUsage": "Usage-Based",
    "Credit": "Usage-Based",
    "SavingsPlanRecurringFee": "Recurring",
    "RIFee": "Recurring",
    "Support": "Recurring",
    "Tax": "Recurring",
    "Refund": "One-Time",
}
_PRICING_CATEGORY = {
    "Usage": "Standard",
    "SavingsPlanCoveredUsage": "Committed",
    "DiscountedUsage": "Committed",
    "Credit": "Other",
    "Refund": "Other",
}


def _manifest_type(data_type: pa.DataType) -> str:
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    if pa.types.is_floating(data_type):
        return "double"
    if pa.types.is_map(data_type):
        return "map<string,string>"
    return "string"


def _execution_id(ledger: Ledger, export_name: str, period: str) -> str:
    version = ledger.versions[period]
    name = f"{export_name}/{period}/v{version}/seed{ledger.seed}"
    return str(uuid.uuid5(EXPORT_NAMESPACE, name))


def _commitment_columns(ledger: Ledger, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """CommitmentDiscount* columns from the ledger's commitment columns (Savings Plans: Spend)."""
    names = {plan.commitment_id: plan.name for plan in ledger.commitments}
    ident = frame["commitment_discount_id"].to_numpy(dtype=object)
    return {
        "CommitmentDiscountCategory": frame["commitment_discount_category"].to_numpy(dtype=object),
        "CommitmentDiscountId": ident,
        "CommitmentDiscountName": np.asarray([names.get(i) for i in ident.tolist()], object),
        "CommitmentDiscountStatus": frame["commitment_discount_status"].to_numpy(dtype=object),
        "CommitmentDiscountType": frame["commitment_discount_type"].to_numpy(dtype=object),
    }


def _descriptions(record_type: np.ndarray, service: np.ndarray, usage: np.ndarray) -> np.ndarray:
    text = {
        "SavingsPlanRecurringFee": "Savings Plan recurring fee (monthly commitment)",
        "RIFee": "Reserved Instance recurring fee (monthly)",
        "Support": "AWS Support (Business) monthly fee",
        "Tax": "Tax for the billing period",
        "Credit": "AWS Promotional Credit",
        "Refund": "Refund of an earlier charge",
    }
    out = np.empty(len(record_type), dtype=object)
    for index, (kind, svc, usage_type) in enumerate(
        zip(record_type.tolist(), service.tolist(), usage.tolist(), strict=True)
    ):
        out[index] = text.get(kind) or f"{svc} {usage_type}"
    return out


def focus_table(ledger: Ledger, rows: np.ndarray) -> pa.Table:
    """The FOCUS 1.0 Parquet table for some ledger rows.

    Args:
        ledger: the ledger.
        rows: positional indices of ``ledger.frame`` rows.

    Returns:
        A table with :data:`FOCUS_SCHEMA`.
    """
    frame = ledger.frame.iloc[rows]
    attributes = ledger.attributes.iloc[rows]
    n = len(frame)
    record_type = attributes["record_type"].to_numpy(dtype=object)
    account = frame["sub_account_id"].to_numpy(dtype=object)
    region = frame["region"].to_numpy(dtype=object)
    service = frame["service"].to_numpy(dtype=object)
    usage_type = frame["usage_type"].to_numpy(dtype=object)
    charge_day = pd.to_datetime(frame["charge_date"].to_numpy()).tz_localize(UTC)
    period_start = pd.to_datetime(frame["billing_period"].to_numpy(), format="%Y-%m").tz_localize(
        UTC
    )
    billed = frame["billed_cost"].to_numpy(dtype=float)
    listed = frame["list_cost"].to_numpy(dtype=float)
    quantity = frame["usage_quantity"].to_numpy(dtype=float)
    unit = frame["usage_unit"].to_numpy(dtype=object)
    unit_price = attributes["unit_price"].to_numpy(dtype=float)
    # Tags: parse each distinct JSON text once.
    texts = frame["tags"].to_numpy(dtype=object)
    parsed = {text: sorted(json.loads(text).items()) for text in set(texts.tolist())}
    names = ledger.account_names
    region_or_none = np.asarray([r if r else None for r in region.tolist()], dtype=object)
    columns: dict[str, Any] = {
        "AvailabilityZone": np.full(n, None, dtype=object),
        "BilledCost": billed,
        "BillingAccountId": frame["billing_account_id"].to_numpy(dtype=object),
        "BillingAccountName": np.full(n, names.get(ledger.billing_account_id), dtype=object),
        "BillingCurrency": frame["currency"].to_numpy(dtype=object),
        "BillingPeriodEnd": period_start + pd.offsets.MonthBegin(1),
        "BillingPeriodStart": period_start,
        "ChargeCategory": frame["charge_category"].to_numpy(dtype=object),
        "ChargeClass": np.full(n, None, dtype=object),
        "ChargeDescription": _descriptions(record_type, service, usage_type),
        "ChargeFrequency": np.asarray([_FREQUENCY[k] for k in record_type], dtype=object),
        "ChargePeriodEnd": charge_day + pd.Timedelta(days=1),
        "ChargePeriodStart": charge_day,
        **_commitment_columns(ledger, frame),
        "ConsumedQuantity": quantity,
        "ConsumedUnit": unit,
        "ContractedCost": np.where(np.isnan(listed), billed, listed),
        "ContractedUnitPrice": unit_price,
        "EffectiveCost": frame["effective_cost"].to_numpy(dtype=float),
        "InvoiceIssuerName": np.full(n, "Amazon Web Services, Inc.", dtype=object),
        "ListCost": listed,
        "ListUnitPrice": unit_price,
        "PricingCategory": np.asarray([_PRICING_CATEGORY.get(k) for k in record_type], object),
        "PricingQuantity": quantity,
        "PricingUnit": unit,
        "ProviderName": np.full(n, "AWS", dtype=object),
        "PublisherName": np.full(n, "Amazon Web Services, Inc.", dtype=object),
        "RegionId": region_or_none,
        "RegionName": np.asarray([REGION_NAME.get(r) if r else None for r in region], object),
        "ResourceId": np.full(n, None, dtype=object),
        "ResourceName": np.full(n, None, dtype=object),
        "ResourceType": np.full(n, None, dtype=object),
        "ServiceCategory": np.asarray([SERVICE_CATEGORY.get(s, "Other") for s in service], object),
        "ServiceName": service,
        "SkuId": np.full(n, None, dtype=object),
        "SkuPriceId": np.full(n, None, dtype=object),
        "SubAccountId": account,
        "SubAccountName": np.asarray([names.get(a, a) for a in account], dtype=object),
        "Tags": [parsed[text] for text in texts.tolist()],
        "x_UsageType": usage_type,
    }
    arrays = []
    for field in FOCUS_SCHEMA:
        values = columns[field.name]
        if pa.types.is_floating(field.type):
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
        elif pa.types.is_timestamp(field.type):
            arrays.append(pa.array(pd.DatetimeIndex(values), type=field.type))
        else:
            arrays.append(pa.array(list(values), type=field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=FOCUS_SCHEMA)


def _ensure_bucket(s3_client: Any, bucket: str) -> None:
    try:
        s3_client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = s3_client.meta.region_name or "us-east-1"
    if region == "us-east-1":
        s3_client.create_bucket(Bucket=bucket)
    else:
        s3_client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )


def _current_manifest(s3_client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            return None
        raise
    manifest: dict[str, Any] = json.loads(body)
    return manifest


def write_export(
    s3_client: Any,
    ledger: Ledger,
    bucket: str,
    prefix: str,
    export_name: str,
    now: datetime,
    periods: list[str] | None = None,
    rows_per_file: int = ROWS_PER_FILE,
) -> dict[str, Any]:
    """Write (or bring up to date) the FOCUS Parquet export of the ledger in S3.

    Each billing period whose current manifest does not already name this version's execution
    is written whole: new data files in a new execution folder, then its manifests.

    Args:
        s3_client: a boto3 S3 client (the bucket is created if missing, in the client's region).
        ledger: the ledger to export.
        bucket: the export bucket.
        prefix: the export's S3 prefix (no leading or trailing slash).
        export_name: the export's name.
        now: the export time (tz-aware UTC), written to the manifests.
        periods: only these billing periods ``'YYYY-MM'`` (default: all the ledger's).
        rows_per_file: rows per Parquet file (a period spans several files).

    Returns:
        JSON-ready ``{"bucket", "prefix", "export_name", "format", "periods": {period:
        {"execution_id", "version", "manifest_key", "data_files", "rows", "written"}}}``.

    Raises:
        ValueError: a bad argument (naive ``now``, unknown period, rows_per_file < 1).

    Example:
        >>> write_export(s3, ledger, "finops-sandbox-cur", "cur", "finops-focus",
        ...              datetime(2026, 11, 26, tzinfo=UTC))["export_name"]   # doctest: +SKIP
        'finops-focus'
    """
    if now.tzinfo is None:
        raise ValueError("write_export needs a timezone-aware 'now' (UTC)")
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be at least 1, got {rows_per_file}")
    wanted = ledger.billing_periods if periods is None else list(periods)
    unknown = [p for p in wanted if p not in ledger.versions]
    if unknown:
        raise ValueError(
            f"billing period(s) {unknown} are not in the ledger {ledger.billing_periods}"
        )
    _ensure_bucket(s3_client, bucket)
    root = f"{prefix.strip('/')}/{export_name}" if prefix.strip("/") else export_name
    export_arn = (
        f"arn:aws:bcm-data-exports:us-east-1:{ledger.billing_account_id}:export/"
        f"{export_name}-{uuid.uuid5(EXPORT_NAMESPACE, export_name)}"
    )
    period_column = ledger.frame["billing_period"].to_numpy(dtype=object)
    columns = [{"name": f.name, "type": _manifest_type(f.type)} for f in FOCUS_SCHEMA]
    written: dict[str, Any] = {}
    for period in wanted:
        partition = f"BILLING_PERIOD={period}"
        execution_id = _execution_id(ledger, export_name, period)
        manifest_key = f"{root}/metadata/{partition}/{export_name}-Manifest.json"
        current = _current_manifest(s3_client, bucket, manifest_key)
        if current is not None and current.get("executionId") == execution_id:
            written[period] = {
                "execution_id": execution_id,
                "version": ledger.versions[period],
                "manifest_key": manifest_key,
                "data_files": [uri.split(f"s3://{bucket}/", 1)[1] for uri in current["dataFiles"]],
                "rows": int(current.get("rowCount", 0)),
                "written": False,
            }
            continue
        rows = np.nonzero(period_column == period)[0]
        table = focus_table(ledger, rows)
        n_files = max(1, math.ceil(len(rows) / rows_per_file))
        data_keys: list[str] = []
        for part in range(n_files):
            chunk = table.slice(part * rows_per_file, rows_per_file)
            sink = io.BytesIO()
            pq.write_table(chunk, sink, compression="snappy")
            file_name = f"{export_name}-{part + 1:05d}.snappy.parquet"
            key = f"{root}/data/{partition}/{execution_id}/{file_name}"
            s3_client.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
            data_keys.append(key)
        year, month = (int(x) for x in period.split("-"))
        end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
        manifest = {
            "executionId": execution_id,
            "exportArn": export_arn,
            "exportName": export_name,
            "columns": columns,
            "dataFiles": [f"s3://{bucket}/{key}" for key in data_keys],
            "additionalOutputFiles": [],
            "billingPeriod": {
                "start": f"{year:04d}-{month:02d}-01T00:00:00.000Z",
                "end": f"{end_year:04d}-{end_month:02d}-01T00:00:00.000Z",
            },
            "exportTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "version": ledger.versions[period],
            "rowCount": len(rows),
        }
        body = json.dumps(manifest, indent=2).encode()
        # The execution's own manifest first, then the current one: readers that follow the
        # current manifest never see files that are not there yet.
        s3_client.put_object(
            Bucket=bucket,
            Key=f"{root}/metadata/{partition}/{execution_id}/{export_name}-Manifest.json",
            Body=body,
            ContentType="application/json",
        )
        s3_client.put_object(
            Bucket=bucket, Key=manifest_key, Body=body, ContentType="application/json"
        )
        written[period] = {
            "execution_id": execution_id,
            "version": ledger.versions[period],
            "manifest_key": manifest_key,
            "data_files": data_keys,
            "rows": len(rows),
            "written": True,
        }
    return {
        "bucket": bucket,
        "prefix": prefix,
        "export_name": export_name,
        "format": "FOCUS 1.0 Parquet (AWS Data Exports layout)",
        "periods": written,
    }
