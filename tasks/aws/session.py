"""Sessions and clients per (account, region, role), and the account x region fan-out.

The only place that builds boto3 sessions.  Standard AWS environment variables
(``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` ...) are honoured by boto3 itself, so the
same code reaches real AWS and the sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from tasks.aws.common import error_code, error_message
from tasks.aws.usage import install as count_requests_of
from tasks.settings import AwsSettings
from tasks.version import __version__

T = TypeVar("T")

#: Errors that mean "this target cannot be read", reported per target, never fatal for the scan.
TARGET_ERROR_HINTS: dict[str, str] = {
    "AccessDenied": "the role lacks permission or cannot be assumed",
    "AccessDeniedException": "the role lacks permission",
    "UnauthorizedOperation": "the role lacks permission",
    "AuthFailure": "the region is not enabled (opt-in) or the credentials are not valid there",
    "OptInRequired": "the region or service is not enabled for this account",
    "InvalidClientTokenId": "the credentials are not valid in this region (opt-in region?)",
}


def boto_config(settings: AwsSettings | None = None, **overrides: Any) -> Config:
    """The one botocore ``Config`` of the project: standard retries, timeouts, user agent.

    Example:
        >>> boto_config().retries["mode"]
        'standard'
    """
    aws = settings or AwsSettings()
    config = Config(
        retries={"mode": "standard", "max_attempts": aws.max_attempts},
        connect_timeout=aws.connect_timeout_s,
        read_timeout=aws.read_timeout_s,
        user_agent_extra=f"finops-flows/{__version__}",
        max_pool_connections=max(10, aws.max_concurrency * 2),
    )
    return config.merge(Config(**overrides)) if overrides else config


def parse_timestamp(value: Any) -> datetime:
    """Parse a timestamp of an AWS answer: botocore's parser, fast for the forms AWS sends.

    botocore turns epoch seconds (JSON protocols, e.g. every GetMetricData point) into a
    ``tzlocal()`` datetime and ISO 8601 text (query/XML protocols) through dateutil; both cost
    about 20 us a timestamp, which was most of the scanner's own CPU at 10,000 instances.  Here
    epoch seconds become UTC datetimes and ISO 8601 date-times with an offset go through
    ``datetime.fromisoformat``: the same instants.  Anything else is botocore's.

    Example:
        >>> parse_timestamp(0).isoformat()
        '1970-01-01T00:00:00+00:00'
        >>> parse_timestamp("2026-11-26T15:00:00.000Z").isoformat()
        '2026-11-26T15:00:00+00:00'
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str) and len(value) > 10 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore_parse_timestamp(value)  # type: ignore[no-any-return]


def _fast_timestamps(core: botocore.session.Session) -> None:
    # the AWS CLI sets its own timestamp parser the same way
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )


@dataclass(frozen=True, order=True)
class Target:
    """One account in one region."""

    account_id: str
    region: str

    def __str__(self) -> str:
        return f"{self.account_id}/{self.region}"


@dataclass(frozen=True)
class TargetError:
    """Why one target could not be worked, in words a person can act on."""

    target: Target
    code: str
    message: str

    def __str__(self) -> str:
        hint = TARGET_ERROR_HINTS.get(self.code)
        return f"{self.target}: {self.code}: {self.message}" + (f" ({hint})" if hint else "")


