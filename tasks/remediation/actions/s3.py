"""S3 actions: a lifecycle rule that aborts incomplete multipart uploads."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import s3 as s3_adapter
from tasks.aws.common import error_code, tag_dict
from tasks.remediation.actions.common import record
from tasks.remediation.actions.registry import (
    ActionContext,
    ActionOutcome,
    AlreadyDone,
    register_action,
)

ABORT_RULE_ID = "finops-abort-incomplete-multipart"


def read_bucket(ctx: ActionContext) -> dict[str, Any]:
    s3 = ctx.client("s3")
    bucket = ctx.finding.resource_id
    try:
        tags = tag_dict(s3_adapter.bucket_tag_set(s3, bucket))
    except ClientError as error:
        if error_code(error) == "NoSuchBucket":
            raise AlreadyDone("bucket no longer exists") from None
        raise
    rules = s3_adapter.lifecycle_rules(s3, bucket)
    return {"tags": tags, "rules": rules}


@register_action(
    "add_abort_multipart_rule",
    read=read_bucket,
    noun="bucket",
    resource_types=("s3:bucket",),
    resource_prefixes=("",),
    permissions=(
        "s3:GetBucketTagging",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    description="Add an abort-incomplete-multipart-upload lifecycle rule (merged with existing "
    "rules).",
    reversible=True,
)
def apply_abort_multipart_rule(ctx: ActionContext, state: dict[str, Any]) -> ActionOutcome:
    """Add a lifecycle rule aborting incomplete multipart uploads, keeping the bucket's rules.

    S3 has no dry run: in dry-run the current configuration is read and the merged one shown.
    """
    rules = state["rules"]
    before = {"rules": rules}
    for rule in rules:
        whole_bucket = not (rule.get("Filter") or {}).get("Prefix") and not rule.get("Prefix")
        if (
            rule.get("Status") == "Enabled"
            and rule.get("AbortIncompleteMultipartUpload")
            and whole_bucket
        ):
            raise AlreadyDone(f"rule {rule.get('ID')!r} already aborts incomplete uploads")
    days = int(ctx.finding.evidence.get("abort_after_days", 7))
    new_rule = {
        "ID": ABORT_RULE_ID,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }
    merged = [r for r in rules if r.get("ID") != ABORT_RULE_ID] + [new_rule]
    if ctx.dry_run:
        return ActionOutcome(
            "dry_run", before, {"rules": merged}, reason="S3 has no dry run; not written"
        )
    s3 = ctx.client("s3")
    bucket = ctx.finding.resource_id
    record(ctx, s3_adapter.apply_lifecycle_rules(s3, bucket, merged))
    after = s3_adapter.lifecycle_rules(s3, bucket)
    return ActionOutcome("succeeded", before, {"rules": after})
