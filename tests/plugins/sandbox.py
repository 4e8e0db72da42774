"""Sandbox fixtures: a seeded AWS organisation (moto server) on a free port.

* ``sandbox`` (session): one server for the whole test session, small and fast to seed.  Treat it
  as read-only; mutate only what you create yourself, or use ``fresh_sandbox``.
* ``sandbox_env`` (function): the ``sandbox`` plus the AWS environment variables of
  ``finops sandbox env`` set for this one test (restored afterwards), so code that builds its
  clients from the environment (``AwsAccess``) reaches the sandbox.
* ``fresh_sandbox`` (function): a factory ``fresh_sandbox(seed=..., instances=...)`` that starts a
  private server for tests that change resources; stopped at the end of the test.

The session fixture never changes ``os.environ``: tests that do not ask for the sandbox see the
environment unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from finops.commands.sandbox import sandbox_env as env_for_endpoint
from sandbox.context import SandboxSize
from sandbox.state import SandboxState, start_server, stop_server, wait_ready
from tasks.aws.session import boto_config

#: Size of the session sandbox: every profile present, seeded in seconds.
TEST_SIZE = SandboxSize(
    accounts=3,
    regions=("us-east-1", "eu-west-1"),
    instances=12,
    volumes=12,
    days=14,
    cost_days=400,
)
TEST_SEED = 7


@dataclass
class SandboxHandle:
    """A running, seeded sandbox as tests see it.

    Example:
        >>> ec2 = sandbox.client("ec2", sandbox.accounts[1], "eu-west-1")  # doctest: +SKIP
    """

    endpoint_url: str
    state_path: Path
    state: SandboxState
    ground_truth: dict[str, Any]
    seed: int
    size: SandboxSize
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict, repr=False)
    _credentials: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _session: boto3.Session | None = field(default=None, repr=False)

    @property
    def accounts(self) -> list[str]:
        """Account ids, management first."""
        return list(self.ground_truth["accounts"])

    @property
    def regions(self) -> list[str]:
        return list(self.ground_truth["regions"])

    @property
    def management_account_id(self) -> str:
        return self.accounts[0]

    @property
    def member_accounts(self) -> list[str]:
        return self.accounts[1:]

    def role_arn(self, account_id: str) -> str:
        """ARN of the assumable member role in an account."""
        role = self.ground_truth.get("member_role_name", "OrganizationAccountAccessRole")
        return f"arn:aws:iam::{account_id}:role/{role}"

    def credentials(self, account_id: str | None = None) -> dict[str, str]:
        """Keys for an account: the management's ``testing`` keys, or AssumeRole into a member."""
        account = account_id or self.management_account_id
        if account not in self._credentials:
            keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            if account != self.management_account_id:
                sts = self._shared().client(
                    "sts", endpoint_url=self.endpoint_url, config=boto_config(), **keys
                )
                creds = sts.assume_role(RoleArn=self.role_arn(account), RoleSessionName="pytest")[
                    "Credentials"
                ]
                keys = {
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                }
            self._credentials[account] = keys
        return self._credentials[account]

    def session(self, account_id: str | None = None) -> boto3.Session:
        """A boto3 session with an account's credentials (e.g. for ``AwsAccess(base_session=)``)."""
        return boto3.Session(region_name="us-east-1", **self.credentials(account_id))

    def _shared(self) -> boto3.Session:
        # one session for all clients: botocore parses each service model once per session
        if self._session is None:
            self._session = boto3.Session(region_name="us-east-1")
        return self._session

    def client(self, service: str, account_id: str | None = None, region: str = "us-east-1") -> Any:
        """A boto3 client against the sandbox with that account's credentials (cached)."""
        key = (service, account_id or self.management_account_id, region)
        if key not in self._clients:
            self._clients[key] = self._shared().client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=boto_config(),
                **self.credentials(key[1]),
            )
        return self._clients[key]

    def control(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        """Call a ``/_sandbox/`` control endpoint; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint_url}/_sandbox/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def deny_role(self, role_arn: str) -> None:
        """Make STS AssumeRole of this role ARN answer AccessDenied."""
        self.control("POST", "deny-role", {"role_arn": role_arn})

    def allow_role(self, role_arn: str) -> None:
        """Undo :meth:`deny_role`."""
        self.control("DELETE", "deny-role", {"role_arn": role_arn})


def start_sandboxes(
    directories: list[Path],
    seed: int = TEST_SEED,
    size: SandboxSize = TEST_SIZE,
    timeout_s: float = 600,
) -> list[SandboxHandle]:
    """Start one sandbox per directory, all seeding at once; wait until every one is ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.pop("AWS_PROFILE", None)
    launched = [
        (d / "state.json", start_server(d / "state.json", seed, size.as_dict(), port=0, env=env))
        for d in directories
    ]
    handles = []
    try:
        for state_path, process in launched:
            state = wait_ready(state_path, process, timeout_s=timeout_s)
            ground_truth = json.loads(Path(state.ground_truth_path).read_text(encoding="utf-8"))
            handles.append(
                SandboxHandle(
                    endpoint_url=state.endpoint_url,
                    state_path=state_path,
                    state=state,
                    ground_truth=ground_truth,
                    seed=seed,
                    size=size,
                    env=env_for_endpoint(state.endpoint_url),
                    process=process,
                )
            )
    except BaseException:
        for _, process in launched:
            process.kill()
            process.wait()
        raise
    return handles


def start_sandbox(
    directory: Path, seed: int = TEST_SEED, size: SandboxSize = TEST_SIZE, timeout_s: float = 600
) -> SandboxHandle:
    """Start a sandbox server whose files live in ``directory``; wait until it is seeded."""
    return start_sandboxes([directory], seed, size, timeout_s)[0]


def stop_sandbox(handle: SandboxHandle) -> None:
    """Stop a sandbox started by :func:`start_sandbox` and reap its process."""
    stop_server(handle.state_path)
    if handle.process is not None:
        handle.process.wait(timeout=30)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """The session's seeded sandbox organisation (read-only by convention)."""
    handle = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield handle
    finally:
        stop_sandbox(handle)


@pytest.fixture
def sandbox_env(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    """The session sandbox with ``finops sandbox env``'s variables set for this test only."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    return sandbox


@pytest.fixture
def fresh_sandbox(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SandboxHandle]]:
    """Factory for private sandboxes (for tests that mutate resources); all stopped at the end.

    Example:
        >>> box = fresh_sandbox(seed=11, instances=4)  # doctest: +SKIP
    """
    started: list[SandboxHandle] = []

    def make(seed: int = TEST_SEED, **size: Any) -> SandboxHandle:
        values = {**TEST_SIZE.as_dict(), **size}
        handle = start_sandbox(
            tmp_path_factory.mktemp("fresh-sandbox"), seed, SandboxSize.from_dict(values)
        )
        started.append(handle)
        return handle

    try:
        yield make
    finally:
        for handle in started:
            stop_sandbox(handle)
