"""infra/ Terraform: formatted as `terraform fmt` would, parsed (python-hcl2), structure asserted,
and checkov over it with no failed check and every skip justified in place.

Real ``terraform fmt``/``validate``/``plan`` are not run here: the terraform binary is not
installable on this machine (not in Debian, no registry ships it).  Formatting uses the same
function terraform fmt calls (hclwrite.Format, as WebAssembly in @cdktf/hcl-tools).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from deployments.project import TERRAFORM_OUTPUTS

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
MODULES = ("storage", "events", "iam", "ecs")
EXAMPLE = INFRA / "envs" / "example"
HCLFMT = ROOT / "tools" / "hclfmt" / "check.js"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"


def _clean(value: Any) -> Any:
    """python-hcl2 output without its quoting and bookkeeping keys."""
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def load_hcl(path: Path) -> dict[str, Any]:
    """One .tf/.tfvars file parsed by python-hcl2, unquoted."""
    import hcl2

    with path.open(encoding="utf-8") as handle:
        return dict(_clean(hcl2.load(handle)))


def blocks(path: Path, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``resource``/``data`` blocks of a file as {(type, name): body}."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in load_hcl(path).get(kind, []):
        for type_name, named in entry.items():
            for name, body in named.items():
                found[(type_name, name)] = body
    return found


def named(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output`` blocks as {name: body}."""
    return {name: body for entry in load_hcl(path).get(kind, []) for name, body in entry.items()}


def test_every_terraform_file_parses() -> None:
    files = sorted(INFRA.rglob("*.tf")) + sorted(INFRA.rglob("*.tfvars"))
    assert len(files) >= 17
    for path in files:
        assert load_hcl(path) is not None, path


@pytest.mark.parametrize("module", MODULES)
def test_module_has_documented_inputs_and_outputs(module: str) -> None:
    folder = INFRA / "modules" / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "README.md"):
        assert (folder / name).is_file(), f"{module}/{name} missing"
    variables = named(folder / "variables.tf", "variable")
    outputs = named(folder / "outputs.tf", "output")
    assert variables and outputs
    for name, body in variables.items():
        assert body.get("description") and body.get("type"), f"{module}: variable {name}"
    for name, body in outputs.items():
        assert body.get("description"), f"{module}: output {name}"
    # Every variable the module declares is used, and every var.x it uses is declared.
    text = (folder / "main.tf").read_text(encoding="utf-8")
    used = set(re.findall(r"\bvar\.([a-z_0-9]+)", text))
    assert used == set(variables), f"{module}: declared {set(variables) ^ used} mismatch"


def test_example_environment_wires_every_module_with_its_inputs() -> None:
    main = EXAMPLE / "main.tf"
    calls = {name: body for entry in load_hcl(main)["module"] for name, body in entry.items()}
    assert set(calls) == set(MODULES)
    for name, call in calls.items():
        variables = named(INFRA / "modules" / name / "variables.tf", "variable")
        required = {v for v, body in variables.items() if "default" not in body}
        given = set(call) - {"source"}
        assert call["source"] == f"../../modules/{name}"
        assert required <= given, f"module {name} lacks {required - given}"
        assert given <= set(variables), f"module {name} gets unknown {given - set(variables)}"
    env_variables = named(EXAMPLE / "variables.tf", "variable")
    tfvars = load_hcl(EXAMPLE / "example.tfvars")
    assert set(tfvars) <= set(env_variables)
    required = {v for v, body in env_variables.items() if "default" not in body}
    assert required <= set(tfvars), f"example.tfvars lacks {required - set(tfvars)}"
    # The outputs `finops deploy pool-template` reads are all there.
    outputs = named(EXAMPLE / "outputs.tf", "output")
    needed = {*TERRAFORM_OUTPUTS, "subnet_ids", "flow_security_group_id", "environment", "secrets"}
    assert needed <= set(outputs)


