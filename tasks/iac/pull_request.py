"""The code path: approved changes to Terraform-owned resources become one pull request.

For one approval run (``approval_id``): clone the configured repository, edit the HCL for every
finding (:mod:`tasks.iac.change`), parse each edited file back with python-hcl2, commit on the
branch ``<branch_prefix><approval_id>``, run ``terraform plan`` when configured
(:mod:`tasks.iac.plan`; a destroy no finding named blocks the pull request), push, open the pull
request (or find the one already open for the branch: a rerun never opens a second), and label
it.  A finding already in an open pull request of an earlier run gets a comment there instead.
A dry run edits and parses in a scratch clone and pushes nothing.

Example:
    >>> path = CodePath(settings.iac, Path(".finops"), "http://127.0.0.1:4200")  # doctest: +SKIP
    >>> outcomes = path.propose("run-1", "Ana", items, dry_run=False)  # doctest: +SKIP
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.findings.model import Finding
from tasks.iac.change import ChangeRequest, fingerprints_in, plan_changes, pull_request_body
from tasks.iac.edits import Address, EditError
from tasks.iac.github import GitHub, GitHubError, PullRequest, token_from
from tasks.iac.ownership import Ownership
from tasks.iac.plan import PlanReport, run_plan
from tasks.notify.secrets import SecretError
from tasks.settings import IacSettings

GIT_AUTHOR = ("-c", "user.name=finops-flows", "-c", "user.email=finops-flows@users.noreply.local")


@dataclass(frozen=True)
class CodeOutcome:
    """What the code path did for one finding: ``proposed`` (pull request opened or already
    open), ``dry_run``, ``skipped`` (refused edit, with why) or ``failed``."""

    result: str
    reason: str
    pull_request: str = ""


class GitError(RuntimeError):
    """A git command failed: the command and git's own first line."""


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *GIT_AUTHOR, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise GitError(f"git {args[0]} failed: {first}")
    return done.stdout


