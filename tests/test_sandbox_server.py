"""The sandbox server as a new user meets it: `finops sandbox ...`, plain boto3, the fan-out.

Everything runs against real sandbox server processes (moto behind our dispatcher), reached
over HTTP exactly as boto3 or the AWS CLI would reach them.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from finops.cli import app
from sandbox.context import SandboxSize
from sandbox.state import pid_alive, read_state
from tasks.aws.session import AwsAccess, Target, fan_out
from tasks.settings import AwsSettings
from tests.plugins.sandbox import TEST_SIZE, SandboxHandle, start_sandboxes, stop_sandbox

runner = CliRunner()

#: A small organisation for tests that start their own server.
SMALL = {"accounts": 2, "regions": ("us-east-1",), "instances": 6, "volumes": 2}


def _instances(ground_truth: dict[str, Any], account_id: str, region: str) -> set[str]:
    return {
        r["resource_id"]
        for r in ground_truth["resources"]
        if r["resource_type"] == "ec2-instance"
        and r["account_id"] == account_id
        and r["region"] == region
    }


def _env_from_cli(state_path: Path) -> dict[str, str]:
    result = runner.invoke(app, ["sandbox", "env", "--state-file", str(state_path)])
    assert result.exit_code == 0, result.output
    exports = {}
    lines = result.output.splitlines()
    assert lines[0] == "unset AWS_PROFILE"
    for line in lines[1:]:
        assert line.startswith("export "), line
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = value
    return exports


def _use_env(monkeypatch: pytest.MonkeyPatch, exports: dict[str, str]) -> None:
    for name in [k for k in os.environ if k.startswith(("AWS_", "BOTO_"))]:
        monkeypatch.delenv(name)
    for name, value in exports.items():
        monkeypatch.setenv(name, value)


def test_env_alone_lets_plain_boto3_see_the_organisation_and_member_fleets(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = _env_from_cli(sandbox.state_path)
    assert exports["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert "AWS_PROFILE" not in exports
    _use_env(monkeypatch, exports)

    listed = [
        a["Id"]
        for page in boto3.client("organizations").get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
    ]
    assert sorted(listed) == sorted(sandbox.accounts)
    assert len(sandbox.member_accounts) >= 2 and len(sandbox.regions) >= 2

    for account in sandbox.accounts:
        if account == sandbox.management_account_id:
            session = boto3.Session()
        else:
            creds = boto3.client("sts").assume_role(
                RoleArn=sandbox.role_arn(account), RoleSessionName="newcomer"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            assert session.client("sts").get_caller_identity()["Account"] == account
        for region in sandbox.regions:
            ec2 = session.client("ec2", region_name=region)
            seen = {
                i["InstanceId"]
                for page in ec2.get_paginator("describe_instances").paginate()
                for r in page["Reservations"]
                for i in r["Instances"]
            }
            expected = _instances(sandbox.ground_truth, account, region)
            assert expected, (account, region)
            assert seen == expected, (account, region)


def test_denied_role_fails_assume_role_for_that_account_only(sandbox: SandboxHandle) -> None:
    denied, other = sandbox.member_accounts[:2]
    sts = boto3.client(
        "sts",
        endpoint_url=sandbox.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sandbox.deny_role(sandbox.role_arn(denied))
    try:
        with pytest.raises(ClientError) as raised:
            sts.assume_role(RoleArn=sandbox.role_arn(denied), RoleSessionName="denied")
        assert raised.value.response["Error"]["Code"] == "AccessDenied"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert sandbox.role_arn(denied) in raised.value.response["Error"]["Message"]
        assert sts.assume_role(RoleArn=sandbox.role_arn(other), RoleSessionName="other")
    finally:
        sandbox.allow_role(sandbox.role_arn(denied))
    assert sts.assume_role(RoleArn=sandbox.role_arn(denied), RoleSessionName="again")


def test_fan_out_with_one_member_denied_returns_the_others_and_names_the_failed_target(
    sandbox_env: SandboxHandle,
) -> None:
    sandbox = sandbox_env
    denied = sandbox.member_accounts[0]
    sandbox.deny_role(sandbox.role_arn(denied))
    try:
        access = AwsAccess(AwsSettings())
        targets = access.targets(regions=sandbox.regions)  # accounts from Organizations

        def count_instances(target: Target) -> int:
            ec2 = access.client("ec2", target.account_id, target.region)
            return sum(
                len(r["Instances"])
                for page in ec2.get_paginator("describe_instances").paginate()
                for r in page["Reservations"]
            )

        outcome = fan_out(count_instances, targets, max_concurrency=4)
    finally:
        sandbox.allow_role(sandbox.role_arn(denied))

    failed = {Target(denied, region) for region in sandbox.regions}
    assert set(outcome.errors) == failed
    for target, error in outcome.errors.items():
        assert error.code == "AccessDenied"
        assert denied in str(error) and target.region in str(error)
    assert set(outcome.results) == set(targets) - failed
    for target, count in outcome.results.items():
        assert count == len(_instances(sandbox.ground_truth, target.account_id, target.region))


def _cpu_query(n: int, instance: str, stat: str, period: int) -> dict[str, Any]:
    return {
        "Id": f"q{n}",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def test_metric_history_ends_near_now_and_spans_the_seeded_days(sandbox: SandboxHandle) -> None:
    region = sandbox.regions[0]
    account = sandbox.member_accounts[0]
    running = [
        r
        for r in sandbox.ground_truth["resources"]
        if r["resource_type"] == "ec2-instance"
        and r["account_id"] == account
        and r["region"] == region
        and r["facts"]["state"] == "running"
    ]
    assert running
    now = datetime.now(UTC)
    answer = sandbox.client("cloudwatch", account, region).get_metric_data(
        MetricDataQueries=[_cpu_query(0, running[0]["resource_id"], "Average", 3600)],
        StartTime=now - timedelta(days=sandbox.size.days + 2),
        EndTime=now,
    )["MetricDataResults"][0]
    newest, oldest = answer["Timestamps"][0], answer["Timestamps"][-1]  # newest first
    assert now - timedelta(hours=3) <= newest <= now
    assert oldest <= now - timedelta(days=sandbox.size.days - 1)


def test_get_metric_data_answers_500_queries_in_order(sandbox: SandboxHandle) -> None:
    account, region = sandbox.management_account_id, sandbox.regions[0]
    instances = sorted(_instances(sandbox.ground_truth, account, region))
    stats = ["Average", "Maximum", "Minimum", "Sum", "SampleCount"]
    queries = [
        _cpu_query(n, instances[n % len(instances)], stats[n % 5], 3600 * (1 + n % 3))
        for n in range(500)
    ]
    # on the hour: GetMetricData's periods start at StartTime, GetMetricStatistics's at the
    # first datapoint, which is on the hour
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=3)
    cloudwatch = sandbox.client("cloudwatch", account, region)
    results = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)[
        "MetricDataResults"
    ]
    assert [r["Id"] for r in results] == [q["Id"] for q in queries]
    by_id = {r["Id"]: r for r in results}
    # the same numbers as GetMetricStatistics for the same series, period and statistic
    stats_answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": instances[1]}],
        StartTime=start,
        EndTime=end,
        Period=7200,
        Statistics=["Maximum"],
    )["Datapoints"]
    maxima = {p["Timestamp"]: p["Maximum"] for p in stats_answer}
    q1 = by_id["q1"]
    assert q1["Label"] == "CPUUtilization Maximum" and q1["Values"]
    assert len(q1["Values"]) == 36 and set(q1["Timestamps"]) == set(maxima)
    for timestamp, value in zip(q1["Timestamps"], q1["Values"], strict=True):
        assert value == pytest.approx(maxima[timestamp])


def test_control_endpoints_report_health_and_reject_bad_requests(sandbox: SandboxHandle) -> None:
    health = sandbox.control("GET", "health")
    assert health["ready"] is True and health["status"] == "ready"
    assert sandbox.control("GET", "ground-truth")["accounts"] == sandbox.accounts
    for method, name, body in [
        ("POST", "deny-role", {"role": "x"}),
        ("POST", "deny-role", {"role_arn": "not-an-arn"}),
        ("POST", "restate", {"date": "yesterday"}),
        ("GET", "nothing-here", None),
    ]:
        with pytest.raises(urllib.error.HTTPError) as raised:
            sandbox.control(method, name, body)
        assert raised.value.code in {400, 404}
        assert json.loads(raised.value.read())["error"]


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxHandle, ...]]:
    """Two small sandboxes with the same seed (the second one may be changed by tests)."""
    size = SandboxSize.from_dict({**TEST_SIZE.as_dict(), **SMALL})
    handles = start_sandboxes([tmp_path_factory.mktemp("twin") for _ in range(2)], 5, size)
    try:
        yield tuple(handles)
    finally:
        for handle in handles:
            stop_sandbox(handle)


def test_same_seed_same_organisation(twins: tuple[SandboxHandle, ...]) -> None:
    first, second = twins  # ground truths as written at seeding time
    assert first.endpoint_url != second.endpoint_url
    for key in ("accounts", "resources", "anomalies", "daily_totals", "export"):
        assert first.ground_truth[key] == second.ground_truth[key], key


def test_restate_bumps_the_export_version_and_what_cost_explorer_serves(
    twins: tuple[SandboxHandle, ...],
) -> None:
    box = twins[1]
    truth_before = {d["date"]: d for d in box.ground_truth["daily_totals"]}
    day = (date.fromisoformat(box.ground_truth["last_day"]) - timedelta(days=20)).isoformat()
    answer = box.control("POST", "restate", {"date": day, "factor": 1.5})
    assert answer["billing_period"] == day[:7] and answer["version"] == 2
    assert answer["export"]["periods"][day[:7]]["version"] == 2

    truth_after = box.control("GET", "ground-truth")
    after = {d["date"]: d for d in truth_after["daily_totals"]}
    assert after[day]["billed_cost"] > truth_before[day]["billed_cost"]
    assert truth_after["restatements"][-1]["date"] == day
    on_disk = json.loads(Path(box.state.ground_truth_path).read_text(encoding="utf-8"))
    assert on_disk["daily_totals"] == truth_after["daily_totals"]

    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    ce = box.client("ce")
    served = ce.get_cost_and_usage(
        TimePeriod={"Start": day, "End": next_day}, Granularity="DAILY", Metrics=["UnblendedCost"]
    )["ResultsByTime"][0]["Total"]["UnblendedCost"]
    assert float(served["Amount"]) == pytest.approx(after[day]["billed_cost"], abs=0.01)


def test_cli_up_status_env_down(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox" / "state.json"
    args = ["--state-file", str(state_file)]
    bad = runner.invoke(app, ["sandbox", "up", "--regions", "", *args])
    assert bad.exit_code == 2 and "regions" in bad.output

    small = ["--accounts", "2", "--regions", "us-east-1", "--instances", "6", "--volumes", "2"]
    up = runner.invoke(app, ["sandbox", "up", *small, "--seed", "9", *args])
    try:
        assert up.exit_code == 0, up.output
        state = read_state(state_file)
        assert state is not None and state.ready and state.port > 0
        assert state.endpoint_url in up.output
        assert "accounts: 2" in up.output and "ec2-instance" in up.output
        assert "400 days" in up.output

        status = runner.invoke(app, ["sandbox", "status", *args])
        assert status.exit_code == 0 and state.endpoint_url in status.output
        again = runner.invoke(app, ["sandbox", "up", *args])
        assert again.exit_code == 0 and "already running" in again.output
        assert _env_from_cli(state_file)["AWS_ENDPOINT_URL"] == state.endpoint_url
    finally:
        down = runner.invoke(app, ["sandbox", "down", *args])
    assert down.exit_code == 0 and "stopped" in down.output
    assert not state_file.exists()
    assert not pid_alive(state.pid)
    assert runner.invoke(app, ["sandbox", "status", *args]).exit_code == 1
    assert runner.invoke(app, ["sandbox", "env", *args]).exit_code == 1
    assert "no sandbox" in runner.invoke(app, ["sandbox", "down", *args]).output


def test_cli_up_reports_a_seeding_failure_with_the_log(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    tiny = ["--accounts", "1", "--regions", "us-east-1", "--instances", "1", "--volumes", "0"]
    # the ledger needs at least 90 days: seeding fails after the fleet is in place
    up = runner.invoke(
        app, ["sandbox", "up", *tiny, "--cost-days", "10", "--state-file", str(state_file)]
    )
    assert up.exit_code == 1
    assert "sandbox seeding failed" in up.output and "days" in up.output
    assert "server.log" in up.output  # where to look for the rest
    state = read_state(state_file)
    assert state is not None and state.error and not state.ready
    runner.invoke(app, ["sandbox", "down", "--state-file", str(state_file)])
    assert not pid_alive(state.pid)


# ---- the dispatcher alone (in-process, a recording stand-in for moto) ----------------------


def _dispatcher() -> tuple[Any, Any, list[dict[str, Any]]]:
    from werkzeug.test import Client

    from sandbox.dispatcher import SandboxControl, SandboxDispatcher

    passed: list[dict[str, Any]] = []

    def moto_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed.append({"path": environ["PATH_INFO"], "body": environ["wsgi.input"].read()})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"moto"]

    control = SandboxControl()
    return Client(SandboxDispatcher(moto_app, control)), control, passed


def test_dispatcher_routes_cost_explorer_only_when_seeded_and_only_its_operations() -> None:
    client, control, passed = _dispatcher()
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        seen.append((operation, body))
        return 200, {"ResultsByTime": []}

    control.cost_explorer = handler
    headers = {"X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsage"}
    seeding = client.post("/", data=b"{}", headers=headers)
    assert seeding.status_code == 503
    assert json.loads(seeding.data)["__type"] == "ServiceUnavailableException"

    control.ready = True
    answer = client.post("/", data=b'{"Granularity": "DAILY"}', headers=headers)
    assert answer.status_code == 200 and json.loads(answer.data) == {"ResultsByTime": []}
    assert answer.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert seen == [("GetCostAndUsage", {"Granularity": "DAILY"})]
    broken = client.post("/", data=b"{not json", headers=headers)
    assert broken.status_code == 400
    assert json.loads(broken.data)["__type"] == "SerializationException"

    other = {"X-Amz-Target": "AWSInsightsIndexService.GetAnomalyMonitors"}
    assert client.post("/", data=b"{}", headers=other).data == b"moto"
    assert len(passed) == 1 and len(seen) == 1


def test_dispatcher_routes_a_service_module_by_credential_scope_and_operation() -> None:
    from sandbox.services import SandboxService, ServiceRequest

    client, control, passed = _dispatcher()
    seen: list[ServiceRequest] = []

    def handle(request: ServiceRequest) -> tuple[int, dict[str, Any]]:
        seen.append(request)
        return 200, {"savingsPlans": []}

    control.services = (
        SandboxService(
            "savings-plans",
            "savingsplans",
            frozenset({"DescribeSavingsPlans"}),
            handle,
            protocol="rest-json",
        ),
    )
    scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/savingsplans/aws4_request"
    auth = {"Authorization": scope + ", SignedHeaders=host, Signature=00"}
    assert client.post("/DescribeSavingsPlans", data=b"{}", headers=auth).status_code == 503

    control.ready = True
    answer = client.post("/DescribeSavingsPlans", data=b'{"states": ["active"]}', headers=auth)
    assert answer.status_code == 200 and answer.json == {"savingsPlans": []}
    assert answer.headers["Content-Type"] == "application/json"
    assert seen == [
        ServiceRequest("DescribeSavingsPlans", {"states": ["active"]}, "AKIDEXAMPLE", "us-east-1")
    ]
    broken = client.post("/DescribeSavingsPlans", data=b"[1]", headers=auth)
    assert broken.status_code == 400 and broken.json["__type"] == "SerializationException"

    # another operation of the service, or another service on the same path, is moto's
    assert client.post("/CreateSavingsPlan", data=b"{}", headers=auth).data == b"moto"
    ce = {"Authorization": scope.replace("/savingsplans/", "/ce/")}
    assert client.post("/DescribeSavingsPlans", data=b"{}", headers=ce).data == b"moto"
    assert len(passed) == 2 and len(seen) == 1


def test_dispatcher_denies_assume_role_in_query_and_json_protocols_and_keeps_the_body() -> None:
    client, _, passed = _dispatcher()
    arn = "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    assert client.post("/_sandbox/deny-role", json={"role_arn": arn}).json == {
        "denied_roles": [arn]
    }
    auth = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/sts/aws4_request"
    }
    form = {"Content-Type": "application/x-www-form-urlencoded", **auth}
    query = client.post(
        "/", data=f"Action=AssumeRole&RoleArn={arn}&RoleSessionName=s", headers=form
    )
    assert query.status_code == 403 and b"<Code>AccessDenied</Code>" in query.data
    as_json = client.post(
        "/",
        json={"RoleArn": arn, "RoleSessionName": "s"},
        headers={"X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRole", **auth},
    )
    assert as_json.status_code == 403 and json.loads(as_json.data)["__type"] == "AccessDenied"

    other = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
    body = f"Action=AssumeRole&RoleArn={other}&RoleSessionName=s"
    assert client.post("/", data=body, headers=form).data == b"moto"
    assert passed[-1]["body"] == body.encode()  # moto still reads the whole request

    assert client.delete("/_sandbox/deny-role", json={"role_arn": arn}).json == {"denied_roles": []}
    assert client.post("/", data=f"Action=AssumeRole&RoleArn={arn}", headers=form).data == b"moto"


def test_dispatcher_control_endpoints_are_loopback_only() -> None:
    client, control, _ = _dispatcher()
    control.ready = True
    control.ground_truth = {"accounts": ["123456789012"]}
    assert client.get("/_sandbox/ground-truth").json == control.ground_truth
    remote = client.get("/_sandbox/ground-truth", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert remote.status_code == 403
    assert client.put("/_sandbox/health").status_code == 405


def test_tag_lookup_by_one_resource_id_answers_as_moto_does() -> None:
    from moto import mock_aws
    from moto.ec2.models import ec2_backends

    from sandbox import moto_patches

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        volumes = [ec2.create_volume(Size=1, AvailabilityZone="us-east-1a") for _ in range(3)]
        ids = [v["VolumeId"] for v in volumes]
        ec2.create_tags(Resources=ids[:2], Tags=[{"Key": "owner", "Value": "ana"}])
        ec2.create_tags(Resources=ids[1:2], Tags=[{"Key": "finops:exclude", "Value": "true"}])
        backend = ec2_backends["123456789012"]["us-east-1"]
        cases = [
            {"resource-id": [ids[0]]},
            {"resource-id": [ids[1]]},
            {"resource-id": [ids[2]]},  # no tags
            {"resource-id": ["vol-missing"]},
            {"resource-id": ["vol-*"]},  # wildcard: moto's own path
            {"resource-id": ids[:2]},
            {"key": ["owner"]},
            None,
        ]
        expected = [moto_patches.original_describe_tags(backend, case) for case in cases]
        moto_patches.install()
        try:
            assert [backend.describe_tags(case) for case in cases] == expected
            assert "vol-missing" not in backend.tags  # a read adds nothing
            described = ec2.describe_volumes(VolumeIds=[ids[1]])["Volumes"][0]
            assert {t["Key"] for t in described["Tags"]} == {"owner", "finops:exclude"}
        finally:
            moto_patches.uninstall()
    assert expected[1] and expected[4] and not expected[2] and not expected[3]


def test_elastic_ip_lookup_by_address_answers_as_moto_does_across_changes() -> None:
    from moto import mock_aws
    from moto.ec2.exceptions import InvalidAddressError
    from moto.ec2.models import ec2_backends

    from sandbox import moto_patches

    def answers(backend: Any, ips: list[str]) -> Any:
        try:
            return [a.allocation_id for a in backend.address_by_ip(ips, True)], [
                a.allocation_id for a in backend.address_by_ip(ips, fail_if_not_found=False)
            ]
        except InvalidAddressError as exc:
            return "InvalidAddressError", str(exc)

    def reference(backend: Any, ips: list[str]) -> Any:
        try:
            found = moto_patches.original_address_by_ip(backend, ips, True)
            return [a.allocation_id for a in found], [
                a.allocation_id for a in moto_patches.original_address_by_ip(backend, ips, False)
            ]
        except InvalidAddressError as exc:
            return "InvalidAddressError", str(exc)

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        backend = ec2_backends["123456789012"]["us-east-1"]
        moto_patches.install()
        try:
            first = ec2.allocate_address(Domain="vpc")
            second = ec2.allocate_address(Domain="vpc")
            ips = [first["PublicIp"], second["PublicIp"]]

            def same() -> None:
                for case in [[ips[0]], [ips[1]], ["203.0.113.9"], ips]:
                    assert answers(backend, case) == reference(backend, case), case

            same()  # the index is built here
            third = ec2.allocate_address(Domain="vpc")  # a change after the index was built
            ips.append(third["PublicIp"])
            same()
            assert answers(backend, [third["PublicIp"]])[0] == [third["AllocationId"]]
            ec2.release_address(AllocationId=first["AllocationId"])
            same()
            assert answers(backend, [ips[0]])[0] == "InvalidAddressError"
            backend.addresses = list(backend.addresses)  # moto replacing its list
            same()
            launched = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
            instance_id = launched["Instances"][0]["InstanceId"]
            ec2.associate_address(InstanceId=instance_id, AllocationId=second["AllocationId"])
            described = ec2.describe_instances(InstanceIds=[instance_id])
            interface = described["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
            assert interface["Association"]["PublicIp"] == second["PublicIp"]
        finally:
            moto_patches.uninstall()


def test_moto_speedups_leave_responses_byte_identical() -> None:
    import re

    from moto import mock_aws

    from sandbox import moto_patches

    # per-call values: request ids, and RDS's restorable time (now)
    volatile = re.compile(rb"(RequestId>|RequestId\": \"|LatestRestorableTime>)[^<\"]*")
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        ec2, rds, elb = session.client("ec2"), session.client("rds"), session.client("elb")
        s3, orgs = session.client("s3"), session.client("organizations")
        launched = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=20,
            MaxCount=20,
            InstanceType="t3.micro",
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "owner", "Value": "x"}]}
            ],
        )
        volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", VolumeType="gp2")
        ec2.create_tags(Resources=[volume["VolumeId"]], Tags=[{"Key": "k", "Value": "v"}])
        ec2.create_snapshot(VolumeId=volume["VolumeId"])
        ec2.allocate_address(Domain="vpc")
        # an associated Elastic IP: each instance's network interface looks its address up
        associated = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(
            InstanceId=launched["Instances"][1]["InstanceId"],
            AllocationId=associated["AllocationId"],
        )
        ec2.create_image(InstanceId=launched["Instances"][0]["InstanceId"], Name="image")
        rds.create_db_instance(
            DBInstanceIdentifier="db1",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin1",
            MasterUserPassword="passw0rd!",
            AllocatedStorage=20,
        )
        elb.create_load_balancer(
            LoadBalancerName="lb1",
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            AvailabilityZones=["us-east-1a"],
        )
        s3.create_bucket(Bucket="bucket-one")
        orgs.create_organization(FeatureSet="ALL")
        orgs.create_account(Email="member@example.com", AccountName="member")
        calls: list[tuple[Any, str, dict[str, Any]]] = [
            (ec2, "describe_instances", {}),
            (ec2, "describe_volumes", {}),
            (ec2, "describe_snapshots", {"OwnerIds": ["self"]}),
            (ec2, "describe_addresses", {}),
            (ec2, "describe_images", {"Owners": ["self"]}),
            (ec2, "describe_tags", {}),
            (rds, "describe_db_instances", {}),
            (elb, "describe_load_balancers", {}),
            (s3, "list_buckets", {}),
            (orgs, "list_accounts", {}),
        ]

        seen: list[bytes] = []

        def keep(http_response: Any, **_: Any) -> None:
            seen.append(http_response.content)

        def bodies() -> list[bytes]:
            seen.clear()
            for client, operation, kwargs in calls:
                client.meta.events.register("after-call.*.*", keep)
                getattr(client, operation)(**kwargs)
                client.meta.events.unregister("after-call.*.*", keep)
            return [volatile.sub(b"", body) for body in seen]

        stock = bodies()
        moto_patches.install()
        try:
            sped_up = bodies()
        finally:
            moto_patches.uninstall()
    assert len(stock[0]) > 20_000  # twenty instances were really described
    for (_, operation, _), before, after in zip(calls, stock, sped_up, strict=True):
        assert before == after, operation
