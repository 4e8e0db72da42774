"""S3 adapter: buckets with their region, tags, lifecycle rules and incomplete multipart uploads,
the pure transform, and one bucket's tags and lifecycle rules for remediation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import Written, apply, error_code, paginate, tag_dict, utc
from tasks.aws.records import (
    Bucket,
    MultipartUpload,
)


def bucket_region(s3: Any, bucket: dict[str, Any]) -> str:
    """A bucket's region: ``BucketRegion`` from ListBuckets, else GetBucketLocation."""
    if bucket.get("BucketRegion"):
        return str(bucket["BucketRegion"])
    location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))


def get_buckets(s3: Any, region: str) -> list[dict[str, Any]]:
    """Buckets in ``region`` with their lifecycle rules, tags and incomplete uploads.

    Each entry gets ``_Rules`` (lifecycle rules), ``_Tags`` and ``_Uploads`` (each upload with
    ``_PartsBytes``, the bytes its parts hold).
    """
    out: list[dict[str, Any]] = []
    # BucketRegion lets AWS filter server-side; the region is still checked per bucket for
    # endpoints that ignore the filter (GetBucketLocation only when ListBuckets omits it)
    for bucket in paginate(
        s3, "list_buckets", "Buckets", BucketRegion=region, PaginationConfig={"PageSize": 1000}
    ):
        if bucket_region(s3, bucket) != region:
            continue
        name = bucket["Name"]
        rules = lifecycle_rules(s3, name)
        tags = bucket_tag_set(s3, name)
        uploads = []
        for upload in paginate(s3, "list_multipart_uploads", "Uploads", Bucket=name):
            parts = paginate(
                s3,
                "list_parts",
                "Parts",
                Bucket=name,
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )
            uploads.append({**upload, "_PartsBytes": sum(int(p.get("Size", 0)) for p in parts)})
        out.append({**bucket, "_Rules": rules, "_Tags": tags, "_Uploads": uploads})
    return out


def aborts_incomplete_uploads(rules: Iterable[dict[str, Any]]) -> bool:
    """True when an enabled lifecycle rule for the whole bucket aborts incomplete uploads.

    Example:
        >>> aborts_incomplete_uploads([{"Status": "Enabled", "Filter": {"Prefix": ""},
        ...     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}])
        True
    """
    for rule in rules:
        if rule.get("Status") != "Enabled" or "AbortIncompleteMultipartUpload" not in rule:
            continue
        scope = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
        if not scope or scope.get("Prefix", None) == "" or scope == {}:
            return True
    return False


def transform_buckets(account_id: str, region: str, raw: Iterable[dict[str, Any]]) -> list[Bucket]:
    """Buckets (as ``get_buckets`` returns them) as records."""
    records: list[Bucket] = []
    for item in raw:
        uploads = []
        for upload in item.get("_Uploads", []):
            initiated = utc(upload.get("Initiated"))
            if initiated is None:
                continue
            uploads.append(
                MultipartUpload(
                    key=upload["Key"],
                    upload_id=upload["UploadId"],
                    initiated=initiated,
                    parts_bytes=upload.get("_PartsBytes"),
                )
            )
        records.append(
            Bucket(
                account_id=account_id,
                region=region,
                name=item["Name"],
                aborts_incomplete_uploads=aborts_incomplete_uploads(item.get("_Rules", [])),
                uploads=tuple(uploads),
                tags=tag_dict(item.get("_Tags")),
            )
        )
    return records


def lifecycle_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules ([] when it has no lifecycle configuration)."""
    try:
        return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as error:
        if error_code(error) != "NoSuchLifecycleConfiguration":
            raise
        return []


def bucket_tag_set(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's ``TagSet`` ([] when untagged); ``NoSuchBucket`` is raised as AWS sends it."""
    try:
        return list(s3.get_bucket_tagging(Bucket=bucket).get("TagSet", []))
    except ClientError as error:
        if error_code(error) != "NoSuchTagSet":
            raise
        return []


def apply_lifecycle_rules(s3: Any, bucket: str, rules: list[dict[str, Any]]) -> Written:
    """Replace the bucket's lifecycle configuration with ``rules`` (S3 has no dry run)."""
    return apply(
        s3,
        "put_bucket_lifecycle_configuration",
        Bucket=bucket,
        LifecycleConfiguration={"Rules": rules},
    )
