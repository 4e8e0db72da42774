"""RDS adapter: paginated DB instance reads, the pure transform, and one instance with its tags
(``None`` when it is gone) for the remediation re-checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws.common import Written, apply, error_code, paginate, tag_dict, utc
from tasks.aws.records import (
    DbInstance,
)


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


def describe_db_instance(rds: Any, identifier: str) -> dict[str, Any] | None:
    """One DB instance; None when it no longer exists (or is being deleted)."""
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as error:
        if error_code(error) in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
            return None
        raise
    if not found or found[0].get("DBInstanceStatus") in {"deleting", "deleted"}:
        return None
    return dict(found[0])


def db_tags(rds: Any, arn: str) -> dict[str, str]:
    """The tags of an RDS resource, by ARN."""
    return tag_dict(rds.list_tags_for_resource(ResourceName=arn)["TagList"])


def apply_stop_db_instance(rds: Any, identifier: str) -> Written:
    """Stop a DB instance (RDS has no dry run; it starts the instance again after 7 days)."""
    return apply(rds, "stop_db_instance", DBInstanceIdentifier=identifier)


def apply_tag(rds: Any, arn: str, key: str, value: str) -> Written:
    return apply(rds, "add_tags_to_resource", ResourceName=arn, Tags=[{"Key": key, "Value": value}])


def apply_untag(rds: Any, arn: str, key: str) -> Written:
    return apply(rds, "remove_tags_from_resource", ResourceName=arn, TagKeys=[key])
