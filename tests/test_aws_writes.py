"""AWS writes go through the service adapters' apply_* functions, and a dry run changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from tasks.aws import ec2 as ec2_adapter
from tasks.aws.common import apply

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ec2() -> Iterator[object]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=f"http://{host}:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    server.stop()


def _tags(ec2: object, resource_id: str) -> dict[str, str]:
    return ec2_adapter.resource_tags(ec2, resource_id)


def test_a_dry_run_is_proven_by_aws_and_changes_nothing(ec2: object) -> None:
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]  # type: ignore[attr-defined]
    written = ec2_adapter.apply_tag(ec2, volume, "finops:action-due", "delete@2027-01-01", True)
    assert written.dry_run and written.response is None
    assert written.operation == "create_tags" and written.request_id
    assert "finops:action-due" not in _tags(ec2, volume)

    written = ec2_adapter.apply_tag(ec2, volume, "finops:action-due", "delete@2027-01-01", False)
    assert not written.dry_run and written.request_id
    assert _tags(ec2, volume)["finops:action-due"] == "delete@2027-01-01"


def test_deleting_what_is_already_gone_is_no_write(ec2: object) -> None:
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]  # type: ignore[attr-defined]
    assert ec2_adapter.apply_delete_volume(ec2, volume, False) is not None
    assert ec2_adapter.apply_delete_volume(ec2, volume, False) is None
    assert ec2_adapter.describe_volume(ec2, volume) is None


def test_a_refused_dry_run_is_raised_not_taken_for_proof() -> None:
    client = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("stop_instances", "UnauthorizedOperation", http_status_code=403)
        with pytest.raises(ClientError, match="UnauthorizedOperation"):
            apply(client, "stop_instances", dry_run=True, InstanceIds=["i-0123456789abcdef0"])


#: A boto3 call that changes something: the verbs of every write the actions make.
_WRITE_CALL = re.compile(
    r"\.(create|delete|put|stop|start|terminate|modify|release|add|remove)_[a-z_]+\("
)


def test_remediation_writes_only_through_the_service_adapters() -> None:
    offenders = []
    for path in sorted((ROOT / "tasks" / "remediation").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in _WRITE_CALL.finditer(line):
                before = line[: match.start()]
                if before.endswith("_adapter") or "create_model" in match.group(0):
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    # the audit trail's own S3 object is its storage, not a change to a resource
    assert [o for o in offenders if "audit.py" not in o] == []
