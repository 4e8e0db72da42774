"""Thin Prefect tasks of infrastructure as code."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger

from tasks.aws.session import AwsAccess
from tasks.findings.model import Finding
from tasks.iac.follow import follow_pull_requests
from tasks.iac.github import GitHub, GitHubError, token_from
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


@step("follow-code-pull-requests")
def follow_up_pull_requests(
    findings: list[Finding], iac: IacSettings, scanned_at: datetime
) -> None:
    """Comment on the open pull requests whose findings this scan saw again (when configured).

    Never fails the scan: GitHub being unreachable is a warning, the comment waits a scan.
    """
    if not (iac.github_repo and iac.repo_url):
        return
    seen = {f.fingerprint: f for f in findings}
    try:
        gh = GitHub(
            iac.github_api_url,
            iac.github_repo,
            token_from(iac.github_token_env, iac.github_token_block),
            iac.github_max_retries,
            iac.github_backoff_s,
            iac.github_timeout_s,
        )
        try:
            numbers = follow_pull_requests(gh, iac.base_branch, seen, scanned_at)
        finally:
            gh.close()
    except GitHubError as error:
        get_run_logger().warning("pull requests not followed up: %s", error)
        return
    if numbers:
        get_run_logger().info("commented on pull request(s) %s", numbers)
