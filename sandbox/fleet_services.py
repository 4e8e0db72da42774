"""Seed the network and data services of one account x region: load balancers, NAT, RDS, S3.

Each kind comes in a busy and an idle profile (exactly zero traffic or connections over the
window, so any small threshold separates them); load balancers add one with no healthy targets
(traffic, but no target to serve it) and S3 buckets cover the stale-multipart cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox import fleet_moto
from sandbox.fleet_profiles import EXCLUDE_TAG, MULTIPART_MIN_AGE_DAYS
from sandbox.fleet_region import RegionSeed, iso, tag_list

SERVICE_AGE_DAYS = 120  # load balancers, NAT gateways and databases predate the metric window

# (name, kind, traffic, registers targets)
LOAD_BALANCERS: tuple[tuple[str, str, str, bool], ...] = (
    ("alb-busy", "application", "busy", True),
    ("alb-idle", "application", "idle", True),
    ("alb-no-healthy-targets", "application", "trickle", False),
    ("nlb-busy", "network", "busy", True),
    ("nlb-idle", "network", "idle", True),
    ("clb-busy", "classic", "busy", True),
    ("clb-idle", "classic", "idle", True),
)

# (profile, upload age in days or None, abort-incomplete-multipart lifecycle rule, tags)
BUCKETS: tuple[tuple[str, int | None, bool, tuple[tuple[str, str], ...]], ...] = (
    ("no-uploads", None, False, ()),
    ("stale-uploads", 30, False, ()),
    ("stale-uploads-abort-rule", 30, True, ()),
    ("recent-uploads", 2, False, ()),
    ("excluded-stale-uploads", 30, False, (EXCLUDE_TAG,)),
)


def _traffic(kind: str, rng: np.random.Generator, size: int, low: float, high: float) -> np.ndarray:
    if kind == "idle":
        return np.zeros(size)
    if kind == "trickle":  # clients still call a balancer that has nothing behind it
        return np.floor(rng.uniform(20, 80, size))
    return np.floor(rng.uniform(low, high, size))


def seed_load_balancers(seed: RegionSeed) -> None:
    """ALB, NLB and Classic load balancers with RequestCount / ProcessedBytes histories."""
    elbv2 = seed.client("elbv2")
    elb = seed.client("elb")
    ts = seed.grid()
    rng = seed.rng("load-balancers")
    subnet_ids = [s for s, _ in seed.subnets[:2]]
    zones = [z for _, z in seed.subnets[:2]]
    busy_targets = [i for i, _ in seed.running_targets[:2]]
    for name, kind, traffic, with_targets in LOAD_BALANCERS:
        targets = busy_targets if with_targets else []
        requests = _traffic(traffic, rng, ts.size, 500, 5_000)
        processed = requests * np.floor(rng.uniform(2_000, 20_000, ts.size))
        if kind == "classic":
            elb.create_load_balancer(
                LoadBalancerName=name,
                Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
                AvailabilityZones=zones,
            )
            if targets:
                elb.register_instances_with_load_balancer(
                    LoadBalancerName=name, Instances=[{"InstanceId": i} for i in targets]
                )
            arn = seed.arn("elasticloadbalancing", f"loadbalancer/{name}")
            fleet_moto.set_load_balancer_created(
                seed.account_id, seed.region, seed.ago(SERVICE_AGE_DAYS), name=name
            )
            dims = {"LoadBalancerName": name}
            seed.put_series("AWS/ELB", "RequestCount", dims, ts, requests, "Count")
        else:
            arn = elbv2.create_load_balancer(Name=name, Subnets=subnet_ids, Type=kind)[
                "LoadBalancers"
            ][0]["LoadBalancerArn"]
            protocol = "HTTP" if kind == "application" else "TCP"
            group_arn = elbv2.create_target_group(
                Name=f"tg-{name}"[:32],
                Protocol=protocol,
                Port=80,
                VpcId=seed.vpc_id,
                TargetType="instance",
            )["TargetGroups"][0]["TargetGroupArn"]
            elbv2.create_listener(
                LoadBalancerArn=arn,
                Protocol=protocol,
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
            )
            if targets:
                elbv2.register_targets(
                    TargetGroupArn=group_arn, Targets=[{"Id": i, "Port": 80} for i in targets]
                )
            fleet_moto.set_load_balancer_created(
                seed.account_id, seed.region, seed.ago(SERVICE_AGE_DAYS), arn=arn
            )
            dims = {"LoadBalancer": arn.split(":loadbalancer/", 1)[1]}
            if kind == "application":
                seed.put_series("AWS/ApplicationELB", "RequestCount", dims, ts, requests, "Count")
                seed.put_series(
                    "AWS/ApplicationELB", "ProcessedBytes", dims, ts, processed, "Bytes"
                )
            else:
                seed.put_series("AWS/NetworkELB", "ProcessedBytes", dims, ts, processed, "Bytes")
        seed.record(
            "load-balancer",
            name,
            arn,
            name,
            {},
            {"elb-idle": traffic == "idle" or not targets},
            {
                "type": kind,
                "healthy_targets": len(targets),
                "requests_in_window": float(requests.sum()),
                "processed_bytes_in_window": float(processed.sum()),
                "create_time": iso(seed.ago(SERVICE_AGE_DAYS)),
            },
        )


def seed_nat_gateways(seed: RegionSeed) -> None:
    """A busy and an idle NAT gateway (BytesOutToDestination), each with its Elastic IP."""
    ec2 = seed.client("ec2")
    ts = seed.grid()
    rng = seed.rng("nat-gateways")
    for name, traffic in (("nat-busy", "busy"), ("nat-idle", "idle")):
        address = ec2.allocate_address(Domain="vpc")
        nat_id = ec2.create_nat_gateway(
            SubnetId=seed.subnets[0][0],
            AllocationId=address["AllocationId"],
            TagSpecifications=[{"ResourceType": "natgateway", "Tags": tag_list({"Name": name})}],
        )["NatGateway"]["NatGatewayId"]
        fleet_moto.set_nat_gateway_created(
            seed.account_id, seed.region, nat_id, seed.ago(SERVICE_AGE_DAYS)
        )
        out = _traffic(traffic, rng, ts.size, 1e8, 1e9)
        dims = {"NatGatewayId": nat_id}
        seed.put_series("AWS/NATGateway", "BytesOutToDestination", dims, ts, out, "Bytes")
        seed.record(
            "nat-gateway",
            nat_id,
            seed.arn("ec2", f"natgateway/{nat_id}"),
            name,
            {"Name": name},
            {"nat-idle": traffic == "idle"},
            {"bytes_out_in_window": float(out.sum()), "allocation_id": address["AllocationId"]},
        )
        seed.record(
            "elastic-ip",
            address["AllocationId"],
            seed.arn("ec2", f"elastic-ip/{address['AllocationId']}"),
            f"{name}-address",
            {},
            {"eip-unassociated": False},
            {"public_ip": address["PublicIp"], "nat_gateway_id": nat_id},
        )


def seed_databases(seed: RegionSeed) -> None:
    """A busy and an idle RDS instance (DatabaseConnections)."""
    rds = seed.client("rds")
    ts = seed.grid()
    rng = seed.rng("databases")
    for name, traffic in (("db-busy", "busy"), ("db-idle", "idle")):
        arn = rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t3.medium",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="finops",
            MasterUserPassword="sandbox-only-password",
        )["DBInstance"]["DBInstanceArn"]
        fleet_moto.set_db_instance_created(
            seed.account_id, seed.region, name, seed.ago(SERVICE_AGE_DAYS)
        )
        connections = _traffic(traffic, rng, ts.size, 5, 60)
        dims = {"DBInstanceIdentifier": name}
        seed.put_series("AWS/RDS", "DatabaseConnections", dims, ts, connections, "Count")
        seed.record(
            "rds-instance",
            name,
            arn,
            name,
            {},
            {"rds-idle": traffic == "idle"},
            {"max_connections_in_window": float(connections.max(initial=0.0))},
        )


def seed_buckets(seed: RegionSeed) -> None:
    """Buckets with and without stale incomplete multipart uploads (and an abort rule)."""
    s3 = seed.client("s3")
    ids = seed.rng("multipart-upload-ids")
    for profile, age_days, abort_rule, profile_tags in BUCKETS:
        bucket = f"finops-{seed.account_id}-{seed.region}-{profile}"[:63]
        create: dict[str, Any] = {"Bucket": bucket}
        if seed.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": seed.region}
        s3.create_bucket(**create)
        tags = dict(profile_tags)
        if tags:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(tags)})
        if abort_rule:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "abort-incomplete-uploads",
                            "Status": "Enabled",
                            "Filter": {"Prefix": ""},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
            )
        uploads: list[dict[str, str]] = []
        if age_days is not None:
            for key in ("exports/2026/big-dump.parquet", "backups/db.tar.gz"):
                upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"0" * 1024
                )
                stable_id = ids.bytes(24).hex()
                initiated = seed.ago(age_days)
                fleet_moto.set_multipart_upload(
                    seed.account_id, bucket, upload_id, initiated, stable_id
                )
                uploads.append({"key": key, "upload_id": stable_id, "initiated": iso(initiated)})
        seed.record(
            "s3-bucket",
            bucket,
            f"arn:aws:s3:::{bucket}",
            profile,
            tags,
            {
                "s3-stale-multipart": age_days is not None
                and age_days > MULTIPART_MIN_AGE_DAYS
                and not abort_rule
            },
            {"uploads": uploads, "abort_incomplete_rule": abort_rule},
        )
