"""A deployment's job becomes a valid ECS task definition: the prefect-aws ECS worker against moto.

The pool template is rendered from Terraform-shaped outputs that name resources created in the
sandbox (VPC, subnets, security group, cluster, roles, log group, secrets), then the worker's own
code prepares the job for a flow run, registers the task definition and runs the task on the
sandbox's ECS.  What moto cannot show: that Fargate would pull the image and start the container,
that the roles' policies allow what the flow does (see test_infra_iam.py), and CloudWatch log
delivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any

import pytest

from deployments.project import (
    PREFECT_YAML,
    load_deployments,
    load_pool_template,
    render_pool_template,
)
from tests.plugins.sandbox import SandboxHandle

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:abc123"


@pytest.fixture
def ecs_environment(sandbox_env: SandboxHandle) -> dict[str, Any]:
    """What `terraform apply` would have made, created in the sandbox, as terraform outputs."""
    suffix = uuid.uuid4().hex[:8]
    ec2 = sandbox_env.client("ec2", region=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(
        GroupName=f"finops-flows-{suffix}", Description="flows", VpcId=vpc_id
    )["GroupId"]
    cluster = f"finops-{suffix}"
    sandbox_env.client("ecs", region=REGION).create_cluster(
        clusterName=cluster, settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    iam = sandbox_env.client("iam")
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    )
    execution = iam.create_role(RoleName=f"exec-{suffix}", AssumeRolePolicyDocument=trust)
    task = iam.create_role(RoleName=f"task-{suffix}", AssumeRolePolicyDocument=trust)
    log_group = f"/finops/{suffix}/flows"
    sandbox_env.client("logs", region=REGION).create_log_group(logGroupName=log_group)
    secrets = sandbox_env.client("secretsmanager", region=REGION)
    slack = secrets.create_secret(Name=f"finops/{suffix}/slack", SecretString="xoxb-test")["ARN"]
    jira = secrets.create_secret(Name=f"finops/{suffix}/jira", SecretString="jira-test")["ARN"]
    outputs = {
        "ecs_cluster_name": cluster,
        "execution_role_arn": execution["Role"]["Arn"],
        "flow_task_role_arn": task["Role"]["Arn"],
        "vpc_id": vpc_id,
        "subnet_ids": subnets,
        "flow_security_group_id": group,
        "log_group_name": log_group,
        "region": REGION,
        "image_repository_url": IMAGE.rsplit(":", 1)[0],
        "environment": {
            "FINOPS_COSTS__STORE_URL": f"s3://cost-store-{suffix}/costs",
            "FINOPS_REMEDIATION__AUDIT_LOG_URL": f"s3://audit-{suffix}/audit",
        },
        "secrets": {
            "FINOPS_NOTIFY__SLACK_BOT_TOKEN": slack,
            "FINOPS_NOTIFY__JIRA_API_TOKEN": jira,
        },
    }
    # terraform output -json wraps each value.
    return {name: {"value": value, "sensitive": False} for name, value in outputs.items()}


def _job_variables(deployment_name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from prefect.utilities.templating import apply_values

    monkeypatch.setenv("FINOPS_IMAGE", IMAGE)
    deployment = next(d for d in load_deployments(PREFECT_YAML) if d.name == deployment_name)
    # `prefect deploy` fills {{ $FINOPS_IMAGE }} from the environment the same way.
    return dict(apply_values(deployment.job_variables, dict(os.environ)))


def test_scan_deployment_becomes_a_fargate_task_definition(
    prefect_harness: None,
    ecs_environment: dict[str, Any],
    sandbox_env: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.schemas.objects import FlowRun
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

    template = render_pool_template(load_pool_template(), ecs_environment)
    job_variables = _job_variables("scan-idle-resources", monkeypatch)
    # What the worker does for each flow run: the pool's template plus the deployment's variables.
    configuration = asyncio.run(
        ECSJobConfiguration.from_template_and_values(template, job_variables)
    )
    flow_run = FlowRun(
        id=uuid.uuid4(), flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="brisk-otter"
    )
    configuration.prepare_for_flow_run(flow_run)
    worker = ECSWorker(work_pool_name="ecs")
    ecs = configuration.aws_credentials.get_client("ecs")
    # The worker's own steps up to RunTask: build, register (in the sandbox's ECS) and validate
    # the task definition, then build the RunTask request (which checks the subnets in the VPC).
    # RunTask itself is not sent: moto 5.2 answers 500 for Fargate task definitions whose
    # container has no memory of its own (valid on AWS: task-level memory is enough).
    prepared = worker._prepare_task_definition(configuration, region=REGION, flow_run=flow_run)
    arn, registered = worker._get_or_register_task_definition(
        logging.getLogger("test"), ecs, configuration, flow_run, prepared
    )
    worker._validate_task_definition(prepared, configuration)
    request = worker._prepare_task_run_request(configuration, prepared, arn, registered)

    outputs = {name: value["value"] for name, value in ecs_environment.items()}
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert registered
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert definition["executionRoleArn"] == outputs["execution_role_arn"]
    assert definition["taskRoleArn"] == outputs["flow_task_role_arn"]
    # Per deployment: image, cpu and memory from prefect.yaml (scan is the large size).
    assert (definition["cpu"], definition["memory"]) == ("2048", "8192")
    (container,) = definition["containerDefinitions"]
    assert container["image"] == IMAGE
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == outputs["log_group_name"]
    assert logs["options"]["awslogs-region"] == REGION
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == outputs["secrets"]

    assert request["cluster"] == outputs["ecs_cluster_name"]
    assert request["launchType"] == "FARGATE"
    assert request["taskDefinition"] == arn
    network = request["networkConfiguration"]["awsvpcConfiguration"]
    assert network == {
        "subnets": outputs["subnet_ids"],
        "securityGroups": [outputs["flow_security_group_id"]],
        "assignPublicIp": "DISABLED",
    }
    assert request["overrides"]["taskRoleArn"] == outputs["flow_task_role_arn"]
    (override,) = request["overrides"]["containerOverrides"]
    environment = {e["name"]: e["value"] for e in override["environment"]}
    # The flow run's environment: settings from the pool plus Prefect's own run variables.
    assert (
        environment["FINOPS_COSTS__STORE_URL"] == outputs["environment"]["FINOPS_COSTS__STORE_URL"]
    )
    assert environment["PREFECT__FLOW_RUN_ID"] == str(flow_run.id)
    assert not any("xoxb" in value for value in environment.values())


def test_worker_rejects_subnets_outside_the_vpc(
    prefect_harness: None,
    ecs_environment: dict[str, Any],
    sandbox_env: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.schemas.objects import FlowRun
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

    wrong = dict(ecs_environment)
    wrong["subnet_ids"] = {"value": ["subnet-00000000000000000"]}
    template = render_pool_template(load_pool_template(), wrong)
    configuration = asyncio.run(
        ECSJobConfiguration.from_template_and_values(
            template, _job_variables("report", monkeypatch)
        )
    )
    flow_run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), deployment_id=uuid.uuid4())
    configuration.prepare_for_flow_run(flow_run)
    worker = ECSWorker(work_pool_name="ecs")
    prepared = worker._prepare_task_definition(configuration, region=REGION, flow_run=flow_run)
    with pytest.raises(ValueError, match="not found within VPC"):
        worker._prepare_task_run_request(configuration, prepared, "arn:task-def", False)


def test_pool_template_defaults_are_valid_for_the_worker() -> None:
    template = load_pool_template()
    properties = template["variables"]["properties"]
    assert properties["launch_type"]["default"] == "FARGATE"
    assert properties["configure_cloudwatch_logs"]["default"] is True
    assert properties["network_configuration"]["default"]["assignPublicIp"] == "DISABLED"
    # No secret value in the template: only Secrets Manager ARNs.
    assert all(
        s["valueFrom"].startswith("arn:aws:secretsmanager:")
        for s in properties["secrets"]["default"]
    )
