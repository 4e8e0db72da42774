"""Speed-ups of moto internals that grow with the fleet, installed by the sandbox server.

moto's EC2 models read each resource's tags with ``describe_tags(filters={"resource-id":
[id]})``, which scans every tag of every resource in the region: describing N instances or
volumes costs O(N^2) (about 5 s of CPU for 1,000 instances, minutes at 5,000).  The patch
answers a filter on one literal resource id with a dictionary look-up and leaves every other
filter to moto.  The answers are the same (same tags, same order, same fields).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.models.tags import TagBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

_ORIGINAL_DESCRIBE_TAGS: Callable[..., list[dict[str, str]]] = TagBackend.describe_tags
_WILDCARDS = frozenset("*?[")


def _describe_tags(
    self: TagBackend, filters: dict[str, list[str]] | None = None
) -> list[dict[str, str]]:
    if (
        filters is not None
        and list(filters) == ["resource-id"]
        and len(filters["resource-id"]) == 1
    ):
        resource_id = filters["resource-id"][0]
        if not _WILDCARDS.intersection(resource_id) and "\\" not in resource_id:
            # .get, not [ ]: moto's tags is a defaultdict and a read must not add a key
            tags = self.tags.get(resource_id, {})
            resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
            return [
                {
                    "resource_id": resource_id,
                    "key": key,
                    "value": value,
                    "resource_type": resource_type,
                }
                for key, value in tags.items()
            ]
    return _ORIGINAL_DESCRIBE_TAGS(self, filters)


def install() -> None:
    """Install the speed-ups (idempotent; process-wide).

    Example:
        >>> install(); uninstall()
    """
    TagBackend.describe_tags = _describe_tags  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own implementations."""
    TagBackend.describe_tags = _ORIGINAL_DESCRIBE_TAGS  # type: ignore[method-assign]


def original_describe_tags(backend: Any, filters: dict[str, list[str]] | None = None) -> Any:
    """moto's own describe_tags (the reference for tests)."""
    return _ORIGINAL_DESCRIBE_TAGS(backend, filters)
