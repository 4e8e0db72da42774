"""AWS adapters of the idle scan: paginated ``get_*`` reads and pure ``transform_*`` into records.

One pass per account x region: each describe call is paginated at the largest page size the API
allows, and CloudWatch is read with ``GetMetricData``, 500 queries a request, so the number of
requests grows with resources / 500 (plus per-load-balancer target health and per-bucket S3
calls, which AWS offers no batch form of).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import error_code, paginate, tag_dict, utc
from tasks.idle.records import (
    Address,
    Bucket,
    DbInstance,
    Image,
    Instance,
    LoadBalancer,
    MetricFrame,
    MetricRequest,
    MetricSeries,
    MultipartUpload,
    NatGateway,
    Snapshot,
    Volume,
)

#: GetMetricData accepts at most 500 queries a request.
MAX_QUERIES_PER_REQUEST = 500
DAY_S = 86400


def get_instances(ec2: Any) -> list[dict[str, Any]]:
    """Every instance that is not terminated (DescribeInstances, 1,000 a page)."""
    return [
        instance
        for reservation in paginate(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ],
            PaginationConfig={"PageSize": 1000},
        )
        for instance in reservation.get("Instances", [])
    ]


def transform_instances(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Instance]:
    """DescribeInstances ``Instances`` entries as records."""
    return [
        Instance(
            account_id=account_id,
            region=region,
            instance_id=item["InstanceId"],
            instance_type=item.get("InstanceType", ""),
            state=item.get("State", {}).get("Name", ""),
            launch_time=utc(item.get("LaunchTime")),
            state_transition_reason=item.get("StateTransitionReason", "") or "",
            tags=tag_dict(item.get("Tags")),
            volume_ids=tuple(
                m["Ebs"]["VolumeId"]
                for m in item.get("BlockDeviceMappings", [])
                if "Ebs" in m and "VolumeId" in m["Ebs"]
            ),
        )
        for item in raw
    ]


def get_volumes(ec2: Any) -> list[dict[str, Any]]:
    """Every EBS volume (DescribeVolumes, 500 a page)."""
    return list(paginate(ec2, "describe_volumes", "Volumes", PaginationConfig={"PageSize": 500}))


def transform_volumes(account_id: str, region: str, raw: Iterable[dict[str, Any]]) -> list[Volume]:
    """DescribeVolumes entries as records."""
    return [
        Volume(
            account_id=account_id,
            region=region,
            volume_id=item["VolumeId"],
            volume_type=item.get("VolumeType", "standard"),
            size_gib=int(item.get("Size", 0)),
            state=item.get("State", ""),
            create_time=utc(item.get("CreateTime")),
            iops=item.get("Iops"),
            throughput_mibps=item.get("Throughput"),
            attached_instance_ids=tuple(
                a["InstanceId"]
                for a in item.get("Attachments", [])
                if a.get("State", "attached") in {"attached", "attaching"} and a.get("InstanceId")
            ),
            snapshot_id=item.get("SnapshotId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_snapshots(ec2: Any, account_id: str) -> list[dict[str, Any]]:
    """Snapshots the account owns (DescribeSnapshots, owner-id filter, 1,000 a page).

    The ``owner-id`` filter means the same as ``OwnerIds=["self"]`` on AWS; it is used because
    moto answers ``OwnerIds=self`` with every snapshot behind its built-in AMIs (seconds per call
    in the sandbox).
    """
    return list(
        paginate(
            ec2,
            "describe_snapshots",
            "Snapshots",
            Filters=[{"Name": "owner-id", "Values": [account_id]}],
            PaginationConfig={"PageSize": 1000},
        )
    )


def transform_snapshots(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Snapshot]:
    """DescribeSnapshots entries as records."""
    return [
        Snapshot(
            account_id=account_id,
            region=region,
            snapshot_id=item["SnapshotId"],
            volume_id=item.get("VolumeId", "") or "",
            volume_size_gib=int(item.get("VolumeSize", 0)),
            start_time=utc(item.get("StartTime")),
            state=item.get("State", ""),
            description=item.get("Description", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_images(ec2: Any) -> list[dict[str, Any]]:
    """AMIs the account owns (DescribeImages Owners=self, 1,000 a page)."""
    return list(
        paginate(
            ec2, "describe_images", "Images", Owners=["self"], PaginationConfig={"PageSize": 1000}
        )
    )


def transform_images(account_id: str, region: str, raw: Iterable[dict[str, Any]]) -> list[Image]:
    """DescribeImages entries as records, with the snapshots behind their block devices."""
    return [
        Image(
            account_id=account_id,
            region=region,
            image_id=item["ImageId"],
            state=item.get("State", ""),
            snapshot_ids=tuple(
                m["Ebs"]["SnapshotId"]
                for m in item.get("BlockDeviceMappings", [])
                if "Ebs" in m and m["Ebs"].get("SnapshotId")
            ),
            creation_date=utc(item.get("CreationDate")),
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_addresses(ec2: Any) -> list[dict[str, Any]]:
    """Elastic IPs (DescribeAddresses has no pagination: one call answers all)."""
    return list(ec2.describe_addresses().get("Addresses", []))


def transform_addresses(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[Address]:
    """DescribeAddresses entries as records."""
    return [
        Address(
            account_id=account_id,
            region=region,
            allocation_id=item.get("AllocationId") or item.get("PublicIp", ""),
            public_ip=item.get("PublicIp", ""),
            association_id=item.get("AssociationId", "") or "",
            instance_id=item.get("InstanceId", "") or "",
            network_interface_id=item.get("NetworkInterfaceId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


def get_nat_gateways(ec2: Any) -> list[dict[str, Any]]:
    """NAT gateways (DescribeNatGateways, 1,000 a page)."""
    return list(
        paginate(ec2, "describe_nat_gateways", "NatGateways", PaginationConfig={"PageSize": 1000})
    )


def transform_nat_gateways(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[NatGateway]:
    """DescribeNatGateways entries as records."""
    return [
        NatGateway(
            account_id=account_id,
            region=region,
            nat_gateway_id=item["NatGatewayId"],
            state=item.get("State", ""),
            create_time=utc(item.get("CreateTime")),
            vpc_id=item.get("VpcId", "") or "",
            tags=tag_dict(item.get("Tags")),
        )
        for item in raw
    ]


# -- Load balancers ----------------------------------------------------------------------------
def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_load_balancers(elbv2: Any, elb: Any) -> list[dict[str, Any]]:
    """ALB/NLB (elbv2) and Classic (elb) load balancers with their tags and target health.

    Tags come 20 load balancers a request; target health one request per target group (ALB/NLB)
    or per Classic load balancer, as AWS has no batch form.  Each entry gets ``_Kind``,
    ``_Tags``, ``_Healthy`` and ``_Registered``.
    """
    v2 = list(
        paginate(
            elbv2, "describe_load_balancers", "LoadBalancers", PaginationConfig={"PageSize": 400}
        )
    )
    arns = [lb["LoadBalancerArn"] for lb in v2]
    tags: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(arns, 20):
        for desc in elbv2.describe_tags(ResourceArns=list(chunk)).get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = desc.get("Tags", [])
    healthy: dict[str, int] = dict.fromkeys(arns, 0)
    registered: dict[str, int] = dict.fromkeys(arns, 0)
    if arns:
        groups = list(
            paginate(
                elbv2, "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 400}
            )
        )
        for group in groups:
            owners = [a for a in group.get("LoadBalancerArns", []) if a in healthy]
            if not owners:
                continue
            health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            descriptions = health.get("TargetHealthDescriptions", [])
            n_healthy = sum(
                1 for d in descriptions if d.get("TargetHealth", {}).get("State") == "healthy"
            )
            for arn in owners:
                healthy[arn] += n_healthy
                registered[arn] += len(descriptions)
    out: list[dict[str, Any]] = []
    for lb in v2:
        arn = lb["LoadBalancerArn"]
        out.append(
            {
                **lb,
                "_Kind": lb.get("Type", "application"),
                "_Tags": tags.get(arn, []),
                "_Healthy": healthy[arn],
                "_Registered": registered[arn],
            }
        )
    classic = list(
        paginate(
            elb,
            "describe_load_balancers",
            "LoadBalancerDescriptions",
            PaginationConfig={"PageSize": 400},
        )
    )
    names = [lb["LoadBalancerName"] for lb in classic]
    classic_tags: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(names, 20):
        for desc in elb.describe_tags(LoadBalancerNames=list(chunk)).get("TagDescriptions", []):
            classic_tags[desc["LoadBalancerName"]] = desc.get("Tags", [])
    for lb in classic:
        name = lb["LoadBalancerName"]
        states = elb.describe_instance_health(LoadBalancerName=name).get("InstanceStates", [])
        out.append(
            {
                **lb,
                "_Kind": "classic",
                "_Tags": classic_tags.get(name, []),
                "_Healthy": sum(1 for s in states if s.get("State") == "InService"),
                "_Registered": len(states),
            }
        )
    return out


def transform_load_balancers(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[LoadBalancer]:
    """Load balancers (as ``get_load_balancers`` returns them) as records."""
    records: list[LoadBalancer] = []
    for item in raw:
        kind = item["_Kind"]
        name = item["LoadBalancerName"]
        arn = item.get("LoadBalancerArn") or (
            f"arn:aws:elasticloadbalancing:{region}:{account_id}:loadbalancer/{name}"
        )
        records.append(
            LoadBalancer(
                account_id=account_id,
                region=region,
                name=name,
                arn=arn,
                kind=kind,
                created=utc(item.get("CreatedTime")),
                healthy_targets=item.get("_Healthy"),
                registered_targets=item.get("_Registered"),
                tags=tag_dict(item.get("_Tags")),
            )
        )
    return records


# -- RDS ---------------------------------------------------------------------------------------
def get_db_instances(rds: Any) -> list[dict[str, Any]]:
    """RDS DB instances (DescribeDBInstances, 100 a page; tags are in ``TagList``)."""
    return list(
        paginate(rds, "describe_db_instances", "DBInstances", PaginationConfig={"PageSize": 100})
    )


def transform_db_instances(
    account_id: str, region: str, raw: Iterable[dict[str, Any]]
) -> list[DbInstance]:
    """DescribeDBInstances entries as records."""
    return [
        DbInstance(
            account_id=account_id,
            region=region,
            db_instance_id=item["DBInstanceIdentifier"],
            arn=item.get("DBInstanceArn")
            or f"arn:aws:rds:{region}:{account_id}:db:{item['DBInstanceIdentifier']}",
            db_class=item.get("DBInstanceClass", ""),
            engine=item.get("Engine", ""),
            status=item.get("DBInstanceStatus", ""),
            multi_az=bool(item.get("MultiAZ", False)),
            allocated_storage_gib=int(item.get("AllocatedStorage", 0) or 0),
            storage_type=item.get("StorageType", "gp2") or "gp2",
            create_time=utc(item.get("InstanceCreateTime")),
            tags=tag_dict(item.get("TagList")),
        )
        for item in raw
    ]


# -- S3 ----------------------------------------------------------------------------------------
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
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=name).get("Rules", [])
        except ClientError as error:
            if error_code(error) != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        try:
            tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
        except ClientError as error:
            if error_code(error) != "NoSuchTagSet":
                raise
            tags = []
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


# -- CloudWatch --------------------------------------------------------------------------------
def metric_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) of a window of whole days ending at the current hour.

    Example:
        >>> s, e = metric_window(datetime(2026, 1, 15, 10, 30, tzinfo=UTC), 14)
        >>> (s.isoformat(), e.isoformat())
        ('2026-01-01T10:00:00+00:00', '2026-01-15T10:00:00+00:00')
    """
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def get_metric_data(
    cloudwatch: Any,
    requests: Sequence[MetricRequest],
    start: datetime,
    end: datetime,
    period_s: int = DAY_S,
) -> MetricFrame:
    """Read many metric statistics with GetMetricData, 500 queries a request (paginated).

    Args:
        cloudwatch: a CloudWatch client.
        requests: one entry per (resource, statistic); duplicates are read once.
        start: window start (UTC).
        end: window end (UTC).
        period_s: datapoint period; daily by default.

    Returns:
        (resource id, key) -> series, oldest first; statistics with no datapoints are absent.
    """
    unique = list(dict.fromkeys(requests))
    frame: MetricFrame = {}
    for chunk in _chunks(unique, MAX_QUERIES_PER_REQUEST):
        queries = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": r.namespace,
                        "MetricName": r.metric_name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in r.dimensions],
                    },
                    "Period": period_s,
                    "Stat": r.stat,
                    **({"Unit": r.unit} if r.unit else {}),
                },
                "ReturnData": True,
            }
            for i, r in enumerate(chunk)
        ]
        points: dict[str, dict[datetime, float]] = {}
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page.get("MetricDataResults", []):
                series = points.setdefault(result["Id"], {})
                for ts, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=True
                ):
                    series[utc(ts) or ts] = float(value)
        for i, request in enumerate(chunk):
            found = points.get(f"q{i}")
            if not found:
                continue
            ordered = sorted(found.items())
            frame[(request.resource_id, request.key)] = MetricSeries(
                timestamps=tuple(t for t, _ in ordered), values=tuple(v for _, v in ordered)
            )
    return frame
