"""Scan one account x region for the chosen checks: describe once, read metrics once, run rules.

The composition step (Cartography's ``sync_*``): for each resource family it describes what
the family's checks need (each record kind once per target), reads their CloudWatch statistics
in one ``GetMetricData`` pass per window, remembers unattached volumes in the findings store,
and runs the pure rules.  A family that fails (say ``AccessDenied`` on ELB) is reported with
its checks and left out of the scanned scope, while the other families go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tasks.aws.common import error_code, error_message
from tasks.aws.records import Inventory, MetricFrame, MetricRequest
from tasks.aws.session import TARGET_ERROR_HINTS, AwsAccess, Target
from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore
from tasks.idle import aws
from tasks.idle.checks import CHECKS
from tasks.idle.registry import (
    Check,
    CheckParams,
    RecordKind,
    RuleContext,
    Skipped,
    parse_tag,
    run_check,
)
from tasks.idle.rules_storage import unattached_key
from tasks.pricing.book import Prices
from tasks.settings import IdleSettings

#: Which clients each record kind is described with, its get_* and its transform_*.
_LOADERS: dict[RecordKind, tuple[tuple[str, ...], Callable[..., Any], Callable[..., Any]]] = {
    "instances": (("ec2",), aws.get_instances, aws.transform_instances),
    "volumes": (("ec2",), aws.get_volumes, aws.transform_volumes),
    "snapshots": (("ec2",), aws.get_snapshots, aws.transform_snapshots),
    "images": (("ec2",), aws.get_images, aws.transform_images),
    "addresses": (("ec2",), aws.get_addresses, aws.transform_addresses),
    "nat_gateways": (("ec2",), aws.get_nat_gateways, aws.transform_nat_gateways),
    "load_balancers": (("elbv2", "elb"), aws.get_load_balancers, aws.transform_load_balancers),
    "db_instances": (("rds",), aws.get_db_instances, aws.transform_db_instances),
    # S3 is global: the bucket list is filtered to the target's region
    "buckets": (("s3",), aws.get_buckets, aws.transform_buckets),
}


@dataclass(frozen=True)
class ScanError:
    """A target, or one resource family of it, that could not be scanned."""

    account_id: str
    region: str
    checks: tuple[str, ...]
    code: str
    message: str

    def __str__(self) -> str:
        hint = TARGET_ERROR_HINTS.get(self.code)
        return (
            f"{self.account_id}/{self.region} [{', '.join(self.checks)}]: {self.code}: "
            f"{self.message}" + (f" ({hint})" if hint else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "region": self.region,
            "checks": list(self.checks),
            "code": self.code,
            "message": self.message,
            "hint": TARGET_ERROR_HINTS.get(self.code, ""),
        }


def code_and_message(error: BaseException) -> tuple[str, str]:
    """(code, message) of an AWS error; the exception's type and text for anything else."""
    return error_code(error) or type(error).__name__, error_message(error) or str(error)


@dataclass
class TargetScan:
    """What scanning one account x region produced."""

    target: Target
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    scanned: set[tuple[str, str, str]] = field(default_factory=set)
    resources: int = 0


def families(checks: list[Check[Any]]) -> dict[str, list[Check[Any]]]:
    """Checks grouped by resource family, in check order."""
    grouped: dict[str, list[Check[Any]]] = {}
    for check in checks:
        grouped.setdefault(check.family, []).append(check)
    return grouped


