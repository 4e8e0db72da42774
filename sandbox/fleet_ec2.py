"""Seed the compute side of one account x region: AMI, instances, EBS volumes, snapshots, EIPs.

Resources are created by calling moto's EC2 backend of the server's own process, one
``run_instances`` per profile and instance type: through the HTTP API, rendering and parsing the
XML replies costs about 10 ms per instance, which a 10,000-instance fleet cannot afford (the
objects are the same either way, and every describe call serves them).  Metrics are written in
bulk with ``put_metric_series`` and ages set on the backend objects (:mod:`sandbox.fleet_moto`).

A little over 400 lines: every compute resource of one account x region is seeded here, in the
order the ground truth records them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import numpy as np

from sandbox import fleet_moto
from sandbox.fleet_profiles import (
    EIP_PROFILES,
    INSTANCE_PROFILES,
    OWNERS,
    SNAPSHOT_MIN_AGE_DAYS,
    SNAPSHOT_PROFILES,
    UNATTACHED_MIN_DAYS,
    VOLUME_PROFILES,
    InstanceProfile,
    allocate,
    cpu_series,
    gp2_vs_gp3_monthly,
    gp3_cheaper,
    light_ops_series,
    network_series,
    ops_series,
)
from sandbox.fleet_region import RegionSeed, iso

ROOT_DEVICE = "/dev/xvda"
CENT = Decimal("0.01")
ROOT_GIB = 8
# What moto's RunInstances handler passes to the backend when a parameter is not given.
_RUN_DEFAULTS: dict[str, Any] = {
    "is_instance_type_default": False,
    "placement": None,
    "placement_hostid": None,
    "key_name": None,
    "security_group_ids": [],
    "nics": [],
    "private_ip": None,
    "associate_public_ip": None,
    "ebs_optimized": False,
    "disable_api_stop": False,
    "instance_market_options": {},
    "instance_initiated_shutdown_behavior": None,
    "launch_template": {},
    "hibernation_options": {},
    "iam_instance_profile_name": None,
    "iam_instance_profile_arn": None,
    "monitoring_state": "disabled",
    "ipv6_address_count": None,
    "metadata_options": {},
}
_TARGET_PROFILES = ("busy", "idle", "bursty", "proxy")  # running for the whole window


def seed_network(seed: RegionSeed) -> None:
    """Find the default VPC and one default subnet per availability zone."""
    ec2 = seed.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise RuntimeError(f"no default VPC in {seed.account_id} {seed.region}")
    seed.vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [seed.vpc_id]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}
    seed.subnets = [(by_zone[zone], zone) for zone in sorted(by_zone)]


def seed_image(seed: RegionSeed) -> str:
    """Register the fleet's AMI (its snapshot is the first 'old, used by an AMI' snapshot)."""
    image = seed.ec2().register_image(
        f"finops-sandbox-base-{seed.region}", "finops sandbox fleet image"
    )
    seed.image_id = str(image.id)
    fleet_moto.describe_image_like_aws(seed.account_id, seed.region, seed.image_id)
    return seed.image_id


