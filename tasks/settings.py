"""One settings object for the whole project: env prefix ``FINOPS_``, optional ``finops.toml``.

Nested sections are set from the environment with a double underscore, e.g.
``FINOPS_AWS__REGIONS=us-east-1,eu-west-1`` or ``FINOPS_BUDGET__DAILY_USD=1500``.  List settings
take comma-separated values or a JSON list (``'["us-east-1","eu-west-1"]'``); mapping settings
(``FINOPS_IDLE__PARAMS`` ...) take a JSON object.  Secrets are ``SecretStr``: read only when a
channel is used, never printed, not even in the error about the setting that holds them (values of
secret-like keys and token-shaped text are left out of every message, see :func:`redact`).

Every number is finite, every key known at every level, every URL has a scheme its reader takes,
and every rule a run would refuse later (GroupBy keys ingest accepts, IAM role names, conflicting
windows) is refused here, in one line.  Cross-checks that need the rest of the project (idle check
names and their parameters) are in ``finops settings --check`` (``finops/commands/settings.py``):
this module imports nothing of the project.

Over 400 lines on purpose: every setting of the project, its default, its bounds and its one-line
error live in this one module, so `finops settings` lists them all from one place and no default is
declared twice.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
#: IAM role names (IAM API reference, CreateRole RoleName): letters, digits and ``+=,.@_-``.
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
#: The Cost Explorer dimensions the cost store has a column for (what ingest accepts; a test
#: holds this to ``tasks.costs.cost_explorer.DIMENSION_COLUMNS``).
GROUP_BY_DIMENSIONS: tuple[str, ...] = (
    "LINKED_ACCOUNT",
    "SERVICE",
    "REGION",
    "RECORD_TYPE",
    "USAGE_TYPE",
)
#: FINOPS_ variables that are not settings but are read elsewhere (the image deployments run,
#: read by ``finops deploy check``): never reported as unknown.
NOT_SETTINGS = frozenset({"FINOPS_IMAGE"})

#: A key whose value is a secret (its value is never shown, whatever is wrong with it).
SECRET_NAME_RE = re.compile(
    r"token|secret|passw|webhook|api_?key|credential|private_?key|auth|(?:^|_)pat(?:$|_)", re.I
)
#: Text that is a secret whatever key holds it: Slack tokens and webhooks, Jira Cloud API tokens,
#: AWS access key ids, GitHub/GitLab tokens, and the password in ``scheme://user:password@host``.
_SECRET_TEXT = (
    (re.compile(r"xox[a-z]-[\w-]+", re.I), "xox?-***"),
    (re.compile(r"https?://hooks\.slack\.com/\S*", re.I), "https://hooks.slack.com/***"),
    (re.compile(r"\bATATT[\w=-]+"), "ATATT***"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}"), "AKIA***"),
    (re.compile(r"\b(?:ghp|gho|ghs|github_pat|glpat)[_-][\w-]+"), "***"),
    (re.compile(r"([\w.%+-]*):([^\s/@:'\"]+)@"), r"\1:***@"),
)


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message is one line naming it."""


def redact(text: str) -> str:
    """Text with every secret-shaped part replaced (Slack tokens and webhooks, URL passwords ...).

    Every settings error passes through here, and so does every ``error:`` line of the CLI: a
    secret pasted into the wrong key is still never printed.

    Example:
        >>> redact("got 'xoxb-1-2-abc' for postgresql://app:hunter2@db/finops")
        "got 'xox?-***' for postgresql://app:***@db/finops"
    """
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def looks_secret(text: str) -> bool:
    """True when text holds something :func:`redact` would hide.

    Example:
        >>> looks_secret("xoxb-123"), looks_secret("us-east-1")
        (True, False)
    """
    return redact(text) != text


#: How a list setting is written, and a mapping setting, for messages and the settings table.
LIST_FORMAT = 'comma-separated values (a,b) or a JSON list (["a","b"])'
MAPPING_FORMAT = 'a JSON object ({"name": {"key": 1}})'


def _json_error(error: json.JSONDecodeError) -> str:
    return f"{error.msg} at character {error.pos + 1}"


