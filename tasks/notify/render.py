"""Pure rendering of the Slack digest and alerts, as Block Kit messages (texts: ``texts.py``).

Built with slack-sdk's Block Kit models, within Slack's limits: at most 50 blocks a message, 3000
characters a section text, 150 a header, 75 a button label.  Long lists end with "and N more"
and continue in the thread.  No network, no Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
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

from tasks.anomalies.models import AnomalySummary
from tasks.findings.model import Finding
from tasks.iac.ownership import ownership_from_evidence
from tasks.money import usd
from tasks.notify.models import BudgetState, DigestInput, group_findings
from tasks.notify.texts import (
    anomaly_period,
    open_anomalies,
    pct,
    savings_split_line,
    savings_total,
)

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
        + (" Also seen by AWS Cost Anomaly Detection." if anomaly.aws_anomaly_ids else "")
    )


def finding_line(finding: Finding) -> str:
    savings = (
        f"{usd(finding.monthly_savings_usd)} USD/month"
        if finding.monthly_savings_usd is not None
        else "price unknown"
    )
    owner = f", owner {escape(finding.owner)}" if finding.owner else ""
    code = ownership_from_evidence(finding.evidence, finding.tags)
    # a code-owned resource is changed by pull request only: say so where people read it
    in_code = f", in code: {escape(code.describe())}" if code else ""
    return (
        f"• `{escape(finding.resource_id)}` {finding.check} in {finding.account_id}/"
        f"{finding.region}: {savings}{owner}{in_code}"
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


def spend_line(digest: DigestInput) -> str:
    line = f"*Spend on {digest.day.isoformat()}:* {usd(digest.spend_usd)} USD"
    if digest.expected_usd is not None:
        delta = digest.spend_usd - digest.expected_usd
        line += f" vs expected {usd(digest.expected_usd)} USD ({usd(delta, signed=True)}"
        if digest.expected_usd > 0:
            line += f", {pct(float(delta / digest.expected_usd * 100), signed=True)}"
        line += ")"
    return line


# -- messages -----------------------------------------------------------------------------------
#: Checks of the commitments capability (``commitment-unused``, ``commitment-purchase``).
COMMITMENT_CHECK_PREFIX = "commitment-"


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
    counted = len(findings)
    # Commitment findings (unused RIs/Savings Plans, purchase advice) get their own section.
    commitments = [f for f in findings if f.check.startswith(COMMITMENT_CHECK_PREFIX)]
    findings = [f for f in findings if not f.check.startswith(COMMITMENT_CHECK_PREFIX)]
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
    if commitments:
        lines = chunk_lines([finding_line(f) for f in commitments[:top_n]])
        blocks.append(_section(f"*Commitments* ({len(commitments)})\n{lines[0]}"))
    savings = f"*Savings available:* {usd(known)} USD per month across {counted} resources"
    if unknown:
        savings += f" ({unknown} with an unknown price, not counted)"
    blocks.append(_section(savings))
    split = savings_split_line(digest)
    if split is not None:
        blocks.append(_context(escape(split)))
    actions = _buttons(
        [
            ("Open the Prefect run", digest.links.run_url, "open_prefect_run"),
            ("Review and approve clean-up", digest.links.approval_url, "open_approval"),
        ]
    )
    if actions is not None:
        blocks.append(actions)
    if digest.own_bill:  # the tool's own AWS bill for the day's runs
        blocks.append(_context(escape("\n".join(digest.own_bill))))
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
    also = (
        f" · also AWS Cost Anomaly Detection {', '.join(anomaly.aws_anomaly_ids)}"
        if anomaly.aws_anomaly_ids
        else ""
    )
    blocks.append(_context(f"anomaly {anomaly.id}{also} · amounts in USD over the anomaly's days"))
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
