"""Change Terraform HCL the way a person would, keeping the file's layout (pure).

Edits work on the text, not on a re-rendered syntax tree, so comments, blank lines and the
order of everything stay as they were; an inserted or changed attribute is aligned on ``=`` with
its neighbours as ``terraform fmt`` aligns them.  What each check's fix is in code
(:data:`CODE_EDITS`):

- ``gp3``: ``type = "gp3"`` with ``iops`` and ``throughput`` equal to what gp2 delivered;
- ``remove``: the resource's block goes, or, when it is made with ``count``, the count drops
  (to 0 when every instance goes; only trailing indexes can go without moving state);
- ``lifecycle``: an ``aws_s3_bucket_lifecycle_configuration`` that aborts incomplete multipart
  uploads after 7 days, right after the bucket's block;
- ``instance_type``: a resize sets the new type (a finding whose evidence names
  ``target_instance_type`` or ``recommended_instance_type``).

A resource is found from its state address (``module.batch.aws_instance.worker[0]``): the
module's ``source`` is followed from the root folder, then its ``.tf`` files are searched.

Example:
    >>> text = 'resource "aws_ebs_volume" "a" {\\n  size = 100\\n  type = "gp2"\\n}\\n'
    >>> print(set_attributes(text, "aws_ebs_volume", "a", {"type": '"gp3"', "iops": "3000"}))
    resource "aws_ebs_volume" "a" {
      size = 100
      type = "gp3"
      iops = 3000
    }
    <BLANKLINE>
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The HCL change that fixes each check's finding (checks not named have no code path).
CODE_EDITS: dict[str, str] = {
    "ebs-gp2": "gp3",
    "ebs-unattached": "remove",
    "ebs-idle": "remove",
    "ec2-idle": "remove",
    "ec2-stopped": "remove",
    "snapshot-stale": "remove",
    "eip-unassociated": "remove",
    "elb-idle": "remove",
    "nat-idle": "remove",
    "rds-idle": "remove",
    "s3-stale-multipart": "lifecycle",
}
ABORT_AFTER_DAYS = 7
_ATTRIBUTE = re.compile(r"^(\s*)([A-Za-z_][\w-]*)(\s*)=(\s*)(.*)$")
_ADDRESS = re.compile(r"^(?P<type>[a-z][\w]*)\.(?P<name>[\w-]+)(?:\[(?P<index>.+)\])?$")


class EditError(ValueError):
    """An edit that cannot be made safely: one line saying what and why."""


@dataclass(frozen=True)
class Address:
    """A state address split into its modules, type, name and index."""

    modules: tuple[str, ...]
    type: str
    name: str
    index: Any = None

    @classmethod
    def parse(cls, address: str) -> Address:
        """Example:
        >>> Address.parse('module.batch.aws_instance.worker[0]')
        Address(modules=('batch',), type='aws_instance', name='worker', index=0)
        """
        parts = address.split(".")
        modules: list[str] = []
        while len(parts) > 2 and parts[0] == "module":
            modules.append(parts[1])
            parts = parts[2:]
        match = _ADDRESS.match(".".join(parts))
        if not match:
            raise EditError(f"{address}: not a managed resource address")
        index = json.loads(match["index"]) if match["index"] else None
        return cls(tuple(modules), match["type"], match["name"], index)


def _scan(text: str, start: int) -> int:
    """Index just past the ``}`` closing the ``{`` at ``start`` (strings and comments skipped)."""
    depth, i, n = 0, start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch == "#" or text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise EditError("unbalanced braces")


def block_span(text: str, kind: str, *labels: str) -> tuple[int, int] | None:
    """(start, end) of the block ``kind "label" ... {`` (end past its newline), or None."""
    quoted = r"\s+".join(re.escape(json.dumps(label)) for label in labels)
    pattern = re.compile(rf"^{re.escape(kind)}\s+{quoted}\s*\{{", re.M)
    match = pattern.search(text)
    if not match:
        return None
    end = _scan(text, match.end() - 1)
    if text[end : end + 1] == "\n":
        end += 1
    return match.start(), end


def _align(lines: list[str]) -> list[str]:
    """Align ``=`` over each run of consecutive one-line attributes at the block's top level."""
    out = list(lines)
    group: list[int] = []

    def flush() -> None:
        if len(group) > 1:
            width = max(len(_ATTRIBUTE.match(out[i])[2]) for i in group)  # type: ignore[index]
            for i in group:
                m = _ATTRIBUTE.match(out[i])
                assert m
                out[i] = f"{m[1]}{m[2].ljust(width)} = {m[5]}"
        group.clear()

    depth = 0
    for i, line in enumerate(lines):
        m = _ATTRIBUTE.match(line)
        if depth == 0 and m and not m[5].rstrip().endswith(("{", "[", "(")):
            group.append(i)
        else:
            flush()
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
        depth = max(depth, 0)
    flush()
    return out


def set_attributes(text: str, kind: str, name: str, values: Mapping[str, str]) -> str:
    """Set top-level attributes of ``resource "kind" "name"`` (values are HCL literals).

    An existing attribute keeps its place; a new one goes after the first run of attributes.

    Raises:
        EditError: the block is not in the text.
    """
    span = block_span(text, "resource", kind, name)
    if span is None:
        raise EditError(f'resource "{kind}" "{name}" not found')
    start, end = span
    lines = text[start:end].rstrip("\n").split("\n")
    head, body, tail = lines[0], lines[1:-1], lines[-1]
    todo = dict(values)
    depth = 0
    last_attr = -1
    for i, line in enumerate(body):
        m = _ATTRIBUTE.match(line)
        if depth == 0 and m:
            if m[2] in todo:
                body[i] = f"{m[1]}{m[2]} = {todo.pop(m[2])}"
            if last_attr == i - 1:
                last_attr = i
        depth += line.count("{") - line.count("}")
    indent = "  "
    insert_at = last_attr + 1
    body[insert_at:insert_at] = [f"{indent}{k} = {v}" for k, v in todo.items()]
    body = _align(body)
    block = "\n".join([head, *body, tail]) + "\n"
    return text[:start] + block + text[end:]


def remove_block(text: str, kind: str, name: str) -> str:
    """Remove ``resource "kind" "name"`` and the blank line it leaves.

    Raises:
        EditError: the block is not in the text.
    """
    span = block_span(text, "resource", kind, name)
    if span is None:
        raise EditError(f'resource "{kind}" "{name}" not found')
    start, end = span
    before, after = text[:start], text[end:]
    if after.startswith("\n"):
        after = after[1:]
    elif before.endswith("\n\n"):
        before = before[:-1]
    return before + after


def count_of(text: str, kind: str, name: str) -> int | None:
    """The literal ``count`` of a resource block, or None when it has none."""
    span = block_span(text, "resource", kind, name)
    if span is None:
        return None
    found = re.search(r"^\s+count\s*=\s*(\d+)\s*$", text[span[0] : span[1]], re.M)
    return int(found[1]) if found else None


def lifecycle_block(bucket_name: str) -> str:
    """A lifecycle configuration that aborts incomplete multipart uploads (``terraform fmt``ed).

    Example:
        >>> lifecycle_block("uploads").splitlines()[0]
        'resource "aws_s3_bucket_lifecycle_configuration" "uploads_abort_multipart" {'
    """
    return (
        f'resource "aws_s3_bucket_lifecycle_configuration" "{bucket_name}_abort_multipart" {{\n'
        f"  bucket = aws_s3_bucket.{bucket_name}.id\n"
        "\n"
        "  rule {\n"
        '    id     = "abort-incomplete-multipart-uploads"\n'
        '    status = "Enabled"\n'
        "\n"
        "    filter {}\n"
        "\n"
        "    abort_incomplete_multipart_upload {\n"
        f"      days_after_initiation = {ABORT_AFTER_DAYS}\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def add_lifecycle_rule(text: str, bucket_name: str) -> str:
    """Insert :func:`lifecycle_block` right after ``resource "aws_s3_bucket" "bucket_name"``.

    Raises:
        EditError: the bucket block is not in the text (a rule already there is kept as is).
    """
    if block_span(
        text, "resource", "aws_s3_bucket_lifecycle_configuration", f"{bucket_name}_abort_multipart"
    ):
        return text
    span = block_span(text, "resource", "aws_s3_bucket", bucket_name)
    if span is None:
        raise EditError(f'resource "aws_s3_bucket" "{bucket_name}" not found')
    end = span[1]
    return text[:end] + "\n" + lifecycle_block(bucket_name) + text[end:]


def module_folder(files: Mapping[str, str], root: str, modules: tuple[str, ...]) -> str:
    """The folder (relative to the repository) of a nested module, from the ``source`` chain.

    Raises:
        EditError: a module is not declared, or its source is not a local path.
    """
    folder = root
    for module in modules:
        source = None
        for path, text in files.items():
            if posixpath.dirname(path) != folder or not path.endswith(".tf"):
                continue
            span = block_span(text, "module", module)
            if span:
                found = re.search(r'^\s+source\s*=\s*"([^"]+)"', text[span[0] : span[1]], re.M)
                source = found[1] if found else None
                break
        if source is None or not source.startswith("."):
            raise EditError(f"module {module!r}: no local source under {folder or '.'}")
        folder = posixpath.normpath(posixpath.join(folder, source))
    return "" if folder == "." else folder


def locate(files: Mapping[str, str], root: str, address: Address) -> str:
    """The file (relative path) declaring the resource of ``address``.

    Raises:
        EditError: no ``.tf`` file of its module folder declares it.
    """
    folder = module_folder(files, root, address.modules)
    for path in sorted(files):
        in_folder = posixpath.dirname(path) == folder and path.endswith(".tf")
        if in_folder and block_span(files[path], "resource", address.type, address.name):
            return path
    raise EditError(f"{address.type}.{address.name}: no block in {folder or '.'}/*.tf")


__all__ = [
    "CODE_EDITS",
    "Address",
    "EditError",
    "add_lifecycle_rule",
    "block_span",
    "count_of",
    "lifecycle_block",
    "locate",
    "module_folder",
    "remove_block",
    "set_attributes",
]