def seed_instances(seed: RegionSeed) -> None:
    """The EC2 fleet: ``size.instances`` spread over the behaviour profiles, with metrics."""
    ec2 = seed.ec2()
    counts = allocate(
        seed.ctx.size.instances,
        [p.name for p in INSTANCE_PROFILES],
        [p.weight for p in INSTANCE_PROFILES],
    )
    rng = seed.rng("instances")
    owners_tagged: dict[str, list[str]] = defaultdict(list)
    targets: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for zone_turn, profile in enumerate(INSTANCE_PROFILES):
        n = counts[profile.name]
        if not n:
            continue
        types = [str(t) for t in rng.choice(profile.types, n)]
        owner_draw = [str(o) for o in rng.choice([*OWNERS, ""], n)]
        launched: list[Any] = []
        for turn, instance_type in enumerate(sorted(set(types))):
            subnet_id, _zone = seed.subnets[(zone_turn + turn) % len(seed.subnets)]
            reservation = ec2.run_instances(
                seed.image_id,
                types.count(instance_type),
                None,
                [],
                **_RUN_DEFAULTS,
                instance_type=instance_type,
                subnet_id=subnet_id,
                region_name=seed.region,
                client_token=f"finops-sandbox-{profile.name}-{instance_type}",
                tags={"instance": dict(profile.tags), "volume": dict(profile.tags)},
                block_device_mappings=[
                    {
                        "DeviceName": ROOT_DEVICE,
                        "Ebs": {
                            "VolumeSize": ROOT_GIB,
                            "VolumeType": "gp3",
                            "DeleteOnTermination": True,
                        },
                    }
                ],
            )
            launched.extend(reservation.instances)
        ids = [str(i.id) for i in launched]
        roots = [str(i.block_device_mapping[ROOT_DEVICE].volume_id) for i in launched]
        for instance, root, owner in zip(launched, roots, owner_draw, strict=True):
            if owner:
                owners_tagged[owner] += [str(instance.id), root]
        if profile.stopped_days_ago is not None:
            ec2.stop_instances(ids)
        fleet_moto.set_instance_times(
            seed.account_id,
            seed.region,
            ids,
            launched=seed.ago(profile.launched_days_ago),
            stopped=seed.ago(profile.stopped_days_ago) if profile.stopped_days_ago else None,
        )
        for root in roots:
            fleet_moto.set_volume_created(
                seed.account_id, seed.region, root, seed.ago(profile.launched_days_ago)
            )
        hours = _write_instance_metrics(seed, profile, ids, roots)
        for instance, root, owner in zip(launched, roots, owner_draw, strict=True):
            zone = str(instance.availability_zone)
            _record_instance(seed, profile, instance, root, owner, hours)
            if profile.name in _TARGET_PROFILES:
                targets[profile.name].append((str(instance.id), zone))
            if profile.running and profile.history_hours is None:  # 200 days old
                seed.source_volumes.append((root, zone))
    for owner in sorted(owners_tagged):
        ec2.create_tags(owners_tagged[owner], {"owner": owner})
    seed.running_targets = [t for name in _TARGET_PROFILES for t in targets[name]]


def _history(seed: RegionSeed, profile: InstanceProfile) -> np.ndarray:
    """The hourly timestamps at which an instance of this profile reported metrics."""
    grid = seed.grid()
    if profile.history_hours is not None:
        grid = grid[-profile.history_hours :]
    if profile.stopped_days_ago is not None:
        stop = int(seed.ago(profile.stopped_days_ago).timestamp())
        grid = grid[grid < stop]
    return grid


def _write_instance_metrics(
    seed: RegionSeed, profile: InstanceProfile, ids: list[str], roots: list[str]
) -> int:
    """CPU, network and root-volume ops for a profile group; returns hours of history."""
    ts = _history(seed, profile)
    shape = (len(ids), int(ts.size))
    if not ts.size:
        return 0
    rng = seed.rng(f"instance-metrics:{profile.name}")
    cpu = cpu_series(profile.cpu, rng, shape)
    net_in = network_series(profile.network, rng, shape)
    net_out = network_series(profile.network, rng, shape)
    busy_disk = profile.cpu == "busy"
    reads = ops_series(True, rng, shape) if busy_disk else light_ops_series(rng, shape)
    writes = ops_series(True, rng, shape) if busy_disk else light_ops_series(rng, shape)
    for row, (instance_id, root) in enumerate(zip(ids, roots, strict=True)):
        dims = {"InstanceId": instance_id}
        seed.put_series("AWS/EC2", "CPUUtilization", dims, ts, cpu[row], "Percent")
        seed.put_series("AWS/EC2", "NetworkIn", dims, ts, net_in[row], "Bytes")
        seed.put_series("AWS/EC2", "NetworkOut", dims, ts, net_out[row], "Bytes")
        vol = {"VolumeId": root}
        seed.put_series("AWS/EBS", "VolumeReadOps", vol, ts, reads[row], "Count")
        seed.put_series("AWS/EBS", "VolumeWriteOps", vol, ts, writes[row], "Count")
    return int(ts.size)


