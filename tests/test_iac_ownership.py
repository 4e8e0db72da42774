"""Who owns a resource in code, on the sandbox: its Terraform state (v4, modules, in its S3) and
CloudFormation's stack tags are read back to exactly the ground truth, and the scan puts the
owner into every finding's evidence."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tasks.iac.ownership import StateError, owner_of, parse_state
from tasks.iac.state import StateReadError, load_ownership
from tests.plugins.sandbox import SandboxHandle


@pytest.fixture(scope="module")
def sandbox_environ(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in sandbox.env.items():
            patch.setenv(name, value)
        yield sandbox


def live_ec2_tags(box: SandboxHandle) -> dict[str, dict[str, str]]:
    """Every EC2 resource's tags as DescribeTags pages them, per account x region."""
    tags: dict[str, dict[str, str]] = {}
    for account in box.accounts:
        for region in box.regions:
            pages = box.client("ec2", account, region).get_paginator("describe_tags").paginate()
            for page in pages:
                for tag in page["Tags"]:
                    tags.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return tags


def test_every_code_owned_resource_is_recognised(sandbox_environ: SandboxHandle) -> None:
    truth = sandbox_environ.ground_truth["iac"]
    owned = {(r["account_id"], r["resource_id"]): r for r in truth["owned"]}
    assert {r["owner"] for r in owned.values()} == {"terraform", "cloudformation"}
    assert {r["module"] for r in owned.values()} >= {"", "module.batch", "module.storage"}

    management = sandbox_environ.accounts[0]
    s3 = sandbox_environ.client("s3", management, "us-east-1")
    terraform = load_ownership(s3, truth["state_urls"])
    tags = live_ec2_tags(sandbox_environ)
    found: dict[tuple[str, str], Any] = {}
    for record in sandbox_environ.ground_truth["resources"]:
        live = tags.get(record["resource_id"], record["tags"])
        owner = owner_of(record["arn"], record["resource_id"], live, terraform)
        if owner is not None:
            found[(record["account_id"], record["resource_id"])] = owner
    # precision and recall 1.0: the same set, each with its address, module or stack
    assert set(found) == set(owned)
    for key, owner in found.items():
        expected = owned[key]
        assert owner.kind == expected["owner"]
        assert owner.address == expected["address"]
        assert owner.module == expected["module"]
        assert owner.stack == expected["stack"]


def test_the_repository_holds_the_hcl_of_the_state(
    sandbox_environ: SandboxHandle, tmp_path: Path
) -> None:
    import hcl2

    repo = sandbox_environ.ground_truth["iac"]["repo"]
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "-b", repo["branch"], repo["url"], str(clone)], check=True
    )
    main = hcl2.loads((clone / repo["dir"] / "main.tf").read_text())
    modules = {next(iter(block)).strip('"') for block in main["module"]}
    names = {n.strip('"') for block in main["resource"] for body in block.values() for n in body}
    terraform = [
        r for r in sandbox_environ.ground_truth["iac"]["owned"] if r["owner"] == "terraform"
    ]
    for record in terraform:
        address = record["address"].rpartition(".aws_")[2]
        if record["module"]:
            assert record["module"].removeprefix("module.") in modules
        else:
            assert address.split(".")[1] in names


def test_a_state_that_is_not_v4_is_refused_in_one_line() -> None:
    with pytest.raises(StateError, match=r"not a Terraform state v4 \(version 3\)"):
        parse_state({"version": 3, "modules": []}, "s3://b/old.tfstate")


def test_an_unreadable_state_names_its_url(sandbox_environ: SandboxHandle) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox_environ.endpoint_url)
    with pytest.raises(
        StateReadError, match=r"s3://sandbox-terraform-state/nope.tfstate: NoSuchKey"
    ):
        load_ownership(s3, ["s3://sandbox-terraform-state/nope.tfstate"])


def test_the_scan_puts_the_owner_in_every_findings_evidence(
    sandbox_environ: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from flows.scan_idle_resources import scan_idle_resources

    truth = sandbox_environ.ground_truth["iac"]
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINOPS_IAC__STATE_URLS", ",".join(truth["state_urls"]))
    management = sandbox_environ.accounts[0]
    result = scan_idle_resources(
        checks=[
            "ebs-gp2",
            "ebs-unattached",
            "ebs-idle",
            "ec2-idle",
            "s3-stale-multipart",
            "snapshot-stale",
        ],
        accounts=[management],
        regions=[sandbox_environ.regions[0]],
    )
    owned = {r["resource_id"]: r for r in truth["owned"]}
    assert result.findings
    seen_owned = set()
    for finding in result.findings:
        iac = finding.evidence["iac"]
        record = owned.get(finding.resource_id)
        if record is None:
            assert iac is None, finding.resource_id
            continue
        seen_owned.add(finding.resource_id)
        assert (iac["kind"], iac["address"], iac["stack"]) == (
            record["owner"],
            record["address"],
            record["stack"],
        )
    # every owned resource that is waste was found, and carries its owner
    assert {
        r["resource_id"]
        for r in truth["owned"]
        if r["resource_id"] in {f.resource_id for f in result.findings}
    } == seen_owned
    assert len(seen_owned) >= 5
    stored = json.loads(json.dumps([f.evidence["iac"] for f in result.findings], default=str))
    assert any(e and e["kind"] == "cloudformation" for e in stored)


def _finops(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FINOPS_"))}
    return subprocess.run(
        [sys.executable, "-m", "finops", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_a_malformed_state_url_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    done = _finops(
        ["settings", "--check"],
        {"FINOPS_IAC__STATE_URLS": "my-bucket/terraform.tfstate", "HOME": str(tmp_path)},
        tmp_path,
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "FINOPS_IAC__STATE_URLS" in line and "s3://bucket/key" in line


def test_a_state_that_cannot_be_read_stops_the_scan_in_one_line(
    sandbox_environ: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from typer.testing import CliRunner

    from finops.cli import app

    missing = "s3://sandbox-terraform-state/prod/terraform.tfstate"
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "finops"))
    monkeypatch.setenv("FINOPS_IAC__STATE_URLS", missing)
    account = sandbox_environ.accounts[0]
    result = CliRunner().invoke(
        app, ["scan", "--checks", "ebs-gp2", "--regions", "us-east-1", "--accounts", account]
    )
    assert result.exit_code == 1, result.output[-2000:]
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: Terraform state {missing}: NoSuchKey"), result.output[-2000:]
    assert "FINOPS_IAC__STATE_URLS" in last