@dataclass
class FanOutResult(Generic[T]):
    """Per-target results and per-target errors of a fan-out."""

    results: dict[Target, T] = field(default_factory=dict)
    errors: dict[Target, TargetError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def describe_error(target: Target, error: BaseException) -> TargetError:
    """Turn an exception raised while working a target into a TargetError."""
    if isinstance(error, ClientError):
        code = error_code(error) or "ClientError"
        return TargetError(target, code, error_message(error) or str(error))
    if isinstance(error, BotoCoreError):
        return TargetError(target, type(error).__name__, str(error))
    return TargetError(target, type(error).__name__, str(error))


class AwsAccess:
    """Sessions for the caller (management) account and member accounts via STS AssumeRole.

    Args:
        settings: the ``aws`` section of the settings.
        base_session: the caller's session; by default built from the environment.
        role_name: role assumed in member accounts; default ``settings.member_role_name``.

    Example:
        >>> access = AwsAccess(AwsSettings())  # doctest: +SKIP
        >>> ec2 = access.client("ec2", access.caller_account_id, "us-east-1")  # doctest: +SKIP
        >>> ec2.describe_volumes()  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: AwsSettings | None = None,
        base_session: boto3.Session | None = None,
        role_name: str | None = None,
    ) -> None:
        self.settings = settings or AwsSettings()
        if base_session is None:  # our own session: its clients may parse timestamps faster
            base_session = boto3.Session()
            _fast_timestamps(base_session._session)
        count_requests_of(base_session)  # so tasks.aws.usage.count_requests() sees its requests
        self.base_session = base_session
        self.role_name = role_name or self.settings.member_role_name
        self.config = boto_config(self.settings)
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._caller_account_id: str | None = None

    @property
    def default_region(self) -> str:
        return self.base_session.region_name or "us-east-1"

    @property
    def caller_account_id(self) -> str:
        if self._caller_account_id is None:
            sts = self.base_session.client(
                "sts", region_name=self.default_region, config=self.config
            )
            self._caller_account_id = str(sts.get_caller_identity()["Account"])
        return self._caller_account_id

    def role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{self.role_name}"

    def session(self, account_id: str) -> boto3.Session:
        """The session for an account: the caller's own, or one from AssumeRole (cached)."""
        if account_id == self.caller_account_id:
            return self.base_session
        with self._lock:
            cached = self._sessions.get(account_id)
        if cached is not None:
            return cached
        sts = self.base_session.client("sts", region_name=self.default_region, config=self.config)
        credentials = sts.assume_role(
            RoleArn=self.role_arn(account_id), RoleSessionName="finops-flows"
        )["Credentials"]
        # Share the caller's model loader: a fresh botocore session would parse every service
        # model again (about 0.25 s a client).
        core = botocore.session.Session()
        core.register_component(
            "data_loader", self.base_session._session.get_component("data_loader")
        )
        _fast_timestamps(core)
        count_requests_of(core)
        core.set_credentials(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )
        session = boto3.Session(botocore_session=core, region_name=self.default_region)
        with self._lock:
            self._sessions[account_id] = session
        return session

    def client(self, service: str, account_id: str, region: str) -> Any:
        """A boto3 client, cached per (account credentials, service, region)."""
        key = (account_id, service, region)
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        client = self.session(account_id).client(service, region_name=region, config=self.config)
        with self._lock:
            return self._clients.setdefault(key, client)

    def list_accounts(self) -> list[str]:
        """Accounts to work: settings, else Organizations' active accounts, else the caller alone.

        A standalone account (no organisation, or a member without Organizations access) is
        scanned alone, without an error.
        """
        if self.settings.accounts:
            return list(self.settings.accounts)
        orgs = self.client("organizations", self.caller_account_id, self.default_region)
        try:
            accounts = [
                str(account["Id"])
                for page in orgs.get_paginator("list_accounts").paginate()
                for account in page["Accounts"]
                if account.get("Status", "ACTIVE") == "ACTIVE"
            ]
        except ClientError as error:
            if error_code(error) in {"AWSOrganizationsNotInUseException", "AccessDeniedException"}:
                return [self.caller_account_id]
            raise
        caller = self.caller_account_id
        return sorted(accounts, key=lambda a: (a != caller, a)) or [caller]

    def enabled_regions(self, account_id: str | None = None) -> list[str]:
        """Regions enabled for an account (opt-in regions only when opted in)."""
        if self.settings.regions:
            return list(self.settings.regions)
        ec2 = self.client("ec2", account_id or self.caller_account_id, self.default_region)
        regions = ec2.describe_regions(AllRegions=False)["Regions"]
        return sorted(
            r["RegionName"]
            for r in regions
            if r.get("OptInStatus", "opt-in-not-required") in {"opt-in-not-required", "opted-in"}
        )

    def targets(
        self, accounts: Iterable[str] | None = None, regions: Iterable[str] | None = None
    ) -> list[Target]:
        """Every account x region to work, from arguments, settings or discovery."""
        account_ids = list(accounts) if accounts else self.list_accounts()
        region_names = list(regions) if regions else self.enabled_regions()
        return [Target(a, r) for a in account_ids for r in region_names]


def fan_out(
    work: Callable[[Target], T],
    targets: Iterable[Target],
    max_concurrency: int = 8,
) -> FanOutResult[T]:
    """Run ``work`` over targets with bounded concurrency; a failing target never stops the rest.

    Args:
        work: called once per target; its exception is recorded as that target's error.
        targets: the account x region pairs.
        max_concurrency: threads at most.

    Returns:
        Results and errors keyed by target.

    Example:
        >>> out = fan_out(lambda t: t.region, [Target("111111111111", "us-east-1")])
        >>> out.results[Target("111111111111", "us-east-1")]
        'us-east-1'
    """
    outcome: FanOutResult[T] = FanOutResult()
    target_list = list(dict.fromkeys(targets))
    if not target_list:
        return outcome
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(target_list)))) as pool:
        futures = {target: pool.submit(work, target) for target in target_list}
        for target, future in futures.items():
            try:
                outcome.results[target] = future.result()
            except Exception as error:  # reported per target by design, never swallowed
                outcome.errors[target] = describe_error(target, error)
    return outcome
