"""Rightsizing profiles of the sandbox fleet: instances whose right size is known, with metrics.

One instance of each profile per account x region, seeded after the idle fleet (so the idle
fleet's ids do not move).  None is idle or waste under any idle check: all carry heavy network
traffic and busy root volumes.  Their CloudWatch history is 14+ days of hourly CPU, network and,
where the CloudWatch agent would run, ``CWAgent`` ``mem_used_percent`` (dimension
``InstanceId``).  The verdicts hold for the rightsizing rule's documented defaults
(``tasks.rightsizing.rules``: the 14-day p95 CPU projected onto the candidate must stay at most
80 % of its vCPUs and the daily maximum at most 95 %; the peak memory at most 80 % of its
memory; no memory data means never below the current memory; same architecture and features;
burstable types only replace burstable ones):

=====================  ============  ==============================  =========  ==========  =====
profile                type          behaviour                       ours       AWS's       flag
=====================  ============  ==============================  =========  ==========  =====
rs-over-provisioned    m5.2xlarge    CPU 4-14 %, memory 8-15 %       m5.large   m5.large    yes
rs-right-sized         m5.large      CPU 40-75 %, memory 45-70 %     --         Optimized   no
rs-memory-bound (trap) r5.xlarge     CPU 3-9 %, memory 80-93 %       --         Optimized   no
rs-burstable (trap)    t3.large      CPU 20-30 %, 4 h/day at 90-100  --         m5.large up no
rs-graviton            m5.xlarge     CPU 30-55 %, memory 40-60 %     --         m6g.xlarge  yes
=====================  ============  ==============================  =========  ==========  =====

The memory-bound instance looks idle-ish on CPU alone; a rule that ignored memory would halve it.
The burstable one spends CPU credits (``CPUCreditBalance`` falls to near zero each day): AWS calls
it under-provisioned, which is no saving.  The Graviton one is right-sized on x86; only AWS's
optimiser (which may change architecture) finds a saving, so the finding has one source and says
the sources disagree.  In the account that has not opted in to AWS's optimisers (the last member
account, see ``sandbox.compute_optimizer``), only our own rule speaks: the over-provisioned
instance is still flagged, the Graviton one is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox import fleet_moto
from sandbox.fleet_ec2 import _RUN_DEFAULTS, ROOT_DEVICE, ROOT_GIB
from sandbox.fleet_profiles import DAY_H, light_ops_series, network_series
from sandbox.fleet_region import RegionSeed, iso

#: The ground-truth key of the rightsizing verdicts (``seeded.ground_truth[KEY]``).
KEY = "rightsizing"


@dataclass(frozen=True)
class RightsizingProfile:
    """One rightsizing behaviour and what each side must conclude.

    Attributes:
        name: profile name in the ground truth.
        instance_type: the type it runs.
        cpu: hourly CPUUtilization range (%).
        burst_hours: hours a day at 90-100 % CPU (burstable credit users).
        memory: hourly ``mem_used_percent`` range, or None (no CloudWatch agent).
        ours: the type our rule recommends (None: no finding of ours).
        aws_finding: Compute Optimizer's ``finding``.
        aws_type: Compute Optimizer's rank-1 option (the current type when optimised).
        aws_migration: the rank-1 option changes the CPU architecture (Graviton).
    """

    name: str
    instance_type: str
    cpu: tuple[float, float]
    memory: tuple[float, float] | None
    ours: str | None
    aws_finding: str
    aws_type: str
    burst_hours: int = 0
    aws_migration: bool = False

    @property
    def aws_saves(self) -> bool:
        """AWS recommends a cheaper type (under-provisioned and optimised ones save nothing)."""
        return self.aws_finding != "Underprovisioned" and self.aws_type != self.instance_type


PROFILES: tuple[RightsizingProfile, ...] = (
    RightsizingProfile(
        "rs-over-provisioned", "m5.2xlarge", (4.0, 14.0), (8.0, 15.0), "m5.large",
        "Overprovisioned", "m5.large",
    ),
    RightsizingProfile(
        "rs-right-sized", "m5.large", (40.0, 75.0), (45.0, 70.0), None, "Optimized", "m5.large",
    ),
    RightsizingProfile(
        "rs-memory-bound", "r5.xlarge", (3.0, 9.0), (80.0, 93.0), None, "Optimized", "r5.xlarge",
    ),
    RightsizingProfile(
        "rs-burstable", "t3.large", (20.0, 30.0), None, None, "Underprovisioned", "m5.large",
        burst_hours=4,
    ),
    RightsizingProfile(
        "rs-graviton", "m5.xlarge", (30.0, 55.0), (40.0, 60.0), None, "Optimized", "m6g.xlarge",
        aws_migration=True,
    ),
)  # fmt: skip

BY_NAME = {p.name: p for p in PROFILES}


def cpu_hours(profile: RightsizingProfile, rng: np.random.Generator, hours: int) -> np.ndarray:
    """Hourly CPU of one instance: uniform in the profile's range, plus its daily bursts.

    Example:
        >>> p = BY_NAME["rs-burstable"]
        >>> cpu = cpu_hours(p, np.random.default_rng(0), 48)
        >>> int((cpu >= 90).sum()), bool(cpu.min() >= 20)
        (8, True)
    """
    values = rng.uniform(*profile.cpu, hours)
    if profile.burst_hours:
        in_burst = (np.arange(hours) % DAY_H) < profile.burst_hours
        values = np.where(in_burst, rng.uniform(90.0, 100.0, hours), values)
    return values


def credit_balance(cpu: np.ndarray, vcpus: int, baseline_pct: float, cap: float) -> np.ndarray:
    """CPUCreditBalance of a burstable instance hour by hour (credits = vCPU-minutes at 100 %).

    Each hour earns ``baseline_pct`` of the vCPUs and spends what the CPU used; the balance is
    clipped to [0, cap]; it starts at 70 % of the cap.

    Example:
        >>> credit_balance(np.array([100.0, 0.0]), 2, 30.0, 576.0).round(1).tolist()
        [319.2, 355.2]
    """
    balance = cap * 0.7
    out = np.empty_like(cpu)
    for i, used in enumerate(cpu):
        balance = min(cap, max(0.0, balance + (baseline_pct - used) / 100.0 * vcpus * 60.0))
        out[i] = balance
    return out


#: An attached io1 volume provisioned far above its use: Compute Optimizer proposes gp3.
EBS_PROFILE = "rs-ebs-io1-over-provisioned"
EBS_SIZE_GIB, EBS_IOPS = 100, 6000


def seed_rightsizing(seed: RegionSeed) -> None:
    """One running instance of each rightsizing profile in this account x region, with metrics,
    and one over-provisioned io1 volume attached to the right-sized one."""
    ec2 = seed.ec2()
    ts = seed.grid()
    rng = seed.rng("rightsizing")
    host: tuple[str, str] | None = None
    for profile in PROFILES:
        subnet_id, _zone = seed.subnets[0]
        reservation = ec2.run_instances(
            seed.image_id,
            1,
            None,
            [],
            **_RUN_DEFAULTS,
            instance_type=profile.instance_type,
            subnet_id=subnet_id,
            region_name=seed.region,
            client_token=f"finops-sandbox-{profile.name}",
            tags={"instance": {"workload": profile.name}, "volume": {"workload": profile.name}},
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
        instance = reservation.instances[0]
        instance_id = str(instance.id)
        if profile.name == "rs-right-sized":
            host = (instance_id, str(instance.availability_zone))
        root = str(instance.block_device_mapping[ROOT_DEVICE].volume_id)
        launched = seed.ago(200)
        fleet_moto.set_instance_times(
            seed.account_id, seed.region, [instance_id], launched=launched
        )
        fleet_moto.set_volume_created(seed.account_id, seed.region, root, launched)
        hours = int(ts.size)
        dims = {"InstanceId": instance_id}
        cpu = cpu_hours(profile, rng, hours)
        seed.put_series("AWS/EC2", "CPUUtilization", dims, ts, cpu, "Percent")
        for metric in ("NetworkIn", "NetworkOut"):
            net = network_series("heavy", rng, (1, hours))[0]
            seed.put_series("AWS/EC2", metric, dims, ts, net, "Bytes")
        if profile.memory is not None:
            memory = rng.uniform(*profile.memory, hours)
            seed.put_series("CWAgent", "mem_used_percent", dims, ts, memory, "Percent")
        if profile.instance_type.startswith("t"):
            # t3.large: 2 vCPUs, 30 % baseline, at most 576 credits (EC2 burstable docs)
            balance = credit_balance(cpu, 2, 30.0, 576.0)
            seed.put_series("AWS/EC2", "CPUCreditBalance", dims, ts, balance, "Count")
        for metric in ("VolumeReadOps", "VolumeWriteOps"):
            ops = light_ops_series(rng, (1, hours))[0]
            seed.put_series("AWS/EBS", metric, {"VolumeId": root}, ts, ops, "Count")
        tags = {"workload": profile.name}
        seed.record(
            "ec2-instance",
            instance_id,
            seed.arn("ec2", f"instance/{instance_id}"),
            profile.name,
            tags,
            {"ec2-idle": False, "ec2-idle:peak": False, "ec2-stopped": False},
            {
                "instance_type": profile.instance_type,
                "state": "running",
                "launch_time": iso(launched),
                "stopped_at": None,
                "metric_hours": hours,
                "root_volume_id": root,
                "too_few_datapoints": False,
                "memory_metric": profile.memory is not None,
            },
        )
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
                "create_time": iso(launched),
                "metric_hours": hours,
            },
        )
    if host is not None:
        _seed_volume(seed, host, ts, rng)


def _seed_volume(
    seed: RegionSeed, host: tuple[str, str], ts: np.ndarray, rng: np.random.Generator
) -> None:
    ec2 = seed.ec2()
    volume = ec2.create_volume(
        size=EBS_SIZE_GIB, zone_name=host[1], volume_type="io1", iops=EBS_IOPS
    )
    volume_id = str(volume.id)
    tags = {"workload": EBS_PROFILE}
    ec2.create_tags([volume_id], tags)
    ec2.attach_volume(volume_id, host[0], "/dev/sdf")
    created = seed.ago(100)
    fleet_moto.set_volume_created(seed.account_id, seed.region, volume_id, created)
    for metric in ("VolumeReadOps", "VolumeWriteOps"):
        ops = light_ops_series(rng, (1, int(ts.size)))[0]
        seed.put_series("AWS/EBS", metric, {"VolumeId": volume_id}, ts, ops, "Count")
    seed.record(
        "ebs-volume",
        volume_id,
        seed.arn("ec2", f"volume/{volume_id}"),
        EBS_PROFILE,
        tags,
        {"ebs-unattached": False, "ebs-gp2": False, "ebs-idle": False},
        {
            "size_gib": EBS_SIZE_GIB,
            "volume_type": "io1",
            "iops": EBS_IOPS,
            "attached_to": host[0],
            "create_time": iso(created),
            "metric_hours": int(ts.size),
        },
    )


def not_opted_in(accounts: list[str]) -> list[str]:
    """The accounts that have not opted in to AWS's optimisers: the last member, if any.

    Example:
        >>> not_opted_in(["1", "2", "3"]), not_opted_in(["1"])
        (['3'], [])
    """
    return accounts[-1:] if len(accounts) > 1 else []


def ground_truth(resources: list[dict[str, Any]], accounts: list[str]) -> dict[str, Any]:
    """The rightsizing verdict of every rightsizing-profile instance.

    ``expected`` says whether an ``ec2-rightsize`` finding must exist; ``sources`` which sides
    recommend a change (``own``, ``compute-optimizer``, ``cost-optimization-hub``).
    """
    off = set(not_opted_in(accounts))
    records = []
    for record in resources:
        profile = BY_NAME.get(record["profile"])
        if record["resource_type"] != "ec2-instance" or profile is None:
            continue
        enrolled = record["account_id"] not in off
        sources = (["own"] if profile.ours else []) + (
            ["compute-optimizer", "cost-optimization-hub"] if enrolled and profile.aws_saves else []
        )
        records.append(
            {
                "account_id": record["account_id"],
                "region": record["region"],
                "instance_id": record["resource_id"],
                "profile": profile.name,
                "current_type": profile.instance_type,
                "own_type": profile.ours,
                "aws_type": profile.aws_type if enrolled else None,
                "aws_finding": profile.aws_finding if enrolled else None,
                "enrolled": enrolled,
                "sources": sources,
                "expected": bool(sources),
            }
        )
    volumes = [
        {
            "account_id": r["account_id"],
            "region": r["region"],
            "volume_id": r["resource_id"],
            "profile": r["profile"],
            "enrolled": r["account_id"] not in off,
            # only Compute Optimizer speaks for volumes: nothing where it is off
            "expected": r["account_id"] not in off,
        }
        for r in resources
        if r["resource_type"] == "ebs-volume" and r["profile"] == EBS_PROFILE
    ]
    return {"instances": records, "volumes": volumes, "not_opted_in": sorted(off)}
