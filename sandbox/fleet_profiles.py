"""The behaviour profiles of the sandbox fleet: how many of each, their metrics and their verdicts.

Pure logic (numpy only, no moto, no boto3): :mod:`sandbox.fleet` creates the resources and
writes what this module computes.  Every profile sits clearly on one side of every threshold of
the idle checks (see ``docs/sandbox.md``), except the deliberate, documented traps.

Thresholds the ground truth is built for (the defaults of issue 5):

* ``ec2-idle`` (Trusted Advisor "Low Utilization Amazon EC2 Instances"): daily average CPU
  <= 10 % and daily NetworkIn + NetworkOut <= 5 MB on at least 4 of the last 14 days;
* ``ec2-idle:peak``: daily maximum CPU < 20 % and daily network < 5 MB on every day of the window;
* ``ec2-stopped``: stopped for more than 30 days;
* ``ebs-unattached``: unattached for at least 7 days; ``ebs-idle``: zero read and write ops;
* ``ebs-gp2``: gp3 strictly cheaper at equal or better IOPS and throughput (list prices below);
* ``snapshot-stale``: older than 90 days, source volume gone, no AMI uses it;
* ``elb-idle`` / ``nat-idle`` / ``rds-idle``: no traffic / connections over 14 days (idle
  profiles are exactly zero, busy ones are far above any small threshold), or no healthy targets;
* ``s3-stale-multipart``: an incomplete upload older than 7 days in a bucket without an
  abort-incomplete-multipart-upload lifecycle rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

HOUR_S = 3600
DAY_H = 24

# --------------------------------------------------------------------------------------------
# Check names (issue 5) and which resource types they apply to
# --------------------------------------------------------------------------------------------

CHECKS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "ec2-instance": ("ec2-idle", "ec2-idle:peak", "ec2-stopped"),
    "ebs-volume": ("ebs-unattached", "ebs-gp2", "ebs-idle"),
    "ebs-snapshot": ("snapshot-stale",),
    "elastic-ip": ("eip-unassociated",),
    "load-balancer": ("elb-idle",),
    "nat-gateway": ("nat-idle",),
    "rds-instance": ("rds-idle",),
    "s3-bucket": ("s3-stale-multipart",),
}

# Thresholds the profiles are placed around (documented; the checks own their real defaults).
TA_CPU_AVG_PCT = 10.0
TA_NETWORK_BYTES_PER_DAY = 5_000_000
TA_MIN_IDLE_DAYS = 4
TA_WINDOW_DAYS = 14
PEAK_CPU_MAX_PCT = 20.0
STOPPED_MIN_DAYS = 30
UNATTACHED_MIN_DAYS = 7
SNAPSHOT_MIN_AGE_DAYS = 90
MULTIPART_MIN_AGE_DAYS = 7

# --------------------------------------------------------------------------------------------
# Profiles and how many of each
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceProfile:
    """One behaviour of an EC2 instance and the verdicts it must get.

    Attributes:
        name: profile name written to the ground truth.
        weight: share of the instances beyond one of each profile.
        types: instance types drawn from.
        cpu: hourly CPU behaviour (``idle``, ``busy``, ``bursty``).
        network: hourly network behaviour (``quiet``, ``heavy``).
        history_hours: hours of metrics at the end of the window (``None``: the whole window).
        stopped_days_ago: stopped that many days before now (metrics end then).
        launched_days_ago: launch time (``history_hours`` profiles launch within the window).
        tags: profile tags (exclusion / protection).
        expected: verdicts of ``ec2-idle``, ``ec2-idle:peak``, ``ec2-stopped``.
    """

    name: str
    weight: float
    types: tuple[str, ...]
    cpu: str
    network: str
    expected: dict[str, bool]
    history_hours: int | None = None
    stopped_days_ago: int | None = None
    launched_days_ago: int = 200
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def running(self) -> bool:
        return self.stopped_days_ago is None


EXCLUDE_TAG = ("finops:exclude", "true")
PROTECTED_TAG = ("finops:protected", "true")
OWNERS = ("alice", "bob", "carol", "dmitri", "erin")


def _verdicts(idle: bool, peak: bool, stopped: bool) -> dict[str, bool]:
    return {"ec2-idle": idle, "ec2-idle:peak": peak, "ec2-stopped": stopped}


# Priority order: with fewer instances than profiles, the first ones are seeded.
INSTANCE_PROFILES: tuple[InstanceProfile, ...] = (
    InstanceProfile(
        "busy", 0.35, ("m5.large", "c5.xlarge", "r5.large"), "busy", "heavy",
        _verdicts(False, False, False),
    ),
    InstanceProfile(
        "idle", 0.25, ("t3.medium", "m5.large", "m5.xlarge"), "idle", "quiet",
        _verdicts(True, True, False),
    ),
    # Trap: idle under Trusted Advisor's daily average, not under the peak rule.
    InstanceProfile(
        "bursty", 0.10, ("m5.large", "c5.large"), "bursty", "quiet",
        _verdicts(True, False, False),
    ),
    # Trap: idle CPU, heavy network (a proxy): not idle under either rule.
    InstanceProfile(
        "proxy", 0.08, ("c5.large", "m5.large"), "idle", "heavy",
        _verdicts(False, False, False),
    ),
    # Trap: launched 2 days ago, 48 hourly points: skipped (too few datapoints), not flagged.
    InstanceProfile(
        "few-datapoints", 0.04, ("t3.medium",), "idle", "quiet",
        _verdicts(False, False, False), history_hours=48, launched_days_ago=2,
    ),
    InstanceProfile(
        "stopped-long", 0.07, ("m5.large", "t3.large"), "busy", "heavy",
        _verdicts(False, False, True), stopped_days_ago=60,
    ),
    InstanceProfile(
        "stopped-recent", 0.04, ("m5.large",), "busy", "heavy",
        _verdicts(False, False, False), stopped_days_ago=5,
    ),
    # Trap: idle, but excluded: never reported (every verdict False).
    InstanceProfile(
        "excluded-idle", 0.035, ("m5.large",), "idle", "quiet",
        _verdicts(False, False, False), tags=(EXCLUDE_TAG,),
    ),
    # Idle and protected: reported, never remediated.
    InstanceProfile(
        "protected-idle", 0.035, ("m5.large",), "idle", "quiet",
        _verdicts(True, True, False), tags=(PROTECTED_TAG,),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class VolumeProfile:
    """One kind of extra EBS volume and the verdicts it must get.

    Attributes:
        name: profile name.
        weight: share beyond one of each.
        volume_type: ``gp2`` or ``gp3``.
        sizes: sizes in GiB drawn from.
        attached: attached to a running instance.
        busy: read/write ops (attached volumes only).
        age_days: CreateTime that many days ago.
        tags: profile tags.
    """

    name: str
    weight: float
    volume_type: str
    sizes: tuple[int, ...]
    attached: bool
    busy: bool
    age_days: int
    tags: tuple[tuple[str, str], ...] = ()


# Sizes of the gp2 profiles: 100, 500 and 1,500 GiB are cheaper on gp3; 200 GiB is not (trap:
# gp2 bursts to 250 MiB/s above 170 GiB, and gp3 pays $0.04 per MiB/s above 125 to match).
VOLUME_PROFILES: tuple[VolumeProfile, ...] = (
    VolumeProfile("attached-busy", 0.30, "gp3", (20, 50, 100, 200), True, True, 100),
    VolumeProfile("attached-idle", 0.15, "gp3", (20, 50, 100), True, False, 100),
    VolumeProfile("unattached-recent", 0.10, "gp3", (10, 50), False, False, 2),
    VolumeProfile("unattached-old", 0.15, "gp3", (10, 50, 100), False, False, 60),
    VolumeProfile("gp2-100", 0.06, "gp2", (100,), True, True, 100),
    VolumeProfile("gp2-200-gp3-not-cheaper", 0.04, "gp2", (200,), True, True, 100),
    VolumeProfile("gp2-500", 0.06, "gp2", (500,), True, True, 100),
    VolumeProfile("gp2-1500", 0.04, "gp2", (1500,), True, True, 100),
    VolumeProfile("excluded-unattached-old", 0.05, "gp3", (50,), False, False, 60, (EXCLUDE_TAG,)),
    VolumeProfile(
        "protected-unattached-old", 0.05, "gp3", (50,), False, False, 60, (PROTECTED_TAG,)
    ),
)

# Snapshots: (name, weight, age in days, source volume kept, used by an AMI, tags, stale)
SNAPSHOT_PROFILES: tuple[tuple[str, float, int, bool, bool, tuple[tuple[str, str], ...]], ...] = (
    ("recent", 0.2, 3, True, False, ()),
    ("old-volume-exists", 0.2, 150, True, False, ()),
    ("old-orphan", 0.25, 200, False, False, ()),
    ("recent-orphan", 0.1, 10, False, False, ()),
    ("old-ami", 0.15, 200, False, True, ()),
    ("excluded-old-orphan", 0.1, 200, False, False, (EXCLUDE_TAG,)),
)

# Elastic IPs: (name, weight, associated, tags)
EIP_PROFILES: tuple[tuple[str, float, bool, tuple[tuple[str, str], ...]], ...] = (
    ("associated", 0.5, True, ()),
    ("unassociated", 0.35, False, ()),
    ("excluded-unassociated", 0.15, False, (EXCLUDE_TAG,)),
)


def allocate(total: int, names: list[str], weights: list[float]) -> dict[str, int]:
    """Split ``total`` over profiles: one of each (in priority order), the rest by weight.

    The remainder goes by the largest-remainder method, ties to the earlier profile, so the
    split depends only on ``total``.

    Args:
        total: how many resources to create.
        names: profile names in priority order.
        weights: their shares of the resources beyond one of each.

    Returns:
        Profile name -> count (every name present, possibly 0).

    Example:
        >>> allocate(5, ["a", "b", "c"], [0.5, 0.3, 0.2])
        {'a': 2, 'b': 2, 'c': 1}
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    counts = {name: 0 for name in names}
    for name in names[:total]:
        counts[name] = 1
    rest = total - min(total, len(names))
    if rest:
        share = np.asarray(weights, dtype=float) / float(sum(weights)) * rest
        base = np.floor(share).astype(int)
        order = sorted(range(len(names)), key=lambda i: (-(share[i] - base[i]), i))
        for i in order[: rest - int(base.sum())]:
            base[i] += 1
        for name, extra in zip(names, base, strict=True):
            counts[name] += int(extra)
    return counts


