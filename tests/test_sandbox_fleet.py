"""The sandbox fleet's ground truth agrees with what the sandbox serves.

Every verdict of the ground truth is recomputed here from the served data only (describe calls
and CloudWatch GetMetricData through plain boto3, as a scanner would see them) with a small,
independent implementation of the documented rules, and must agree.  The same seed must give the
same organisation, ids and verdicts; ages (snapshot StartTime, volume CreateTime, stop dates,
upload initiation) must be real; and the served shapes must carry the keys real AWS responses
carry (``../shared/data/aws-responses``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.context import SandboxSize, SeedContext
from sandbox.fleet import seed_fleet
from sandbox.fleet_profiles import allocate, gp2_vs_gp3_monthly, hourly_grid
from tests.plugins.sandbox import TEST_SEED, TEST_SIZE, SandboxHandle

RESPONSES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "aws-responses"
DAY = timedelta(days=1)
WINDOW_DAYS = 14
EXCLUDE = ("finops:exclude", "true")

# --------------------------------------------------------------------------------------------
# An independent reading of the rules (docs/sandbox.md), over served data only
# --------------------------------------------------------------------------------------------

Key = tuple[str, str, str, str]  # account, region, resource type, resource id


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _gp3_strictly_cheaper(size_gib: int) -> bool:
    """gp2 list price against gp3 provisioned to gp2's own IOPS and throughput ceilings."""
    iops = min(16_000, max(100, 3 * size_gib))
    if size_gib < 1000:
        iops = max(iops, 3000)  # gp2 bursts to 3,000 IOPS below 1 TiB
    mibps = 128 if size_gib <= 170 else 250
    gp2 = 0.10 * size_gib
    gp3 = 0.08 * size_gib + 0.005 * max(0, iops - 3000) + 0.04 * max(0, mibps - 125)
    return gp3 < gp2 - 1e-9


@dataclass
class Metrics:
    """GetMetricData over the window, 500 queries a call, as the scanners read it."""

    cloudwatch: Any
    end: datetime
    queries: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, qid: str, namespace: str, metric: str, dims: dict[str, str], stat: str, period: int
    ) -> None:
        self.queries.append(
            {
                "Id": qid,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
        )

    def run(self) -> dict[str, dict[datetime, float]]:
        out: dict[str, dict[datetime, float]] = {}
        start = self.end - timedelta(days=WINDOW_DAYS)
        for i in range(0, len(self.queries), 500):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": self.queries[i : i + 500],
                "StartTime": start,
                "EndTime": self.end,
            }
            while True:
                page = self.cloudwatch.get_metric_data(**kwargs)
                for result in page["MetricDataResults"]:
                    series = out.setdefault(result["Id"], {})
                    series.update(zip(result["Timestamps"], result["Values"], strict=True))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        return out


def _qid(prefix: str, n: int) -> str:
    return f"{prefix}{n}"


