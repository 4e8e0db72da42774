"""The idle checks as pure rules over small literal records and metric frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tasks.aws.records import (
    Address,
    Bucket,
    Image,
    Instance,
    Inventory,
    LoadBalancer,
    MetricFrame,
    MetricSeries,
    MultipartUpload,
    Snapshot,
    Volume,
)
from tasks.findings.store import FindingsStore
from tasks.idle.checks import CHECKS, IAM_READ_PERMISSIONS
from tasks.idle.registry import CheckConfigError, RuleContext, resolve_params, run_check
from tasks.idle.rules_storage import unattached_key
from tasks.pricing.book import BundledPrices

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
ACCOUNT, REGION = "111111111111", "us-east-1"


def ctx(**kwargs: object) -> RuleContext:
    return RuleContext(ACCOUNT, REGION, NOW, BundledPrices(), **kwargs)  # type: ignore[arg-type]


def days(n: int) -> tuple[datetime, ...]:
    return tuple(NOW - timedelta(days=n - i) for i in range(n))


def daily(values: list[float]) -> MetricSeries:
    return MetricSeries(days(len(values)), tuple(values))


def instance(instance_id: str, tags: dict[str, str] | None = None, **kw: object) -> Instance:
    fields: dict[str, object] = {
        "instance_type": "m5.large",
        "state": "running",
        "launch_time": NOW - timedelta(days=100),
    }
    fields.update(kw)
    return Instance(ACCOUNT, REGION, instance_id, tags=tags or {}, **fields)  # type: ignore[arg-type]


def ec2_frame(instance_id: str, cpu: list[float], net_per_day: float) -> MetricFrame:
    half = [net_per_day / 2] * len(cpu)
    return {
        (instance_id, "cpu"): daily(cpu),
        (instance_id, "net_in"): daily(half),
        (instance_id, "net_out"): daily(half),
    }


def run(name: str, inventory: Inventory, metrics: MetricFrame | None = None, **overrides: object):
    check = CHECKS[name]
    params = check.validate(overrides)
    return run_check(check, inventory, metrics or {}, params, ctx())


def test_ec2_idle_trusted_advisor_rule_needs_four_low_days() -> None:
    inv = Inventory(ACCOUNT, REGION, instances=[instance("i-idle"), instance("i-three")])
    frame = ec2_frame("i-idle", [50.0] * 10 + [2.0] * 4, 1e6)
    frame |= ec2_frame("i-three", [50.0] * 11 + [2.0] * 3, 1e6)
    result = run("ec2-idle", inv, frame)
    assert [f.resource_id for f in result.findings] == ["i-idle"]
    finding = result.findings[0]
    assert finding.evidence["low_days"] == 4
    assert finding.evidence["datapoints_used"] == 14
    assert finding.evidence["thresholds"]["daily_avg_cpu_percent_at_most"] == 10.0
    # m5.large in us-east-1: 0.096 $/h x 730 h
    assert finding.monthly_savings_usd == Decimal("70.08")
    assert finding.recommended_actions == [
        "stop",
        "stop_with_image",
        "tag_for_later",
        "terminate",
        "skip",
    ]


def test_ec2_idle_heavy_network_is_not_idle() -> None:
    inv = Inventory(ACCOUNT, REGION, instances=[instance("i-proxy")])
    frame = ec2_frame("i-proxy", [1.0] * 14, 5e9)
    assert run("ec2-idle", inv, frame).findings == []


def test_ec2_idle_peak_mode_rejects_bursts_every_day() -> None:
    inv = Inventory(ACCOUNT, REGION, instances=[instance("i-bursty"), instance("i-idle")])
    frame = ec2_frame("i-bursty", [99.0] * 14, 1e6) | ec2_frame("i-idle", [3.0] * 14, 1e6)
    peak = run("ec2-idle", inv, frame, mode="peak")
    assert [f.resource_id for f in peak.findings] == ["i-idle"]
    assert peak.findings[0].evidence["statistics"]["CPUUtilization"] == "Maximum"


def test_ec2_idle_too_few_datapoints_is_skipped_with_reason() -> None:
    inv = Inventory(ACCOUNT, REGION, instances=[instance("i-new")])
    result = run("ec2-idle", inv, ec2_frame("i-new", [1.0, 1.0], 1e3))
    assert result.findings == []
    assert result.skipped[0].resource_id == "i-new"
    assert "too few datapoints: 2 day(s)" in result.skipped[0].reason


def test_exclusion_tag_is_never_reported_and_protected_only_offers_skip() -> None:
    inv = Inventory(
        ACCOUNT,
        REGION,
        instances=[
            instance("i-x", {"finops:exclude": "true"}),
            instance("i-p", {"finops:protected": "true", "owner": "alice"}),
        ],
    )
    frame = ec2_frame("i-x", [1.0] * 14, 1e3) | ec2_frame("i-p", [1.0] * 14, 1e3)
    findings = run("ec2-idle", inv, frame).findings
    assert [f.resource_id for f in findings] == ["i-p"]
    assert findings[0].recommended_actions == ["skip"]
    assert findings[0].owner == "alice"
    assert findings[0].evidence["protected"] is True


def test_unknown_price_is_none_and_said_so() -> None:
    inv = Inventory(ACCOUNT, REGION, instances=[instance("i-odd", instance_type="x9.mega")])
    finding = run("ec2-idle", inv, ec2_frame("i-odd", [1.0] * 14, 1e3)).findings[0]
    assert finding.monthly_savings_usd is None
    assert "price unknown" in finding.evidence["savings_note"]


def test_ec2_stopped_reads_the_stop_date_and_prices_the_volumes() -> None:
    old = instance(
        "i-old",
        state="stopped",
        state_transition_reason="User initiated (2026-01-01 10:00:00 GMT)",
        volume_ids=("vol-1",),
    )
    recent = instance(
        "i-recent",
        state="stopped",
        state_transition_reason="User initiated (2026-03-10 10:00:00 GMT)",
        volume_ids=("vol-2",),
    )
    undated = instance("i-undated", state="stopped", volume_ids=("vol-3",))
    volumes = [
        Volume(ACCOUNT, REGION, v, "gp3", 100, "in-use", NOW, attached_instance_ids=("i",))
        for v in ("vol-1", "vol-2", "vol-3")
    ]
    inv = Inventory(ACCOUNT, REGION, instances=[old, recent, undated], volumes=volumes)
    result = run("ec2-stopped", inv)
    assert [f.resource_id for f in result.findings] == ["i-old"]
    assert result.findings[0].monthly_savings_usd == Decimal("8.00")  # 100 GiB gp3 x $0.08
    assert [s.resource_id for s in result.skipped] == ["i-undated"]


def test_ebs_unattached_uses_first_sighting_else_create_time() -> None:
    created_long_ago = Volume(ACCOUNT, REGION, "vol-a", "gp3", 50, "available", NOW - timedelta(60))
    seen_yesterday = Volume(ACCOUNT, REGION, "vol-b", "gp3", 50, "available", NOW - timedelta(60))
    new = Volume(ACCOUNT, REGION, "vol-c", "gp3", 50, "available", NOW - timedelta(2))
    inv = Inventory(ACCOUNT, REGION, volumes=[created_long_ago, seen_yesterday, new])
    first_seen = {unattached_key(ACCOUNT, REGION, "vol-b"): NOW - timedelta(days=1)}
    check = CHECKS["ebs-unattached"]
    result = run_check(check, inv, {}, check.validate({}), ctx(first_seen=first_seen))
    assert [f.resource_id for f in result.findings] == ["vol-a"]
    evidence = result.findings[0].evidence
    assert evidence["age_basis"].startswith("create_time")
    assert result.findings[0].monthly_savings_usd == Decimal("4.00")
    assert result.findings[0].recommended_actions == [
        "snapshot_and_delete",
        "delete",
        "tag_for_later",
        "skip",
    ]


@pytest.mark.parametrize(("size", "flagged"), [(4, False), (100, True), (200, False), (1500, True)])
def test_ebs_gp2_prices_iops_and_throughput_gp3_must_provision(size: int, flagged: bool) -> None:
    volume = Volume(
        ACCOUNT, REGION, "vol-g", "gp2", size, "in-use", NOW, attached_instance_ids=("i",)
    )
    findings = run("ebs-gp2", Inventory(ACCOUNT, REGION, volumes=[volume])).findings
    assert bool(findings) is flagged
    if size == 1500:
        # gp2 $150.00; gp3 $120 + 1,500 IOPS x $0.005 + 125 MiB/s x $0.04 = $132.50
        assert findings[0].monthly_savings_usd == Decimal("17.50")
        assert findings[0].evidence["gp3"] == {
            "iops": 4500,
            "throughput_mibps": 250,
            "monthly_usd": "132.50",
        }


def test_ebs_idle_needs_datapoints_and_zero_ops() -> None:
    vols = [
        Volume(ACCOUNT, REGION, v, "gp3", 20, "in-use", NOW, attached_instance_ids=("i",))
        for v in ("vol-idle", "vol-busy", "vol-nodata")
    ]
    frame: MetricFrame = {
        ("vol-idle", "read_ops"): daily([0.0] * 7),
        ("vol-idle", "write_ops"): daily([0.0] * 7),
        ("vol-busy", "read_ops"): daily([5000.0] * 7),
    }
    result = run("ebs-idle", Inventory(ACCOUNT, REGION, volumes=vols), frame)
    assert [f.resource_id for f in result.findings] == ["vol-idle"]
    assert [s.resource_id for s in result.skipped] == ["vol-nodata"]


def test_snapshot_stale_spares_ami_snapshots_and_live_volumes() -> None:
    old = NOW - timedelta(days=200)
    snaps = [
        Snapshot(ACCOUNT, REGION, "snap-orphan", "vol-gone", 10, old),
        Snapshot(ACCOUNT, REGION, "snap-ami", "vol-gone2", 10, old),
        Snapshot(ACCOUNT, REGION, "snap-live", "vol-live", 10, old),
        Snapshot(ACCOUNT, REGION, "snap-young", "vol-gone3", 10, NOW - timedelta(days=10)),
    ]
    inv = Inventory(
        ACCOUNT,
        REGION,
        snapshots=snaps,
        volumes=[Volume(ACCOUNT, REGION, "vol-live", "gp3", 10, "in-use", old)],
        images=[Image(ACCOUNT, REGION, "ami-1", "available", ("snap-ami",))],
    )
    findings = run("snapshot-stale", inv).findings
    assert [f.resource_id for f in findings] == ["snap-orphan"]
    assert findings[0].monthly_savings_usd == Decimal("0.50")


def test_eip_elb_and_s3_rules() -> None:
    inv = Inventory(
        ACCOUNT,
        REGION,
        addresses=[
            Address(ACCOUNT, REGION, "eipalloc-1", "1.2.3.4"),
            Address(ACCOUNT, REGION, "eipalloc-2", "1.2.3.5", association_id="assoc"),
        ],
        load_balancers=[
            LoadBalancer(ACCOUNT, REGION, "quiet", "arn:q", "application", NOW - timedelta(90), 2),
            LoadBalancer(ACCOUNT, REGION, "busy", "arn:b", "application", NOW - timedelta(90), 2),
            LoadBalancer(ACCOUNT, REGION, "broken", "arn:x", "classic", NOW - timedelta(90), 0),
        ],
        buckets=[
            Bucket(
                ACCOUNT,
                REGION,
                "stale",
                False,
                (MultipartUpload("k", "u", NOW - timedelta(days=30), 2_000_000_000),),
            ),
            Bucket(
                ACCOUNT, REGION, "ruled", True, (MultipartUpload("k", "u", NOW - timedelta(30)),)
            ),
        ],
    )
    eip = run("eip-unassociated", inv).findings
    assert [f.resource_id for f in eip] == ["eipalloc-1"]
    assert eip[0].monthly_savings_usd == Decimal("3.65")
    frame: MetricFrame = {
        ("arn:b", "traffic"): daily([50_000.0] * 14),
        ("arn:x", "traffic"): daily([9e6] * 14),
    }
    assert sorted(f.resource_id for f in run("elb-idle", inv, frame).findings) == [
        "broken",
        "quiet",
    ]
    s3 = run("s3-stale-multipart", inv).findings
    assert [f.resource_id for f in s3] == ["stale"]
    assert s3[0].monthly_savings_usd == Decimal("0.05")  # 2 GB x $0.023


def test_parameters_are_validated_with_one_line_errors() -> None:
    with pytest.raises(CheckConfigError, match=r"ec2-idle.*days.*retention"):
        CHECKS["ec2-idle"].validate({"days": 900})
    with pytest.raises(CheckConfigError, match=r"ebs-unattached.*nope"):
        CHECKS["ebs-unattached"].validate({"nope": 1})
    with pytest.raises(CheckConfigError, match="unknown check"):
        resolve_params(list(CHECKS.values()), {"ec2-idel": {}})
    assert resolve_params([CHECKS["rds-idle"]], {"rds-idle": {"days": 7}})["rds-idle"].days == 7  # type: ignore[attr-defined]


def test_every_check_is_documented_with_a_menu_and_permissions() -> None:
    assert list(CHECKS) == [
        "ec2-idle", "ec2-stopped", "ebs-unattached", "ebs-gp2", "ebs-idle", "snapshot-stale",
        "eip-unassociated", "elb-idle", "nat-idle", "rds-idle", "s3-stale-multipart",
        "ec2-rightsize", "ebs-rightsize",
    ]  # fmt: skip
    for check in CHECKS.values():
        assert "Example" in check.doc and "Example" in (check.params_model.__doc__ or "")
        assert "skip" in check.actions
        assert check.permissions and set(check.permissions) <= IAM_READ_PERMISSIONS
        assert all(":" in p and "Delete" not in p for p in check.permissions)
    assert CHECKS["ebs-unattached"].actions == (
        "snapshot_and_delete",
        "delete",
        "tag_for_later",
        "skip",
    )


def test_first_sighting_of_an_unattached_volume_is_remembered(tmp_path: Path) -> None:
    store = FindingsStore(f"sqlite:///{tmp_path / 'findings.db'}")
    key = unattached_key(ACCOUNT, REGION, "vol-a")
    created = NOW - timedelta(days=40)
    assert store.observe([key], now=NOW, since={key: created}) == {key: created}
    later = NOW + timedelta(days=1)
    assert store.observe([key], now=later, since={key: later}) == {key: created}
    store.forget([key])  # attached again: the clock restarts
    assert store.observe([key], now=later) == {key: later}


def _classic_with_no_instances(name: str) -> dict[str, object]:
    """A Classic load balancer as DescribeLoadBalancers returns it, with nothing registered.

    The shape (keys, nesting, value types) is AWS's documented ``LoadBalancerDescriptions``
    entry; ../shared/data/aws-responses holds no Elastic Load Balancing recording to replay.
    """
    return {
        "LoadBalancerName": name,
        "DNSName": f"{name}-1234567890.{REGION}.elb.amazonaws.com",
        "CanonicalHostedZoneName": f"{name}-1234567890.{REGION}.elb.amazonaws.com",
        "CanonicalHostedZoneNameID": "Z35SXDOTRQ7X7K",
        "ListenerDescriptions": [
            {
                "Listener": {
                    "Protocol": "HTTP",
                    "LoadBalancerPort": 80,
                    "InstanceProtocol": "HTTP",
                    "InstancePort": 80,
                },
                "PolicyNames": [],
            }
        ],
        "Policies": {
            "AppCookieStickinessPolicies": [],
            "LBCookieStickinessPolicies": [],
            "OtherPolicies": [],
        },
        "BackendServerDescriptions": [],
        "AvailabilityZones": [f"{REGION}a", f"{REGION}b"],
        "Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
        "VPCId": "vpc-0c1d2e3f",
        "Instances": [],
        "HealthCheck": {
            "Target": "HTTP:80/",
            "Interval": 30,
            "Timeout": 5,
            "UnhealthyThreshold": 2,
            "HealthyThreshold": 10,
        },
        "SourceSecurityGroup": {"OwnerAlias": ACCOUNT, "GroupName": "default"},
        "SecurityGroups": ["sg-0a1b2c3d"],
        "CreatedTime": NOW - timedelta(days=200),
        "Scheme": "internet-facing",
    }


def test_a_classic_lb_with_no_instances_but_traffic_is_not_idle() -> None:
    """No registered instances is unknown target health, not zero: traffic alone decides."""
    import boto3
    from botocore.stub import Stubber

    from tasks.aws.elb import get_load_balancers, transform_load_balancers

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    elbv2, elb = session.client("elbv2"), session.client("elb")
    v2, classic = Stubber(elbv2), Stubber(elb)
    v2.add_response("describe_load_balancers", {"LoadBalancers": []})
    described = [_classic_with_no_instances("legacy-web"), _classic_with_no_instances("dead")]
    classic.add_response("describe_load_balancers", {"LoadBalancerDescriptions": described})
    classic.add_response(
        "describe_tags",
        {
            "TagDescriptions": [
                {
                    "LoadBalancerName": d["LoadBalancerName"],
                    "Tags": [{"Key": "team", "Value": "web"}],
                }
                for d in described
            ]
        },
    )
    classic.add_response("describe_instance_health", {"InstanceStates": []})
    classic.add_response("describe_instance_health", {"InstanceStates": []})
    with v2, classic:
        raw = get_load_balancers(elbv2, elb)
    records = transform_load_balancers(ACCOUNT, REGION, raw)
    assert [(r.name, r.healthy_targets, r.registered_targets) for r in records] == [
        ("legacy-web", None, 0),
        ("dead", None, 0),
    ]
    arn = {r.name: r.arn for r in records}
    frame: MetricFrame = {
        (arn["legacy-web"], "traffic"): daily([960.0] * 14),  # about 960 requests a day
        (arn["dead"], "traffic"): daily([0.0] * 14),
    }
    inv = Inventory(ACCOUNT, REGION, load_balancers=records)
    findings = run("elb-idle", inv, frame).findings
    assert [f.resource_id for f in findings] == ["dead"]  # idle by traffic, not by targets
    assert findings[0].evidence["healthy_targets"] is None
    assert findings[0].evidence["reasons"] == ["RequestCount 0.0/day"]
