"""Seeding orchestration: organisation, fleet, cost ledger, export, services and ground truth.

Runs inside the server process (the fleet reaches moto's backend objects directly for bulk
metrics and backdating).  The order is the contract's (docs/sandbox-contract.md); each step is
deterministic for the seed, so two sandboxes with the same seed and size hold the same
organisation, the same resource ids and the same ledger.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from moto.moto_api._internal import mock_random

from sandbox import cloudwatch_index
from sandbox.context import SeedContext
from sandbox.cost_explorer import OPERATIONS, handle_cost_explorer
from sandbox.export import write_export
from sandbox.fleet import seed_fleet, seed_organization
from sandbox.iac import seed_iac
from sandbox.ledger import Ledger, costs_ground_truth, generate_ledger
from sandbox.services import SandboxService, build_services

log = logging.getLogger(__name__)

EXPORT_BUCKET = "finops-sandbox-cur"
EXPORT_PREFIX = "cur"
EXPORT_NAME = "finops-focus"


@dataclass
class Seeded:
    """What seeding produced: the ledger (served by Cost Explorer) and the ground truth."""

    ctx: SeedContext
    accounts: list[str]
    ledger: Ledger
    ground_truth: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    #: the sandbox's own service modules (:mod:`sandbox.services`), built over this world
    services: tuple[SandboxService, ...] = ()

    def cost_explorer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one Cost Explorer request over the ledger, as of today (UTC)."""
        today = datetime.now(self.ctx.now.tzinfo).date()
        return handle_cost_explorer(self.ledger, operation, body, today)

    @property
    def cost_operations(self) -> frozenset[str]:
        """The Cost Explorer operations the ledger answers (others go to moto)."""
        return frozenset(OPERATIONS)

    def restate(self, day: date, factor: float) -> dict[str, Any]:
        """Restate one day of the ledger and write a new export version for it."""
        period = self.ledger.restate(day, factor)
        export = write_export(
            self.ctx.client("s3", self.ctx.management_account_id, "us-east-1"),
            self.ledger,
            bucket=EXPORT_BUCKET,
            prefix=EXPORT_PREFIX,
            export_name=EXPORT_NAME,
            now=datetime.now(self.ctx.now.tzinfo),
        )
        self.ground_truth.update(costs_ground_truth(self.ledger))
        self.ground_truth["export"] = export
        return {
            "date": day.isoformat(),
            "factor": factor,
            "billing_period": period,
            "version": self.ledger.versions.get(period),
            "export": export,
        }


def seed_sandbox(ctx: SeedContext, workdir: Path | None = None) -> Seeded:
    """Seed the whole sandbox into the running server (the contract's order).

    Args:
        ctx: seed, clock, size and clients against the server's own endpoint.
        workdir: the folder of the state file; the Terraform repository of the code-owned
            part of the fleet is created under it (``iac/fleet.git``); None: a new temporary
            folder.

    Returns:
        The ledger and the ground truth (JSON-ready).

    Example:
        >>> seeded = seed_sandbox(ctx)  # doctest: +SKIP
        >>> seeded.ground_truth["accounts"][0] == ctx.management_account_id  # doctest: +SKIP
    """
    timings: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)
        log.info("seeded %s in %.1f s", name, timings[name])

    # moto draws resource ids from its own random: seed it so ids are the same for a seed
    mock_random.seed(ctx.seed)
    # seeded metric history is shifted by the hours elapsed since now (see cloudwatch_index)
    cloudwatch_index.set_seeded_at(ctx.now)

    started = time.perf_counter()
    accounts = seed_organization(ctx)
    step("organization", started)

    started = time.perf_counter()
    fleet_truth = seed_fleet(ctx, accounts)
    step("fleet", started)

    started = time.perf_counter()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="finops-sandbox-"))
    iac_truth = seed_iac(ctx, accounts, fleet_truth["resources"], workdir)
    step("iac", started)

    started = time.perf_counter()
    regions = list(ctx.size.regions)
    ledger = generate_ledger(ctx.seed, accounts, regions, ctx.now.date(), ctx.size.cost_days)
    step("ledger", started)

    started = time.perf_counter()
    export = write_export(
        ctx.client("s3", ctx.management_account_id, "us-east-1"),
        ledger,
        bucket=EXPORT_BUCKET,
        prefix=EXPORT_PREFIX,
        export_name=EXPORT_NAME,
        now=ctx.now,
    )
    step("export", started)

    ground_truth: dict[str, Any] = {
        **fleet_truth,
        **costs_ground_truth(ledger),
        "accounts": accounts,
        "regions": regions,
        "export": export,
        "seed": ctx.seed,
        "size": ctx.size.as_dict(),
        "seeded_at": ctx.now.isoformat(),
        "management_account_id": ctx.management_account_id,
        "member_role_name": ctx.member_role_name,
        "iac": iac_truth,
    }
    seeded = Seeded(ctx, accounts, ledger, ground_truth, timings)
    started = time.perf_counter()
    # each service module may add its own section to the ground truth while it is built
    seeded.services = build_services(seeded)
    step("services", started)
    return seeded