def _list_value(value: Any) -> Any:
    """A list setting from the environment: comma-separated text, or a JSON list.

    Example:
        >>> _list_value("us-east-1, eu-west-1,")
        ['us-east-1', 'eu-west-1']
        >>> _list_value('["us-east-1"]')
        ['us-east-1']
        >>> _list_value("")
        []
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"not a JSON list ({_json_error(error)}); write {LIST_FORMAT}"
            ) from None
    return [item.strip() for item in text.split(",") if item.strip()]


def _mapping_value(value: Any) -> Any:
    """A mapping setting from the environment: a JSON object.

    Example:
        >>> _mapping_value('{"ebs-unattached": {"days": 10}}')
        {'ebs-unattached': {'days': 10}}
    """
    if not isinstance(value, str):
        return value
    if not value.strip():
        return {}
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({_json_error(error)}); write {MAPPING_FORMAT}") from None


T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

#: A list setting: pydantic-settings must not JSON-decode it (comma-separated values are allowed).
EnvList = Annotated[list[T], NoDecode, BeforeValidator(_list_value)]
#: A mapping setting: JSON decoded here, so a malformed value is an error naming the setting.
EnvMapping = Annotated[dict[K, V], NoDecode, BeforeValidator(_mapping_value)]


class Section(BaseModel):
    """A settings section: an unknown key (a misspelt variable) is an error, never ignored, and
    every number is finite (an ``inf`` budget or cap is a guard that never fires)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _conflict(setting: str, message: str) -> PydanticCustomError:
    """A rule between two settings, reported on ``setting`` (a section's model validator)."""
    return PydanticCustomError("conflict", message, {"setting": setting})


