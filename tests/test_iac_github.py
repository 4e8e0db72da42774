"""The GitHub client and the code path against a local server that speaks GitHub's REST API
over a real bare Git repository: malformed requests are refused as GitHub refuses them, 429 and
5xx are retried a bounded number of times, a refused connection is one line, and one approval
run never opens two pull requests."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from sandbox.iac import write_repository
from tasks.findings.model import Finding
from tasks.iac.github import GitHub, GitHubError, token_from
from tasks.iac.ownership import Ownership
from tasks.iac.pull_request import CodePath
from tasks.settings import IacSettings
from tests.plugins.github import TOKEN, FakeGitHub, start_github

MAIN_TF = (
    'resource "aws_ebs_volume" "data_1" {\n'
    '  availability_zone = "us-east-1a"\n'
    "  size              = 500\n"
    '  type              = "gp2"\n'
    "}\n"
)


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    remote = write_repository(tmp_path / "remote.git", {"terraform/main.tf": MAIN_TF})
    fake, server = start_github(remote)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def client(fake: FakeGitHub, token: str = TOKEN, **kwargs: object) -> tuple[GitHub, list[float]]:
    slept: list[float] = []
    return GitHub(fake.base_url, fake.repo, token, sleep=slept.append, **kwargs), slept  # type: ignore[arg-type]


def push_branch(fake: FakeGitHub, tmp_path: Path, branch: str) -> None:
    work = tmp_path / f"work-{branch.replace('/', '-')}"
    subprocess.run(["git", "clone", "-q", str(fake.remote), str(work)], check=True)
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", "origin", f"HEAD:refs/heads/{branch}"], check=True
    )


def gp2_finding(volume: str = "vol-0a1") -> tuple[Finding, Ownership]:
    finding = Finding(
        check="ebs-gp2",
        account_id="123456789012",
        region="us-east-1",
        resource_id=volume,
        resource_arn=f"arn:aws:ec2:us-east-1:123456789012:volume/{volume}",
        resource_type="ec2:volume",
        monthly_savings_usd=Decimal("5.00"),
        evidence={"gp3": {"iops": 3000, "throughput_mibps": 250}, "size_gib": 500},
    )
    return finding, Ownership(kind="terraform", address="aws_ebs_volume.data_1")


def code_path(fake: FakeGitHub, tmp_path: Path, **overrides: object) -> CodePath:
    iac = IacSettings(
        repo_url=str(fake.remote),
        repo_path="terraform",
        github_api_url=fake.base_url,
        github_repo=fake.repo,
        github_backoff_s=0,
        **overrides,  # type: ignore[arg-type]
    )
    return CodePath(iac, tmp_path / "data", "http://127.0.0.1:4200", lambda: client(fake)[0])


# -- the server refuses what GitHub refuses ---------------------------------------------------
def test_missing_or_wrong_auth_is_401_and_the_token_never_shows(github: FakeGitHub) -> None:
    response = httpx.get(f"{github.base_url}/repos/{github.repo}/pulls")
    assert response.status_code == 401
    gh, _ = client(github, token="ghp_wrongwrongwrong")
    with pytest.raises(GitHubError, match="HTTP 401: Bad credentials") as error:
        gh.find_pull_request("finops/x")
    assert "ghp_wrong" not in str(error.value)


def test_a_body_that_is_not_json_or_lacks_fields_is_refused(github: FakeGitHub) -> None:
    url = f"{github.base_url}/repos/{github.repo}/pulls"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, headers=auth, content=b"{title: x").status_code == 400
    assert httpx.post(url, headers=auth, json=["a"]).status_code == 400
    assert httpx.post(url, headers=auth, json={"title": "t", "head": "x"}).status_code == 422


def test_an_unknown_head_branch_is_refused(github: FakeGitHub) -> None:
    gh, _ = client(github)
    with pytest.raises(GitHubError, match="HTTP 422"):
        gh.open_pull_request("finops/never-pushed", "main", "t", "b")
    assert github.pulls == []


# -- retries ----------------------------------------------------------------------------------
def test_429_waits_for_retry_after_then_succeeds(github: FakeGitHub) -> None:
    github.faults += [
        (429, {"Retry-After": "2"}),
        (403, {"x-ratelimit-remaining": "0", "Retry-After": "1"}),
    ]
    gh, slept = client(github)
    assert gh.find_pull_request("finops/x") is None
    assert slept == [2.0, 1.0]


def test_5xx_backs_off_a_bounded_number_of_times(github: FakeGitHub) -> None:
    github.faults += [(502, {}), (503, {})]
    gh, slept = client(github, backoff_s=0.25)
    assert gh.find_pull_request("finops/x") is None
    assert slept == [0.25, 0.5]
    github.faults += [(500, {})] * 5
    gh, slept = client(github, max_retries=2, backoff_s=0)
    with pytest.raises(GitHubError, match=r"HTTP 500 after 3 attempt\(s\)"):
        gh.find_pull_request("finops/x")
    assert len(slept) == 2


def test_a_refused_connection_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gh = GitHub(f"http://127.0.0.1:{port}", "acme/infra", TOKEN)
    with pytest.raises(GitHubError) as error:
        gh.find_pull_request("finops/x")
    message = str(error.value)
    assert message.startswith(f"cannot reach GitHub at http://127.0.0.1:{port}")
    assert "\n" not in message and TOKEN not in message


def test_a_lost_answer_to_create_never_makes_a_second_pull_request(
    github: FakeGitHub, tmp_path: Path
) -> None:
    push_branch(github, tmp_path, "finops/run-1")
    github.lost_answers.append(("POST", 502))  # the POST creates it, but the answer is lost
    gh, _ = client(github)
    pull = gh.open_pull_request("finops/run-1", "main", "t", "b")
    again = gh.open_pull_request("finops/run-1", "main", "t", "b")
    assert len(github.pulls) == 1 and pull.number == again.number == 1
    assert [m for m, _ in github.requests].count("POST") == 1


def test_no_token_says_where_to_put_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINOPS_TEST_GH_TOKEN", raising=False)
    with pytest.raises(
        GitHubError, match="set FINOPS_TEST_GH_TOKEN or FINOPS_IAC__GITHUB_TOKEN_BLOCK"
    ):
        token_from("FINOPS_TEST_GH_TOKEN")


# -- the code path ----------------------------------------------------------------------------
def test_one_approval_run_one_pull_request_and_a_later_run_comments(
    github: FakeGitHub, tmp_path: Path
) -> None:
    path = code_path(github, tmp_path)
    item = gp2_finding()
    first = path.propose("run-1", "Ana Lima", [item], dry_run=False)
    assert first[item[0].fingerprint].result == "proposed"
    rerun = path.propose("run-1", "Ana Lima", [item], dry_run=False)  # the same approval again
    assert "already in" in rerun[item[0].fingerprint].reason
    later = path.propose("run-2", "Bo Chen", [item], dry_run=False)  # a later run, same finding
    assert "commented" in later[item[0].fingerprint].reason
    assert len(github.pulls) == 1
    assert len(github.comments[1]) == 1 and "saw this finding again" in github.comments[1][0]
    body = github.pulls[0]["body"]
    assert "$5.00 per month" in body and "Ana Lima" in body and "3000 IOPS, 250 MiB/s" in body


def test_github_down_fails_in_one_line_and_a_rerun_opens_the_pull_request(
    github: FakeGitHub, tmp_path: Path
) -> None:
    path = code_path(github, tmp_path)
    item = gp2_finding()
    github.faults += [(503, {})] * 4  # more than the client's 3 retries
    down = path.propose("run-9", "Ana Lima", [item], dry_run=False)
    outcome = down[item[0].fingerprint]
    assert outcome.result == "failed" and "HTTP 503" in outcome.reason
    assert github.pulls == []
    up = path.propose("run-9", "Ana Lima", [item], dry_run=False)
    assert up[item[0].fingerprint].result == "proposed"
    assert len(github.pulls) == 1


def test_a_dry_run_pushes_nothing(github: FakeGitHub, tmp_path: Path) -> None:
    item = gp2_finding()
    outcome = code_path(github, tmp_path).propose("run-3", "Ana Lima", [item], dry_run=True)
    assert outcome[item[0].fingerprint].result == "dry_run"
    assert "type gp2 -> gp3" in outcome[item[0].fingerprint].reason
    assert not github.branch_exists("finops/run-3") and github.requests == []


def test_a_run_that_died_after_approving_finishes_with_the_same_single_pull_request(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.findings.model import FindingStatus
    from tasks.findings.store import FindingsStore
    from tasks.remediation.audit import AuditLog
    from tasks.remediation.engine import Remediator
    from tasks.remediation.ledger import RemediationLedger
    from tasks.settings import load_settings

    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "finops"))
    settings = load_settings()
    finding, owner = gp2_finding()
    finding = finding.model_copy(
        update={"evidence": {**finding.evidence, "iac": owner.model_dump()}}
    )
    store = FindingsStore(settings.findings_url)
    store.record_scan([finding])
    store.transition(finding.fingerprint, FindingStatus.APPROVED, actor="Ana Lima", reason="test")
    ledger = RemediationLedger(settings.findings_url)
    entry = ledger.approve("run-dead", finding.fingerprint, "open_pull_request", "Ana Lima")
    ledger.start(entry.id)  # the run died here, before the pull request

    def no_api(*_: object) -> object:
        raise AssertionError("the code path never calls AWS")

    path = code_path(github, tmp_path)
    engine = Remediator(
        settings,
        store,
        ledger,
        AuditLog(settings.audit_log_url),
        no_api,
        "run-next",
        False,
        code_path=path.propose,
    )
    (result,) = engine.recover()
    assert result.result == "proposed" and "pull request #1 opened" in result.reason
    assert github.pulls[0]["head"]["ref"] == "finops/run-dead"  # the approval's branch
    assert engine.recover() == []  # finished: nothing left to do
    assert len(github.pulls) == 1
    assert store.get(finding.fingerprint).status is FindingStatus.APPROVED