def observe_region(
    box: SandboxHandle, account: str, region: str, end: datetime
) -> dict[Key, dict[str, Any]]:
    """Verdicts of every check for every resource one account x region serves."""
    now = datetime.now(UTC)
    ec2 = box.client("ec2", account, region)
    seen: dict[Key, dict[str, Any]] = {}
    metrics = Metrics(box.client("cloudwatch", account, region), end)

    def put(
        kind: str, rid: str, tags: dict[str, str], verdicts: dict[str, bool], **facts: Any
    ) -> None:
        excluded = tags.get(EXCLUDE[0]) == EXCLUDE[1]
        seen[(account, region, kind, rid)] = {
            "tags": tags,
            "expected": {k: v and not excluded for k, v in verdicts.items()},
            **facts,
        }

    # EC2 instances: Trusted Advisor's rule and the peak rule over daily buckets
    instances = [
        i
        for page in ec2.get_paginator("describe_instances").paginate()
        for r in page["Reservations"]
        for i in r["Instances"]
    ]
    for n, inst in enumerate(instances):
        dims = {"InstanceId": inst["InstanceId"]}
        metrics.add(_qid("cpuavg", n), "AWS/EC2", "CPUUtilization", dims, "Average", 86400)
        metrics.add(_qid("cpumax", n), "AWS/EC2", "CPUUtilization", dims, "Maximum", 86400)
        metrics.add(_qid("netin", n), "AWS/EC2", "NetworkIn", dims, "Sum", 86400)
        metrics.add(_qid("netout", n), "AWS/EC2", "NetworkOut", dims, "Sum", 86400)
    volumes = [
        v for page in ec2.get_paginator("describe_volumes").paginate() for v in page["Volumes"]
    ]
    for n, vol in enumerate(volumes):
        dims = {"VolumeId": vol["VolumeId"]}
        metrics.add(_qid("reads", n), "AWS/EBS", "VolumeReadOps", dims, "Sum", WINDOW_DAYS * 86400)
        metrics.add(
            _qid("writes", n), "AWS/EBS", "VolumeWriteOps", dims, "Sum", WINDOW_DAYS * 86400
        )
    elbv2 = box.client("elbv2", account, region)
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    for n, lb in enumerate(balancers):
        dims = {"LoadBalancer": lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
        ns = "AWS/ApplicationELB" if lb["Type"] == "application" else "AWS/NetworkELB"
        metrics.add(_qid("lbbytes", n), ns, "ProcessedBytes", dims, "Sum", WINDOW_DAYS * 86400)
        if lb["Type"] == "application":
            metrics.add(_qid("lbreq", n), ns, "RequestCount", dims, "Sum", WINDOW_DAYS * 86400)
    elb = box.client("elb", account, region)
    classics = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    for n, lb in enumerate(classics):
        dims = {"LoadBalancerName": lb["LoadBalancerName"]}
        metrics.add(_qid("clbreq", n), "AWS/ELB", "RequestCount", dims, "Sum", WINDOW_DAYS * 86400)
    nats = [g for g in ec2.describe_nat_gateways()["NatGateways"] if g["State"] != "deleted"]
    for n, nat in enumerate(nats):
        dims = {"NatGatewayId": nat["NatGatewayId"]}
        metrics.add(
            _qid("nat", n),
            "AWS/NATGateway",
            "BytesOutToDestination",
            dims,
            "Sum",
            WINDOW_DAYS * 86400,
        )
    databases = box.client("rds", account, region).describe_db_instances()["DBInstances"]
    for n, db in enumerate(databases):
        dims = {"DBInstanceIdentifier": db["DBInstanceIdentifier"]}
        metrics.add(
            _qid("db", n), "AWS/RDS", "DatabaseConnections", dims, "Maximum", WINDOW_DAYS * 86400
        )
    data = metrics.run()

    for n, inst in enumerate(instances):
        cpu_avg, cpu_max = data[_qid("cpuavg", n)], data[_qid("cpumax", n)]
        net = {
            day: data[_qid("netin", n)].get(day, 0.0) + data[_qid("netout", n)].get(day, 0.0)
            for day in cpu_avg
        }
        quiet_days = [d for d in cpu_avg if cpu_avg[d] <= 10 and net[d] <= 5e6]
        ta_idle = len(cpu_avg) >= 4 and len(quiet_days) >= 4
        peak_idle = len(cpu_max) == WINDOW_DAYS and all(
            cpu_max[d] < 20 and net[d] < 5e6 for d in cpu_max
        )
        stopped_days = 0.0
        if inst["State"]["Name"] == "stopped":
            found = re.search(
                r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) GMT\)", inst["StateTransitionReason"]
            )
            assert found, inst["StateTransitionReason"]
            stopped = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            stopped_days = (now - stopped) / DAY
        put(
            "ec2-instance",
            inst["InstanceId"],
            _tags(inst.get("Tags")),
            {"ec2-idle": ta_idle, "ec2-idle:peak": peak_idle, "ec2-stopped": stopped_days > 30},
        )

    for n, vol in enumerate(volumes):
        reads, writes = data[_qid("reads", n)], data[_qid("writes", n)]
        attached = vol["State"] == "in-use"
        age_days = (now - vol["CreateTime"]) / DAY
        put(
            "ebs-volume",
            vol["VolumeId"],
            _tags(vol.get("Tags")),
            {
                "ebs-unattached": not attached and age_days >= 7,
                "ebs-gp2": vol["VolumeType"] == "gp2" and _gp3_strictly_cheaper(vol["Size"]),
                # no datapoints (a stopped instance's volume) is not evidence of idleness
                "ebs-idle": attached
                and bool(reads)
                and sum(reads.values()) + sum(writes.values()) == 0,
            },
        )

    volume_ids = {v["VolumeId"] for v in volumes}
    images = ec2.describe_images(Owners=["self"])["Images"]
    used = {
        m["Ebs"]["SnapshotId"]
        for i in images
        for m in i.get("BlockDeviceMappings", [])
        if "Ebs" in m
    }
    for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
        for snap in page["Snapshots"]:
            age_days = (now - snap["StartTime"]) / DAY
            put(
                "ebs-snapshot",
                snap["SnapshotId"],
                _tags(snap.get("Tags")),
                {
                    "snapshot-stale": age_days > 90
                    and snap["VolumeId"] not in volume_ids
                    and snap["SnapshotId"] not in used
                },
            )

    for address in ec2.describe_addresses()["Addresses"]:
        put(
            "elastic-ip",
            address["AllocationId"],
            _tags(address.get("Tags")),
            {"eip-unassociated": not address.get("AssociationId")},
        )

    for n, lb in enumerate(balancers):
        healthy = 0
        for group in elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])[
            "TargetGroups"
        ]:
            health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            healthy += sum(
                d["TargetHealth"]["State"] == "healthy" for d in health["TargetHealthDescriptions"]
            )
        traffic = sum(data[_qid("lbbytes", n)].values()) + sum(
            data.get(_qid("lbreq", n), {}).values()
        )
        put("load-balancer", lb["LoadBalancerName"], {}, {"elb-idle": traffic == 0 or healthy == 0})
    for n, lb in enumerate(classics):
        states = elb.describe_instance_health(LoadBalancerName=lb["LoadBalancerName"])
        healthy = sum(s["State"] == "InService" for s in states["InstanceStates"])
        traffic = sum(data[_qid("clbreq", n)].values())
        put("load-balancer", lb["LoadBalancerName"], {}, {"elb-idle": traffic == 0 or healthy == 0})

    for n, nat in enumerate(nats):
        put(
            "nat-gateway",
            nat["NatGatewayId"],
            _tags(nat.get("Tags")),
            {"nat-idle": sum(data[_qid("nat", n)].values()) == 0},
        )
    for n, db in enumerate(databases):
        put(
            "rds-instance",
            db["DBInstanceIdentifier"],
            {},
            {"rds-idle": max(data[_qid("db", n)].values(), default=0.0) == 0},
        )

    s3 = box.client("s3", account, region)
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        location = s3.get_bucket_location(Bucket=name)["LocationConstraint"] or "us-east-1"
        if location != region or not name.startswith("finops-") or name == "finops-sandbox-cur":
            continue  # the cost export bucket belongs to the costs side of the sandbox
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        except ClientError:
            rules = []
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except ClientError:
            tags = {}
        abort = any(
            "AbortIncompleteMultipartUpload" in r and r["Status"] == "Enabled" for r in rules
        )
        uploads = s3.list_multipart_uploads(Bucket=name).get("Uploads", [])
        stale = any((now - u["Initiated"]) / DAY > 7 for u in uploads)
        put("s3-bucket", name, tags, {"s3-stale-multipart": stale and not abort})
    return seen


