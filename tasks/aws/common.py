"""Helpers every AWS adapter shares: tags as a dict, an error's code, timestamps, paging, writes.

Written once here; the idle scan's readers (``tasks.idle.aws``) and the remediation actions
(``tasks.remediation.actions``) both use them.  Every write to AWS goes through :func:`apply`,
called by a service adapter's ``apply_*`` function.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError


def tag_dict(tags: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """AWS ``[{"Key": k, "Value": v}]`` tags as a dict.

    Example:
        >>> tag_dict([{"Key": "owner", "Value": "alice"}])
        {'owner': 'alice'}
    """
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or []}


def error_code(error: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else).

    Example:
        >>> error_code(ClientError({"Error": {"Code": "NoSuchBucket"}}, "GetBucketTagging"))
        'NoSuchBucket'
    """
    if not isinstance(error, ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: BaseException) -> str:
    """The AWS error message of a ``ClientError`` (``str(error)`` for anything else)."""
    if not isinstance(error, ClientError):
        return str(error)
    return str(error.response.get("Error", {}).get("Message", ""))


def request_id(response: dict[str, Any]) -> str | None:
    """The request id AWS returned, if any."""
    found = response.get("ResponseMetadata", {}).get("RequestId")
    return str(found) if found else None


def utc(moment: datetime | str | None) -> datetime | None:
    """A botocore timestamp (or ISO text) as a tz-aware UTC datetime.

    Example:
        >>> utc(datetime(2020, 1, 1)).isoformat()
        '2020-01-01T00:00:00+00:00'
    """
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` of every page of a paginated ``operation``."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``.

    Example:
        >>> [list(c) for c in chunks([1, 2, 3], 2)]
        [[1, 2], [3]]
    """
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Written:
    """What one AWS write did: its response, or ``None`` when only its dry run was sent.

    ``request_id`` is AWS's id of the request either way (a dry run has one too), for the audit.
    """

    operation: str
    response: dict[str, Any] | None
    request_id: str | None

    @property
    def dry_run(self) -> bool:
        return self.response is None


def apply(client: Any, operation: str, *, dry_run: bool = False, **params: Any) -> Written:
    """Send one write; with ``dry_run`` (EC2's ``DryRun=True``) AWS checks it and changes nothing.

    AWS answers a permitted dry run with the ``DryRunOperation`` error, which is the proof that
    the real call would be allowed; any other error is raised.  Only EC2 writes take a dry run:
    the adapters of other services never pass ``dry_run=True``.
    """
    if dry_run:
        params["DryRun"] = True
    try:
        response: dict[str, Any] = getattr(client, operation)(**params)
    except ClientError as error:
        if dry_run and error_code(error) == "DryRunOperation":
            return Written(operation, None, request_id(error.response))
        raise
    return Written(operation, response, request_id(response))
