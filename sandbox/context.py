"""What every seeding step needs: the sandbox size, the seed, the clock and clients per account.

The seeding code of the fleet and the cost ledger is written against these two classes (see
docs/sandbox-contract.md).  ``SeedContext.client`` talks to the sandbox endpoint through plain
boto3, exactly as a user would: the management account with moto's default ``testing`` keys,
member accounts through ``sts:AssumeRole`` of the member role (moto derives the account from the
access key it issues, so resources created with those credentials land in the member account).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np

from tasks.aws.session import boto_config

#: moto's default account, the one the ``testing`` keys map to.
DEFAULT_MANAGEMENT_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class SandboxSize:
    """How big the seeded organisation is: the size knobs of ``finops sandbox up``.

    Example:
        >>> SandboxSize(instances=4).accounts
        3
    """

    accounts: int = 3  # management + 2 members
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1")
    instances: int = 12  # EC2 instances per account x region (spread over the profiles)
    volumes: int = 12  # extra EBS volumes per account x region (beyond root volumes)
    days: int = 14  # days of CloudWatch history (14..30)
    cost_days: int = 400  # days of cost ledger (>= 13 months)

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError(f"accounts must be >= 1 (management + members), got {self.accounts}")
        if not self.regions:
            raise ValueError("regions must name at least one region")
        if self.instances < 0 or self.volumes < 0:
            raise ValueError("instances and volumes must be >= 0")
        if not 1 <= self.days <= 30:
            raise ValueError(f"days of metric history must be within 1..30, got {self.days}")
        if self.cost_days < 1:
            raise ValueError(f"cost_days must be >= 1, got {self.cost_days}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (regions as a list), as written to the state file."""
        data = asdict(self)
        data["regions"] = list(self.regions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxSize:
        """Inverse of :meth:`as_dict`."""
        values = dict(data)
        if "regions" in values:
            values["regions"] = tuple(values["regions"])
        return cls(**values)


def hour_floor(moment: datetime) -> datetime:
    """A tz-aware UTC time truncated to the hour.

    Example:
        >>> hour_floor(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)).isoformat()
        '2026-01-02T03:00:00+00:00'
    """
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware UTC")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class SeedContext:
    """Seed, clock, size and per-account clients for one seeding run.

    Example:
        >>> ctx = SeedContext("http://127.0.0.1:5000", 7, datetime(2026, 1, 1, tzinfo=UTC),
        ...                   SandboxSize())
        >>> float(ctx.rng("fleet").random()) == float(ctx.rng("fleet").random())
        True
    """

    endpoint_url: str
    seed: int
    now: datetime
    size: SandboxSize
    management_account_id: str = DEFAULT_MANAGEMENT_ACCOUNT_ID
    member_role_name: str = "OrganizationAccountAccessRole"
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _credentials: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.now = hour_floor(self.now)

    def role_arn(self, account_id: str) -> str:
        """ARN of the member role in an account."""
        return f"arn:aws:iam::{account_id}:role/{self.member_role_name}"

    def _shared_session(self) -> boto3.Session:
        # One session for every account: botocore parses each service model once per session
        # (EC2's is megabytes of JSON), so per-account sessions would parse it per account.
        if self._session is None:
            self._session = boto3.Session(region_name="us-east-1")
        return self._session

    def credentials(self, account_id: str) -> dict[str, str]:
        """Keys for an account: moto's ``testing`` keys, or AssumeRole of the member role."""
        with self._lock:
            cached = self._credentials.get(account_id)
            if cached is not None:
                return cached
            management = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            if account_id == self.management_account_id:
                keys = management
            else:
                sts = self._shared_session().client(
                    "sts", endpoint_url=self.endpoint_url, config=boto_config(), **management
                )
                creds = sts.assume_role(
                    RoleArn=self.role_arn(account_id), RoleSessionName="finops-sandbox-seed"
                )["Credentials"]
                keys = {
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                }
            self._credentials[account_id] = keys
            return keys

    def client(self, service: str, account_id: str, region: str) -> Any:
        """A boto3 client against the sandbox endpoint with that account's credentials (cached).

        Example:
            >>> ctx.client("ec2", ctx.management_account_id, "us-east-1")  # doctest: +SKIP
        """
        key = (service, account_id, region)
        with self._lock:  # boto3 sessions are not safe for concurrent client creation
            cached = self._clients.get(key)
            if cached is None:
                cached = self._shared_session().client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=boto_config(),
                    **self.credentials(account_id),
                )
                self._clients[key] = cached
            return cached

    def rng(self, name: str) -> np.random.Generator:
        """A deterministic random stream for ``name``, independent of every other name.

        The same (seed, name) always gives the same stream, whatever other streams were drawn,
        so adding a resource kind never changes the values of the existing ones.
        """
        digest = hashlib.sha256(name.encode("utf-8")).digest()
        name_key = int.from_bytes(digest[:8], "big")
        return np.random.default_rng(np.random.SeedSequence([self.seed & (2**63 - 1), name_key]))