def truth_by_key(box: SandboxHandle) -> dict[Key, dict[str, Any]]:
    return {
        (r["account_id"], r["region"], r["resource_type"], r["resource_id"]): r
        for r in box.ground_truth["resources"]
    }


@pytest.fixture(scope="module")
def observed(sandbox: SandboxHandle) -> dict[Key, dict[str, Any]]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    seen: dict[Key, dict[str, Any]] = {}
    for account in sandbox.accounts:
        for region in sandbox.regions:
            seen.update(observe_region(sandbox, account, region, end))
    return seen


# --------------------------------------------------------------------------------------------
# The ground truth agrees with the served data
# --------------------------------------------------------------------------------------------


def test_every_served_resource_is_in_the_ground_truth_and_back(
    sandbox: SandboxHandle, observed: dict[Key, dict[str, Any]]
) -> None:
    truth = truth_by_key(sandbox)
    assert set(observed) == set(truth)


def test_every_verdict_recomputed_from_served_data_agrees(
    sandbox: SandboxHandle, observed: dict[Key, dict[str, Any]]
) -> None:
    truth = truth_by_key(sandbox)
    disagreements = {
        key: (truth[key]["profile"], truth[key]["expected"], seen["expected"])
        for key, seen in observed.items()
        if key in truth and truth[key]["expected"] != seen["expected"]
    }
    assert disagreements == {}


