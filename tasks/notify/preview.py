"""Pure markdown previews of outbox messages: exactly what was, or would have been, sent."""

from __future__ import annotations

import json
from typing import Any

from tasks.notify.outbox import OutboxMessage

STATUS_NOTE = {
    "pending": "pending: will be sent by the next run",
    "sending": "being sent",
    "sent": "sent",
    "failed": "failed: will not be retried until `finops notify flush --retry-failed`",
    "skipped": "skipped",
    "local": "not sent: the channel is not configured (this preview is the message)",
}

#: Prefect stores artifacts in its database; keep one run's preview a reasonable size.
MAX_PAYLOAD_CHARS = 20_000


def _body(message: OutboxMessage) -> str:
    payload = message.payload
    if message.channel == "slack" and message.op in {"post", "update"}:
        return slack_markdown(payload)
    if message.channel == "slack" and message.op == "chart":
        return f"Chart *{payload.get('title', '')}*: {len(payload.get('series', []))} days"
    if message.channel == "jira" and message.op == "upsert":
        return (
            f"**{payload.get('summary', '')}** (label `{payload.get('label', '')}`, impact "
            f"{payload.get('impact', '')})\n\nDescription (Jira wiki markup):\n\n```\n"
            f"{payload.get('description', '')}\n```\n\nComment if already open:\n\n```\n"
            f"{payload.get('comment', '')}\n```"
        )
    if message.channel == "jira" and message.op == "resolve":
        return f"Transition the open issue labelled `{payload.get('label', '')}` to done."
    return ""


def outbox_markdown(
    messages: list[OutboxMessage], title: str, extra: dict[str, Any] | None = None
) -> str:
    """A Prefect markdown artifact showing each message, its status and its exact payload.

    Example:
        >>> outbox_markdown([], "Report 2026-11-25").splitlines()[0]
        '# Report 2026-11-25'
    """
    lines = [f"# {title}", ""]
    if extra:
        lines.extend(f"- **{k}**: {v}" for k, v in extra.items())
        lines.append("")
    if not messages:
        lines.append("No message was planned.")
    for message in messages:
        status = message.status.value
        lines.append(f"## {message.channel} · {message.kind} · {message.op}")
        lines.append(f"`{message.key}`: {STATUS_NOTE.get(status, status)}")
        if message.last_error:
            lines.append(f"\nLast error: {message.last_error}")
        if message.result:
            lines.append(f"\nResult: `{json.dumps(message.result, sort_keys=True)}`")
        body = _body(message)
        if body:
            lines.extend(["", body])
        payload = json.dumps(message.payload, indent=2, sort_keys=True, ensure_ascii=False)
        if len(payload) > MAX_PAYLOAD_CHARS:
            payload = payload[:MAX_PAYLOAD_CHARS] + "\n... (cut; the outbox holds the whole)"
        lines.extend(["", "<details><summary>payload</summary>", "", "```json", payload, "```"])
        lines.extend(["", "</details>", ""])
    return "\n".join(lines)


def _block_markdown(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f"### {block['text']['text']}"
    if kind == "section":
        return str(block.get("text", {}).get("text", ""))
    if kind == "context":
        return "_" + " ".join(str(e.get("text", "")) for e in block.get("elements", [])) + "_"
    if kind == "divider":
        return "---"
    if kind == "actions":
        return " · ".join(
            f"[{e['text']['text']}]({e.get('url', '')})" for e in block.get("elements", [])
        )
    return f"({kind} block)"


def slack_markdown(payload: dict[str, Any]) -> str:
    """A readable preview of a Slack payload, for a Prefect markdown artifact.

    Example:
        >>> slack_markdown({"text": "t", "blocks": [{"type": "divider"}]})
        '---'
    """
    blocks = payload.get("blocks") or []
    if not blocks:
        return str(payload.get("text", ""))
    return "\n\n".join(_block_markdown(b) for b in blocks)
