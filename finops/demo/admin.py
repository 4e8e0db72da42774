"""Prefect administration for the demo: the work pool, the deployments, runs and the approval.

The deployments are prefect.yaml's with the local overlay of ``deployments.local`` (the same set
as ``deployments/prefect.local.yaml``), validated by ``deployments.project`` with Prefect's own
models, and registered through Prefect's runner API on the local process pool: prefect.yaml's
schedules (paused, see ``describe_deployments``), triggers (automations owned by the deployment),
concurrency limits and parameters; only the pool, the pull step, the ``sandbox`` tag and the
sandbox's remediation parameters differ (``deployments/local.py``).  ``wait_for_paused_run`` waits
for this demo's remediation run only, not an earlier demo's kept in the same Prefect database.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployments.local import LOCAL_POOL, local_project
from finops.demo.errors import DemoError
from finops.demo.processes import ROOT
from finops.demo.seams import safe_actions

WORK_POOL = LOCAL_POOL
AUTO_APPROVER = "demo-auto-approver"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@contextmanager
def prefect_settings(env: dict[str, str]) -> Iterator[None]:
    """Point this process's Prefect client at the demo server for the duration of a block."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    with temporary_settings(
        updates={
            PREFECT_API_URL: env["PREFECT_API_URL"],
            PREFECT_LOCAL_STORAGE_PATH: env["PREFECT_LOCAL_STORAGE_PATH"],
        }
    ):
        yield


def demo_deployments(checkout: Path = ROOT) -> tuple[str, list[dict[str, Any]]]:
    """The pull step's directory and the deployments the demo registers, validated.

    Raises:
        deployments.project.DeploymentConfigError: prefect.yaml is wrong (one line).
    """
    from deployments.project import validate_deployments

    project = local_project(checkout / "prefect.yaml", directory=str(checkout))
    validate_deployments(project, "prefect.yaml (local overlay)", checkout)
    ((step, spec),) = project["pull"][0].items()
    assert step.endswith("set_working_directory"), step
    return str(spec["directory"]), project["deployments"]


def _deployment_arguments(entry: dict[str, Any]) -> dict[str, Any]:
    """``to_deployment`` keyword arguments for one prefect.yaml deployment entry."""
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    name = str(entry["name"])
    concurrency = entry.get("concurrency_limit")
    pool = entry.get("work_pool") or {}
    return {
        "name": name,
        "description": entry.get("description"),
        "tags": list(entry.get("tags") or []),
        "parameters": dict(entry.get("parameters") or {}),
        "work_pool_name": pool.get("name") or WORK_POOL,
        "job_variables": dict(pool.get("job_variables") or {}),
        "schedules": [
            _schedule_config_to_deployment_schedule(dict(s)) for s in entry.get("schedules") or []
        ],
        "triggers": _initialize_deployment_triggers(
            name, copy.deepcopy(list(entry.get("triggers") or []))
        ),
        "concurrency_limit": (
            ConcurrencyLimitConfig(**concurrency) if isinstance(concurrency, dict) else concurrency
        ),
    }


