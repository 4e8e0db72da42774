"""prefect.yaml and the local pool's file: Prefect's own models, the flows they name, and
`prefect deploy --all` against a throwaway Prefect server with an `ecs` pool built from the base
job template."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deployments.project import (
    LOCAL_YAML,
    PREFECT_YAML,
    DeploymentConfigError,
    check_project,
    load_deployments,
    render_pool_template,
)
from finops.cli import app

ROOT = Path(__file__).resolve().parents[1]
FLOWS = {
    "finops-daily",
    "ingest-costs",
    "check-cost-anomalies",
    "scan-idle-resources",
    "remediate-findings",
    "report",
    "handle-aws-event",
}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:test"
PREFECT = Path(sys.executable).with_name("prefect")


def test_every_flow_has_an_ecs_deployment_with_only_image_cpu_memory() -> None:
    deployments = {d.name: d for d in load_deployments(PREFECT_YAML)}
    assert {d.flow_name for d in deployments.values()} == FLOWS
    for deployment in deployments.values():
        assert deployment.pool == "ecs"
        assert set(deployment.job_variables) == {"image", "cpu", "memory"}
        assert deployment.job_variables["image"] == "{{ $FINOPS_IMAGE }}"
    # Each size is a whole mapping (YAML merges are shallow): the large size reached the scan.
    assert deployments["scan-idle-resources"].job_variables["memory"] == 8192
    assert deployments["report"].job_variables["memory"] == 1024


def test_daily_runs_never_overlap_and_one_daily_schedule_is_on() -> None:
    deployments = {d.name: d for d in load_deployments(PREFECT_YAML)}
    for name in ("finops-daily", "ingest-costs", "check-cost-anomalies", "scan-idle-resources"):
        assert deployments[name].concurrency is not None, name
        assert deployments[name].concurrency["limit"] == 1
        assert deployments[name].concurrency["collision_strategy"] in {"CANCEL_NEW", "ENQUEUE"}
        (schedule,) = deployments[name].schedules
        assert schedule["timezone"] == "UTC"
    active = [n for n, d in deployments.items() if any(s["active"] for s in d.schedules)]
    # The parent chains the stages, so only it runs on a schedule by default.
    assert active == ["finops-daily"]
    assert deployments["remediate-findings"].concurrency is None


def test_triggers_start_the_right_flow_with_the_event() -> None:
    from tasks.events.classify import EventKind

    deployments = {d.name: d for d in load_deployments(PREFECT_YAML)}
    assert set(deployments["check-cost-anomalies"].trigger_events) == {
        "finops.aws.budget.alert",
        "finops.aws.cost-anomaly.detected",
    }
    assert set(deployments["handle-aws-event"].trigger_events) == {
        "finops.aws.ec2.state-change",
        "finops.aws.ebs.volume",
        "finops.aws.ebs.snapshot",
    }
    every_event = {f"finops.aws.{kind.value}" for kind in EventKind}
    triggered = {e for d in deployments.values() for e in d.trigger_events}
    assert triggered == every_event, "every event the listener emits starts something"


def test_local_pool_file_mirrors_prefect_yaml() -> None:
    from finops.demo import WORK_POOL

    ecs = {d.name: d for d in load_deployments(PREFECT_YAML)}
    local = {d.name: d for d in load_deployments(LOCAL_YAML)}
    assert set(local) == set(ecs)
    for name, deployment in local.items():
        assert deployment.pool == WORK_POOL == "finops-local"
        assert deployment.entrypoint == ecs[name].entrypoint
        assert deployment.trigger_events == ecs[name].trigger_events
        assert deployment.concurrency == ecs[name].concurrency
        # The same schedules, all paused: the demo runs finops-daily itself.
        assert deployment.schedules == [{**s, "active": False} for s in ecs[name].schedules]
        if name != "remediate-findings":
            assert deployment.parameters == ecs[name].parameters
    # The sandbox pauses in process; production suspends (no Fargate task held while waiting).
    assert local["remediate-findings"].parameters["wait_mode"] == "pause"
    assert ecs["remediate-findings"].parameters["wait_mode"] == "suspend"
    text = LOCAL_YAML.read_text()
    assert "set_working_directory" in text


def _without_overlay(entry: dict[str, Any]) -> dict[str, Any]:
    """A deployment entry less what the local overlay may change (deployments/local.py)."""
    from deployments.local import LOCAL_TAG, PARAMETER_OVERLAY

    rest = {k: v for k, v in entry.items() if k not in {"work_pool", "tags", "schedules"}}
    overlaid = set(PARAMETER_OVERLAY.get(entry["name"], {}))
    rest["parameters"] = {
        k: v for k, v in (entry.get("parameters") or {}).items() if k not in overlaid
    }
    rest["tags"] = [t for t in entry.get("tags") or [] if t != LOCAL_TAG]
    rest["schedules"] = [
        {k: v for k, v in s.items() if k != "active"} for s in entry.get("schedules") or []
    ]
    return rest


def test_local_file_is_prefect_yaml_with_only_the_overlay() -> None:
    """The local file, read as data, is prefect.yaml's deployments in the same order, differing
    only in the pool, the pull step, paused schedules, the sandbox tag and the overlay."""
    from deployments.local import local_project, read_project

    ecs, local = read_project(PREFECT_YAML), read_project(LOCAL_YAML)
    assert local == local_project(), "stale: run `python -m deployments.local`"
    assert [d["name"] for d in local["deployments"]] == [d["name"] for d in ecs["deployments"]]
    for ecs_entry, local_entry in zip(ecs["deployments"], local["deployments"], strict=True):
        assert _without_overlay(local_entry) == _without_overlay(ecs_entry), ecs_entry["name"]
        assert local_entry["work_pool"] == {"name": "finops-local", "job_variables": {}}
    assert local["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}
    ]
    assert {k: v for k, v in local.items() if k not in {"name", "pull", "deployments"}} == {
        "prefect-version": ecs["prefect-version"],
        "build": None,
        "push": None,
    }


def test_a_deployment_added_to_prefect_yaml_only_is_reported(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    (tmp_path / "deployments").mkdir()
    shutil.copy(LOCAL_YAML, tmp_path / "deployments" / "prefect.local.yaml")
    extra = (
        "\n  - name: report-again\n    entrypoint: flows/report.py:report\n"
        "    parameters: {}\n    work_pool: *ecs_small\n"
    )
    (tmp_path / "prefect.yaml").write_text(PREFECT_YAML.read_text() + extra)
    problems = check_project(
        tmp_path, image=IMAGE, template_path=ROOT / "deployments" / "ecs-base-job-template.json"
    )
    assert problems == [
        "prefect.local.yaml: is not prefect.yaml with the local overlay (missing report-again): "
        "run `python -m deployments.local` to regenerate it"
    ]
    # A hand edit of the local file beyond the overlay is reported too.
    (tmp_path / "prefect.yaml").write_text(PREFECT_YAML.read_text())
    local = tmp_path / "deployments" / "prefect.local.yaml"
    local.write_text(local.read_text().replace("limit: 1\n", "limit: 2\n", 1))
    problems = check_project(
        tmp_path, image=IMAGE, template_path=ROOT / "deployments" / "ecs-base-job-template.json"
    )
    assert len(problems) == 1 and "is not prefect.yaml with the local overlay:" in problems[0]


def test_the_demo_registers_the_local_files_deployments() -> None:
    from deployments.local import read_project
    from finops.demo.admin import demo_deployments

    directory, entries = demo_deployments(ROOT)
    assert directory == str(ROOT)
    assert entries == read_project(LOCAL_YAML)["deployments"]


def test_demo_registration_on_a_prefect_server(prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client

    from finops.demo.admin import register_deployments

    registered = register_deployments()
    assert set(registered) == {d.name for d in load_deployments(PREFECT_YAML)}
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("finops-local").type == "process"
        deployments = {
            d.name: d for d in client.read_deployments() if d.work_pool_name == "finops-local"
        }
        assert set(deployments) == set(registered)
        remediation = deployments["remediate-findings"]
        assert remediation.parameters == {"dry_run": False, "wait_mode": "pause"}
        assert "sandbox" in remediation.tags
        assert remediation.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ]
        daily = deployments["finops-daily"]
        assert [(s.schedule.cron, s.active) for s in daily.schedules] == [("0 6 * * *", False)]
        assert daily.global_concurrency_limit is not None
        assert daily.global_concurrency_limit.limit == 1
        owned = client.read_resource_related_automations(
            f"prefect.deployment.{deployments['check-cost-anomalies'].id}"
        )
        assert {a.name for a in owned} == {"finops-budget-or-cost-anomaly"}


def test_check_names_a_broken_entrypoint_and_a_missing_image(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    (tmp_path / "deployments").mkdir()
    shutil.copy(LOCAL_YAML, tmp_path / "deployments" / "prefect.local.yaml")
    text = PREFECT_YAML.read_text().replace(
        "flows/report.py:report", "flows/report.py:daily_report"
    )
    (tmp_path / "prefect.yaml").write_text(text)
    problems = check_project(
        tmp_path, image=None, template_path=ROOT / "deployments" / "ecs-base-job-template.json"
    )
    assert problems == [
        "prefect.yaml: report: flows/report.py has no @flow function 'daily_report'",
        "prefect.local.yaml: is not prefect.yaml with the local overlay: "
        "run `python -m deployments.local` to regenerate it",
        "FINOPS_IMAGE is not set: export the pushed image, e.g. "
        "FINOPS_IMAGE=123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:<sha>",
    ]
    (tmp_path / "prefect.yaml").write_text(
        PREFECT_YAML.read_text().replace(
            "      cpu: 512\n", "      cpu: 512\n        cluster: x\n", 1
        )
    )
    with pytest.raises(DeploymentConfigError, match="in the pool's base job template"):
        load_deployments(tmp_path / "prefect.yaml", tmp_path)


def test_finops_deploy_check_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_IMAGE", IMAGE)
    result = CliRunner().invoke(app, ["deploy", "check", "--root", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "deployment files are valid" in result.output
    monkeypatch.delenv("FINOPS_IMAGE")
    result = CliRunner().invoke(app, ["deploy", "check", "--root", str(ROOT)])
    assert result.exit_code == 1
    assert "FINOPS_IMAGE is not set" in result.output


def test_pool_template_cli_renders_terraform_outputs(tmp_path: Path) -> None:
    outputs = {
        "region": {"value": "eu-west-1"},
        "ecs_cluster_name": {"value": "finops"},
        "execution_role_arn": {"value": "arn:aws:iam::111122223333:role/finops-ecs-execution"},
        "flow_task_role_arn": {"value": "arn:aws:iam::111122223333:role/finops-flow-task"},
        "vpc_id": {"value": "vpc-1"},
        "subnet_ids": {"value": ["subnet-1", "subnet-2"]},
        "flow_security_group_id": {"value": "sg-1"},
        "log_group_name": {"value": "/finops/flows"},
        "image_repository_url": {"value": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/finops"},
        "environment": {"value": {"FINOPS_COSTS__STORE_URL": "s3://b/costs"}},
        "secrets": {"value": {"FINOPS_NOTIFY__SLACK_BOT_TOKEN": "arn:aws:secretsmanager:x"}},
    }
    source = tmp_path / "tf.json"
    source.write_text(json.dumps(outputs))
    target = tmp_path / "pool.json"
    result = CliRunner().invoke(
        app, ["deploy", "pool-template", "--terraform-output", str(source), "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    properties = json.loads(target.read_text())["variables"]["properties"]
    assert properties["cluster"]["default"] == "finops"
    assert properties["cloudwatch_logs_options"]["default"]["awslogs-region"] == "eu-west-1"
    assert properties["network_configuration"]["default"]["subnets"] == ["subnet-1", "subnet-2"]
    assert properties["env"]["default"] == {"FINOPS_COSTS__STORE_URL": "s3://b/costs"}
    del outputs["vpc_id"]
    with pytest.raises(DeploymentConfigError, match="terraform outputs lack vpc_id"):
        render_pool_template(json.loads(target.read_text()), outputs)


def _prefect(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(PREFECT), "--no-prompt", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_prefect_deploy_all_on_an_ecs_pool(prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_CLI_PROMPT": "false",
        "FINOPS_IMAGE": IMAGE,
    }
    template = ROOT / "deployments" / "ecs-base-job-template.json"
    with get_client(sync_client=True) as client:
        if not any(p.name == "ecs" for p in client.read_work_pools()):
            _prefect(
                [
                    "work-pool",
                    "create",
                    "ecs",
                    "--type",
                    "ecs",
                    "--base-job-template",
                    str(template),
                ],
                env,
            )
        pool = client.read_work_pool("ecs")
        assert pool.type == "ecs"
        assert pool.base_job_template == json.loads(template.read_text())

        _prefect(["deploy", "--all"], env)

        deployments = {d.name: d for d in client.read_deployments() if d.work_pool_name == "ecs"}
        assert set(deployments) >= FLOWS
        scan = deployments["scan-idle-resources"]
        assert scan.job_variables == {"image": IMAGE, "cpu": 2048, "memory": 8192}
        assert scan.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/finops"}}
        ]
        daily = deployments["finops-daily"]
        assert [(s.schedule.cron, s.active) for s in daily.schedules] == [("0 6 * * *", True)]
        assert daily.global_concurrency_limit is not None
        assert daily.global_concurrency_limit.limit == 1
        assert daily.concurrency_options is not None
        assert daily.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        automations = {a.name: a for a in client.read_automations() if a.name.startswith("finops-")}
        anomaly = automations["finops-budget-or-cost-anomaly"]
        assert anomaly.trigger.expect == {  # type: ignore[union-attr]
            "finops.aws.budget.alert",
            "finops.aws.cost-anomaly.detected",
        }
        (action,) = anomaly.actions
        assert action.deployment_id == deployments["check-cost-anomalies"].id  # type: ignore[union-attr]


def test_results_block_matches_what_the_example_environment_sets(prefect_harness: None) -> None:
    from prefect_aws import S3Bucket

    from tests.test_infra_structure import EXAMPLE, load_hcl, named

    result = CliRunner().invoke(
        app, ["deploy", "results-block", "--bucket", "finops-flow-results-111122223333"]
    )
    assert result.exit_code == 0, result.output
    block = S3Bucket.load("finops-results")
    assert (block.bucket_name, block.bucket_folder) == (
        "finops-flow-results-111122223333",
        "results",
    )
    # The flows' environment names the block the command created (default name prefix).
    environment = load_hcl(EXAMPLE / "main.tf")["locals"][-1]["flow_environment"]
    prefix = named(EXAMPLE / "variables.tf", "variable")["name_prefix"]["default"]
    slug = environment["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"].replace(
        "${var.name_prefix}", prefix
    )
    assert slug == "s3-bucket/finops-results"
    bad = CliRunner().invoke(app, ["deploy", "results-block", "--bucket", "s3://x/y"])
    assert bad.exit_code == 2 and "give the bucket name only" in bad.output
