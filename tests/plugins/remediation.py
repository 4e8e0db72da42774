"""Fixtures for the remediation tests: an AWS endpoint to change, findings for its resources.

``remediation_aws`` yields a :class:`AwsWorld` on a private moto server (real AWS protocol over
HTTP on loopback, its own state) with ``AWS_ENDPOINT_URL`` set for the test, so the product code
builds its clients from the environment exactly as against the sandbox or AWS.  Helpers create
resources in a member account (reached by AssumeRole, as remediation does) and build the
``Finding`` a scan would have produced for each.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from finops.settings import load_settings
from tasks.aws.session import AwsAccess, boto_config
from tasks.findings.model import Finding

MANAGEMENT = "123456789012"
MEMBER = "210987654321"
REGION = "us-east-1"
_AMI: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AwsWorld:
    """A moto server with the environment pointed at it, plus resource and finding helpers."""

    endpoint_url: str
    account_id: str = MEMBER
    region: str = REGION
    detected_at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=1))

    _access: AwsAccess | None = None

    def client(self, service: str, account_id: str | None = None) -> Any:
        if self._access is None:
            self._access = AwsAccess(load_settings().aws)
        return self._access.client(service, account_id or self.account_id, self.region)

    def ami(self) -> str:
        # moto's public AMIs are the same in every account: look one up once per session.
        if not _AMI:
            images = self.client("ec2").describe_images(
                Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}]
            )["Images"]
            _AMI.append(str(sorted(i["ImageId"] for i in images)[0]))
        return _AMI[0]

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
            recommended_actions=actions or [],
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


@pytest.fixture
def remediation_aws(
    _moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[AwsWorld]:
    """A clean AWS endpoint for one test, with the finops data dir in ``tmp_path``."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    session.client("s3", endpoint_url=_moto_server, config=boto_config())  # warm botocore
    # No reset between tests: moto rebuilds its EC2 backend (slowly) after one; every test
    # creates its own resources and looks only at those.
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "finops"))
    monkeypatch.setenv("FINOPS_AWS__ACCOUNTS", f'["{MANAGEMENT}", "{MEMBER}"]')
    monkeypatch.setenv("FINOPS_AWS__REGIONS", f'["{REGION}"]')
    monkeypatch.setenv("FINOPS_REMEDIATION__APPROVAL_POLL_S", "1")
    yield AwsWorld(_moto_server)