def register_deployments(pool: str = WORK_POOL, checkout: Path = ROOT) -> dict[str, str]:
    """Create the local process work pool and register prefect.yaml's deployments on it (with
    the local overlay); return deployment ids by name."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    directory, entries = demo_deployments(checkout)
    registered: dict[str, str] = {}
    for entry in entries:
        arguments = _deployment_arguments(entry)
        if arguments["work_pool_name"] != pool:
            raise DemoError(f"deployment {arguments['name']} is on {arguments['work_pool_name']}")
        # from_source over the checkout gives the deployment a set_working_directory pull
        # step to it, so the process worker runs the flow in this checkout.
        sourced: Any = flow.from_source(source=directory, entrypoint=entry["entrypoint"])
        registered[arguments["name"]] = str(sourced.to_deployment(**arguments).apply())
    return registered


def describe_deployments(checkout: Path = ROOT) -> str:
    """The console line listing the deployments the demo registers, and what they carry.

    Their schedules are prefect.yaml's, registered paused (the demo starts ``finops-daily``
    itself, and a 06:00 run would disturb it); the line says so, and which ones prefect.yaml has
    on, so nobody reads the paused toggles in the UI as a missing schedule.
    """
    from deployments.local import read_project

    _, entries = demo_deployments(checkout)
    production = read_project(checkout / "prefect.yaml")["deployments"]
    active = [
        str(e["name"])
        for e in production
        for s in e.get("schedules") or []
        if s.get("active", True)
    ]
    schedules = sum(len(e.get("schedules") or []) for e in entries)
    triggered = [str(e["name"]) for e in entries if e.get("triggers")]
    limited = sum(1 for e in entries if e.get("concurrency_limit") is not None)
    owners = ", ".join(name + "'s" for name in active)
    on = f"; {owners} {'is' if len(active) == 1 else 'are'} on in prefect.yaml" if active else ""
    return (
        f"registered {len(entries)} deployments on {WORK_POOL}: "
        f"{schedules} schedules as in prefect.yaml, all paused (the demo starts finops-daily "
        f"itself{on}); event triggers: {', '.join(triggered) or 'none'}; "
        f"{limited} with a concurrency limit"
    )


def wait_for_paused_run(
    deployment_id: str,
    timeout_s: float = 240.0,
    *,
    run_id: str | None = None,
    created_after: datetime | None = None,
) -> str:
    """The id of this demo's remediation run once it waits for approval.

    A kept Prefect database also holds earlier demos' runs of the deployment, finished: only the
    run this demo's ``finops-daily`` started counts, the newest one of those allowed.

    Args:
        deployment_id: the remediate-findings deployment.
        timeout_s: how long to wait for the run to pause.
        run_id: that run's id when known (``finops-daily``'s ``approval_flow_run_id``).
        created_after: only runs the server created after this (e.g. the ``finops-daily``
            run's ``created``); with neither, the deployment's newest run.

    Raises:
        DemoError: that run ended before asking for approval, or no run paused in time.
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    if created_after is not None and created_after.tzinfo is None:
        created_after = created_after.replace(tzinfo=UTC)
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = [
                run
                for run in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(
                        id=DeploymentFilterId(any_=[UUID(deployment_id)])
                    ),
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)]))
                    if run_id
                    else None,
                    # The newest first: a kept database may hold more runs than one page.
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=50,
                )
                if run.created is not None
                and (created_after is None or run.created > created_after)
            ]
            if runs:
                run = max(runs, key=lambda r: r.created or EPOCH)
                if run.state is not None and run.state.is_paused():
                    return str(run.id)
                if run.state is not None and run.state.is_final():
                    raise DemoError(
                        f"the remediation run {run.id} ended as {run.state.name} before asking "
                        "for approval"
                    )
            time.sleep(1)
    raise DemoError(f"no remediation run waited for approval within {timeout_s:.0f} s")


def wait_for_final(run_id: str, on_wait: Callable[[], None] | None = None) -> Any:
    """Wait until a flow run is final and return it."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(UUID(run_id))
            if run.state is not None and run.state.is_final():
                return run
            if on_wait is not None:
                on_wait()
            time.sleep(1)


def safe_fingerprints(findings_url: str) -> list[str]:
    """Findings whose proposed action is reversible or backed up, can be carried out on the
    resource, and whose resource is not protected (so every approval is one the run acts on)."""
    from tasks.findings.store import ACTIONABLE, FindingsStore
    from tasks.remediation.actions import ACTIONS
    from tasks.remediation.menu import default_action

    safe = safe_actions()
    chosen = []
    for stored in FindingsStore(findings_url).list(statuses=sorted(ACTIONABLE)):
        finding = stored.finding
        action = default_action(finding.check, finding.recommended_actions)
        spec = ACTIONS.get(action)
        if (
            action in safe
            and spec is not None
            and spec.applies_to(finding)
            and not finding.evidence.get("protected")
        ):
            chosen.append(stored.fingerprint)
    return chosen


def auto_approve(paused_id: str, findings_url: str) -> int:
    """Approve the safe findings of the waiting run as ``AUTO_APPROVER``; how many."""
    from finops.commands.findings import approve

    chosen = safe_fingerprints(findings_url)
    approve(
        paused_id,
        approver=AUTO_APPROVER,
        reject=False,
        only=chosen,
        action=[],
        comment="DEMO_AUTO_APPROVE=1: safe actions only",
    )
    return len(chosen)