def test_platform_resources_are_declared_as_the_issue_asks() -> None:
    ecs = blocks(INFRA / "modules" / "ecs" / "main.tf", "resource")
    cluster = ecs[("aws_ecs_cluster", "this")]
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enabled"}]
    services = ecs[("aws_ecs_service", "service")]
    assert services["launch_type"] == "FARGATE"
    ecs_text = (INFRA / "modules" / "ecs" / "main.tf").read_text()
    assert '"prefect", "worker", "start"' in ecs_text and '["finops", "listen"]' in ecs_text
    for group in ("flows", "services"):
        log_group = ecs[("aws_cloudwatch_log_group", group)]
        assert log_group["retention_in_days"] == "${var.log_retention_days}"
    secrets = named(INFRA / "modules" / "ecs" / "variables.tf", "variable")["secret_names"]
    assert {"slack-bot-token", "jira-api-token"} <= set(secrets["default"])
    assert ("aws_secretsmanager_secret_version", "channel") not in ecs  # no value in state

    storage = blocks(INFRA / "modules" / "storage" / "main.tf", "resource")
    assert storage[("aws_s3_bucket", "audit")]["object_lock_enabled"] is True
    assert storage[("aws_s3_bucket_versioning", "audit")]["versioning_configuration"] == [
        {"status": "Enabled"}
    ]
    lock = storage[("aws_s3_bucket_object_lock_configuration", "audit")]["rule"][0]
    assert lock["default_retention"][0]["days"] == "${var.audit_retention_days}"
    for bucket in ("audit", "cost_store"):
        rule = storage[("aws_s3_bucket_server_side_encryption_configuration", bucket)]["rule"][0]
        assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
        assert storage[("aws_s3_bucket_public_access_block", bucket)]["block_public_policy"]

    events_file = INFRA / "modules" / "events" / "main.tf"
    events = blocks(events_file, "resource")
    queue = events[("aws_sqs_queue", "events")]
    assert "aws_sqs_queue.dead_letter.arn" in queue["redrive_policy"]
    assert ("aws_sns_topic", "events") in events
    subscription = events[("aws_sns_topic_subscription", "queue")]
    assert subscription["protocol"] == "sqs"
    budget = events[("aws_budgets_budget", "daily")]
    assert (budget["time_unit"], budget["limit_unit"], budget["budget_type"]) == (
        "DAILY",
        "USD",
        "COST",
    )
    assert all(
        n["subscriber_sns_topic_arns"] == ["${aws_sns_topic.events.arn}"]
        for n in budget["notification"]
    )
    assert (
        named(INFRA / "modules" / "events" / "variables.tf", "variable")["daily_budget_usd"][
            "default"
        ]
        == 1000
    )
    anomaly = events[("aws_ce_anomaly_subscription", "topic")]
    assert anomaly["subscriber"][0]["type"] == "SNS"
    patterns = load_hcl(events_file)["locals"][0]["event_patterns"]
    detail_types = {p["detail-type"][0] for p in patterns.values()}
    assert detail_types == {
        "EC2 Instance State-change Notification",
        "EBS Volume Notification",
        "EBS Snapshot Notification",
    }
    # The classifier knows every detail-type the rules send.
    from tasks.events.classify import EVENTBRIDGE_KINDS

    assert detail_types == set(EVENTBRIDGE_KINDS)


def test_terraform_files_are_formatted_like_terraform_fmt() -> None:
    node = shutil.which("node")
    assert node, "node is needed for tools/hclfmt (Debian nodejs)"
    assert (ROOT / "tools" / "hclfmt" / "node_modules").is_dir(), (
        "run `npm ci --prefix tools/hclfmt` (done by .ci/run)"
    )
    result = subprocess.run(
        [node, str(HCLFMT), str(INFRA)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"unformatted: {result.stdout} {result.stderr}"


def test_formatter_check_catches_misaligned_attributes(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_sqs_queue" "q" {\n  name = "a"\n  delay_seconds = 1\n}\n')
    result = subprocess.run([node, str(HCLFMT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and str(bad) in result.stdout
    subprocess.run([node, str(HCLFMT), "--write", str(tmp_path)], check=True, capture_output=True)
    assert "name          = " in bad.read_text()


def test_checkov_finds_no_failed_check_and_every_skip_says_why() -> None:
    assert CHECKOV.exists(), (
        "checkov lives in .venv-tools: run .ci/run, or python3 -m venv .venv-tools && "
        "make tools (checkov from tools/checkov/uv.lock)"
    )
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(INFRA),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 100
    # Skips are only in-place comments with a reason after the colon.
    for path in INFRA.rglob("*.tf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+:\S.{15,}", line), f"{path}: {line}"
