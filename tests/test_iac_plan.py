"""A real ``terraform plan`` where one can run (Terraform's built-in ``terraform_data``, which
needs no provider download), its summary in the pull request, and the guard: a plan that would
destroy more than the findings name blocks the pull request.  Where providers cannot be
installed (this machine reaches no Terraform registry), the pull request says so plainly."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.iac import write_repository
from tasks.findings.model import Finding
from tasks.iac.edits import remove_block
from tasks.iac.ownership import Ownership
from tasks.iac.plan import run_plan
from tasks.iac.pull_request import CodePath
from tasks.settings import IacSettings
from tests.plugins.github import FakeGitHub, start_github
from tests.test_iac_github import MAIN_TF, client, gp2_finding

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")


def data_block(name: str) -> str:
    return f'resource "terraform_data" "{name}" {{\n  input = "{name}"\n}}\n'


def applied(folder: Path, names: list[str]) -> Path:
    """A root module whose local state holds ``names`` (applied for real)."""
    folder.mkdir(parents=True)
    (folder / "main.tf").write_text("\n".join(data_block(n) for n in names))
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run(
            ["terraform", *command, "-no-color"], cwd=folder, check=True, capture_output=True
        )
    return folder


def test_plan_counts_and_blocks_destroys_no_finding_named(tmp_path: Path) -> None:
    root = applied(tmp_path / "tf", ["a", "b"])
    (root / "main.tf").write_text(
        remove_block((root / "main.tf").read_text(), "terraform_data", "b")
    )
    named = run_plan("terraform", root, {"terraform_data.b"})
    assert (named.ran, named.add, named.change, named.destroy) == (True, 0, 0, 1)
    assert named.blocked == [] and named.text() == "Plan: 0 to add, 0 to change, 1 to destroy."
    unnamed = run_plan("terraform", root, set())
    assert unnamed.blocked == ["terraform_data.b"]
    assert "Destroys not asked for: terraform_data.b" in unnamed.text()


def test_no_binary_or_no_provider_is_said_plainly(tmp_path: Path) -> None:
    assert "no terraform binary" in run_plan("terraform-missing", tmp_path, set()).text()
    (tmp_path / "main.tf").write_text(MAIN_TF)
    report = run_plan("terraform", tmp_path, set(), timeout_s=120)
    assert not report.ran
    assert report.text().startswith("No plan ran: terraform init failed: Error:")


@pytest.fixture
def github_over(tmp_path: Path) -> Iterator[tuple[FakeGitHub, Path]]:
    """A repository with terraform_data resources and its (committed, local) state: a, b, c
    were applied, then c's block was removed from the code without applying (drift)."""
    root = applied(tmp_path / "seed" / "terraform", ["a", "b", "c"])
    text = remove_block((root / "main.tf").read_text(), "terraform_data", "c")
    files = {
        "terraform/main.tf": text,
        "terraform/terraform.tfstate": (root / "terraform.tfstate").read_text(),
    }
    remote = write_repository(tmp_path / "remote.git", files)
    fake, server = start_github(remote)
    try:
        yield fake, remote
    finally:
        server.shutdown()
        server.server_close()


def path_for(fake: FakeGitHub, tmp_path: Path) -> CodePath:
    iac = IacSettings(
        repo_url=str(fake.remote),
        repo_path="terraform",
        github_api_url=fake.base_url,
        github_repo=fake.repo,
        run_plan=True,
    )
    return CodePath(iac, tmp_path / "data", "http://ui", lambda: client(fake)[0])


def removal(address: str) -> tuple[Finding, Ownership]:
    finding = Finding(
        check="ebs-unattached",
        account_id="123456789012",
        region="us-east-1",
        resource_id="vol-0b",
        resource_arn="arn:aws:ec2:us-east-1:123456789012:volume/vol-0b",
        resource_type="ec2:volume",
        monthly_savings_usd=Decimal("4.00"),
    )
    return finding, Ownership(kind="terraform", address=address)


def test_a_plan_destroying_more_than_the_findings_name_blocks_the_pull_request(
    github_over: tuple[FakeGitHub, Path], tmp_path: Path
) -> None:
    fake, _ = github_over
    item = removal("terraform_data.b")
    outcome = path_for(fake, tmp_path).propose("run-1", "Ana Lima", [item], dry_run=False)
    result = outcome[item[0].fingerprint]
    assert result.result == "failed"
    assert "pull request blocked" in result.reason and "terraform_data.c" in result.reason
    assert fake.pulls == [] and not fake.branch_exists("finops/run-1")


def test_the_plan_summary_goes_into_the_pull_request(tmp_path: Path) -> None:
    root = applied(tmp_path / "seed" / "terraform", ["a", "b"])
    files = {
        "terraform/main.tf": (root / "main.tf").read_text(),
        "terraform/terraform.tfstate": (root / "terraform.tfstate").read_text(),
    }
    fake, server = start_github(write_repository(tmp_path / "remote.git", files))
    try:
        item = removal("terraform_data.b")
        outcome = path_for(fake, tmp_path).propose("run-2", "Ana Lima", [item], dry_run=False)
        assert outcome[item[0].fingerprint].result == "proposed"
        (pull,) = fake.pulls
        assert "Plan: 0 to add, 0 to change, 1 to destroy." in pull["body"]
    finally:
        server.shutdown()
        server.server_close()


def test_without_providers_the_pull_request_says_no_plan_ran(tmp_path: Path) -> None:
    fake, server = start_github(
        write_repository(tmp_path / "remote.git", {"terraform/main.tf": MAIN_TF})
    )
    try:
        item = gp2_finding()
        outcome = path_for(fake, tmp_path).propose("run-3", "Ana Lima", [item], dry_run=False)
        assert outcome[item[0].fingerprint].result == "proposed"
        (pull,) = fake.pulls
        assert "No plan ran: terraform init failed: Error:" in pull["body"]
    finally:
        server.shutdown()
        server.server_close()
