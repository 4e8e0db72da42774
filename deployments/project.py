"""Deployment helpers: check prefect.yaml and the work-pool template, render the template.

``check_project`` validates the deployment files with Prefect's own models (the ones
``prefect deploy`` uses) plus what Prefect only finds out at run time: every entrypoint exists
and names a flow with the deployment's name, every trigger and schedule parses, every pool is
one we ship a template for.  ``render_pool_template`` fills the ECS base job template's stable
settings (cluster, roles, network, logs, secrets, environment) from ``terraform output -json``.
"""

from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployments.local import LOCAL_POOL

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
LOCAL_YAML = ROOT / "deployments" / "prefect.local.yaml"
ECS_TEMPLATE = ROOT / "deployments" / "ecs-base-job-template.json"
#: Pool name -> worker type; the local one is ``deployments.local.LOCAL_POOL`` (the demo's).
POOLS: dict[str, str] = {"ecs": "ecs", LOCAL_POOL: "process"}
#: Job variables a deployment may set on the ECS pool; everything else is the pool's.
ECS_DEPLOYMENT_VARIABLES = frozenset({"image", "cpu", "memory"})


class DeploymentConfigError(ValueError):
    """A deployment file is wrong; the message names the file, deployment and what to fix."""


@dataclass
class DeploymentSummary:
    """One deployment as checked: its flow, pool, schedules and trigger events."""

    name: str
    flow_name: str
    entrypoint: str
    pool: str
    job_variables: dict[str, Any]
    parameters: dict[str, Any]
    schedules: list[dict[str, Any]] = field(default_factory=list)
    trigger_events: list[str] = field(default_factory=list)
    concurrency: dict[str, Any] | None = None


def _flow_names(path: Path) -> dict[str, str]:
    """Function name -> ``@flow(name=...)`` of a flow module, read without importing it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if isinstance(target, ast.Name) and target.id == "flow":
                name = node.name.replace("_", "-")
                for keyword in call.keywords if call else []:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        name = str(keyword.value.value)
                names[node.name] = name
    return names


def load_deployments(path: Path, root: Path = ROOT) -> list[DeploymentSummary]:
    """Parse and validate a prefect.yaml; return its deployments.

    Raises:
        DeploymentConfigError: one line naming the file, the deployment and the problem.

    Example:
        >>> [d.name for d in load_deployments(PREFECT_YAML)][:2]
        ['finops-daily', 'ingest-costs']
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        message = f"{path.name}: file: cannot be read as YAML ({error})"
        raise DeploymentConfigError(message) from None
    return validate_deployments(raw, path.name, root)


def validate_deployments(raw: Any, label: str, root: Path = ROOT) -> list[DeploymentSummary]:
    """Validate a prefect.yaml's contents (already parsed); return its deployments.

    Args:
        raw: the file's data, e.g. ``deployments.local.local_project()`` for the demo's set.
        label: what error messages call it (the file name).
        root: the project folder the entrypoints are relative to.

    Raises:
        DeploymentConfigError: one line naming ``label``, the deployment and the problem.
    """
    from prefect.cli.deploy._models import PrefectYamlModel, RawScheduleConfig
    from prefect.cli.deploy._triggers import DeploymentTriggerAdapter
    from pydantic import ValidationError

    def fail(where: str, message: str) -> DeploymentConfigError:
        return DeploymentConfigError(f"{label}: {where}: {message}")

    try:
        model = PrefectYamlModel.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(where, first["msg"]) from None
    if not model.deployments:
        raise fail("deployments", "no deployment defined")
    summaries: list[DeploymentSummary] = []
    seen: set[str] = set()
    for index, deployment in enumerate(model.deployments):
        name = deployment.name or f"#{index}"
        if name in seen:
            raise fail(name, "deployment name used twice")
        seen.add(name)
        if not deployment.entrypoint or ":" not in deployment.entrypoint:
            raise fail(name, "entrypoint must be path/to/module.py:function")
        module, function = deployment.entrypoint.split(":", 1)
        module_path = root / module
        if not module_path.is_file():
            raise fail(name, f"entrypoint file {module} does not exist")
        flows = _flow_names(module_path)
        if function not in flows:
            raise fail(name, f"{module} has no @flow function {function!r}")
        pool = deployment.work_pool.name if deployment.work_pool else None
        if pool not in POOLS:
            raise fail(name, f"work pool {pool!r} is not one of {sorted(POOLS)}")
        job_variables = dict(deployment.work_pool.job_variables) if deployment.work_pool else {}
        if POOLS[pool] == "ecs" and set(job_variables) - ECS_DEPLOYMENT_VARIABLES:
            extra = sorted(set(job_variables) - ECS_DEPLOYMENT_VARIABLES)
            raise fail(name, f"set {extra} in the pool's base job template, not per deployment")
        schedules: list[dict[str, Any]] = []
        for item in deployment.schedules or []:
            try:
                parsed = RawScheduleConfig.model_validate(item) if isinstance(item, dict) else item
                schedules.append(parsed.model_dump(exclude_none=True))  # type: ignore[union-attr]
            except ValidationError as error:
                raise fail(name, f"schedule: {error.errors()[0]['msg']}") from None
        events: list[str] = []
        for spec in deployment.triggers or []:
            try:
                trigger = DeploymentTriggerAdapter.validate_python(copy.deepcopy(spec))
            except ValidationError as error:
                raise fail(name, f"trigger: {error.errors()[0]['msg']}") from None
            events.extend(sorted(getattr(trigger, "expect", set()) or set()))
        concurrency = deployment.concurrency_limit
        summaries.append(
            DeploymentSummary(
                name=name,
                flow_name=flows[function],
                entrypoint=deployment.entrypoint,
                pool=pool,
                job_variables=job_variables,
                parameters=dict(deployment.parameters),
                schedules=schedules,
                trigger_events=events,
                concurrency=(
                    {"limit": concurrency}
                    if isinstance(concurrency, int)
                    else concurrency.model_dump(exclude_none=True)
                    if concurrency is not None
                    else None
                ),
            )
        )
    return summaries


