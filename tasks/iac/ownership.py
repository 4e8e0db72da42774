"""Who owns a resource in code: Terraform state v4 and CloudFormation's stack tags (pure).

A Terraform state (format version 4) lists ``resources``, each with its ``module`` (absent in
the root module), ``mode`` (``managed`` or ``data``), ``type``, ``name`` and ``instances``
(``index_key`` for ``count`` / ``for_each``, ``attributes`` with the provider's ``id`` and
usually ``arn``).  :func:`parse_state` maps every managed instance's id and ARN to its address
(``module.batch.aws_instance.worker[0]``) and module; data sources own nothing.  A resource
tagged ``aws:cloudformation:stack-name`` is owned by that stack (:func:`cloudformation_owner`).

Example:
    >>> state = {"version": 4, "resources": [{"module": "module.batch", "mode": "managed",
    ...     "type": "aws_instance", "name": "worker", "instances": [{"index_key": 0,
    ...     "attributes": {"id": "i-1", "arn": "arn:aws:ec2:us-east-1:1:instance/i-1"}}]}]}
    >>> index = parse_state(state, "s3://b/k")
    >>> index["i-1"].address, index["i-1"].module
    ('module.batch.aws_instance.worker[0]', 'module.batch')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CFN_STACK_TAG = "aws:cloudformation:stack-name"
CFN_LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
#: The actions a code-owned finding may be approved for; ``open_pull_request`` only when
#: Terraform owns it (the code path edits HCL; a CloudFormation template is not edited here).
OPEN_PULL_REQUEST = "open_pull_request"
CODE_SAFE_ACTIONS = (OPEN_PULL_REQUEST, "tag_for_later", "skip")


class StateError(ValueError):
    """A state file that is not Terraform state format version 4."""


class Ownership(BaseModel):
    """The code that owns one resource."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["terraform", "cloudformation"]
    #: Terraform: the resource address; CloudFormation: the logical id
    address: str
    #: Terraform: ``module.x`` ('' for the root module)
    module: str = ""
    #: Terraform: where the state was read (``s3://bucket/key``)
    state: str = ""
    #: CloudFormation: the stack name
    stack: str = ""

    def describe(self) -> str:
        """One line for people.

        Example:
            >>> Ownership(kind="terraform", address="aws_ebs_volume.a").describe()
            'Terraform aws_ebs_volume.a (root module)'
            >>> Ownership(kind="cloudformation", address="Vol", stack="s").describe()
            'CloudFormation stack s (Vol)'
        """
        if self.kind == "cloudformation":
            return f"CloudFormation stack {self.stack} ({self.address})"
        return f"Terraform {self.address} ({self.module or 'root module'})"


def _address(resource: Mapping[str, Any], index_key: Any) -> str:
    address = f"{resource['type']}.{resource['name']}"
    if index_key is not None:
        address += f"[{json.dumps(index_key)}]"
    module = resource.get("module") or ""
    return f"{module}.{address}" if module else address


def parse_state(state: Mapping[str, Any], location: str = "") -> dict[str, Ownership]:
    """Every managed resource instance of a v4 state, by its ``id`` and by its ``arn``.

    Raises:
        StateError: the document is not a version 4 state.
    """
    if not isinstance(state, Mapping) or state.get("version") != 4:
        found = state.get("version") if isinstance(state, Mapping) else type(state).__name__
        raise StateError(f"{location or 'state'}: not a Terraform state v4 (version {found})")
    index: dict[str, Ownership] = {}
    for resource in state.get("resources") or []:
        if resource.get("mode", "managed") != "managed":
            continue
        for instance in resource.get("instances") or []:
            attributes = instance.get("attributes") or {}
            owner = Ownership(
                kind="terraform",
                address=_address(resource, instance.get("index_key")),
                module=resource.get("module") or "",
                state=location,
            )
            for key in ("arn", "id"):
                value = attributes.get(key)
                if isinstance(value, str) and value:
                    index[value] = owner
    return index


def merge(indexes: Iterable[Mapping[str, Ownership]]) -> dict[str, Ownership]:
    """One index over several states (a later state does not hide an earlier one's owner)."""
    merged: dict[str, Ownership] = {}
    for index in indexes:
        for key, owner in index.items():
            merged.setdefault(key, owner)
    return merged


def cloudformation_owner(tags: Mapping[str, str]) -> Ownership | None:
    """The stack a resource belongs to, from the tags CloudFormation puts on it.

    Example:
        >>> cloudformation_owner({"aws:cloudformation:stack-name": "s"}).stack
        's'
        >>> cloudformation_owner({}) is None
        True
    """
    stack = tags.get(CFN_STACK_TAG, "")
    if not stack:
        return None
    return Ownership(
        kind="cloudformation", address=tags.get(CFN_LOGICAL_ID_TAG, "") or "?", stack=stack
    )


def owner_of(
    resource_arn: str,
    resource_id: str,
    tags: Mapping[str, str],
    terraform: Mapping[str, Ownership],
) -> Ownership | None:
    """Terraform (by ARN, then id) first, else CloudFormation's tags, else nobody."""
    return terraform.get(resource_arn) or terraform.get(resource_id) or cloudformation_owner(tags)


def ownership_from_evidence(
    evidence: Mapping[str, Any], tags: Mapping[str, str]
) -> Ownership | None:
    """The owner a scan recorded in a finding's ``evidence["iac"]``, else CloudFormation tags.

    Example:
        >>> ownership_from_evidence({"iac": {"kind": "terraform", "address": "a.b"}}, {}).address
        'a.b'
    """
    recorded = evidence.get("iac")
    if isinstance(recorded, Mapping) and recorded.get("kind") in ("terraform", "cloudformation"):
        return Ownership.model_validate(dict(recorded))
    return cloudformation_owner(tags)


__all__ = [
    "CODE_SAFE_ACTIONS",
    "OPEN_PULL_REQUEST",
    "Ownership",
    "StateError",
    "cloudformation_owner",
    "merge",
    "owner_of",
    "ownership_from_evidence",
    "parse_state",
]
