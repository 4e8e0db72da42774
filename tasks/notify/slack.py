"""Slack adapter: post, thread, update and upload through a bot token, or post through a webhook.

Both clients come from slack-sdk with its retry handlers: a 429 waits for ``Retry-After``, 500 /
502 / 503 / 504 back off exponentially, connection errors retry; all bounded.  Errors come back
as ``SlackDeliveryError`` with ``permanent`` set for the ones a retry cannot fix (bad token,
unknown channel, invalid blocks) and with every secret redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from tasks.notify.secrets import Redactor, redacting_logger

#: Slack Web API errors that a retry of the same message will not fix.  Auth errors are not
#: here: they hold for the whole channel until the token is fixed, and then delivery resumes.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "no_text",
        "msg_too_long",
        "missing_scope",
        "not_allowed_token_type",
        "message_not_found",
        "cant_update_message",
        "invalid_payload",
        "action_prohibited",
    }
)

#: Upload errors that mean "this token may not upload": the chart is skipped, not retried.
UPLOAD_NOT_ALLOWED = frozenset({"missing_scope", "not_allowed_token_type", "not_allowed"})


class SlackDeliveryError(RuntimeError):
    """Slack did not accept a message; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool, code: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class _ServerErrors(ServerErrorRetryHandler):
    """slack-sdk's server-error handler, extended to 502 and 504 (gateways in front of Slack)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


def retry_handlers(max_retries: int, backoff_s: float) -> list[RetryHandler]:
    """The bounded retry policy shared by the Web API and webhook clients.

    Example:
        >>> [type(h).__name__ for h in retry_handlers(2, 0.5)][0]
        'RateLimitErrorRetryHandler'
    """
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_s)
    return [
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        _ServerErrors(max_retry_count=max_retries, interval_calculator=backoff),
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
    ]


@dataclass(frozen=True)
class SlackPosted:
    """Where Slack put a message."""

    channel: str
    ts: str | None


class SlackSender:
    """Sends Slack payloads through a bot token (preferred) or an incoming webhook.

    Args:
        bot_token: ``xoxb-`` token; enables threads, updates and uploads.
        webhook_url: incoming webhook URL (the URL is the credential).
        channel: channel id or name for the bot token.
        base_url: Web API base, e.g. ``https://slack.com/api/`` (a local server in tests).
        max_retries: retries per kind of error.
        backoff_s: exponential backoff factor for 5xx and connection errors.
        timeout_s: per request.
        redactor: knows the secrets to scrub from errors and logs.

    Example:
        >>> sender = SlackSender(bot_token=SecretStr("xoxb-1"), channel="#finops")  # doctest: +SKIP
        >>> sender.post({"text": "hello", "blocks": []}).ts  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        bot_token: SecretStr | None = None,
        webhook_url: SecretStr | None = None,
        channel: str = "",
        base_url: str = "https://slack.com/api/",
        max_retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: int = 15,
        redactor: Redactor | None = None,
    ) -> None:
        if bot_token is None and webhook_url is None:
            raise ValueError("Slack needs FINOPS_NOTIFY__SLACK_BOT_TOKEN or ..._WEBHOOK_URL")
        if bot_token is not None and not channel:
            raise ValueError("set FINOPS_NOTIFY__SLACK_CHANNEL for the Slack bot token")
        self.redactor = redactor or Redactor()
        self.redactor.add(bot_token)
        self.redactor.add(webhook_url)
        self.channel = channel
        logger = redacting_logger("slack_sdk", self.redactor)
        handlers = retry_handlers(max_retries, backoff_s)
        self.web: WebClient | None = None
        self.webhook: WebhookClient | None = None
        if bot_token is not None:
            base = base_url if base_url.endswith("/") else base_url + "/"
            self.web = WebClient(
                token=bot_token.get_secret_value(),
                base_url=base,
                timeout=timeout_s,
                logger=logger,
                retry_handlers=handlers,
            )
        else:
            assert webhook_url is not None
            self.webhook = WebhookClient(
                url=webhook_url.get_secret_value(),
                timeout=timeout_s,
                logger=logger,
                retry_handlers=handlers,
            )

    @property
    def mode(self) -> str:
        return "bot" if self.web is not None else "webhook"

    @property
    def can_thread(self) -> bool:
        return self.web is not None

    # -- operations ----------------------------------------------------------------------------
    def post(self, payload: dict[str, Any], thread_ts: str | None = None) -> SlackPosted:
        """Post a message (a thread reply when ``thread_ts`` is given and a bot token is used)."""
        if self.web is not None:
            data = self._call(
                lambda web: web.chat_postMessage(
                    channel=self.channel,
                    text=payload.get("text", ""),
                    blocks=payload.get("blocks") or None,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                )
            )
            return SlackPosted(channel=str(data.get("channel", self.channel)), ts=data.get("ts"))
        self._webhook_send(payload)
        return SlackPosted(channel="webhook", ts=None)

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> SlackPosted:
        """Replace a posted message (bot token only)."""
        if self.web is None:
            raise SlackDeliveryError("a Slack webhook cannot update messages", permanent=True)
        data = self._call(
            lambda web: web.chat_update(
                channel=channel,
                ts=ts,
                text=payload.get("text", ""),
                blocks=payload.get("blocks") or None,
            )
        )
        return SlackPosted(channel=str(data.get("channel", channel)), ts=data.get("ts", ts))

    def upload_png(
        self, png: bytes, filename: str, title: str, channel: str, thread_ts: str | None
    ) -> str | None:
        """Upload an image into a channel or thread with files_upload_v2; return the file id.

        Returns ``None`` when the token is not allowed to upload (a missing ``files:write``
        scope): the chart is optional.
        """
        if self.web is None:
            return None
        try:
            data = self._call(
                lambda web: web.files_upload_v2(
                    content=png,
                    filename=filename,
                    title=title,
                    channel=channel,
                    thread_ts=thread_ts,
                )
            )
        except SlackDeliveryError as error:
            if error.code in UPLOAD_NOT_ALLOWED:
                return None
            raise
        files = data.get("files") or []
        return str(files[0].get("id")) if files else None

    def auth_check(self) -> str:
        """Who the token is (``auth.test``), for ``finops notify test``."""
        if self.web is None:
            return "webhook"
        data = self._call(lambda web: web.auth_test())
        return f"{data.get('user', '?')} in {data.get('team', '?')}"

    # -- internals -----------------------------------------------------------------------------
    def _call(self, operation: Any) -> dict[str, Any]:
        assert self.web is not None
        try:
            response = operation(self.web)
        except SlackApiError as error:
            code = str(error.response.get("error", "")) if error.response is not None else ""
            status = error.response.status_code if error.response is not None else 0
            permanent = code in PERMANENT_ERRORS or (400 <= status < 500 and status != 429)
            raise SlackDeliveryError(
                self.redactor.redact(f"Slack API error {status}: {code or 'unknown'}"),
                permanent=permanent,
                code=code,
            ) from None
        except (SlackClientError, URLError, OSError) as error:
            raise SlackDeliveryError(
                self.redactor.redact(f"Slack unreachable: {type(error).__name__}: {error}"),
                permanent=False,
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _webhook_send(self, payload: dict[str, Any]) -> None:
        assert self.webhook is not None
        try:
            response = self.webhook.send(
                text=payload.get("text", ""), blocks=payload.get("blocks") or None
            )
        except (SlackClientError, URLError, OSError) as error:
            raise SlackDeliveryError(
                self.redactor.redact(f"Slack webhook unreachable: {type(error).__name__}: {error}"),
                permanent=False,
            ) from None
        if response.status_code == 200:
            return
        body = (response.body or "").strip()[:200]
        # 403/404 mean a revoked or mistyped webhook URL: channel-wide, fixed by configuration.
        transient = response.status_code in (403, 404, 429) or response.status_code >= 500
        raise SlackDeliveryError(
            self.redactor.redact(f"Slack webhook answered {response.status_code}: {body}"),
            permanent=not transient,
            code=body,
        )
