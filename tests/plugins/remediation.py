"""Fixtures for the remediation tests: an AWS endpoint to change, findings for its resources.

* ``remediation_aws`` (function): a private moto server (real AWS protocol over HTTP on
  loopback) for the adapter tests, which create the resources they change.
* ``remediation_sandbox`` (function): the acceptance tests' own seeded sandbox organisation
  (started once per module: the tests change its resources, so it is not the shared session
  sandbox), with findings built from its ground truth (``AwsWorld.pick``).

Both set ``AWS_ENDPOINT_URL`` and a private ``FINOPS_DATA_DIR`` for the test, so the product code
builds its clients from the environment exactly as against AWS.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tasks.aws.session import AwsAccess
from tasks.findings.model import Finding
from tasks.idle.checks import CHECKS
from tasks.settings import load_settings

MANAGEMENT = "123456789012"
MEMBER = "210987654321"
REGION = "us-east-1"
_AMI: dict[tuple[str, str, str], str] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def menu_of(check: str) -> list[str]:
    """The check's action menu, what a scan's finding recommends ([] for a made-up check)."""
    return list(CHECKS[check].actions) if check in CHECKS else []


@dataclass
class AwsWorld:
    """An AWS endpoint with the environment pointed at it, plus resource and finding helpers."""

    endpoint_url: str
    account_id: str = MEMBER
    region: str = REGION
    detected_at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=1))
    ground_truth: dict[str, Any] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def pick(self, profile: str, check: str, actions: list[str] | None = None) -> Finding:
        """A finding for an unused ground-truth resource of this profile in this account."""
        for resource in self.ground_truth.get("resources", []):
            if (
                resource["profile"] == profile
                and resource["account_id"] == self.account_id
                and resource["region"] == self.region
                and resource["resource_id"] not in self.taken
            ):
                self.taken.add(resource["resource_id"])
                return Finding(
                    check=check,
                    account_id=self.account_id,
                    region=self.region,
                    resource_id=resource["resource_id"],
                    resource_arn=resource["arn"],
                    resource_type=resource["resource_type"],
                    monthly_savings_usd=Decimal("12.50"),
                    recommended_actions=actions or menu_of(check),
                    tags=resource.get("tags", {}),
                    owner=resource.get("tags", {}).get("owner"),
                    detected_at=self.detected_at,
                )
        raise LookupError(f"no unused {profile!r} resource in {self.account_id}/{self.region}")

    _access: AwsAccess | None = None

    def client(self, service: str, account_id: str | None = None) -> Any:
        if self._access is None:
            self._access = AwsAccess(load_settings().aws)
        return self._access.client(service, account_id or self.account_id, self.region)

    def ami(self) -> str:
        # An image to launch test instances from, once per server, account and region.  The
        # sandbox does not load moto's public AMIs, so register one when none is there.
        key = (self.endpoint_url, self.account_id, self.region)
        if key not in _AMI:
            ec2 = self.client("ec2")
            images = ec2.describe_images(
                Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}]
            )["Images"]
            if images:
                _AMI[key] = str(sorted(i["ImageId"] for i in images)[0])
            else:
                _AMI[key] = ec2.register_image(
                    Name="finops-test-base",
                    Architecture="x86_64",
                    RootDeviceName="/dev/xvda",
                    VirtualizationType="hvm",
                )["ImageId"]
        return _AMI[key]

    def instance(self, tags: dict[str, str] | None = None) -> str:
        ec2 = self.client("ec2")
        spec: dict[str, Any] = {"ImageId": self.ami(), "MinCount": 1, "MaxCount": 1}
        spec["InstanceType"] = "m5.large"
        if tags:
            spec["TagSpecifications"] = [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ]
        return str(ec2.run_instances(**spec)["Instances"][0]["InstanceId"])

    def volume(
        self, size: int = 100, volume_type: str = "gp2", tags: dict[str, str] | None = None
    ) -> str:
        spec: dict[str, Any] = {"AvailabilityZone": f"{self.region}a", "Size": size}
        spec["VolumeType"] = volume_type
        if tags:
            spec["TagSpecifications"] = [
                {
                    "ResourceType": "volume",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ]
        return str(self.client("ec2").create_volume(**spec)["VolumeId"])

    def finding(
        self,
        check: str,
        resource_id: str,
        savings: str = "10.00",
        actions: list[str] | None = None,
        resource_type: str = "",
    ) -> Finding:
        return Finding(
            check=check,
            account_id=self.account_id,
            region=self.region,
            resource_id=resource_id,
            resource_arn=f"arn:aws:ec2:{self.region}:{self.account_id}:{resource_id}",
            resource_type=resource_type or check.split("-")[0],
            monthly_savings_usd=Decimal(savings),
            recommended_actions=actions or menu_of(check),
            owner="team-a",
            detected_at=self.detected_at,
        )

    def volume_state(self, volume_id: str) -> str | None:
        ec2 = self.client("ec2")
        volumes = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
        return volumes["Volumes"][0]["State"] if volumes["Volumes"] else None

    def instance_state(self, instance_id: str) -> str:
        reservations = self.client("ec2").describe_instances(InstanceIds=[instance_id])
        return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])

    def backup_snapshots(self, volume_id: str) -> list[str]:
        snapshots = self.client("ec2").describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:finops:backup-of", "Values": [volume_id]}]
        )["Snapshots"]
        return [s["SnapshotId"] for s in snapshots]


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _point_at(
    monkeypatch: pytest.MonkeyPatch, endpoint_url: str, data_dir: Any, accounts: list[str]
) -> None:
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FINOPS_AWS__ACCOUNTS", json.dumps(accounts))
    monkeypatch.setenv("FINOPS_AWS__REGIONS", f'["{REGION}"]')
    monkeypatch.setenv("FINOPS_REMEDIATION__APPROVAL_POLL_S", "1")


#: The acceptance sandbox: two accounts, one region, every fleet profile, the shortest ledger.
ACCEPTANCE_SIZE = {
    "accounts": 2,
    "regions": (REGION,),
    "instances": 6,
    "volumes": 12,
    "days": 14,
    "cost_days": 90,
}


@pytest.fixture(scope="module")
def _module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sandbox.context import SandboxSize
    from tests.plugins.sandbox import TEST_SIZE, start_sandbox, stop_sandbox

    size = SandboxSize.from_dict({**TEST_SIZE.as_dict(), **ACCEPTANCE_SIZE})
    handle = start_sandbox(tmp_path_factory.mktemp("remediation-sandbox"), size=size)
    try:
        yield handle
    finally:
        stop_sandbox(handle)


@pytest.fixture
def remediation_sandbox(
    _module_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> AwsWorld:
    """The module's sandbox, pointed at for this test; findings from its member account."""
    handle = _module_sandbox
    _point_at(monkeypatch, handle.endpoint_url, tmp_path / "finops", handle.accounts)
    taken = handle.__dict__.setdefault("_remediation_taken", set())
    return AwsWorld(
        handle.endpoint_url,
        account_id=handle.accounts[1],
        ground_truth=handle.ground_truth,
        taken=taken,
    )


@pytest.fixture
def remediation_aws(
    _moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[AwsWorld]:
    """The moto server for one test, with the finops data dir in ``tmp_path``."""
    # No reset between tests: moto rebuilds its EC2 backend (slowly) after one; every test
    # creates its own resources and looks only at those.
    _point_at(monkeypatch, _moto_server, tmp_path / "finops", [MANAGEMENT, MEMBER])
    yield AwsWorld(_moto_server)
