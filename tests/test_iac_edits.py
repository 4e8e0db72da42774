"""HCL edits keep the file's layout: every edit is formatted as ``terraform fmt`` formats
(checked with the project's formatter, tools/hclfmt), parses back with python-hcl2, and an edit
that cannot be made safely is refused with why, leaving the files as they were."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import hcl2
import pytest

from tasks.findings.model import Finding
from tasks.iac.change import ChangeRequest, plan_changes
from tasks.iac.ownership import Ownership
from tasks.notify.issues import group_issue
from tasks.notify.models import FindingGroup
from tasks.notify.render import finding_line
from tasks.remediation.preview import Candidate, preview_markdown

ROOT = Path(__file__).resolve().parents[1]
HCLFMT = ROOT / "tools" / "hclfmt" / "check.js"

FILES = {
    "tf/main.tf": (
        "# volumes of the batch tier\n"
        'resource "aws_ebs_volume" "data_1" {\n'
        '  availability_zone = "us-east-1a"\n'
        "  size              = 1500\n"
        '  type              = "gp2"\n'
        "\n"
        "  tags = {\n"
        '    team = "batch"\n'
        "  }\n"
        "}\n"
        "\n"
        'resource "aws_ebs_volume" "scratch" {\n'
        '  availability_zone = "us-east-1a"\n'
        "  size              = 50\n"
        "}\n"
        "\n"
        'module "batch" {\n'
        '  source = "./modules/batch"\n'
        "}\n"
        "\n"
        'module "web" {\n'
        '  source = "./modules/web"\n'
        "}\n"
    ),
    "tf/modules/batch/main.tf": (
        'resource "aws_instance" "worker" {\n'
        "  count         = 3\n"
        '  ami           = "ami-1"\n'
        '  instance_type = "m5.large"\n'
        "}\n"
        "\n"
        'resource "aws_s3_bucket" "uploads" {\n'
        '  bucket = "finops-uploads"\n'
        "}\n"
    ),
    "tf/modules/web/main.tf": (
        'resource "aws_instance" "app" {\n'
        '  for_each      = toset(["blue"])\n'
        '  ami           = "ami-1"\n'
        '  instance_type = "m5.xlarge"\n'
        "}\n"
    ),
}


def request(check: str, address: str, **evidence: object) -> ChangeRequest:
    return ChangeRequest(f"fp-{address}", check, "r-1", address, evidence)


def formatted(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        hcl2.loads(text)  # parses back
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    node = shutil.which("node")
    assert node and (ROOT / "tools" / "hclfmt" / "node_modules").is_dir()
    result = subprocess.run([node, str(HCLFMT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_kind_of_edit_formats_cleanly_and_parses(tmp_path: Path) -> None:
    formatted(tmp_path / "before", FILES)
    requests = [
        request("ebs-gp2", "aws_ebs_volume.data_1", gp3={"iops": 4500, "throughput_mibps": 250}),
        request("ebs-unattached", "aws_ebs_volume.scratch"),
        request("ec2-idle", "module.batch.aws_instance.worker[2]"),
        request("ec2-idle", "module.batch.aws_instance.worker[1]"),
        request("s3-stale-multipart", "module.batch.aws_s3_bucket.uploads"),
        request("rightsize", "module.web.aws_instance.app", target_instance_type="m5.large"),
    ]
    edited, changes, refused = plan_changes(FILES, "tf", requests)
    assert refused == []
    assert len(changes) == 6
    formatted(tmp_path / "after", edited)
    main = edited["tf/main.tf"]
    assert main.startswith("# volumes of the batch tier\n")  # comments stay
    assert '  type              = "gp3"\n  iops              = 4500\n' in main
    assert "  throughput        = 250\n" in main and '    team = "batch"' in main
    assert '"scratch"' not in main and "\n\n\n" not in main
    batch = edited["tf/modules/batch/main.tf"]
    assert "  count         = 1\n" in batch
    assert "days_after_initiation = 7" in batch
    assert 'instance_type = "m5.large"' in edited["tf/modules/web/main.tf"]


def test_unsafe_edits_are_refused_with_why_and_change_nothing() -> None:
    requests = [
        request("ec2-idle", "module.batch.aws_instance.worker[0]"),  # not the last index
        request("ec2-idle", 'module.web.aws_instance.app["blue"]'),  # for_each
        request("ebs-gp2", "module.nope.aws_ebs_volume.x"),  # undeclared module
        request("ebs-gp2", "aws_ebs_volume.missing"),  # no block
        request("made-up-check", "aws_ebs_volume.data_1"),
    ]
    edited, changes, refused = plan_changes(FILES, "tf", requests)
    assert changes == [] and edited == FILES
    reasons = [why for _, why in refused]
    assert "only its last instances can go without moving state" in reasons[-1]
    assert any("for_each" in why for why in reasons)
    assert any("module 'nope'" in why for why in reasons)
    assert any("aws_ebs_volume.missing: no block" in why for why in reasons)
    assert any("no code change is known" in why for why in reasons)


def test_the_owner_is_shown_in_the_preview_slack_and_jira() -> None:
    owner = Ownership(
        kind="terraform", address="module.batch.aws_instance.worker[0]", module="module.batch"
    )
    finding = Finding(
        check="ec2-idle",
        account_id="123456789012",
        region="us-east-1",
        resource_id="i-0abc",
        resource_arn="arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
        resource_type="ec2:instance",
        monthly_savings_usd=Decimal("70"),
        evidence={"iac": owner.model_dump()},
    )
    described = "Terraform module.batch.aws_instance.worker[0] (module.batch)"
    assert described in finding_line(finding)
    issue = group_issue(
        FindingGroup(account_id="123456789012", check="ec2-idle", findings=[finding]), 1000, 100
    )
    assert described in issue.description and "pull request only" in issue.description
    candidate = Candidate(
        finding.fingerprint,
        "ec2-idle",
        "123456789012",
        "us-east-1",
        "i-0abc",
        ("open_pull_request", "tag_for_later", "skip"),
        "open_pull_request",
        Decimal("70"),
        "low",
        "-",
        code_owner=owner.describe(),
    )
    preview = preview_markdown([candidate], dry_run=False, timeout_s=60)
    assert "#### open_pull_request: 1 finding" in preview and "$70.00/month" in preview
    assert "(API changes refused)" in preview


@pytest.mark.parametrize("address", ["aws_instance", "module.x", "data.aws_ami.x"])
def test_addresses_that_are_not_managed_resources_are_refused(address: str) -> None:
    _, changes, refused = plan_changes(FILES, "tf", [request("ec2-idle", address)])
    assert changes == [] and len(refused) == 1
