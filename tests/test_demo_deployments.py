"""The demo's deployments are prefect.yaml's on the local pool, and the demo waits for its own
remediation run only (issue 16): against the session's Prefect test server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _yaml_schedule(entry: dict[str, Any]) -> tuple[str, Any, str | None]:
    """A prefect.yaml schedule as (kind, value, timezone)."""
    if "cron" in entry:
        return ("cron", entry["cron"], entry.get("timezone"))
    if "interval" in entry:
        interval = entry["interval"]
        seconds = interval if isinstance(interval, int | float) else interval.total_seconds()
        return ("interval", float(seconds), entry.get("timezone"))
    return ("rrule", entry["rrule"], entry.get("timezone"))


def _server_schedule(schedule: Any) -> tuple[str, Any, str | None]:
    """A registered deployment's schedule as (kind, value, timezone)."""
    if getattr(schedule, "cron", None) is not None:
        return ("cron", schedule.cron, schedule.timezone)
    if isinstance(getattr(schedule, "interval", None), timedelta):
        return ("interval", schedule.interval.total_seconds(), schedule.timezone)
    return ("rrule", schedule.rrule, schedule.timezone)


def _yaml_trigger(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": entry["name"],
        "enabled": entry.get("enabled", True),
        "match": dict(entry.get("match") or {}),
        "expect": set(entry.get("expect") or []),
        "posture": entry.get("posture", "Reactive"),
        "threshold": entry.get("threshold", 1),
        "parameters": dict(entry.get("parameters") or {}),
    }


def _server_trigger(automation: Any, deployment_id: UUID) -> dict[str, Any]:
    (action,) = automation.actions
    assert action.deployment_id == deployment_id, automation.name
    trigger = automation.trigger
    return {
        "name": automation.name,
        "enabled": automation.enabled,
        "match": dict(trigger.match.root),
        "expect": set(trigger.expect),
        "posture": trigger.posture.value,
        "threshold": trigger.threshold,
        "parameters": dict(action.parameters or {}),
    }


def test_the_demos_deployments_carry_what_prefect_yaml_defines(prefect_harness: None) -> None:
    """Every prefect.yaml deployment (the event handler included), registered by the demo, has
    prefect.yaml's schedules (cron/interval and timezone; paused), triggers, concurrency limit
    and parameters (but for the documented sandbox overlay), on the local process pool."""
    from prefect.client.orchestration import get_client

    from deployments.local import LOCAL_POOL, PARAMETER_OVERLAY, read_project
    from deployments.project import PREFECT_YAML, load_deployments
    from finops.demo.admin import register_deployments

    production = read_project(PREFECT_YAML)["deployments"]
    flow_names = {d.name: d.flow_name for d in load_deployments(PREFECT_YAML)}
    registered = register_deployments()
    assert set(registered) == {e["name"] for e in production}
    assert "handle-aws-event" in registered
    with get_client(sync_client=True) as client:
        for entry in production:
            name = entry["name"]
            deployment = client.read_deployment_by_name(f"{flow_names[name]}/{name}")
            assert str(deployment.id) == registered[name]
            assert deployment.work_pool_name == LOCAL_POOL, name
            assert client.read_work_pool(LOCAL_POOL).type == "process"

            expected_schedules = [_yaml_schedule(s) for s in entry.get("schedules") or []]
            assert [_server_schedule(s.schedule) for s in deployment.schedules] == (
                expected_schedules
            ), name
            # Registered as they are, paused: the demo runs finops-daily itself.
            assert all(s.active is False for s in deployment.schedules), name

            limit = entry.get("concurrency_limit")
            if limit is None:
                assert deployment.global_concurrency_limit is None, name
            else:
                limit = limit if isinstance(limit, dict) else {"limit": limit}
                assert deployment.global_concurrency_limit is not None, name
                assert deployment.global_concurrency_limit.limit == limit["limit"], name
                if "collision_strategy" in limit:
                    assert deployment.concurrency_options is not None, name
                    assert (
                        deployment.concurrency_options.collision_strategy.value
                        == (limit["collision_strategy"])
                    ), name

            overlay = PARAMETER_OVERLAY.get(name, {})
            parameters = dict(entry.get("parameters") or {})
            assert deployment.parameters == {**parameters, **overlay}, name
            assert {k: v for k, v in deployment.parameters.items() if k not in overlay} == {
                k: v for k, v in parameters.items() if k not in overlay
            }, name

            owned = client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
            got = sorted(
                (_server_trigger(a, deployment.id) for a in owned), key=lambda t: t["name"]
            )
            want = sorted(
                (_yaml_trigger(t) for t in entry.get("triggers") or []), key=lambda t: t["name"]
            )
            assert got == want, name
    handler = next(e for e in production if e["name"] == "handle-aws-event")
    assert handler.get("triggers"), "prefect.yaml starts the event handler from events"


def test_the_deployments_line_says_the_schedules_are_paused() -> None:
    from finops.demo.admin import describe_deployments

    line = describe_deployments(ROOT)
    assert line.startswith("registered 8 deployments on finops-local")  # scan-idle-shard too
    assert "4 schedules as in prefect.yaml, all paused" in line
    assert "finops-daily's is on in prefect.yaml" in line
    assert "event triggers: check-cost-anomalies, handle-aws-event" in line
    assert "5 with a concurrency limit" in line


@pytest.fixture
def remediation_deployment(prefect_harness: None) -> str:
    """A fresh deployment standing in for remediate-findings (no worker picks its runs)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("wait-for-paused-run")
        return str(client.create_deployment(flow_id=flow_id, name=f"remediate-{uuid4().hex[:8]}"))


def _run(deployment_id: str, state: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(UUID(deployment_id))
        client.set_flow_run_state(run.id, state, force=True)
        return client.read_flow_run(run.id)


def test_wait_for_paused_run_ignores_an_older_completed_run(remediation_deployment: str) -> None:
    """A kept Prefect database holds earlier demos' remediation runs, finished; the wait returns
    the run this demo started, found by its id, by being created after a time, or as the newest
    run of the deployment."""
    from prefect.states import Completed, Paused

    from finops.demo.admin import wait_for_paused_run
    from finops.demo.errors import DemoError

    old = [_run(remediation_deployment, Completed()) for _ in range(4)]
    new = _run(remediation_deployment, Paused())
    assert new.state.is_paused()
    assert all(run.created < new.created for run in old)

    mark = old[-1].created
    assert wait_for_paused_run(remediation_deployment, 10, created_after=mark) == str(new.id)
    assert wait_for_paused_run(remediation_deployment, 10, run_id=str(new.id)) == str(new.id)
    # The call the demo makes today (no new argument): the newest run is this demo's.
    assert wait_for_paused_run(remediation_deployment, 10) == str(new.id)

    # This demo's own run finishing without asking is still said, naming that run.
    done = _run(remediation_deployment, Completed())
    with pytest.raises(DemoError, match=f"remediation run {done.id} ended as Completed"):
        wait_for_paused_run(remediation_deployment, 10, created_after=new.created)
    # No run of this demo at all: waits, then says so (never an earlier demo's run).
    with pytest.raises(DemoError, match="no remediation run waited for approval within 2 s"):
        wait_for_paused_run(remediation_deployment, 2, created_after=done.created)
