"""From approved code-owned findings to HCL edits and the pull request's text (pure).

:func:`plan_changes` turns each finding (its check, its Terraform address and evidence) into one
edit of the repository's files (:mod:`tasks.iac.edits`); a finding whose edit cannot be made
safely is refused with why and nothing of it is changed.  :func:`pull_request_body` writes the
body people review: every finding with its evidence and monthly savings, the approver, the run
link, and what the plan said (or plainly that no plan ran, and why).  The body ends with a
marker listing the findings' fingerprints, so a later run knows which pull request holds which
finding.

Example:
    >>> hcl = 'resource "aws_ebs_volume" "a" {\\n  size = 100\\n  type = "gp2"\\n}\\n'
    >>> files = {"tf/main.tf": hcl}
    >>> item = ChangeRequest("fp1", "ebs-gp2", "vol-1", "aws_ebs_volume.a",
    ...     {"gp3": {"iops": 3000, "throughput_mibps": 128}})
    >>> new, changes, refused = plan_changes(files, "tf", [item])
    >>> changes[0].summary, refused
    ('aws_ebs_volume.a: type gp2 -> gp3 (3000 IOPS, 128 MiB/s)', [])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks.iac.edits import (
    CODE_EDITS,
    Address,
    EditError,
    add_lifecycle_rule,
    count_of,
    locate,
    remove_block,
    set_attributes,
)
from tasks.money import usd_or_unknown

MARKER = re.compile(r"<!-- finops:fingerprints ([0-9a-f,]*) -->")


@dataclass(frozen=True)
class ChangeRequest:
    """One approved finding on a Terraform-owned resource."""

    fingerprint: str
    check: str
    resource_id: str
    address: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    monthly_savings_usd: Decimal | None = None
    account_id: str = ""
    region: str = ""


@dataclass(frozen=True)
class CodeChange:
    """The edit made for one finding."""

    request: ChangeRequest
    path: str
    summary: str
    #: the edit removes the resource (its address may be destroyed by the plan)
    destroys: bool = False


#: Where a resize finding's evidence names the new type (the first one present is used).
TARGET_TYPE_KEYS = ("target_instance_type", "recommended_instance_type")


def _target_type(evidence: Mapping[str, Any]) -> str:
    return next((str(evidence[k]) for k in TARGET_TYPE_KEYS if evidence.get(k)), "")


def _edit_kind(request: ChangeRequest) -> str:
    if _target_type(request.evidence):
        return "instance_type"
    kind = CODE_EDITS.get(request.check)
    if kind is None:
        raise EditError(f"{request.check}: no code change is known for this check")
    return kind


def plan_changes(
    files: Mapping[str, str], root: str, requests: Sequence[ChangeRequest]
) -> tuple[dict[str, str], list[CodeChange], list[tuple[ChangeRequest, str]]]:
    """Edit the files for each request.

    Args:
        files: the repository's ``.tf`` files, by path relative to the repository.
        root: the folder of the root module ('' = the repository's top).
        requests: the approved findings, in approval order.

    Returns:
        (the files after the edits, the changes made, the requests refused with why).
    """
    edited = dict(files)
    changes: list[CodeChange] = []
    refused: list[tuple[ChangeRequest, str]] = []
    counted: dict[tuple[str, str, str], list[tuple[ChangeRequest, Any]]] = {}
    for request in requests:
        try:
            address = Address.parse(request.address)
            kind = _edit_kind(request)
            path = locate(edited, root, address)
            text = edited[path]
            if kind == "gp3":
                gp3 = request.evidence.get("gp3") or {}
                iops, throughput = int(gp3.get("iops", 3000)), int(gp3.get("throughput_mibps", 125))
                edited[path] = set_attributes(
                    text,
                    address.type,
                    address.name,
                    {"type": '"gp3"', "iops": str(iops), "throughput": str(throughput)},
                )
                summary = f"type gp2 -> gp3 ({iops} IOPS, {throughput} MiB/s)"
            elif kind == "instance_type":
                target = _target_type(request.evidence)
                edited[path] = set_attributes(
                    text, address.type, address.name, {"instance_type": f'"{target}"'}
                )
                summary = f"instance_type -> {target}"
            elif kind == "lifecycle":
                edited[path] = add_lifecycle_rule(text, address.name)
                summary = "lifecycle rule: abort incomplete multipart uploads after 7 days"
            elif address.index is None:
                if count_of(text, address.type, address.name) is not None:
                    raise EditError(f"{request.address}: made with count but addressed without")
                edited[path] = remove_block(text, address.type, address.name)
                summary = "block removed"
            elif isinstance(address.index, int):
                counted.setdefault((path, address.type, address.name), []).append(
                    (request, address.index)
                )
                continue
            else:
                raise EditError(
                    f"{request.address}: made with for_each; remove its key from the map by hand"
                )
            removes = kind == "remove"
            changes.append(CodeChange(request, path, f"{request.address}: {summary}", removes))
        except EditError as error:
            refused.append((request, str(error)))
    for (path, tf_type, name), items in counted.items():
        count = count_of(edited[path], tf_type, name)
        indexes = sorted(index for _, index in items)
        keep = (count or 0) - len(indexes)
        if count is None or indexes != list(range(keep, count)):
            why = (
                f"{tf_type}.{name} has count = {count}; only its last instances can go without "
                f"moving state (asked: {indexes})"
            )
            refused.extend((request, why) for request, _ in items)
            continue
        edited[path] = set_attributes(edited[path], tf_type, name, {"count": str(keep)})
        for request, _ in items:
            changes.append(CodeChange(request, path, f"{request.address}: count {count} -> {keep}"))
    return edited, changes, refused


def fingerprints_in(body: str) -> set[str]:
    """The fingerprints a pull request body's marker lists.

    Example:
        >>> sorted(fingerprints_in("x <!-- finops:fingerprints ab,cd -->"))
        ['ab', 'cd']
    """
    found = MARKER.search(body or "")
    return {fp for fp in found[1].split(",") if fp} if found else set()


def _evidence_line(evidence: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in evidence.items() if k not in ("iac", "thresholds")}
    text = ", ".join(f"{k}: {v}" for k, v in shown.items())
    return text if len(text) <= 400 else text[:399] + "…"


def pull_request_body(
    changes: Sequence[CodeChange],
    approver: str,
    run_url: str,
    plan: str,
    refused: Sequence[tuple[ChangeRequest, str]] = (),
) -> str:
    """The pull request's body (GitHub markdown).

    Example:
        >>> pull_request_body([], "Ana", "http://ui/runs/1", "no plan ran").splitlines()[0]
        '### FinOps: 0 changes, $0.00 per month (USD) saved'
    """
    total = sum((c.request.monthly_savings_usd or Decimal(0) for c in changes), Decimal(0))
    lines = [
        f"### FinOps: {len(changes)} changes, {usd_or_unknown(total)} per month (USD) saved",
        "",
        f"Approved by **{approver}** in run {run_url}.",
        "",
        "| resource | check | change | $/month | file |",
        "|---|---|---|---:|---|",
    ]
    for change in changes:
        r = change.request
        lines.append(
            f"| {r.account_id}/{r.region}/{r.resource_id} | {r.check} | {change.summary} "
            f"| {usd_or_unknown(r.monthly_savings_usd)} | `{change.path}` |"
        )
    lines += ["", "#### Evidence", ""]
    lines += [
        f"- `{c.request.resource_id}` ({c.request.check}): {_evidence_line(c.request.evidence)}"
        for c in changes
    ]
    lines += ["", "#### Plan", "", plan]
    if refused:
        lines += ["", "#### Not changed", ""]
        lines += [f"- `{r.resource_id}` ({r.check}): {why}" for r, why in refused]
    fingerprints = ",".join(c.request.fingerprint for c in changes)
    lines += ["", f"<!-- finops:fingerprints {fingerprints} -->"]
    return "\n".join(lines) + "\n"


__all__ = [
    "ChangeRequest",
    "CodeChange",
    "fingerprints_in",
    "plan_changes",
    "pull_request_body",
]