def _record_instance(
    seed: RegionSeed,
    profile: InstanceProfile,
    instance: Any,
    root: str,
    owner: str,
    hours: int,
) -> None:
    tags = dict(profile.tags)
    if owner:
        tags["owner"] = owner
    instance_id = str(instance.id)
    stopped_at = seed.ago(profile.stopped_days_ago) if profile.stopped_days_ago else None
    seed.record(
        "ec2-instance",
        instance_id,
        seed.arn("ec2", f"instance/{instance_id}"),
        profile.name,
        tags,
        dict(profile.expected),
        {
            "instance_type": instance.instance_type,
            "state": "stopped" if stopped_at else "running",
            "launch_time": iso(seed.ago(profile.launched_days_ago)),
            "stopped_at": iso(stopped_at) if stopped_at else None,
            "metric_hours": hours,
            "root_volume_id": root,
            # the idle checks must skip it with a reason (too few datapoints), not flag it
            "too_few_datapoints": profile.history_hours is not None,
        },
    )
    # The root volume: gp3, attached; busy or lightly used while running, no data when stopped.
    seed.record(
        "ebs-volume",
        root,
        seed.arn("ec2", f"volume/{root}"),
        f"root-of-{profile.name}",
        tags,
        {"ebs-unattached": False, "ebs-gp2": False, "ebs-idle": False},
        {
            "size_gib": ROOT_GIB,
            "volume_type": "gp3",
            "attached_to": instance_id,
            "create_time": iso(seed.ago(profile.launched_days_ago)),
            "metric_hours": hours,
        },
    )


def _device(k: int) -> str:
    """The k-th data-volume device name: /dev/sdf .. /dev/sdz, then /dev/xvdaa ..."""
    letters = "fghijklmnopqrstuvwxyz"
    if k < len(letters):
        return f"/dev/sd{letters[k]}"
    k -= len(letters)
    return f"/dev/xvd{chr(97 + k // 26 % 26)}{chr(97 + k % 26)}"


def seed_volumes(seed: RegionSeed) -> None:
    """``size.volumes`` extra EBS volumes over the volume profiles, with ops metrics."""
    ec2 = seed.ec2()
    counts = allocate(
        seed.ctx.size.volumes,
        [p.name for p in VOLUME_PROFILES],
        [p.weight for p in VOLUME_PROFILES],
    )
    rng = seed.rng("volumes")
    devices: dict[str, int] = defaultdict(int)
    ts = seed.grid()
    turn = 0
    default_zone = seed.subnets[0][1]
    for profile in VOLUME_PROFILES:
        n = counts[profile.name]
        if not n or (profile.attached and not seed.running_targets):
            continue  # an attached profile needs a running instance (absent in a tiny fleet)
        sizes = [int(s) for s in rng.choice(profile.sizes, n)]
        shape = (n, int(ts.size))
        reads = ops_series(profile.busy, rng, shape)
        writes = ops_series(profile.busy, rng, shape)
        tags = dict(profile.tags)
        for row, size in enumerate(sizes):
            attach_to: tuple[str, str] | None = None
            zone = default_zone
            if profile.attached:
                attach_to = seed.running_targets[turn % len(seed.running_targets)]
                turn += 1
                zone = attach_to[1]
            volume = ec2.create_volume(size=size, zone_name=zone, volume_type=profile.volume_type)
            if profile.volume_type == "gp2":
                # AWS reports a gp2 volume's baseline IOPS (the API does not take them)
                volume.iops = min(16_000, max(100, 3 * size))
            volume_id = str(volume.id)
            if tags:
                ec2.create_tags([volume_id], tags)
            created = seed.ago(profile.age_days)
            if attach_to is not None:
                instance_id = attach_to[0]
                ec2.attach_volume(volume_id, instance_id, _device(devices[instance_id]))
                devices[instance_id] += 1
                dims = {"VolumeId": volume_id}
                seed.put_series("AWS/EBS", "VolumeReadOps", dims, ts, reads[row], "Count")
                seed.put_series("AWS/EBS", "VolumeWriteOps", dims, ts, writes[row], "Count")
            fleet_moto.set_volume_created(seed.account_id, seed.region, volume_id, created)
            facts: dict[str, Any] = {
                "size_gib": size,
                "volume_type": profile.volume_type,
                "attached_to": attach_to[0] if attach_to else None,
                "create_time": iso(created),
                "metric_hours": int(ts.size) if attach_to else 0,
            }
            if profile.volume_type == "gp2":
                gp2_usd, gp3_usd = gp2_vs_gp3_monthly(size)
                facts["gp2_monthly_usd"] = str(gp2_usd.quantize(CENT))
                facts["gp3_equivalent_monthly_usd"] = str(gp3_usd.quantize(CENT))
            seed.record(
                "ebs-volume",
                volume_id,
                seed.arn("ec2", f"volume/{volume_id}"),
                profile.name,
                tags,
                {
                    "ebs-unattached": not profile.attached
                    and profile.age_days >= UNATTACHED_MIN_DAYS,
                    "ebs-gp2": profile.volume_type == "gp2" and gp3_cheaper(size),
                    "ebs-idle": profile.attached and not profile.busy,
                },
                facts,
            )


