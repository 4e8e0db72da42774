"""What the seeding of one account x region shares: clients, clock, network, ground-truth records.

:mod:`sandbox.fleet_ec2` and :mod:`sandbox.fleet_services` seed the resources; both write their
ground truth through :meth:`RegionSeed.record` so every record has the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from sandbox import fleet_moto
from sandbox.cloudwatch_index import put_metric_series
from sandbox.context import SeedContext
from sandbox.fleet_profiles import CHECKS_BY_TYPE, EXCLUDE_TAG, PROTECTED_TAG, hourly_grid


@dataclass
class RegionSeed:
    """Seeding state of one account x region.

    Attributes:
        ctx: the seeding context.
        account_id: the account.
        region: the region.
        records: ground-truth records written so far.
        running_targets: running instances with a full metric window (attach / register
            targets), as (instance id, availability zone), busy ones first.
        source_volumes: root volumes of running instances, launched 200 days ago (snapshot
            sources, so that no snapshot is older than its volume), as (volume id, zone).
        subnets: default subnets as (subnet id, availability zone), one per zone.
        vpc_id: the default VPC.
        image_id: the AMI the fleet runs.
    """

    ctx: SeedContext
    account_id: str
    region: str
    records: list[dict[str, Any]] = field(default_factory=list)
    running_targets: list[tuple[str, str]] = field(default_factory=list)
    source_volumes: list[tuple[str, str]] = field(default_factory=list)
    subnets: list[tuple[str, str]] = field(default_factory=list)
    vpc_id: str = ""
    image_id: str = ""

    @property
    def now(self) -> datetime:
        return self.ctx.now

    def ago(self, days: float) -> datetime:
        """The seeding time minus ``days``."""
        return self.ctx.now - timedelta(days=days)

    def client(self, service: str) -> Any:
        return self.ctx.client(service, self.account_id, self.region)

    def ec2(self) -> Any:
        """Moto's EC2 backend of this account x region (bulk seeding, in-process)."""
        return fleet_moto.ec2_backend(self.account_id, self.region)

    def rng(self, purpose: str) -> np.random.Generator:
        """A random stream private to this account x region and purpose."""
        return self.ctx.rng(f"fleet:{self.account_id}:{self.region}:{purpose}")

    def grid(self) -> np.ndarray:
        """Hourly epoch seconds of the metric window, ending at the seeding time."""
        return hourly_grid(int(self.ctx.now.timestamp()), self.ctx.size.days)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def put_series(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        timestamps: np.ndarray,
        values: np.ndarray,
        unit: str,
    ) -> None:
        """Write one metric series (nothing when the resource has no datapoints)."""
        if timestamps.size:
            put_metric_series(
                self.account_id,
                self.region,
                namespace,
                metric,
                dimensions,
                timestamps,
                values,
                unit,
            )

    def record(
        self,
        resource_type: str,
        resource_id: str,
        arn: str,
        profile: str,
        tags: dict[str, str],
        expected: dict[str, bool],
        facts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one ground-truth record; excluded resources get False for every check.

        Raises:
            ValueError: when ``expected`` does not name exactly the checks of the type.
        """
        checks = CHECKS_BY_TYPE[resource_type]
        if set(expected) != set(checks):
            raise ValueError(f"{resource_type} {resource_id}: verdicts for {sorted(checks)}")
        excluded = tags.get(EXCLUDE_TAG[0]) == EXCLUDE_TAG[1]
        protected = tags.get(PROTECTED_TAG[0]) == PROTECTED_TAG[1]
        entry = {
            "account_id": self.account_id,
            "region": self.region,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "arn": arn,
            "profile": profile,
            "tags": dict(sorted(tags.items())),
            "excluded": excluded,
            "protected": protected,
            "expected": {c: bool(expected[c]) and not excluded for c in checks},
            "facts": facts or {},
        }
        self.records.append(entry)
        return entry


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as the AWS APIs take them.

    Example:
        >>> tag_list({"owner": "alice"})
        [{'Key': 'owner', 'Value': 'alice'}]
    """
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    """A ``TagSpecifications`` argument (empty when there are no tags).

    Example:
        >>> tag_spec("volume", {})
        []
    """
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}] if tags else []


def iso(moment: datetime) -> str:
    """ISO 8601 text of a tz-aware time, for the JSON ground truth."""
    return moment.isoformat()