class CodePath:
    """Pull requests for approved findings on Terraform-owned resources.

    Args:
        iac: the ``iac`` settings (repository, branch prefix, GitHub, plan).
        workdir: where scratch clones go (the data folder).
        ui_url: the Prefect UI, for the run's link in the body.
        github: a client (default: built from the settings and the token).
    """

    def __init__(
        self,
        iac: IacSettings,
        workdir: Path,
        ui_url: str,
        github: Callable[[], GitHub] | None = None,
    ) -> None:
        self.iac = iac
        self.workdir = workdir
        self.ui_url = ui_url.rstrip("/")
        self._github = github or self._default_github

    def _default_github(self) -> GitHub:
        token = token_from(self.iac.github_token_env, self.iac.github_token_block)
        return GitHub(
            self.iac.github_api_url,
            self.iac.github_repo,
            token,
            self.iac.github_max_retries,
            self.iac.github_backoff_s,
            self.iac.github_timeout_s,
        )

    def branch(self, approval_id: str) -> str:
        return f"{self.iac.branch_prefix}{approval_id}"

    def propose(
        self,
        approval_id: str,
        approver: str,
        items: Sequence[tuple[Finding, Ownership]],
        dry_run: bool,
    ) -> dict[str, CodeOutcome]:
        """One pull request for these findings; an outcome per fingerprint."""
        fps = [finding.fingerprint for finding, _ in items]
        if not self.iac.repo_url or (not dry_run and not self.iac.github_repo):
            why = "no repository configured: set FINOPS_IAC__REPO_URL and FINOPS_IAC__GITHUB_REPO"
            return dict.fromkeys(fps, CodeOutcome("skipped", why))
        try:
            return self._propose(approval_id, approver, items, dry_run)
        except (GitError, GitHubError, SecretError, OSError) as error:
            return dict.fromkeys(fps, CodeOutcome("failed", str(error)))

    def _propose(
        self,
        approval_id: str,
        approver: str,
        items: Sequence[tuple[Finding, Ownership]],
        dry_run: bool,
    ) -> dict[str, CodeOutcome]:
        outcomes: dict[str, CodeOutcome] = {}
        branch = self.branch(approval_id)
        run_url = f"{self.ui_url}/runs/flow-run/{approval_id}"
        gh = None if dry_run else self._github()
        try:
            todo = list(items)
            if gh is not None:
                mine = gh.find_pull_request(branch)
                if mine is not None and mine.state == "open":
                    # a rerun of this approval: the pull request is there already
                    return {
                        f.fingerprint: CodeOutcome("proposed", _opened(mine, "already"), mine.url)
                        for f, _ in items
                    }
                todo, commented = self._comment_on_earlier(gh, todo, run_url, approver)
                outcomes.update(commented)
            if not todo:
                return outcomes
            requests = []
            for finding, owner in todo:
                try:
                    requests.append(_request(finding, owner))
                except EditError as error:
                    outcomes[finding.fingerprint] = CodeOutcome("skipped", str(error))
            self.workdir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.workdir, prefix="iac-clone-") as scratch:
                clone = Path(scratch) / "repo"
                git("clone", "-q", "-b", self.iac.base_branch, self.iac.repo_url, str(clone))
                root = self.iac.repo_path.strip("/")
                files = {
                    p.relative_to(clone).as_posix(): p.read_text()
                    for p in sorted((clone / root).rglob("*.tf"))
                    if ".terraform" not in p.parts
                }
                edited, changes, refused = plan_changes(files, root, requests)
                for request, why in refused:
                    outcomes[request.fingerprint] = CodeOutcome("skipped", why)
                if not changes:
                    return outcomes
                changed = sorted({c.path for c in changes})
                for path in changed:
                    _parse_back(path, edited[path])
                    (clone / path).write_text(edited[path])
                allowed = {c.request.address for c in changes if c.destroys}
                plan = self._plan(clone / root, allowed)
                if plan.blocked:
                    why = f"pull request blocked: {plan.text()}"
                    for change in changes:
                        outcomes[change.request.fingerprint] = CodeOutcome("failed", why)
                    return outcomes
                diff = git("diff", "--stat", cwd=clone).strip().splitlines()
                if dry_run:
                    for change in changes:
                        outcomes[change.request.fingerprint] = CodeOutcome(
                            "dry_run", f"would change {change.summary} ({diff[-1].strip()})"
                        )
                    return outcomes
                assert gh is not None
                git("checkout", "-q", "-b", branch, cwd=clone)
                git("add", "--", *changed, cwd=clone)
                title = f"FinOps: {len(changes)} cost change(s) approved by {approver}"
                git("commit", "-q", "-m", title, "-m", f"Approval run: {run_url}", cwd=clone)
                git(
                    "push",
                    "-q",
                    "--force-with-lease",
                    "origin",
                    f"HEAD:refs/heads/{branch}",
                    cwd=clone,
                )
            body = pull_request_body(changes, approver, run_url, plan.text(), refused)
            pull = gh.open_pull_request(branch, self.iac.base_branch, title, body)
            gh.add_labels(pull.number, list(self.iac.labels))
            for change in changes:
                outcomes[change.request.fingerprint] = CodeOutcome(
                    "proposed", _opened(pull, "opened") + f": {change.summary}", pull.url
                )
            return outcomes
        finally:
            if gh is not None:
                gh.close()

    def _comment_on_earlier(
        self,
        gh: GitHub,
        items: list[tuple[Finding, Ownership]],
        run_url: str,
        approver: str,
    ) -> tuple[list[tuple[Finding, Ownership]], dict[str, CodeOutcome]]:
        """Findings already in an open pull request get a comment there; (the rest, outcomes)."""
        commented: dict[str, CodeOutcome] = {}
        holding: dict[str, PullRequest] = {}
        for pull in gh.open_pull_requests(self.iac.base_branch):
            for fp in fingerprints_in(pull.body):
                holding.setdefault(fp, pull)
        left: list[tuple[Finding, Ownership]] = []
        for finding, owner in items:
            held = holding.get(finding.fingerprint)
            if held is None:
                left.append((finding, owner))
                continue
            gh.comment(
                held.number,
                f"Run {run_url} (approved by {approver}) saw this finding again: "
                f"`{finding.resource_id}` ({finding.check}), {owner.address}. "
                "It stays in this pull request.",
            )
            commented[finding.fingerprint] = CodeOutcome(
                "proposed", _opened(held, "already") + " (commented)", held.url
            )
        return left, commented

    def _plan(self, root: Path, allowed: set[str]) -> PlanReport:
        if not self.iac.run_plan:
            return PlanReport(
                ran=False,
                why_not="FINOPS_IAC__RUN_PLAN is off (it needs terraform, its providers and "
                "read credentials where the flow runs)",
            )
        return run_plan(self.iac.terraform_bin, root, allowed)


def _opened(pull: PullRequest, how: str) -> str:
    verb = "opened" if how == "opened" else "already in"
    return f"pull request #{pull.number} {verb} ({pull.url})"


def _request(finding: Finding, owner: Ownership) -> ChangeRequest:
    Address.parse(owner.address)  # an address that is not a resource fails before any clone
    return ChangeRequest(
        fingerprint=finding.fingerprint,
        check=finding.check,
        resource_id=finding.resource_id,
        address=owner.address,
        evidence=finding.evidence,
        monthly_savings_usd=finding.monthly_savings_usd,
        account_id=finding.account_id,
        region=finding.region,
    )


def _parse_back(path: str, text: str) -> None:
    """python-hcl2 must read the edited file (else nothing is committed)."""
    import hcl2

    try:
        hcl2.loads(text)
    except Exception as error:  # python-hcl2 raises lark's errors: any of them is a refusal
        raise GitError(f"{path}: the edited HCL does not parse ({type(error).__name__})") from None


__all__ = ["CodeOutcome", "CodePath", "GitError"]