def test_served_tags_are_the_ground_truth_tags(
    sandbox: SandboxHandle, observed: dict[Key, dict[str, Any]]
) -> None:
    truth = truth_by_key(sandbox)
    tagged = (
        "ec2-instance",
        "ebs-volume",
        "ebs-snapshot",
        "elastic-ip",
        "s3-bucket",
        "nat-gateway",
    )
    for key, seen in observed.items():
        if key[2] in tagged:
            assert seen["tags"] == truth[key]["tags"], key


def test_every_check_has_positives_and_negatives_in_every_account_region(
    sandbox: SandboxHandle,
) -> None:
    checks = [
        "ec2-idle", "ec2-idle:peak", "ec2-stopped", "ebs-unattached", "ebs-gp2", "ebs-idle",
        "snapshot-stale", "eip-unassociated", "elb-idle", "nat-idle", "rds-idle",
        "s3-stale-multipart",
    ]  # fmt: skip
    for account in sandbox.accounts:
        for region in sandbox.regions:
            records = [
                r for r in sandbox.ground_truth["resources"]
                if r["account_id"] == account and r["region"] == region
            ]  # fmt: skip
            for check in checks:
                verdicts = [r["expected"][check] for r in records if check in r["expected"]]
                assert True in verdicts and False in verdicts, (account, region, check)


def test_traps_are_seeded_with_the_documented_verdicts(sandbox: SandboxHandle) -> None:
    by_profile: dict[str, list[dict[str, Any]]] = {}
    for record in sandbox.ground_truth["resources"]:
        by_profile.setdefault(record["profile"], []).append(record)
    for record in by_profile["bursty"]:  # idle on average, not at peak
        assert record["expected"] == {
            "ec2-idle": True,
            "ec2-idle:peak": False,
            "ec2-stopped": False,
        }
    for name in ("proxy", "few-datapoints", "excluded-idle", "stopped-recent"):
        for record in by_profile[name]:
            assert not any(record["expected"].values()), record
    for record in by_profile["protected-idle"]:
        assert record["protected"] and record["expected"]["ec2-idle"]
    for record in by_profile["gp2-200-gp3-not-cheaper"]:
        assert record["expected"]["ebs-gp2"] is False
        assert record["facts"]["gp2_monthly_usd"] == "20.00"
        assert record["facts"]["gp3_equivalent_monthly_usd"] == "21.00"
    for record in by_profile["gp2-1500"]:  # > 1 TB: gp3 needs 1,500 provisioned IOPS
        assert record["expected"]["ebs-gp2"] is True
    for record in by_profile["old-ami"]:
        assert record["expected"] == {"snapshot-stale": False} and record["facts"]["used_by_images"]
    for record in sandbox.ground_truth["resources"]:
        if record["excluded"]:
            assert not any(record["expected"].values()), record
    valid_until = datetime.fromisoformat(sandbox.ground_truth["fleet_valid_until"])
    assert valid_until > datetime.now(UTC)
    owners = {r["tags"].get("owner") for r in sandbox.ground_truth["resources"]}
    assert len(owners - {None}) >= 3


# --------------------------------------------------------------------------------------------
# Ages are real
# --------------------------------------------------------------------------------------------


def _near(moment: datetime, days_ago: float, now: datetime) -> bool:
    """Within a day of ``days_ago`` days before now (the sandbox may have run for a while)."""
    return abs((now - moment) / DAY - days_ago) <= 1.0