def _finite(value: Any, where: str = "") -> Any:
    """Refuse a non-finite number anywhere in a free-form mapping (``idle.params`` ...)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: Input should be a finite number, not {value}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _finite(item, f"{where} item {index + 1}")
    return value


def _role_name(value: str | None) -> str | None:
    if value is not None and not ROLE_NAME_RE.match(value):
        raise ValueError(
            "not an IAM role name; use 1 to 64 letters, digits and +=,.@_- "
            "(a role name, not a path or an ARN), e.g. 'OrganizationAccountAccessRole'"
        )
    return value


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _location(value: str, *, what: str) -> str:
    """A folder/file path, ``file://`` path or ``s3://bucket[/prefix]`` (cost store, export root,
    audit log): anything else with a scheme is refused."""
    if not value:
        return value
    match = _SCHEME_RE.match(value)
    if match is None or len(match.group(1)) == 1:  # no scheme (or a Windows drive letter)
        return value
    scheme = match.group(1).lower()
    if scheme == "s3" and value.lower().startswith("s3://"):
        if not value[5:].split("/", 1)[0]:
            raise ValueError(f"{what} names no bucket; use s3://bucket/prefix")
        return value
    if scheme == "file" and value.lower().startswith("file://"):
        return value
    raise ValueError(f"not a {what}; use a folder path or s3://bucket/prefix")


def _http_url(value: str) -> str:
    if value and not re.match(r"^https?://[^/\s]+", value, re.I):
        raise ValueError("not a URL; write it in full with its scheme, e.g. https://host/path")
    return value


def _sqlalchemy_url(value: str) -> str:
    if value and not re.match(r"^[A-Za-z][A-Za-z0-9+]*://", value):
        raise ValueError(
            "not an SQLAlchemy URL; use e.g. sqlite:///findings.db or "
            "postgresql+psycopg://user@host/db, or '' for SQLite in data_dir"
        )
    return value


def _sns_arn(value: str) -> str:
    if value and not re.match(r"^arn:[^:]+:sns:[^:]+:[^:]*:.+", value):  # what SNS reads
        raise ValueError(
            "not an SNS topic ARN; use arn:aws:sns:REGION:ACCOUNT:TOPIC, or '' for no SNS"
        )
    return value


#: A URL of an HTTP(S) service (Slack, Jira, the Prefect UI, SQS queues); '' = not set.
HttpUrl = Annotated[str, AfterValidator(_http_url)]


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """All AWS regions botocore knows, in every partition (no network call)."""
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


def _check_region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"unknown region {value!r}; use an AWS region name such as 'us-east-1'")
    return value


class AwsSettings(Section):
    """How to reach the organisation."""

    regions: EnvList[str] = Field(
        default_factory=list,
        description="Regions to scan; empty means every region enabled for the account.",
    )
    accounts: EnvList[str] = Field(
        default_factory=list,
        description="Member account ids to scan; empty means Organizations ListAccounts.",
    )
    member_role_name: Annotated[str, AfterValidator(_role_name)] = Field(
        "OrganizationAccountAccessRole",
        description="Role assumed in each member account for reading.",
    )
    remediation_role_name: Annotated[str | None, AfterValidator(_role_name)] = Field(
        None, description="Role assumed for writes; defaults to member_role_name."
    )
    max_attempts: int = Field(6, ge=1, le=20, description="botocore standard-mode attempts.")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Connect timeout, seconds.")
    read_timeout_s: float = Field(30.0, gt=0, le=600, description="Read timeout, seconds.")
    max_concurrency: int = Field(
        8, ge=1, le=64, description="Account x region targets worked at once."
    )

    @field_validator("regions")
    @classmethod
    def _regions_known(cls, value: list[str]) -> list[str]:
        return [_check_region(r) for r in value]

    @field_validator("accounts")
    @classmethod
    def _accounts_valid(cls, value: list[str]) -> list[str]:
        for account in value:
            if not ACCOUNT_ID_RE.match(account):
                raise ValueError(f"malformed account id {account!r}; use 12 digits")
        return value


class CostSettings(Section):
    """Cost ingestion and the cost store."""

    store_url: str = Field(
        "", description="Cost store folder or s3://bucket/prefix; '' = data_dir/costs."
    )
    source: Literal["ce", "export", "athena"] = Field(
        "ce", description="Default ingestion source (athena: the export folded by Athena SQL)."
    )
    history_days: int = Field(400, ge=1, le=3650, description="Days fetched on the first run.")
    restatement_days: int = Field(3, ge=0, le=62, description="Trailing days always re-fetched.")
    restate_previous_month_until_day: int = Field(
        5, ge=0, le=28, description="Until this day of a month the previous month is re-fetched."
    )
    group_by: EnvList[str] = Field(
        default_factory=lambda: ["LINKED_ACCOUNT", "SERVICE"],
        description="Cost Explorer GroupBy: one or two of LINKED_ACCOUNT, SERVICE, REGION, "
        "RECORD_TYPE, USAGE_TYPE.",
    )
    export_bucket: str = Field("", description="S3 bucket of the CUR 2.0 / FOCUS data export.")
    export_prefix: str = Field("", description="Prefix of the data export in its bucket.")
    export_name: str = Field("", description="Name of the data export (its folder under prefix).")
    export_url: str = Field(
        "", description="Export root as s3://bucket/prefix or a folder; overrides bucket+prefix."
    )
    detail: EnvList[Literal["REGION", "RECORD_TYPE"]] = Field(
        default_factory=list,
        description="Extra Cost Explorer passes for REGION / RECORD_TYPE detail (cost: requests).",
    )
    ce_max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts per Cost Explorer page when throttled."
    )
    daily_total_band: float = Field(
        10.0,
        ge=0,
        description="A day's usage total must lie within [median/band, median*band] of the "
        "trailing 28 days; 0 turns the check off.",
    )
    estimated_recent_days: int = Field(
        5, ge=0, description="Estimated rows are allowed only in the most recent N days."
    )

    @field_validator("daily_total_band")
    @classmethod
    def _band_off_or_wide(cls, value: float) -> float:
        if 0 < value <= 1:
            raise ValueError("use 0 (off) or a factor above 1, e.g. 10")
        return value

    @field_validator("group_by")
    @classmethod
    def _two_groups(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= 2:
            raise ValueError("Cost Explorer accepts one or two GroupBy keys")
        for index, key in enumerate(value):
            if key not in GROUP_BY_DIMENSIONS:
                raise ValueError(
                    f"item {index + 1}: GroupBy {key!r} is not supported by the cost store; "
                    f"use one or two of {', '.join(GROUP_BY_DIMENSIONS)}"
                )
        return value

    @field_validator("store_url")
    @classmethod
    def _store_location(cls, value: str) -> str:
        return _location(value, what="cost store URL")

    @field_validator("export_url")
    @classmethod
    def _export_location(cls, value: str) -> str:
        return _location(value, what="data export URL")


class AnomalySettings(Section):
    """Cost anomaly monitors and alert thresholds (AWS Cost Anomaly Detection-like defaults)."""

    cost_metric: Literal["effective_cost", "billed_cost"] = Field(
        "effective_cost", description="Judge amortized (effective) or billed cost."
    )
    min_history_days: int = Field(14, ge=3, le=365, description="No alerts before this history.")
    alert_min_impact_usd: float = Field(100.0, ge=0, description="Alert when impact >= this.")
    alert_min_impact_pct: float = Field(20.0, ge=0, description="... and >= this percent.")
    alert_match: Literal["all", "any"] = Field(
        "all", description="Alert when all thresholds (amount and percent) or any one is met."
    )
    alert_drops: bool = Field(False, description="Alert on drops too (they are always reported).")
    tag_key: str = Field("", description="Cost-allocation tag with one monitor per value.")
    charge_categories: EnvList[str] = Field(
        default_factory=lambda: ["Usage", "Credit", "Adjustment"],
        description="Charge categories judged (tax and purchases/fees are left out).",
    )
    exclude_services: EnvList[str] = Field(
        default_factory=lambda: ["AWS Support*", "Tax"],
        description="Services never judged (support fees, tax); 'Prefix*' matches a prefix.",
    )
    band_width: float = Field(4.0, gt=0, le=20, description="Band half-width, robust sigmas.")
    lookback_days: int = Field(120, ge=30, le=1000, description="History read per daily run.")
    merge_gap_days: int = Field(
        1, ge=0, le=7, description="In-band days tolerated inside one anomaly before it closes."
    )
    monitor_thresholds: EnvMapping[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per-monitor overrides by monitor id or type: min_impact_usd, min_impact_pct.",
    )

    @field_validator("monitor_thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        allowed = ("min_impact_usd", "min_impact_pct")
        for monitor, thresholds in value.items():
            unknown = [key for key in thresholds if key not in allowed]
            if unknown:
                raise ValueError(
                    f"monitor {monitor!r}: unknown threshold {unknown[0]!r}; use "
                    f"{' or '.join(allowed)}"
                )
        return value

    @model_validator(mode="after")
    def _history_fits_the_lookback(self) -> AnomalySettings:
        if self.min_history_days > self.lookback_days:
            raise _conflict(
                "min_history_days",
                f"min_history_days={self.min_history_days} is above lookback_days="
                f"{self.lookback_days}: the daily run would never read enough history to alert; "
                "lower it or raise FINOPS_ANOMALIES__LOOKBACK_DAYS",
            )
        return self


class BudgetSettings(Section):
    """The budget guardrail."""

    daily_usd: float = Field(1000.0, gt=0, description="Daily budget on total spend, USD.")
    monthly_usd: float | None = Field(None, gt=0, description="Monthly budget, USD; None = off.")
    alert_thresholds_pct: EnvList[float] = Field(
        default_factory=lambda: [80.0, 100.0], description="Alert at these % of budget."
    )
    use_aws_budgets: bool = Field(False, description="Read AWS Budgets instead of the above.")
    cost_metric: Literal["effective_cost", "billed_cost"] = Field(
        "effective_cost", description="Cost judged against the configured budgets."
    )


class IdleSettings(Section):
    """Idle and waste checks; per-check parameters override each check's documented defaults."""

    checks: EnvList[str] = Field(default_factory=list, description="Checks to run; empty = all.")
    exclude_tag: str = Field("finops:exclude=true", description="KEY=VALUE never reported.")
    protected_tag: str = Field("finops:protected=true", description="KEY=VALUE never remediated.")
    owner_tag: str = Field("owner", description="Tag naming a resource's owner.")
    params: EnvMapping[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-check parameter overrides, by check name."
    )

    @field_validator("exclude_tag", "protected_tag")
    @classmethod
    def _key_value(cls, value: str) -> str:
        if "=" not in value or not value.split("=", 1)[0]:
            raise ValueError("use KEY=VALUE, e.g. 'finops:exclude=true'")
        return value

    @field_validator("params")
    @classmethod
    def _finite_params(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # check names and parameter schemas are the registry's: `finops settings --check`
        return _finite(value)


class ScanShardSettings(Section):
    """Sharding the idle scan over the work pool (runs from a deployment only).

    When a ``scan-idle-resources`` run from a deployment has more account x region targets than
    ``targets``, it starts one child flow run of ``deployment`` per ``accounts`` accounts (each
    its own job on the work pool: a Fargate task on ECS, a process locally), waits for them and
    stores the merged findings once.  A shard that fails, or shows no end within ``timeout_s``,
    is run again up to ``retries`` times, then reported; its targets are left out of the scope
    the findings store resolves.

    Example (finops.toml):
        [scan_shards]
        targets = 200
        accounts = 25
    """

    targets: int = Field(
        200, ge=0, description="Shard when account x region targets exceed this; 0 = never."
    )
    accounts: int = Field(25, ge=1, description="Accounts per shard (each shard one job).")
    deployment: str = Field(
        "scan-idle-resources/scan-idle-shard",
        description="flow/deployment the shards run as (the scan's own shard deployment).",
    )
    retries: int = Field(1, ge=0, le=5, description="Re-runs of a failed or lost shard.")
    timeout_s: int = Field(
        1800, ge=10, description="A shard not finished after this long is cancelled and rerun."
    )
    poll_s: float = Field(5.0, gt=0, le=60, description="Seconds between shard state checks.")


class RemediationSettings(Section):
    """Approval gate and remediation safety."""

    dry_run: bool = Field(True, description="Default: prove permissions, change nothing.")
    approval_timeout_s: int = Field(3 * 86400, ge=1, description="Approval wait, seconds.")
    max_resources: int = Field(50, ge=0, description="At most this many actions per run.")
    max_monthly_usd: float = Field(
        10000.0, ge=0, description="At most this much monthly spend acted on per run, USD."
    )
    audit_log_url: str = Field("", description="Audit JSONL path or s3:// URL; '' = data_dir.")

    @field_validator("audit_log_url")
    @classmethod
    def _audit_location(cls, value: str) -> str:
        return _location(value, what="audit log URL")

    wait_mode: Literal["auto", "pause", "suspend"] = Field(
        "auto",
        description="Approval wait: suspend (deployments; frees the worker), pause (in process); "
        "auto = suspend when the run has a deployment.",
    )
    approval_poll_s: int = Field(10, ge=1, le=600, description="Pause mode: seconds between polls.")
    mark_days: int = Field(7, ge=1, le=365, description="tag_for_later: days until the action.")
    busy_cpu_pct: float = Field(
        10.0, gt=0, le=100, description="Skip an instance whose hourly CPU rose above this."
    )


class NotifySettings(Section):
    """Slack, Jira, SNS and Bedrock; empty means the channel is off (outbox + artifacts only)."""

    slack_webhook_url: SecretStr | None = Field(None, description="Slack incoming webhook URL.")
    slack_bot_token: SecretStr | None = Field(None, description="Slack bot token (xoxb-...).")
    slack_channel: str = Field("", description="Channel for the bot token.")
    slack_base_url: HttpUrl = Field("https://slack.com/api/", description="Slack Web API base URL.")
    jira_url: HttpUrl = Field("", description="Jira base URL.")
    jira_email: str = Field("", description="Jira Cloud user email (with jira_api_token).")
    jira_api_token: SecretStr | None = Field(None, description="Jira Cloud API token.")
    jira_pat: SecretStr | None = Field(None, description="Jira Server/DC personal access token.")
    jira_project: str = Field("FINOPS", description="Jira project key.")
    jira_issue_type: str = Field("Task", description="Jira issue type.")
    sns_topic_arn: Annotated[str, AfterValidator(_sns_arn)] = Field(
        "", description="SNS topic for the JSON summary."
    )
    bedrock_model_id: str = Field("", description="Bedrock model id; '' = template summaries.")
    prefect_ui_url: HttpUrl = Field("http://127.0.0.1:4200", description="Links in messages.")
    slack_webhook_block: str = Field(
        "", description="Prefect Secret block holding the webhook URL; '' = slack_webhook_url."
    )
    slack_bot_token_block: str = Field(
        "", description="Prefect Secret block holding the bot token; '' = slack_bot_token."
    )
    slack_max_retries: int = Field(
        3, ge=0, le=10, description="Slack retries per kind (429 after Retry-After, 5xx, network)."
    )
    slack_backoff_s: float = Field(0.5, ge=0, le=60, description="Slack 5xx backoff factor, s.")
    slack_timeout_s: int = Field(15, ge=1, le=300, description="Slack request timeout, seconds.")
    slack_chart: bool = Field(True, description="Upload a 30-day cost chart (bot token only).")
    digest_top_n: int = Field(
        10, ge=1, le=40, description="Anomalies/findings listed in the digest; the rest in thread."
    )
    jira_token_block: str = Field(
        "", description="Prefect Secret block with the Jira API token or PAT; '' = settings."
    )
    jira_deployment: Literal["auto", "cloud", "server"] = Field(
        "auto", description="auto: email + API token = Cloud (basic), PAT alone = Server/DC."
    )
    jira_labels: EnvList[str] = Field(
        default_factory=lambda: ["finops"], description="Labels on every issue created."
    )
    jira_components: EnvList[str] = Field(
        default_factory=list, description="Components set on every issue created."
    )
    jira_priorities: EnvMapping[str, str] = Field(
        default_factory=lambda: {"high": "High", "medium": "Medium", "low": "Low"},
        description="Jira priority name per impact level (high/medium/low).",
    )
    jira_high_impact_usd: float = Field(
        1000.0, ge=0, description="Impact (USD; monthly for findings) from which priority is high."
    )
    jira_medium_impact_usd: float = Field(
        100.0, ge=0, description="Impact (USD) from which priority is medium."
    )
    jira_done_transition: str = Field("Done", description="Transition that closes an issue.")
    jira_max_retries: int = Field(2, ge=0, le=10, description="Jira retries on 429/503.")
    jira_timeout_s: float = Field(20.0, gt=0, le=300, description="Jira request timeout, s.")
    bedrock_region: str = Field("us-east-1", description="Region of bedrock-runtime.")
    bedrock_max_tokens: int = Field(400, ge=16, le=4096, description="Bedrock output tokens.")
    outbox_max_attempts: int = Field(
        20, ge=1, le=1000, description="Delivery attempts before a message is marked failed."
    )

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            _http_url(value.get_secret_value())
        return value

    @field_validator("jira_priorities")
    @classmethod
    def _impact_levels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [key for key in value if key not in ("high", "medium", "low")]
        if unknown:
            raise ValueError(f"unknown impact level {unknown[0]!r}; use high, medium or low")
        return value


class SandboxSettings(Section):
    """The embedded AWS organisation."""

    port: int = Field(0, ge=0, le=65535, description="Port; 0 = a free one.")
    seed: int = Field(7, description="Seed of the synthetic organisation.")


class EventSettings(Section):
    """The event listener (`finops listen`): SQS queue fed by EventBridge and SNS."""

    queue_url: HttpUrl = Field("", description="SQS queue URL the listener long-polls.")
    dead_letter_queue_url: HttpUrl = Field(
        "", description="SQS queue for malformed/unknown messages, with the reason."
    )
    wait_time_s: int = Field(20, ge=0, le=20, description="SQS long-poll wait, seconds.")
    max_messages: int = Field(10, ge=1, le=10, description="Messages received per poll.")
    visibility_timeout_s: int = Field(
        60, ge=0, le=43200, description="Seconds a received message stays hidden while handled."
    )


class AthenaSettings(Section):
    """The export folded in Athena (`finops ingest --source athena`): where, and at what cap."""

    workgroup: str = Field("primary", description="Athena workgroup the queries run in.")
    database: str = Field("", description="Glue database of the export's table.")
    table: str = Field(
        "", description="Table over the export's data files, partitioned by billing_period."
    )
    output_location: str = Field(
        "", description="s3:// folder for query results; '' = the workgroup's own setting."
    )
    bytes_scanned_cap: int = Field(
        10 * 1000**3,
        ge=1,
        description="Most bytes one run may have Athena scan ($5 per TB); the run stops beyond.",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between GetQueryExecution polls."
    )
    query_timeout_s: float = Field(
        900, gt=0, le=86400, description="Seconds a query may run before it is stopped."
    )


def _s3_url(value: str) -> str:
    if not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S+$", value):
        raise ValueError("not an S3 object URL; write s3://bucket/key/terraform.tfstate")
    return value


class IacSettings(Section):
    """Infrastructure as code: where Terraform state and HCL live, and the pull-request path."""

    state_urls: EnvList[Annotated[str, AfterValidator(_s3_url)]] = Field(
        default_factory=list,
        description="Terraform state objects (s3://bucket/key), comma-separated.",
    )
    state_region: str = Field("us-east-1", description="Region of the state buckets' S3 client.")
    repo_url: str = Field("", description="Git remote holding the HCL; '' = no pull requests.")
    repo_path: str = Field("", description="Folder of the Terraform code inside the repository.")
    base_branch: str = Field("main", description="Branch pull requests are opened against.")
    branch_prefix: str = Field("finops/", description="Prefix of the branch of each approval run.")
    github_api_url: HttpUrl = Field(
        "https://api.github.com", description="GitHub REST API base URL."
    )
    github_repo: str = Field("", description="owner/name of the repository on GitHub.")
    github_token_env: str = Field(
        "GITHUB_TOKEN", description="Environment variable with the token."
    )
    github_token_block: str = Field(
        "", description="Prefect Secret block holding the token; '' = github_token_env."
    )
    labels: EnvList[str] = Field(
        default_factory=lambda: ["finops", "cost-savings"],
        description="Labels on each pull request.",
    )
    github_max_retries: int = Field(3, ge=0, le=10, description="GitHub retries on 429/5xx.")
    github_backoff_s: float = Field(0.5, ge=0, le=60, description="GitHub 5xx backoff factor, s.")
    github_timeout_s: float = Field(20.0, gt=0, le=300, description="GitHub request timeout, s.")
    run_plan: bool = Field(
        False, description="Run `terraform plan` on the branch (needs providers)."
    )
    terraform_bin: str = Field("terraform", description="The terraform binary for the plan.")

    @field_validator("github_repo")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if value and not re.match(r"^[\w.-]+/[\w.-]+$", value):
            raise ValueError("write the repository as owner/name")
        return value


class AwsAnomalyDetectionSettings(Section):
    """AWS Cost Anomaly Detection as a second opinion in the daily anomaly check."""

    enabled: bool = Field(
        False,
        description="Read AWS Cost Anomaly Detection's anomalies in each daily check and link "
        "them to ours (one alert names both).",
    )
    lookback_days: int = Field(
        90, ge=1, le=365, description="Days of AWS anomalies read in each daily check."
    )


class CommitmentSettings(Section):
    """Reserved Instances and Savings Plans: expiry alerts, recommendations, purchases."""

    expiry_alert_days: EnvList[int] = Field(
        default_factory=lambda: [60, 30, 7],
        description="Days before a commitment ends at which it is announced, once each.",
    )
    lookback_days: Literal[7, 30, 60] = Field(
        30, description="On-demand history a recommendation is computed over (CE's choices)."
    )
    term: Literal["ONE_YEAR", "THREE_YEARS"] = Field("ONE_YEAR", description="Recommended term.")
    payment_option: Literal["NO_UPFRONT", "PARTIAL_UPFRONT", "ALL_UPFRONT"] = Field(
        "NO_UPFRONT", description="Recommended payment option."
    )
    savings_plan_rate: float = Field(
        0.72,
        gt=0,
        lt=1,
        description="Savings Plan price / on-demand when the store shows no plan to learn it from.",
    )
    min_unused_usd_per_day: float = Field(
        0.01, ge=0, description="Unused commitment below this a day is not a finding."
    )
    purchase_enabled: bool = Field(
        False,
        description="Allow CreateSavingsPlan for an approved purchase plan; never on by default.",
    )

    @field_validator("expiry_alert_days")
    @classmethod
    def _positive_days(cls, value: list[int]) -> list[int]:
        if any(day < 1 for day in value):
            raise ValueError("alert days must be whole days >= 1, e.g. 60,30,7")
        return sorted(set(value), reverse=True)


class Settings(BaseSettings):
    """Every knob of finops-flows, with its documented default."""

    model_config = SettingsConfigDict(
        env_prefix="FINOPS_",
        env_nested_delimiter="__",
        toml_file="finops.toml",
        extra="forbid",
        allow_inf_nan=False,
    )

    data_dir: Path = Field(Path(".finops"), description="Local state: stores, logs, outbox.")
    findings_db_url: Annotated[str, AfterValidator(_sqlalchemy_url)] = Field(
        "", description="SQLAlchemy URL; '' = SQLite in data_dir."
    )
    aws: AwsSettings = Field(default_factory=AwsSettings)
    costs: CostSettings = Field(default_factory=CostSettings)
    anomalies: AnomalySettings = Field(default_factory=AnomalySettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    idle: IdleSettings = Field(default_factory=IdleSettings)
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    athena: AthenaSettings = Field(default_factory=AthenaSettings)
    iac: IacSettings = Field(default_factory=IacSettings)
    aws_anomaly_detection: AwsAnomalyDetectionSettings = Field(
        default_factory=AwsAnomalyDetectionSettings
    )
    commitments: CommitmentSettings = Field(default_factory=CommitmentSettings)
    scan_shards: ScanShardSettings = Field(default_factory=ScanShardSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def cost_store_url(self) -> str:
        return self.costs.store_url or str(self.data_dir / "costs")

    @property
    def findings_url(self) -> str:
        return self.findings_db_url or f"sqlite:///{self.data_dir / 'findings.db'}"

    @property
    def audit_log_url(self) -> str:
        return self.remediation.audit_log_url or str(self.data_dir / "audit.jsonl")


class _TomlSource(TomlConfigSettingsSource):
    """``finops.toml``, with a syntax error or an unreadable file as one line naming the file."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(
                f"{file_path}: not valid TOML ({error}); fix that line or remove the file"
            ) from None
        except OSError as error:
            raise SettingsError(
                f"{file_path}: cannot be read ({error.strerror or error}); "
                "make it a readable TOML file or remove it"
            ) from None


def _field_at(loc: tuple[int | str, ...]) -> Any:
    """The annotation of the setting at a validation error's location (None if not a field)."""
    model: Any = Settings
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return annotation
        annotation = fields[part].annotation
        model = annotation
    return annotation


def _split_at_setting(loc: tuple[int | str, ...]) -> tuple[list[str], list[int | str]]:
    """A location as (the setting's path, the list items and mapping keys inside its value).

    Example:
        >>> _split_at_setting(("anomalies", "monitor_thresholds", "m", "min_impact_usd"))
        (['anomalies', 'monitor_thresholds'], ['m', 'min_impact_usd'])
    """
    model: Any = Settings
    names: list[str] = []
    for index, part in enumerate(loc):
        fields = getattr(model, "model_fields", None)
        if fields and isinstance(part, str) and part not in fields:  # an unknown key
            return [*names, part], list(loc[index + 1 :])
        if isinstance(part, int) or not fields:  # inside a list or a mapping setting
            return names, list(loc[index:])
        names.append(part)
        model = fields[part].annotation
    return names, []


def _holds_secret(annotation: Any) -> bool:
    """True when a setting is, or a section holds, a ``SecretStr``."""
    if "SecretStr" in repr(annotation):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(arg) for arg in get_args(annotation))


def _from_toml(variable: str) -> bool:
    """True when a setting's value can only have come from finops.toml (not the environment)."""
    in_env = variable.lower() in {name.lower() for name in os.environ}
    return not in_env and Path("finops.toml").is_file()


def setting_label(variable: str, toml: str) -> str:
    """How a message names a setting: ``setting VAR``, plus where in finops.toml it was set.

    Args:
        variable: the environment variable, e.g. ``FINOPS_IDLE__PARAMS``.
        toml: the same place in finops.toml, e.g. ``[idle.params.ebs-unattached] days``.
    """
    where = f"setting {variable}"
    if _from_toml(variable):
        where += f" (finops.toml: {toml})"
    return where


def _describe(detail: ErrorDetails) -> str:
    loc = tuple(detail["loc"])
    value = detail.get("input")
    setting = (detail.get("ctx") or {}).get("setting")
    if setting:  # a rule between settings, reported on the one it names
        loc, value = (*loc, setting), None
    names, keys = _split_at_setting(loc)
    variable = "FINOPS_" + "__".join(names).upper()
    table = ".".join(names[:-1])
    where = setting_label(variable, f"{f'[{table}] ' if table else ''}{names[-1]}")
    path = ".".join(str(p) for p in keys if not isinstance(p, int))  # keys inside a mapping
    items = [f"item {p + 1}" for p in keys if isinstance(p, int)] + ([path] if path else [])
    if detail["type"] == "extra_forbidden":
        known = [name for name, _, _ in settings_table()]
        close = difflib.get_close_matches(variable, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{where}: there is no such setting; {hint}`finops settings` lists them all"
    message = detail["msg"].removeprefix("Value error, ")
    hidden = (
        _holds_secret(_field_at(loc))
        or any(SECRET_NAME_RE.search(name) for name in names)
        or isinstance(value, (dict, BaseModel))
        or value is None
        or looks_secret(repr(value))
    )
    shown = "" if hidden else f" (got {value!r})"
    return f"{where}: {': '.join([*items, message])}{shown}"


def _one_line(error: ValidationError) -> str:
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return _describe(error.errors()[0]) + more


def _source_line(error: SourceError) -> str:
    """pydantic-settings' own error (e.g. ``FINOPS_AWS='{...'`` is not JSON) as one line."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, SettingsError):
            return str(cause)
        if cause.__cause__ is None:
            break
        cause = cause.__cause__
    match = re.search(r'field "(\w+)"', str(error))
    variable = f"FINOPS_{match.group(1).upper()}" if match else "FINOPS_*"
    if isinstance(cause, json.JSONDecodeError):
        return (
            f"setting {variable}: not valid JSON ({_json_error(cause)}); write a JSON object, "
            f"or set one key at a time, e.g. {variable}__<KEY>=value"
        )
    return f"setting {variable}: {cause}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and ``finops.toml``.

    Raises:
        SettingsError: one line naming the first wrong setting (or the bad finops.toml) and
            what is allowed.

    Example:
        >>> load_settings(budget={"daily_usd": 1500}).budget.daily_usd
        1500.0
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(redact(_one_line(error))) from None
    except SourceError as error:
        raise SettingsError(redact(_source_line(error))) from None


def _known_variables() -> set[str]:
    """Every variable a setting can be set with, and each section's (a JSON object)."""
    names = {name for name, _, _ in settings_table()}
    names |= {f"FINOPS_{name.upper()}" for name in Settings.model_fields}
    return names


def _nearest(name: str, known: set[str]) -> str | None:
    """The setting a misspelt variable name (without ``FINOPS_``) most likely meant: by its whole
    name, else by its last part (``SLACK_BOT_TOKEN`` set outside its section ``NOTIFY``)."""
    by_name = {variable.removeprefix("FINOPS_"): variable for variable in sorted(known)}
    close = difflib.get_close_matches(name, list(by_name), n=1)
    if close:
        return by_name[close[0]]
    by_leaf = {short.rsplit("__", 1)[-1]: variable for short, variable in by_name.items()}
    close = difflib.get_close_matches(name, list(by_leaf), n=1)
    return by_leaf[close[0]] if close else None


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning line per ``FINOPS_`` variable that is no setting (a misspelt secret would
    otherwise be ignored without a word), naming the nearest setting; never its value.

    A variable inside a section (``FINOPS_AWS__...``) is not listed: the settings refuse an
    unknown one themselves.

    Example:
        >>> unknown_variables({"FINOPS_DAT_DIR": "x"})
        ['warning: FINOPS_DAT_DIR is no setting and is ignored; did you mean FINOPS_DATA_DIR?']
    """
    environ = os.environ if environ is None else environ
    known = _known_variables()
    sections = tuple(
        f"FINOPS_{name.upper()}__"
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    )
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("FINOPS_") or upper in known or upper in NOT_SETTINGS:
            continue
        if upper.startswith(sections):
            continue
        close = _nearest(upper.removeprefix("FINOPS_"), known)
        hint = f"did you mean {close}?" if close else "`finops settings` lists them all"
        lines.append(f"warning: {name} is no setting and is ignored; {hint}")
    return lines


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


def _is_mapping(annotation: Any) -> bool:
    return get_origin(annotation) is dict


def settings_table() -> list[tuple[str, str, str]]:
    """Every setting as (environment variable, default, description), for the README and CLI."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
                continue
            default = field.get_default(call_default_factory=True)
            description = field.description or ""
            if _is_list(annotation):
                # shown as it is written in the environment
                shown = repr(",".join(str(item) for item in default))
                description += " Comma-separated values or a JSON list."
            elif _is_mapping(annotation):
                shown = repr(json.dumps(default)) if default else "'{}'"
                description += " A JSON object."
            elif isinstance(default, Path):
                shown = repr(str(default))
            else:
                shown = repr(default)
            rows.append((f"{prefix}{name.upper()}", shown, description))

    walk(Settings, "FINOPS_")
    return rows


def settings_markdown() -> str:
    """The settings table as Markdown (the README's table is this text)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, default, description in settings_table():
        shown = default.replace("|", "\\|")
        lines.append(f"| `{name}` | `{shown}` | {description} |")
    return "\n".join(lines)