# --------------------------------------------------------------------------------------------
# Metric series
# --------------------------------------------------------------------------------------------


def hourly_grid(now_epoch: int, days: int) -> np.ndarray:
    """Epoch seconds of the hourly points of the window [now - days, now), oldest first.

    Example:
        >>> hourly_grid(7200, 0).size, hourly_grid(86400 * 2, 1)[[0, -1]].tolist()
        (0, [86400, 169200])
    """
    hours = days * DAY_H
    return now_epoch - HOUR_S * np.arange(hours, 0, -1, dtype=np.int64)


def cpu_series(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Hourly CPUUtilization (%) for ``shape[0]`` instances over ``shape[1]`` hours.

    ``idle``: 0.5-3 %.  ``busy``: 35-85 %.  ``bursty``: idle with one hour a day at 95-100 %
    (at an hour fixed per instance), so any 24-hour day averages at most (100 + 23*3)/24 = 7.1 %.

    Example:
        >>> bool(cpu_series("bursty", np.random.default_rng(0), (1, 48)).max() >= 95)
        True
    """
    n, hours = shape
    if kind == "busy":
        return rng.uniform(35.0, 85.0, shape)
    base = rng.uniform(0.5, 3.0, shape)
    if kind == "idle":
        return base
    if kind == "bursty":
        burst_hour = rng.integers(0, DAY_H, n)
        in_burst = (np.arange(hours)[None, :] % DAY_H) == burst_hour[:, None]
        return np.where(in_burst, rng.uniform(95.0, 100.0, shape), base)
    raise ValueError(f"unknown cpu behaviour {kind!r}")


def network_series(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Hourly NetworkIn or NetworkOut (bytes).

    ``quiet``: 5-50 kB an hour each way, at most 2.4 MB a day in+out (< 5 MB).
    ``heavy``: 100-400 MB an hour each way (GBs a day).

    Example:
        >>> float(network_series("quiet", np.random.default_rng(0), (1, 24)).sum()) < 1.2e6
        True
    """
    if kind == "quiet":
        return rng.uniform(5e3, 50e3, shape)
    if kind == "heavy":
        return rng.uniform(100e6, 400e6, shape)
    raise ValueError(f"unknown network behaviour {kind!r}")


def ops_series(busy: bool, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Hourly VolumeReadOps or VolumeWriteOps: busy 1,000-20,000 an hour, idle exactly 0.

    Example:
        >>> float(ops_series(False, np.random.default_rng(0), (1, 5)).sum())
        0.0
    """
    if busy:
        return np.floor(rng.uniform(1_000, 20_000, shape))
    return np.zeros(shape)


def light_ops_series(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Root volume of a quiet instance: logs only, 50-300 ops an hour (not idle).

    Example:
        >>> float(light_ops_series(np.random.default_rng(0), (1, 5)).min()) >= 50
        True
    """
    return np.floor(rng.uniform(50, 300, shape))


# --------------------------------------------------------------------------------------------
# gp2 versus gp3 at list prices (us-east-1, per GB-month)
# --------------------------------------------------------------------------------------------

GP2_GB_MONTH = Decimal("0.10")
GP3_GB_MONTH = Decimal("0.08")
GP3_IOPS_MONTH = Decimal("0.005")  # per provisioned IOPS above 3,000
GP3_MIBPS_MONTH = Decimal("0.04")  # per provisioned MiB/s above 125
GP3_FREE_IOPS = 3000
GP3_FREE_MIBPS = 125


def gp2_performance(size_gib: int) -> tuple[int, int]:
    """(IOPS, MiB/s) a gp2 volume can deliver: what gp3 must match.

    IOPS: 3 per GiB, at least 100, at most 16,000, bursting to 3,000 below 1,000 GiB.
    Throughput: 128 MiB/s up to 170 GiB, 250 MiB/s above (with burst credits up to 333 GiB,
    always from 334 GiB), per the EBS volume types documentation.

    Example:
        >>> gp2_performance(100), gp2_performance(200), gp2_performance(1500)
        ((3000, 128), (3000, 250), (4500, 250))
    """
    baseline = min(16_000, max(100, 3 * size_gib))
    iops = max(baseline, 3000) if size_gib < 1000 else baseline
    throughput = 128 if size_gib <= 170 else 250
    return iops, throughput


def gp2_vs_gp3_monthly(size_gib: int) -> tuple[Decimal, Decimal]:
    """Monthly USD of a gp2 volume and of the gp3 volume that matches its IOPS and throughput.

    Example:
        >>> gp2_vs_gp3_monthly(100)
        (Decimal('10.00'), Decimal('8.120'))
        >>> gp2_vs_gp3_monthly(200)  # gp3 is not cheaper
        (Decimal('20.00'), Decimal('21.000'))
    """
    iops, throughput = gp2_performance(size_gib)
    gp2 = GP2_GB_MONTH * size_gib
    gp3 = (
        GP3_GB_MONTH * size_gib
        + GP3_IOPS_MONTH * max(0, iops - GP3_FREE_IOPS)
        + GP3_MIBPS_MONTH * max(0, throughput - GP3_FREE_MIBPS)
    )
    return gp2, gp3


def gp3_cheaper(size_gib: int) -> bool:
    """True when gp3 at equal IOPS and throughput costs strictly less than gp2.

    Example:
        >>> [gp3_cheaper(s) for s in (4, 6, 7, 100, 200, 251, 500, 1500, 16384)]
        [False, False, True, True, False, True, True, True, True]
    """
    gp2, gp3 = gp2_vs_gp3_monthly(size_gib)
    return gp3 < gp2
