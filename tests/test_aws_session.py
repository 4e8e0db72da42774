"""AWS access layer: one botocore Config, cached clients, account and region discovery, fan-out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tasks.aws.session import AwsAccess, Target, boto_config, fan_out
from tasks.settings import AwsSettings


@pytest.fixture(scope="module")
def standalone_endpoint() -> Iterator[str]:
    """A bare moto server: one account that belongs to no organisation."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def standalone(standalone_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AwsAccess:
    monkeypatch.setenv("AWS_ENDPOINT_URL", standalone_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return AwsAccess(AwsSettings(), base_session=boto3.Session(region_name="us-east-1"))


def test_one_config_for_the_project() -> None:
    config = boto_config(AwsSettings(max_attempts=4, connect_timeout_s=2, read_timeout_s=9))
    assert config.retries == {"mode": "standard", "max_attempts": 4}
    assert config.connect_timeout == 2
    assert config.read_timeout == 9
    assert "finops-flows/" in (config.user_agent_extra or "")


def test_standalone_account_is_scanned_alone_without_error(standalone: AwsAccess) -> None:
    caller = standalone.caller_account_id
    assert standalone.list_accounts() == [caller]


def test_accounts_from_settings_win_over_discovery(standalone: AwsAccess) -> None:
    access = AwsAccess(AwsSettings(accounts=["111111111111", "222222222222"]))
    assert access.list_accounts() == ["111111111111", "222222222222"]


def test_enabled_regions_skip_regions_not_opted_in(standalone: AwsAccess) -> None:
    regions = standalone.enabled_regions()
    assert "us-east-1" in regions and "eu-west-1" in regions
    assert len(regions) == len(set(regions))


def test_clients_are_cached_per_account_service_and_region(standalone: AwsAccess) -> None:
    caller = standalone.caller_account_id
    first = standalone.client("ec2", caller, "us-east-1")
    assert standalone.client("ec2", caller, "us-east-1") is first
    assert standalone.client("ec2", caller, "eu-west-1") is not first
    assert standalone.client("s3", caller, "us-east-1") is not first
    assert first.meta.config.retries["mode"] == "standard"


def test_targets_cover_every_account_and_region(standalone: AwsAccess) -> None:
    targets = standalone.targets(regions=["us-east-1", "eu-west-1"])
    assert targets == [
        Target(standalone.caller_account_id, "us-east-1"),
        Target(standalone.caller_account_id, "eu-west-1"),
    ]


def test_fan_out_reports_failing_targets_and_keeps_the_others() -> None:
    denied = Target("222222222222", "us-east-1")

    def work(target: Target) -> str:
        if target == denied:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "AssumeRole"
            )
        return f"scanned {target}"

    targets = [
        Target(a, r) for a in ("111111111111", "222222222222") for r in ("us-east-1", "eu-west-1")
    ]
    outcome = fan_out(work, targets, max_concurrency=2)
    assert set(outcome.results) == set(targets) - {denied}
    assert list(outcome.errors) == [denied]
    error = outcome.errors[denied]
    assert error.code == "AccessDenied"
    assert "222222222222/us-east-1" in str(error)
    assert "cannot be assumed" in str(error)


def test_fan_out_bounds_concurrency() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(target: Target) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1

    fan_out(work, [Target(f"{i:012d}", "us-east-1") for i in range(12)], max_concurrency=3)
    assert peak == 3
