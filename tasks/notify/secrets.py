"""Channel secrets from Prefect Secret blocks or the environment, and their redaction.

A secret is read only when its channel is used, kept as ``SecretStr`` and never written to logs,
artifacts or exception messages: every text that leaves an adapter passes ``Redactor.redact``,
and the third-party clients log through a logger whose filter redacts as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from tasks.settings import NotifySettings

REDACTED = "***"


class SecretError(RuntimeError):
    """A configured secret cannot be read (its block is missing, say)."""


def load_secret(value: SecretStr | None, block_name: str) -> SecretStr | None:
    """The secret from the named Prefect Secret block, else from the settings value.

    Args:
        value: the settings (environment) value.
        block_name: a Prefect ``Secret`` block name; ``''`` means use ``value``.

    Raises:
        SecretError: the block cannot be loaded (one line naming the block, not its value).

    Example:
        >>> load_secret(SecretStr("x"), "").get_secret_value()
        'x'
    """
    if not block_name:
        return value if value is not None and value.get_secret_value() else None
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(block_name, _sync=True)  # type: ignore[call-arg]
    except ValueError as error:
        raise SecretError(
            f"Prefect Secret block {block_name!r} not found; create it or clear the setting"
        ) from error
    secret = block.get()
    text = secret if isinstance(secret, str) else str(secret)
    return SecretStr(text) if text else None


@dataclass
class Redactor:
    """Replaces known secret values (and their obvious pieces) in any text.

    Example:
        >>> Redactor(["xoxb-123"]).redact("token xoxb-123 rejected")
        'token *** rejected'
    """

    secrets: list[str] = field(default_factory=list)

    def add(self, secret: SecretStr | str | None) -> None:
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if text and len(text) >= 4 and text not in self.secrets:
            self.secrets.append(text)
            # A webhook URL's path is itself the credential: redact it even when printed alone.
            if text.startswith("http") and "/" in text[8:]:
                path = text[text.index("/", 8) :]
                if len(path) > 8:
                    self.secrets.append(path)

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message without the secrets."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def redacting_logger(name: str, redactor: Redactor) -> logging.Logger:
    """A child logger of ``finops.notify`` that redacts before any handler sees a record."""
    logger = logging.getLogger(f"finops.notify.{name}")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter(redactor))
    else:
        for existing in logger.filters:
            if isinstance(existing, RedactingFilter):
                for secret in redactor.secrets:
                    existing.redactor.add(secret)
    return logger


@dataclass(frozen=True)
class ChannelSecrets:
    """The secrets of every channel, resolved once per run."""

    slack_webhook_url: SecretStr | None
    slack_bot_token: SecretStr | None
    jira_token: SecretStr | None
    jira_pat: SecretStr | None

    def redactor(self) -> Redactor:
        redactor = Redactor()
        for secret in (
            self.slack_webhook_url,
            self.slack_bot_token,
            self.jira_token,
            self.jira_pat,
        ):
            redactor.add(secret)
        return redactor


def slack_secrets(settings: NotifySettings) -> tuple[SecretStr | None, SecretStr | None]:
    """The Slack webhook URL and bot token, each from its block (when named) or the settings."""
    return (
        load_secret(settings.slack_webhook_url, settings.slack_webhook_block),
        load_secret(settings.slack_bot_token, settings.slack_bot_token_block),
    )


def jira_secrets(settings: NotifySettings) -> tuple[SecretStr | None, SecretStr | None]:
    """The Jira Cloud API token and the Server/DC PAT.

    The one Jira block holds the API token when ``jira_email`` is set (Cloud), else the PAT.
    """
    from_block = load_secret(None, settings.jira_token_block)
    cloud = bool(settings.jira_email) and settings.jira_deployment != "server"
    return (
        from_block if cloud and from_block else settings.jira_api_token,
        from_block if not cloud and from_block else settings.jira_pat,
    )


def resolve_secrets(settings: NotifySettings) -> ChannelSecrets:
    """Read each channel's secret from its block (when named) or the settings.

    Raises:
        SecretError: a named block cannot be loaded.
    """
    webhook_url, bot_token = slack_secrets(settings)
    jira_token, jira_pat = jira_secrets(settings)
    return ChannelSecrets(
        slack_webhook_url=webhook_url,
        slack_bot_token=bot_token,
        jira_token=jira_token,
        jira_pat=jira_pat,
    )