def test_ages_are_backdated_in_what_the_sandbox_serves(sandbox: SandboxHandle) -> None:
    now = datetime.now(UTC)
    truth = sandbox.ground_truth["resources"]
    account, region = sandbox.accounts[1], sandbox.regions[1]
    ec2 = sandbox.client("ec2", account, region)
    mine = {
        r["resource_id"]: r for r in truth if (r["account_id"], r["region"]) == (account, region)
    }

    snapshots = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    ages = {
        "recent": 3,
        "old-volume-exists": 150,
        "old-orphan": 200,
        "recent-orphan": 10,
        "old-ami": 200,
    }
    for snap in snapshots:
        profile = mine[snap["SnapshotId"]]["profile"]
        if profile in ages:
            assert _near(snap["StartTime"], ages[profile], now), (profile, snap["StartTime"])

    for vol in ec2.describe_volumes()["Volumes"]:
        profile = mine[vol["VolumeId"]]["profile"]
        expected_age = {"unattached-old": 60, "unattached-recent": 2, "root-of-few-datapoints": 2}
        if profile in expected_age:
            assert _near(vol["CreateTime"], expected_age[profile], now), (
                profile,
                vol["CreateTime"],
            )

    reservations = ec2.describe_instances()["Reservations"]
    for inst in (i for r in reservations for i in r["Instances"]):
        profile = mine[inst["InstanceId"]]["profile"]
        if profile.startswith("stopped-"):
            assert inst["State"]["Name"] == "stopped"
            found = re.fullmatch(r"User initiated \((.+) GMT\)", inst["StateTransitionReason"])
            assert found, inst["StateTransitionReason"]
            stopped = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            assert _near(stopped, 60 if profile == "stopped-long" else 5, now)
        if profile == "few-datapoints":
            assert _near(inst["LaunchTime"], 2, now)
        else:
            assert (now - inst["LaunchTime"]) / DAY > WINDOW_DAYS

    s3 = sandbox.client("s3", account, region)
    stale = f"finops-{account}-{region}-stale-uploads"
    uploads = s3.list_multipart_uploads(Bucket=stale)["Uploads"]
    assert uploads and all(_near(u["Initiated"], 30, now) for u in uploads)
    db = sandbox.client("rds", account, region).describe_db_instances()["DBInstances"][0]
    assert (now - db["InstanceCreateTime"]) / DAY > WINDOW_DAYS
    for lb in sandbox.client("elbv2", account, region).describe_load_balancers()["LoadBalancers"]:
        assert (now - lb["CreatedTime"]) / DAY > WINDOW_DAYS


def test_metric_history_ends_at_the_present(sandbox: SandboxHandle) -> None:
    account, region = sandbox.accounts[0], sandbox.regions[0]
    busy = next(
        r for r in sandbox.ground_truth["resources"]
        if (r["account_id"], r["region"], r["profile"]) == (account, region, "busy")
    )  # fmt: skip
    now = datetime.now(UTC)
    points = sandbox.client("cloudwatch", account, region).get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": busy["resource_id"]}],
        StartTime=now - timedelta(days=30),
        EndTime=now + timedelta(hours=1),
        Period=3600,
        Statistics=["Average"],
    )["Datapoints"]
    stamps = sorted(p["Timestamp"] for p in points)
    assert len(stamps) == TEST_SIZE.days * 24
    assert now - stamps[-1] <= timedelta(hours=2)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(stamps))


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


def _identity(truth: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (r["account_id"], r["region"], r["resource_type"], r["resource_id"], r["profile"],
         json.dumps(r["tags"], sort_keys=True), json.dumps(r["expected"], sort_keys=True))
        for r in truth["resources"]
    ]  # fmt: skip


def test_same_seed_gives_the_same_organisation_ids_and_verdicts(
    sandbox: SandboxHandle, fresh_sandbox: Callable[..., SandboxHandle]
) -> None:
    again = fresh_sandbox(seed=TEST_SEED, cost_days=90)
    assert again.accounts == sandbox.accounts
    assert _identity(again.ground_truth) == _identity(sandbox.ground_truth)
    account, region = sandbox.accounts[2], sandbox.regions[0]
    first = sandbox.client("ec2", account, region).describe_volumes()["Volumes"]
    second = again.client("ec2", account, region).describe_volumes()["Volumes"]
    assert [(v["VolumeId"], v["Size"], v["State"]) for v in first] == [
        (v["VolumeId"], v["Size"], v["State"]) for v in second
    ]
    # another seed: other accounts and other ids (one small region is enough to show it)
    other = fresh_sandbox(
        seed=TEST_SEED + 1,
        accounts=2,
        regions=("us-east-1",),
        instances=9,
        volumes=10,
        cost_days=90,
    )
    assert other.accounts[1:] != sandbox.accounts[1:]
    ids = {
        r["resource_id"]
        for r in sandbox.ground_truth["resources"]
        if r["resource_type"] == "ec2-instance"
    }
    assert ids.isdisjoint(r["resource_id"] for r in other.ground_truth["resources"])


# --------------------------------------------------------------------------------------------
# Served shapes carry the keys real AWS responses carry
# --------------------------------------------------------------------------------------------

# keys a recording carries because of how that account was set up, not because AWS always sends
# them; PublicDnsName is "" on a stopped instance in AWS and left out by moto
_SITUATIONAL = {
    "KeyName",
    "Tags",
    "PublicIpAddress",
    "PublicDnsName",
    "KmsKeyId",
    "StorageTier",
    "Description",
}


