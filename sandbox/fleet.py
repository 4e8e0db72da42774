"""Seed the sandbox organisation and its fleet, and say what every idle check should conclude.

:func:`seed_organization` creates the organisation (management account 123456789012 plus
``size.accounts - 1`` members, each with an assumable member role).  :func:`seed_fleet` fills
every account x region with resources in known behaviour profiles, writes their CloudWatch
history (hourly, ``size.days`` days ending at the seeding time) in bulk, backdates their ages in
moto's backend objects, and returns the ground truth: one record per resource with the verdict
of every check of issue 5 that applies to its type.  Both are deterministic for a seed (moto's
``mock_random`` is seeded by :mod:`sandbox.seed`; values come from ``SeedContext.rng``).

Profiles (per account x region; counts: one of each, the rest by weight; see docs/sandbox.md):

====================  =====================================================  =================
EC2 profile           behaviour                                              idle / peak / stop
====================  =====================================================  =================
busy                  CPU 35-85 %, network 100-400 MB/h each way             F / F / F
idle                  CPU 0.5-3 %, network 5-50 kB/h each way (<2.4 MB/day)  T / T / F
bursty (trap)         idle, plus one hour a day at 95-100 % (day avg <7.1%)   T / F / F
proxy (trap)          CPU 0.5-3 %, network 100-400 MB/h each way             F / F / F
few-datapoints (trap) launched 2 days ago, 48 idle hourly points: skipped     F / F / F
stopped-long          stopped 60 days ago (reason text backdated), root vol  F / F / T
stopped-recent        stopped 5 days ago, busy before                        F / F / F
excluded-idle (trap)  idle, ``finops:exclude=true``: never reported          F / F / F
protected-idle        idle, ``finops:protected=true``: reported, not fixed   T / T / F
====================  =====================================================  =================

Many instances carry ``owner=<name>``.  Root volumes are 8 GiB gp3 with the instance's tags,
lightly used (50-300 ops/h) or busy; they report no ops while their instance is stopped.
Volumes: attached busy / idle (exactly zero ops), unattached 2 and 60 days old, gp2 of 100,
200, 500 and 1,500 GiB (all attached and busy), excluded and protected unattached ones.
gp2 -> gp3 at equal IOPS and throughput (gp2 $0.10/GB-month; gp3 $0.08/GB-month,
$0.005/IOPS-month above 3,000, $0.04/MiB/s-month above 125): 100 GiB $10.00 vs $8.12,
500 GiB $50.00 vs $45.00, 1,500 GiB $150.00 vs $132.50 (4,500 IOPS), but 200 GiB
$20.00 vs $21.00 -- gp2 bursts to 250 MiB/s above 170 GiB -- so ``ebs-gp2`` is False there (the
trap).  At list prices gp3 is never dearer on IOPS alone: only throughput makes a trap
(1-6 GiB and 171-250 GiB).
Snapshots: 3 days; 150 days with its volume; 200 days orphaned (stale); 10 days orphaned;
200 days used by an AMI; excluded orphan.  Elastic IPs: associated, unassociated, excluded,
and the NAT gateways' (associated).  Load balancers: ALB/NLB/Classic busy and idle (zero
traffic), an ALB with no healthy targets.  NAT gateways and RDS: busy and idle (exact zero).
Buckets: no uploads; 30-day uploads (stale); 30-day uploads with an abort rule; 2-day uploads;
an excluded one with 30-day uploads.  Rightsizing profiles (one instance each, never idle):
:mod:`sandbox.fleet_rightsizing`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sandbox import fleet_moto
from sandbox.context import SeedContext
from sandbox.fleet_ec2 import (
    seed_elastic_ips,
    seed_image,
    seed_instances,
    seed_network,
    seed_snapshots,
    seed_volumes,
)
from sandbox.fleet_profiles import (
    MULTIPART_MIN_AGE_DAYS,
    PEAK_CPU_MAX_PCT,
    SNAPSHOT_MIN_AGE_DAYS,
    STOPPED_MIN_DAYS,
    TA_CPU_AVG_PCT,
    TA_MIN_IDLE_DAYS,
    TA_NETWORK_BYTES_PER_DAY,
    TA_WINDOW_DAYS,
    UNATTACHED_MIN_DAYS,
)
from sandbox.fleet_region import RegionSeed
from sandbox.fleet_rightsizing import seed_rightsizing
from sandbox.fleet_services import (
    seed_buckets,
    seed_databases,
    seed_load_balancers,
    seed_nat_gateways,
)

__all__ = ["THRESHOLDS", "VALID_DAYS", "seed_fleet", "seed_organization"]

#: Days after seeding for which every age-based verdict of the ground truth still holds.
VALID_DAYS = 4

#: The thresholds the profiles are placed around (the defaults of the checks of issue 5).
THRESHOLDS: dict[str, Any] = {
    "ec2-idle": {
        "daily_avg_cpu_pct_at_most": TA_CPU_AVG_PCT,
        "daily_network_bytes_at_most": TA_NETWORK_BYTES_PER_DAY,
        "min_idle_days": TA_MIN_IDLE_DAYS,
        "window_days": TA_WINDOW_DAYS,
    },
    "ec2-idle:peak": {
        "daily_max_cpu_pct_below": PEAK_CPU_MAX_PCT,
        "daily_network_bytes_below": TA_NETWORK_BYTES_PER_DAY,
        "window_days": TA_WINDOW_DAYS,
    },
    "ec2-stopped": {"stopped_days_more_than": STOPPED_MIN_DAYS},
    "ebs-unattached": {"unattached_days_at_least": UNATTACHED_MIN_DAYS},
    "ebs-gp2": {"rule": "gp3 at equal or better IOPS and throughput strictly cheaper"},
    "ebs-idle": {"read_plus_write_ops_in_window": 0},
    "snapshot-stale": {"age_days_more_than": SNAPSHOT_MIN_AGE_DAYS},
    "elb-idle": {"requests_or_bytes_in_window": 0, "or": "no healthy targets"},
    "nat-idle": {"bytes_out_in_window": 0},
    "rds-idle": {"connections_in_window": 0},
    "s3-stale-multipart": {"upload_age_days_more_than": MULTIPART_MIN_AGE_DAYS},
}


def seed_organization(ctx: SeedContext) -> list[str]:
    """Create the organisation and an assumable member role in every member account.

    Args:
        ctx: the seeding context (management account, member role name, size).

    Returns:
        Account ids, the management account first, then members in creation order.

    Example:
        >>> accounts = seed_organization(ctx)  # doctest: +SKIP
        >>> accounts[0]  # doctest: +SKIP
        '123456789012'
    """
    management = ctx.management_account_id
    orgs = ctx.client("organizations", management, "us-east-1")
    orgs.create_organization(FeatureSet="ALL")
    accounts = [management]
    for n in range(1, ctx.size.accounts):
        # like AWS, CreateAccount makes the member role, trusting the management account
        status = orgs.create_account(
            Email=f"member-{n}@sandbox.finops.example",
            AccountName=f"sandbox-member-{n}",
            RoleName=ctx.member_role_name,
        )["CreateAccountStatus"]
        accounts.append(str(status["AccountId"]))
    for account_id in accounts[1:]:
        iam = ctx.client("iam", account_id, "us-east-1")
        iam.get_role(RoleName=ctx.member_role_name)  # fails loudly if the role is missing
        # moto does not load AWS managed policies; an inline one says the same
        iam.put_role_policy(
            RoleName=ctx.member_role_name,
            PolicyName="sandbox-administrator",
            PolicyDocument=(
                '{"Version": "2012-10-17", "Statement": '
                '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
            ),
        )
    return accounts


def seed_fleet(ctx: SeedContext, accounts: list[str]) -> dict[str, Any]:
    """Seed every account x region and return the resources ground truth.

    Args:
        ctx: the seeding context; ``ctx.size`` says how many instances and volumes, how many
            days of metrics (at least 14: the checks' window) and which regions.
        accounts: account ids from :func:`seed_organization`.

    Returns:
        ``{"resources": [...], "fleet_thresholds": {...}, "fleet_valid_until": iso time}``;
        each resource record has
        ``account_id, region, resource_type, resource_id, arn, profile, tags, excluded,
        protected, expected`` (check name -> bool, every check of its type) and ``facts``.

    Raises:
        ValueError: when ``ctx.size.days`` is shorter than the 14-day window of the checks.

    Example:
        >>> truth = seed_fleet(ctx, seed_organization(ctx))  # doctest: +SKIP
        >>> {r["resource_type"] for r in truth["resources"]} >= {"ec2-instance"}  # doctest: +SKIP
        True
    """
    if ctx.size.days < TA_WINDOW_DAYS:
        raise ValueError(
            f"the fleet needs at least {TA_WINDOW_DAYS} days of metrics (the idle checks' window),"
            f" got days={ctx.size.days}; use --days {TA_WINDOW_DAYS} or more"
        )
    fleet_moto.skip_public_amis()  # before the first EC2 backend of the fleet is created
    fleet_moto.install_s3_multipart_times()
    fleet_moto.install_snapshot_owner_filter()
    fleet_moto.install_fast_lookups()
    resources: list[dict[str, Any]] = []
    for account_id in accounts:
        for region in ctx.size.regions:
            resources.extend(seed_region(ctx, account_id, region))
    return {
        "resources": resources,
        "fleet_thresholds": THRESHOLDS,
        # the youngest aged resources (2-day-old unattached volumes and uploads) cross the
        # 7-day thresholds after 5 days of uptime; metric history moves with the clock
        "fleet_valid_until": (ctx.now + timedelta(days=VALID_DAYS)).isoformat(),
    }


def seed_region(ctx: SeedContext, account_id: str, region: str) -> list[dict[str, Any]]:
    """Seed one account x region; returns its ground-truth records.

    The order of the steps is part of the determinism: moto draws ids from one random stream.
    """
    seed = RegionSeed(ctx, account_id, region)
    seed_network(seed)
    seed_image(seed)
    seed_instances(seed)
    seed_volumes(seed)
    seed_snapshots(seed)
    seed_elastic_ips(seed)
    seed_load_balancers(seed)
    seed_nat_gateways(seed)
    seed_databases(seed)
    seed_buckets(seed)
    seed_rightsizing(seed)  # last, so the idle fleet's ids stay as they were
    return seed.records
