"""Pure rendering of what people read: the Slack digest and alerts, their markdown preview, texts.

Built with slack-sdk's Block Kit models, within Slack's limits: at most 50 blocks a message, 3000
characters a section text, 150 a header, 75 a button label.  Long lists end with "and N more"
and continue in the thread.  No network, no Prefect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from tasks.findings.model import Finding
from tasks.money import cents, usd
from tasks.notify.models import AnomalySummary, BudgetState, DigestInput, group_findings

#: Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_FALLBACK_TEXT = 3000

BUDGET_ICON = {"ok": ":large_green_circle:", "warning": ":large_yellow_circle:"}
BUDGET_ICON["exceeded"] = ":red_circle:"


@dataclass(frozen=True)
class SlackMessage:
    """One Slack message (fallback text + blocks) and the replies that go in its thread.

    Example:
        >>> SlackMessage(text="hi").payload()
        {'text': 'hi', 'blocks': []}
    """

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread: list[SlackMessage] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The JSON body Slack receives (without channel or thread_ts)."""
        return {"text": self.text, "blocks": self.blocks}


# -- formatting ---------------------------------------------------------------------------------
def pct(value: float, signed: bool = False) -> str:
    """Format a percentage with one decimal.

    Example:
        >>> pct(12.345, signed=True)
        '+12.3%'
    """
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    sign = "+" if signed and rounded > 0 else ""
    return f"{sign}{rounded}%"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunk_lines(lines: list[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into texts of at most ``limit`` characters, never splitting a line.

    Example:
        >>> chunk_lines(["a" * 6, "b" * 6], limit=10)
        ['aaaaaa', 'bbbbbb']
    """
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = clip(raw, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _section(text: str) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT)))


def _header(text: str) -> Block:
    return HeaderBlock(text=PlainTextObject(text=clip(text, MAX_HEADER_TEXT), emoji=True))


def _context(text: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))])


def _buttons(links: list[tuple[str, str | None, str]]) -> Block | None:
    elements = [
        ButtonElement(text=clip(label, MAX_BUTTON_TEXT), url=url, action_id=action_id)
        for label, url, action_id in links
        if url
    ]
    return ActionsBlock(elements=elements) if elements else None


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    # to_dict() runs slack-sdk's own validation of each block's limits.
    return [block.to_dict() for block in blocks]


def _messages_from_blocks(blocks: list[Block], text: str) -> list[SlackMessage]:
    """Split a long list of blocks into messages of at most MAX_BLOCKS blocks."""
    return [
        SlackMessage(text=text, blocks=_dicts(blocks[i : i + MAX_BLOCKS]))
        for i in range(0, len(blocks), MAX_BLOCKS)
    ]


# -- lines about things -------------------------------------------------------------------------
def anomaly_period(anomaly: AnomalySummary) -> str:
    if anomaly.end is None or anomaly.end == anomaly.start:
        return f"since {anomaly.start.isoformat()}"
    return f"{anomaly.start.isoformat()} to {anomaly.end.isoformat()}"


def cause_text(anomaly: AnomalySummary, limit: int = 3) -> str:
    """The top causes as ``service Amazon EC2 (80.0%, +$400.00)``."""
    parts = [
        f"{c.dimension} {escape(c.value)} ({pct(c.share * 100)}, {usd(c.impact_usd, signed=True)})"
        for c in sorted(anomaly.causes, key=lambda c: -abs(c.share))[:limit]
    ]
    return "; ".join(parts) if parts else "no single cause stands out"


def anomaly_line(anomaly: AnomalySummary) -> str:
    return (
        f"*{escape(anomaly.monitor)}* ({anomaly_period(anomaly)}, {anomaly.status}): "
        f"impact {usd(anomaly.impact_usd, signed=True)} USD ({pct(anomaly.impact_pct, True)}) "
        f"over the anomaly; actual {usd(anomaly.actual_usd)} vs expected "
        f"{usd(anomaly.expected_usd)} USD. Top causes: {cause_text(anomaly)}"
    )


def finding_line(finding: Finding) -> str:
    savings = (
        f"{usd(finding.monthly_savings_usd)} USD/month"
        if finding.monthly_savings_usd is not None
        else "price unknown"
    )
    owner = f", owner {escape(finding.owner)}" if finding.owner else ""
    return (
        f"• `{escape(finding.resource_id)}` {finding.check} in {finding.account_id}/"
        f"{finding.region}: {savings}{owner}"
    )


def budget_line(budget: BudgetState) -> str:
    status = budget.effective_status
    name = escape(budget.name)
    label = name if budget.name == budget.period else f"{name} ({budget.period})"
    line = (
        f"{BUDGET_ICON[status]} {label}: {usd(budget.actual_usd)} of "
        f"{usd(budget.budget_usd)} USD ({pct(budget.used_pct)} used)"
    )
    if budget.forecast_usd is not None and budget.forecast_pct is not None:
        line += f", forecast {usd(budget.forecast_usd)} USD ({pct(budget.forecast_pct)})"
    return f"{line}: {status}"


def savings_total(findings: list[Finding]) -> tuple[Decimal, int]:
    """Known monthly savings (USD) and how many findings have no known price."""
    known = sum((f.monthly_savings_usd or Decimal(0) for f in findings), Decimal(0))
    unknown = sum(1 for f in findings if f.monthly_savings_usd is None)
    return known, unknown


def spend_line(digest: DigestInput) -> str:
    line = f"*Spend on {digest.day.isoformat()}:* {usd(digest.spend_usd)} USD"
    if digest.expected_usd is not None:
        delta = digest.spend_usd - digest.expected_usd
        line += f" vs expected {usd(digest.expected_usd)} USD ({usd(delta, signed=True)}"
        if digest.expected_usd > 0:
            line += f", {pct(float(delta / digest.expected_usd * 100), signed=True)}"
        line += ")"
    return line


def open_anomalies(digest: DigestInput) -> list[AnomalySummary]:
    items = [a for a in digest.anomalies if a.status in {"open", "acknowledged"}]
    return sorted(items, key=lambda a: (-abs(a.impact_usd), a.id))


# -- templates (the deterministic texts Bedrock may replace) ------------------------------------
def template_summary(digest: DigestInput) -> str:
    """A short plain-language summary of the day with exactly the computed figures.

    Example:
        >>> from datetime import date
        >>> template_summary(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("10")))[:45]
        'On 2026-11-25 the organisation spent $10.00 U'
    """
    parts = [f"On {digest.day.isoformat()} the organisation spent {usd(digest.spend_usd)} USD"]
    if digest.expected_usd is not None:
        delta = digest.spend_usd - digest.expected_usd
        word = "above" if delta >= 0 else "below"
        parts[0] += f", {usd(abs(delta))} USD {word} the expected {usd(digest.expected_usd)} USD"
    parts[0] += "."
    for budget in digest.budgets:
        status = budget.effective_status
        if status == "ok":
            continue
        text = f"The {budget.name} budget of {usd(budget.budget_usd)} USD "
        forecast_over = (budget.forecast_pct or 0.0) >= 100 and budget.forecast_usd is not None
        if status == "exceeded":
            text += f"is exceeded ({pct(budget.used_pct)} used)."
        elif forecast_over and budget.forecast_usd is not None:
            text += (
                f"is forecast to be exceeded: {usd(budget.forecast_usd)} USD "
                f"({pct(budget.forecast_pct or 0.0)}), {pct(budget.used_pct)} used so far."
            )
        else:
            text += f"is nearly used ({pct(budget.used_pct)} used)."
        parts.append(text)
    anomalies = open_anomalies(digest)
    if anomalies:
        impact = sum((a.impact_usd for a in anomalies), Decimal(0))
        noun = "anomaly is" if len(anomalies) == 1 else "anomalies are"
        parts.append(
            f"{len(anomalies)} cost {noun} open with a total impact of "
            f"{usd(impact, signed=True)} USD."
        )
    else:
        parts.append("No cost anomaly is open.")
    if digest.findings:
        known, _ = savings_total(digest.findings)
        noun = "resource" if len(digest.findings) == 1 else "resources"
        parts.append(f"{len(digest.findings)} idle {noun} could save {usd(known)} USD per month.")
    else:
        parts.append("No idle resource was found.")
    return " ".join(parts)


def template_explanation(anomaly: AnomalySummary) -> str:
    """A plain-language explanation of one anomaly from its computed figures only."""
    direction = "more" if anomaly.impact_usd >= 0 else "less"
    text = (
        f"{anomaly.monitor} cost {usd(anomaly.actual_usd)} USD {anomaly_period(anomaly)}, "
        f"{usd(abs(anomaly.impact_usd))} USD {direction} than the expected "
        f"{usd(anomaly.expected_usd)} USD ({pct(anomaly.impact_pct, signed=True)})."
    )
    if anomaly.causes:
        top = max(anomaly.causes, key=lambda c: abs(c.share))
        text += (
            f" The largest contributor is {top.dimension} {top.value} with "
            f"{pct(top.share * 100)} of the change."
        )
    return text


# -- messages -----------------------------------------------------------------------------------
def render_digest(digest: DigestInput, summary: str, top_n: int = 10) -> SlackMessage:
    """The daily digest: headline figures in the message, every detail in its thread.

    Args:
        digest: the day's computed figures.
        summary: the plain-language summary (template or checked Bedrock text).
        top_n: anomalies and findings listed in the message itself.

    Example:
        >>> from datetime import date
        >>> msg = render_digest(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("5")), "ok")
        >>> msg.blocks[0]["type"], len(msg.blocks) <= 50
        ('header', True)
    """
    top_n = max(1, min(top_n, 10))
    anomalies = open_anomalies(digest)
    findings = sorted(
        digest.findings, key=lambda f: (-(f.monthly_savings_usd or Decimal(0)), f.fingerprint)
    )
    known, unknown = savings_total(findings)
    blocks: list[Block] = [
        _header(f"FinOps daily digest: {digest.day.isoformat()}"),
        _section(escape(summary)),
        _section(spend_line(digest)),
    ]
    if digest.budgets:
        blocks.append(
            _section("*Budgets*\n" + "\n".join(budget_line(b) for b in digest.budgets[:10]))
        )
    blocks.append(DividerBlock())
    if anomalies:
        blocks.append(_section(f"*Open anomalies ({len(anomalies)})*"))
        blocks.extend(_section(anomaly_line(a)) for a in anomalies[:top_n])
        if len(anomalies) > top_n:
            blocks.append(_context(f"and {len(anomalies) - top_n} more in the thread"))
    else:
        blocks.append(_section("*Open anomalies:* none"))
    blocks.append(DividerBlock())
    if findings:
        shown = chunk_lines([finding_line(f) for f in findings[:top_n]])
        blocks.append(_section(f"*Top idle resources* (of {len(findings)})\n{shown[0]}"))
        blocks.extend(_section(text) for text in shown[1:3])
        if len(findings) > top_n:
            blocks.append(_context(f"and {len(findings) - top_n} more in the thread"))
    savings = f"*Savings available:* {usd(known)} USD per month across {len(findings)} resources"
    if unknown:
        savings += f" ({unknown} with an unknown price, not counted)"
    blocks.append(_section(savings))
    actions = _buttons(
        [
            ("Open the Prefect run", digest.links.run_url, "open_prefect_run"),
            ("Review and approve clean-up", digest.links.approval_url, "open_approval"),
        ]
    )
    if actions is not None:
        blocks.append(actions)
    blocks.append(_context("finops-flows · amounts in USD · details in the thread"))
    text = clip(
        f"FinOps digest {digest.day.isoformat()}: spend {usd(digest.spend_usd)} USD, "
        f"{len(anomalies)} open anomalies, savings {usd(known)} USD/month",
        MAX_FALLBACK_TEXT,
    )
    return SlackMessage(
        text=text, blocks=_dicts(blocks[:MAX_BLOCKS]), thread=_digest_thread(digest, anomalies)
    )


def _digest_thread(digest: DigestInput, anomalies: list[AnomalySummary]) -> list[SlackMessage]:
    """Every anomaly with its causes, every finding by account x check."""
    day = digest.day.isoformat()
    thread: list[SlackMessage] = []
    if anomalies:
        blocks: list[Block] = [_section(f"*All open anomalies ({len(anomalies)})*")]
        for anomaly in anomalies:
            causes = "\n".join(
                f"• {c.dimension} `{escape(c.value)}`: {usd(c.impact_usd, signed=True)} USD "
                f"({pct(c.share * 100)} of the impact)"
                for c in sorted(anomaly.causes, key=lambda c: -abs(c.share))
            )
            blocks.append(_section(anomaly_line(anomaly) + (f"\n{causes}" if causes else "")))
        thread.extend(_messages_from_blocks(blocks, f"Anomalies on {day}"))
    groups = group_findings(list(digest.findings))
    if groups:
        blocks = [_section(f"*Idle resources by account and check ({len(digest.findings)})*")]
        for group in groups:
            title = (
                f"*{group.check}* in account {group.account_id}: {len(group.findings)} "
                f"resources, {usd(group.monthly_savings_usd)} USD/month"
            )
            lines = [title] + [finding_line(f) for f in group.findings]
            blocks.extend(_section(text) for text in chunk_lines(lines))
        thread.extend(_messages_from_blocks(blocks, f"Idle resources on {day}"))
    return thread


def render_anomaly_alert(
    anomaly: AnomalySummary, explanation: str, run_url: str | None = None
) -> SlackMessage:
    """The standalone alert sent as soon as an anomaly above its threshold is detected.

    Example:
        >>> from datetime import date
        >>> a = AnomalySummary(id="a1", monitor="service: Amazon EC2", start=date(2026, 11, 20),
        ...     actual_usd=Decimal("900"), expected_usd=Decimal("500"), impact_usd=Decimal("400"),
        ...     impact_pct=80.0)
        >>> render_anomaly_alert(a, "why").blocks[0]["text"]["text"]
        ':rotating_light: Cost anomaly: service: Amazon EC2'
    """
    icon = ":rotating_light:" if anomaly.direction == "increase" else ":chart_with_downwards_trend:"
    title = "Cost anomaly"
    if anomaly.status == "resolved":
        icon, title = ":white_check_mark:", "Cost anomaly resolved"
    elif anomaly.status == "false_positive":
        icon, title = ":white_check_mark:", "Cost anomaly (false positive)"
    blocks: list[Block] = [
        _header(f"{icon} {title}: {anomaly.monitor}"),
        _section(anomaly_line(anomaly)),
        _section(escape(explanation)),
    ]
    if anomaly.causes:
        causes = "\n".join(
            f"• {c.dimension} `{escape(c.value)}`: {usd(c.impact_usd, signed=True)} USD "
            f"({pct(c.share * 100)})"
            for c in sorted(anomaly.causes, key=lambda c: -abs(c.share))[:10]
        )
        blocks.append(_section(f"*What moved*\n{causes}"))
    actions = _buttons([("Open the Prefect run", run_url, "open_prefect_run")])
    if actions is not None:
        blocks.append(actions)
    blocks.append(_context(f"anomaly {anomaly.id} · amounts in USD over the anomaly's days"))
    text = clip(
        f"Cost anomaly: {anomaly.monitor} {usd(anomaly.impact_usd, signed=True)} USD "
        f"({pct(anomaly.impact_pct, signed=True)}) {anomaly_period(anomaly)}",
        MAX_FALLBACK_TEXT,
    )
    return SlackMessage(text=text, blocks=_dicts(blocks))


def render_test_message(channel: str, at: str) -> SlackMessage:
    """The message ``finops notify test`` sends."""
    text = f"finops-flows test message ({channel}) sent at {at}"
    return SlackMessage(text=text, blocks=_dicts([_section(f":white_check_mark: {text}")]))


# -- previews and summaries ---------------------------------------------------------------------
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


def summary_json(digest: DigestInput, summary: str) -> dict[str, Any]:
    """The JSON summary published to SNS for other subscribers (amounts as decimal strings).

    Example:
        >>> from datetime import date
        >>> summary_json(DigestInput(day=date(2026, 11, 25), spend_usd=Decimal("5")), "s")["type"]
        'finops.daily_summary'
    """
    known, unknown = savings_total(list(digest.findings))
    anomalies = open_anomalies(digest)
    return {
        "type": "finops.daily_summary",
        "version": 1,
        "date": digest.day.isoformat(),
        "currency": "USD",
        "spend_usd": cents(digest.spend_usd),
        "expected_usd": None if digest.expected_usd is None else cents(digest.expected_usd),
        "summary": summary,
        "budgets": [
            {
                "name": b.name,
                "period": b.period,
                "budget_usd": cents(b.budget_usd),
                "actual_usd": cents(b.actual_usd),
                "forecast_usd": None if b.forecast_usd is None else cents(b.forecast_usd),
                "status": b.effective_status,
            }
            for b in digest.budgets
        ],
        "anomalies": [
            {
                "id": a.id,
                "monitor": a.monitor,
                "start": a.start.isoformat(),
                "end": a.end.isoformat() if a.end else None,
                "impact_usd": cents(a.impact_usd),
                "impact_pct": a.impact_pct,
                "status": a.status,
                "top_causes": [
                    {"dimension": c.dimension, "value": c.value, "share": c.share}
                    for c in a.causes[:3]
                ],
            }
            for a in anomalies
        ],
        "findings": {
            "count": len(digest.findings),
            "monthly_savings_usd": cents(known),
            "unknown_price": unknown,
        },
        "links": digest.links.model_dump(),
    }


def dumps(payload: Any) -> str:
    """Stable JSON text (sorted keys) for previews and digests of content."""
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
