"""Describe adapters parse real AWS responses (Cloud Custodian's recordings, served by Stubber)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tasks.idle import aws
from tasks.idle.rules_compute import stopped_since

RESPONSES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "aws-responses"
ACCOUNT, REGION = "644160558196", "us-west-2"


def _decode(obj: dict[str, Any]) -> Any:
    if obj.get("__class__") == "datetime":
        return datetime(
            obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"], obj["second"],
            obj["microsecond"],
        )  # fmt: skip
    return obj


def recorded(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(), object_hook=_decode)["data"]
    data.pop("ResponseMetadata", None)
    return dict(data)


def files(operation: str) -> list[Path]:
    found = sorted(
        p for p in RESPONSES.glob(f"*/ec2.{operation}_*.json") if "Error" not in recorded(p)
    )
    assert found, f"no recorded {operation} responses under {RESPONSES}"
    return found


def stubbed(path: Path, operation: str) -> tuple[Any, Stubber]:
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    stubber.add_response(operation, recorded(path))
    stubber.activate()
    return ec2, stubber


@pytest.mark.parametrize("path", files("DescribeInstances"), ids=lambda p: p.parent.name)
def test_recorded_instances_parse(path: Path) -> None:
    ec2, stubber = stubbed(path, "describe_instances")
    instances = aws.transform_instances(ACCOUNT, REGION, aws.get_instances(ec2))
    stubber.assert_no_pending_responses()
    raw = [i for r in recorded(path)["Reservations"] for i in r["Instances"]]
    assert [i.instance_id for i in instances] == [i["InstanceId"] for i in raw]
    for record in instances:
        assert record.instance_id.startswith("i-") and record.instance_type
        assert record.launch_time is not None and record.launch_time.tzinfo is UTC
        assert record.arn == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{record.instance_id}"
        assert all(v.startswith("vol-") for v in record.volume_ids)
        if record.state == "stopped":
            assert stopped_since(record) is None or stopped_since(record).tzinfo is UTC  # type: ignore[union-attr]


@pytest.mark.parametrize("path", files("DescribeVolumes"), ids=lambda p: p.parent.name + p.stem)
def test_recorded_volumes_parse(path: Path) -> None:
    ec2, _ = stubbed(path, "describe_volumes")
    volumes = aws.transform_volumes(ACCOUNT, REGION, aws.get_volumes(ec2))
    raw = recorded(path)["Volumes"]
    assert len(volumes) == len(raw)
    for record, item in zip(volumes, raw, strict=True):
        assert record.volume_id == item["VolumeId"] and record.size_gib == item["Size"]
        assert record.create_time is not None and record.create_time.tzinfo is UTC
        assert record.attached == bool(item.get("Attachments"))
        assert record.state in {"in-use", "available", "creating", "deleting"}
        assert dict(record.tags) == {t["Key"]: t["Value"] for t in item.get("Tags", [])}


@pytest.mark.parametrize("path", files("DescribeSnapshots"), ids=lambda p: p.parent.name + p.stem)
def test_recorded_snapshots_parse(path: Path) -> None:
    ec2, _ = stubbed(path, "describe_snapshots")
    snapshots = aws.transform_snapshots(ACCOUNT, REGION, aws.get_snapshots(ec2, ACCOUNT))
    raw = recorded(path)["Snapshots"]
    assert [s.snapshot_id for s in snapshots] == [s["SnapshotId"] for s in raw]
    assert all(s.start_time is not None and s.start_time.tzinfo is UTC for s in snapshots)
    assert all(s.volume_size_gib == r["VolumeSize"] for s, r in zip(snapshots, raw, strict=True))


@pytest.mark.parametrize("path", files("DescribeImages"), ids=lambda p: p.stem)
def test_recorded_images_parse(path: Path) -> None:
    ec2, _ = stubbed(path, "describe_images")
    images = aws.transform_images(ACCOUNT, REGION, aws.get_images(ec2))
    raw = recorded(path)["Images"]
    assert [i.image_id for i in images] == [i["ImageId"] for i in raw]
    expected = [
        tuple(m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m)
        for i in raw
    ]
    assert [i.snapshot_ids for i in images] == expected
    assert all(s.startswith("snap-") for i in images for s in i.snapshot_ids)


def test_describe_errors_surface_as_client_errors() -> None:
    """A recorded error response is raised, never turned into an empty inventory."""
    from botocore.exceptions import ClientError

    path = RESPONSES / "test_ebs_force_delete" / "ec2.DescribeVolumes_3.json"
    error = json.loads(path.read_text())["data"]["Error"]
    ec2 = boto3.client("ec2", region_name=REGION)
    with Stubber(ec2) as stubber:
        stubber.add_client_error("describe_volumes", error["Code"], error["Message"])
        with pytest.raises(ClientError, match=r"InvalidVolume\.NotFound"):
            aws.get_volumes(ec2)


def test_lifecycle_rule_detection() -> None:
    abort = {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}
    assert aws.aborts_incomplete_uploads([{"Status": "Enabled", "Filter": {}, **abort}])
    assert aws.aborts_incomplete_uploads([{"Status": "Enabled", "Prefix": "", **abort}])
    assert not aws.aborts_incomplete_uploads([{"Status": "Disabled", "Filter": {}, **abort}])
    assert not aws.aborts_incomplete_uploads(
        [{"Status": "Enabled", "Filter": {"Prefix": "logs/"}, **abort}]
    )
    assert not aws.aborts_incomplete_uploads([{"Status": "Enabled", "Filter": {}}])
