"""The code path through the real flows, on a sandbox of its own: scan (owners in evidence) ->
approval of code-owned findings -> nothing changed through the API, one pull request on the
sandbox's Terraform repository (diff formatted, parses, savings and approver in its body) ->
merged, applied, rescanned -> the findings resolve."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tasks.findings.model import FindingStatus
from tasks.findings.store import FindingsStore
from tasks.remediation.audit import AuditLog
from tasks.settings import load_settings
from tests.plugins.github import TOKEN, FakeGitHub, start_github
from tests.plugins.remediation import ACCEPTANCE_SIZE, _point_at
from tests.test_remediation_flow import (
    form_schema,
    label_for,
    resume_like_the_ui,
    start_flow,
    wait_until_paused,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).resolve().parents[1]
HCLFMT = ROOT / "tools" / "hclfmt" / "check.js"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def iac_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sandbox.context import SandboxSize
    from tests.plugins.sandbox import TEST_SIZE, start_sandbox, stop_sandbox

    size = SandboxSize.from_dict({**TEST_SIZE.as_dict(), **ACCEPTANCE_SIZE})
    handle = start_sandbox(tmp_path_factory.mktemp("iac-sandbox"), size=size)
    try:
        yield handle
    finally:
        stop_sandbox(handle)


@pytest.fixture
def world(
    iac_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Any, FakeGitHub]]:
    """The sandbox pointed at, live remediation, the sandbox's repo behind a fake GitHub."""
    truth = iac_sandbox.ground_truth["iac"]
    remote = tmp_path / "fleet.git"
    shutil.copytree(truth["repo"]["path"], remote)  # each test pushes to its own copy
    fake, server = start_github(remote)
    _point_at(monkeypatch, iac_sandbox.endpoint_url, tmp_path / "finops", iac_sandbox.accounts)
    monkeypatch.setenv("FINOPS_REMEDIATION__DRY_RUN", "false")
    monkeypatch.setenv("FINOPS_IAC__STATE_URLS", ",".join(truth["state_urls"]))
    monkeypatch.setenv("FINOPS_IAC__REPO_URL", str(remote))
    monkeypatch.setenv("FINOPS_IAC__REPO_PATH", truth["repo"]["dir"])
    monkeypatch.setenv("FINOPS_IAC__GITHUB_API_URL", fake.base_url)
    monkeypatch.setenv("FINOPS_IAC__GITHUB_REPO", fake.repo)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    try:
        yield iac_sandbox, fake
    finally:
        server.shutdown()
        server.server_close()


def scan(box: Any) -> Any:
    from flows.scan_idle_resources import scan_idle_resources

    return scan_idle_resources(
        checks=[
            "ebs-gp2",
            "ebs-unattached",
            "ec2-idle",
            "s3-stale-multipart",
            "ebs-idle",
            "snapshot-stale",
        ],
        accounts=[box.accounts[0]],
        regions=[REGION],
    )


def ec2(box: Any) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=box.endpoint_url)


