"""Bedrock summaries through the real bedrock-runtime client with botocore's Stubber.

The sandbox has no Bedrock, so the Converse responses are stubbed; the checks that matter are
ours: the model sees only computed figures, any number it invents sends us back to the template,
failures fall back, and tokens are logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tasks.notify.bedrock import explain_anomaly, summarize_day
from tasks.notify.texts import template_explanation, template_summary
from tests.plugins.fake_services import sample_anomaly, sample_digest

MODEL = "amazon.nova-lite-v1:0"


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _reply(text: str, tokens_in: int = 812, tokens_out: int = 64) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": tokens_in,
            "outputTokens": tokens_out,
            "totalTokens": tokens_in + tokens_out,
        },
        "metrics": {"latencyMs": 420},
    }


def test_a_summary_using_only_computed_figures_is_used_and_tokens_logged(
    bedrock: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = bedrock
    digest = sample_digest(findings=3, anomalies=1)
    text = (
        "On 2026-11-25 spend reached $1,234.56, which is $134.56 above the expected $1,100.00 "
        "and over the daily budget. One EC2 anomaly is open and 3 idle resources could save "
        "$27.00 per month."
    )
    expected_params = {
        "modelId": MODEL,
        "system": ANY,
        "messages": ANY,
        "inferenceConfig": {"maxTokens": 400, "temperature": 0.0},
    }
    stubber.add_response("converse", _reply(text), expected_params)
    with caplog.at_level(logging.INFO, logger="finops.notify.bedrock"):
        narration = summarize_day(digest, client, MODEL)

    assert narration.source == "bedrock" and narration.text == text
    assert (narration.input_tokens, narration.output_tokens) == (812, 64)
    assert "used 812 input and 64 output tokens" in caplog.text


def test_the_prompt_holds_only_the_computed_figures(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    digest = sample_digest(findings=2, anomalies=1)
    seen: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.update(params)

    client.meta.events.register("provide-client-params.bedrock-runtime.Converse", capture)
    stubber.add_response("converse", _reply("Spend was $1,234.56 on 2026-11-25."))
    summarize_day(digest, client, MODEL)

    prompt = seen["messages"][0]["content"][0]["text"]
    figures = json.loads(prompt[prompt.index("{") :])
    assert figures["spend_usd"] == "1234.56" and figures["monthly_savings_usd"] == "17.00"
    assert "vol-00000000" not in prompt  # resource details are not sent to the model


def test_an_invented_number_falls_back_to_the_template(
    bedrock: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = bedrock
    anomaly = sample_anomaly(impact="412.50")
    stubber.add_response(
        "converse", _reply("EC2 rose by $500 (40%) since 2026-11-23, mostly in one account.")
    )
    narration = explain_anomaly(anomaly, client, MODEL)
    assert narration.source == "template" and narration.text == template_explanation(anomaly)
    assert "500" in narration.reason and "40" in narration.reason
    assert "not computed" in caplog.text


def test_bedrock_errors_and_disabled_bedrock_use_the_template(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    digest = sample_digest()
    stubber.add_client_error(
        "converse", service_error_code="ThrottlingException", http_status_code=429
    )
    failed = summarize_day(digest, client, MODEL)
    assert failed.source == "template" and failed.text == template_summary(digest)
    assert "ThrottlingException" in failed.reason

    disabled = summarize_day(digest, None, "")
    assert disabled.source == "template" and disabled.reason == "Bedrock disabled"
