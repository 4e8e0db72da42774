"""Read Terraform state objects from their S3 backend and annotate findings with their owner.

``get_state`` reads one state object (``s3://bucket/key``) with the caller's S3 client
(botocore's standard retries); ``load_ownership`` merges every configured state into one index
(:mod:`tasks.iac.ownership`); ``annotate`` puts each finding's owner into its evidence as
``evidence["iac"]`` (``None``: owned by no code the settings point at).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.aws.common import error_code, error_message
from tasks.findings.model import Finding
from tasks.iac.ownership import Ownership, StateError, merge, owner_of, parse_state

#: What reading the configured states calls (granted by infra/modules/iam's pipeline policy).
IAM_PERMISSIONS: tuple[str, ...] = ("s3:GetObject",)


class StateReadError(RuntimeError):
    """A configured state could not be read: one line naming the URL and what to fix."""


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key).

    Example:
        >>> split_s3_url("s3://tf-state/fleet/terraform.tfstate")
        ('tf-state', 'fleet/terraform.tfstate')
    """
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def get_state(s3: Any, url: str) -> dict[str, Any]:
    """The state document at ``url``.

    Raises:
        StateReadError: the object is missing, unreadable, or not JSON.
    """
    bucket, key = split_s3_url(url)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        raise StateReadError(
            f"Terraform state {url}: {error_code(error)}: {error_message(error)} "
            "(check FINOPS_IAC__STATE_URLS and s3:GetObject on it)"
        ) from error
    except BotoCoreError as error:
        raise StateReadError(f"Terraform state {url}: {error}") from error
    try:
        document = json.loads(body)
    except ValueError as error:
        raise StateReadError(f"Terraform state {url}: not JSON ({error})") from error
    return dict(document) if isinstance(document, Mapping) else {"version": None}


def load_ownership(s3: Any, urls: Sequence[str]) -> dict[str, Ownership]:
    """Every configured state, merged into one index by resource id and ARN.

    Raises:
        StateReadError: a state is unreadable or not format v4 (nothing is guessed).
    """
    indexes = []
    for url in urls:
        try:
            indexes.append(parse_state(get_state(s3, url), url))
        except StateError as error:
            raise StateReadError(str(error)) from error
    return merge(indexes)


def annotate(findings: Sequence[Finding], terraform: Mapping[str, Ownership]) -> list[Finding]:
    """The findings with ``evidence["iac"]``: their owner in code, or None.

    Example:
        >>> annotate([finding], {})[0].evidence["iac"]  # doctest: +SKIP
    """
    annotated = []
    for finding in findings:
        owner = owner_of(finding.resource_arn, finding.resource_id, finding.tags, terraform)
        evidence = {**finding.evidence, "iac": owner.model_dump() if owner else None}
        annotated.append(finding.model_copy(update={"evidence": evidence}))
    return annotated
