"""The AWS reads of the idle scan, gathered from the per-service adapters in ``tasks.aws``.

Each service has one adapter module (``tasks.aws.ec2``, ``elb``, ``rds``, ``s3``,
``cloudwatch``) with paginated ``get_*`` reads and pure ``transform_*`` into the idle records;
the remediation re-checks read single resources through the same modules.  This module holds no
code of its own: it names what the scan (``tasks.idle.scan``) calls, in one place.

One pass per account x region: each describe call is paginated at the largest page size the API
allows, and CloudWatch is read with ``GetMetricData``, 500 queries a request, so the number of
requests grows with resources / 500 (plus per-load-balancer target health and per-bucket S3
calls, which AWS offers no batch form of).
"""

from __future__ import annotations

from tasks.aws.cloudwatch import DAY_S, MAX_QUERIES_PER_REQUEST, get_metric_data, metric_window
from tasks.aws.common import tag_dict, utc
from tasks.aws.ec2 import (
    get_addresses,
    get_images,
    get_instances,
    get_nat_gateways,
    get_snapshots,
    get_volumes,
    transform_addresses,
    transform_images,
    transform_instances,
    transform_nat_gateways,
    transform_snapshots,
    transform_volumes,
)
from tasks.aws.elb import get_load_balancers, transform_load_balancers
from tasks.aws.rds import get_db_instances, transform_db_instances
from tasks.aws.s3 import aborts_incomplete_uploads, bucket_region, get_buckets, transform_buckets

__all__ = [
    "DAY_S",
    "MAX_QUERIES_PER_REQUEST",
    "aborts_incomplete_uploads",
    "bucket_region",
    "get_addresses",
    "get_buckets",
    "get_db_instances",
    "get_images",
    "get_instances",
    "get_load_balancers",
    "get_metric_data",
    "get_nat_gateways",
    "get_snapshots",
    "get_volumes",
    "metric_window",
    "tag_dict",
    "transform_addresses",
    "transform_buckets",
    "transform_db_instances",
    "transform_images",
    "transform_instances",
    "transform_load_balancers",
    "transform_nat_gateways",
    "transform_snapshots",
    "transform_volumes",
    "utc",
]