def _recorded_items(operation: str, collection: str) -> Iterator[dict[str, Any]]:
    for path in sorted(RESPONSES.glob(f"*/ec2.{operation}_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        for item in data.get(collection, []):
            if collection == "Reservations":
                yield from item["Instances"]
            else:
                yield item


@pytest.mark.parametrize(
    ("operation", "collection", "call"),
    [
        ("DescribeInstances", "Reservations", "describe_instances"),
        ("DescribeVolumes", "Volumes", "describe_volumes"),
        ("DescribeSnapshots", "Snapshots", "describe_snapshots"),
        ("DescribeImages", "Images", "describe_images"),
    ],
)
def test_served_shapes_have_the_keys_of_recorded_aws_responses(
    sandbox: SandboxHandle, operation: str, collection: str, call: str
) -> None:
    recorded = list(_recorded_items(operation, collection))
    assert recorded, f"no recordings of {operation} under {RESPONSES}"
    always = set.intersection(*(set(item) for item in recorded)) - _SITUATIONAL
    ec2 = sandbox.client("ec2", sandbox.accounts[1], sandbox.regions[0])
    kwargs = {"OwnerIds": ["self"]} if call == "describe_snapshots" else {}
    if call == "describe_images":
        kwargs = {"Owners": ["self"]}
    reply = getattr(ec2, call)(**kwargs)
    served = (
        [i for r in reply["Reservations"] for i in r["Instances"]]
        if collection == "Reservations"
        else reply[collection]
    )
    assert served
    for item in served:
        missing = always - set(item)
        assert not missing, (operation, item.get("InstanceId") or item, missing)
        for key in always:
            assert type(item[key]) is type(recorded[0][key]) or key.endswith("Time"), key


def test_served_cpu_statistics_have_the_keys_of_recorded_aws_responses(
    sandbox: SandboxHandle,
) -> None:
    recorded = [
        point
        for path in sorted(RESPONSES.glob("*/monitoring.GetMetricStatistics_*.json"))
        for point in json.loads(path.read_text(encoding="utf-8"))["data"]["Datapoints"]
    ]
    assert recorded
    account, region = sandbox.accounts[1], sandbox.regions[1]
    idle = next(
        r for r in sandbox.ground_truth["resources"]
        if (r["account_id"], r["region"], r["profile"]) == (account, region, "idle")
    )  # fmt: skip
    now = datetime.now(UTC)
    served = sandbox.client("cloudwatch", account, region).get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": idle["resource_id"]}],
        StartTime=now - timedelta(days=4),
        EndTime=now,
        Period=86400,
        Statistics=["Average"],
    )["Datapoints"]
    assert served
    for point in served:
        assert set(recorded[0]) <= set(point)
        assert point["Unit"] == "Percent" and 0 < point["Average"] <= 3.0


# --------------------------------------------------------------------------------------------
# Pure parts
# --------------------------------------------------------------------------------------------


def test_allocation_gives_one_of_each_then_follows_weights() -> None:
    counts = allocate(1000, ["a", "b", "c"], [0.7, 0.2, 0.1])
    assert sum(counts.values()) == 1000 and counts["a"] > counts["b"] > counts["c"] >= 1
    assert allocate(2, ["a", "b", "c"], [1, 1, 1]) == {"a": 1, "b": 1, "c": 0}
    with pytest.raises(ValueError, match="total must be >= 0"):
        allocate(-1, ["a"], [1.0])


def test_gp2_gp3_arithmetic_matches_list_prices() -> None:
    assert [str(x) for x in gp2_vs_gp3_monthly(1500)] == ["150.00", "132.500"]
    for size in (1, 4, 6, 7, 100, 170, 171, 200, 250, 251, 334, 999, 1000, 5334, 16384):
        gp2, gp3 = gp2_vs_gp3_monthly(size)
        assert (gp3 < gp2) == _gp3_strictly_cheaper(size), size


def test_a_window_shorter_than_the_checks_is_refused_before_seeding() -> None:
    ctx = SeedContext(
        "http://127.0.0.1:9", 1, datetime(2026, 1, 1, tzinfo=UTC), SandboxSize(days=7)
    )
    with pytest.raises(ValueError, match=r"at least 14 days of metrics.*--days 14"):
        seed_fleet(ctx, ["123456789012"])


def test_metric_window_ends_at_the_seeding_hour() -> None:
    now = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())
    grid = hourly_grid(now, 14)
    assert grid.size == 14 * 24 and grid[-1] == now - 3600 and grid[0] == now - 14 * 86400