def check_project(
    root: Path = ROOT, image: str | None = None, template_path: Path | None = None
) -> list[str]:
    """Every problem with the deployment files, one line each (empty when all is well).

    Args:
        root: the project folder holding prefect.yaml.
        image: the value of ``FINOPS_IMAGE`` (the ECS deployments' image); None = not set.
        template_path: the ECS base job template (default the committed one).

    Example:
        >>> check_project(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/finops:1")
        []
    """
    problems: list[str] = []
    for path in (root / "prefect.yaml", root / "deployments" / "prefect.local.yaml"):
        try:
            load_deployments(path, root)
        except DeploymentConfigError as error:
            problems.append(str(error))
    problems.extend(local_file_problems(root))
    try:
        load_pool_template(template_path or root / "deployments" / "ecs-base-job-template.json")
    except DeploymentConfigError as error:
        problems.append(str(error))
    if not image:
        problems.append(
            "FINOPS_IMAGE is not set: export the pushed image, e.g. "
            "FINOPS_IMAGE=123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:<sha>"
        )
    return problems


def local_file_problems(root: Path = ROOT) -> list[str]:
    """Whether prefect.local.yaml is prefect.yaml with the overlay of ``deployments.local``.

    Compared as data (comments and layout aside): a deployment added to prefect.yaml and not
    to the local file, or any difference beyond the overlay, is one line saying how to fix it.
    """
    from deployments.local import local_project

    local_path = root / "deployments" / "prefect.local.yaml"
    try:
        expected = local_project(root / "prefect.yaml")
        current = yaml.safe_load(local_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return []  # load_deployments already names an unreadable file
    if current == expected:
        return []
    names = [d.get("name") for d in expected["deployments"]]
    have = [d.get("name") for d in (current or {}).get("deployments") or []]
    missing = [n for n in names if n not in have]
    detail = f" (missing {', '.join(map(str, missing))})" if missing else ""
    return [
        f"prefect.local.yaml: is not prefect.yaml with the local overlay{detail}: "
        "run `python -m deployments.local` to regenerate it"
    ]


def load_pool_template(path: Path = ECS_TEMPLATE) -> dict[str, Any]:
    """Read the ECS base job template and check it as ``prefect work-pool create`` would.

    Raises:
        DeploymentConfigError: the template is not valid for the ECS worker.
    """
    from prefect.utilities.schema_tools.validation import (
        ValidationError as SchemaError,
    )
    from prefect.utilities.schema_tools.validation import validate
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSVariables

    try:
        template = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DeploymentConfigError(f"{path.name}: cannot be read as JSON ({error})") from None
    for key in ("job_configuration", "variables"):
        if key not in template:
            raise DeploymentConfigError(f"{path.name}: missing {key!r}")
    defaults = {
        name: spec["default"]
        for name, spec in template["variables"]["properties"].items()
        if "default" in spec
    }
    try:
        validate(defaults, template["variables"], raise_on_error=True)
        ECSVariables.model_validate({k: v for k, v in defaults.items() if k != "secrets"})
        ECSJobConfiguration.json_template()  # the worker's own schema loads
    except (SchemaError, ValueError) as error:
        raise DeploymentConfigError(f"{path.name}: defaults invalid: {error}") from None
    return dict(template)


#: ``terraform output -json`` name -> how it lands in the ECS template's variable defaults.
TERRAFORM_OUTPUTS: dict[str, str] = {
    "ecs_cluster_name": "cluster",
    "execution_role_arn": "execution_role_arn",
    "flow_task_role_arn": "task_role_arn",
    "vpc_id": "vpc_id",
    "log_group_name": "cloudwatch_logs_options.awslogs-group",
    "region": "cloudwatch_logs_options.awslogs-region",
    "image_repository_url": "image",
}


def render_pool_template(template: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """The ECS base job template with its defaults taken from Terraform outputs.

    Args:
        template: the committed template (``load_pool_template()``).
        outputs: ``terraform output -json`` (each value ``{"value": ...}``) or plain values.

    Raises:
        DeploymentConfigError: an output the template needs is missing.

    Example:
        >>> render_pool_template(load_pool_template(), tf_outputs)  # doctest: +SKIP
    """
    values = {
        k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in outputs.items()
    }
    required = [
        *TERRAFORM_OUTPUTS,
        "subnet_ids",
        "flow_security_group_id",
        "environment",
        "secrets",
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise DeploymentConfigError(
            f"terraform outputs lack {', '.join(missing)}: run `terraform output -json` in "
            "infra/envs/<env> after apply"
        )
    rendered = copy.deepcopy(template)
    properties = rendered["variables"]["properties"]
    for output, target in TERRAFORM_OUTPUTS.items():
        value = values[output]
        if target == "image":
            value = f"{value}:latest"
        if "." in target:
            variable, key = target.split(".", 1)
            properties[variable].setdefault("default", {})[key] = value
        else:
            properties[target]["default"] = value
    # The worker wraps this in "awsvpcConfiguration" itself and checks the subnets are in vpc_id.
    properties["network_configuration"]["default"] = {
        "subnets": list(values["subnet_ids"]),
        "securityGroups": [values["flow_security_group_id"]],
        "assignPublicIp": "DISABLED",
    }
    properties["env"]["default"] = dict(values["environment"])
    properties["secrets"]["default"] = [
        {"name": name, "valueFrom": arn} for name, arn in sorted(values["secrets"].items())
    ]
    return rendered
