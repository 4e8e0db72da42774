"""Thin Prefect tasks of infrastructure as code."""

from __future__ import annotations

from tasks.aws.session import AwsAccess
from tasks.findings.model import Finding
from tasks.iac.state import annotate, load_ownership
from tasks.settings import IacSettings
from tasks.steps import step


@step("annotate-code-ownership")
def annotate_ownership(
    findings: list[Finding], iac: IacSettings, access: AwsAccess
) -> list[Finding]:
    """Each finding with its owner in code (Terraform state, CloudFormation tags) in evidence."""
    terraform = {}
    if iac.state_urls:
        s3 = access.client("s3", access.caller_account_id, iac.state_region)
        terraform = load_ownership(s3, iac.state_urls)
    return annotate(findings, terraform)
