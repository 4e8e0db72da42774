"""The append-only audit trail of approvals and actions, as JSON Lines, locally or in S3.

Local (default ``data_dir/audit.jsonl``): one line per record, appended under an exclusive
``flock`` and fsynced, so concurrent runs never interleave half lines.

S3 (``s3://bucket/prefix``): S3 has no append, and a read-modify-write of one object loses
records when two runs write at once.  So every record is its own object,
``prefix/YYYY/MM/DD/<UTC timestamp>-<uuid>.jsonl`` holding one JSON line; listing the prefix in
key order reads the log back in time order.  Objects are only ever created (never overwritten);
production buckets add versioning and Object Lock (the Terraform's audit bucket) so a record
cannot be altered or deleted.

Reading is forgiving: a line that is not a record (a write cut short by a crash or a full disk,
a hand edit) is reported as a :class:`DamagedLine` naming the file and line, and the records
around it are still read; an append after a torn last line starts on a new line, so the torn
line cannot swallow the next record.  Records hold text as given (an approver's comment may
contain anything); :func:`printable` is how a terminal shows it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: IAM actions of an s3:// audit log (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = ("s3:GetObject", "s3:ListBucket", "s3:PutObject")

RecordKind = Literal["approval", "action"]


_log = logging.getLogger(__name__)


def printable(text: str) -> str:
    """Text safe to print on a terminal: control and format characters shown as escapes.

    Newlines, carriage returns, ESC (ANSI sequences), zero-width and bidirectional-override
    characters are written the way ``repr`` writes them, and a backslash as two, so a comment
    can neither forge a line nor rewrite the screen, and what is shown reads back unambiguously.
    Other characters (accents, other scripts) stay as they are.

    Example:
        >>> printable("ok\\r\\x1b[2Jdone\\napproved by root")
        'ok\\\\r\\\\x1b[2Jdone\\\\napproved by root'
        >>> printable("Zoë")
        'Zoë'
    """
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char != " " and unicodedata.category(char)[0] in {"C", "Z"}:
            out.append(repr(char)[1:-1] if char.isascii() else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class DamagedLine:
    """A line of the log that is not an audit record, where it is and why."""

    source: str
    number: int
    reason: str

    @property
    def warning(self) -> str:
        """One line for a person: which file and line, and that it was skipped."""
        return (
            f"audit log {self.source}: line {self.number} is not an audit record "
            f"({self.reason}); skipped it, read the rest (a write cut short by a crash?)"
        )


class AuditRecord(BaseModel):
    """One approval or one action: who decided, what was done, and how to undo it."""

    model_config = ConfigDict(extra="allow")

    kind: RecordKind
    run_id: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    approver: str = ""
    comment: str = ""
    decision: str = ""
    fingerprint: str = ""
    check: str = ""
    account_id: str = ""
    region: str = ""
    resource_id: str = ""
    action: str = ""
    dry_run: bool = True
    result: str = ""
    reason: str = ""
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    request_ids: list[str] = Field(default_factory=list)
    backup_ids: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class AuditLog:
    """Append and read audit records at a local path or an ``s3://bucket/prefix`` URL.

    Args:
        url: a file path (JSON Lines) or ``s3://bucket/prefix``.
        s3_client: the boto3 S3 client for an ``s3://`` URL (built from the environment if
            omitted).

    Example:
        >>> import tempfile, pathlib
        >>> log = AuditLog(str(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"))
        >>> log.append(AuditRecord(kind="approval", run_id="r1", approver="ana"))
        >>> [r.approver for r in log.read()]
        ['ana']
    """

    def __init__(self, url: str, s3_client: Any = None) -> None:
        self.url = url
        self._s3 = s3_client
        if url.startswith("s3://"):
            bucket, _, prefix = url[len("s3://") :].partition("/")
            if not bucket:
                raise ValueError(f"audit log URL {url!r} names no bucket; use s3://bucket/prefix")
            self.bucket, self.prefix = bucket, prefix.strip("/")
        else:
            self.path = Path(url)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            from tasks.aws.session import boto_config

            self._s3 = boto3.client("s3", config=boto_config())
        return self._s3

    def append(self, record: AuditRecord) -> None:
        """Append one record; it is durable when this returns."""
        line = record.model_dump_json() + "\n"
        if self.is_s3:
            stamp = record.at.astimezone(UTC)
            key = "/".join(
                p
                for p in (
                    self.prefix,
                    stamp.strftime("%Y/%m/%d"),
                    f"{stamp.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex}.jsonl",
                )
                if p
            )
            # IfNoneMatch makes the put create-only: a record is never overwritten.
            self._client().put_object(
                Bucket=self.bucket, Key=key, Body=line.encode(), IfNoneMatch="*"
            )
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                # A torn last line (a crash mid-write) has no newline: end it, so this record
                # is a line of its own rather than the tail of a damaged one.
                if handle.seek(0, os.SEEK_END) > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        handle.write(b"\n")
                handle.write(line.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> list[AuditRecord]:
        """Every record, oldest first; damaged lines are skipped and logged as warnings."""
        records, damaged = self.read_with_damage()
        for line in damaged:
            _log.warning("%s", line.warning)
        return records

    def read_with_damage(self) -> tuple[list[AuditRecord], list[DamagedLine]]:
        """Every record, oldest first, and the lines that are not records (file and number)."""
        sources: list[tuple[str, list[str]]] = []
        if self.is_s3:
            client = self._client()
            paginator = client.get_paginator("list_objects_v2")
            prefix = f"{self.prefix}/" if self.prefix else ""
            keys = sorted(
                obj["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
            )
            for key in keys:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                text = body.decode("utf-8", errors="replace")
                sources.append((f"s3://{self.bucket}/{key}", text.split("\n")))
        elif self.path.exists():
            # Records end at "\n" only: str.splitlines() would also split at U+2028, U+0085 ...,
            # which JSON leaves unescaped inside a string (a comment may hold them).
            with self.path.open(encoding="utf-8", errors="replace", newline="") as handle:
                sources.append((str(self.path), handle.read().split("\n")))
        records: list[AuditRecord] = []
        damaged: list[DamagedLine] = []
        for source, lines in sources:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    records.append(AuditRecord.model_validate(json.loads(line)))
                except (ValueError, ValidationError, RecursionError) as error:
                    reason = (
                        error.msg if isinstance(error, json.JSONDecodeError) else "not a record"
                    )
                    damaged.append(DamagedLine(source, number, reason))
        return records, damaged