class IdleScanner:
    """Scans targets for a set of checks; safe to call from several threads at once.

    Args:
        access: sessions and clients per account.
        checks: the checks to run.
        params: each check's validated parameters.
        prices: where savings come from.
        idle: the ``idle`` settings (tags).
        now: the scan time (UTC); metric windows end at its hour.
        store: remembers when volumes were first seen unattached (None: CreateTime only).
        on_step: called after each (target, family) step, for progress.

    Example:
        >>> scanner = IdleScanner(access, checks, params, prices, idle, now)  # doctest: +SKIP
        >>> scanner.scan_target(Target("123456789012", "us-east-1")).findings  # doctest: +SKIP
    """

    def __init__(
        self,
        access: AwsAccess,
        checks: list[Check[Any]],
        params: dict[str, CheckParams],
        prices: Prices,
        idle: IdleSettings,
        now: datetime,
        store: FindingsStore | None = None,
        on_step: Callable[[Target, str], None] | None = None,
    ) -> None:
        self.access = access
        self.checks = checks
        self.params = params
        self.prices = prices
        self.idle = idle
        self.now = now
        self.store = store
        self.on_step = on_step
        self._store_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._warm_services: set[str] = set()

    def context(self, target: Target, first_seen: dict[str, datetime] | None = None) -> RuleContext:
        return RuleContext(
            account_id=target.account_id,
            region=target.region,
            now=self.now,
            prices=self.prices,
            exclude_tag=parse_tag(self.idle.exclude_tag),
            protected_tag=parse_tag(self.idle.protected_tag),
            owner_tag=self.idle.owner_tag,
            first_seen=first_seen or {},
        )

    def _client(self, service: str, target: Target) -> Any:
        # The first client of a service parses its botocore model (EC2's is megabytes of JSON);
        # targets start together, so without this every thread parsed the same model at once.
        # Sessions share one model loader, so later clients of the service are cheap.
        if service not in self._warm_services:
            with self._client_lock:
                client = self.access.client(service, target.account_id, target.region)
                self._warm_services.add(service)
                return client
        return self.access.client(service, target.account_id, target.region)

    def _load(self, target: Target, kind: RecordKind, inventory: Inventory) -> None:
        services, get, transform = _LOADERS[kind]
        clients = [self._client(s, target) for s in services]
        if kind == "buckets":
            raw = get(clients[0], target.region)
        elif kind == "snapshots":
            raw = get(clients[0], target.account_id)
        else:
            raw = get(*clients)
        setattr(inventory, kind, transform(target.account_id, target.region, raw))

    def _metrics(
        self,
        target: Target,
        family_checks: list[Check[Any]],
        inventory: Inventory,
        ctx: RuleContext,
    ) -> MetricFrame:
        by_window: dict[int, list[MetricRequest]] = {}
        for check in family_checks:
            if check.metrics is None:
                continue
            params = self.params[check.name]
            days = check.window_days(params) or 14
            by_window.setdefault(days, []).extend(check.metrics(inventory, params, ctx))
        frame: MetricFrame = {}
        if not any(by_window.values()):
            return frame
        cloudwatch = self._client("cloudwatch", target)
        for days, requests in by_window.items():
            start, end = aws.metric_window(self.now, days)
            frame.update(aws.get_metric_data(cloudwatch, requests, start, end))
        return frame

    def _first_seen_unattached(self, target: Target, inventory: Inventory) -> dict[str, datetime]:
        unattached = {
            unattached_key(target.account_id, target.region, v.volume_id): v
            for v in inventory.volumes
            if v.state == "available" and not v.attached
        }
        since = {k: v.create_time for k, v in unattached.items() if v.create_time is not None}
        if self.store is None:
            return since
        attached = [
            unattached_key(target.account_id, target.region, v.volume_id)
            for v in inventory.volumes
            if v.attached
        ]
        with self._store_lock:
            first_seen = self.store.observe(list(unattached), now=self.now, since=since)
            self.store.forget(attached)
        return first_seen

    def scan_target(self, target: Target) -> TargetScan:
        """Scan one account x region; a failing family is reported, the others go on.

        Raises:
            ClientError: the account's session cannot be had at all (AssumeRole denied): the
                whole target fails and the caller reports it.
        """
        self.access.session(target.account_id)  # fail the whole target early if denied
        outcome = TargetScan(target)
        inventory = Inventory(target.account_id, target.region)
        loaded: set[RecordKind] = set()
        for family, family_checks in families(self.checks).items():
            try:
                needs = {kind for check in family_checks for kind in check.needs}
                for kind in sorted(needs - loaded):
                    self._load(target, kind, inventory)
                    loaded.add(kind)
                first_seen: dict[str, datetime] = {}
                if any(c.name == "ebs-unattached" for c in family_checks):
                    first_seen = self._first_seen_unattached(target, inventory)
                ctx = self.context(target, first_seen)
                metrics = self._metrics(target, family_checks, inventory, ctx)
                for check in family_checks:
                    result = run_check(check, inventory, metrics, self.params[check.name], ctx)
                    outcome.findings.extend(result.findings)
                    outcome.skipped.extend(result.skipped)
                    outcome.scanned.add((check.name, target.account_id, target.region))
            except (ClientError, BotoCoreError) as error:
                code, message = code_and_message(error)
                outcome.errors.append(
                    ScanError(
                        target.account_id,
                        target.region,
                        tuple(c.name for c in family_checks),
                        code,
                        message,
                    )
                )
            finally:
                if self.on_step is not None:
                    self.on_step(target, family)
        outcome.resources = inventory.resource_count()
        return outcome


__all__ = ["CHECKS", "IdleScanner", "ScanError", "TargetScan", "families"]