def seed_snapshots(seed: RegionSeed) -> None:
    """Snapshots: recent, old, orphaned (source volume deleted) and used by AMIs."""
    ec2 = seed.ec2()
    counts = allocate(
        max(len(SNAPSHOT_PROFILES), seed.ctx.size.volumes // 2),
        [p[0] for p in SNAPSHOT_PROFILES],
        [p[1] for p in SNAPSHOT_PROFILES],
    )
    zone = seed.subnets[0][1]
    turn = 0
    for name, _weight, age_days, keep_volume, by_ami, profile_tags in SNAPSHOT_PROFILES:
        tags = dict(profile_tags)
        for k in range(counts[name]):
            image_id: str | None = None
            if by_ami:
                # the fleet's base AMI first, then one more AMI per extra snapshot
                image_id = seed.image_id
                if k:
                    image_id = str(
                        ec2.register_image(f"finops-sandbox-{seed.region}-{k}", "old release").id
                    )
                    fleet_moto.describe_image_like_aws(seed.account_id, seed.region, image_id)
                # AWS (and moto) snapshot the AMI's root volume, then the volume is gone
                snapshot_id, volume_id = fleet_moto.image_snapshot(
                    seed.account_id, seed.region, image_id
                )
                fleet_moto.set_image_created(
                    seed.account_id, seed.region, image_id, seed.ago(age_days)
                )
            elif keep_volume:
                if not seed.source_volumes:
                    continue  # no volume to snapshot in a tiny fleet
                volume_id = seed.source_volumes[turn % len(seed.source_volumes)][0]
                turn += 1
                snapshot_id = str(ec2.create_snapshot(volume_id, f"{name} backup").id)
            else:
                volume_id = str(ec2.create_volume(size=20, zone_name=zone, volume_type="gp3").id)
                snapshot_id = str(
                    ec2.create_snapshot(volume_id, f"{name} backup of a deleted volume").id
                )
                ec2.delete_volume(volume_id)
            if tags:
                ec2.create_tags([snapshot_id], tags)
            started = seed.ago(age_days)
            fleet_moto.set_snapshot_started(seed.account_id, seed.region, snapshot_id, started)
            seed.record(
                "ebs-snapshot",
                snapshot_id,
                seed.arn("ec2", f"snapshot/{snapshot_id}"),
                name,
                tags,
                {
                    "snapshot-stale": age_days > SNAPSHOT_MIN_AGE_DAYS
                    and not keep_volume
                    and not by_ami
                },
                {
                    "start_time": iso(started),
                    "volume_id": volume_id,
                    "source_volume_exists": keep_volume,
                    "used_by_images": [image_id] if image_id else [],
                },
            )


def seed_elastic_ips(seed: RegionSeed) -> None:
    """Elastic IPs, associated with running instances or not."""
    ec2 = seed.ec2()
    counts = allocate(
        max(len(EIP_PROFILES), seed.ctx.size.volumes // 4),
        [p[0] for p in EIP_PROFILES],
        [p[1] for p in EIP_PROFILES],
    )
    # one address per instance: associated EIPs beyond the running fleet are left out
    free_targets = list(seed.running_targets)
    for name, _weight, associated, profile_tags in EIP_PROFILES:
        tags = dict(profile_tags)
        for _ in range(counts[name]):
            if associated and not free_targets:
                break
            address = ec2.allocate_address(domain="vpc", tags=tags or None)
            allocation_id = str(address.allocation_id)
            instance_id = None
            if associated:
                instance_id = free_targets.pop(0)[0]
                ec2.associate_address(
                    instance=ec2.get_instance(instance_id), allocation_id=allocation_id
                )
            seed.record(
                "elastic-ip",
                allocation_id,
                seed.arn("ec2", f"elastic-ip/{allocation_id}"),
                name,
                tags,
                {"eip-unassociated": not associated},
                {"public_ip": str(address.public_ip), "instance_id": instance_id},
            )