def test_an_approval_of_code_owned_findings_becomes_one_pull_request(
    world: tuple[Any, FakeGitHub], paused_runs: set[str], tmp_path: Path
) -> None:
    box, github = world
    owned = {r["resource_id"]: r for r in box.ground_truth["iac"]["owned"]}
    scanned = scan(box)
    code = [
        f
        for f in scanned.findings
        if f.evidence["iac"] and f.evidence["iac"]["kind"] == "terraform"
    ]
    by_check = {f.check: f for f in code}
    # a gp2 volume, the old unattached volume and the bucket: three kinds of edit
    chosen = [by_check["ebs-gp2"], by_check["ebs-unattached"], by_check["s3-stale-multipart"]]
    before_volumes = {
        v["VolumeId"]: v["VolumeType"]
        for v in ec2(box).describe_volumes(
            VolumeIds=[by_check["ebs-gp2"].resource_id, by_check["ebs-unattached"].resource_id]
        )["Volumes"]
    }

    run = start_flow(approval_timeout_s=300)
    run_id = wait_until_paused(run, paused_runs)
    schema = form_schema(run_id)
    choices = schema["properties"]["actions"]["items"]["enum"]
    for finding in chosen:
        label = label_for(schema, finding)
        offered = sorted(c.rpartition(" -> ")[2] for c in choices if c.startswith(label))
        assert "open_pull_request" in offered
        assert set(offered) <= {"open_pull_request", "tag_for_later", "skip"}, offered
        assert "→ open_pull_request" in label  # the default
    resume_like_the_ui(
        run_id,
        {
            "decision": "approve",
            "findings": [label_for(schema, f) for f in chosen],
            "actions": [],
            "approver": "Ana Lima",
            "comment": "FIN-77",
        },
    )
    summary = run.wait()
    assert summary.status == "approved"
    assert [r.result for r in summary.actions] == ["proposed"] * 3, summary.actions
    assert summary.savings_achieved_usd == 0  # nothing saved until merged and applied

    # nothing changed through the API
    after = {
        v["VolumeId"]: v["VolumeType"]
        for v in ec2(box).describe_volumes(VolumeIds=list(before_volumes))["Volumes"]
    }
    assert after == before_volumes
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=box.endpoint_url)
    bucket = by_check["s3-stale-multipart"].resource_id
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)

    # exactly one pull request, with the savings, the approver and the run link
    assert len(github.pulls) == 1
    pull = github.pulls[0]
    assert pull["head"]["ref"] == f"finops/{run_id}" and pull["base"]["ref"] == "main"
    body = pull["body"]
    total = sum((f.monthly_savings_usd or Decimal(0) for f in chosen), Decimal(0))
    assert f"${total:,.2f} per month" in body
    assert "Ana Lima" in body and f"/runs/flow-run/{run_id}" in body
    assert "No plan ran: FINOPS_IAC__RUN_PLAN is off" in body
    for finding in chosen:
        assert owned[finding.resource_id]["address"] in body
    assert {lab["name"] for lab in pull["labels"]} == {"finops", "cost-savings"}

    # the branch's diff formats like terraform fmt and parses back
    clone = tmp_path / "review"
    subprocess.run(
        ["git", "clone", "-q", "-b", pull["head"]["ref"], str(github.remote), str(clone)],
        check=True,
    )
    diff = subprocess.run(
        ["git", "-C", str(clone), "diff", "--name-only", "origin/main", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert diff and all(p.endswith(".tf") for p in diff)
    node = shutil.which("node")
    assert node and (ROOT / "tools" / "hclfmt" / "node_modules").is_dir()
    fmt = subprocess.run(
        [node, str(HCLFMT), str(clone / "terraform")], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    import hcl2

    for path in diff:
        hcl2.loads((clone / path).read_text())
    text = (clone / "terraform" / "main.tf").read_text()
    assert '"gp3"' in text and "iops" in text
    assert '"scratch"' not in text
    assert (
        "abort_incomplete_multipart_upload"
        in (clone / "terraform/modules/storage/main.tf").read_text()
    )

    # the audit log names the pull request; the findings wait approved for the merge
    store = FindingsStore(load_settings().findings_url)
    actions = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "action"]
    assert {r.action for r in actions} == {"open_pull_request"}
    assert all("pull request #1" in r.reason for r in actions)
    assert {store.get(f.fingerprint).status for f in chosen} == {FindingStatus.APPROVED}

    # a later scan still sees them: one comment on the pull request (once a day)
    scan(box)
    scan(box)
    (comment,) = github.comments[1]
    assert "still sees 3 finding(s)" in comment
    assert all(f.resource_id in comment for f in chosen)
    assert {store.get(f.fingerprint).status for f in chosen} == {FindingStatus.APPROVED}

    # merged, applied (what `terraform apply` of main would do), rescanned: resolved
    response = httpx.put(
        f"{github.base_url}/repos/{github.repo}/pulls/1/merge",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"merge_method": "merge"},
    )
    assert response.status_code == 200
    client = ec2(box)
    gp2 = by_check["ebs-gp2"]
    client.modify_volume(
        VolumeId=gp2.resource_id,
        VolumeType="gp3",
        Iops=gp2.evidence["gp3"]["iops"],
        Throughput=gp2.evidence["gp3"]["throughput_mibps"],
    )
    client.delete_volume(VolumeId=by_check["ebs-unattached"].resource_id)
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort",
                    "Status": "Enabled",
                    "Filter": {},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    rescanned = scan(box)
    assert rescanned.errors == []
    assert {store.get(f.fingerprint).status for f in chosen} == {FindingStatus.RESOLVED}


def test_the_engine_refuses_an_api_action_on_a_code_owned_resource_whatever_is_approved(
    world: tuple[Any, FakeGitHub],
) -> None:
    from tasks.remediation.approval import ApprovalDecision
    from tasks.remediation.tasks import remediator

    box, github = world
    scanned = scan(box)
    owned = [f for f in scanned.findings if f.evidence["iac"]]
    assert {f.evidence["iac"]["kind"] for f in owned} == {"terraform", "cloudformation"}
    api_action = {
        "ebs-gp2": "modify_to_gp3",
        "ebs-unattached": "delete",
        "ebs-idle": "snapshot_and_delete",
        "ec2-idle": "terminate",
        "s3-stale-multipart": "add_abort_multipart_rule",
        "snapshot-stale": "delete_snapshot",
    }
    selections = {f.fingerprint: api_action[f.check] for f in owned if f.check in api_action}
    engine = remediator(load_settings(), "run-force", dry_run=False)
    decision = ApprovalDecision("approved", approver="Ana Lima", selections=selections)
    results = engine.execute(engine.record_approval(decision))
    assert len(results) == len(selections) >= 5  # whatever the other test changed
    assert {r.result for r in results} == {"skipped"}
    assert all("never changed through the API" in r.reason for r in results)
    records = [r for r in AuditLog(load_settings().audit_log_url).read() if r.kind == "action"]
    assert {r.fingerprint for r in records} == set(selections)
    assert all("owned by" in r.reason and "refused" in r.reason for r in records)
    # nothing changed in AWS
    for finding in owned:
        if finding.resource_id.startswith("vol-"):
            (volume,) = ec2(box).describe_volumes(VolumeIds=[finding.resource_id])["Volumes"]
            assert volume["VolumeType"] == (
                "gp2" if finding.check == "ebs-gp2" else volume["VolumeType"]
            )
        if finding.resource_id.startswith("i-"):
            reservations = ec2(box).describe_instances(InstanceIds=[finding.resource_id])
            assert reservations["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
    assert github.pulls == []
    assert json.dumps([r.reason for r in results])


def test_the_token_comes_from_a_prefect_secret_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    from tasks.iac.github import token_from
    from tasks.notify.secrets import SecretError

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    Secret(value="ghp_fromtheblock").save("finops-github-token", overwrite=True)
    assert token_from("GITHUB_TOKEN", "finops-github-token") == "ghp_fromtheblock"
    with pytest.raises(SecretError, match="'no-such-block' not found"):
        token_from("GITHUB_TOKEN", "no-such-block")
    # in the code path, a missing block fails the findings with that line (the run goes on)
    from tasks.iac.ownership import Ownership
    from tasks.iac.pull_request import CodePath
    from tasks.settings import IacSettings
    from tests.test_iac_github import gp2_finding

    iac = IacSettings(repo_url="/nowhere.git", github_repo="acme/infra", github_token_block="nope")
    item: tuple[Any, Ownership] = gp2_finding()
    outcome = CodePath(iac, Path("/tmp"), "http://ui").propose("r", "Ana", [item], dry_run=False)
    assert outcome[item[0].fingerprint].result == "failed"
    assert "'nope' not found" in outcome[item[0].fingerprint].reason
