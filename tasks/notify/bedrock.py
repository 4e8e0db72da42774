"""Bedrock adapter: plain-language texts from the Converse API, checked, with a template fallback.

The model sees only the computed figures (``tasks.notify.narrate``) and its text is used only if
every number in it is one of them; otherwise, when Bedrock is off, or when it fails, the
deterministic template is used.  Tokens used are logged for cost tracking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from tasks.anomalies.models import AnomalySummary
from tasks.aws.common import error_code
from tasks.aws.session import boto_config
from tasks.notify.models import DigestInput
from tasks.notify.narrate import (
    SYSTEM_PROMPT,
    anomaly_prompt,
    day_prompt,
    figures_of_anomaly,
    figures_of_digest,
    unverified_numbers,
)
from tasks.notify.texts import template_explanation, template_summary

#: IAM action behind Converse (collected by tasks.permissions).
IAM_PERMISSIONS: tuple[str, ...] = ("bedrock:InvokeModel",)

log = logging.getLogger("finops.notify.bedrock")


@dataclass(frozen=True)
class Narration:
    """A text and where it came from.

    ``source`` is ``bedrock`` when the model's text passed the figure check, else ``template``
    with ``reason`` saying why (disabled, failed, or which numbers were not computed figures).
    """

    text: str
    source: Literal["bedrock", "template"]
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


def bedrock_client(region: str, session: Any = None) -> Any:
    """A bedrock-runtime client with the project's botocore config."""
    import boto3

    return (session or boto3.Session()).client(
        "bedrock-runtime", region_name=region, config=boto_config()
    )


def converse(client: Any, model_id: str, prompt: str, max_tokens: int) -> tuple[str, int, int]:
    """One Converse call: the reply's text and the input / output tokens used.

    Example:
        >>> client = bedrock_client("us-east-1")  # doctest: +SKIP
        >>> converse(client, "amazon.nova-lite-v1:0", "hi", 100)  # doctest: +SKIP
        ('Hello!', 12, 3)
    """
    response = client.converse(
        modelId=model_id,
        system=[{"text": SYSTEM_PROMPT}],
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
    )
    content = response.get("output", {}).get("message", {}).get("content", [])
    text = " ".join(str(part["text"]) for part in content if "text" in part).strip()
    usage = response.get("usage", {})
    return text, int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))


def _narrate(
    client: Any | None,
    model_id: str,
    prompt: str,
    figures: dict[str, object],
    template: str,
    max_tokens: int,
    what: str,
) -> Narration:
    if client is None or not model_id:
        return Narration(template, "template", "Bedrock disabled")
    try:
        text, tokens_in, tokens_out = converse(client, model_id, prompt, max_tokens)
    except ClientError as error:
        code = error_code(error) or "ClientError"
        log.warning("Bedrock %s failed (%s); using the template", what, code)
        return Narration(template, "template", f"Bedrock error {code}")
    except BotoCoreError as error:
        log.warning("Bedrock %s failed (%s); using the template", what, type(error).__name__)
        return Narration(template, "template", f"Bedrock unreachable: {type(error).__name__}")
    log.info(
        "Bedrock %s with %s used %d input and %d output tokens",
        what,
        model_id,
        tokens_in,
        tokens_out,
    )
    if not text:
        return Narration(template, "template", "Bedrock returned no text", tokens_in, tokens_out)
    leftovers = unverified_numbers(text, figures)
    if leftovers:
        log.warning(
            "Bedrock %s mentioned figures that were not computed (%s); using the template",
            what,
            ", ".join(leftovers[:5]),
        )
        return Narration(
            template,
            "template",
            f"numbers not among the computed figures: {', '.join(leftovers[:5])}",
            tokens_in,
            tokens_out,
        )
    return Narration(text, "bedrock", "", tokens_in, tokens_out)


def summarize_day(
    digest: DigestInput, client: Any | None, model_id: str, max_tokens: int = 400
) -> Narration:
    """The day's summary from Bedrock when it passes the figure check, else the template.

    Example:
        >>> summarize_day(digest, None, "").source  # doctest: +SKIP
        'template'
    """
    return _narrate(
        client,
        model_id,
        day_prompt(digest),
        figures_of_digest(digest),
        template_summary(digest),
        max_tokens,
        "day summary",
    )


def explain_anomaly(
    anomaly: AnomalySummary, client: Any | None, model_id: str, max_tokens: int = 400
) -> Narration:
    """An anomaly's explanation from Bedrock when it passes the figure check, else the template."""
    return _narrate(
        client,
        model_id,
        anomaly_prompt(anomaly),
        figures_of_anomaly(anomaly),
        template_explanation(anomaly),
        max_tokens,
        f"explanation of anomaly {anomaly.id}",
    )
